"""The logistic intent layer fitted with its dense columns centred and scaled (intent_head.fit_logistic_head
dense_shift / dense_scale): the shift and scale are folded back into (intent_U, intent_b) exactly."""
import numpy as np
import pytest
import scipy.optimize

from safu.models import features as feat
from safu.models import intent_head
from safu.models.intent_model import IntentConfig
from safu.models.safu_unit import log_softmax
from logistic_reference import dense_logistic_objective


def _problem(seed=5, N=30, B=16, C=4, D=8, M=90):
    rng = np.random.default_rng(seed)
    batch = feat.Batch.from_ids([rng.integers(6, N, size=rng.integers(0, 12)) for _ in range(M)])
    R = rng.random((N, D))
    att = feat.intent_attention(batch, R, rng.standard_normal((50, 50)))
    H = intent_head.head_features(batch, att, R, N, B)
    y = rng.integers(0, C, size=M)
    w = rng.random(M) + 0.5
    return rng, H, y, w, N + B + 2 * D, C, D


def _dense(H):
    """[f_bow, f_big, f_row, f_att] as one dense array (f_row = bag-of-words weights @ R)."""
    N = H.R.shape[0]
    S = H.sparse.toarray()
    return np.hstack([S, S[:, :N] @ H.R, H.att.toarray() @ H.R])


def test_shifted_fit_is_the_dense_fit_of_centred_columns():
    rng, H, y, w, K, C, D = _problem()
    ds = np.r_[np.ones(D // 2), np.full(D // 2, 40.0), np.ones(D // 2), np.full(D // 2, 40.0)]
    shift = np.r_[np.zeros(D // 2), rng.random(D // 2), np.zeros(D // 2), rng.random(D // 2)]
    U0, b0 = 0.1 * rng.standard_normal((K, C)), 0.1 * rng.standard_normal(C)
    l2 = 1e-3
    got_U, got_b, _ = intent_head.fit_logistic_head(H, y, U0, b0, l2, 25, w, dense_scale=ds, dense_shift=shift)

    # the same problem written densely: dense columns (f - shift) * ds, folded back afterwards
    n_sparse = K - 2 * D
    X = _dense(H)
    X[:, n_sparse:] = (X[:, n_sparse:] - shift) * ds
    objective = dense_logistic_objective(X, y, w, l2, C)

    V0 = U0.copy()
    V0[n_sparse:] /= ds[:, None]
    c0 = b0 + shift * ds @ V0[n_sparse:]   # the same start: (f - shift) * ds @ V0 + c0 = f @ U0 + b0
    res = scipy.optimize.minimize(objective, np.concatenate([V0.ravel(), c0]), jac=True, method="L-BFGS-B",
                                  options={"maxiter": 25, "maxcor": 10})
    V, c = res.x[:-C].reshape(K, C), res.x[-C:]
    want_U = V.copy()
    want_U[n_sparse:] *= ds[:, None]
    want_b = c - shift * ds @ V[n_sparse:]
    np.testing.assert_allclose(got_U, want_U, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_b, want_b, rtol=1e-6, atol=1e-8)
    # and the folded layer predicts, on the raw features, what the fitted one predicts on the centred ones
    np.testing.assert_allclose(H.logits(got_U, got_b), X @ V + c, rtol=1e-9, atol=1e-9)


def test_the_shift_changes_only_the_parametrisation():
    # b carries no penalty, so (f - shift) @ U + b' and f @ U + b are the same model: converged, both
    # fits predict the same
    rng, H, y, w, K, C, D = _problem(seed=6)
    shift = np.r_[rng.random(D), rng.random(D)]
    U0 = np.zeros((K, C))
    runs = [intent_head.fit_logistic_head(H, y, U0, np.zeros(C), 1e-2, 500, w, dense_shift=s)
            for s in (None, shift)]
    (U_a, b_a, _), (U_b, b_b, _) = runs
    # (to L-BFGS's tolerance; a wrong shift gradient ends elsewhere, differences of 0.1 and more)
    P_a, P_b = (np.exp(log_softmax(H.logits(U, b))) for U, b in ((U_a, b_a), (U_b, b_b)))
    np.testing.assert_allclose(P_a, P_b, atol=2e-3)
    assert np.abs(H.logits(U_a, b_a) - H.logits(np.zeros_like(U_a), np.zeros(C))).max() > 0.3   # it did fit


def test_general_std_must_not_be_negative():
    with pytest.raises(ValueError, match="general_std"):
        IntentConfig(general_std=-0.03).validate()
