#include "eval/results_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "common/thread_pool.h"
#include "eval/json_reader.h"

namespace vrft::eval {
namespace {

using json::is_ws;
using json::Reader;

// The fields of a record: one bit each in `seen`.  A new field is a key, a bit, a reader below
// and a column in ResultColumns / ResultArrays.
enum Field : unsigned { kImageId = 1, kCategoryId = 2, kScore = 4, kBbox = 8, kAllFields = 15 };

Field field_of(const char* key, size_t n) {
  switch (n) {
    case 8:
      return std::memcmp(key, "image_id", 8) == 0 ? kImageId : Field{0};
    case 11:
      return std::memcmp(key, "category_id", 11) == 0 ? kCategoryId : Field{0};
    case 5:
      return std::memcmp(key, "score", 5) == 0 ? kScore : Field{0};
    case 4:
      return std::memcmp(key, "bbox", 4) == 0 ? kBbox : Field{0};
    default:
      return Field{0};
  }
}

// The shortest record on the fast path, {"image_id":0,"category_id":0,"bbox":[0,0,0,0],"score":0}
// plus its separating comma, is 57 bytes: a file of S bytes holds at most S / 56 records.
constexpr size_t kMinRecordBytes = 56;

// Records `{...}, {...}, ...` appended to `out`; the reader must then be at `end_char` (']' for
// the last piece of the file, end of input for the others: end_char == 0).
bool parse_records(Reader& r, ResultColumns& out, char end_char, size_t bytes) {
  // A COCO result record takes 80-120 bytes of JSON: reserve for that many, once.
  const size_t guess = bytes / 80 + 16;
  out.image_id.reserve(guess);
  out.category_id.reserve(guess);
  out.box.reserve(4 * guess);
  out.score.reserve(guess);
  do {
    if (!r.eat('{')) return false;
    int64_t image_id = 0, category_id = 0;
    double box[4] = {0, 0, 0, 0}, score = 0;
    unsigned seen = 0;  // bit per field; a repeated key overwrites (last wins, as in Python)
    if (!r.eat('}')) {
      do {
        const char* kb;
        size_t kn;
        if (!r.string(&kb, &kn) || !r.eat(':')) return false;
        // An escaped key ("image\u005fid") may be a field to Python: off the path.
        if (std::memchr(kb, '\\', kn) != nullptr) return false;
        bool integral;
        switch (field_of(kb, kn)) {
          case kImageId:
            if (!r.integer(&image_id)) return false;
            break;
          case kCategoryId:
            if (!r.integer(&category_id)) return false;
            break;
          case kScore:
            if (!r.number(&score, &integral)) return false;
            break;
          case kBbox:
            if (!r.eat('[')) return false;
            for (int i = 0; i < 4; ++i) {
              if ((i > 0 && !r.eat(',')) || !r.number(&box[i], &integral)) return false;
            }
            if (!r.eat(']')) return false;
            break;
          default:
            if (!r.skip_value()) return false;
            break;
        }
        seen |= field_of(kb, kn);
      } while (r.eat(','));
      if (!r.eat('}')) return false;
    }
    if (seen != kAllFields) return false;
    out.image_id.push_back(image_id);
    out.category_id.push_back(category_id);
    out.box.insert(out.box.end(), box, box + 4);
    out.score.push_back(score);
  } while (r.eat(','));
  if (end_char == 0) return r.at_end();
  return r.eat(end_char) && r.at_end();
}

void clear(ResultColumns& c) {  // keeps the capacity for the next block
  c.image_id.clear();
  c.category_id.clear();
  c.box.clear();
  c.score.clear();
}

// Whether data[p] == '{' starts a record: the previous non-space bytes are `}` ws* `,` ws*.  Only
// a candidate (it may sit inside a string); the piece parses validate it: a cut inside a string
// leaves the piece before it with an unterminated string, which fails.
bool is_record_start(const char* data, size_t p) {
  if (data[p] != '{') return false;
  size_t q = p;
  while (q > 0 && is_ws(data[q - 1])) --q;
  if (q == 0 || data[q - 1] != ',') return false;
  --q;
  while (q > 0 && is_ws(data[q - 1])) --q;
  return q > 0 && data[q - 1] == '}';
}

// The first record-start candidate in [from, size), or size.
size_t next_record_start(const char* data, size_t size, size_t from) {
  for (size_t p = from; p < size; ++p) {
    if (is_record_start(data, p)) return p;
  }
  return size;
}

// The last record-start candidate in (from, size), or 0 when there is none.
size_t last_record_start(const char* data, size_t from, size_t size) {
  for (size_t p = size; p-- > from + 1;) {
    if (is_record_start(data, p)) return p;
  }
  return 0;
}

// Parses the records in data[begin, end) -- whole records separated by commas, ending at `end`
// (final: with the closing ']') -- into parts[0..k) in order, cut into up to `pieces` pieces at
// record boundaries and parsed in parallel.  Returns the number of parts used, or -1 when a piece
// does not parse.
int64_t parse_region(const char* data, size_t begin, size_t end, bool final, int64_t pieces,
                     std::vector<ResultColumns>& parts) {
  std::vector<size_t> cut{begin};
  const size_t size = end - begin;
  for (int64_t i = 1; i < pieces; ++i) {
    const size_t c =
        next_record_start(data, end, std::max(cut.back() + 1, begin + size / pieces * i));
    if (c >= end) break;
    cut.push_back(c);
  }
  cut.push_back(end);
  const int64_t n = static_cast<int64_t>(cut.size()) - 1;
  if (parts.size() < static_cast<size_t>(n)) parts.resize(static_cast<size_t>(n));
  std::vector<char> ok(static_cast<size_t>(n), 0);
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Piece i covers [cut[i], cut[i + 1]): up to the ',' before the next record for all but
      // the last.
      size_t stop = cut[i + 1];
      if (i + 1 < n) {
        while (stop > cut[i] && data[stop - 1] != ',') --stop;
        --stop;  // drop the ','
      }
      clear(parts[i]);
      Reader r(data + cut[i], stop - cut[i]);
      ok[i] = parse_records(r, parts[i], final && i + 1 == n ? ']' : 0, stop - cut[i]);
    }
  });
  for (const char v : ok) {
    if (!v) return -1;
  }
  return n;
}

