"""The discriminative fit of the intent layer, warm-started from the explicit solution.

    U, b, report = fit_logistic_head(parts, y, U_explicit, weights=w)

The explicit layer (solver.explicit_fit) scores every feature as independent evidence, as naive
Bayes does: one cue word outweighs the rest of the sentence. This fit keeps the same features and
the same forward pass (docs/intent_model.md: logits = H @ intent_U + intent_b) and only changes the
numbers in intent_U / intent_b: multinomial logistic regression with an L2 penalty, solved by
L-BFGS (scipy), started from the explicit layer.

Warm start: adding a constant to a feature's row of U changes no prediction (the bag-of-words and
bigram features each sum to one per sentence; for the dense rows the constant goes to the bias),
so the explicit U is centred per row and scaled by the one factor that minimises the training
log-loss; that start already predicts what the explicit layer predicts, and L-BFGS needs a third of
the iterations a cold start needs for the same held-out accuracy (CLINC150 val: 0.903 after 40
iterations warm, 0.905 after 100 cold). The iteration count is chosen on the held-out split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse as sparse

from safu.models.safu_unit import log_softmax


@dataclass
class HeadFeatures:
    """The intent layer's input H for M sentences: sparse [bag of words, bigrams] and dense [f_row, f_att]."""

    sparse: sparse.csr_matrix   # (M, N + B)
    dense: np.ndarray           # (M, 2D)

    def logits(self, U: np.ndarray, b: np.ndarray) -> np.ndarray:
        n_sparse = self.sparse.shape[1]
        return self.sparse @ U[:n_sparse] + self.dense @ U[n_sparse:] + b


def head_features(batch, f_row: np.ndarray, f_att: np.ndarray, vocab_size: int, buckets: int) -> HeadFeatures:
    """H of docs/intent_model.md (steps 1-4) for a feat.Batch, as one sparse and one dense block."""
    from safu.models.features import bigram_bucket

    M = len(batch)
    rows, cols = np.nonzero(batch.mask)
    data = [(1.0 / batch.L)[rows]]
    row_ids, col_ids = [rows], [batch.S[rows, cols]]
    if buckets:
        big = bigram_bucket(batch.S[:, :-1], batch.S[:, 1:], buckets)
        r2, c2 = np.nonzero(batch.mask[:, 1:])
        data.append((1.0 / (batch.L - 1))[r2])
        row_ids.append(r2)
        col_ids.append(vocab_size + big[r2, c2])
    H = sparse.csr_matrix((np.concatenate(data), (np.concatenate(row_ids), np.concatenate(col_ids))),
                          shape=(M, vocab_size + buckets))  # duplicates (a word twice) are summed
    return HeadFeatures(H, np.concatenate([f_row, f_att], axis=1))


def warm_start(H: HeadFeatures, y: np.ndarray, U: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The explicit layer as a starting point: rows centred, one scale chosen on the training log-loss."""
    Uc = U - U.mean(axis=1, keepdims=True)
    Z = H.logits(Uc, np.zeros(U.shape[1]))
    best = None
    for scale in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0):
        loss = -float((weights * log_softmax(scale * Z)[np.arange(len(y)), y]).sum() / weights.sum())
        if best is None or loss < best[0]:
            best = (loss, scale)
    return best[1] * Uc, np.zeros(U.shape[1])


def fit_logistic_head(H: HeadFeatures, y: np.ndarray, U0: np.ndarray, b0: np.ndarray, l2: float,
                      iterations: int, weights: np.ndarray | None = None,
                      checkpoints: tuple[int, ...] = (),
                      dense_scale: np.ndarray | None = None,
                      stop=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """L-BFGS on the weighted mean log-loss + l2/2 ||U||^2 from (U0, b0); returns (U, b, {iteration: (U, b)}).

    `checkpoints`: iteration numbers at which a copy of the solution is kept (to choose the
    iteration count on held-out data from one run); `stop(kept)`, called after each checkpoint, ends
    the run early when it returns True (held-out loss no longer falling). `dense_scale` (2D,): the dense columns are
    fitted multiplied by it (a weaker penalty on their rows) and the scale is folded back into U."""
    M, C = len(y), U0.shape[1]
    w = np.ones(M) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    X, XT = H.sparse, H.sparse.T.tocsr()
    n_sparse = X.shape[1]
    shape = U0.shape
    ds = np.ones(H.dense.shape[1]) if dense_scale is None else np.asarray(dense_scale, dtype=np.float64)
    Xd = H.dense * ds
    U0 = U0.copy()
    U0[n_sparse:] /= ds[:, None]

    def objective(theta):
        U, b = theta[:-C].reshape(shape), theta[-C:]
        Z = X @ U[:n_sparse] + Xd @ U[n_sparse:] + b
        lp = log_softmax(Z)
        loss = -float(w @ lp[np.arange(M), y]) + 0.5 * l2 * float((U * U).sum())
        G = np.exp(lp)
        G[np.arange(M), y] -= 1.0
        G *= w[:, None]
        gU = np.concatenate([XT @ G, Xd.T @ G]) + l2 * U
        return loss, np.concatenate([gU.ravel(), G.sum(axis=0)])

    def unscale(theta):
        U = theta[:-C].reshape(shape).copy()
        U[n_sparse:] *= ds[:, None]
        return U, theta[-C:].copy()

    kept: dict = {}
    count = [0]

    def callback(theta):
        count[0] += 1
        if count[0] in checkpoints:
            kept[count[0]] = unscale(theta)
            if stop is not None and stop(kept):
                raise StopIteration  # scipy >= 1.11 ends the minimisation and keeps this point

    theta0 = np.concatenate([U0.ravel(), b0])
    result = scipy.optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B", callback=callback,
                                     options={"maxiter": iterations, "maxcor": 10})
    U, b = unscale(result.x)
    for it in checkpoints:  # converged early: later checkpoints are the final solution
        kept.setdefault(it, (U, b))
    return U, b, kept
