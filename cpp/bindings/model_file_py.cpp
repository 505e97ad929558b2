// cpp/bindings/model_file_py.cpp - safu._core.ModelFile: the C++ reader, for cross-checks and fuzzing.
//
//   f = _core.ModelFile("m.safu")  /  _core.ModelFile.from_bytes(data)
//   f.version, f.metadata (dict), f.tensor_names, f.tensor("token_table") -> numpy copy
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "bindings.h"
#include "safu/model_file.h"

namespace py = pybind11;

namespace safu_py {

py::object meta_to_py(const safu::MetaValue& v) {
  using T = safu::MetaType;
  switch (v.type) {
    case T::U32: return py::int_(v.u32);
    case T::I64: return py::int_(v.i64);
    case T::F32: return py::float_(double(v.f32));
    case T::F64: return py::float_(v.f64);
    case T::STR: return py::str(v.str);
    case T::STR_ARRAY: return py::cast(v.str_array);
    case T::F32_ARRAY: {
      py::array_t<float> a(py::ssize_t(v.f32_array.size()));
      if (!v.f32_array.empty()) std::memcpy(a.mutable_data(), v.f32_array.data(), v.f32_array.size() * 4);
      return std::move(a);
    }
    case T::U32_ARRAY: return py::cast(v.u32_array);
  }
  return py::none();
}

static py::array tensor_to_py(const safu::TensorInfo& t) {
  std::vector<py::ssize_t> shape(t.dims.begin(), t.dims.end());
  py::dtype dt = t.dtype == safu::DType::F32 ? py::dtype::of<float>()
                 : t.dtype == safu::DType::I8 ? py::dtype::of<int8_t>()
                                              : py::dtype::of<int32_t>();
  py::array a(dt, shape);
  if (t.nbytes) std::memcpy(a.mutable_data(), t.data, size_t(t.nbytes));
  return a;
}

void bind_model_file(py::module_& m) {
  py::class_<safu::ModelFile>(m, "ModelFile", "A validated .safu container (docs/format.md).")
      .def(py::init([](const std::string& path) {
             py::gil_scoped_release release;
             return safu::ModelFile::load(path);
           }),
           py::arg("path"), "Reads and validates a model file; raises FormatError/IoError.")
      .def_static(
          "from_bytes",
          [](py::bytes data) {
            std::string s = data;
            py::gil_scoped_release release;
            return safu::ModelFile::from_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
          },
          py::arg("data"), "Validates a file image held in memory.")
      .def_property_readonly("version", &safu::ModelFile::version)
      .def_property_readonly("source", &safu::ModelFile::source)
      .def_property_readonly("metadata",
                             [](const safu::ModelFile& f) {
                               py::dict d;
                               for (const std::string& k : f.meta_keys()) d[py::str(k)] = meta_to_py(f.meta(k));
                               return d;
                             })
      .def_property_readonly("tensor_names", &safu::ModelFile::tensor_names)
      .def("tensor", [](const safu::ModelFile& f, const std::string& name) { return tensor_to_py(f.tensor(name)); },
           py::arg("name"), "A numpy copy of one tensor (F32 -> float32, I8 -> int8, I32 -> int32).");
}

}  // namespace safu_py
