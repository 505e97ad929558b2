// cpp/src/tensor_load.h - copy a tensor of a ModelFile into floats, checking shape, dtype and that
// every value is finite (the same checks, in the same order and words, as export/intent_check.py).
//
//   std::vector<float> W = load_f32(file, "slot_W", {Ks, Ks}, false);
//   std::vector<float> U = load_f32(file, "slot_U", {Ks*D + N, S}, true);  // I8 + ".scale" allowed
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "safu/errors.h"
#include "safu/model_file.h"

namespace safu {

inline std::string shape_str(const std::vector<uint64_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

// A string from the file as an error message shows it: control bytes escaped (\t, \n, \xNN), so a
// NUL cannot cut the message short (export/model_file.py `shown` writes the same).
inline std::string shown(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", unsigned(c));
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out;
}

inline const char* nonfinite_str(float v) { return std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf"); }

// Throws FormatError naming the file, the tensor and the first flat index holding NaN or +-inf.
inline void check_finite(const ModelFile& file, const std::string& name, const std::vector<float>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw FormatError(file.source() + ": tensor '" + name + "' has a non-finite value (" + nonfinite_str(v[i]) +
                        ") at flat index " + std::to_string(i) + ", expected finite weights");
}

// Returns the tensor as row-major float32. Throws ShapeError naming the file and tensor if the
// shape differs from `expect` or the dtype is not allowed, FormatError if a value is NaN or +-inf
// (an I8 tensor: its scale, then the dequantised values).
inline std::vector<float> load_f32(const ModelFile& file, const std::string& name, const std::vector<uint64_t>& expect,
                                   bool allow_i8) {
  const TensorInfo& t = file.tensor(name);
  if (t.dims != expect)
    throw ShapeError(file.source() + ": tensor '" + name + "' has shape " + shape_str(t.dims) + ", expected " +
                     shape_str(expect));
  size_t n = size_t(t.numel());
  std::vector<float> out(n);
  if (t.dtype == DType::F32) {
    std::memcpy(out.data(), t.data, n * sizeof(float));
    check_finite(file, name, out);
    return out;
  }
  if (t.dtype == DType::I8 && allow_i8) {
    uint64_t rows = expect[0];
    uint64_t cols = rows ? n / rows : 0;
    std::vector<float> scale = load_f32(file, name + ".scale", {rows}, false);
    const int8_t* q = reinterpret_cast<const int8_t*>(t.data);
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t c = 0; c < cols; ++c) out[r * cols + c] = float(q[r * cols + c]) * scale[r];
    check_finite(file, name, out);
    return out;
  }
  throw ShapeError(file.source() + ": tensor '" + name + "' has dtype code " + std::to_string(uint32_t(t.dtype)) +
                   ", expected F32" + (allow_i8 ? " or I8 with a '.scale' tensor" : ""));
}

}  // namespace safu
