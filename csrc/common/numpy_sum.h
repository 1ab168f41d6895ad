// numpy's summation order, for values that must equal numpy's np.sum / np.mean bit for bit (the
// per-completion AP's final mean is pycocotools' summarize, an np.mean).
#pragma once

#include <cstdint>

namespace vrft {

// Sum of a[0..n) exactly as numpy's add.reduce sums a contiguous float64 array (np.sum / np.mean
// over a 1-D array): pairwise summation (numpy/_core/src/umath/loops_utils.h.src,
// `pairwise_sum`): fewer than 8 values are added left to right from 0.0; up to 128 values use
// eight interleaved accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and then the
// remainder; longer arrays are split at n/2 rounded down to a multiple of 8 and both halves summed
// recursively.  Verified against np.sum on random arrays of 1..100k values
// (tests/test_rewards_ap.py).
double numpy_pairwise_sum(const double* a, int64_t n);

}  // namespace vrft
