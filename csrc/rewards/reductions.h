// Reductions whose summation order is part of the contract, because the values they produce must
// equal a reference's bit for bit.
#pragma once

#include <cstdint>

namespace vrft {

// Sum of a[0..n) exactly as numpy's add.reduce sums a contiguous float64 array (np.sum / np.mean
// over a 1-D array): pairwise summation (numpy/_core/src/umath/loops_utils.h.src,
// `pairwise_sum`): fewer than 8 values are added left to right from 0.0; up to 128 values use
// eight interleaved accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and then the
// remainder; longer arrays are split at n/2 rounded down to a multiple of 8 and both halves summed
// recursively.  Verified against np.sum on random arrays of 1..100k values (tests/test_rewards_ap.py).
double numpy_pairwise_sum(const double* a, int64_t n);

// out[b] = values[offsets[b]] + ... + values[offsets[b+1]-1], added left to right starting from
// 0.0, as a Python `total = 0.0; for v in values: total += v` loop does (Visual-RFT's reward
// sums).  offsets must be validated by the caller (length num_segments + 1, non-decreasing,
// within values).
void segment_sum_sequential(const double* values, const int64_t* offsets, int64_t num_segments,
                            double* out);

}  // namespace vrft
