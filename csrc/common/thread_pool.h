// A persistent pool of worker threads shared by every batch call of the core.
//
// Why our own pool: batch calls are often ~1 ms long.  OpenMP's default spin-wait turns a 1 ms
// 2-thread region into 8 ms when the other core is busy (shared/research/kernels.md §5), and
// spawning threads per call costs more than the work.  Workers here sleep on a condition
// variable between jobs (no busy-spinning) and the calling thread always takes part, so a pool
// of size 1 is plain serial execution.
#pragma once

#include <cstdint>
#include <functional>

namespace vrft {

// Number of threads a parallel_for may use, including the caller.  Defaults to the CPU count.
int get_num_threads();
// Sets the pool size (n >= 1); n == 0 restores the default (CPU count).  Throws
// std::invalid_argument for n < 0.  Safe to call between batch calls.
void set_num_threads(int n);

// Runs body(begin, end) over disjoint chunks covering [0, n), each at least `grain` long (except
// the last), and returns when all are done.  Chunks are handed out dynamically, so ragged work
// (problems of different sizes) balances itself.  The first exception thrown by `body` is
// rethrown in the caller after the other chunks finish.  Called from inside a pool worker, or
// with n <= grain, it runs serially in the calling thread (no nested parallelism).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

}  // namespace vrft
