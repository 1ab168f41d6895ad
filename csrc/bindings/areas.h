// The registration function of each area of _C, one per file of csrc/bindings/ (the layout of
// scikit-hep/boost-histogram's src/module.cpp + src/register_*.cpp).  module.cpp calls them in
// this order; each defines its area's functions and classes on the module.
#pragma once

#include <pybind11/pybind11.h>

namespace vrft::bindings {

void bind_runtime(pybind11::module_& m);    // runtime.cpp: thread-pool size
void bind_geometry(pybind11::module_& m);   // geometry.cpp: IoU family, box conversion
void bind_match(pybind11::module_& m);      // match.cpp: linear assignment, box matching
void bind_parse(pybind11::module_& m);      // parse.cpp: completion parser, text helpers
void bind_eval(pybind11::module_& m);       // eval.cpp: COCO / LVIS engine, results JSON
void bind_masks(pybind11::module_& m);      // masks.cpp: ground-truth mask sets
void bind_shapes(pybind11::module_& m);     // shapes.cpp: segm arenas, mask / keypoint results
void bind_keypoints(pybind11::module_& m);  // keypoints.cpp: keypoint rows, OKS passes
void bind_rewards(pybind11::module_& m);    // rewards.cpp: reward kernels, per-completion AP
void bind_loading(pybind11::module_& m);  // loading.cpp: record lists and results files -> columns
void bind_eval_select(pybind11::module_& m);  // eval_select.cpp: id positions, LVIS selection

// rewards_fused.cpp: the fused per-completion rewards (the tiny-batch path)
void bind_rewards_fused(pybind11::module_& m);

// eval_metrics.cpp: AP over tie orders, order-free counts, TIDE's error breakdown.
void bind_eval_metrics(pybind11::module_& m);

}  // namespace vrft::bindings
