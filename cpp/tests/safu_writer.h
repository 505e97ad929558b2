// cpp/tests/safu_writer.h - builds .safu images in memory for the C++ tests (docs/format.md).
// Test-only: the product's writer is export/model_file.py; tests in Python check both agree.
//
//   Writer w; w.str("general.kind", "intent"); w.u32("model.dim", 4); w.tensor("x", {2, 2}, data);
//   std::vector<uint8_t> bytes = w.build();
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "safu/crc32.h"
#include "safu/model_file.h"

namespace testing_safu {

class Writer {
 public:
  void u32(const std::string& k, uint32_t v) { key(k, 1); put32(meta_, v); }
  void f32(const std::string& k, float v) { key(k, 3); uint32_t b; std::memcpy(&b, &v, 4); put32(meta_, b); }
  void str(const std::string& k, const std::string& v) { key(k, 5); putstr(meta_, v); }
  void strs(const std::string& k, const std::vector<std::string>& v) {
    key(k, 6);
    put32(meta_, uint32_t(v.size()));
    for (const auto& s : v) putstr(meta_, s);
  }
  void tensor(const std::string& name, const std::vector<uint64_t>& dims, const std::vector<float>& values) {
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    raw_tensor(name, 0, dims, bytes);
  }
  void raw_tensor(const std::string& name, uint32_t dtype, const std::vector<uint64_t>& dims,
                  const std::vector<uint8_t>& bytes) {
    putstr(dir_, name);
    put32(dir_, dtype);
    put32(dir_, uint32_t(dims.size()));
    for (uint64_t d : dims) put64(dir_, d);
    put64(dir_, data_.size());
    put64(dir_, bytes.size());
    put32(dir_, safu::crc32(bytes.data(), bytes.size()));
    data_.insert(data_.end(), bytes.begin(), bytes.end());
    while (data_.size() % 64) data_.push_back(0);
    ++n_tensors_;
  }
  std::vector<uint8_t> build() const {
    std::vector<uint8_t> meta = meta_;
    meta.insert(meta.end(), dir_.begin(), dir_.end());
    uint64_t data_offset = (48 + meta.size() + 63) / 64 * 64;
    std::vector<uint8_t> out;
    out.insert(out.end(), {'S', 'A', 'F', 'U'});
    put32(out, safu::FORMAT_VERSION);
    put32(out, n_kv_);
    put32(out, n_tensors_);
    put64(out, meta.size());
    put64(out, data_offset);
    put64(out, data_.size());
    put32(out, safu::crc32(meta.data(), meta.size()));
    put32(out, safu::crc32(out.data(), 44));
    out.insert(out.end(), meta.begin(), meta.end());
    out.resize(data_offset, 0);
    out.insert(out.end(), data_.begin(), data_.end());
    return out;
  }

  static void put32(std::vector<uint8_t>& o, uint32_t v) { for (int i = 0; i < 4; ++i) o.push_back(uint8_t(v >> (8 * i))); }
  static void put64(std::vector<uint8_t>& o, uint64_t v) { for (int i = 0; i < 8; ++i) o.push_back(uint8_t(v >> (8 * i))); }
  // Rewrites the header CRC after a test has edited header bytes 0..43.
  static void fix_header_crc(std::vector<uint8_t>& f) {
    uint32_t c = safu::crc32(f.data(), 44);
    for (int i = 0; i < 4; ++i) f[44 + i] = uint8_t(c >> (8 * i));
  }

 private:
  void key(const std::string& k, uint32_t type) { putstr(meta_, k); put32(meta_, type); ++n_kv_; }
  static void putstr(std::vector<uint8_t>& o, const std::string& s) {
    put32(o, uint32_t(s.size()));
    o.insert(o.end(), s.begin(), s.end());
  }
  std::vector<uint8_t> meta_, dir_, data_;
  uint32_t n_kv_ = 0, n_tensors_ = 0;
};

// Deterministic pseudo-random floats in [0, 1) (no <random> distribution differences across libcs).
struct Lcg {
  uint64_t s;
  explicit Lcg(uint64_t seed) : s(seed * 2862933555777941757ull + 3037000493ull) {}
  float next() { s = s * 6364136223846793005ull + 1442695040888963407ull; return float((s >> 40) & 0xFFFFFF) / 16777216.0f; }
};

}  // namespace testing_safu
