"""OpenRLHF adapter: reward_func(queries, prompts, labels) as OpenRLHF loads and calls it."""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest

import vrft_rewards.integrations.openrlhf as openrlhf_mod
from _toy_rewards import TOY_SET, CountingReward, MetricReward, length_score, random_batch, reference
from vrft_rewards.integrations.openrlhf import (
    TASK_ENV,
    OpenRLHFRewardFunc,
    completions_from_queries,
    make_reward_func,
    reward_func,
)
from vrft_rewards.rewards import RewardSet, register_preset, unregister_preset

QWEN_PROMPT = "<|im_start|>user\nfind the cat<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture
def toy_preset():
    register_preset("toy-orlhf", lambda: TOY_SET)
    yield "toy-orlhf"
    unregister_preset("toy-orlhf")


# -- query -> completion ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "prompt", "want"),
    [
        (QWEN_PROMPT + "<answer>a</answer><|im_end|>", QWEN_PROMPT, "<answer>a</answer>"),
        # several end markers and padding, whitespace between them dropped, the response's own kept
        (QWEN_PROMPT + "x <|im_end|>\n<|endoftext|><|endoftext|>\n", QWEN_PROMPT, "x "),
        (QWEN_PROMPT + "x\n", QWEN_PROMPT, "x\n"),
        # prompt not a prefix (a BOS the prompt lacks): cut after its last occurrence
        ("<s>" + QWEN_PROMPT + "y</s>", QWEN_PROMPT, "y"),
        # the response repeats the prompt text: only the prefix is cut
        ("PP" + "PP", "PP", "PP"),
        ("", "", ""),
    ],
)
def test_completions_from_queries(query, prompt, want):
    assert completions_from_queries([query], [prompt]) == [want]


def test_completions_without_prompts_and_custom_eos():
    assert completions_from_queries(["a<END>"], None, eos_tokens=("<END>",)) == ["a"]
    with pytest.raises(TypeError, match="eos_tokens must be a sequence of str"):
        completions_from_queries(["a"], None, eos_tokens="<END>")
    with pytest.raises(TypeError, match=r"queries\[0\] must be a str"):
        completions_from_queries([3])
    with pytest.raises(ValueError, match=r"prompts must have one entry per sample \(1\), got 2"):
        completions_from_queries(["a"], ["a", "b"])


# -- queries of vision-language models: the processor expanded the prompt's media placeholders ------
VLM_PROMPT = (
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n"
    "<|vision_start|><|image_pad|><|vision_end|>Detect the cat.<|im_end|>\n<|im_start|>assistant\n"
)
RESPONSE = "<think>one cat</think><answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.9}]</answer>"
GT = "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 1}]</answer>"


def _expand(prompt, placeholder, expansion):
    return prompt.replace(placeholder, expansion)


@pytest.mark.parametrize(
    ("prompt", "query_prompt"),
    [
        # Qwen2/2.5/3-VL: <|image_pad|> becomes one pad per vision token
        (VLM_PROMPT, _expand(VLM_PROMPT, "<|image_pad|>", "<|image_pad|>" * 64)),
        # two images and a video, each expanded to a different count
        (
            VLM_PROMPT.replace("<|vision_end|>", "<|vision_end|>and<|vision_start|><|video_pad|><|vision_end|>", 1),
            VLM_PROMPT.replace("<|vision_end|>", "<|vision_end|>and<|vision_start|><|video_pad|><|vision_end|>", 1)
            .replace("<|image_pad|>", "<|image_pad|>" * 7)
            .replace("<|video_pad|>", "<|video_pad|>" * 30),
        ),
        # InternVL: <image> becomes a wrapped run <img><IMG_CONTEXT>...</img>
        (
            "<|im_start|>user\n<image>\nDetect the cat.<|im_end|>\n<|im_start|>assistant\n",
            "<|im_start|>user\n<img>" + "<IMG_CONTEXT>" * 256 + "</img>\nDetect the cat.<|im_end|>\n"
            "<|im_start|>assistant\n",
        ),
        # Gemma 3: <start_of_image> becomes "\n\n<start_of_image>" + soft tokens + "<end_of_image>\n\n"
        (
            "<bos><start_of_turn>user\n<start_of_image>Detect the cat.<end_of_turn>\n<start_of_turn>model\n",
            "<bos><start_of_turn>user\n\n\n<start_of_image>" + "<image_soft_token>" * 256 + "<end_of_image>\n\n"
            "Detect the cat.<end_of_turn>\n<start_of_turn>model\n",
        ),
        # LLaVA-1.5: <image> repeated, a BOS the prompt lacks
        ("USER: <image>\nDetect the cat. ASSISTANT:", "<s>USER: " + "<image>" * 576 + "\nDetect the cat. ASSISTANT:"),
        # an unknown placeholder: the assistant header (Llama 3) locates the response
        (
            "<|start_header_id|>user<|end_header_id|>\n\n<|my_pad|>Detect the cat.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "<|start_header_id|>user<|end_header_id|>\n\n" + "<|my_tok|>" * 9 + "Detect the cat.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ),
        # unknown placeholder, multi-turn prompt (two assistant headers) and Qwen3's empty think block
        (
            "<|im_start|>user\n<|x|>hi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\n"
            "Detect.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
            "<|im_start|>user\n<|y|><|y|>hi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
            "<|im_start|>user\nDetect.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
        ),
    ],
    ids=["qwen-vl", "qwen-vl-image-and-video", "internvl", "gemma3", "llava", "llama3-header", "multi-turn-qwen3"],
)
def test_vlm_queries_give_exactly_the_response(prompt, query_prompt, caplog):
    assert not query_prompt.startswith(prompt)
    for response in (RESPONSE, "", "<|im_start|>assistant\n" + RESPONSE):  # also empty / header-like responses
        query = query_prompt + response + "<|im_end|>"
        with caplog.at_level("WARNING", logger="vrft_rewards.integrations.openrlhf"):
            assert completions_from_queries([query], [prompt]) == [response]
    assert not caplog.records


