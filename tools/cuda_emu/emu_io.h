// Binary file I/O shared by the emulation drivers (iou_emu.cpp, match_emu.cpp): raw arrays that
// tests/test_cuda_emu.py writes with numpy's tofile and reads back with fromfile.
#pragma once

#include <fstream>
#include <string>
#include <vector>

namespace cuda_emu_io {

// The whole file as an array of V (empty when the file is missing).
template <typename V>
std::vector<V> load(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  const auto size = static_cast<size_t>(f.tellg());
  std::vector<V> v(size / sizeof(V));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(size));
  return v;
}

template <typename V>
void save(const std::string& path, const std::vector<V>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(V)));
}

}  // namespace cuda_emu_io
