// cpp/bindings/module.cpp - the private module safu._core: exceptions, constants, submodules.
//
//   from safu import _core
//   m = _core.IntentModel("home.safu"); m.predict("turn on the lights")
//   _core.FormatError (ValueError), _core.IoError (OSError), _core.ShapeError (ValueError)
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "safu/errors.h"
#include "safu/model_file.h"
#include "safu/tokenizer.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "safu C++ inference core: .safu reader, tokenizer, intent model, streaming LM scoring";
#ifdef SAFU_VERSION_INFO
  m.attr("__version__") = SAFU_VERSION_INFO;
#endif
  py::register_exception<safu::FormatError>(m, "FormatError", PyExc_ValueError);
  py::register_exception<safu::IoError>(m, "IoError", PyExc_OSError);
  py::register_exception<safu::ShapeError>(m, "ShapeError", PyExc_ValueError);

  m.attr("FORMAT_VERSION") = safu::FORMAT_VERSION;
  m.attr("MAGIC") = py::bytes(safu::MAGIC, 4);
  m.attr("MAX_KV") = safu::MAX_KV;
  m.attr("MAX_TENSORS") = safu::MAX_TENSORS;
  m.attr("MAX_NAME_LEN") = safu::MAX_NAME_LEN;
  m.attr("MAX_NDIM") = safu::MAX_NDIM;
  m.attr("HEADER_SIZE") = safu::HEADER_SIZE;
  m.attr("DATA_ALIGN") = safu::DATA_ALIGN;
  m.attr("DTYPE_F32") = uint32_t(safu::DType::F32);
  m.attr("DTYPE_I8") = uint32_t(safu::DType::I8);
  m.attr("DTYPE_I32") = uint32_t(safu::DType::I32);
  py::list specials;
  for (const char* s : {"<pad>", "<sod>", "<frg>", "<eod>", "<unk>", "<num>"}) specials.append(s);
  m.attr("SPECIALS") = specials;
  m.attr("PAD") = int(safu::PAD);
  m.attr("SOD") = int(safu::SOD);
  m.attr("FRG") = int(safu::FRG);
  m.attr("EOD") = int(safu::EOD);
  m.attr("UNK") = int(safu::UNK);
  m.attr("NUM") = int(safu::NUM);

  safu_py::bind_model_file(m);
  safu_py::bind_tokenizer(m);
  safu_py::bind_intent_model(m);
  safu_py::bind_lm_stream(m);
}
