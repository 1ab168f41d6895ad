"""The package's layout contracts: import paths that moved keep working."""

from __future__ import annotations

import importlib

import pytest

# (old public path, name, new home): modules moved by the restructuring (issue 12) re-export
# their public names from the old path.
MOVED = [
    ("vrft_rewards.eval", "evaluate_coco", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval", "evaluate_lvis", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval", "COCOeval", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval", "LVISeval", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval", "GroundTruth", "vrft_rewards.cocoeval.ground_truth"),
    ("vrft_rewards.eval", "Detections", "vrft_rewards.cocoeval.detections"),
    ("vrft_rewards.eval", "EvalResult", "vrft_rewards.cocoeval.result"),
    ("vrft_rewards.eval.coco", "evaluate_coco", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval.coco", "COCOeval", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval.coco", "Params", "vrft_rewards.cocoeval.params"),
    ("vrft_rewards.eval.lvis", "evaluate_lvis", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval.lvis", "LVISeval", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval.lvis", "LVISParams", "vrft_rewards.cocoeval.params"),
    ("vrft_rewards.eval.sharded", "ray_matcher", "vrft_rewards.cocoeval.sharding"),
    ("vrft_rewards.eval.sharded", "convert_records_ray", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.sharded", "evaluate_detection_ray", "vrft_rewards.eval.detection"),
    ("vrft_rewards.eval.detection", "detections_from_records", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.detection", "DetectionBatch", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.detection", "convert_chunk", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.detection", "prepare_records", "vrft_rewards.eval.record_table"),
    ("vrft_rewards.eval.grounding", "mask_set", "vrft_rewards.masks"),
    ("vrft_rewards.eval.grounding", "mask_intersection_union", "vrft_rewards.masks"),
    ("vrft_rewards.eval.commands", "run_score", "vrft_rewards.score"),
    ("vrft_rewards.eval.commands", "score_records", "vrft_rewards.score"),
    ("vrft_rewards.serve", "serve", "vrft_rewards.integrations.server"),
    ("vrft_rewards.serve", "make_server", "vrft_rewards.integrations.server"),
    ("vrft_rewards.serve", "RewardServer", "vrft_rewards.integrations.server"),
    ("vrft_rewards.serve", "DEFAULT_MAX_BODY_BYTES", "vrft_rewards.integrations.server"),
    ("vrft_rewards.distributed", "shard_bounds", "vrft_rewards._ray"),
    ("vrft_rewards.parsing", "boxes_to_pixels", "vrft_rewards.frames"),
    ("vrft_rewards.matching", "MatchResult", "vrft_rewards._batch_results"),
    ("vrft_rewards.matching", "BatchedAssignment", "vrft_rewards._batch_results"),
]


@pytest.mark.parametrize("old, name, new", MOVED, ids=[f"{o}.{n}" for o, n, _ in MOVED])
def test_moved_names_keep_their_import_path(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_eval_keeps_exporting_every_name_it_exported():
    import vrft_rewards.eval as ve

    before = {"CATEGORY_SETS", "COCOeval", "CategoryMapper", "DetectionBatch", "EvalReport", "RecordError",
              "SkipLog", "detections_from_records", "evaluate_classification", "evaluate_detection",
              "evaluate_detection_ray", "evaluate_grounding", "normalize_category_name", "parse_statistics",
              "write_report", "Detections", "EvalResult", "GroundTruth", "LVISeval", "evaluate_coco",
              "evaluate_lvis"}
    assert before <= set(ve.__all__)
    for name in ve.__all__:
        assert hasattr(ve, name), name
