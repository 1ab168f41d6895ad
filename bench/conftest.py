"""Benchmark configuration.

Every benchmark pairs our call with its anchors on the same seeded workload and asserts the
result, so with ``--benchmark-disable`` (the default in pyproject.toml, used by CI) each file
doubles as a test that runs every competitor once.  Workloads are then scaled down so that the
whole suite stays cheap; ``pytest bench/ --benchmark-enable --benchmark-only`` (timing on; the
``--benchmark-enable`` overrides the ``--benchmark-disable`` of pyproject's addopts) uses the full
sizes of the issues' tables, and ``VRFT_BENCH_FULL=1`` forces full sizes either way.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def full_size(request) -> bool:
    """True when benchmarks are timed (or VRFT_BENCH_FULL=1): use the full workload sizes."""
    if os.environ.get("VRFT_BENCH_FULL") == "1":
        return True
    config = request.config
    return bool(
        config.getoption("benchmark_enable", default=False) or not config.getoption("benchmark_disable", default=True)
    )
