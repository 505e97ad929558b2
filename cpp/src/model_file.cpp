// cpp/src/model_file.cpp - validation and parsing of the `.safu` container (docs/format.md).
#include "safu/model_file.h"

#include <cstdio>
#include <cstring>
#include <limits>

#include "safu/crc32.h"
#include "safu/errors.h"
#include "tensor_load.h"  // shown()

namespace safu {
namespace {

uint32_t le_u32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint64_t le_u64(const uint8_t* p) { return uint64_t(le_u32(p)) | (uint64_t(le_u32(p + 4)) << 32); }

std::string num(uint64_t v) { return std::to_string(v); }

// The product of a tensor's nonzero dims is at most this (docs/format.md).
constexpr uint64_t MAX_NONZERO_ELEMS = uint64_t(1) << 48;

// True if the n bytes at p are well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool valid_utf8(const unsigned char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {  // eight ASCII bytes at a time (most of a model's strings are ASCII)
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) { i += 8; continue; }
    }
    unsigned char c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0Fu; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07u; }
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (p[i + k] & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += len;
  }
  return true;
}

// The fixed 48-byte header, checked in the order docs/format.md lists.
struct Header {
  uint32_t version, n_kv, n_tensors;
  uint64_t meta_size, data_offset, data_size;
  uint32_t meta_crc;
};

Header check_header(const uint8_t* h, uint64_t file_size, const std::string& src) {
  if (file_size < HEADER_SIZE)
    throw FormatError(src + ": file is " + num(file_size) + " bytes, a .safu file needs at least " +
                      num(HEADER_SIZE) + " (header)");
  if (std::memcmp(h, MAGIC, 4) != 0)
    throw FormatError(src + ": bad magic (field 'magic'): expected \"SAFU\", this is not a .safu model file");
  Header hd{};
  hd.version = le_u32(h + 4);
  if (hd.version < FORMAT_VERSION)
    throw FormatError(src + ": unsupported old version " + num(hd.version) + " (field 'version'); this build reads v" +
                      num(FORMAT_VERSION));
  if (hd.version > FORMAT_VERSION)
    throw FormatError(src + ": file is v" + num(hd.version) + ", this build supports <= v" + num(FORMAT_VERSION) +
                      " (field 'version'); upgrade safu");
  uint32_t header_crc = le_u32(h + 44);
  uint32_t actual = crc32(h, 44);
  if (header_crc != actual)
    throw FormatError(src + ": header CRC mismatch (field 'header_crc32'): stored " + num(header_crc) +
                      ", computed " + num(actual) + "; the file is corrupt");
  hd.n_kv = le_u32(h + 8);
  hd.n_tensors = le_u32(h + 12);
  hd.meta_size = le_u64(h + 16);
  hd.data_offset = le_u64(h + 24);
  hd.data_size = le_u64(h + 32);
  hd.meta_crc = le_u32(h + 40);
  if (hd.n_kv > MAX_KV)
    throw FormatError(src + ": field 'n_kv' is " + num(hd.n_kv) + ", at most " + num(MAX_KV) + " allowed");
  if (hd.n_tensors > MAX_TENSORS)
    throw FormatError(src + ": field 'n_tensors' is " + num(hd.n_tensors) + ", at most " + num(MAX_TENSORS) +
                      " allowed");
  if (hd.meta_size > file_size || HEADER_SIZE + hd.meta_size > hd.data_offset)
    throw FormatError(src + ": field 'meta_size' (" + num(hd.meta_size) + ") runs past 'data_offset' (" +
                      num(hd.data_offset) + ")");
  if (hd.data_offset % DATA_ALIGN != 0)
    throw FormatError(src + ": field 'data_offset' is " + num(hd.data_offset) + ", expected a multiple of " +
                      num(DATA_ALIGN));
  if (hd.data_offset > file_size || hd.data_size != file_size - hd.data_offset)
    throw FormatError(src + ": data_offset + data_size = " + num(hd.data_offset) + " + " + num(hd.data_size) +
                      ", expected the file size " + num(file_size) + " (truncated or padded file)");
  return hd;
}

