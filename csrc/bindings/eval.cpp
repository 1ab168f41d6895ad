// _C bindings of csrc/eval/: the COCO / LVIS engine (evaluate, accumulate, merge of shard states,
// the EvalState pickle) and the fast results-JSON reader.
//
// The Python layer (vrft_rewards/eval) loads the JSON, filters and prepares flat columns; these
// bindings check lengths and dtypes, then run the whole evaluation without the GIL.  Pattern
// (args.h, "Caller memory and the GIL"): every column is checked with the GIL held; the image and
// category positions (indices), the thresholds, area ranges, maxDets and row maps are owned
// copies; the value columns (boxes, areas, scores, flags) are read in place exactly once, when the
// core gathers them into group order, so a concurrent write can change a number but never a
// bound.  C++ state objects are kept alive by the shared_ptrs held here.  The core touches no
// Python object.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "bindings/eval_state.h"
#include "eval/accumulate.h"
#include "eval/evaluate.h"
#include "eval/merge.h"
#include "eval/results_json.h"
#include "eval/segm_iou.h"

namespace vrft::bindings {
namespace {

// The arena index column `key` of `cols` (n rows), owned and checked on the copy: each index
// inside the arena.
std::vector<int64_t> shape_column(const py::dict& cols, const char* key, int64_t n,
                                  const vrft::masks::SegmArena& arena, const char* what) {
  if (!cols.contains(key))
    throw std::invalid_argument(std::string(what) + " needs a 'shape' column");
  std::vector<int64_t> col = owned(require_column<int64_t>(cols[key], what, n));
  for (int64_t i = 0; i < n; ++i) {
    if (col[i] < 0 || col[i] >= arena.size()) {
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) +
                                  "] is not a mask of the arena");
    }
  }
  return col;
}

// The state behind an EvalState argument.  An EvalState made by EvalState.__new__ alone (what a
// pickle cut before its BUILD step leaves) has no C++ object yet: it is refused, never read.
std::shared_ptr<PyEvaluation> state_of(const py::handle& obj, const std::string& arg) {
  if (!py::isinstance<PyEvaluation>(obj)) {
    throw py::type_error(arg + " must be an EvalState, got " +
                         py::str(py::type::of(obj)).cast<std::string>());
  }
  std::shared_ptr<PyEvaluation> s;
  try {
    s = obj.cast<std::shared_ptr<PyEvaluation>>();
  } catch (const py::cast_error&) {
    s = nullptr;
  }
  if (!s) {
    throw std::invalid_argument(arg + " is an EvalState that was never given a state (made by " +
                                "EvalState.__new__ alone, or unpickled from a cut pickle)");
  }
  return s;
}

