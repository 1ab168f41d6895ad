"""ms-swift 4.6.0's reward-plugin path with our rewards (environment ``ms-swift-4.6.0``).

ms-swift pins trl<1.0 and transformers<5.20, so it gets an environment of its own; its reward
path (``swift.rewards``, ``swift.rl_core``, ``swift.rlhf_trainers.grpo_trainer``) imports with
the modules listed in tools/trainer_envs.py. What runs is ms-swift's code, driven by
docs/integrations.md's recipe: ``import_external_file`` loads the plugin file (as
``BaseArguments._import_external_plugins`` does for ``--external_plugins``),
``GRPOTrainer._prepare_rewards`` turns the ``--reward_funcs`` names into instances and log names
(run unbound on an object carrying what it reads), and ``compute_rewards_per_func`` scores real
``GRPOSample`` rows as the trainer does.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

from _recipes import flag_values, recipe
from vrft_rewards.rewards import RewardSet, resolve_reward_set

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    swift = pytest.importorskip("swift")
    import torch
    from swift.rewards import AsyncORM, orms
    from swift.rl_core.data import GRPOSample
    from swift.rl_core.grpo_algorithm import compute_rewards_per_func
    from swift.rlhf_trainers.grpo_trainer import GRPOTrainer
    from swift.utils import import_external_file

pytestmark = [
    pytest.mark.trainers,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

GT = "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 1}]</answer>"
COMPLETIONS = [
    "<think>one box</think><answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.9}]</answer>",
    "<think>off</think><answer>[{'Position': [40, 40, 50, 50], 'Confidence': 0.2}]</answer>",
    "<answer>[{'Position': [6, 6, 31, 31], 'Confidence': 0.7}]</answer>",
    "garbage",
]


def _samples():
    rows = [
        {
            "messages": [
                {"role": "user", "content": "<image>Detect the objects."},
                {"role": "assistant", "content": c},
            ],
            "images": [{"path": "/data/img0.jpg", "bytes": None}],
            "solution": GT,
        }
        for c in COMPLETIONS
    ]
    return [GRPOSample.from_row(r) for r in rows]


def _prepare(names, weights):
    """GRPOTrainer._prepare_rewards, unbound, on an object with the attributes it reads."""
    trainer = types.SimpleNamespace(
        args=types.SimpleNamespace(reward_weights=weights, reward_model_plugin=None),
        accelerator=types.SimpleNamespace(device=torch.device("cpu")),
        use_gym_env=False,
        is_deepspeed_enabled=False,
        is_fsdp_enabled=False,
    )
    GRPOTrainer._prepare_rewards(trainer, list(names))
    return trainer


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "vrft_plugin.py"
    path.write_text(recipe("swift-plugin"))
    return import_external_file(str(path))


def test_recipe_plugin_and_arguments_score_like_a_direct_call(plugin):
    names = flag_values("swift", "--reward_funcs")
    weights = [float(w) for w in flag_values("swift", "--reward_weights")]
    assert set(names) <= set(orms)
    trainer = _prepare(names, weights)
    rs = resolve_reward_set("detection", coord_frame="abs")  # the plugin's options
    assert trainer.reward_func_names == list(rs.names)  # logged as rewards/<reward name>/mean
    assert trainer.reward_weights.tolist() == list(rs.weights)
    out = compute_rewards_per_func(
        _samples(), trainer.reward_funcs, trainer.reward_model_plugins, device=torch.device("cpu"), trainer_state=None
    )
    want = rs(COMPLETIONS, solution=[GT] * len(COMPLETIONS)).matrix
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6, atol=1e-7)
    assert len(set(map(tuple, want.tolist()))) == len(COMPLETIONS)


def test_async_rewards_become_async_orms():
    from vrft_rewards.integrations.swift import register_swift_rewards

    base = resolve_reward_set("detection")

    def asyncify(f):
        async def wrapper(completions, **kwargs):
            return f(completions=completions, **kwargs)

        return wrapper

    rs = RewardSet([asyncify(f) for f in base.funcs], names=list(base.names))
    names = register_swift_rewards(rs, prefix="vrft_async_")
    assert all(issubclass(orms[n], AsyncORM) for n in names)
    trainer = _prepare(names, None)
    out = compute_rewards_per_func(
        _samples(), trainer.reward_funcs, trainer.reward_model_plugins, device=torch.device("cpu"), trainer_state=None
    )
    np.testing.assert_allclose(out.numpy(), base(COMPLETIONS, solution=[GT] * 4).matrix, rtol=1e-6, atol=1e-7)


def test_the_module_file_is_a_plugin_for_the_task_in_the_environment(monkeypatch, tmp_path):
    import shutil

    import vrft_rewards.integrations.swift as swift_mod

    monkeypatch.setenv("VRFT_REWARDS_TASK", "classification")
    copy = tmp_path / "vrft_swift_plugin.py"  # import_external_file caches by path: a fresh one
    shutil.copy(swift_mod.__file__, copy)
    import_external_file(str(copy))
    assert {"vrft_format_reward", "vrft_classification_reward"} <= set(orms)
    trainer = _prepare(["vrft_classification_reward"], None)
    assert trainer.reward_func_names == ["classification_reward"]


def test_a_name_taken_by_ms_swift_is_refused():
    from vrft_rewards.integrations.swift import register_swift_rewards

    with pytest.raises(ValueError, match=r"ms-swift rewards \['format'\] are registered already"):
        register_swift_rewards(
            RewardSet([lambda completions, **kw: [0.0] * len(completions)], names=["format"]), prefix=""
        )
