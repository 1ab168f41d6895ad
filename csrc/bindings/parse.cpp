// _C bindings of csrc/parse/: the completion parser over a batch of completions, and the two text
// helpers of its results (byte-span slicing, answer normalisation); the Python facade is
// vrft_rewards/parsing.py.  What text a completion is (a str, chat messages) lives in texts.cpp.
//
// Pattern: with the GIL held, every completion is turned into a UTF-8 view of a str that a list
// made here owns (`sources`, plus `keep` for strs with lone surrogates), so the views stay valid
// whatever the caller does with its own list meanwhile; the output arrays are allocated.  Then the
// GIL is released for the parser, which reads only those views and writes only the fresh arrays.
// Python strs of the results are made after the GIL is back.
#include "parse/parse.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "bindings/texts.h"

namespace vrft::bindings {
namespace {

py::dict parse_completions_impl(const py::handle& completions, const std::string& schema,
                                const std::string& answer, bool require_tags,
                                const std::string& invalid) {
  vrft::parse::Options opt;
  opt.schema = vrft::parse::parse_schema(schema, "schema");
  opt.pick = vrft::parse::parse_answer_pick(answer, "answer");
  opt.require_tags = require_tags;
  if (invalid != "raise" && invalid != "empty") {
    throw std::invalid_argument("invalid must be 'raise' or 'empty', got '" + invalid + "'");
  }
  if (!PyList_Check(completions.ptr()) && !PyTuple_Check(completions.ptr())) {
    throw py::type_error("completions must be a list or tuple, got " +
                         type_name(completions.ptr()));
  }
  // A tuple snapshot: reading chat messages may run Python code (a dict key's __eq__), which
  // could resize a list under our item pointer.
  py::tuple snapshot = py::reinterpret_steal<py::tuple>(PySequence_Tuple(completions.ptr()));
  if (!snapshot) throw py::error_already_set();
  const Py_ssize_t n = PyTuple_GET_SIZE(snapshot.ptr());
  PyObject** items = PySequence_Fast_ITEMS(snapshot.ptr());
  // `sources` owns a reference to every str we read, so the UTF-8 pointers stay valid while the
  // GIL is released even if the caller's list is mutated by another thread meanwhile.
  py::list sources(n);
  std::vector<py::object> keep;
  std::vector<vrft::parse::Text> texts(static_cast<size_t>(n));
  py::str empty_str("");
  for (Py_ssize_t i = 0; i < n; ++i) {
    std::string why;
    py::object s = completion_text(items[i], &why);
    if (!s) {
      if (invalid == "raise") {
        throw py::type_error("completions[" + std::to_string(i) + "] must be " + why +
                             " (pass invalid='empty' to read such entries as empty text)");
      }
      s = empty_str;
    }
    texts[static_cast<size_t>(i)] = utf8_view(s.ptr(), &keep);
    PyList_SET_ITEM(sources.ptr(), i, s.release().ptr());  // the list takes our reference
  }

  const int64_t b = static_cast<int64_t>(n);
  auto status = new_array<int8_t>(b), format = new_array<int8_t>(b), choice = new_array<int8_t>(b);
  auto has_think = new_array<uint8_t>(b), think_closed = new_array<uint8_t>(b),
       has_answer = new_array<uint8_t>(b), answer_closed = new_array<uint8_t>(b),
       text_outside = new_array<uint8_t>(b), strict_format = new_array<uint8_t>(b);
  auto n_think_open = new_array<int32_t>(b), n_think_close = new_array<int32_t>(b),
       n_answer_open = new_array<int32_t>(b), n_answer_close = new_array<int32_t>(b),
       n_dropped = new_array<int32_t>(b);
  auto answer_start = new_array<int64_t>(b), answer_end = new_array<int64_t>(b),
       answer_start_byte = new_array<int64_t>(b), answer_end_byte = new_array<int64_t>(b),
       offsets = new_array<int64_t>(b + 1);
  auto number = new_array<double>(b);
  std::vector<int64_t> n_boxes(static_cast<size_t>(n));
  auto ptr = [](auto& arr) { return arr.mutable_data(); };
  vrft::parse::CompletionColumns cols{
      ptr(status),       ptr(format),        ptr(has_think),         ptr(think_closed),
      ptr(has_answer),   ptr(answer_closed), ptr(text_outside),      ptr(strict_format),
      ptr(n_think_open), ptr(n_think_close), ptr(n_answer_open),     ptr(n_answer_close),
      ptr(answer_start), ptr(answer_end),    ptr(answer_start_byte), ptr(answer_end_byte),
      ptr(number),       ptr(choice),        ptr(n_dropped),         n_boxes.data()};
  // Box buffers are kept per calling thread between calls: their pages stay mapped, which saves
  // the page faults of fresh allocations (~10% of a 4096-completion call).  Each Python thread
  // has its own, so concurrent calls never share one.
  static thread_local std::vector<vrft::parse::BoxColumns> parts;
  {
    py::gil_scoped_release release;
    vrft::parse::parse_batch(texts.data(), b, opt, cols, &parts);
    vrft::parse::box_offsets(n_boxes.data(), b, offsets.mutable_data());
  }
  const auto total = static_cast<py::ssize_t>(vrft::parse::total_boxes(parts));
  py::array_t<double> box_arr({total, static_cast<py::ssize_t>(4)});
  auto confidences = new_array<double>(total);
  auto label_start = new_array<int64_t>(total), label_end = new_array<int64_t>(total),
       label_start_byte = new_array<int64_t>(total), label_end_byte = new_array<int64_t>(total);
  vrft::parse::concat_boxes(parts, box_arr.mutable_data(), confidences.mutable_data(),
                            label_start.mutable_data(), label_end.mutable_data(),
                            label_start_byte.mutable_data(), label_end_byte.mutable_data());
  if (total > (py::ssize_t{1} << 20)) parts = {};  // do not keep the buffers of a huge batch alive

  py::dict d;
  d["sources"] = sources;
  d["status"] = status;
  d["format"] = format;
  d["has_think"] = has_think;
  d["think_closed"] = think_closed;
  d["has_answer"] = has_answer;
  d["answer_closed"] = answer_closed;
  d["text_outside"] = text_outside;
  d["strict_format"] = strict_format;
  d["n_think_open"] = n_think_open;
  d["n_think_close"] = n_think_close;
  d["n_answer_open"] = n_answer_open;
  d["n_answer_close"] = n_answer_close;
  d["answer_start"] = answer_start;
  d["answer_end"] = answer_end;
  d["answer_start_byte"] = answer_start_byte;
  d["answer_end_byte"] = answer_end_byte;
  d["number"] = number;
  d["choice"] = choice;
  d["n_dropped"] = n_dropped;
  d["offsets"] = offsets;
  d["boxes"] = box_arr;
  d["confidences"] = confidences;
  d["label_start"] = label_start;
  d["label_end"] = label_end;
  d["label_start_byte"] = label_start_byte;
  d["label_end_byte"] = label_end_byte;
  return d;
}

// (index, start, end) byte spans over `sources`, checked before any text is touched.  The spans
// are owned copies and the texts are viewed through a tuple snapshot of `sources` (which holds
// every str), so the checks stay true without the GIL whatever the caller does meanwhile.
struct Spans {
  py::tuple sources;
  std::vector<vrft::parse::Text> texts;
  std::vector<py::object> keep;  // UTF-8 copies of strs with lone surrogates
  std::vector<int64_t> index, start, end;
};

Spans check_spans(const py::list& sources, const py::array_t<int64_t>& index,
                  const py::array_t<int64_t>& start, const py::array_t<int64_t>& end) {
  if (index.ndim() != 1 || start.ndim() != 1 || end.ndim() != 1 ||
      index.shape(0) != start.shape(0) || start.shape(0) != end.shape(0)) {
    throw std::invalid_argument("index, start and end must be 1-D arrays of one length");
  }
  Spans sp;
  sp.sources = py::tuple(sources);
  const py::ssize_t n = sp.sources.size();
  sp.texts.resize(static_cast<size_t>(n));
  for (py::ssize_t i = 0; i < n; ++i) {
    PyObject* s = PyTuple_GET_ITEM(sp.sources.ptr(), i);
    if (!PyUnicode_Check(s)) throw py::type_error("sources must hold only str");
    sp.texts[static_cast<size_t>(i)] = utf8_view(s, &sp.keep);
  }
  sp.index = owned(require_array<int64_t>(index, "index"));
  sp.start = owned(require_array<int64_t>(start, "start"));
  sp.end = owned(require_array<int64_t>(end, "end"));
  for (size_t k = 0; k < sp.index.size(); ++k) {
    const int64_t ix = sp.index[k], lo = sp.start[k], hi = sp.end[k];
    if (lo < 0) continue;  // absent span
    if (ix < 0 || ix >= n || hi < lo || hi > sp.texts[static_cast<size_t>(ix)].size) {
      throw std::invalid_argument("span " + std::to_string(k) + " is out of range of its text");
    }
  }
  return sp;
}

// list[str | None] of the byte spans (None where start < 0).
py::list slice_texts(const py::list& sources, const py::array_t<int64_t, py::array::c_style>& index,
                     const py::array_t<int64_t, py::array::c_style>& start,
                     const py::array_t<int64_t, py::array::c_style>& end) {
  const Spans sp = check_spans(sources, index, start, end);
  const auto m = static_cast<py::ssize_t>(sp.index.size());
  py::list out(m);
  for (py::ssize_t k = 0; k < m; ++k) {
    PyObject* o;
    const int64_t lo = sp.start[k], hi = sp.end[k];
    if (lo < 0) {
      o = Py_None;
      Py_INCREF(o);
    } else {
      const auto& t = sp.texts[static_cast<size_t>(sp.index[k])];
      o = PyUnicode_DecodeUTF8(t.data + lo, static_cast<Py_ssize_t>(hi - lo), "surrogatepass");
      if (!o) throw py::error_already_set();
    }
    PyList_SET_ITEM(out.ptr(), k, o);
  }
  return out;
}

// list[str] of normalised answers (see vrft::parse::normalize_text); the text work runs without
// the GIL on the owned spans and the snapshot's texts, only the final str objects are made with
// it.
py::list normalize_texts(const py::list& sources,
                         const py::array_t<int64_t, py::array::c_style>& start,
                         const py::array_t<int64_t, py::array::c_style>& end, bool lower,
                         bool strip_punct, int underscores, bool collapse_space, bool drop_space) {
  const py::ssize_t n = sources.size();
  py::array_t<int64_t> index(n);
  for (py::ssize_t i = 0; i < n; ++i) index.mutable_data()[i] = i;
  const Spans sp = check_spans(sources, index, start, end);
  if (static_cast<py::ssize_t>(sp.texts.size()) != n) {
    throw std::invalid_argument("sources changed length while being read");
  }
  vrft::parse::NormalizeOptions opt;
  opt.lower = lower;
  opt.strip_punct = strip_punct;
  opt.underscores = underscores;
  opt.collapse_space = collapse_space;
  opt.drop_space = drop_space;
  std::string buf;
  std::vector<size_t> cuts(static_cast<size_t>(n) + 1, 0);
  {
    py::gil_scoped_release release;  // reads the owned spans and the snapshot's UTF-8 views
    vrft::parse::normalize_batch(sp.texts.data(), sp.start.data(), sp.end.data(), n, opt, &buf,
                                 cuts.data());
  }
  py::list out(n);
  for (py::ssize_t i = 0; i < n; ++i) {
    const size_t a = cuts[static_cast<size_t>(i)], z = cuts[static_cast<size_t>(i) + 1];
    PyObject* o =
        PyUnicode_DecodeUTF8(buf.data() + a, static_cast<Py_ssize_t>(z - a), "surrogatepass");
    if (!o) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), i, o);
  }
  return out;
}

}  // namespace

void bind_parse(py::module_& m) {
  m.def("parse_completions", &parse_completions_impl, py::arg("completions"), py::arg("schema"),
        py::arg("answer"), py::arg("require_tags"), py::arg("invalid"));
  m.def("completion_texts", &completion_texts, py::arg("completions"), py::arg("invalid"),
        "The text parse_completions reads from each completion, as a tuple of str.");
  m.def("slice_texts", &slice_texts, py::arg("sources"), py::arg("index"), py::arg("start"),
        py::arg("end"));
  m.def("normalize_texts", &normalize_texts, py::arg("sources"), py::arg("start"), py::arg("end"),
        py::arg("lower"), py::arg("strip_punct"), py::arg("underscores"), py::arg("collapse_space"),
        py::arg("drop_space"));
}

}  // namespace vrft::bindings
