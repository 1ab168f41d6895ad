#!/usr/bin/env python
"""Virtual environments with the trainers' own PyPI releases, for the tests that run their code.

    python tools/trainer_envs.py             # create (or reuse) every environment
    python tools/trainer_envs.py verl-0.9.1  # only these
    python tools/trainer_envs.py --list      # names, recipes, whether built

Each environment is ``.venv-trainers/<name>`` (git-ignored) on top of the interpreter that runs
this script: ``--system-site-packages``, plus a ``.pth`` file naming this interpreter's
site-packages when it is itself a virtual environment. So torch, transformers, numpy, pytest and
vrft_rewards are reused, not reinstalled, and nothing outside the folder changes. Only the
trainer and the few modules it needs that are missing are installed: with ``--no-deps`` where
its pins (CUDA builds, flash-attn, deepspeed, older transformers) cannot or need not install on a
CPU machine, and with the outer torch / numpy / transformers versions as constraints. A stamp
file holds the recipe; a changed recipe rebuilds the environment. ``tests/trainers/`` uses
:func:`ensure` (pytest mark ``trainers``; CI: ``.ci/run``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from importlib import metadata

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV_DIR = ROOT / ".venv-trainers"

_VERL_DEPS = [
    "hydra-core==1.3.8",
    "omegaconf==2.3.1",
    "codetiming==1.4.0",
    "pylatexenc==2.11",
    "tensordict==0.10.0",
    "torchdata==0.11.0",
    "aiohttp==3.14.5",
]

#: name -> pip install steps (each a list of arguments), in order.
RECIPES: dict[str, list[list[str]]] = {
    # The lowest TRL that pyproject.toml allows (trl>=1.0); it runs on the outer transformers.
    "trl-1.0.0": [["--no-deps", "trl==1.0.0"]],
    # The newest verl: the Reward Loop managers (naive, dapo, gdpo, rate_limited, remote).
    "verl-0.9.1": [["--no-deps", "verl==0.9.1"], _VERL_DEPS],
    # The last verl whose trainer selects the legacy managers (naive, batch, dapo, prime).
    "verl-0.6.1": [["--no-deps", "verl==0.6.1"], _VERL_DEPS],
    # OpenRLHF's reward client (openrlhf/utils/agent.py): 0.11.2 rotates URLs per call, 0.11.0
    # splits each call over the URLs (empty batches to all but the first).
    "openrlhf-0.11.2": [["--no-deps", "openrlhf==0.11.2", "pylatexenc==2.11"], ["aiohttp==3.14.5"]],
    "openrlhf-0.11.0": [["--no-deps", "openrlhf==0.11.0", "pylatexenc==2.11"], ["aiohttp==3.14.5"]],
    # ms-swift pins trl<1.0 and transformers<5.20: its own trl and the modules its reward plugin
    # path imports (swift.rewards, swift.rl_core, swift.rlhf_trainers.grpo_trainer), not its
    # 437 MB of dependencies.
    "ms-swift-4.6.0": [
        [
            "--no-deps",
            "ms-swift==4.6.0",
            "trl==0.29.1",
            "peft==0.20.0",
            "modelscope==1.40.2",
            "modelscope-hub==0.5.1",
            "dacite==1.9.2",
            "json-repair==0.64.6",
            "einops==0.8.2",
            "msgspec==0.23.0",
        ],
        ["aiohttp==3.14.5"],
    ],
}

_STAMP = ".vrft-recipe.json"
_KEEP = ("torch", "numpy", "transformers")  # reused from outside, never replaced inside


def python_of(name: str) -> pathlib.Path:
    """The interpreter of environment ``name``."""
    return ENV_DIR / name / "bin" / "python"


def is_ready(name: str) -> bool:
    stamp = ENV_DIR / name / _STAMP
    try:
        return json.loads(stamp.read_text()) == _stamp_of(name) and python_of(name).exists()
    except (OSError, ValueError):
        return False


def _stamp_of(name: str) -> dict:
    return {"recipe": RECIPES[name], "python": sys.version.split()[0], "outer": sys.prefix}


def _outer_site_packages() -> list[str]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    return sorted(p for p in paths if pathlib.Path(p).is_dir())


def ensure(name: str, *, log=print) -> pathlib.Path:
    """Create environment ``name`` unless it is ready; returns its interpreter.

    Raises
    ------
    KeyError
        For an unknown name.
    subprocess.CalledProcessError
        When venv or pip fails (the output is in the exception).
    """
    if name not in RECIPES:
        raise KeyError(f"no trainer environment {name!r}; known: {sorted(RECIPES)}")
    if is_ready(name):
        return python_of(name)
    env = ENV_DIR / name
    shutil.rmtree(env, ignore_errors=True)
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env)])
    purelib = subprocess.run(
        [str(python_of(name)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if sys.prefix != sys.base_prefix:  # this interpreter is a venv: --system-site-packages does not reach it
        (pathlib.Path(purelib) / "_vrft_outer_env.pth").write_text("\n".join(_outer_site_packages()) + "\n")
    constraints = env / "constraints.txt"
    pins = []
    for dist in _KEEP:
        try:
            pins.append(f"{dist}=={metadata.version(dist).split('+')[0]}")
        except metadata.PackageNotFoundError:
            pass
    constraints.write_text("\n".join(pins) + "\n")
    for step in RECIPES[name]:
        _run(
            [sys.executable, "-m", "pip", "--python", str(python_of(name)), "install", "-q", "-c", str(constraints)]
            + step
        )
    (env / _STAMP).write_text(json.dumps(_stamp_of(name)))
    log(f"trainer env {name}: built in {time.perf_counter() - t0:.0f} s ({_size_mb(env):.0f} MB)")
    return python_of(name)


def _size_mb(path: pathlib.Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"environments (default: all of {sorted(RECIPES)})")
    parser.add_argument("--list", action="store_true", help="list the environments and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, steps in RECIPES.items():
            state = "ready" if is_ready(name) else "absent"
            print(f"{name:18s} {state:7s} " + " ; ".join(" ".join(s) for s in steps))
        return 0
    for name in args.names or RECIPES:
        try:
            ensure(name)
        except subprocess.CalledProcessError as e:
            sys.stderr.write(f"trainer env {name}: {' '.join(e.cmd)} failed\n{e.stdout}{e.stderr}")
            return 1
        except KeyError as e:
            sys.stderr.write(f"{e.args[0]}\n")
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
