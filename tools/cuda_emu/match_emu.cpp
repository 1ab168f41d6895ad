// Runs csrc/cuda/match_kernels.cuh's match_kernel on the CPU through the CUDA emulation in
// cuda_runtime.h (one block of one warp, 32 threads), for tests/test_cuda_emu.py.
//   g++ -std=c++17 -O1 -pthread -I tools/cuda_emu -I csrc tools/cuda_emu/match_emu.cpp -o match_emu
//   match_emu DIR   reads DIR/{pred,gt}.bin (float64 or float32 by DIR/params.txt), po.bin,
//                   go.bin (int64), scores.bin (float64, optional); writes the five outputs.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cuda/match_kernels.cuh"
#include "emu_io.h"

namespace vrft::cuda::detail {
alignas(16) unsigned char shared_bytes[1 << 22];
}

namespace {

using cuda_emu_io::load;
using cuda_emu_io::save;

template <typename T>
int run(const std::string& dir, const std::string& method, const std::string& kind,
        const std::string& fmt, double threshold, bool strict, bool use_scratch) {
  using namespace vrft;
  using namespace vrft::cuda;
  std::vector<T> pred = load<T>(dir + "/pred.bin"), gt = load<T>(dir + "/gt.bin");
  std::vector<int64_t> po = load<int64_t>(dir + "/po.bin"), go = load<int64_t>(dir + "/go.bin");
  std::vector<double> scores = load<double>(dir + "/scores.bin");
  const int64_t b = static_cast<int64_t>(po.size()) - 1;
  int64_t max_pred = 0, max_gt = 0;
  std::vector<int64_t> scratch_off(static_cast<size_t>(b));
  int64_t scratch_size = 0;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t n = po[i + 1] - po[i], m = go[i + 1] - go[i];
    max_pred = std::max(max_pred, n);
    max_gt = std::max(max_gt, m);
    scratch_off[static_cast<size_t>(i)] = scratch_size;
    scratch_size += n * m;
  }
  std::vector<T> scratch(static_cast<size_t>(scratch_size) + 1);
  std::vector<int64_t> matched_gt(pred.size() / 4), matched_pred(gt.size() / 4);
  std::vector<T> matched_value(pred.size() / 4);
  std::vector<int64_t> n_matched(static_cast<size_t>(b));
  std::vector<double> sum(static_cast<size_t>(b));
  const int64_t k = std::max(max_pred, max_gt);
  MatchOptions opt;
  opt.method = method == "greedy" ? MatchMethod::kGreedy : MatchMethod::kHungarian;
  opt.kind = parse_iou_kind(kind, "kind");
  opt.fmt = parse_box_format(fmt, "fmt");
  detail::MatchParams<T> params{
      pred.data(),
      po.data(),
      gt.data(),
      go.data(),
      b,
      max_pred,
      max_gt,
      scores.empty() ? nullptr : scores.data(),
      opt.kind,
      opt.fmt,
      detail::Qualifies{threshold, strict},
      detail::SliceLayout(k, use_scratch ? 0 : max_pred * max_gt, static_cast<int64_t>(sizeof(T))),
      use_scratch ? scratch.data() : nullptr,
      use_scratch ? scratch_off.data() : nullptr,
      DeviceMatchOutputs<T>{matched_gt.data(), matched_value.data(), matched_pred.data(),
                            n_matched.data(), sum.data()}};
  if (params.layout.total > static_cast<int64_t>(sizeof(detail::shared_bytes))) {
    std::cerr << "problem too large for the emulated shared memory\n";
    return 2;
  }
  blockDim = dim3{32, 1, 1};
  gridDim = dim3{1, 1, 1};
  std::vector<std::thread> lanes;
  for (unsigned lane = 0; lane < 32; ++lane) {
    lanes.emplace_back([&, lane] {
      threadIdx = dim3{lane, 0, 0};
      blockIdx = dim3{0, 0, 0};
      if (opt.method == MatchMethod::kGreedy) {
        detail::match_kernel<T, MatchMethod::kGreedy>(params);
      } else {
        detail::match_kernel<T, MatchMethod::kHungarian>(params);
      }
    });
  }
  for (auto& t : lanes) t.join();
  save(dir + "/matched_gt.bin", matched_gt);
  save(dir + "/matched_value.bin", matched_value);
  save(dir + "/matched_pred.bin", matched_pred);
  save(dir + "/n_matched.bin", n_matched);
  save(dir + "/sum_matched.bin", sum);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: match_emu DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream p(dir + "/params.txt");
  std::string dtype, method, kind, fmt;
  double threshold = 0.5;
  int strict = 0, scratch = 0;
  p >> dtype >> method >> kind >> fmt >> threshold >> strict >> scratch;
  if (dtype == "float32") {
    return run<float>(dir, method, kind, fmt, threshold, strict != 0, scratch != 0);
  }
  return run<double>(dir, method, kind, fmt, threshold, strict != 0, scratch != 0);
}