// Bounds-checked little-endian reader over the metadata section + tensor directory.
class Cursor {
 public:
  Cursor(const uint8_t* p, uint64_t n, const std::string& src) : p_(p), n_(n), src_(src) {}
  uint64_t left() const { return n_ - pos_; }
  uint64_t pos() const { return pos_; }
  void need(uint64_t bytes, const std::string& what) const {
    if (bytes > left())
      throw FormatError(src_ + ": " + what + " needs " + num(bytes) + " bytes at metadata offset " + num(pos_) +
                        ", only " + num(left()) + " left");
  }
  uint32_t u32(const std::string& what) { need(4, what); uint32_t v = le_u32(p_ + pos_); pos_ += 4; return v; }
  uint64_t u64(const std::string& what) { need(8, what); uint64_t v = le_u64(p_ + pos_); pos_ += 8; return v; }
  float f32(const std::string& what) { uint32_t b = u32(what); float f; std::memcpy(&f, &b, 4); return f; }
  double f64(const std::string& what) { uint64_t b = u64(what); double d; std::memcpy(&d, &b, 8); return d; }
  std::string bytes(uint64_t len, const std::string& what) {
    need(len, what);
    if (!valid_utf8(p_ + pos_, size_t(len)))
      throw FormatError(src_ + ": " + what + " at metadata offset " + num(pos_) + " is not valid UTF-8");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += len;
    return s;
  }
  // string(what, 0, 0) appended to `out` when it would succeed (true); false, with nothing read,
  // where string() would throw. Names nothing, so a long string array builds no message per element.
  bool try_string(std::vector<std::string>& out) {
    if (left() < 4) return false;
    uint64_t len = le_u32(p_ + pos_);
    if (len > left() - 4 || !valid_utf8(p_ + pos_ + 4, size_t(len))) return false;
    out.emplace_back(reinterpret_cast<const char*>(p_ + pos_ + 4), size_t(len));
    pos_ += 4 + len;
    return true;
  }
  // A u32 length then that many bytes; `max_len` = 0 means only bounded by the section.
  std::string string(const std::string& what, uint32_t min_len, uint32_t max_len) {
    uint32_t len = u32(what + " length");
    if (len < min_len || (max_len && len > max_len))
      throw FormatError(src_ + ": " + what + " length is " + num(len) + ", expected " + num(min_len) + ".." +
                        num(max_len));
    return bytes(len, what);
  }

 private:
  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0;
  const std::string& src_;
};

MetaValue read_value(Cursor& c, const std::string& what, const std::string& src) {
  MetaValue v;
  uint32_t type = c.u32(what + " type");
  switch (type) {
    case 1: v.u32 = c.u32(what); break;
    case 2: v.i64 = int64_t(c.u64(what)); break;
    case 3: v.f32 = c.f32(what); break;
    case 4: v.f64 = c.f64(what); break;
    case 5: v.str = c.string(what, 0, 0); break;
    case 6: {
      uint32_t count = c.u32(what + " count");
      c.need(uint64_t(count) * 4, what + " (" + num(count) + " strings)");  // each needs >= 4 bytes
      v.str_array.reserve(count);
      for (uint32_t i = 0; i < count; ++i)  // a bad element is read again by string(), which names it
        if (!c.try_string(v.str_array)) v.str_array.push_back(c.string(what + "[" + num(i) + "]", 0, 0));
      break;
    }
    case 7: {
      uint32_t count = c.u32(what + " count");
      c.need(uint64_t(count) * 4, what + " (" + num(count) + " floats)");
      v.f32_array.resize(count);
      for (uint32_t i = 0; i < count; ++i) v.f32_array[i] = c.f32(what);
      break;
    }
    case 8: {
      uint32_t count = c.u32(what + " count");
      c.need(uint64_t(count) * 4, what + " (" + num(count) + " u32)");
      v.u32_array.resize(count);
      for (uint32_t i = 0; i < count; ++i) v.u32_array[i] = c.u32(what);
      break;
    }
    default:
      throw FormatError(src + ": " + what + " has unknown type code " + num(type) + ", expected 1..8");
  }
  v.type = MetaType(type);
  return v;
}

}  // namespace

size_t dtype_item_size(uint32_t dtype) {
  switch (dtype) {
    case 0: return 4;
    case 1: return 1;
    case 2: return 4;
    default: throw FormatError("unknown dtype code " + num(dtype) + ", expected 0 (F32), 1 (I8) or 2 (I32)");
  }
}

const char* meta_type_name(MetaType type) {
  static const char* names[] = {"?", "U32", "I64", "F32", "F64", "STR", "STR_ARRAY", "F32_ARRAY", "U32_ARRAY"};
  uint32_t t = uint32_t(type);
  return t <= 8 ? names[t] : "?";
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;  // overflow ruled out when the directory was read
  return n;
}

// ---- loading ----

