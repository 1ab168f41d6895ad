"""The copy-paste recipes of docs/integrations.md, read back so that the tests run exactly them.

A recipe is the fenced code block that follows a ``<!-- recipe: NAME -->`` line in the doc.
"""

from __future__ import annotations

import pathlib
import re
import shlex

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "integrations.md"


def recipe(name: str) -> str:
    """The code of recipe ``name``."""
    text = DOC.read_text()
    m = re.search(r"<!-- recipe: " + re.escape(name) + r" -->\s*```[a-z]*\n(.*?)```", text, re.DOTALL)
    if m is None:
        raise KeyError(f"no recipe {name!r} in {DOC}")
    return m.group(1)


def arguments(name: str, **variables: str) -> list[str]:
    """The shell words of a command-line recipe (comments and line continuations dropped), with
    ``$NAME`` variables replaced."""
    words = shlex.split(recipe(name).replace("\\\n", " "), comments=True)
    out = []
    for w in words:
        for key, value in variables.items():
            w = w.replace("$" + key, value)
        out.append(w)
    return out


def overrides(name: str, *prefixes: str, **variables: str) -> list[str]:
    """The ``key=value`` words of a recipe whose key starts with one of ``prefixes`` (Hydra / EasyR1)."""
    return [a for a in arguments(name, **variables) if "=" in a and a.lstrip("+").startswith(prefixes)]


def flag_values(name: str, flag: str, **variables: str) -> list[str]:
    """The words after ``flag`` up to the next ``--option`` or ``...`` (argparse-style lists)."""
    words = arguments(name, **variables)
    i = words.index(flag)
    out = []
    for w in words[i + 1 :]:
        if w.startswith("--") or w == "...":
            break
        out.append(w)
    return out
