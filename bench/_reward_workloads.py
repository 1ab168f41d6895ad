"""Seeded GRPO-step workloads for the reward benchmarks: Visual-RFT detection completions."""

from __future__ import annotations

import numpy as np


def _item(box, conf) -> str:
    return "{'Position': [%d, %d, %d, %d], 'Confidence': %s}" % (*box, conf)


def detection_step(n_prompts: int, group: int = 8, seed: int = 0):
    """``n_prompts * group`` completions (1-20 predicted boxes) and their solutions (1-10 GT).

    Every solution repeats for the ``group`` completions of its prompt, as in a GRPO step."""
    rng = np.random.default_rng(seed)
    completions, solutions, gts = [], [], []
    for _ in range(n_prompts):
        n_gt = int(rng.integers(1, 11))
        xy = rng.integers(0, 800, (n_gt, 2))
        gt = np.concatenate([xy, xy + rng.integers(10, 200, (n_gt, 2))], axis=1)
        sol = "<answer>[" + ", ".join(_item(b, 1) for b in gt) + "]</answer>"
        for _ in range(group):
            n_pred = int(rng.integers(1, 21))
            src = rng.integers(0, n_gt, n_pred)
            pred = gt[src] + rng.integers(-25, 26, (n_pred, 4))
            pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)  # keep x1 < x2, y1 < y2
            confs = np.round(rng.random(n_pred), 2)
            body = ", ".join(_item(b, c) for b, c in zip(pred, confs))
            completions.append(
                [
                    {
                        "role": "assistant",
                        "content": "<think>I see %d objects.</think><answer>[%s]</answer>" % (n_pred, body),
                    }
                ]
            )
            # A new but equal str per completion, as a dataset row read once per generation is
            # (TRL's RepeatSampler): no identity shortcut for the solution column.
            solutions.append((sol + " ")[:-1])
            gts.append(gt)
    return completions, solutions, gts
