"""The trainers' own code, each in its environment (``tools/trainer_envs.py``): a pytest run per
environment of the ``env_*.py`` modules written for it (and, for the lowest TRL that
pyproject.toml allows, of the TRL tests), which must pass with nothing skipped but what is listed."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.trainers

CASES = [
    # (environment, test files, tests skipped by design)
    (
        "trl-1.0.0",
        ["tests/trainers/test_trl_grpo_vlm.py", "tests/test_integrations_trl.py"],
        1,
    ),  # reasoning_content: TRL >= 1.15
    ("verl-0.9.1", ["tests/trainers/env_verl.py"], 0),
    ("verl-0.6.1", ["tests/trainers/env_verl_legacy.py"], 0),
    ("openrlhf-0.11.2", ["tests/trainers/env_openrlhf.py"], 0),
    ("openrlhf-0.11.0", ["tests/trainers/env_openrlhf.py"], 0),
    ("ms-swift-4.6.0", ["tests/trainers/env_swift.py"], 0),
]


@pytest.mark.parametrize(("name", "files", "skips"), CASES, ids=[c[0] for c in CASES])
def test_trainer_code_in_its_environment(name, files, skips, trainer_env, package_path, tmp_path):
    python = trainer_env(name)
    # "-m 'trainers or not trainers'": every test of these files, the unmarked TRL unit tests too.
    # Run from elsewhere than the checkout ("python -m" puts the working directory first on
    # sys.path, where a fresh clone's vrft_rewards has no compiled core): the package under test
    # comes from PYTHONPATH, as in this process.
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT)]
    cmd += ["-c", str(ROOT / "pyproject.toml"), "-m", "trainers or not trainers", "-rs"]
    cmd += [str(ROOT / f) for f in files]
    env = dict(os.environ, PYTHONPATH=package_path)
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    summary = out.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    found = re.search(r"(\d+) skipped", summary)
    assert (int(found.group(1)) if found else 0) == skips, out[-3000:]
