"""Shared test configuration: report header, hypothesis profile, CUDA marks, RNG hygiene, and the
fixtures several test files use (the CLI's one-line error check, a Ray session)."""

from __future__ import annotations

import importlib
import os
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# No deadline: these machines are noisy, and timing is the benchmarks' job, not the tests'.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    derandomize=True,
)
settings.load_profile(os.environ.get("VRFT_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


def pytest_report_header(config):
    lines = []
    for name in ("vrft_rewards", "numpy", "scipy", "torch", "pycocotools", "lvis", "hypothesis"):
        try:
            mod = importlib.import_module(name)
            lines.append(f"{name} {getattr(mod, '__version__', '?')}")
        except Exception:  # noqa: BLE001 - any import failure just means "absent" here
            lines.append(f"{name} absent")
    import vrft_rewards

    lines.append(f"vrft_rewards threads={vrft_rewards.get_num_threads()} cuda={vrft_rewards.has_cuda()}")
    return ", ".join(lines[:-1]) + "\n" + lines[-1]


def pytest_collection_modifyitems(config, items):
    import vrft_rewards

    if vrft_rewards.has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU and the _C_cuda module (none present here)")
    for item in items:
        if "needs_cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _restore_numpy_rng():
    # Tests may use the legacy global RNG; restore it so test order never changes results.
    state = np.random.get_state()
    yield
    np.random.set_state(state)


@pytest.fixture(scope="session")
def one_line_error():
    """Checks that a command's stderr is one ``vrft-rewards...`` line without a traceback (how
    every user mistake must be reported) and returns that line."""

    def check(text: str) -> str:
        lines = text.strip().splitlines()
        assert len(lines) == 1, text
        assert "Traceback" not in text
        assert lines[0].startswith("vrft-rewards")
        return lines[0]

    return check


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray cluster (2 CPUs) for the whole test session; skips where ray is absent."""
    ray = pytest.importorskip("ray")
    import vrft_rewards

    tests = pathlib.Path(__file__).resolve().parent
    # Workers import the vrft_rewards under test (installed, or an in-place build) and unpickle the
    # tests' helpers by reference: put both on their sys.path.
    package_parent = pathlib.Path(vrft_rewards.__file__).resolve().parent.parent
    path = os.pathsep.join([str(package_parent), str(tests), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # Ray also puts the driver's working directory on its workers' sys.path: start it from tests/,
    # so that a bare checkout (no compiled _C; CI tests the installed package) cannot shadow it.
    cwd = os.getcwd()
    os.chdir(tests)
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
        )
        yield ray
    finally:
        ray.shutdown()
        os.chdir(cwd)