int64_t pieces_for(size_t bytes) {
  constexpr size_t kMinPiece = size_t{4} << 20;
  return std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), bytes / kMinPiece));
}

bool parse_serial(const char* data, size_t size, ResultColumns& out) {
  Reader r(data, size);
  out = ResultColumns{};
  if (!r.eat('[')) return false;
  if (r.eat(']')) return r.at_end();
  return parse_records(r, out, ']', size);
}

}  // namespace

bool parse_result_columns(const char* data, size_t size, ResultColumns& out) {
  // Large inputs are cut at record boundaries and parsed in parallel; a piece that does not parse
  // exactly (a cut inside a string, a syntax error) sends the whole input to the serial parser,
  // which is the reference behaviour.
  const int64_t pieces = pieces_for(size);
  if (pieces < 2) return parse_serial(data, size, out);
  Reader r(data, size);
  if (!r.eat('[') || r.peek(']')) return parse_serial(data, size, out);
  std::vector<ResultColumns> parts;
  const int64_t n = parse_region(data, r.offset(), size, true, pieces, parts);
  if (n < 0) return parse_serial(data, size, out);
  out = ResultColumns{};
  size_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += parts[i].score.size();
  out.image_id.reserve(total);
  out.category_id.reserve(total);
  out.box.reserve(4 * total);
  out.score.reserve(total);
  for (int64_t i = 0; i < n; ++i) {
    const auto& p = parts[i];
    out.image_id.insert(out.image_id.end(), p.image_id.begin(), p.image_id.end());
    out.category_id.insert(out.category_id.end(), p.category_id.begin(), p.category_id.end());
    out.box.insert(out.box.end(), p.box.begin(), p.box.end());
    out.score.insert(out.score.end(), p.score.begin(), p.score.end());
  }
  return true;
}

ReadStatus read_result_file(const char* path, ResultArrays& out, size_t block_bytes) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return ReadStatus::kCannotRead;
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  if (std::fseek(f, 0, SEEK_END) != 0) return ReadStatus::kCannotRead;
  const long file_size = std::ftell(f);
  if (file_size < 0 || std::fseek(f, 0, SEEK_SET) != 0) return ReadStatus::kCannotRead;
  const size_t capacity = static_cast<size_t>(file_size) / kMinRecordBytes + 1;
  if (!out.image_id.allocate(capacity) || !out.category_id.allocate(capacity) ||
      !out.box.allocate(4 * capacity) || !out.score.allocate(capacity)) {
    return ReadStatus::kCannotRead;
  }
  out.n = 0;
  block_bytes = std::max<size_t>(block_bytes, 4096);
  std::vector<char> buf;
  std::vector<ResultColumns> parts;
  size_t have = 0;   // bytes in buf
  size_t start = 0;  // where the records not yet parsed begin in buf
  bool opened = false;
  for (;;) {
    buf.resize(have + block_bytes);
    const size_t got = std::fread(buf.data() + have, 1, block_bytes, f);
    if (std::ferror(f)) return ReadStatus::kCannotRead;
    have += got;
    const bool eof = got < block_bytes;
    const char* data = buf.data();
    if (!opened) {
      Reader r(data, have);
      if (!r.eat('[')) return ReadStatus::kOffFastPath;
      opened = true;
      if (r.peek(']')) {  // [] : no detections (only when nothing else follows)
        if (!eof) return ReadStatus::kOffFastPath;
        r.eat(']');
        if (!r.at_end()) return ReadStatus::kOffFastPath;
        break;
      }
      start = r.offset();
    }
    // Whole records: up to the last record start of the block (all of it at the end of the file);
    // the rest waits for the next block.
    size_t next = have;
    size_t stop = have;
    if (!eof) {
      next = last_record_start(data, start, have);
      if (next == 0) {  // no record ends in this block yet: read on
        continue;
      }
      stop = next;
      while (stop > start && data[stop - 1] != ',') --stop;
      --stop;  // drop the ','
    }
    const int64_t n = parse_region(data, start, stop, eof, pieces_for(stop - start), parts);
    if (n < 0) return ReadStatus::kOffFastPath;
    for (int64_t i = 0; i < n; ++i) {
      const ResultColumns& p = parts[i];
      const size_t k = p.score.size();
      if (out.n + k > capacity) return ReadStatus::kOffFastPath;  // cannot happen (see above)
      std::memcpy(out.image_id.data() + out.n, p.image_id.data(), k * sizeof(int64_t));
      std::memcpy(out.category_id.data() + out.n, p.category_id.data(), k * sizeof(int64_t));
      std::memcpy(out.box.data() + 4 * out.n, p.box.data(), 4 * k * sizeof(double));
      std::memcpy(out.score.data() + out.n, p.score.data(), k * sizeof(double));
      out.n += k;
    }
    if (eof) break;
    std::memmove(buf.data(), buf.data() + next, have - next);
    have -= next;
    start = 0;
  }
  out.image_id.shrink(out.n);
  out.category_id.shrink(out.n);
  out.box.shrink(4 * out.n);
  out.score.shrink(out.n);
  return ReadStatus::kOk;
}

}  // namespace vrft::eval