std::shared_ptr<PyEvaluation> eval_evaluate(py::dict gt_cols, py::dict dt_cols, int64_t num_images,
                                            int64_t num_categories, const py::handle& iou_thrs_obj,
                                            const py::handle& area_rng_obj,
                                            int64_t max_dets_per_group, const py::object& gt_masks,
                                            const py::object& dt_masks, const py::object& ious_obj,
                                            bool plan_only, bool keep_ious, bool keep_matches) {
  // Each column once: a dict lookup may run Python code (and let other threads run).
  const py::object gt_image_obj = gt_cols["image"], dt_image_obj = dt_cols["image"];
  const int64_t ng = py::len(gt_image_obj);
  const int64_t nd = py::len(dt_image_obj);
  auto g_image = require_column<int64_t>(gt_image_obj, "gt image", ng);
  auto g_cat = require_column<int64_t>(gt_cols["category"], "gt category", ng);
  auto g_area = require_column<double>(gt_cols["area"], "gt area", ng);
  auto g_ignore = require_column<uint8_t>(gt_cols["ignore"], "gt ignore", ng);
  auto g_crowd = require_column<uint8_t>(gt_cols["crowd"], "gt crowd", ng);
  auto g_idnz = require_column<uint8_t>(gt_cols["id_nonzero"], "gt id_nonzero", ng);
  auto d_image = require_column<int64_t>(dt_image_obj, "detection image", nd);
  auto d_cat = require_column<int64_t>(dt_cols["category"], "detection category", nd);
  auto d_area = require_column<double>(dt_cols["area"], "detection area", nd);
  auto d_score = require_column<double>(dt_cols["score"], "detection score", nd);
  auto d_idpos = require_column<uint8_t>(dt_cols["id_positive"], "detection id_positive", nd);
  // Boxes are optional when the IoU comes from masks or precomputed blocks.
  py::array_t<double> g_box, d_box;
  if (gt_cols.contains("box")) g_box = require_column<double>(gt_cols["box"], "gt box", ng, 4);
  if (dt_cols.contains("box"))
    d_box = require_column<double>(dt_cols["box"], "detection box", nd, 4);
  py::object ne_obj =
      dt_cols.contains("not_exhaustive") ? py::object(dt_cols["not_exhaustive"]) : py::none();
  py::array_t<uint8_t> d_ne;
  if (!ne_obj.is_none()) d_ne = require_column<uint8_t>(ne_obj, "detection not_exhaustive", nd);
  auto iou_thrs = require_array<double>(iou_thrs_obj, "iou_thrs");
  auto area_rng = require_array<double>(area_rng_obj, "area_rng");
  if (iou_thrs.ndim() != 1) throw std::invalid_argument("iou_thrs must be 1-D");
  if (area_rng.ndim() != 2 || area_rng.shape(1) != 2) {
    throw std::invalid_argument("area_rng must have shape (A, 2)");
  }

  // Indices and parameters the core bounds its reads by: owned (checked by the core on the copy).
  const std::vector<int64_t> g_image_owned = owned(g_image), g_cat_owned = owned(g_cat);
  const std::vector<int64_t> d_image_owned = owned(d_image), d_cat_owned = owned(d_cat);
  const std::vector<double> iou_thrs_owned = owned(iou_thrs), area_rng_owned = owned(area_rng);

  vrft::eval::GtColumns gt;
  gt.n = ng;
  gt.image = g_image_owned.data();
  gt.category = g_cat_owned.data();
  gt.box = g_box ? g_box.data() : nullptr;
  gt.area = g_area.data();
  gt.ignore = g_ignore.data();
  gt.crowd = g_crowd.data();
  gt.id_nonzero = g_idnz.data();
  vrft::eval::DtColumns dt;
  dt.n = nd;
  dt.image = d_image_owned.data();
  dt.category = d_cat_owned.data();
  dt.box = d_box ? d_box.data() : nullptr;
  dt.area = d_area.data();
  dt.score = d_score.data();
  dt.id_positive = d_idpos.data();
  dt.not_exhaustive = ne_obj.is_none() ? nullptr : d_ne.data();
  vrft::eval::MatchParams params;
  params.num_images = num_images;
  params.num_categories = num_categories;
  params.iou_thrs = iou_thrs_owned.data();
  params.num_iou_thrs = iou_thrs.shape(0);
  params.area_rng = area_rng_owned.data();
  params.num_area_rngs = area_rng.shape(0);
  params.max_dets_per_group = max_dets_per_group;

  // The IoU source: masks (both arenas), precomputed blocks, or the boxes.
  std::shared_ptr<PySegmArena> gm, dm;  // held while the GIL is released
  std::vector<int64_t> g_shape, d_shape;
  py::array_t<double> blocks;
  std::unique_ptr<vrft::eval::GroupIou> source;
  if (!gt_masks.is_none() || !dt_masks.is_none()) {
    if (gt_masks.is_none() || dt_masks.is_none()) {
      throw std::invalid_argument("gt_masks and dt_masks go together");
    }
    gm = gt_masks.cast<std::shared_ptr<PySegmArena>>();
    dm = dt_masks.cast<std::shared_ptr<PySegmArena>>();
    g_shape = shape_column(gt_cols, "shape", ng, gm->arena, "gt shape");
    d_shape = shape_column(dt_cols, "shape", nd, dm->arena, "detection shape");
    source = std::make_unique<vrft::eval::MaskGroupIou>(&gm->arena, g_shape.data(), &dm->arena,
                                                        d_shape.data());
  } else if (!ious_obj.is_none()) {
    blocks = require_array<double>(ious_obj, "ious");
    if (blocks.ndim() != 1) throw std::invalid_argument("ious must be 1-D");
    source = std::make_unique<vrft::eval::BlockGroupIou>(blocks.data(), blocks.shape(0));
  }
  vrft::eval::EvaluateOptions options;
  options.iou = source.get();
  options.plan_only = plan_only;
  options.keep_ious = keep_ious;
  options.keep_matches = keep_matches;

  auto out = std::make_shared<PyEvaluation>();
  py::gil_scoped_release release;
  out->ev = vrft::eval::evaluate_images(gt, dt, params, options);
  return out;
}