def test_vlm_query_is_scored_like_the_response_through_reward_func():
    # Before the fix the whole query was scored: format_reward 0 for every sample of a VLM.
    query = _expand(VLM_PROMPT, "<|image_pad|>", "<|image_pad|>" * 64) + RESPONSE + "<|im_end|>"
    f = make_reward_func("detection", as_tensors=False)
    assert f([query], [VLM_PROMPT], [GT]) == f([RESPONSE], None, [GT])
    assert f([query], [VLM_PROMPT], [GT])["extra_logs"]["format_reward"] == [1.0]


def test_prompt_nowhere_in_the_query_keeps_it_whole_and_warns_once(caplog, monkeypatch):
    import vrft_rewards.integrations._queries as queries_mod

    monkeypatch.setattr(queries_mod, "_warned", False)
    with caplog.at_level("WARNING", logger="vrft_rewards.integrations.openrlhf"):
        assert completions_from_queries(["just text", "more text"], ["other", "other"]) == ["just text", "more text"]
        assert completions_from_queries(["again"], ["other"]) == ["again"]
    warnings = [r for r in caplog.records if "cannot find where the prompt ends" in r.getMessage()]
    assert len(warnings) == 1
    # a prompt that ends in a placeholder of unknown expansion and has no header: whole, warned
    query = "Q: <img><IMG_CONTEXT><IMG_CONTEXT></img>x"
    assert completions_from_queries([query], ["Q: <image>"]) == [query]


def test_media_tokens_and_headers_are_options():
    prompt = "U: <pic>Q A:"
    query = "U: <pic><pic><pic>Q A:R"
    assert completions_from_queries([query], [prompt], media_tokens=("<pic>",)) == ["R"]
    assert completions_from_queries([query], [prompt], media_tokens=(), assistant_headers=("A:",)) == ["R"]
    with pytest.raises(TypeError, match="media_tokens must be a sequence of str"):
        completions_from_queries([query], [prompt], media_tokens="<pic>")
    with pytest.raises(TypeError, match="assistant_headers must hold str"):
        completions_from_queries([query], [prompt], assistant_headers=[None])
    f = make_reward_func(RewardSet([length_score]), media_tokens=("<pic>",), as_tensors=False)
    assert f([query], [prompt], None)["rewards"] == [0.125]


# -- empty batches: OpenRLHF <= 0.11.0 sends one to every URL but the first ----------------------
def test_empty_batch_gives_empty_lists():
    f = make_reward_func("detection", as_tensors=False)
    assert f([], [], []) == {
        "rewards": [],
        "scores": [],
        "extra_logs": {"format_reward": [], "iou_reward": [], "confidence_reward": []},
    }
    torch = pytest.importorskip("torch")
    out = make_reward_func("detection")([], [], [])
    assert out["rewards"].shape == (0,) and out["rewards"].dtype == torch.float32
    assert len(make_reward_func("detection").score([], None, None)) == 0
    with pytest.raises(ValueError, match=r"labels must have one entry per sample \(0\), got 1"):
        f([], [], ["x"])


