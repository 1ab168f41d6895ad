"""verl inputs built the way verl builds them: a saved tokenizer, its Hydra config, a DataProto."""

from __future__ import annotations

import os

import _tiny_vlm

GT = "<answer>[{'Position': [5, 5, 30, 30], 'Confidence': 1}]</answer>"
#: Visual-RFT detection responses whose rewards all differ (decoded back exactly by the tokenizer).
RESPONSES = [
    "<think>one box</think><answer>[{'Position': [5, 5, 30, 30], 'Confidence': 0.9}]</answer>",
    "<think>off</think><answer>[{'Position': [40, 40, 50, 50], 'Confidence': 0.2}]</answer>",
    "<answer>[{'Position': [6, 6, 31, 31], 'Confidence': 0.7}]</answer>",
    "garbage",
]


def save_tokenizer(path):
    """The tiny Qwen-style tokenizer saved where verl's workers load it (``hf_tokenizer``)."""
    tok = _tiny_vlm.make_tokenizer()
    tok.save_pretrained(str(path))
    return tok


def make_data(tok, responses, ground_truths, extra_infos=None, data_source="vrft_det"):
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses + eos."""
    import numpy as np
    import torch
    from verl import DataProto

    n = len(responses)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    p_ids = [tok.encode(f"<|im_start|>user\nDetect {i}<|im_end|>\n<|im_start|>assistant\n") for i in range(n)]
    r_ids = [tok.encode(r) + [eos] for r in responses]
    p_len, r_len = max(map(len, p_ids)), max(map(len, r_ids))
    prompts = torch.full((n, p_len), pad)
    resp = torch.full((n, r_len), pad)
    mask = torch.zeros((n, p_len + r_len), dtype=torch.long)
    for i, (p, r) in enumerate(zip(p_ids, r_ids)):
        prompts[i, p_len - len(p) :] = torch.tensor(p)
        resp[i, : len(r)] = torch.tensor(r)
        mask[i, p_len - len(p) : p_len + len(r)] = 1
    extra_infos = extra_infos or [{"index": i, "width": 64, "height": 64} for i in range(n)]
    return DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": resp,
            "attention_mask": mask,
            "input_ids": torch.cat([prompts, resp], dim=1),
        },
        non_tensors={
            "data_source": np.array([data_source] * n, dtype=object),
            "reward_model": np.array([{"ground_truth": g, "style": "rule"} for g in ground_truths], dtype=object),
            "extra_info": np.array(extra_infos, dtype=object),
            "uid": np.array([f"g{i // 2}" for i in range(n)], dtype=object),
        },
    )


def compose(tok_dir, overrides):
    """verl's own ``ppo_trainer.yaml``, composed with ``overrides`` (as ``main_ppo`` does)."""
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    cfg_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=cfg_dir, version_base=None):
        return hydra_compose(
            config_name="ppo_trainer", overrides=[f"actor_rollout_ref.model.path={tok_dir}", *overrides]
        )
