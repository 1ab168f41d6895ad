from .coco import evaluate_coco as evaluate_lvis, COCOeval as LVISeval
