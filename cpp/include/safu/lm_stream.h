// cpp/include/safu/lm_stream.h - the language model (kind `lm`, docs/lm_model.md) scored one
// token at a time at a constant cost per token (docs/method.md section 5).
//
//   safu::LmModel lm = safu::LmModel::load("shakespeare.safu");
//   safu::LmStream s(lm);            // one per thread / per stream; starts a document
//   s.feed(id);                      // O(D_b + b): one new cached comparison, partial sums updated
//   const float* logp = s.logprobs();  // (N,) log-probabilities of the next target
//
// State (docs/lm_model.md "Streaming"): the current block's comparisons with its head q and the
// partial attention logits z, a ring buffer of the last r ids, the running sum of block rows.
// Nothing in the state grows with the stream, so time per token is flat in the stream length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "safu/model_file.h"
#include "safu/tokenizer.h"

namespace safu {

class LmModel {
 public:
  // Loads and validates a kind-`lm` file. Throws IoError, FormatError or ShapeError.
  static LmModel load(const std::string& path);
  explicit LmModel(const ModelFile& file);

  size_t vocab_size() const { return N_; }
  size_t block_size() const { return b_; }
  size_t radius() const { return r_; }
  size_t doc_groups() const { return G_; }
  const Vocabulary& vocabulary() const { return vocab_; }
  size_t memory_bytes() const;

 private:
  friend class LmStream;
  size_t N_ = 0, b_ = 0, r_ = 0, G_ = 0, Db_ = 0, Dr_ = 0, Cb_ = 0, Cr_ = 0, F_ = 0;
  Vocabulary vocab_;
  std::vector<float> Rb_;        // (N, D_b)  block.table
  std::vector<float> bW_;        // (b, b)    block.W
  std::vector<float> bW_tail_;   // (b,)      sum_{l>=1} block.W[l, :] (fresh block partial sums)
  std::vector<float> bU_;        // (D_b, C_b)
  std::vector<float> Rr_;        // (N, D_r)  radial.table
  std::vector<float> rW_;        // (r, r)
  std::vector<float> rU_;        // (r*D_r, C_r)
  std::vector<float> dU_;        // (D_b, G)
  std::vector<float> fU_;        // (C_b + C_r + G, N) final.U
  std::vector<float> fb_;        // (N,)
};

class LmStream {
 public:
  explicit LmStream(const LmModel& model);

  // Starts a new document (consumes <sod>).
  void reset();
  // Consumes token t (<eod> ends the document and resets). Throws ShapeError if t is outside
  // [3, N) (<pad>, <sod>, <frg> are never fed).
  void feed(int32_t t);
  // Log-probabilities (N) of the next target given everything fed since reset(). Valid until the
  // next feed/reset.
  const float* logprobs();
  // Number of tokens consumed in this document, <sod> included (the spec's i).
  size_t position() const { return i_; }

 private:
  void start_block(int32_t head);

  const LmModel& m_;
  size_t i_ = 0;                 // tokens consumed (s_0 .. s_{i-1})
  int32_t head_ = SOD;           // B_0 of the current block
  size_t n_block_ = 0;           // tokens stored in the current block (0..b-1)
  std::vector<int32_t> block_;   // (b,) ids in the block, B_0 first
  float q_pad_ = 0.0f;           // Rb[<pad>] . Rb[B_0]
  std::vector<float> q_, z_;     // (b,) cached comparisons and partial logits
  std::vector<int32_t> ring_;    // (r,) last r ids, oldest first at ring_pos_
  size_t ring_pos_ = 0;
  std::vector<double> doc_sum_;  // (D_b,) running sum of Rb rows
  // scratch
  std::vector<float> a_, h_, hr_, qr_, zr_, ar_, feat_, logp_;
};

}  // namespace safu
