"""The README's example runs as written (a user's first contact must not break)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(capsys):
    code = re.search(r"## Example\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    # Visual-RFT rewards: IoU (one box, matched), confidence 0.9, format 1.
    assert out[0].startswith("[[0.94") and out[0].endswith("[0.9], [1.0]]")
    assert out[-1].startswith("[ 0.9")
