"""verl 0.6.1's legacy reward managers with our functions (environment ``verl-0.6.1``).

0.6.1 is the last release whose trainer selects ``reward_model.reward_manager`` among naive,
batch, dapo and prime; it loads the function by file path only. Each manager is built by its own
``load_reward_manager`` from verl's ``ppo_trainer.yaml`` composed with docs/integrations.md's
legacy recipe, and called as the trainer calls it: ``manager(data, return_dict=True)``.
"""

from __future__ import annotations

import copy
import logging
import sys
import warnings

import pytest

import vrft_rewards.integrations.verl as ours
from _recipes import overrides
from _verl_data import GT, RESPONSES, compose, make_data, save_tokenizer

with warnings.catch_warnings():  # verl's imports warn about Ray / transformers APIs; not ours
    warnings.simplefilter("ignore")
    verl = pytest.importorskip("verl")
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import load_reward_manager

pytestmark = [
    pytest.mark.trainers,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

RECIPE = overrides("verl-legacy", "reward_model.", "custom_reward_function.", VRFT=ours.__file__)
EXTRA = [{"index": i, "width": 64, "height": 64} for i in range(len(RESPONSES))]


def test_version_selects_the_legacy_managers():
    assert verl.__version__ == "0.6.1"
    assert "reward_model.reward_manager=prime" in RECIPE
    assert f"custom_reward_function.path={ours.__file__}" in RECIPE


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("tokenizer")
    return path, save_tokenizer(path)


@pytest.fixture(autouse=True)
def _fresh_custom_module():
    sys.modules.pop("custom_module", None)  # 0.6.1 caches the loaded file under this name
    yield
    sys.modules.pop("custom_module", None)


def _manager(tok, name, function):
    tok_dir, tokenizer = tok
    ovr = [o for o in RECIPE if not o.startswith(("reward_model.reward_manager=", "custom_reward_function.name="))]
    cfg = compose(tok_dir, [*ovr, f"reward_model.reward_manager={name}", f"custom_reward_function.name={function}"])
    kwargs = {}
    if name == "dapo":  # what DAPO recipes pass through reward_model.reward_kwargs (main_ppo.py)
        kwargs = {
            "overlong_buffer_cfg": OmegaConf.create({"enable": False, "len": 0, "penalty_factor": 1.0, "log": False}),
            "max_resp_len": 512,
        }
    reward_kwargs = OmegaConf.to_container(cfg.custom_reward_function.reward_kwargs)
    return load_reward_manager(cfg, tokenizer, num_examine=0, **kwargs), reward_kwargs


@pytest.mark.parametrize("name", ["naive", "batch", "dapo", "prime"])
def test_legacy_manager_gives_our_scores(tok, name):
    logging.getLogger().setLevel(logging.ERROR)
    # prime reads a number: the recipe's compute_score_scalar; the others take the dict
    function = "compute_score_scalar" if name == "prime" else "compute_score"
    manager, reward_kwargs = _manager(tok, name, function)
    data = make_data(tok[1], RESPONSES, [GT] * len(RESPONSES), EXTRA)
    out = manager(copy.deepcopy(data), return_dict=True)
    want = [ours.compute_score("vrft_det", r, GT, e, **reward_kwargs) for r, e in zip(RESPONSES, EXTRA)]
    assert out["reward_tensor"].sum(-1).tolist() == pytest.approx([w["score"] for w in want], rel=1e-6)
    assert len({w["score"] for w in want}) == len(want)
    if name != "prime":  # the dict's keys reach reward_extra_info
        extra = out["reward_extra_info"]
        for key in ("format_reward", "iou_reward", "confidence_reward"):
            assert list(extra[key]) == [w[key] for w in want], key


def test_prime_with_the_dict_entry_point_gives_zeros(tok):
    # Why the recipe names compute_score_scalar: prime does float(result[0]) on a dict -> KeyError,
    # caught, and every score of the batch set to 0.
    logging.getLogger().setLevel(logging.CRITICAL)
    manager, _ = _manager(tok, "prime", "compute_score")
    data = make_data(tok[1], RESPONSES, [GT] * len(RESPONSES), EXTRA)
    assert manager(copy.deepcopy(data), return_dict=True)["reward_tensor"].sum(-1).tolist() == [0.0] * 4
