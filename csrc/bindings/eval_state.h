// Types shared by the engine's binding files (eval.cpp, shapes.cpp): the evaluation state and the
// mask arena, held by Python between calls.
#pragma once

#include "eval/evaluate.h"
#include "masks/segm_arena.h"

namespace vrft::bindings {

// Holds the per-image matches between evaluate() and accumulate() (Python: _C.EvalState).
struct PyEvaluation {
  vrft::eval::Evaluation ev;
};

// A dataset's segmentations as sources (Python: _C.SegmArena).
struct PySegmArena {
  vrft::masks::SegmArena arena;
};

}  // namespace vrft::bindings
