"""Optional backprop polish of an LM (docs/method.md section 4): numpy Adam on W, U, b; tables frozen.

    model, history = polish(model, train_ctx, dev_ctx, seconds=60)     # early stopping on dev perplexity
    cold = random_init(model, seed=0)                                   # same shapes, random W/U (cold start)

Gradients are written out by hand for the forward pass of docs/lm_model.md; tests check them against
finite differences. Everything is float32 like the forward.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .lm import LMModel, safu_attend, safu_pool
from .lm_contexts import Contexts, doc_means
from .safu_unit import log_softmax

PARAMS = ("block_W", "block_U", "radial_W", "radial_U", "doc_U", "final_U", "final_b")


def _params(model: LMModel) -> dict:
    return {k: getattr(model, k) for k in PARAMS if getattr(model, k) is not None}


def _softmax_backward(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    return p * (dp - (dp * p).sum(axis=1, keepdims=True))


def _attention_backward(a_logits: np.ndarray, da: np.ndarray) -> np.ndarray:
    """a = -log_softmax(z): dz = -da + softmax(z) * sum(da)."""
    s = np.exp(log_softmax(a_logits))
    return -da + s * da.sum(axis=1, keepdims=True)


def loss_and_grads(model: LMModel, ctx: Contexts, rows: np.ndarray, dmeans: np.ndarray | None = None):
    """Mean cross-entropy over the rows and its gradient for each fitted parameter (dict)."""
    P = _params(model)
    m, r = len(rows), model.config.radius
    Xb, Qb, _ = safu_attend(model.block_table, ctx.block_ids[rows], P["block_W"], 0)
    zb = Qb @ P["block_W"]
    ab = -log_softmax(zb)
    Hb = safu_pool(Xb, ab, "sum")
    pb = np.exp(log_softmax(Hb @ P["block_U"]))
    Xr, Qr, _ = safu_attend(model.radial_table, ctx.radial_ids[rows], P["radial_W"], r - 1)
    zr = Qr @ P["radial_W"]
    ar = -log_softmax(zr)
    Hr = safu_pool(Xr, ar, "cat")
    pr = np.exp(log_softmax(Hr @ P["radial_U"]))
    parts = [pb, pr]
    if "doc_U" in P:
        dm = dmeans if dmeans is not None else doc_means(ctx, model.block_table, rows)
        pd = np.exp(log_softmax(dm @ P["doc_U"]))
        parts.append(pd)
    Hf = np.concatenate(parts, axis=1)
    lp = log_softmax(Hf @ P["final_U"] + P["final_b"])
    y = ctx.y[rows]
    loss = -float(lp[np.arange(m), y].mean())
    dlog = np.exp(lp)
    dlog[np.arange(m), y] -= 1.0
    dlog /= m
    g = {"final_U": Hf.T @ dlog, "final_b": dlog.sum(axis=0)}
    dHf = dlog @ P["final_U"].T
    Cb, Cr = pb.shape[1], pr.shape[1]
    dob = _softmax_backward(pb, dHf[:, :Cb])
    g["block_U"] = Hb.T @ dob
    dab = np.einsum("md,mkd->mk", dob @ P["block_U"].T, Xb)
    g["block_W"] = Qb.T @ _attention_backward(zb, dab)
    dor = _softmax_backward(pr, dHf[:, Cb:Cb + Cr])
    g["radial_U"] = Hr.T @ dor
    dar = np.einsum("mkd,mkd->mk", (dor @ P["radial_U"].T).reshape(Xr.shape), Xr)
    g["radial_W"] = Qr.T @ _attention_backward(zr, dar)
    if "doc_U" in P:
        g["doc_U"] = dm.T @ _softmax_backward(pd, dHf[:, Cb + Cr:])
    return loss, g


def random_init(model: LMModel, seed: int = 0, scale: float = 0.02) -> LMModel:
    """Cold start: the same tables and shapes, W/U drawn from N(0, scale^2), bias zero."""
    rng = np.random.default_rng(seed)
    new = {k: (rng.normal(0.0, scale, v.shape).astype(np.float32) if k != "final_b"
               else np.zeros_like(v)) for k, v in _params(model).items()}
    return replace(model, **new, info={"data_sha256": model.info.get("data_sha256", ""), "init": "cold"})


def polish(model: LMModel, train: Contexts, dev: Contexts, seconds: float = 60.0, lr: float = 10 ** -2.5,
           batch: int = 512, eval_every: int = 100, patience: int = 3, seed: int = 0, log=None):
    """Adam on W, U, b with early stopping on dev perplexity, within a budget of process CPU seconds
    (dev evaluations included; CPU rather than wall time so a shared machine does not shrink it).

    Returns (best model, history list of (seconds, step, dev perplexity)). The best model's
    info gains backprop_steps, backprop_seconds and dev_perplexity.
    """
    say = log or (lambda msg: None)
    rng = np.random.default_rng(seed)
    t0 = time.process_time()
    P = {k: v.astype(np.float32).copy() for k, v in _params(model).items()}
    mom = {k: np.zeros_like(v) for k, v in P.items()}
    vel = {k: np.zeros_like(v) for k, v in P.items()}
    dmeans = doc_means(train, model.block_table) if model.doc_U is not None else None

    def current():
        return replace(model, **{k: v.copy() for k, v in P.items()})

    def dev_ppl(mdl):
        return float(np.exp(-mdl.target_logprobs(dev).mean()))

    best, best_ppl = current(), dev_ppl(model)
    history = [(0.0, 0, best_ppl)]
    say(f"backprop start: dev perplexity {best_ppl:.2f}")
    step, bad, b1, b2, eps = 0, 0, 0.9, 0.999, 1e-8
    done = False
    while not done:
        order = rng.permutation(len(train))
        for s in range(0, len(order), batch):
            rows = np.sort(order[s:s + batch])
            _, g = loss_and_grads(replace(model, **P), train, rows, None if dmeans is None else dmeans[rows])
            step += 1
            for k in P:
                mom[k] = b1 * mom[k] + (1 - b1) * g[k]
                vel[k] = b2 * vel[k] + (1 - b2) * g[k] ** 2
                mhat = mom[k] / (1 - b1 ** step)
                vhat = vel[k] / (1 - b2 ** step)
                P[k] = (P[k] - lr * mhat / (np.sqrt(vhat) + eps)).astype(np.float32)
            out_of_time = time.process_time() - t0 >= seconds
            if step % eval_every == 0 or out_of_time:
                ppl = dev_ppl(replace(model, **P))
                history.append((time.process_time() - t0, step, ppl))
                say(f"step {step}: dev perplexity {ppl:.2f} ({time.process_time() - t0:.0f}s)")
                if ppl < best_ppl:
                    best, best_ppl, bad = current(), ppl, 0
                else:
                    bad += 1
                if bad >= patience or out_of_time:
                    done = True
                    break
    best.info = dict(best.info, backprop_steps=step, backprop_seconds=time.process_time() - t0,
                     dev_perplexity=best_ppl)
    return best, history
