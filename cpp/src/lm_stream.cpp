// cpp/src/lm_stream.cpp - kind-`lm` model loading and constant-cost streaming scoring.
#include "safu/lm_stream.h"

#include <algorithm>

#include "safu/errors.h"
#include "softmax.h"
#include "tensor_load.h"

namespace safu {
namespace {

float dot(const float* x, const float* y, size_t n) {
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// out (C) = x (D) @ U (D, C)
void vec_mat(const float* x, const float* U, size_t D, size_t C, float* out) {
  for (size_t c = 0; c < C; ++c) out[c] = 0.0f;
  for (size_t d = 0; d < D; ++d) {
    float xd = x[d];
    const float* u = U + d * C;
    for (size_t c = 0; c < C; ++c) out[c] += xd * u[c];
  }
}

}  // namespace

LmModel LmModel::load(const std::string& path) { return LmModel(ModelFile::load(path)); }

LmModel::LmModel(const ModelFile& f) {
  const std::string& src = f.source();
  const std::string& kind = f.get_str("general.kind");
  if (kind != "lm") throw FormatError(src + ": general.kind is '" + kind + "', expected 'lm'");
  vocab_ = Vocabulary(f.get_str_array("tokenizer.vocab"));
  N_ = vocab_.size();
  b_ = f.get_u32("lm.block_size");
  r_ = f.get_u32("lm.radius");
  G_ = f.get_u32_or("lm.doc_groups", 0);
  if (b_ < 2 || b_ > 65536) throw ShapeError(src + ": lm.block_size is " + std::to_string(b_) + ", expected 2..65536");
  if (r_ < 1 || r_ > 4096) throw ShapeError(src + ": lm.radius is " + std::to_string(r_) + ", expected 1..4096");
  if (f.has("lm.block_mode") && f.get_str("lm.block_mode") != "sum")
    throw FormatError(src + ": lm.block_mode is '" + f.get_str("lm.block_mode") + "', this build supports 'sum'");
  if (f.has("lm.radial_mode") && f.get_str("lm.radial_mode") != "cat")
    throw FormatError(src + ": lm.radial_mode is '" + f.get_str("lm.radial_mode") + "', this build supports 'cat'");
  // Widths come from the tensors; each is then checked against the others.
  const TensorInfo& tb = f.tensor("block.table");
  const TensorInfo& tr = f.tensor("radial.table");
  const TensorInfo& ub = f.tensor("block.U");
  const TensorInfo& ur = f.tensor("radial.U");
  if (tb.dims.size() != 2 || tr.dims.size() != 2 || ub.dims.size() != 2 || ur.dims.size() != 2)
    throw ShapeError(src + ": block.table, radial.table, block.U and radial.U must be 2-D");
  Db_ = size_t(tb.dims[1]);
  Dr_ = size_t(tr.dims[1]);
  Cb_ = size_t(ub.dims[1]);
  Cr_ = size_t(ur.dims[1]);
  F_ = Cb_ + Cr_ + G_;
  uint64_t N = N_, b = b_, r = r_, G = G_, Db = Db_, Dr = Dr_, Cb = Cb_, Cr = Cr_, F = F_;
  Rb_ = load_f32(f, "block.table", {N, Db}, false);
  bW_ = load_f32(f, "block.W", {b, b}, false);
  bU_ = load_f32(f, "block.U", {Db, Cb}, false);
  Rr_ = load_f32(f, "radial.table", {N, Dr}, false);
  rW_ = load_f32(f, "radial.W", {r, r}, false);
  rU_ = load_f32(f, "radial.U", {r * Dr, Cr}, false);
  if (G_ > 0) dU_ = load_f32(f, "doc.U", {Db, G}, false);
  fU_ = load_f32(f, "final.U", {F, N}, false);
  fb_ = load_f32(f, "final.b", {N}, false);
  bW_tail_.assign(b_, 0.0f);
  for (size_t l = 1; l < b_; ++l)
    for (size_t c = 0; c < b_; ++c) bW_tail_[c] += bW_[l * b_ + c];
}

size_t LmModel::memory_bytes() const {
  return (Rb_.size() + bW_.size() + bW_tail_.size() + bU_.size() + Rr_.size() + rW_.size() + rU_.size() +
          dU_.size() + fU_.size() + fb_.size()) * sizeof(float);
}

// ---- streaming ----

LmStream::LmStream(const LmModel& m)
    : m_(m), block_(m.b_), q_(m.b_), z_(m.b_), ring_(m.r_), doc_sum_(m.Db_), a_(m.b_), h_(m.Db_),
      hr_(m.r_ * m.Dr_), qr_(m.r_), zr_(m.r_), ar_(m.r_), feat_(m.F_ + std::max(m.Cb_, std::max(m.Cr_, m.G_))),
      logp_(m.N_) {
  reset();
}

void LmStream::start_block(int32_t head) {
  const size_t b = m_.b_, D = m_.Db_;
  head_ = head;
  n_block_ = 0;
  block_[0] = head;
  const float* rh = &m_.Rb_[size_t(head) * D];
  q_pad_ = dot(&m_.Rb_[PAD * D], rh, D);
  q_[0] = dot(rh, rh, D);
  for (size_t l = 1; l < b; ++l) { q_[l] = q_pad_; block_[l] = PAD; }
  for (size_t c = 0; c < b; ++c) z_[c] = q_[0] * m_.bW_[c] + q_pad_ * m_.bW_tail_[c];
}

void LmStream::reset() {
  i_ = 1;
  start_block(SOD);
  std::fill(ring_.begin(), ring_.end(), int32_t(PAD));
  ring_pos_ = 0;  // ring_[ring_pos_] is the oldest
  ring_[m_.r_ - 1] = SOD;
  const float* rs = &m_.Rb_[size_t(SOD) * m_.Db_];
  for (size_t d = 0; d < m_.Db_; ++d) doc_sum_[d] = rs[d];
}

void LmStream::feed(int32_t t) {
  if (t < 0 || size_t(t) >= m_.N_ || t == PAD || t == SOD || t == FRG)
    throw ShapeError("LmStream::feed: cannot feed id " + std::to_string(t) + ": expected a token id in 3.." +
                     std::to_string(m_.N_ - 1) + " (<pad>, <sod>, <frg> are never fed)");
  if (t == EOD) { reset(); return; }
  const size_t b = m_.b_, D = m_.Db_;
  if (n_block_ == b - 1) {
    start_block(FRG);  // t is not a feature of any block; the radial SAFU covers it
  } else {
    size_t l = ++n_block_;
    block_[l] = t;
    q_[l] = dot(&m_.Rb_[size_t(t) * D], &m_.Rb_[size_t(head_) * D], D);  // computed once, cached
    float dq = q_[l] - q_pad_;
    const float* w = &m_.bW_[l * b];
    for (size_t c = 0; c < b; ++c) z_[c] += dq * w[c];
  }
  ring_[ring_pos_] = t;  // overwrite the oldest
  ring_pos_ = (ring_pos_ + 1) % m_.r_;
  const float* rt = &m_.Rb_[size_t(t) * D];
  for (size_t d = 0; d < D; ++d) doc_sum_[d] += rt[d];
  ++i_;
}

const float* LmStream::logprobs() {
  const size_t b = m_.b_, Db = m_.Db_, Dr = m_.Dr_, r = m_.r_, N = m_.N_;
  float* feat = feat_.data();
  // Block SAFU: a = -log_softmax(z); H_b = sum_l a_l Rb[B_l]; p_b = softmax(H_b @ block.U).
  neg_log_softmax(z_.data(), b, a_.data());
  std::fill(h_.begin(), h_.end(), 0.0f);
  float a_pad = 0.0f;
  for (size_t l = 0; l < b; ++l) {
    if (l > n_block_) { a_pad += a_[l]; continue; }  // all padding rows share one row
    const float* row = &m_.Rb_[size_t(block_[l]) * Db];
    for (size_t d = 0; d < Db; ++d) h_[d] += a_[l] * row[d];
  }
  if (a_pad != 0.0f) {
    const float* row = &m_.Rb_[PAD * Db];
    for (size_t d = 0; d < Db; ++d) h_[d] += a_pad * row[d];
  }
  vec_mat(h_.data(), m_.bU_.data(), Db, m_.Cb_, feat);
  softmax_inplace(feat, m_.Cb_);
  // Radial SAFU: slots S_0..S_{r-1} oldest first, head = the most recent.
  auto slot = [&](size_t l) { return ring_[(ring_pos_ + l) % r]; };
  const float* rh = &m_.Rr_[size_t(slot(r - 1)) * Dr];
  for (size_t l = 0; l < r; ++l) qr_[l] = dot(&m_.Rr_[size_t(slot(l)) * Dr], rh, Dr);
  for (size_t c = 0; c < r; ++c) {
    float s = 0.0f;
    for (size_t l = 0; l < r; ++l) s += qr_[l] * m_.rW_[l * r + c];
    zr_[c] = s;
  }
  neg_log_softmax(zr_.data(), r, ar_.data());
  for (size_t l = 0; l < r; ++l) {
    const float* row = &m_.Rr_[size_t(slot(l)) * Dr];
    for (size_t d = 0; d < Dr; ++d) hr_[l * Dr + d] = ar_[l] * row[d];
  }
  float* pr = feat + m_.Cb_;
  vec_mat(hr_.data(), m_.rU_.data(), r * Dr, m_.Cr_, pr);
  softmax_inplace(pr, m_.Cr_);
  // Document model: running mean of Rb rows.
  if (m_.G_ > 0) {
    for (size_t d = 0; d < Db; ++d) h_[d] = float(doc_sum_[d] / double(i_));
    float* pd = feat + m_.Cb_ + m_.Cr_;
    vec_mat(h_.data(), m_.dU_.data(), Db, m_.G_, pd);
    softmax_inplace(pd, m_.G_);
  }
  // Final layer.
  vec_mat(feat, m_.fU_.data(), m_.F_, N, logp_.data());
  for (size_t t = 0; t < N; ++t) logp_[t] += m_.fb_[t];
  neg_log_softmax(logp_.data(), N, logp_.data());
  for (size_t t = 0; t < N; ++t) logp_[t] = -logp_[t];
  return logp_.data();
}

}  // namespace safu