ModelFile ModelFile::load(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(path + ": cannot open model file: " + std::strerror(errno));
  struct Closer { std::FILE* f; ~Closer() { std::fclose(f); } } closer{f};
  if (std::fseek(f, 0, SEEK_END) != 0) throw IoError(path + ": cannot seek");
  long end = std::ftell(f);
  if (end < 0) throw IoError(path + ": cannot tell file size");
  uint64_t size = uint64_t(end);
  std::rewind(f);
  uint8_t header[HEADER_SIZE] = {0};
  size_t got = std::fread(header, 1, size < HEADER_SIZE ? size_t(size) : size_t(HEADER_SIZE), f);
  if (got != (size < HEADER_SIZE ? size : HEADER_SIZE)) throw IoError(path + ": short read of the header");

  ModelFile m;
  m.source_ = path;
  Header hd = check_header(header, size, path);  // nothing allocated yet beyond the path
  if (size > uint64_t(std::numeric_limits<size_t>::max()) - 8) throw IoError(path + ": file too large");
  m.arena_.resize(size_t((size + 7) / 8));
  uint8_t* bytes = reinterpret_cast<uint8_t*>(m.arena_.data());
  std::memcpy(bytes, header, HEADER_SIZE);
  size_t rest = size_t(size - HEADER_SIZE);
  if (rest && std::fread(bytes + HEADER_SIZE, 1, rest, f) != rest)
    throw IoError(path + ": short read (file changed while loading?)");
  m.version_ = hd.version;
  m.n_kv_ = hd.n_kv;
  m.n_tensors_ = hd.n_tensors;
  m.meta_size_ = hd.meta_size;
  m.data_offset_ = hd.data_offset;
  m.data_size_ = hd.data_size;
  uint32_t meta_crc = crc32(bytes + HEADER_SIZE, size_t(hd.meta_size));
  if (meta_crc != hd.meta_crc)
    throw FormatError(path + ": metadata CRC mismatch (field 'meta_crc32'): stored " + num(hd.meta_crc) +
                      ", computed " + num(meta_crc) + "; the file is corrupt");
  m.parse_body();
  return m;
}

ModelFile ModelFile::from_bytes(const uint8_t* data, size_t size, const std::string& source) {
  uint8_t header[HEADER_SIZE] = {0};
  std::memcpy(header, data, size < HEADER_SIZE ? size : size_t(HEADER_SIZE));
  Header hd = check_header(header, size, source);
  uint32_t meta_crc = crc32(data + HEADER_SIZE, size_t(hd.meta_size));
  if (meta_crc != hd.meta_crc)
    throw FormatError(source + ": metadata CRC mismatch (field 'meta_crc32'): stored " + num(hd.meta_crc) +
                      ", computed " + num(meta_crc) + "; the file is corrupt");
  ModelFile m;
  m.source_ = source;
  m.version_ = hd.version;
  m.n_kv_ = hd.n_kv;
  m.n_tensors_ = hd.n_tensors;
  m.meta_size_ = hd.meta_size;
  m.data_offset_ = hd.data_offset;
  m.data_size_ = hd.data_size;
  m.arena_.resize((size + 7) / 8);
  std::memcpy(m.arena_.data(), data, size);
  m.parse_body();
  return m;
}

