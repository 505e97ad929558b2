// cpp/bindings/bindings.h - one bind_* function per public header, called from module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace safu_py {
void bind_model_file(pybind11::module_& m);
void bind_tokenizer(pybind11::module_& m);
void bind_intent_model(pybind11::module_& m);
void bind_lm_stream(pybind11::module_& m);
}  // namespace safu_py
