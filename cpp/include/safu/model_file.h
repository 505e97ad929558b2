// cpp/include/safu/model_file.h - reader of the `.safu` container (docs/format.md, version 1).
//
//   safu::ModelFile f = safu::ModelFile::load("model.safu");   // validates everything, or throws
//   uint32_t D = f.get_u32("model.dim");
//   const safu::TensorInfo& R = f.tensor("token_table");      // R.data points into one arena
//
// The whole file is read into one arena; tensors are views into it (64-byte aligned offsets).
// Every check of docs/format.md runs, in the documented order, before the arena is allocated
// (header) or before any value is used (metadata, directory, tensor CRCs).
// Throws IoError (cannot open/read) or FormatError (bytes not as specified).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace safu {

// ---- constants shared with export/model_file.py (tested equal from Python) ----
constexpr uint32_t FORMAT_VERSION = 1;
constexpr char MAGIC[] = "SAFU";          // 4 bytes on disk, no terminator
constexpr uint32_t MAX_KV = 4096;         // metadata entries
constexpr uint32_t MAX_TENSORS = 4096;    // tensor directory entries
constexpr uint32_t MAX_NAME_LEN = 256;    // bytes of a key or tensor name
constexpr uint32_t MAX_NDIM = 4;
constexpr uint64_t HEADER_SIZE = 48;
constexpr uint64_t DATA_ALIGN = 64;

enum class DType : uint32_t { F32 = 0, I8 = 1, I32 = 2 };
enum class MetaType : uint32_t {
  U32 = 1, I64 = 2, F32 = 3, F64 = 4, STR = 5, STR_ARRAY = 6, F32_ARRAY = 7, U32_ARRAY = 8
};

// Returns the byte size of one item of `dtype`; throws FormatError for an unknown code.
size_t dtype_item_size(uint32_t dtype);
const char* meta_type_name(MetaType type);

// One metadata value; only the member matching `type` is meaningful.
struct MetaValue {
  MetaType type = MetaType::U32;
  uint32_t u32 = 0;
  int64_t i64 = 0;
  float f32 = 0.0f;
  double f64 = 0.0;
  std::string str;
  std::vector<std::string> str_array;
  std::vector<float> f32_array;
  std::vector<uint32_t> u32_array;
};

// One tensor directory entry; `data` points into the ModelFile's arena.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> dims;   // 1..4 dims, row-major
  uint64_t offset = 0;          // relative to data_offset
  uint64_t nbytes = 0;
  uint32_t crc32 = 0;
  const uint8_t* data = nullptr;

  uint64_t numel() const;
};

class ModelFile {
 public:
  // Reads and validates `path`. Throws IoError or FormatError (message names the path).
  static ModelFile load(const std::string& path);
  // Validates a file image held in memory (used by the fuzzer); `source` names it in errors.
  static ModelFile from_bytes(const uint8_t* data, size_t size, const std::string& source = "<bytes>");

  uint32_t version() const { return version_; }
  const std::string& source() const { return source_; }
  size_t arena_bytes() const { return arena_.size() * sizeof(uint64_t); }

  // ---- metadata ----
  const std::vector<std::string>& meta_keys() const { return meta_order_; }  // file order
  bool has(const std::string& key) const { return meta_.count(key) != 0; }
  // Each getter throws FormatError naming the path and key if missing or of another type.
  const MetaValue& meta(const std::string& key) const;
  uint32_t get_u32(const std::string& key) const;
  uint32_t get_u32_or(const std::string& key, uint32_t fallback) const;
  double get_float(const std::string& key) const;   // F32 or F64
  const std::string& get_str(const std::string& key) const;
  const std::vector<std::string>& get_str_array(const std::string& key) const;

  // ---- tensors ----
  const std::vector<std::string>& tensor_names() const { return tensor_order_; }  // file order
  bool has_tensor(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws FormatError naming the path if there is no tensor `name`.
  const TensorInfo& tensor(const std::string& name) const;

 private:
  ModelFile() = default;
  void parse_body();  // metadata, directory and tensor CRCs of a validated arena

  std::string source_;
  uint32_t version_ = 0;
  uint32_t n_kv_ = 0, n_tensors_ = 0;
  uint64_t meta_size_ = 0, data_offset_ = 0, data_size_ = 0;
  std::vector<uint64_t> arena_;  // the whole file; uint64_t keeps float views aligned
  std::map<std::string, MetaValue> meta_;
  std::vector<std::string> meta_order_;
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::string> tensor_order_;
};

}  // namespace safu