py::tuple eval_accumulate(const py::handle& state_obj, const py::handle& rec_thrs_obj,
                          const py::handle& max_dets_obj) {
  const std::shared_ptr<PyEvaluation> state = state_of(state_obj, "state");
  auto rec_thrs = require_array<double>(rec_thrs_obj, "rec_thrs");
  auto max_dets = require_array<int64_t>(max_dets_obj, "max_dets");
  if (rec_thrs.ndim() != 1) throw std::invalid_argument("rec_thrs must be 1-D");
  if (max_dets.ndim() != 1) throw std::invalid_argument("max_dets must be 1-D");
  const auto& ev = state->ev;
  const py::ssize_t T = ev.num_iou_thrs, R = rec_thrs.shape(0), K = ev.num_categories,
                    A = ev.num_area_rngs, M = max_dets.shape(0);
  py::array_t<double> precision({T, R, K, A, M});
  py::array_t<double> scores({T, R, K, A, M});
  py::array_t<double> recall({T, K, A, M});
  const std::vector<double> rec_thrs_owned = owned(rec_thrs);
  const std::vector<int64_t> max_dets_owned = owned(max_dets);
  vrft::eval::AccumulateParams params;
  params.rec_thrs = rec_thrs_owned.data();
  params.num_rec_thrs = R;
  params.max_dets = max_dets_owned.data();
  params.num_max_dets = M;
  double* p = precision.mutable_data();
  double* r = recall.mutable_data();
  double* s = scores.mutable_data();
  {
    py::gil_scoped_release release;
    vrft::eval::accumulate(ev, params, p, r, s);
  }
  return py::make_tuple(precision, recall, scores);
}

// The fast path of results loading: bytes of a results JSON -> dict of columns, or None when the
// file is not on the fast path (the Python loader then parses it and names any bad record).
py::object eval_parse_results(const py::bytes& data) {
  const std::string_view view(data);
  vrft::eval::ResultColumns cols;
  bool ok;
  {
    py::gil_scoped_release release;  // `data` is immutable and kept alive by the caller's frame
    ok = vrft::eval::parse_result_columns(view.data(), view.size(), cols);
  }
  if (!ok) return py::none();
  const auto n = static_cast<py::ssize_t>(cols.score.size());
  py::array_t<double> box({n, static_cast<py::ssize_t>(4)});
  std::copy(cols.box.begin(), cols.box.end(), box.mutable_data());
  py::dict out;
  out["image_id"] = to_numpy(cols.image_id);
  out["category_id"] = to_numpy(cols.category_id);
  out["bbox"] = box;
  out["score"] = to_numpy(cols.score);
  return out;
}

// Pickle support, so that Ray / multiprocessing workers can send their shard's state back:
// (version, I, K, T, A, then every array of the Evaluation).  Unpickling validates the arrays
// (check_evaluation) so that a corrupt state raises instead of reading out of bounds later.
constexpr int kEvalStateVersion = 1;

template <typename V>
void vector_from_numpy(const py::handle& obj, const char* field, V& out) {
  using T = typename V::value_type;
  auto arr = require_array<T>(obj, field);
  if (arr.ndim() != 1) throw std::invalid_argument(std::string(field) + " must be 1-D");
  out.resize(static_cast<size_t>(arr.shape(0)));
  std::copy(arr.data(), arr.data() + arr.shape(0), out.begin());
}

py::tuple eval_state_getstate(const py::handle& self) {
  const auto& e = state_of(self, "self")->ev;
  return py::make_tuple(kEvalStateVersion, e.num_images, e.num_categories, e.num_iou_thrs,
                        e.num_area_rngs, to_numpy(e.group_image), to_numpy(e.group_category),
                        to_numpy(e.category_groups), to_numpy(e.gt_offsets), to_numpy(e.gt_index),
                        to_numpy(e.dt_offsets), to_numpy(e.dt_index), to_numpy(e.dt_score),
                        to_numpy(e.dt_state), to_numpy(e.dt_any_tp), to_numpy(e.num_positive_gt));
}

std::shared_ptr<PyEvaluation> eval_state_setstate(const py::tuple& t) {
  if (t.size() != 16 || t[0].cast<int>() != kEvalStateVersion) {
    throw std::invalid_argument("EvalState pickle of another version or layout");
  }
  auto out = std::make_shared<PyEvaluation>();
  auto& e = out->ev;
  e.num_images = t[1].cast<int64_t>();
  e.num_categories = t[2].cast<int64_t>();
  e.num_iou_thrs = t[3].cast<int64_t>();
  e.num_area_rngs = t[4].cast<int64_t>();
  vector_from_numpy(t[5], "group_image", e.group_image);
  vector_from_numpy(t[6], "group_category", e.group_category);
  vector_from_numpy(t[7], "category_groups", e.category_groups);
  vector_from_numpy(t[8], "gt_offsets", e.gt_offsets);
  vector_from_numpy(t[9], "gt_index", e.gt_index);
  vector_from_numpy(t[10], "dt_offsets", e.dt_offsets);
  vector_from_numpy(t[11], "dt_index", e.dt_index);
  vector_from_numpy(t[12], "dt_score", e.dt_score);
  vector_from_numpy(t[13], "dt_state", e.dt_state);
  vector_from_numpy(t[14], "dt_any_tp", e.dt_any_tp);
  vector_from_numpy(t[15], "num_positive_gt", e.num_positive_gt);
  vrft::eval::check_evaluation(e);
  return out;
}

