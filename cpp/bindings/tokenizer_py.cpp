// cpp/bindings/tokenizer_py.cpp - safu._core.tokenize(text) -> [(token, byte_start, byte_end)].
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "safu/tokenizer.h"

namespace py = pybind11;

namespace safu_py {

void bind_tokenizer(py::module_& m) {
  m.def(
      "tokenize",
      [](const std::string& text) {  // str arrives as its UTF-8 bytes
        std::vector<safu::TokenSpan> spans;
        safu::tokenize(text, spans);
        py::list out;
        std::string tok;
        for (const safu::TokenSpan& s : spans) {
          safu::token_text(text.data(), s, tok);
          out.append(py::make_tuple(py::str(tok), s.start, s.end));
        }
        return out;
      },
      py::arg("text"),
      "Tokens of docs/intent_model.md: list of (lower-cased token, byte_start, byte_end) in the UTF-8 text.");
}

}  // namespace safu_py
