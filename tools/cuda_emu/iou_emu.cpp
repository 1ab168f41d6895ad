// Runs csrc/cuda/iou_kernels.cuh's kernels on the CPU through the CUDA emulation in
// cuda_runtime.h (blocks one after another, each as blockDim.x threads), for
// tests/test_cuda_emu.py.
//   g++ -std=c++17 -O1 -pthread -DCUDA_EMU_STATIC_SHARED -I tools/cuda_emu -I csrc
//       tools/cuda_emu/iou_emu.cpp -o iou_emu
//   iou_emu DIR   reads DIR/params.txt ("dtype op fmt kind n m grid allow_inverted"), DIR/a.bin,
//                 DIR/b.bin; writes DIR/out.bin (op pairwise / paired) or DIR/bad.bin (invalid).
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cuda/iou_kernels.cuh"
#include "emu_io.h"

namespace {

using cuda_emu_io::load;
using cuda_emu_io::save;

// Runs body() as `grid` blocks of `threads` threads, one block at a time.
template <typename Body>
void launch(unsigned grid, unsigned threads, Body body) {
  gridDim = dim3{grid, 1, 1};
  blockDim = dim3{threads, 1, 1};
  cuda_emu::block_barrier.reset(threads);
  for (unsigned b = 0; b < grid; ++b) {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([=] {
        threadIdx = dim3{t, 0, 0};
        blockIdx = dim3{b, 0, 0};
        body();
      });
    }
    for (auto& th : pool) th.join();
  }
}

template <typename T, vrft::IouKind K>
void pairwise(const T* a, int64_t n, const T* b, int64_t m, vrft::BoxFormat fmt, T* out,
              unsigned grid) {
  namespace d = vrft::cuda::detail;
  const int64_t col_tiles = (m + d::kPairwiseThreads - 1) / d::kPairwiseThreads;
  const int64_t tiles = ((n + d::kPairwiseRows - 1) / d::kPairwiseRows) * col_tiles;
  launch(grid, d::kPairwiseThreads,
         [=] { d::pairwise_kernel<T, K>(a, n, b, m, fmt, col_tiles, tiles, out); });
}

template <typename T>
int run(const std::string& dir, const std::string& op, vrft::BoxFormat fmt, vrft::IouKind kind,
        int64_t n, int64_t m, unsigned grid, bool allow_inverted) {
  using vrft::IouKind;
  namespace d = vrft::cuda::detail;
  std::vector<T> a = load<T>(dir + "/a.bin"), b = load<T>(dir + "/b.bin");
  if (op == "pairwise") {
    std::vector<T> out(static_cast<size_t>(n * m), T(-7));
    switch (kind) {
      case IouKind::kGIoU:
        pairwise<T, IouKind::kGIoU>(a.data(), n, b.data(), m, fmt, out.data(), grid);
        break;
      case IouKind::kDIoU:
        pairwise<T, IouKind::kDIoU>(a.data(), n, b.data(), m, fmt, out.data(), grid);
        break;
      case IouKind::kCIoU:
        pairwise<T, IouKind::kCIoU>(a.data(), n, b.data(), m, fmt, out.data(), grid);
        break;
      default:
        pairwise<T, IouKind::kIoU>(a.data(), n, b.data(), m, fmt, out.data(), grid);
        break;
    }
    save(dir + "/out.bin", out);
  } else if (op == "paired") {
    std::vector<T> out(static_cast<size_t>(n), T(-7));
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
    switch (kind) {
      case IouKind::kGIoU:
        launch(grid, 64, [=] { d::paired_kernel<T, IouKind::kGIoU>(pa, pb, n, fmt, po); });
        break;
      case IouKind::kDIoU:
        launch(grid, 64, [=] { d::paired_kernel<T, IouKind::kDIoU>(pa, pb, n, fmt, po); });
        break;
      case IouKind::kCIoU:
        launch(grid, 64, [=] { d::paired_kernel<T, IouKind::kCIoU>(pa, pb, n, fmt, po); });
        break;
      default:
        launch(grid, 64, [=] { d::paired_kernel<T, IouKind::kIoU>(pa, pb, n, fmt, po); });
        break;
    }
    save(dir + "/out.bin", out);
  } else {
    std::vector<int64_t> bad{-1};
    const T* pa = a.data();
    int64_t* pbad = bad.data();
    launch(grid, 64, [=] { d::find_invalid_kernel<T>(pa, n, fmt, allow_inverted, pbad); });
    save(dir + "/bad.bin", bad);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: iou_emu DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream p(dir + "/params.txt");
  std::string dtype, op, fmt, kind;
  int64_t n = 0, m = 0;
  unsigned grid = 1;
  int allow_inverted = 0;
  p >> dtype >> op >> fmt >> kind >> n >> m >> grid >> allow_inverted;
  const auto f = vrft::parse_box_format(fmt, "fmt");
  const auto k = vrft::parse_iou_kind(kind, "kind");
  if (dtype == "float32") return run<float>(dir, op, f, k, n, m, grid, allow_inverted != 0);
  return run<double>(dir, op, f, k, n, m, grid, allow_inverted != 0);
}
