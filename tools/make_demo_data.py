"""Generate the small data set bundled for `vrft-rewards demo` (vrft_rewards/data/).

Seeded, so running it again reproduces the committed files byte for byte:
    python tools/make_demo_data.py

Files:
  demo_coco_gt.json        COCO-format ground truth: 24 images of random sizes, 4 categories.
  demo_rollouts.jsonl      one GRPO step: 8 prompts x 8 completions in Visual-RFT's detection
                           format (0..1000 grid), with the prompt's `solution`, including the
                           usual failure modes (newline in the answer, no answer, truncated list,
                           "No Objects", extra boxes).
  demo_outputs.jsonl       model outputs for evaluation, one per (image, category) prompt as
                           Visual-RFT evaluates: {"image_id", "category", "completion"} with boxes
                           on the 0..1000 grid.
  demo_outputs_qwen.jsonl  the same task in Qwen2.5-VL's style: one completion per image,
                           {"image_id", "completion"}, a ```json list of {"bbox_2d", "label"} in
                           pixels (no confidence), labels with case / plural / synonym variants
                           and a few unknown labels, and two bad records (a line that is not
                           JSON, an unknown image id) that the evaluator skips and reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "vrft_rewards" / "data"
CATEGORIES = ["dog", "cat", "car", "person"]


def _item(box, conf) -> str:
    return "{'Position': [%d, %d, %d, %d], 'Confidence': %.2f}" % (*box, conf)


def _norm1000(box, w, h):
    x1, y1, bw, bh = box
    return [round(x1 / w * 1000), round(y1 / h * 1000), round((x1 + bw) / w * 1000), round((y1 + bh) / h * 1000)]


def main() -> None:
    rng = np.random.default_rng(2025)
    images, annotations = [], []
    for image_id in range(1, 25):
        w, h = int(rng.choice([640, 800, 1024])), int(rng.choice([480, 600, 768]))
        images.append({"id": image_id, "file_name": f"{image_id:06d}.jpg", "width": w, "height": h})
        for _ in range(int(rng.integers(1, 6))):
            bw, bh = float(rng.uniform(20, w / 2)), float(rng.uniform(20, h / 2))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(rng.integers(1, len(CATEGORIES) + 1)),
                    "bbox": [round(x, 1), round(y, 1), round(bw, 1), round(bh, 1)],
                    "area": round(bw * bh * float(rng.uniform(0.6, 0.9)), 1),
                    "iscrowd": 0,
                }
            )
    gt = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CATEGORIES)],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "demo_coco_gt.json").write_text(json.dumps(gt, indent=1) + "\n")

    by_image: dict = {}
    for a in annotations:
        by_image.setdefault((a["image_id"], a["category_id"]), []).append(a["bbox"])
    size = {im["id"]: (im["width"], im["height"]) for im in images}

    # Rollouts: 8 prompts (image, category with objects) x 8 completions.
    keys = sorted(by_image)
    rollouts = []
    for p in range(8):
        image_id, cat = keys[int(rng.integers(0, len(keys)))]
        w, h = size[image_id]
        gt_boxes = [_norm1000(b, w, h) for b in by_image[(image_id, cat)]]
        solution = "<answer>[" + ", ".join(_item(b, 1.0) for b in gt_boxes) + "]</answer>"
        for g in range(8):
            boxes = [list(np.add(b, rng.integers(-30, 31, 4))) for b in gt_boxes if rng.random() < 0.8]
            if rng.random() < 0.3:
                x, y = rng.integers(0, 800, 2)
                boxes.append([int(x), int(y), int(x + rng.integers(20, 200)), int(y + rng.integers(20, 200))])
            body = "[" + ", ".join(_item(b, rng.uniform(0.3, 1.0)) for b in boxes) + "]"
            kind = g % 8
            think = f"<think>Looking for every {CATEGORIES[cat - 1]} in the image.</think>"
            if kind == 5:
                text = think + "<answer>\n" + body + "\n</answer>"  # newline inside
            elif kind == 6:
                text = think + " I think the answer is " + body  # no answer tags
            elif kind == 7 and len(body) > 40:
                text = think + "<answer>" + body[: len(body) * 2 // 3]  # truncated
            elif not boxes:
                text = think + "<answer>No Objects</answer>"
            else:
                text = think + "<answer>" + body + "</answer>"
            rollouts.append(
                {
                    "prompt_id": p,
                    "image_id": image_id,
                    "category": CATEGORIES[cat - 1],
                    "completion": text,
                    "solution": solution,
                }
            )
    with open(OUT / "demo_rollouts.jsonl", "w") as f:
        for r in rollouts:
            f.write(json.dumps(r) + "\n")

    # Evaluation outputs: every image x every category (Visual-RFT queries each category).
    with open(OUT / "demo_outputs.jsonl", "w") as f:
        for image_id in range(1, 25):
            w, h = size[image_id]
            for cat in range(1, len(CATEGORIES) + 1):
                boxes = [
                    (_norm1000(b, w, h), rng.uniform(0.5, 1.0))
                    for b in by_image.get((image_id, cat), [])
                    if rng.random() < 0.85
                ]
                boxes = [(list(np.add(b, rng.integers(-15, 16, 4))), c) for b, c in boxes]
                if rng.random() < 0.25:
                    x, y = rng.integers(0, 800, 2)
                    boxes.append(([int(x), int(y), int(x + 120), int(y + 90)], rng.uniform(0.1, 0.6)))
                answer = ("[" + ", ".join(_item(b, c) for b, c in boxes) + "]") if boxes else "No Objects"
                text = f"<think>Searching for {CATEGORIES[cat - 1]}.</think><answer>{answer}</answer>"
                f.write(json.dumps({"image_id": image_id, "category": CATEGORIES[cat - 1], "completion": text}) + "\n")

    _qwen_outputs(annotations, size)


# Label variants a model writes: exact, other case, plural, synonym, and unknown words.
_LABELS = {
    "dog": ["dog", "Dog", "dogs", "puppy"],
    "cat": ["cat", "Cat", "kitten"],
    "car": ["car", "cars", "automobile"],
    "person": ["person", "man", "people", "Person"],
}


def _qwen_outputs(annotations: list, size: dict) -> None:
    # Own generator: the files above stay byte-identical when this part changes.
    rng = np.random.default_rng(7)
    by_image: dict = {}
    for a in annotations:
        by_image.setdefault(a["image_id"], []).append(a)
    lines = []
    for image_id in range(1, 25):
        w, h = size[image_id]
        items = []
        for a in by_image.get(image_id, []):
            if rng.random() < 0.15:
                continue
            x, y, bw, bh = a["bbox"]
            j = rng.uniform(-8, 8, 4)
            box = [round(x + j[0]), round(y + j[1]), round(x + bw + j[2]), round(y + bh + j[3])]
            names = _LABELS[CATEGORIES[a["category_id"] - 1]]
            items.append({"bbox_2d": box, "label": names[int(rng.integers(0, len(names)))]})
        if rng.random() < 0.3:
            x, y = int(rng.integers(0, w - 100)), int(rng.integers(0, h - 100))
            items.append({"bbox_2d": [x, y, x + 80, y + 60], "label": str(rng.choice(["lamp", "tree"]))})
        body = json.dumps(items)
        lines.append(json.dumps({"image_id": image_id, "completion": f"```json\n{body}\n```"}))
    lines.insert(5, '{"image_id": 3, "completion": "truncated record')  # not JSON
    lines.insert(9, json.dumps({"image_id": 999, "completion": "```json\n[]\n```"}))  # unknown id
    (OUT / "demo_outputs_qwen.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
