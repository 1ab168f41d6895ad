// Fine-grained dynamic scheduling on top of vrft::parallel_for.
//
// parallel_for hands out about four chunks per thread.  Batches of assignment problems are
// ragged, and on a shared machine a worker may be descheduled for milliseconds; a quarter of a
// thread's share is then a large imbalance.  Here each thread runs one slot that keeps claiming
// small blocks from a shared counter until none is left, so the threads finish within one block
// of each other.  Each slot constructs its own State (solver workspace) once.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "common/thread_pool.h"

namespace vrft {

// Calls body(begin, end, state) over disjoint blocks covering [0, n), with one State per thread.
template <typename State, typename Body>
void dynamic_for(int64_t n, int64_t block, Body&& body) {
  if (n <= 0) return;
  block = std::max<int64_t>(block, 1);
  const int64_t n_blocks = (n + block - 1) / block;
  const int64_t slots = std::min<int64_t>(get_num_threads(), n_blocks);
  std::atomic<int64_t> next{0};
  parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      State state;
      for (;;) {
        const int64_t begin = next.fetch_add(block, std::memory_order_relaxed);
        if (begin >= n) break;
        body(begin, std::min(n, begin + block), state);
      }
    }
  });
}

// Block size giving about 64 blocks per thread, at most `max_block`.
inline int64_t dynamic_block(int64_t n, int64_t max_block) {
  const int64_t per = n / (64 * static_cast<int64_t>(std::max(1, get_num_threads())));
  return std::clamp<int64_t>(per, 1, max_block);
}

}  // namespace vrft
