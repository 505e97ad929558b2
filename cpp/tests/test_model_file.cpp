// cpp/tests/test_model_file.cpp - the reader accepts valid files and rejects each failure mode
// of docs/format.md with a message naming the field.
#include <cstdio>

#include "check.h"
#include "safu/crc32.h"
#include "safu/errors.h"
#include "safu/model_file.h"
#include "tiny_models.h"

using safu::FormatError;
using safu::ModelFile;
using testing_safu::Writer;

static std::vector<uint8_t> valid() { return testing_safu::tiny_intent_model(); }
static ModelFile parse(const std::vector<uint8_t>& b) { return ModelFile::from_bytes(b.data(), b.size()); }

TEST(crc32_matches_zlib_at_every_length_and_in_pieces) {
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  CHECK(safu::crc32(digits, 9) == 0xCBF43926u);  // the standard check value
  // Byte-at-a-time reference over lengths around the 8-byte steps, and split runs continuing a CRC.
  std::vector<uint8_t> data(67);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 37 + 11);
  for (size_t n = 0; n <= data.size(); ++n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) {
      c ^= data[i];
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    }
    uint32_t want = c ^ 0xFFFFFFFFu;
    CHECK(safu::crc32(data.data(), n) == want);
    CHECK(safu::crc32(data.data() + n / 3, n - n / 3, safu::crc32(data.data(), n / 3)) == want);
  }
}

TEST(reads_valid_file) {
  ModelFile f = parse(valid());
  CHECK(f.version() == 1);
  CHECK(f.get_str("general.kind") == "intent");
  CHECK(f.get_u32("model.dim") == 4);
  CHECK(f.get_str_array("tokenizer.vocab").size() == 19);
  CHECK_NEAR(f.get_float("intent.threshold"), 0.2, 1e-7);
  const safu::TensorInfo& t = f.tensor("token_table");
  CHECK(t.dims.size() == 2 && t.dims[0] == 19 && t.dims[1] == 4);
  CHECK(reinterpret_cast<uintptr_t>(t.data) % 4 == 0);
  CHECK(f.tensor_names().size() == 7);
  CHECK_THROWS(FormatError, "missing metadata key 'nope'", f.get_u32("nope"));
  CHECK_THROWS(FormatError, "expected U32", f.get_u32("general.kind"));
  CHECK_THROWS(FormatError, "missing tensor", f.tensor("nope"));
}

TEST(load_from_disk_and_missing_file) {
  std::vector<uint8_t> b = valid();
  const char* path = "test_model_file_tmp.safu";
  std::FILE* fp = std::fopen(path, "wb");
  std::fwrite(b.data(), 1, b.size(), fp);
  std::fclose(fp);
  ModelFile f = ModelFile::load(path);
  CHECK(f.get_str("general.kind") == "intent");
  std::remove(path);
  CHECK_THROWS(safu::IoError, "cannot open", ModelFile::load("/nonexistent/dir/m.safu"));
}

TEST(rejects_short_file) {
  std::vector<uint8_t> b = valid();
  b.resize(20);
  CHECK_THROWS(FormatError, "at least 48", parse(b));
  CHECK_THROWS(FormatError, "at least 48", ModelFile::from_bytes(b.data(), 0));
}

TEST(rejects_bad_magic) {
  std::vector<uint8_t> b = valid();
  b[0] = 'G';
  CHECK_THROWS(FormatError, "bad magic", parse(b));
}

TEST(rejects_versions) {
  std::vector<uint8_t> b = valid();
  b[4] = 2;
  Writer::fix_header_crc(b);
  CHECK_THROWS(FormatError, "file is v2, this build supports <= v1", parse(b));
  b[4] = 0;
  Writer::fix_header_crc(b);
  CHECK_THROWS(FormatError, "unsupported old version 0", parse(b));
}

TEST(rejects_bad_header_crc) {
  std::vector<uint8_t> b = valid();
  b[8] ^= 1;  // n_kv changed, CRC not updated
  CHECK_THROWS(FormatError, "header CRC mismatch", parse(b));
}

TEST(rejects_huge_counts) {
  std::vector<uint8_t> b = valid();
  b[8] = 0xFF; b[9] = 0xFF; b[10] = 0xFF; b[11] = 0x7F;  // n_kv = 2^31 - 1
  Writer::fix_header_crc(b);
  CHECK_THROWS(FormatError, "field 'n_kv'", parse(b));
  b = valid();
  b[12] = 0x01; b[13] = 0x10;  // n_tensors = 4097
  Writer::fix_header_crc(b);
  CHECK_THROWS(FormatError, "field 'n_tensors'", parse(b));
  b = valid();
  for (int i = 16; i < 24; ++i) b[i] = 0xFF;  // meta_size = 2^64 - 1
  Writer::fix_header_crc(b);
  CHECK_THROWS(FormatError, "meta_size", parse(b));
}

TEST(rejects_truncated_and_padded) {
  std::vector<uint8_t> b = valid();
  std::vector<uint8_t> t(b.begin(), b.end() - 10);
  CHECK_THROWS(FormatError, "truncated", parse(t));
  b.push_back(0);
  CHECK_THROWS(FormatError, "truncated or padded", parse(b));
}

TEST(rejects_misaligned_data_offset) {
  std::vector<uint8_t> b = valid();
  b[24] += 1;
  Writer::fix_header_crc(b);
  CHECK_THROWS(FormatError, "multiple of 64", parse(b));
}

TEST(rejects_bad_metadata_crc) {
  std::vector<uint8_t> b = valid();
  b[60] ^= 0x40;
  CHECK_THROWS(FormatError, "metadata CRC mismatch", parse(b));
}

TEST(rejects_bad_tensor_crc) {
  std::vector<uint8_t> b = valid();
  // intent_b is the last tensor: 12 bytes padded to 64, so it starts 64 bytes before the end.
  b[b.size() - 64] ^= 0x01;
  CHECK_THROWS(FormatError, "tensor 'intent_b' CRC mismatch", parse(b));
}

TEST(rejects_bad_entries) {
  Writer w;
  w.u32("a", 1);
  w.u32("a", 2);
  std::vector<uint8_t> b = w.build();
  CHECK_THROWS(FormatError, "duplicate metadata key 'a'", parse(b));

  Writer w2;
  w2.raw_tensor("x", 7, {2}, {0, 0, 0, 0, 0, 0, 0, 0});
  CHECK_THROWS(FormatError, "dtype code 7", parse(w2.build()));

  Writer w3;
  w3.raw_tensor("x", 0, {3}, {0, 0, 0, 0, 0, 0, 0, 0});  // 3 floats need 12 bytes, not 8
  CHECK_THROWS(FormatError, "nbytes is 8", parse(w3.build()));

  Writer w4;
  w4.raw_tensor("x", 0, {1ull << 62, 1ull << 62}, {0, 0, 0, 0});  // the product overflows 64 bits
  CHECK_THROWS(FormatError, "more than 2^48 elements", parse(w4.build()));  // refused before its nbytes are compared

  Writer w5;
  w5.str("bad", std::string("\xff\xfe", 2));
  CHECK_THROWS(FormatError, "not valid UTF-8", parse(w5.build()));
}

int main() { return check::run_tests(); }
