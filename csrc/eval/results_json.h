// A fast path for loading COCO result files: a JSON array of objects
//   {"image_id": int, "category_id": int, "bbox": [x, y, w, h], "score": number, ...}
// read straight into columns, without building a Python dict per detection.
//
// Only this shape is accepted; other keys (segmentation, ...) are skipped whatever their value.
// Anything else (a syntax error, a missing field, a non-integral id, a key with an escape, which
// may name a field to Python, NaN / Infinity literals, which Python's json accepts, numbers
// outside JSON's grammar such as `01` or `.5`) makes the parser return false, and the caller
// falls back to the general loader, which produces the error message naming the record and
// field.  Numbers are correctly rounded (an exact fast path for short decimals, std::from_chars
// for the rest), so they equal Python's float(token).
//
// Two entry points: parse_result_columns() on bytes in memory, and read_result_file(), which
// reads a file in blocks straight into arrays sized once from the file size (so the peak memory is
// the columns plus one block, not the file plus copies of the columns).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace vrft::eval {

struct ResultColumns {
  std::vector<int64_t> image_id, category_id;
  std::vector<double> box;  // 4 per record (xywh)
  std::vector<double> score;
};

// Parses data[0, size).  Returns true and fills `out` on success; false means "not on the fast
// path" (nothing about the file is implied beyond that).
bool parse_result_columns(const char* data, size_t size, ResultColumns& out);

// A malloc'ed array whose pages are touched only as it is filled (a large capacity costs address
// space, not memory) and that can be shrunk in place and handed over (release(); free() it).
template <typename T>
class HeapArray {
 public:
  HeapArray() = default;
  HeapArray(const HeapArray&) = delete;
  HeapArray& operator=(const HeapArray&) = delete;
  ~HeapArray() { std::free(data_); }
  bool allocate(size_t capacity) {
    std::free(data_);
    data_ = static_cast<T*>(std::malloc(sizeof(T) * (capacity ? capacity : 1)));
    return data_ != nullptr;
  }
  // Gives the pages past `n` back (realloc shrinks a large block in place).
  void shrink(size_t n) {
    if (void* p = std::realloc(data_, sizeof(T) * (n ? n : 1))) data_ = static_cast<T*>(p);
  }
  T* data() { return data_; }
  T* release() {
    T* p = data_;
    data_ = nullptr;
    return p;
  }

 private:
  T* data_ = nullptr;
};

struct ResultArrays {
  size_t n = 0;
  HeapArray<int64_t> image_id, category_id;
  HeapArray<double> box, score;  // box: 4 per record
};

enum class ReadStatus { kOk, kOffFastPath, kCannotRead };

// Reads the results file at `path` in blocks of `block_bytes` (record-aligned pieces of each block
// parsed in parallel).  kOffFastPath: the file is not in the shape above (or a string in it looks
// like a record boundary); kCannotRead: it could not be opened or read.  Either way the caller
// reads it the general way, which reports the problem.
ReadStatus read_result_file(const char* path, ResultArrays& out,
                            size_t block_bytes = size_t{32} << 20);

}  // namespace vrft::eval
