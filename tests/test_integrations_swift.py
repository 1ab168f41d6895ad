"""ms-swift adapter, the parts that need no ms-swift (its own loader runs in tests/trainers/)."""

from __future__ import annotations

import importlib.util

import pytest

import vrft_rewards.integrations.swift as swift_mod
from _toy_rewards import TOY_SET
from vrft_rewards.integrations.swift import TASK_ENV, swift_arguments


def test_swift_arguments_name_and_weight_every_reward():
    assert swift_arguments("detection") == [
        "--reward_funcs",
        "vrft_format_reward",
        "vrft_iou_reward",
        "vrft_confidence_reward",
        "--reward_weights",
        "1",
        "1",
        "1",
    ]
    assert swift_arguments(TOY_SET, prefix="") == [
        "--reward_funcs",
        *TOY_SET.names,
        "--reward_weights",
        *(f"{w:g}" for w in TOY_SET.weights),
    ]


def test_loaded_as_a_plugin_file_without_a_task_says_what_to_set(monkeypatch):
    # ms-swift loads --external_plugins files under another module name; without swift installed
    # the registration cannot happen, but a missing task is reported first.
    monkeypatch.delenv(TASK_ENV, raising=False)
    spec = importlib.util.spec_from_file_location("_swift_external_test", swift_mod.__file__)
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(RuntimeError, match=f"needs a task: set {TASK_ENV}"):
        spec.loader.exec_module(module)
