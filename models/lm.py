"""The SAFU language model (kind `lm`, docs/lm_model.md): batch forward, explicit training, file I/O.

    model = train_lm(seqs, vocab, LMConfig())          # bootstrap + tuning rounds + final layer
    ppl, n = model.perplexity(seqs_dev)
    model.save("lm.safu"); model = LMModel.load("lm.safu")

Training is one pass per fit over counts (docs/method.md sections 3-4): no gradient. Backprop polish is
in models/lm_backprop.py; streaming is in models/lm_stream.py.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from .bit_cipher import cipher_codes, cipher_embeddings, frequency_ranks
from .lm_contexts import Contexts, build_contexts, doc_means
from .lm_corpus import type_counts
from .safu_unit import fit_W, log_softmax
from .solver import explicit_fit
from .tokenizer import SPECIALS, Vocabulary

CHUNK = 4096  # targets per chunk: bounds the (chunk, b, D) feature arrays to a few tens of MB


@dataclass
class LMConfig:
    max_vocab: int = 4096     # word types incl. specials; a few thousand keeps final.U small
    block_size: int = 32      # b: slots per block (the papers use 2^7 for 10M tokens; 2^5 suits ~1M)
    block_bits: int = 62      # D_b: cipher width of the block table and code target (<= 62; wider was better)
    radius: int = 16          # r: radial window (tinyshakespeare dev: r=4 337, 8 313, 16 295, 32 289)
    radial_bits: int = 48     # D_r: cipher width of the radial table and code target (32 -> 48: 339 -> 313)
    cooc_radius: int = 0      # rho: radial rows also carry cat co-occurrence sums (rho=1 was worse: 359 vs 352)
    doc_groups: int = 0       # G: document model over G contiguous groups of documents; 0 = off
    tuning_rounds: int = 1    # W/U refits after the bootstrap (measured: no change, see docs/lm_model.md)

    def validate(self, n_types: int | None = None) -> None:
        if self.block_size < 2:
            raise ValueError(f"block_size must be >= 2, got {self.block_size}")
        if self.radius < 1:
            raise ValueError(f"radius must be >= 1, got {self.radius}")
        if self.doc_groups < 0 or self.tuning_rounds < 0 or self.cooc_radius < 0:
            raise ValueError("doc_groups, tuning_rounds and cooc_radius must be >= 0")
        n = self.max_vocab if n_types is None else n_types
        for name, bits in (("block_bits", self.block_bits), ("radial_bits", self.radial_bits)):
            if not 2 <= bits <= 62:
                raise ValueError(f"{name} must be in 2..62 (bit cipher widths), got {bits}")
            if n > 2**bits - 1:
                raise ValueError(f"{name}={bits} holds {2**bits - 1} codes, vocabulary has {n}")


# ---------------------------------------------------------------------------------------------
# SAFU pieces (float32 forward, shared by the batch forward, training and backprop)

def safu_attend(table: np.ndarray, ids: np.ndarray, W: np.ndarray, head: int):
    """Returns (X (m,K,D), Q (m,K), a (m,K)) for slot ids (m,K): Q = X . X[head], a = -log_softmax(Q W)."""
    X = table[ids]
    Q = np.einsum("mkd,md->mk", X, X[:, head])
    a = -log_softmax(Q @ W)
    return X, Q, a


def safu_pool(X: np.ndarray, a: np.ndarray, mode: str) -> np.ndarray:
    if mode == "sum":
        return np.einsum("mk,mkd->md", a, X)
    return (a[:, :, None] * X).reshape(len(a), -1)


@dataclass
class LMModel:
    vocab: Vocabulary
    config: LMConfig
    block_table: np.ndarray   # (N, D_b)
    block_W: np.ndarray       # (b, b)
    block_U: np.ndarray       # (D_b, C_b)
    radial_table: np.ndarray  # (N, D_r)
    radial_W: np.ndarray      # (r, r)
    radial_U: np.ndarray      # (r*D_r, C_r)
    doc_U: np.ndarray | None  # (D_b, G) or None
    final_U: np.ndarray       # (C_b + C_r [+ G], N)
    final_b: np.ndarray       # (N,)
    info: dict = field(default_factory=dict)  # training information written as train.* keys

    # -- forward --------------------------------------------------------------------------------
    def safu_outputs(self, ctx: Contexts, rows: np.ndarray) -> np.ndarray:
        """H_f (m, C_b + C_r [+ G]) for the given target rows: the concatenated SAFU outputs."""
        _, _, a = safu_attend(self.block_table, ctx.block_ids[rows], self.block_W, 0)
        Xb = self.block_table[ctx.block_ids[rows]]
        pb = np.exp(log_softmax(safu_pool(Xb, a, "sum") @ self.block_U))
        r = self.config.radius
        Xr, _, ar = safu_attend(self.radial_table, ctx.radial_ids[rows], self.radial_W, r - 1)
        pr = np.exp(log_softmax(safu_pool(Xr, ar, "cat") @ self.radial_U))
        parts = [pb, pr]
        if self.doc_U is not None:
            m = doc_means(ctx, self.block_table, rows)
            parts.append(np.exp(log_softmax(m @ self.doc_U)))
        return np.concatenate(parts, axis=1)

    def target_logprobs(self, ctx: Contexts) -> np.ndarray:
        """log p(y_i) for every target (M,), float64 sum-safe."""
        out = np.empty(len(ctx), dtype=np.float64)
        for s in range(0, len(ctx), CHUNK):
            rows = np.arange(s, min(s + CHUNK, len(ctx)))
            lp = log_softmax(self.safu_outputs(ctx, rows) @ self.final_U + self.final_b)
            out[rows] = lp[np.arange(len(rows)), ctx.y[rows]]
        return out

    def all_logprobs(self, seq: np.ndarray) -> np.ndarray:
        """(n+1, N) log-probabilities of every target of one document (ids without specials)."""
        ctx = self.contexts([seq])
        rows = np.arange(len(ctx))
        return log_softmax(self.safu_outputs(ctx, rows) @ self.final_U + self.final_b)

    def contexts(self, seqs: list[np.ndarray]) -> Contexts:
        return build_contexts(seqs, self.config.block_size, self.config.radius)

    def perplexity(self, seqs: list[np.ndarray]) -> tuple[float, int]:
        """(perplexity, number of targets) over documents of ids; raises ValueError if no tokens."""
        ctx = self.contexts(seqs)
        lp = self.target_logprobs(ctx)
        return float(np.exp(-lp.mean())), len(lp)

    def n_parameters(self) -> dict:
        """Fitted parameters (W, U, b) and frozen table entries, counted separately."""
        fitted = [self.block_W, self.block_U, self.radial_W, self.radial_U, self.final_U, self.final_b]
        if self.doc_U is not None:
            fitted.append(self.doc_U)
        return {"fitted": int(sum(x.size for x in fitted)),
                "tables": int(self.block_table.size + self.radial_table.size)}

    # -- file I/O --------------------------------------------------------------------------------
    def tensors(self) -> dict:
        t = {"block.table": self.block_table, "block.W": self.block_W, "block.U": self.block_U,
             "radial.table": self.radial_table, "radial.W": self.radial_W, "radial.U": self.radial_U,
             "final.U": self.final_U, "final.b": self.final_b}
        if self.doc_U is not None:
            t["doc.U"] = self.doc_U
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}

    def save(self, path) -> None:
        from safu import __version__
        from safu.export.model_file import write_model_file

        c = self.config
        meta = {
            "general.kind": "lm",
            "general.safu_version": __version__,
            "general.training_data_sha256": self.info.get("data_sha256", ""),
            "tokenizer.vocab": list(self.vocab.tokens),
            "tokenizer.max_tokens": 0,
            "lm.block_size": c.block_size,
            "lm.radius": c.radius,
            "lm.doc_groups": c.doc_groups,
            "lm.block_mode": "sum",
            "lm.radial_mode": "cat",
            "cipher.block_bits": c.block_bits,
            "cipher.radial_bits": c.radial_bits,
            "cooc.radius": c.cooc_radius,
            "train.tuning_rounds": c.tuning_rounds,
        }
        for k, v in self.info.items():
            if k != "data_sha256" and isinstance(v, (int, float, str)):
                meta[f"train.{k}"] = v
        write_model_file(path, meta, self.tensors())

    @classmethod
    def load(cls, path) -> "LMModel":
        """Reads and checks an lm file; raises ModelFormatError naming the path and the field."""
        from safu.export.model_file import ModelFormatError, read_model_file

        mf = read_model_file(path)
        md, t = mf.metadata, mf.tensors

        def need(key, kind):
            if key not in md:
                raise ModelFormatError(f"{path}: missing metadata key {key!r}")
            if not isinstance(md[key], kind):
                raise ModelFormatError(f"{path}: metadata {key!r} has the wrong type")
            return md[key]

        if need("general.kind", str) != "lm":
            raise ModelFormatError(f"{path}: general.kind is {md['general.kind']!r}, expected 'lm'")
        try:
            vocab = Vocabulary(list(need("tokenizer.vocab", list)))
        except ValueError as exc:
            raise ModelFormatError(f"{path}: tokenizer.vocab: {exc}") from None
        G = int(need("lm.doc_groups", int))
        cfg = LMConfig(max_vocab=len(vocab), block_size=int(need("lm.block_size", int)),
                       block_bits=int(need("cipher.block_bits", int)), radius=int(need("lm.radius", int)),
                       radial_bits=int(need("cipher.radial_bits", int)), doc_groups=G,
                       cooc_radius=int(md.get("cooc.radius", 0)),
                       tuning_rounds=int(md.get("train.tuning_rounds", 0)))
        for key, want in (("lm.block_mode", "sum"), ("lm.radial_mode", "cat")):
            if need(key, str) != want:
                raise ModelFormatError(f"{path}: {key} is {md[key]!r}, expected {want!r}")
        N, b, r = len(vocab), cfg.block_size, cfg.radius
        if b < 2 or r < 1:
            raise ModelFormatError(f"{path}: lm.block_size must be >= 2 and lm.radius >= 1")

        def tensor(name, shape):
            if name not in t:
                raise ModelFormatError(f"{path}: missing tensor {name!r}")
            x = t[name]
            if x.dtype != np.float32 or x.ndim != len(shape) or any(
                    s is not None and s != d for s, d in zip(shape, x.shape)):
                raise ModelFormatError(f"{path}: tensor {name!r} has shape {x.shape} {x.dtype}, "
                                       f"expected {tuple(s if s is not None else '?' for s in shape)} float32")
            return x

        bt = tensor("block.table", (N, None))
        rt = tensor("radial.table", (N, None))
        Db, Dr = bt.shape[1], rt.shape[1]
        bU = tensor("block.U", (Db, None))
        rU = tensor("radial.U", (r * Dr, None))
        Cin = bU.shape[1] + rU.shape[1] + G
        return cls(vocab, cfg, bt, tensor("block.W", (b, b)), bU, rt, tensor("radial.W", (r, r)), rU,
                   tensor("doc.U", (Db, G)) if G > 0 else None, tensor("final.U", (Cin, N)),
                   tensor("final.b", (N,)),
                   {k[6:]: v for k, v in md.items() if k.startswith("train.")})


# ---------------------------------------------------------------------------------------------
# Explicit training (docs/method.md section 4)

def code_targets(counts: np.ndarray, bits: int) -> np.ndarray:
    """(N, bits) float32: each type's raw cipher code Z, L1-normalised (the SAFU's soft target)."""
    Z = cipher_codes(len(counts), bits)[frequency_ranks(counts)].astype(np.float64)
    return (Z / Z.sum(axis=1, keepdims=True)).astype(np.float32)


def _sum_by_target(H: np.ndarray, y: np.ndarray, N: int) -> np.ndarray:
    """S (N, D) = sum of rows of H grouped by target id (float64)."""
    S = np.zeros((N, H.shape[1]), dtype=np.float64)
    np.add.at(S, y, H.astype(np.float64))
    return S


class _SafuFit:
    """One SAFU (block: sum, head 0; radial: cat, head r-1) and its explicit fits over chunks."""

    def __init__(self, table, ids, y, targets, mode, head):
        self.table, self.ids, self.y, self.T = table, ids, y, targets
        self.mode, self.head = mode, head
        self.K = ids.shape[1]
        self.W = np.zeros((self.K, self.K), dtype=np.float32)
        self.U = None

    def chunks(self):
        for s in range(0, len(self.y), CHUNK):
            yield slice(s, min(s + CHUNK, len(self.y)))

    def fit_W_from(self, direction) -> None:
        """W from internal targets V_(m,k) = (g_m + c) . X_(m,k); direction(sl, X, H) -> g (m, rows of U)."""
        N = len(self.table)
        c = 2.0 * (1.0 + 1.0 / self.K) * np.log(max(N, 2))
        QtV = np.zeros((self.K, self.K), dtype=np.float64)
        for sl in self.chunks():
            X, Q, a = safu_attend(self.table, self.ids[sl], self.W, self.head)
            g = direction(sl, X, safu_pool(X, a, self.mode)) + c
            if self.mode == "sum":
                V = np.einsum("md,mkd->mk", g, X)
            else:
                V = np.einsum("mkd,mkd->mk", g.reshape(X.shape), X)
            QtV += Q.T.astype(np.float64) @ np.maximum(V, 0.0)
        # fit_W takes Q and V; pass the accumulated F through an identity factorisation.
        self.W = fit_W(np.eye(self.K), QtV).astype(np.float32)

    def fit_U(self) -> None:
        S, l1, M = None, 0.0, 0
        for sl in self.chunks():
            X, _, a = safu_attend(self.table, self.ids[sl], self.W, self.head)
            H = safu_pool(X, a, self.mode)
            part = _sum_by_target(H, self.y[sl], len(self.table))
            S = part if S is None else S + part
            l1 += float(np.abs(H).sum())
            M += len(H)
        F = S.T @ self.T.astype(np.float64)  # (D, C): H^T Y with Y = code of the target
        self.U = explicit_fit(F, K=l1 / max(M, 1)).astype(np.float32)

    def bootstrap(self, unigram: np.ndarray) -> None:
        """W from the surrogate decoder log E^T and the unigram prediction, then U."""
        logE = np.log(self.table.astype(np.float64))       # (N, D)
        base = unigram @ logE                               # (D,)
        reps = 1 if self.mode == "sum" else self.K

        def direction(sl, X, H):
            return np.tile(logE[self.y[sl]] - base, (1, reps))
        self.fit_W_from(direction)
        self.fit_U()

    def tune(self) -> None:
        """One tuning round: V from the current U, refit W, then U."""
        U64 = self.U.astype(np.float64)

        def direction(sl, X, H):
            P = np.exp(log_softmax(H @ self.U)).astype(np.float64)
            return (self.T[self.y[sl]].astype(np.float64) - P) @ U64.T
        self.fit_W_from(direction)
        self.fit_U()

    def outputs(self, sl) -> np.ndarray:
        X, _, a = safu_attend(self.table, self.ids[sl], self.W, self.head)
        return np.exp(log_softmax(safu_pool(X, a, self.mode) @ self.U))


def radial_table(seqs, counts, bits: int, rho: int) -> np.ndarray:
    """(N, bits * (1 + 2 rho)) float32: [noised cipher row, cat co-occurrence blocks] / (1 + 2 rho).

    Each block is L1 = 1 (co-occurrence blocks are smoothed toward the corpus mean code), so rows are
    > 0 with L1 = 1. The co-occurrence part carries which codes surround a type (docs/method.md section 2);
    it lowered radial-only dev perplexity on tinyshakespeare from 336 to 315 (r = 2, 32 bits).
    """
    E = cipher_embeddings(counts, bits)
    if rho == 0:
        return E.astype(np.float32)
    from .cooc import cooc_sums, normalise_blocks
    from .tokenizer import EOD, SOD
    S = cooc_sums([np.concatenate([[SOD], s, [EOD]]) for s in seqs], E, rho, "cat")
    prior = counts @ E / max(counts.sum(), 1.0)
    return (np.concatenate([E, normalise_blocks(S, bits, prior)], axis=1) / (1 + 2 * rho)).astype(np.float32)


def data_sha256(seqs: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for s in seqs:
        h.update(np.asarray(s, dtype="<i8").tobytes())
        h.update(b"\xff" * 8)
    return h.hexdigest()


def train_lm(seqs: list[np.ndarray], vocab: Vocabulary, config: LMConfig, log=None) -> LMModel:
    """Explicit training: tables, bootstrap, tuning rounds, optional document model, final layer.

    seqs: documents as id arrays (no specials). Returns an LMModel with final.b = 0.
    Raises ValueError on empty data or an invalid config.
    """
    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    N = len(vocab)
    config.validate(N)
    seqs = [np.asarray(s, dtype=np.int64) for s in seqs if len(s)]
    if not seqs:
        raise ValueError("training corpus has no tokens (expected at least one non-empty document)")
    counts = type_counts(seqs, N, config.block_size)
    bt = cipher_embeddings(counts, config.block_bits).astype(np.float32)
    rt = radial_table(seqs, counts, config.radial_bits, config.cooc_radius)
    ctx = build_contexts(seqs, config.block_size, config.radius)
    M = len(ctx)
    unigram = np.bincount(ctx.y, minlength=N).astype(np.float64) / M
    block = _SafuFit(bt, ctx.block_ids, ctx.y, code_targets(counts, config.block_bits), "sum", 0)
    radial = _SafuFit(rt, ctx.radial_ids, ctx.y, code_targets(counts, config.radial_bits), "cat",
                      config.radius - 1)
    for unit in (block, radial):
        unit.bootstrap(unigram)
    say(f"bootstrap done ({M} targets, {time.perf_counter() - t0:.1f}s)")
    for rnd in range(config.tuning_rounds):
        for unit in (block, radial):
            unit.tune()
        say(f"tuning round {rnd + 1} done ({time.perf_counter() - t0:.1f}s)")
    doc_U = None
    if config.doc_groups > 0:
        G = config.doc_groups
        group = (ctx.doc_index * G) // len(seqs)
        m = doc_means(ctx, bt)
        Fd = np.zeros((bt.shape[1], G))
        np.add.at(Fd.T, group, m.astype(np.float64))
        doc_U = explicit_fit(Fd, K=1.0).astype(np.float32)  # inputs are means of L1-1 rows: K = 1
    # Final layer: F = H_f^T onehot(y), inputs are probability vectors (L1 = 1 each).
    n_parts = 2 + (doc_U is not None)
    S = None
    for s in range(0, M, CHUNK):
        sl = slice(s, min(s + CHUNK, M))
        parts = [block.outputs(sl), radial.outputs(sl)]
        if doc_U is not None:
            parts.append(np.exp(log_softmax(doc_means(ctx, bt, np.arange(sl.start, sl.stop)) @ doc_U)))
        part = _sum_by_target(np.concatenate(parts, axis=1), ctx.y[sl], N)
        S = part if S is None else S + part
    final_U = explicit_fit(S.T, K=float(n_parts)).astype(np.float32)
    info = {"data_sha256": data_sha256(seqs), "targets": M, "explicit_seconds": time.perf_counter() - t0}
    say(f"final layer done ({time.perf_counter() - t0:.1f}s)")
    return LMModel(vocab, config, bt, block.W, block.U, rt, radial.W, radial.U, doc_U, final_U,
                   np.zeros(N, dtype=np.float32), info)


def unigram_perplexity(train: list[np.ndarray], dev: list[np.ndarray], N: int) -> float:
    """Add-one unigram over the same targets (tokens and one <eod> per document)."""
    def targets(seqs):
        return np.concatenate([np.concatenate([s, [SPECIALS.index("<eod>")]]) for s in seqs])
    ytr, ydev = targets(train), targets(dev)
    p = (np.bincount(ytr, minlength=N) + 1.0) / (len(ytr) + N)
    return float(np.exp(-np.log(p[ydev]).mean()))
