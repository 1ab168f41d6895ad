// The texts of completions, shared by the binding areas that read them (parse.cpp,
// rewards_fused.cpp): UTF-8 views of Python strs, and the answer text of a completion given as a
// str or as chat messages (TRL's conversational form, with reasoning_content and content parts).
// The binding `completion_texts` is registered by bind_parse.
#include "bindings/texts.h"

#include <string>
#include <vector>

#include "bindings/args.h"

namespace vrft::bindings {
namespace {

// UTF-8 view of a str.  PyUnicode_AsUTF8AndSize returns the str's own buffer for ASCII strings and
// a UTF-8 copy cached inside the str otherwise, so the pointer lives as long as the str does.  A
// str with lone surrogates has no UTF-8 form: it is encoded with "surrogatepass" (each surrogate
// becomes one 3-byte sequence, so code-point counting still gives Python indices) into a bytes
// object kept in `keep`.
vrft::parse::Text utf8_of(PyObject* str, std::vector<py::object>* keep) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(str, &size);
  if (!data) {
    PyErr_Clear();
    PyObject* bytes = PyUnicode_AsEncodedString(str, "utf-8", "surrogatepass");
    if (!bytes) throw py::error_already_set();
    keep->push_back(py::reinterpret_steal<py::object>(bytes));
    data = PyBytes_AS_STRING(bytes);
    size = PyBytes_GET_SIZE(bytes);
  }
  return {data, static_cast<int64_t>(size), PyUnicode_IS_ASCII(str) != 0};
}

}  // namespace

vrft::parse::Text utf8_view(PyObject* str, std::vector<py::object>* keep) {
  return utf8_of(str, keep);
}

namespace {

// The text of a message's `content`: a str as it is; a list of parts (OpenAI / TRL multimodal form)
// as its text parts ({"type": "text", "text": str}, or a part with a str "text" and no "type")
// joined, other parts (images, ...) ignored; anything else (None, missing, ...) as "".  Model
// output, so nothing here raises: an assistant message without usable text reads as "" and gets
// the parser's status for an empty answer.  Parts are read through a tuple snapshot and every
// borrowed object is held before the next lookup, since lookups may run Python code.
py::object content_text(PyObject* content) {
  if (content && PyUnicode_Check(content)) return py::reinterpret_borrow<py::object>(content);
  py::list texts;
  if (content && (PyList_Check(content) || PyTuple_Check(content))) {
    auto parts = py::reinterpret_steal<py::tuple>(PySequence_Tuple(content));
    if (!parts) throw py::error_already_set();
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(parts.ptr()); ++k) {
      PyObject* part = PyTuple_GET_ITEM(parts.ptr(), k);
      if (!PyDict_Check(part)) continue;
      auto type = py::reinterpret_borrow<py::object>(PyDict_GetItemString(part, "type"));
      if (type && !(PyUnicode_Check(type.ptr()) &&
                    PyUnicode_CompareWithASCIIString(type.ptr(), "text") == 0))
        continue;
      auto text = py::reinterpret_borrow<py::object>(PyDict_GetItemString(part, "text"));
      if (text && PyUnicode_Check(text.ptr())) texts.append(text);
    }
  }
  auto joined = py::reinterpret_steal<py::object>(PyUnicode_Join(py::str("").ptr(), texts.ptr()));
  if (!joined) throw py::error_already_set();
  return joined;
}

// The answer text of an assistant message: its content (see content_text), preceded by
// "<think>" + reasoning + "</think>" when the message carries its reasoning apart, as TRL's
// parse_response (`reasoning_content`) and some chat templates (`thinking`) do, so the format
// rules see the completion the model wrote.
py::object assistant_text(PyObject* msg) {
  // Interned keys: no str made per lookup (this runs for every completion of every call).
  static PyObject* const content_key = PyUnicode_InternFromString("content");
  static PyObject* const reasoning_keys[2] = {PyUnicode_InternFromString("reasoning_content"),
                                              PyUnicode_InternFromString("thinking")};
  auto content =
      content_text(py::reinterpret_borrow<py::object>(PyDict_GetItem(msg, content_key)).ptr());
  for (PyObject* key : reasoning_keys) {
    auto reasoning = py::reinterpret_borrow<py::object>(PyDict_GetItem(msg, key));
    if (!reasoning || !PyUnicode_Check(reasoning.ptr()) ||
        PyUnicode_GET_LENGTH(reasoning.ptr()) == 0)
      continue;
    py::list pieces;
    pieces.append(py::str("<think>"));
    pieces.append(reasoning);
    pieces.append(py::str("</think>"));
    pieces.append(content);
    auto joined =
        py::reinterpret_steal<py::object>(PyUnicode_Join(py::str("").ptr(), pieces.ptr()));
    if (!joined) throw py::error_already_set();
    return joined;
  }
  return content;
}

}  // namespace

