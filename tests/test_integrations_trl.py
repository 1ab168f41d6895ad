"""TRL integration: our reward functions inside a real GRPOTrainer (CPU, tiny random model)."""

from __future__ import annotations

import asyncio
import inspect
import pathlib
import pickle
import re
import string

import numpy as np
import pytest

from _toy_rewards import PrefixReward, async_length, char_overlap, length_score
from vrft_rewards.integrations.trl import AsyncNamedReward, NamedReward, trl_reward_funcs, trl_reward_weights
from vrft_rewards.rewards import RewardSet, register_preset, unregister_preset

trl = pytest.importorskip("trl")

# transformers / TRL emit deprecation chatter for their own APIs; pytest runs with warnings as errors.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


class Recorder:
    """Wraps a reward, keeps every batch it scored; picklable, keeps the wrapped name."""

    def __init__(self, func):
        self.func = func
        self.__name__ = func.__name__
        self.batches = []

    def __call__(self, completions, **kwargs):
        out = self.func(completions=completions, **kwargs)
        self.batches.append((list(completions), {k: kwargs[k] for k in ("solution",) if k in kwargs}, list(out)))
        return out


class EmptyFraction:
    """Always 0 reward; reports the fraction of empty completions through TRL's log_metric."""

    __name__ = "empty_fraction"

    def __call__(self, completions, log_metric=None, **kwargs):
        if log_metric is not None:
            log_metric("toy/frac_empty", float(np.mean([c == "" for c in completions])))
        return [0.0] * len(completions)


# -- unit-level ------------------------------------------------------------------------------------
def test_trl_reward_funcs_keep_functions_and_names():
    rs = RewardSet([char_overlap, length_score], weights=[1.0, 0.25])
    funcs = trl_reward_funcs(rs)
    assert funcs == [char_overlap, length_score]  # same objects: nothing to wrap
    assert trl_reward_weights(rs) == [1.0, 0.25]


def test_renamed_functions_are_wrapped_and_named_for_trl():
    rs = RewardSet([char_overlap, async_length], names=["accuracy", "len"])
    funcs = trl_reward_funcs(rs)
    assert [f.__name__ for f in funcs] == ["accuracy", "len"]  # TRL < 1.9 reads __name__
    assert isinstance(funcs[0], NamedReward) and not isinstance(funcs[0], AsyncNamedReward)
    assert isinstance(funcs[1], AsyncNamedReward)
    clone = pickle.loads(pickle.dumps(funcs[0]))
    assert clone.__name__ == "accuracy"
    assert clone(completions=["ab"], solution=["a"]) == [0.5]
    utils = pytest.importorskip("trl.trainer.utils")
    if hasattr(utils, "get_callable_name"):  # TRL >= 1.9
        assert [utils.get_callable_name(f) for f in funcs] == ["accuracy", "len"]
    if hasattr(utils, "is_async_callable"):  # TRL >= 1.14
        assert [utils.is_async_callable(f) for f in funcs] == [False, True]


def test_renamed_async_reward_is_a_coroutine_function_for_every_trl():
    # TRL < 1.14 (and AsyncGRPO, ms-swift) decide "async" by inspect.iscoroutinefunction(func);
    # an instance with an async __call__ fails that check, and GRPO then iterates a coroutine.
    f = trl_reward_funcs(RewardSet([async_length], names=["len"]))[0]
    assert inspect.iscoroutinefunction(f) and asyncio.iscoroutinefunction(f)
    clone = pickle.loads(pickle.dumps(f))  # AsyncGRPO's workers get pickled rewards
    assert inspect.iscoroutinefunction(clone) and clone.__name__ == "len"
    assert asyncio.run(clone(completions=["ab", "abcd"])) == asyncio.run(async_length(completions=["ab", "abcd"]))
    assert list(inspect.signature(f).parameters) == ["args", "kwargs"]
    sync = trl_reward_funcs(RewardSet([char_overlap], names=["accuracy"]))[0]
    assert not inspect.iscoroutinefunction(sync)


def test_trl_reward_funcs_by_task_name():
    register_preset("toy-trl", lambda: RewardSet([length_score, PrefixReward("a")], weights=[2.0, 1.0]))
    try:
        assert [f.__name__ for f in trl_reward_funcs("toy-trl")] == ["length_score", "prefix_reward"]
        assert trl_reward_weights("toy-trl") == [2.0, 1.0]
    finally:
        unregister_preset("toy-trl")