// Merges shard states; gt_rows[i] / dt_rows[i] map shard i's local rows to the caller's rows
// (None: the shard was given the caller's rows unchanged).
std::shared_ptr<PyEvaluation> eval_merge(const py::list& states, const py::list& gt_rows,
                                         const py::list& dt_rows) {
  const py::tuple states_t(states), gt_rows_t(gt_rows), dt_rows_t(dt_rows);  // snapshots
  const size_t n = states_t.size();
  if (gt_rows_t.size() != n || dt_rows_t.size() != n) {
    throw std::invalid_argument("states, gt_rows and dt_rows must have the same length");
  }
  if (n == 0) throw std::invalid_argument("states must hold at least one evaluation state");
  std::vector<std::shared_ptr<PyEvaluation>> keep;  // holds the states while the GIL is released
  std::vector<std::vector<int64_t>> maps;           // owned copies of the row maps
  // (a vector that moves keeps its buffer, so the pointers in parts stay valid)
  std::vector<vrft::eval::EvaluationPart> parts(n);
  // A row map: None, or a 1-D int64 array.
  auto row_map = [&maps](const py::handle& obj, const std::string& arg, const int64_t** rows,
                         int64_t* count) {
    if (obj.is_none()) return;
    auto arr = require_array<int64_t>(obj, arg.c_str());
    if (arr.ndim() != 1) throw std::invalid_argument(arg + " must be 1-D, got " + shape_text(arr));
    maps.push_back(owned(arr));
    *rows = maps.back().data();
    *count = static_cast<int64_t>(maps.back().size());
  };
  for (size_t i = 0; i < n; ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    keep.push_back(state_of(states_t[i], "states" + at));
    parts[i].ev = &keep.back()->ev;
    row_map(gt_rows_t[i], "gt_rows" + at, &parts[i].gt_rows, &parts[i].num_gt_rows);
    row_map(dt_rows_t[i], "dt_rows" + at, &parts[i].dt_rows, &parts[i].num_dt_rows);
  }
  auto out = std::make_shared<PyEvaluation>();
  py::gil_scoped_release release;  // only the C++ objects held above are read
  out->ev = vrft::eval::merge_evaluations(parts);
  return out;
}

// The getter of an EvalState property: a copy of one array of the Evaluation.
template <typename V>
auto state_array(V vrft::eval::Evaluation::* field) {
  return [field](const py::handle& self) { return to_numpy(state_of(self, "self")->ev.*field); };
}

}  // namespace

void bind_eval(py::module_& m) {
  using vrft::eval::Evaluation;
  m.def("eval_parse_results", &eval_parse_results, py::arg("data"));
  py::class_<PyEvaluation, std::shared_ptr<PyEvaluation>>(m, "EvalState")
      .def_property_readonly(
          "num_groups",
          [](const py::handle& self) { return state_of(self, "self")->ev.group_image.size(); })
      .def_property_readonly("group_image", state_array(&Evaluation::group_image))
      .def_property_readonly("group_category", state_array(&Evaluation::group_category))
      .def_property_readonly("gt_offsets", state_array(&Evaluation::gt_offsets))
      .def_property_readonly("gt_index", state_array(&Evaluation::gt_index))
      .def_property_readonly("dt_offsets", state_array(&Evaluation::dt_offsets))
      .def_property_readonly("dt_index", state_array(&Evaluation::dt_index))
      .def_property_readonly("dt_state", state_array(&Evaluation::dt_state))
      .def_property_readonly("dt_score", state_array(&Evaluation::dt_score))
      .def_property_readonly("num_positive_gt", state_array(&Evaluation::num_positive_gt))
      .def_property_readonly("iou_offsets", state_array(&Evaluation::iou_offsets))
      .def_property_readonly("ious", state_array(&Evaluation::ious))
      .def_property_readonly("dt_match", state_array(&Evaluation::dt_match))
      .def(py::pickle(&eval_state_getstate, &eval_state_setstate));
  m.def("eval_merge", &eval_merge, py::arg("states"), py::arg("gt_rows"), py::arg("dt_rows"));
  m.def("eval_evaluate", &eval_evaluate, py::arg("gt"), py::arg("dt"), py::arg("num_images"),
        py::arg("num_categories"), py::arg("iou_thrs"), py::arg("area_rng"),
        py::arg("max_dets_per_group"), py::kw_only(), py::arg("gt_masks") = py::none(),
        py::arg("dt_masks") = py::none(), py::arg("ious") = py::none(),
        py::arg("plan_only") = false, py::arg("keep_ious") = false,
        py::arg("keep_matches") = false);
  m.def("eval_accumulate", &eval_accumulate, py::arg("state"), py::arg("rec_thrs"),
        py::arg("max_dets"));
}

}  // namespace vrft::bindings
