"""Streaming numpy reference of the LM (docs/lm_model.md, "Streaming"): constant cost per token.

    state = LMStream(model)          # starts a document (<sod> consumed)
    lp = state.logprobs()            # (N,) float32 log-probabilities of the next token
    state.feed(token_id)             # O(D_b + b): one new comparison, cached; earlier ones never redone

The C++ core implements the same state; tests check both against LMModel.all_logprobs (batch).
"""
from __future__ import annotations

import numpy as np

from .lm import LMModel
from .safu_unit import log_softmax
from .sampler import SplitMix64, pick
from .tokenizer import EOD, FRG, PAD, SOD


class LMStream:
    def __init__(self, model: LMModel):
        self.m = model
        self.b, self.r = model.config.block_size, model.config.radius
        self.W_tail = model.block_W[1:].sum(axis=0)  # per-model constant: the block's all-<pad> tail
        self.reset()

    def reset(self) -> None:
        """Start a document: s_0 = <sod> consumed."""
        self.i = 1
        self._start_block(SOD)
        self.ring = [PAD] * (self.r - 1) + [SOD]
        self.doc_sum = self.m.block_table[SOD].astype(np.float64).copy()

    def _start_block(self, head: int) -> None:
        Rb, W = self.m.block_table, self.m.block_W
        self.block = [head]                               # ids in slots 0..n_used-1
        self.q_pad = np.float32(Rb[PAD] @ Rb[head])
        q0 = np.float32(Rb[head] @ Rb[head])
        self.q = [q0]                                     # cached comparisons with the head
        self.z = (q0 * W[0] + self.q_pad * self.W_tail).astype(np.float32)

    def feed(self, t: int) -> None:
        """Consume token id t; <eod> ends the document and resets the state."""
        if t == EOD:
            self.reset()
            return
        if not 0 <= t < len(self.m.vocab) or t in (PAD, SOD, FRG):
            raise ValueError(f"cannot feed id {t}: expected a token id in 3..{len(self.m.vocab) - 1}")
        Rb = self.m.block_table
        if len(self.block) == self.b:                     # block holds b - 1 tokens: t starts a new one
            self._start_block(FRG)
        else:
            l = len(self.block)
            ql = np.float32(Rb[t] @ Rb[self.block[0]])
            self.block.append(t)
            self.q.append(ql)
            self.z = (self.z + (ql - self.q_pad) * self.m.block_W[l]).astype(np.float32)
        self.ring = self.ring[1:] + [t]
        self.doc_sum += Rb[t]
        self.i += 1

    def logprobs(self) -> np.ndarray:
        """(N,) float32 log-probabilities of the next token (O(b*D_b + r*D_r + C*N))."""
        m = self.m
        Rb, Rr = m.block_table, m.radial_table
        a = -log_softmax(self.z[None])[0]
        n_used = len(self.block)
        Hb = a[:n_used] @ Rb[self.block] + a[n_used:].sum() * Rb[PAD]
        pb = np.exp(log_softmax((Hb @ m.block_U)[None]))[0]
        X = Rr[self.ring]                                 # (r, D_r)
        zr = (X @ X[-1]) @ m.radial_W
        ar = -log_softmax(zr[None])[0]
        pr = np.exp(log_softmax(((ar[:, None] * X).reshape(-1) @ m.radial_U)[None]))[0]
        parts = [pb, pr]
        if m.doc_U is not None:
            mean = (self.doc_sum / self.i).astype(np.float32)
            parts.append(np.exp(log_softmax((mean @ m.doc_U)[None]))[0])
        return log_softmax((np.concatenate(parts) @ m.final_U + m.final_b)[None])[0]


def generate(model: LMModel, prompt_ids, max_tokens: int = 50, temperature: float = 1.0, top_k: int = 0,
             seed: int = 0, greedy: bool = False, state=None) -> list[int]:
    """Generated ids (docs/lm_model.md, "Generation"): reset, feed the prompt, pick until <eod>.

    state: a fresh streaming state with feed(id) and logprobs(); default the numpy LMStream, or the
    C++ core's `safu._core.LmModel(path).stream()` (same tokens for the same seed, tested).
    """
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
    state = LMStream(model) if state is None else state
    rng, out = SplitMix64(seed), []
    for t in prompt_ids:
        state.feed(int(t))
    while len(out) < max_tokens:
        t = pick(state.logprobs(), rng, temperature, top_k, greedy)
        if t == EOD:
            break
        out.append(t)
        state.feed(t)
    return out
