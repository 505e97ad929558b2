"""A dense reference for the logistic intent layer's fit (intent_head.fit_logistic_head): the weighted
multinomial log-loss with an L2 prior on the weights, written out over a dense feature matrix."""
import numpy as np

from safu.models.safu_unit import log_softmax


def dense_logistic_objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, C: int):
    """theta = [V (X's columns x C) raveled, c (C)] -> (loss, gradient), for scipy.optimize.minimize with
    jac=True. The example weights w are normalised to sum to 1."""
    wn = w / w.sum()
    rows = np.arange(len(y))

    def objective(theta):
        V, c = theta[:-C].reshape(X.shape[1], C), theta[-C:]
        lp = log_softmax(X @ V + c)
        G = np.exp(lp)
        G[rows, y] -= 1.0
        G *= wn[:, None]
        loss = -float(wn @ lp[rows, y]) + 0.5 * l2 * float((V * V).sum())
        return loss, np.concatenate([(X.T @ G + l2 * V).ravel(), G.sum(axis=0)])

    return objective