def test_empty_get_reward_batch_answers_200_with_empty_lists():
    import json
    import urllib.request

    from vrft_rewards.serve import make_server

    with make_server("detection", port=0) as server:
        server.start()
        for body in ({"query": [], "prompts": [], "labels": []}, {"query": []}):
            req = urllib.request.Request(
                server.url + "/get_reward", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 200
                assert json.loads(resp.read()) == {
                    "rewards": [],
                    "scores": [],
                    "extra_logs": {"format_reward": [], "iou_reward": [], "confidence_reward": []},
                }


# -- reward_func -----------------------------------------------------------------------------------
def test_reward_func_returns_openrlhf_tensors():
    torch = pytest.importorskip("torch")
    completions, solution = random_batch(4, 32)
    f = make_reward_func(TOY_SET, none_score=-1.0)
    out = f([QWEN_PROMPT + c + "<|im_end|>" for c in completions], [QWEN_PROMPT] * 32, solution)
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert out["rewards"].dtype == torch.float32 and out["rewards"].shape == (32,)
    ref = reference(completions, solution)
    want = np.array([-1.0 if t is None else t for t, _ in ref], dtype=np.float64)
    np.testing.assert_array_equal(out["rewards"].numpy(), want.astype(np.float32))
    # scores: total / sum of positive weights (3.5), clipped to [0, 1], in float64 before the cast
    np.testing.assert_array_equal(out["scores"].numpy(), np.clip(want / 3.5, 0, 1).astype(np.float32))
    assert list(out["extra_logs"]) == list(TOY_SET.names)
    overlap = np.array([-1.0 if v[0] is None else v[0] for _, v in ref], dtype=np.float32)
    np.testing.assert_array_equal(out["extra_logs"]["char_overlap"].numpy(), overlap)


def test_reward_func_lists_and_one_call_per_reward():
    counter = CountingReward()
    f = make_reward_func(RewardSet([counter, length_score]), as_tensors=False)
    out = f(["Q:abc", "Q:abcdefgh"], ["Q:", "Q:"], ["x", "y"])
    assert out == {
        "rewards": [3.375, 9.0],
        "scores": [1.0, 1.0],
        "extra_logs": {"counting": [3.0, 8.0], "length_score": [0.375, 1.0]},
    }
    assert counter.batch_sizes == [2]


def test_labels_fill_solution_or_expand_dicts_and_list_kwargs_become_columns():
    seen = {}

    def spy(completions, **kwargs):
        seen.update(kwargs)
        return [0.0] * len(completions)

    f = make_reward_func(RewardSet([spy]), as_tensors=False)
    f(["a", "b"], None, ["sol", {"label": "cat"}], image_size=[[640, 480], [10, 10]], scalar_option=3)
    assert seen == {"solution": ["sol", None], "label": [None, "cat"], "image_size": [[640, 480], [10, 10]]}
    seen.clear()
    make_reward_func(RewardSet([spy]), label_column="label", as_tensors=False)(["a"], ["p"], ["cat"])
    assert seen == {"label": ["cat"], "prompts": ["p"]}


def test_reward_func_is_picklable():
    f = make_reward_func(TOY_SET, as_tensors=False)
    g = pickle.loads(pickle.dumps(f))
    assert g(["Pab"], ["P"], ["a"]) == f(["Pab"], ["P"], ["a"])


def test_module_reward_func_reads_task_from_env(toy_preset, monkeypatch):
    monkeypatch.setenv(TASK_ENV, toy_preset)
    out = reward_func(["Pab"], ["P"], ["a"])
    total = reference(["ab"], ["a"])[0][0]
    assert float(out["rewards"][0]) == np.float32(total)
    monkeypatch.delenv(TASK_ENV)
    with pytest.raises(ValueError, match=f"set the environment variable {TASK_ENV}"):
        reward_func(["Pab"], ["P"], ["a"])
    assert float(reward_func(["Pab"], ["P"], ["a"], task=toy_preset)["rewards"][0]) == np.float32(total)


def test_loaded_by_path_like_openrlhf(toy_preset, monkeypatch):
    monkeypatch.setenv(TASK_ENV, toy_preset)
    spec = importlib.util.spec_from_file_location("reward_func", openrlhf_mod.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.reward_func([QWEN_PROMPT + "ab<|im_end|>"], [QWEN_PROMPT], ["a"])
    assert float(out["rewards"][0]) == np.float32(reference(["ab"], ["a"])[0][0])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"task": None}, TypeError, "task must be a preset name"),
        ({"task": "no-such-task-here"}, ValueError, "known preset"),
        ({"task": TOY_SET, "label_column": ""}, TypeError, "label_column must be a non-empty str"),
        ({"task": TOY_SET, "eos_tokens": "</s>"}, TypeError, "eos_tokens must be a sequence"),
        ({"task": TOY_SET, "none_score": float("inf")}, ValueError, "none_score must be finite"),
    ],
)
def test_bad_options_raise(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        OpenRLHFRewardFunc(**kwargs)


def test_labels_length_mismatch_raises():
    with pytest.raises(ValueError, match=r"labels must have one entry per sample \(2\), got 1"):
        make_reward_func(TOY_SET)(["a", "b"], None, ["x"])


def test_log_metrics_fill_extra_logs():
    rs = RewardSet([MetricReward()])
    out = make_reward_func(rs, as_tensors=False, log_metrics=True)(["Pab", "Pabcd"], ["P", "P"], None)
    assert out["extra_logs"] == {"metric_reward": [0.25, 0.5], "toy/mean_len": [3.0, 3.0]}
    out = make_reward_func(rs, as_tensors=False)(["Pab"], ["P"], None)
    assert out["extra_logs"] == {"metric_reward": [0.25]}
