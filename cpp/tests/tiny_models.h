// cpp/tests/tiny_models.h - small valid intent and lm model images with pseudo-random weights.
#pragma once

#include <string>
#include <vector>

#include "safu_writer.h"

namespace testing_safu {

inline std::vector<std::string> tiny_vocab() {
  return {"<pad>", "<sod>", "<frg>", "<eod>", "<unk>", "<num>", "turn", "on", "off", "the",
          "kitchen", "lights", "living", "room", "set", "to", "degrees", "play", "music"};
}

inline std::vector<float> table(Lcg& g, size_t rows, size_t cols, bool l1_rows) {
  std::vector<float> v(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    float s = 0.0f;
    for (size_t c = 0; c < cols; ++c) s += (v[r * cols + c] = l1_rows ? g.next() + 0.01f : 4.0f * g.next() - 2.0f);
    if (l1_rows)
      for (size_t c = 0; c < cols; ++c) v[r * cols + c] /= s;
  }
  return v;
}

// An intent model: N = 19, D = 4, max_tokens = 8, r = 1, B = 8, 3 intents, slots area/name.
inline std::vector<uint8_t> tiny_intent_model(uint64_t seed = 1) {
  Lcg g(seed);
  std::vector<std::string> vocab = tiny_vocab();
  uint64_t N = vocab.size(), D = 4, T = 8, r = 1, Ks = 2 * r + 1, Ki = T + 2, B = 8, C = 3, S = 5;
  Writer w;
  w.str("general.kind", "intent");
  w.strs("tokenizer.vocab", vocab);
  w.u32("tokenizer.max_tokens", uint32_t(T));
  w.u32("model.dim", uint32_t(D));
  w.u32("slot.radius", uint32_t(r));
  w.u32("intent.bigram_buckets", uint32_t(B));
  w.strs("intent.labels", {"HassTurnOn", "HassTurnOff", "HassMediaPlay"});
  w.strs("slot.labels", {"O", "B-area", "I-area", "B-name", "I-name"});
  w.strs("slot.synonyms", {"area\tliving room\tliving_room"});
  w.f32("intent.threshold", 0.2f);
  w.tensor("token_table", {N, D}, table(g, N, D, true));
  w.tensor("slot_W", {Ks, Ks}, table(g, Ks, Ks, false));
  w.tensor("slot_U", {Ks * D + N, S}, table(g, Ks * D + N, S, false));
  w.tensor("slot_b", {S}, table(g, 1, S, false));
  w.tensor("intent_W", {Ki, Ki}, table(g, Ki, Ki, false));
  w.tensor("intent_U", {N + B + 2 * D, C}, table(g, N + B + 2 * D, C, false));
  w.tensor("intent_b", {C}, table(g, 1, C, false));
  return w.build();
}

// An lm model: N = 19, b = 4, r = 3, G = 2, D_b = 5, D_r = 3, C_b = 4, C_r = 3.
inline std::vector<uint8_t> tiny_lm_model(uint64_t seed = 2) {
  Lcg g(seed);
  std::vector<std::string> vocab = tiny_vocab();
  uint64_t N = vocab.size(), b = 4, r = 3, G = 2, Db = 5, Dr = 3, Cb = 4, Cr = 3;
  Writer w;
  w.str("general.kind", "lm");
  w.strs("tokenizer.vocab", vocab);
  w.u32("tokenizer.max_tokens", 0);
  w.u32("lm.block_size", uint32_t(b));
  w.u32("lm.radius", uint32_t(r));
  w.u32("lm.doc_groups", uint32_t(G));
  w.str("lm.block_mode", "sum");
  w.str("lm.radial_mode", "cat");
  w.tensor("block.table", {N, Db}, table(g, N, Db, true));
  w.tensor("block.W", {b, b}, table(g, b, b, false));
  w.tensor("block.U", {Db, Cb}, table(g, Db, Cb, false));
  w.tensor("radial.table", {N, Dr}, table(g, N, Dr, true));
  w.tensor("radial.W", {r, r}, table(g, r, r, false));
  w.tensor("radial.U", {r * Dr, Cr}, table(g, r * Dr, Cr, false));
  w.tensor("doc.U", {Db, G}, table(g, Db, G, false));
  w.tensor("final.U", {Cb + Cr + G, N}, table(g, Cb + Cr + G, N, false));
  w.tensor("final.b", {N}, table(g, 1, N, false));
  return w.build();
}

}  // namespace testing_safu
