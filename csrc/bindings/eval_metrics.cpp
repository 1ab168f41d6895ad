// _C bindings of the model-output metrics of csrc/eval/: AP over tie orders (ties.h), counts of a
// maximum-cardinality matching (set_match.h) and TIDE's error breakdown (tide.h).
//
// Every argument is checked with the GIL held and copied into vectors this frame owns; the GIL is
// then released for the computation, which reads only those copies and writes only fresh C++
// results (another Python thread may mutate or free the caller's arrays meanwhile without
// effect).  Results are wrapped into numpy arrays after the GIL is back.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/areas.h"
#include "bindings/args.h"
#include "eval/set_match.h"
#include "eval/tide.h"
#include "eval/ties.h"

namespace vrft::bindings {
namespace {

template <typename T>
std::vector<T> owned(const py::handle& obj, const char* arg, int64_t n, int64_t width = 0) {
  auto a = require_column<T>(obj, arg, n, width);
  return std::vector<T>(a.data(), a.data() + a.size());
}

template <typename T>
std::vector<T> owned_1d(const py::handle& obj, const char* arg) {
  auto a = require_array<T>(obj, arg);
  if (a.ndim() != 1)
    throw std::invalid_argument(std::string(arg) + " must be 1-D, got " + shape_text(a));
  return std::vector<T>(a.data(), a.data() + a.size());
}

// The engine's column dicts (vrft_rewards.cocoeval.engine's gt / dt columns), copied.
struct OwnedColumns {
  std::vector<int64_t> g_image, g_cat, d_image, d_cat;
  std::vector<double> g_box, g_area, d_box, d_area, d_score;
  std::vector<uint8_t> g_ignore, g_crowd, g_idnz, d_idpos, d_ne;
  vrft::eval::GtColumns gt;
  vrft::eval::DtColumns dt;