# -- the TRL releases we claim to support -----------------------------------------------------------
# What the adapter and the tests use, the first TRL release that has it (read from the wheels of
# trl 0.16.0-1.16.0), and the text that marks it in TRL's source. "required": the adapter needs it,
# so pyproject.toml's floor must be at least that release.
TRL_FEATURES = [
    ("None rewards become NaN (skipped rows)", (0, 16, 0), "trainer/grpo_trainer.py", "torch.nan", True),
    ("async reward functions", (0, 27, 0), "trainer/grpo_trainer.py", "iscoroutinefunction", True),
    ("log_metric / log_extra passed to reward functions", (1, 0, 0), "trainer/grpo_trainer.py", "log_extra", True),
    ("rows every reward skipped: NaN, advantage 0", (1, 6, 0), "trainer/grpo_trainer.py", "unscorable", False),
    (
        "Qwen3 response template (reasoning_content split)",
        (1, 7, 1),
        "chat_template_utils.py",
        "qwen3_template = ",
        False,
    ),
    (
        "reward names by get_callable_name (else __name__)",
        (1, 9, 0),
        "trainer/grpo_trainer.py",
        "get_callable_name",
        False,
    ),
    ("async callables told by is_async_callable", (1, 14, 0), "trainer/grpo_trainer.py", "is_async_callable", False),
    (
        "trainer._logs['completion'] holds the messages the rewards got",
        (1, 15, 0),
        "trainer/grpo_trainer.py",
        '_logs["completion"].extend(gather_object(completions)',
        False,
    ),
]


def _release(text):
    parts = [int(x) for x in re.findall(r"\d+", text)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def _pyproject_trl_floors():
    text = (pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    return [_release(m) for m in re.findall(r'"trl>=([0-9.]+)"', text)]


def test_installed_trl_has_exactly_the_features_of_its_release():
    root = pathlib.Path(trl.__file__).resolve().parent
    installed = _release(trl.__version__)
    for what, first, path, marker, _ in TRL_FEATURES:
        source = (root / path).read_text() if (root / path).exists() else ""
        assert (marker in source) == (installed >= first), (what, trl.__version__)


def test_pyproject_trl_floor_has_every_feature_the_adapter_needs():
    floors = _pyproject_trl_floors()
    assert floors and len(set(floors)) == 1, floors  # the trl extra and the test extra agree
    needed = max(first for _, first, _, _, required in TRL_FEATURES if required)
    assert floors[0] >= needed
    assert _release(trl.__version__) >= floors[0]


# -- a real GRPOTrainer run ------------------------------------------------------------------------
def _char_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for ch in string.ascii_lowercase + string.digits + " <>/[],.":
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    tok.decoder = decoders.Fuse()  # decode without spaces between characters
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )


@pytest.mark.slow
def test_grpo_trainer_logs_our_rewards(tmp_path):
    torch = pytest.importorskip("torch")
    datasets = pytest.importorskip("datasets")
    transformers = pytest.importorskip("transformers")

    tokenizer = _char_tokenizer()
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    model = transformers.LlamaForCausalLM(config)
    dataset = datasets.Dataset.from_dict(
        {
            # Four prompts = one epoch of two steps (2 prompts x 4 generations each), so every row is
            # scored, the None one too (ground truth missing -> char_overlap skips it).
            "prompt": ["find cat", "find dog", "box 12", "abc"],
            "solution": ["cat", "dog", None, "abc"],
        }
    )

    recorders = [Recorder(char_overlap), Recorder(length_score), Recorder(PrefixReward("a"))]
    rs = RewardSet(recorders + [EmptyFraction()], weights=[1.0, 0.5, 2.0, 1.0])
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        learning_rate=1e-3,
        seed=0,
        gradient_checkpointing=False,
        temperature=1.0,
        reward_weights=trl_reward_weights(rs),
    )
    trainer = trl.GRPOTrainer(
        model=model, reward_funcs=trl_reward_funcs(rs), args=args, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.train()

    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logs) == 2
    for name in ("char_overlap", "length_score", "prefix_reward", "empty_fraction"):
        assert all(f"rewards/{name}/mean" in h for h in logs), name
    assert all("toy/frac_empty" in h for h in logs)  # our log_metric reached TRL's logs

    # Each logged step is exactly our rewards on the completions TRL generated (float32 in TRL).
    for step, h in enumerate(logs):
        batches = [r.batches[step] for r in recorders]
        completions, cols, _ = batches[0]
        assert len(completions) == 8
        for r, (comps, _, out) in zip(recorders, batches):
            assert comps == completions
            vals = np.array([np.nan if v is None else v for v in out], dtype=np.float64)
            assert h[f"rewards/{r.__name__}/mean"] == pytest.approx(np.nanmean(vals), rel=1e-6, abs=1e-7)
        ours = RewardSet(
            [char_overlap, length_score, PrefixReward("a"), EmptyFraction()], weights=[1.0, 0.5, 2.0, 1.0]
        )(completions, solution=cols["solution"])
        assert h["reward"] == pytest.approx(float(np.nanmean(ours.overall)), rel=1e-6, abs=1e-7)
        assert h["toy/frac_empty"] == pytest.approx(float(np.mean([c == "" for c in completions])))

    # Non-degenerate: the random policy's completions differ, so the rewards spread out.
    assert max(h["rewards/char_overlap/std"] for h in logs) > 0
    assert max(h["reward_std"] for h in logs) > 0
    assert any(v is None for r in recorders[:1] for b in r.batches for v in b[2])  # a skipped row was seen
