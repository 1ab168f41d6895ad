// Accumulation of per-image matches into COCO's precision / recall / scores arrays.
//
// Reproduces pycocotools COCOeval.accumulate (2.0.11) and lvis-api 0.5.3 LVISEval.accumulate
// (the same computation without the maxDets dimension: call with one "max_dets" = INT64_MAX and
// drop the M axis).  For each (category k, area range a, maxDet m):
//   1. take the first maxDet score-sorted detections of every image (in image order) and sort the
//      concatenation by descending score with a *stable* sort (np.argsort(-s, kind='mergesort')),
//   2. per IoU threshold t: tp / fp = cumulative counts of non-ignored matched / unmatched
//      detections (ignored ones repeat the previous value; the arrays keep their length nd),
//   3. rc = tp / npig;  pr = tp / ((fp + tp) + np.spacing(1))   (the eps decides the last bit),
//   4. recall[t,k,a,m] = rc[nd-1] (0 when nd == 0),
//   5. pr made non-increasing by a running max from the right,
//   6. for each recall threshold r: i = searchsorted(rc, recThrs[r], side='left');
//      precision = pr[i], scores = sorted_score[i]; at the first i >= nd the loop stops and the
//      remaining cells stay 0 (pycocotools' try / except around the IndexError).
// Cells of a (k, a) with no non-ignored GT (npig == 0) stay -1.
#pragma once

#include <cstdint>

#include "eval/evaluate.h"

namespace vrft::eval {

struct AccumulateParams {
  const double* rec_thrs = nullptr;
  int64_t num_rec_thrs = 0;  // R
  const int64_t* max_dets = nullptr;
  int64_t num_max_dets = 0;  // M (sorted ascending, as COCOeval.evaluate leaves them)
};

// precision and scores: T x R x K x A x M, recall: T x K x A x M (row-major, as numpy's C order).
// Every cell is written (-1 where undefined).  Parallel over categories.
void accumulate(const Evaluation& ev, const AccumulateParams& params, double* precision,
                double* recall, double* scores);

}  // namespace vrft::eval