  OwnedColumns(const py::dict& gt_cols, const py::dict& dt_cols) {
    const int64_t ng = py::len(gt_cols["image"]), nd = py::len(dt_cols["image"]);
    g_image = owned<int64_t>(gt_cols["image"], "gt image", ng);
    g_cat = owned<int64_t>(gt_cols["category"], "gt category", ng);
    g_box = owned<double>(gt_cols["box"], "gt box", ng, 4);
    g_area = owned<double>(gt_cols["area"], "gt area", ng);
    g_ignore = owned<uint8_t>(gt_cols["ignore"], "gt ignore", ng);
    g_crowd = owned<uint8_t>(gt_cols["crowd"], "gt crowd", ng);
    g_idnz = owned<uint8_t>(gt_cols["id_nonzero"], "gt id_nonzero", ng);
    d_image = owned<int64_t>(dt_cols["image"], "detection image", nd);
    d_cat = owned<int64_t>(dt_cols["category"], "detection category", nd);
    d_box = owned<double>(dt_cols["box"], "detection box", nd, 4);
    d_area = owned<double>(dt_cols["area"], "detection area", nd);
    d_score = owned<double>(dt_cols["score"], "detection score", nd);
    d_idpos = owned<uint8_t>(dt_cols["id_positive"], "detection id_positive", nd);
    if (dt_cols.contains("not_exhaustive")) {
      d_ne = owned<uint8_t>(dt_cols["not_exhaustive"], "detection not_exhaustive", nd);
    }
    gt = {ng,
          g_image.data(),
          g_cat.data(),
          g_box.data(),
          g_area.data(),
          g_ignore.data(),
          g_crowd.data(),
          g_idnz.data()};
    dt = {nd,
          d_image.data(),
          d_cat.data(),
          d_box.data(),
          d_area.data(),
          d_score.data(),
          d_idpos.data(),
          d_ne.empty() ? nullptr : d_ne.data()};
  }
};

py::dict eval_tie_range(py::dict gt_cols, py::dict dt_cols, int64_t num_images,
                        int64_t num_categories, const py::handle& iou_thrs_obj,
                        const py::handle& area_rng_obj, int64_t max_dets_per_group,
                        const py::handle& rec_thrs_obj, const py::handle& cells_obj,
                        int64_t unit_budget, int64_t combo_budget, int64_t num_draws,
                        uint64_t seed) {
  OwnedColumns cols(gt_cols, dt_cols);
  const auto iou_thrs = owned_1d<double>(iou_thrs_obj, "iou_thrs");
  const auto rec_thrs = owned_1d<double>(rec_thrs_obj, "rec_thrs");
  auto area = require_array<double>(area_rng_obj, "area_rng");
  if (area.ndim() != 2 || area.shape(1) != 2)
    throw std::invalid_argument("area_rng must have shape (A, 2)");
  const std::vector<double> area_rng(area.data(), area.data() + area.size());
  auto cells_arr = require_array<uint8_t>(cells_obj, "cells");
  const int64_t T = static_cast<int64_t>(iou_thrs.size()), A = area.shape(0);
  if (cells_arr.ndim() != 3 || cells_arr.shape(1) != A || cells_arr.shape(2) != T) {
    throw std::invalid_argument("cells must have shape (M, " + std::to_string(A) + ", " +
                                std::to_string(T) + "), got " + shape_text(cells_arr));
  }
  const std::vector<uint8_t> cells(cells_arr.data(), cells_arr.data() + cells_arr.size());
  if (unit_budget < 1 || combo_budget < 1 || num_draws < 0) {
    throw std::invalid_argument("unit_budget and combo_budget must be >= 1 and num_draws >= 0");
  }
  vrft::eval::TieParams p;
  p.match.num_images = num_images;
  p.match.num_categories = num_categories;
  p.match.iou_thrs = iou_thrs.data();
  p.match.num_iou_thrs = T;
  p.match.area_rng = area_rng.data();
  p.match.num_area_rngs = A;
  p.match.max_dets_per_group = max_dets_per_group;
  p.rec_thrs = rec_thrs.data();
  p.num_rec_thrs = static_cast<int64_t>(rec_thrs.size());
  p.cells = cells.data();
  p.num_metrics = cells_arr.shape(0);
  p.unit_budget = unit_budget;
  p.combo_budget = combo_budget;
  p.num_draws = num_draws;
  p.seed = seed;
  vrft::eval::TieRange r;
  {
    py::gil_scoped_release release;
    r = vrft::eval::tie_range(cols.gt, cols.dt, p);
  }
  const int64_t M = p.num_metrics;
  auto shaped = [M](py::array arr) { return arr.attr("reshape")(-1, M); };
  py::dict out;
  out["canonical"] = shaped(to_numpy(r.canonical));
  out["lo"] = shaped(to_numpy(r.lo));
  out["hi"] = shaped(to_numpy(r.hi));
  out["exact"] = shaped(to_numpy(r.exact));
  out["mc_mean"] = shaped(to_numpy(r.mc_mean));
  out["mc_sd"] = shaped(to_numpy(r.mc_sd));
  out["tied_groups"] = to_numpy(r.tied_groups);
  out["hard_groups"] = to_numpy(r.hard_groups);
  return out;
}

py::dict eval_max_matching_counts(py::dict gt_cols, py::dict dt_cols, int64_t num_images,
                                  int64_t num_categories, double iou_thr, double area_lo,
                                  double area_hi) {
  OwnedColumns cols(gt_cols, dt_cols);
  vrft::eval::SetCounts c;
  {
    py::gil_scoped_release release;
    c = vrft::eval::max_matching_counts(cols.gt, cols.dt, num_images, num_categories, iou_thr,
                                        area_lo, area_hi);
  }
  py::dict out;
  out["tp"] = to_numpy(c.tp);
  out["fp"] = to_numpy(c.fp);
  out["fn"] = to_numpy(c.fn);
  out["ignored"] = to_numpy(c.ignored);
  out["num_gt"] = to_numpy(c.num_gt);
  return out;
}

py::dict eval_tide(const py::handle& gt_off, const py::handle& gt_box, const py::handle& gt_class,
                   const py::handle& ig_off, const py::handle& ig_box, const py::handle& ig_class,
                   const py::handle& wi_off, const py::handle& wi_class, const py::handle& dt_off,
                   const py::handle& dt_box, const py::handle& dt_class, const py::handle& dt_score,
                   int64_t max_dets, double pos_thresh, double bg_thresh,
                   const py::handle& thresholds_obj) {
  const auto go = owned_1d<int64_t>(gt_off, "gt_offsets");
  const int64_t I = static_cast<int64_t>(go.size()) - 1;
  if (I < 0) throw std::invalid_argument("gt_offsets must hold num_images + 1 values");
  auto offsets = [I](const py::handle& obj, const char* arg) {
    auto v = owned_1d<int64_t>(obj, arg);
    if (static_cast<int64_t>(v.size()) != I + 1) {
      throw std::invalid_argument(
          std::string(arg) + " must hold num_images + 1 = " + std::to_string(I + 1) + " values");
    }
    return v;
  };
  const auto io = offsets(ig_off, "ig_offsets"), wo = offsets(wi_off, "wi_offsets"),
             dof = offsets(dt_off, "dt_offsets");
  const auto gb = owned<double>(gt_box, "gt_box", go.back(), 4);
  const auto gc = owned<int64_t>(gt_class, "gt_class", go.back());
  const auto ib = owned<double>(ig_box, "ig_box", io.back(), 4);
  const auto ic = owned<int64_t>(ig_class, "ig_class", io.back());
  const auto wc = owned<int64_t>(wi_class, "wi_class", wo.back());
  const auto db = owned<double>(dt_box, "dt_box", dof.back(), 4);
  const auto dc = owned<int64_t>(dt_class, "dt_class", dof.back());
  const auto ds = owned<double>(dt_score, "dt_score", dof.back());
  const auto thr = owned_1d<double>(thresholds_obj, "thresholds");
  require_no_nan(ds.data(), static_cast<int64_t>(ds.size()), "dt_score");
  vrft::eval::TideInput in;
  in.num_images = I;
  in.gt_offsets = go.data();
  in.gt_box = gb.data();
  in.gt_class = gc.data();
  in.ig_offsets = io.data();
  in.ig_box = ib.data();
  in.ig_class = ic.data();
  in.wi_offsets = wo.data();
  in.wi_class = wc.data();
  in.dt_offsets = dof.data();
  in.dt_box = db.data();
  in.dt_class = dc.data();
  in.dt_score = ds.data();
  in.max_dets = max_dets;
  in.pos_thresh = pos_thresh;
  in.bg_thresh = bg_thresh;
  in.thresholds = thr.data();
  in.num_thresholds = static_cast<int64_t>(thr.size());
  vrft::eval::TideResult r;
  {
    py::gil_scoped_release release;
    r = vrft::eval::tide(in);
  }
  py::dict out;
  out["ap"] = r.ap;
  out["ap_per_threshold"] = to_numpy(r.ap_per_threshold);
  std::vector<double> dap(r.main_dap.begin(), r.main_dap.end());
  std::vector<int64_t> counts(r.counts.begin(), r.counts.end());
  out["main_dap"] = to_numpy(dap);
  out["counts"] = to_numpy(counts);
  out["false_pos"] = r.false_pos;
  out["false_neg"] = r.false_neg;
  out["num_classes"] = r.num_classes;
  return out;
}

}  // namespace

void bind_eval_metrics(py::module_& m) {
  m.def("eval_tie_range", &eval_tie_range, py::arg("gt"), py::arg("dt"), py::arg("num_images"),
        py::arg("num_categories"), py::arg("iou_thrs"), py::arg("area_rng"),
        py::arg("max_dets_per_group"), py::arg("rec_thrs"), py::arg("cells"),
        py::arg("unit_budget"), py::arg("combo_budget"), py::arg("num_draws"), py::arg("seed"));
  m.def("eval_max_matching_counts", &eval_max_matching_counts, py::arg("gt"), py::arg("dt"),
        py::arg("num_images"), py::arg("num_categories"), py::arg("iou_thr"), py::arg("area_lo"),
        py::arg("area_hi"));
  m.def("eval_tide", &eval_tide, py::arg("gt_offsets"), py::arg("gt_box"), py::arg("gt_class"),
        py::arg("ig_offsets"), py::arg("ig_box"), py::arg("ig_class"), py::arg("wi_offsets"),
        py::arg("wi_class"), py::arg("dt_offsets"), py::arg("dt_box"), py::arg("dt_class"),
        py::arg("dt_score"), py::arg("max_dets"), py::arg("pos_thresh"), py::arg("bg_thresh"),
        py::arg("thresholds"));
}

}  // namespace vrft::bindings