// The answer text of one completion: the str itself, or the text of the last assistant message
// of a TRL conversational completion (a list of {"role": ..., "content": ...} dicts; with tool
// turns the final assistant message is the answer; see assistant_text).  Returns a new
// reference, or a null object (with *why set) when the entry is neither: a caller's mistake
// (prompts passed as completions, ...), not model output.  The message list is read through a
// tuple snapshot, because dict lookups may run Python code that mutates it.
py::object completion_text(PyObject* item, std::string* why) {
  if (PyUnicode_Check(item)) return py::reinterpret_borrow<py::object>(item);
  if (PyList_Check(item) || PyTuple_Check(item)) {
    auto msgs = py::reinterpret_steal<py::tuple>(PySequence_Tuple(item));
    if (!msgs) throw py::error_already_set();
    for (Py_ssize_t k = PyTuple_GET_SIZE(msgs.ptr()) - 1; k >= 0; --k) {
      PyObject* msg = PyTuple_GET_ITEM(msgs.ptr(), k);
      if (!PyDict_Check(msg)) {
        *why = "a chat message that is a dict, got " + type_name(msg) + " at message " +
               std::to_string(k);
        return py::object();
      }
      // Interned keys: no temporary str per lookup (this runs for every message of a batch).
      static PyObject* const role_key = PyUnicode_InternFromString("role");
      PyObject* role = PyDict_GetItemWithError(msg, role_key);  // borrowed
      if (!role && PyErr_Occurred()) throw py::error_already_set();
      if (!role || !PyUnicode_Check(role) ||
          PyUnicode_CompareWithASCIIString(role, "assistant") != 0)
        continue;
      return assistant_text(msg);
    }
    *why = "a list of chat messages with an assistant message, found none";
    return py::object();
  }
  *why = "a str or a list of chat messages, got " + type_name(item);
  return py::object();
}

// The text parse_completions reads from each completion (the str, the last assistant message's
// content, or "" for an invalid entry with invalid="empty"), as a tuple of str: an immutable
// snapshot of exactly what a parse depends on, which the parse cache and the tiny-batch memo
// (vrft_rewards/rewards/_tiny.py) key on (chat messages may be edited in place after a parse).
py::tuple completion_texts(const py::handle& completions, const std::string& invalid) {
  if (invalid != "raise" && invalid != "empty") {
    throw std::invalid_argument("invalid must be 'raise' or 'empty', got '" + invalid + "'");
  }
  if (!PyList_Check(completions.ptr()) && !PyTuple_Check(completions.ptr())) {
    throw py::type_error("completions must be a list or tuple, got " +
                         type_name(completions.ptr()));
  }
  auto items = py::reinterpret_steal<py::tuple>(PySequence_Tuple(completions.ptr()));
  if (!items) throw py::error_already_set();
  const Py_ssize_t n = PyTuple_GET_SIZE(items.ptr());
  py::tuple out(n);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyTuple_GET_ITEM(items.ptr(), i);
    py::object s = py::reinterpret_borrow<py::object>(item);
    if (!PyUnicode_Check(item)) {
      std::string why;
      s = completion_text(item, &why);
      if (!s) {
        if (invalid == "raise") {
          throw py::type_error("completions[" + std::to_string(i) + "] must be " + why +
                               " (pass invalid='empty' to read such entries as empty text)");
        }
        s = py::str("");
      }
    }
    PyTuple_SET_ITEM(out.ptr(), i, s.release().ptr());  // the fresh tuple takes our reference
  }
  return out;
}

}  // namespace vrft::bindings
