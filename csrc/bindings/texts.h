// The texts of completions (texts.cpp), shared by the binding areas that read them (parse.cpp,
// rewards_fused.cpp).
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "parse/parse.h"

namespace vrft::bindings {

// UTF-8 view of a str, valid while the str lives (lone surrogates: a "surrogatepass" copy kept
// alive in `keep`).
vrft::parse::Text utf8_view(PyObject* str, std::vector<pybind11::object>* keep);

// The type name of a Python object, for error messages.
inline std::string type_name(PyObject* o) { return Py_TYPE(o)->tp_name; }

// The answer text of one completion: the str itself, or the text of the last assistant message of
// a list of chat messages.  A new reference, or a null object with *why set when the entry is
// neither (a caller's mistake, not model output).
pybind11::object completion_text(PyObject* item, std::string* why);

// completion_text of each completion, as a tuple of str; invalid entries raise a TypeError, or
// read as "" with invalid="empty".
pybind11::tuple completion_texts(const pybind11::handle& completions, const std::string& invalid);

}  // namespace vrft::bindings
