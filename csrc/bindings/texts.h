// UTF-8 views of Python strs, shared by the binding areas that read texts (parse.cpp, which
// defines it, and rewards_fused.cpp).
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

#include "parse/parse.h"

namespace vrft::bindings {

// UTF-8 view of a str, valid while the str lives (lone surrogates: a "surrogatepass" copy kept
// alive in `keep`).
vrft::parse::Text utf8_view(PyObject* str, std::vector<pybind11::object>* keep);

}  // namespace vrft::bindings