void ModelFile::parse_body() {
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(arena_.data());
  const std::string& src = source_;
  Cursor c(bytes + HEADER_SIZE, meta_size_, src);
  for (uint32_t i = 0; i < n_kv_; ++i) {
    std::string where = "metadata entry " + num(i);
    std::string key = c.string(where + " key", 1, MAX_NAME_LEN);
    if (meta_.count(key)) throw FormatError(src + ": duplicate metadata key '" + shown(key) + "'");
    MetaValue v = read_value(c, "metadata '" + shown(key) + "'", src);
    meta_order_.push_back(key);
    meta_.emplace(key, std::move(v));
  }
  for (uint32_t i = 0; i < n_tensors_; ++i) {
    std::string where = "tensor entry " + num(i);
    TensorInfo t;
    t.name = c.string(where + " name", 1, MAX_NAME_LEN);
    where = "tensor '" + shown(t.name) + "'";
    if (tensors_.count(t.name)) throw FormatError(src + ": duplicate tensor name '" + shown(t.name) + "'");
    uint32_t dtype = c.u32(where + " dtype");
    if (dtype > 2)
      throw FormatError(src + ": " + where + " has dtype code " + num(dtype) + ", expected 0 (F32), 1 (I8) or 2 (I32)");
    t.dtype = DType(dtype);
    uint32_t ndim = c.u32(where + " ndim");
    if (ndim < 1 || ndim > MAX_NDIM)
      throw FormatError(src + ": " + where + " has ndim " + num(ndim) + ", expected 1.." + num(MAX_NDIM));
    uint64_t elems = 1, nonzero = 1;
    bool overflow = false, huge = false;
    for (uint32_t k = 0; k < ndim; ++k) {
      uint64_t d = c.u64(where + " dims");
      t.dims.push_back(d);
      if (d != 0 && elems > std::numeric_limits<uint64_t>::max() / d) overflow = true;
      elems *= d;
      if (d != 0 && nonzero > MAX_NONZERO_ELEMS / d) huge = true;
      else if (d != 0) nonzero *= d;
    }
    t.offset = c.u64(where + " offset");
    t.nbytes = c.u64(where + " nbytes");
    t.crc32 = c.u32(where + " crc32");
    if (huge)  // an empty tensor with absurd dims: no array library can hold its shape
      throw FormatError(src + ": " + where + " dims hold more than 2^48 elements (zeros left out)");
    uint64_t item = dtype_item_size(dtype);
    if (overflow || elems > std::numeric_limits<uint64_t>::max() / item || elems * item != t.nbytes)
      throw FormatError(src + ": " + where + " nbytes is " + num(t.nbytes) + ", expected prod(dims) * " + num(item));
    if (t.offset % DATA_ALIGN != 0)
      throw FormatError(src + ": " + where + " offset " + num(t.offset) + " is not a multiple of " + num(DATA_ALIGN));
    if (t.offset > data_size_ || t.nbytes > data_size_ - t.offset)
      throw FormatError(src + ": " + where + " (offset " + num(t.offset) + ", " + num(t.nbytes) +
                        " bytes) runs past the data blob of " + num(data_size_) + " bytes");
    t.data = bytes + data_offset_ + t.offset;
    tensor_order_.push_back(t.name);
    tensors_.emplace(t.name, std::move(t));
  }
  if (c.left() != 0)
    throw FormatError(src + ": " + num(c.left()) + " unexplained bytes after the tensor directory (field 'meta_size')");
  for (const std::string& name : tensor_order_) {
    const TensorInfo& t = tensors_.at(name);
    uint32_t actual = crc32(t.data, size_t(t.nbytes));
    if (actual != t.crc32)
      throw FormatError(src + ": tensor '" + name + "' CRC mismatch: stored " + num(t.crc32) + ", computed " +
                        num(actual) + "; the file is corrupt");
  }
}

// ---- accessors ----

const MetaValue& ModelFile::meta(const std::string& key) const {
  auto it = meta_.find(key);
  if (it == meta_.end()) throw FormatError(source_ + ": missing metadata key '" + key + "'");
  return it->second;
}

namespace {
[[noreturn]] void wrong_type(const std::string& src, const std::string& key, const char* expected, MetaType got) {
  throw FormatError(src + ": metadata '" + key + "' is " + meta_type_name(got) + ", expected " + expected);
}
}  // namespace

uint32_t ModelFile::get_u32(const std::string& key) const {
  const MetaValue& v = meta(key);
  if (v.type == MetaType::U32) return v.u32;
  if (v.type == MetaType::I64 && v.i64 >= 0 && v.i64 <= int64_t(UINT32_MAX)) return uint32_t(v.i64);
  wrong_type(source_, key, "U32", v.type);
}

uint32_t ModelFile::get_u32_or(const std::string& key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : fallback;
}

double ModelFile::get_float(const std::string& key) const {
  const MetaValue& v = meta(key);
  if (v.type == MetaType::F32) return v.f32;
  if (v.type == MetaType::F64) return v.f64;
  wrong_type(source_, key, "F32", v.type);
}

const std::string& ModelFile::get_str(const std::string& key) const {
  const MetaValue& v = meta(key);
  if (v.type != MetaType::STR) wrong_type(source_, key, "STR", v.type);
  return v.str;
}

const std::vector<std::string>& ModelFile::get_str_array(const std::string& key) const {
  const MetaValue& v = meta(key);
  if (v.type != MetaType::STR_ARRAY) wrong_type(source_, key, "STR_ARRAY", v.type);
  return v.str_array;
}

const TensorInfo& ModelFile::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw FormatError(source_ + ": missing tensor '" + name + "'");
  return it->second;
}

}  // namespace safu
