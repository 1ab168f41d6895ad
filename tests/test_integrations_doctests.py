"""The Examples sections of the integration modules run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "vrft_rewards.rewards.combine",
    "vrft_rewards.rewards.registry",
    "vrft_rewards.integrations.trl",
    "vrft_rewards.integrations.verl",
    "vrft_rewards.integrations.easyr1",
    "vrft_rewards.integrations.openrlhf",
    "vrft_rewards.integrations._queries",
    "vrft_rewards.integrations.swift",
    "vrft_rewards.integrations.server",
    "vrft_rewards.distributed",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0 or name == "vrft_rewards.distributed"


def test_integrations_package_lists_only_existing_names():
    import vrft_rewards.integrations as integrations
    import vrft_rewards.rewards as rewards

    for mod in (integrations, rewards):
        for name in mod.__all__:
            assert hasattr(mod, name), (mod.__name__, name)
