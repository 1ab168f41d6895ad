"""Tests that run the trainers' own code (pytest mark ``trainers``): selected with ``-m trainers``.

They are left out of a plain ``pytest`` run (deselected here unless the ``-m`` expression names
``trainers``), because they build virtual environments with the trainers' PyPI releases
(``tools/trainer_envs.py``, under ``.venv-trainers/``) and train tiny models; CI runs them in a
step of their own (``.ci/run``).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def pytest_collection_modifyitems(config, items):
    if "trainers" in (config.option.markexpr or ""):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("trainers") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _envs_module():
    spec = importlib.util.spec_from_file_location("trainer_envs", ROOT / "tools" / "trainer_envs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def trainer_env():
    """``trainer_env(name)`` -> the interpreter of that environment, built on first use."""
    envs = _envs_module()

    def get(name: str) -> pathlib.Path:
        try:
            return envs.ensure(name, log=lambda msg: sys.stderr.write(msg + "\n"))
        except subprocess.CalledProcessError as e:
            pytest.fail(f"building trainer env {name} failed: {' '.join(e.cmd)}\n{e.stdout}{e.stderr}"[-4000:])

    return get


@pytest.fixture(scope="session")
def package_path(tmp_path_factory) -> str:
    """PYTHONPATH entry that makes subprocesses import the vrft_rewards under test (in place or
    installed), and nothing else of this environment: a folder holding only a link to the package.
    Putting the package's parent on the path would bring an installed package's whole
    site-packages (this environment's trl, transformers, ...) ahead of the trainer environment's
    own pins."""
    import vrft_rewards

    package = pathlib.Path(vrft_rewards.__file__).resolve().parent
    only = tmp_path_factory.mktemp("vrft_rewards_only")
    (only / "vrft_rewards").symlink_to(package, target_is_directory=True)
    return os.pathsep.join(p for p in (str(only), str(HERE), os.environ.get("PYTHONPATH", "")) if p)
