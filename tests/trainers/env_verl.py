"""verl 0.9.1's own reward code with our compute_score (environment ``verl-0.9.1``).

Run by ``test_in_envs.py`` (``pytest -m trainers``) with the interpreter of
``.venv-trainers/verl-0.9.1``. The config is verl's own ``ppo_trainer.yaml`` composed with the
``reward.*`` overrides of docs/integrations.md's recipe; the data is a ``DataProto`` laid out as
verl's rollout leaves it, with a tokenizer saved where the workers load it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import warnings

import numpy as np
import pytest

import vrft_rewards.integrations.verl as ours
from _recipes import overrides
from _verl_data import GT, RESPONSES, compose, make_data, save_tokenizer

with warnings.catch_warnings():  # verl's imports warn about Ray / transformers APIs; not ours
    warnings.simplefilter("ignore")
    verl = pytest.importorskip("verl")
    from omegaconf import OmegaConf  # verl's dependency
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager, RewardLoopWorker
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
    from verl.trainer.ppo.core_algos import compute_gdpo_outcome_advantage
pytestmark = [
    pytest.mark.trainers,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

RECIPE = overrides("verl", "reward.")
PKG = "pkg://vrft_rewards.integrations.verl"


def test_registry_is_the_one_the_docs_describe():
    assert sorted(REWARD_MANAGER) == ["dapo", "gdpo", "naive", "rate_limited", "remote"]
    assert f"reward.custom_reward_function.path={PKG}" in RECIPE


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("tokenizer")
    return path, save_tokenizer(path)


def _config(tok_dir, manager=None, path=None, name=None, kwargs=None):
    ovr = []
    for o in RECIPE:
        key = o.split("=", 1)[0].lstrip("+")
        if kwargs is not None and key.startswith("reward.custom_reward_function.reward_kwargs."):
            continue
        value = {
            "reward.reward_manager.name": manager,
            "reward.custom_reward_function.path": path,
            "reward.custom_reward_function.name": name,
        }.get(key)
        ovr.append(o if value is None else f"{key}={value}")
    ovr += [f"+reward.custom_reward_function.reward_kwargs.{k}={v}" for k, v in (kwargs or {}).items()]
    return compose(tok_dir, [*ovr, "reward.num_workers=1", "trainer.experiment_name=vrft"])


def _reward_kwargs(cfg):
    return OmegaConf.to_container(cfg.reward.custom_reward_function.reward_kwargs, resolve=True)


def _direct(cfg, responses, ground_truths, extra_infos):
    kwargs = _reward_kwargs(cfg)
    return [
        ours.compute_score("vrft_det", r, g, dict(e), **kwargs)
        for r, g, e in zip(responses, ground_truths, extra_infos)
    ]


_LOOP = asyncio.new_event_loop()  # one per process, as in a Ray actor (rate_limited binds its semaphore to it)


def _run_worker(cfg, data):
    asyncio.set_event_loop(_LOOP)  # the worker runs on the thread's current loop (verl's get_event_loop)
    worker = RewardLoopWorker(cfg)
    assert worker.loop is _LOOP
    return _LOOP.run_until_complete(worker.compute_score_batch(data))


@pytest.mark.parametrize("name", ["compute_score", "compute_score_async"])
@pytest.mark.parametrize("path", ["pkg", "file"])
@pytest.mark.parametrize("manager", sorted(set(REWARD_MANAGER) - {"remote"}))
def test_every_reward_loop_manager_gives_our_scores(tok, manager, path, name):
    tok_dir, tokenizer = tok
    cfg = _config(tok_dir, manager, PKG if path == "pkg" else ours.__file__, name)
    extra = [{"index": i, "width": 64, "height": 64} for i in range(len(RESPONSES))]
    out = _run_worker(cfg, make_data(tokenizer, RESPONSES, [GT] * len(RESPONSES), extra))
    want = _direct(cfg, RESPONSES, [GT] * len(RESPONSES), extra)
    assert [o["reward_score"] for o in out] == [w["score"] for w in want]
    assert [o["reward_extra_info"] for o in out] == want
    assert len({w["score"] for w in want}) == len(want)  # four different answers, four different scores


def test_gdpo_advantage_reads_the_recipe_keys(tok):
    # verl's own GDPO advantage over our per-reward keys: every key listed in the recipe is found.
    import torch

    tok_dir, tokenizer = tok
    cfg = compose(tok_dir, [*RECIPE, *overrides("verl-gdpo", "algorithm.")])
    assert cfg.algorithm.adv_estimator == "gdpo"
    responses = RESPONSES * 2
    data = make_data(tokenizer, responses, [GT] * len(responses))
    out = _run_worker(cfg, copy.deepcopy(data))
    infos = [o["reward_extra_info"] for o in out]
    non_tensor = {k: np.array([info[k] for info in infos]) for k in infos[0]}
    assert set(cfg.algorithm.gdpo_reward_keys) <= set(non_tensor)
    mask = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].float()
    adv, _ = compute_gdpo_outcome_advantage(
        token_level_rewards=torch.zeros_like(mask),
        response_mask=mask,
        index=np.array([f"g{i // 2}" for i in range(len(responses))], dtype=object),  # pairs that differ
        config=cfg.algorithm,
        non_tensor_batch=non_tensor,
        batch={"prompts": data.batch["prompts"], "attention_mask": data.batch["attention_mask"]},
    )
    assert torch.isfinite(adv).all() and adv.abs().sum() > 0
    dapo = compose(tok_dir, [*RECIPE, *overrides("verl-dapo", "algorithm.")])  # the recipe composes
    assert dapo.algorithm.filter_groups.enable and dapo.algorithm.filter_groups.metric == "score"
    assert all("score" in info for info in infos)  # DAPO's metric, in every sample's reward_extra_info


def test_legacy_prime_class_of_0_9_with_the_scalar_entry_point(tok):
    # verl 0.9.1 still ships the legacy PrimeRewardManager (not selectable any more): a dict turns
    # every score into 0 ("Unexpected error during scoring"); compute_score_scalar is read right.
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager.prime import PrimeRewardManager

    tok_dir, tokenizer = tok
    data = make_data(tokenizer, RESPONSES, [GT] * len(RESPONSES))
    logging.getLogger().setLevel(logging.ERROR)
    rows = {}
    for name in ("compute_score", "compute_score_scalar"):
        fn = get_custom_reward_fn(_config(tok_dir, "naive", PKG, name))
        out = PrimeRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=fn)(
            copy.deepcopy(data), return_dict=True
        )
        rows[name] = out["reward_tensor"].sum(-1).tolist()
    want = [d["score"] for d in _direct(_config(tok_dir), RESPONSES, [GT] * 4, [{}] * 4)]
    assert rows["compute_score"] == [0.0] * 4  # what the dict gives: the reason for the scalar entry point
    assert rows["compute_score_scalar"] == pytest.approx(want, rel=1e-6)


# -- on Ray: the remote manager and the real RewardLoopManager ------------------------------------
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    import vrft_rewards

    here = os.path.dirname(os.path.abspath(__file__))
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(vrft_rewards.__file__)))
    path = os.pathsep.join([package_parent, here, os.path.dirname(here), os.environ.get("PYTHONPATH", "")])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": path.rstrip(os.pathsep)}},
    )
    yield ray
    ray.shutdown()


def test_remote_manager_on_ray(tok, ray_cluster):
    tok_dir, tokenizer = tok
    for path in (PKG, ours.__file__):
        cfg = _config(tok_dir, "remote", path, "compute_score")
        out = _run_worker(cfg, make_data(tokenizer, RESPONSES, [GT] * 4))
        want = _direct(cfg, RESPONSES, [GT] * 4, [{"index": i, "width": 64, "height": 64} for i in range(4)])
        assert [o["reward_extra_info"] for o in out] == want
    with pytest.raises(AssertionError, match="Async reward score is not supported"):  # as the docs say
        _run_worker(_config(tok_dir, "remote", PKG, "compute_score_async"), make_data(tokenizer, RESPONSES, [GT] * 4))


def test_reward_loop_manager_with_mixed_tasks(tok, ray_cluster):
    # RewardLoopManager.compute_rm_score builds reward_extra_info from the first sample's keys: a
    # run mixing tasks needs the same keys in every dict (before: KeyError on the first missing key).
    tok_dir, tokenizer = tok
    cfg = _config(tok_dir, "naive", PKG, "compute_score", kwargs={"tasks": "[detection,classification]"})
    responses = [RESPONSES[1], RESPONSES[0], "<think>x</think><answer>cat</answer>", "<answer>dog</answer>"]
    gts = [GT, GT, "<answer>cat</answer>", "<answer>cat</answer>"]
    extra = [{"task": "detection"}, {"task": "detection"}, {"task": "classification"}, {"task": "classification"}]
    manager = RewardLoopManager(cfg)
    try:
        res = manager.compute_rm_score(make_data(tokenizer, responses, gts, extra_infos=extra))
    finally:
        for w in manager.reward_loop_workers:
            ray_cluster.kill(w)
    keys = res.meta_info["reward_extra_keys"]
    assert keys == ["score", "format_reward", "iou_reward", "confidence_reward", "classification_reward"]
    want = [
        ours.compute_score("vrft_det", r, g, e, tasks=["detection", "classification"])
        for r, g, e in zip(responses, gts, extra)
    ]
    for key in keys:
        assert res.non_tensor_batch[key].tolist() == [w[key] for w in want], key
    assert res.batch["rm_scores"].sum(-1).tolist() == pytest.approx([w["score"] for w in want], rel=1e-6)
    assert want[2]["classification_reward"] == 1.0 and want[2]["iou_reward"] == 0.0  # none_score where absent
