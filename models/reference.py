"""The numpy reference of the intent model's forward pass, one utterance at a time, float32.

    ref = IntentReference(read_model_file("m.safu"))
    p_intent, p_slot = ref.forward(np.array([7, 12, 3]))

This is docs/intent_model.md written as code, line for line; the C++ core (cpp/src/intent_model.cpp),
the ONNX export and the C export are checked against it. No batching, no caching: clarity first.
"""
from __future__ import annotations

import numpy as np

from safu.models.safu_unit import log_softmax, softmax   # float32 in, float32 out (weights are float32)
from safu.models.tokenizer import EOD, PAD, SOD

BIGRAM_PRIME = 1000003   # bigram bucket = (a * BIGRAM_PRIME + b) mod B; the one definition (docs/intent_model.md)


class IntentReference:
    """Forward pass of a kind-`intent` model file."""

    def __init__(self, model_file, layout=None):
        """Checks the file first (export/intent_check.py, the C++ core's checks and wording): a bad
        file raises IntentModelError before any array is sized from its metadata."""
        from safu.export.intent_check import check_intent_model

        if layout is None:
            layout = check_intent_model(model_file)
        w = layout.weights
        self.R = w["token_table"]            # (N, D)
        self.slot_W = w["slot_W"]            # (K_s, K_s)
        self.slot_U = w["slot_U"]            # (K_s*D + N, S)
        self.slot_b = w["slot_b"]            # (S,)
        self.intent_W = w["intent_W"]        # (K_i, K_i)
        self.intent_U = w["intent_U"]        # (N + B + 2D, C)
        self.intent_b = w["intent_b"]        # (C,)
        self.radius = layout.radius
        self.buckets = layout.buckets
        self.N, self.D = self.R.shape

    def forward(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (p_intent (C,), p_slot (n, S)) for token ids (n,) without <sod>/<eod>.

        Raises ModelFormatError, as the C++ core does, if finite weights overflow float32 on
        this input (the probabilities would be NaN)."""
        with np.errstate(over="ignore", invalid="ignore"):
            p_intent, p_slot = self._forward(ids)
        if not (np.isfinite(p_intent).all() and np.isfinite(p_slot).all()):
            from safu.export.model_file import ModelFormatError

            raise ModelFormatError("forward: non-finite probabilities (the model's weights overflow float32 "
                                   "on this input)")
        return p_intent, p_slot

    def intent_features(self, ids: np.ndarray) -> np.ndarray:
        """The intent layer's input H = [f_bow, f_big, f_row, f_att] (N + B + 2D,) for token ids (n,)
        without <sod>/<eod>: p_intent = softmax(H @ intent_U + intent_b)."""
        return self._intent_features(np.concatenate([[SOD], np.asarray(ids, dtype=np.int64), [EOD]]))

    def _intent_features(self, seq: np.ndarray) -> np.ndarray:
        R, N, B = self.R, self.N, self.buckets
        L = len(seq)
        f_bow = np.zeros(N, np.float32)
        for t in seq:
            f_bow[t] += np.float32(1.0 / L)
        f_big = np.zeros(B, np.float32)
        for j in range(L - 1 if B > 0 else 0):
            f_big[(int(seq[j]) * BIGRAM_PRIME + int(seq[j + 1])) % B] += np.float32(1.0 / (L - 1))
        X = R[seq]                                            # (L, D)
        f_row = X.mean(axis=0, dtype=np.float32)
        q = X @ X[0]                                          # (L,) comparisons with the <sod> head
        z = q @ self.intent_W[:L, :L]                         # (L,)
        a = -log_softmax(z)
        f_att = (a @ X) / np.sum(a)
        return np.concatenate([f_bow, f_big, f_row, f_att]).astype(np.float32)

    def _forward(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        R, D = self.R, self.D
        seq = np.concatenate([[SOD], np.asarray(ids, dtype=np.int64), [EOD]])
        L = len(seq)
        H = self._intent_features(seq)
        p_intent = softmax(H @ self.intent_U + self.intent_b)

        # Slots, one window per real token.
        r, K = self.radius, 2 * self.radius + 1
        p_slot = np.zeros((L - 2, self.slot_U.shape[1]), np.float32)
        for j in range(1, L - 1):
            w = [seq[i] if 0 <= i < L else PAD for i in range(j - r, j + r + 1)]
            Xw = R[w]                                         # (K, D)
            q = Xw @ Xw[r]
            a = -log_softmax(q @ self.slot_W)
            h = (a[:, None] * Xw).reshape(-1)
            logits = h @ self.slot_U[:K * D] + self.slot_U[K * D + seq[j]] + self.slot_b
            p_slot[j - 1] = softmax(logits)
        return p_intent, p_slot
