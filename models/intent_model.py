"""Training of the intent + slot model: warm-started, explicit, one pass over counts.

    model = fit_intent_model(examples, IntentConfig())     # -> TrainedIntentModel
    model.save("m.safu")

Steps (each a closed-form fit, method.md sections 1-4 and 6):
  1. vocabulary by frequency; bit-cipher codes E with noise; co-occurrence vectors C;
     token rows R = [E, C] (each block L1 = 1, scaled so a row has L1 = 1).
  2. slot SAFU over (2r+1)-token windows, cat mode: bootstrap U with uniform attention, then
     internal targets -> W, refit U, `tuning_rounds` times.
  3. intent SAFU over the whole utterance (head <sod>, sum mode) and the intent layer over
     [bag of words, hashed bigrams, mean row, attention-pooled row]: same bootstrap / tuning.
  4. out-of-scope threshold calibrated on a held-out split (and shipped out-of-domain sentences).
  5. optional backprop polish (Adam on the output layers, embeddings frozen, early stopping).
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from safu.models import features as feat
from safu.models.bit_cipher import cipher_embeddings
from safu.models.cooc import cooc_sums, normalise_blocks
from safu.models.safu_unit import fit_W, internal_targets, log_softmax, softmax
from safu.models.solver import explicit_fit
from safu.models.tokenizer import SPECIALS, UNK, Vocabulary, is_number, tokenize


@dataclass
class IntentConfig:
    cipher_bits: int = 32        # d: well above log2(N) as the papers advise; rows stay cheap
    cooc_mode: str = "cat"       # cat keeps left and right neighbours apart (better for slots)
    cooc_radius: int = 1         # r=1 cat -> 2 blocks; D = d * (1 + 2r)
    slot_radius: int = 2         # 5-token window for the slot tagger
    bigram_buckets: int = 4096   # hashed bigram features; 0 disables them (smaller models)
    max_tokens: int = 48         # longer utterances are cut (fixed state size on microcontrollers)
    smoothing: float = 0.05      # additive prior on co-occurrence counts: unseen word/class pairs stay finite
    tuning_rounds: int = 1       # internal-target refits of W after the bootstrap
    unk_rate: float = 0.02       # share of training tokens also counted as <unk> (robust to unknown words)
    holdout: float = 0.1         # share of examples held out to calibrate the out-of-scope threshold
    min_inscope_recall: float = 0.97  # threshold keeps at least this share of held-out correct answers
    polish_epochs: int = 0       # backprop polish (Adam on output layers); 0 = explicit only
    polish_lr: float = 10 ** -2.5
    seed: int = 0

    def validate(self) -> None:
        checks = [
            (self.cipher_bits >= 4, "cipher_bits must be >= 4"),
            (self.cooc_mode in ("sum", "cat"), "cooc_mode must be 'sum' or 'cat'"),
            (self.cooc_radius >= 1, "cooc_radius must be >= 1"),
            (self.slot_radius >= 0, "slot_radius must be >= 0"),
            (self.bigram_buckets >= 0, "bigram_buckets must be >= 0"),
            (2 <= self.max_tokens <= 1024, "max_tokens must be in 2..1024"),
            (self.smoothing > 0, "smoothing must be > 0"),
            (0 <= self.holdout < 0.5, "holdout must be in [0, 0.5)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"IntentConfig: {msg}")


@dataclass
class Prepared:
    """Examples turned into ids and BIO labels."""

    ids: list[np.ndarray]
    intents: np.ndarray           # (M,) class index
    slot_labels: list[np.ndarray]  # per example (n,) label index


@dataclass
class TrainedIntentModel:
    config: IntentConfig
    vocab: list[str]
    intents: list[str]
    slot_labels: list[str]
    synonyms: list[str]
    tensors: dict
    threshold: float
    sentences: list[str]
    stats: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        from safu import __version__
        c = self.config
        D = self.tensors["token_table"].shape[1]
        return {
            "general.kind": "intent",
            "general.safu_version": __version__,
            "general.training_data_sha256": self.stats.get("data_sha256", ""),
            "tokenizer.vocab": self.vocab,
            "tokenizer.max_tokens": c.max_tokens,
            "model.dim": D,
            "cipher.bits": c.cipher_bits,
            "cooc.mode": c.cooc_mode,
            "cooc.radius": c.cooc_radius,
            "slot.radius": c.slot_radius,
            "intent.bigram_buckets": c.bigram_buckets,
            "intent.labels": self.intents,
            "slot.labels": self.slot_labels,
            "slot.synonyms": self.synonyms,
            "intent.threshold": float(self.threshold),
            "train.examples": int(self.stats.get("examples", 0)),
            "train.seconds": float(self.stats.get("seconds", 0.0)),
            "train.polish_epochs": int(self.stats.get("polish_epochs_run", 0)),
            "train.config": repr(asdict(c)),
            "train.sentences": self.sentences,
        }

    def save(self, path) -> None:
        from safu.export.model_file import write_model_file
        write_model_file(path, self.metadata(), {k: v.astype(np.float32) for k, v in self.tensors.items()})


# ---------------------------------------------------------------------------------------------
# preparation


def bio_labels(tokens, spans, label_index: dict) -> np.ndarray:
    """Per-token BIO label ids from char spans; a token belongs to a span if they overlap."""
    out = np.zeros(len(tokens), dtype=np.int64)
    for span in spans:
        if span.start < 0 or span.end <= span.start:
            continue  # a fixed slot with no surface in the text
        inside = [i for i, t in enumerate(tokens) if t.start < span.end and t.end > span.start]
        for k, i in enumerate(inside):
            out[i] = label_index[("B-" if k == 0 else "I-") + span.name]
    return out


def build_vocab(token_lists: list[list[str]]) -> list[str]:
    counts = Counter(t for toks in token_lists for t in toks if not is_number(t))
    words = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], w))
    return SPECIALS + words


def data_hash(examples) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(f"{ex.intent}\t{ex.text}\t".encode())
        for s in ex.slots:
            h.update(f"{s.name}:{s.start}:{s.end}:{s.value};".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# the fit


class _Fitter:
    """Holds the shared state of one training run; each method is one fitting step."""

    def __init__(self, config: IntentConfig, vocab: Vocabulary, n_intents: int, n_slot_labels: int):
        self.c, self.vocab, self.C, self.S = config, vocab, n_intents, n_slot_labels
        self.rng = np.random.default_rng(config.seed)

    # -- 1. token rows ---------------------------------------------------------------------------
    def token_table(self, batch: feat.Batch) -> np.ndarray:
        c, N = self.c, len(self.vocab)
        counts = np.bincount(batch.S[batch.mask], minlength=N).astype(np.float64)
        bits = max(c.cipher_bits, int(np.ceil(np.log2(N + 1))))
        E = cipher_embeddings(counts, bits)
        seqs = [batch.S[m, :batch.L[m]] for m in range(len(batch))]
        Csum = cooc_sums(seqs, E, c.cooc_radius, c.cooc_mode)
        prior = 0.1 * E[0]  # <pad> never occurs: its noised code is the noise vector p
        Cn = normalise_blocks(Csum, bits, prior)
        blocks = 1 + Cn.shape[1] // bits
        self.R = np.concatenate([E, Cn], axis=1) / blocks
        return self.R

    # -- 2. slot tagger --------------------------------------------------------------------------
    # Every quantity below is a lookup into per-type tables: the window rows are static type rows,
    # so F = H^T Y for the cat features is R^T A_k with A_k (N, S) the attention mass of each
    # (type, label) pair at window slot k. One pass is O(T*K) instead of O(T*K*D).
    def slot_fit(self, batch: feat.Batch, labels: np.ndarray) -> None:
        c, R = self.c, self.R
        r, K, D, N, S = c.slot_radius, 2 * c.slot_radius + 1, R.shape[1], R.shape[0], self.S
        _, _, win = batch.slot_windows(r)
        centre = win[:, r]
        Q = np.empty(win.shape)
        for sl in _chunks(len(win), 50000):
            X = R[win[sl]]
            Q[sl] = np.matmul(X, X[:, r, :, None])[:, :, 0]
        W = np.zeros((K, K))
        for round_ in range(c.tuning_rounds + 1):
            a = -log_softmax(Q @ W)                                    # (T, K)
            U = self._slot_U(win, labels, a)
            if round_ == c.tuning_rounds:
                break
            RU = [R @ U[k * D:(k + 1) * D] for k in range(K)]          # K x (N, S)
            logits = U[K * D + centre].copy()
            for k in range(K):
                logits += a[:, k, None] * RU[k][win[:, k]]
            P = softmax(logits)
            cc = 2.0 * (1.0 + 1.0 / K) * np.log(max(S, 2))
            V = np.empty_like(Q)
            for k in range(K):
                rows = RU[k][win[:, k]]                                # (T, S)
                V[:, k] = rows[np.arange(len(win)), labels] - (P * rows).sum(axis=1) + cc
            W = fit_W(Q, V)
        self.slot_W, self.slot_U, self.slot_b = W, U, np.zeros(S)

    def _slot_U(self, win: np.ndarray, labels: np.ndarray, a: np.ndarray) -> np.ndarray:
        c, R = self.c, self.R
        r, K, N, S = c.slot_radius, win.shape[1], R.shape[0], self.S
        blocks = []
        for k in range(K):
            A = np.bincount(win[:, k] * S + labels, weights=a[:, k], minlength=N * S).reshape(N, S)
            blocks.append(R.T @ A)                                     # (D, S)
        F_word = np.bincount(win[:, r] * S + labels, minlength=N * S).reshape(N, S).astype(np.float64)
        F = np.concatenate(blocks + [F_word]) + c.smoothing
        return explicit_fit(F, float(a.sum(axis=1).mean()) + 1.0)

    # -- 3. intent head --------------------------------------------------------------------------
    def intent_features(self, batch: feat.Batch, W: np.ndarray) -> dict:
        f_row = feat.row_features(batch, self.R)
        f_att, _, Q = feat.intent_attention(batch, self.R, W)
        return {"batch": batch, "f_row": f_row, "f_att": f_att, "Q": Q}

    def intent_F(self, fx: dict, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """F = H^T Y for the intent features, accumulated sparsely for the bag-of-words blocks."""
        c, N, B, C = self.c, len(self.vocab), self.c.bigram_buckets, self.C
        batch = fx["batch"]
        w = np.ones(len(batch)) if weights is None else weights
        F_bow = np.zeros((N, C))
        rows, cols = np.nonzero(batch.mask)
        np.add.at(F_bow, (batch.S[rows, cols], y[rows]), (w / batch.L)[rows])
        # <unk> statistics: a random share of tokens also counts as <unk>, so unknown words at
        # prediction time point to the classes that have many rare words.
        pick = self.rng.random(len(rows)) < c.unk_rate
        np.add.at(F_bow, (np.full(pick.sum(), UNK), y[rows[pick]]), (w / batch.L)[rows[pick]])
        parts = [F_bow]
        if B:
            big, valid = batch.bigrams(B)
            r2, c2 = np.nonzero(valid)
            F_big = np.zeros((B, C))
            np.add.at(F_big, (big[r2, c2], y[r2]), (w / (batch.L - 1))[r2])
            parts.append(F_big)
        Y = np.eye(C)[y] * w[:, None]
        parts += [fx["f_row"].T @ Y, fx["f_att"].T @ Y]
        return np.concatenate(parts)

    def intent_logits(self, fx: dict, U: np.ndarray, b: np.ndarray) -> np.ndarray:
        N, B, D = len(self.vocab), self.c.bigram_buckets, self.R.shape[1]
        batch = fx["batch"]
        U_bow, U_big, U_row, U_att = np.split(U, [N, N + B, N + B + D])
        out = np.zeros((len(batch), U.shape[1]))
        for sl in _chunks(len(batch), 4096):
            S, mask, L = batch.S[sl], batch.mask[sl], batch.L[sl]
            out[sl] = (U_bow[S] * mask[:, :, None]).sum(axis=1) / L[:, None]
            if B:
                big = feat.bigram_bucket(S[:, :-1], S[:, 1:], B)
                out[sl] += (U_big[big] * mask[:, 1:, None]).sum(axis=1) / (L - 1)[:, None]
        return out + fx["f_row"] @ U_row + fx["f_att"] @ U_att + b

    def intent_fit(self, batch: feat.Batch, y: np.ndarray) -> None:
        c, N, B, D, C = self.c, len(self.vocab), self.c.bigram_buckets, self.R.shape[1], self.C
        K_i = c.max_tokens + 2
        W = np.zeros((K_i, K_i))
        K_norm = 4.0  # four feature blocks, each with L1 = 1
        for round_ in range(c.tuning_rounds + 1):
            fx = self.intent_features(batch, W)
            self.intent_F_raw = self.intent_F(fx, y)
            U = explicit_fit(self.intent_F_raw + c.smoothing, K_norm)
            if round_ == c.tuning_rounds:
                break
            P = softmax(self.intent_logits(fx, U, np.zeros(C)))
            U_att = U[N + B + D:]
            cc = 2.0 * (1.0 + 1.0 / K_i) * np.log(max(C, 2))
            G = U_att[:, y].T - P @ U_att.T                      # (M, D)
            V = feat.intent_internal_targets(batch, self.R, G + cc)  # masked positions get no target
            Lmax = batch.S.shape[1]
            W_part = fit_W(fx["Q"], V)
            W = np.zeros((K_i, K_i))
            W[:Lmax, :Lmax] = W_part
        self.intent_W, self.intent_U, self.intent_b = W, U, np.zeros(C)

    # -- 5. polish -------------------------------------------------------------------------------
    def polish(self, train: tuple, dev: tuple, epochs: int, lr: float) -> int:
        """Adam on intent_U/intent_b with early stopping on dev log-loss; returns epochs run."""
        fx, y = train
        fx_dev, y_dev = dev
        U, b = self.intent_U.copy(), self.intent_b.copy()
        N, B, D = len(self.vocab), self.c.bigram_buckets, self.R.shape[1]
        params = [U, b]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        best = (self._dev_loss(fx_dev, y_dev, U, b), U.copy(), b.copy())
        step, bad, ran = 0, 0, 0
        batch = fx["batch"]
        for epoch in range(epochs):
            ran = epoch + 1
            order = self.rng.permutation(len(batch))
            for sl in _chunks(len(order), 256):
                idx = order[sl]
                sub = {"batch": batch.take(idx), "f_row": fx["f_row"][idx], "f_att": fx["f_att"][idx]}
                P = softmax(self.intent_logits(sub, U, b))
                G = (P - np.eye(self.C)[y[idx]]) / len(idx)       # dLoss/dlogits
                gU = np.zeros_like(U)
                sb = sub["batch"]
                rows, cols = np.nonzero(sb.mask)
                np.add.at(gU, sb.S[rows, cols], G[rows] / sb.L[rows, None])
                if B:
                    big, valid = sb.bigrams(B)
                    r2, c2 = np.nonzero(valid)
                    np.add.at(gU, N + big[r2, c2], G[r2] / (sb.L[r2, None] - 1))
                gU[N + B:N + B + D] = sub["f_row"].T @ G
                gU[N + B + D:] = sub["f_att"].T @ G
                step += 1
                for p, g, mm, vv in zip(params, [gU, G.sum(axis=0)], m, v):
                    mm *= 0.9
                    mm += 0.1 * g
                    vv *= 0.999
                    vv += 0.001 * g * g
                    p -= lr * (mm / (1 - 0.9 ** step)) / (np.sqrt(vv / (1 - 0.999 ** step)) + 1e-8)
            loss = self._dev_loss(fx_dev, y_dev, U, b)
            if loss < best[0] - 1e-4:
                best, bad = (loss, U.copy(), b.copy()), 0
            else:
                bad += 1
                if bad >= 2:
                    break
        self.intent_U, self.intent_b = best[1], best[2]
        return ran

    def _dev_loss(self, fx, y, U, b) -> float:
        if len(y) == 0:
            return 0.0
        lp = log_softmax(self.intent_logits(fx, U, b))
        return float(-lp[np.arange(len(y)), y].mean())


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# ---------------------------------------------------------------------------------------------
# public entry point


def fit_intent_model(examples, config: IntentConfig | None = None, out_of_scope: list[str] | None = None,
                     progress=None) -> TrainedIntentModel:
    """Fits an intent + slot model on examples (objects with .text, .intent, .slots).

    out_of_scope: sentences that must be rejected; used only to calibrate the threshold.
    progress: optional callable(step_name) for progress reporting.
    Raises ValueError for data that cannot train a model (no examples, fewer than two intents).
    """
    config = config or IntentConfig()
    config.validate()
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    examples = [ex for ex in examples if ex.intent is not None]
    if not examples:
        raise ValueError("no training examples with an intent")
    intents = sorted({ex.intent for ex in examples})
    if len(intents) < 2:
        raise ValueError(f"training needs at least two intents, found only {intents[0]!r}: add examples of "
                         "another intent (an intent model with one class cannot tell anything apart)")
    say("tokenising")
    tokenised = [tokenize(ex.text) for ex in examples]
    if not any(tokenised):
        raise ValueError("every training sentence is empty after tokenisation")
    vocab = Vocabulary(build_vocab([[t.text for t in toks] for toks in tokenised]))
    slot_names = sorted({s.name for ex in examples for s in ex.slots if s.start >= 0 and s.end > s.start})
    slot_labels = ["O"] + [f"{p}-{n}" for n in slot_names for p in ("B", "I")]
    label_index = {lab: i for i, lab in enumerate(slot_labels)}
    intent_index = {name: i for i, name in enumerate(intents)}

    cut = config.max_tokens
    ids = [np.array([vocab.lookup(t.text) for t in toks[:cut]], dtype=np.int64) for toks in tokenised]
    labels = [bio_labels(toks[:cut], ex.slots, label_index) for toks, ex in zip(tokenised, examples)]
    y = np.array([intent_index[ex.intent] for ex in examples])

    synonyms = {}
    for ex, toks in zip(examples, tokenised):
        for s in ex.slots:
            if s.start < 0 or s.end <= s.start:
                continue
            surface = " ".join(t.text for t in toks if t.start < s.end and t.end > s.start)
            if surface and s.value and s.value != ex.text[s.start:s.end]:
                synonyms.setdefault((s.name, surface), Counter())[s.value] += 1
    synonym_entries = [f"{name}\t{surface}\t{cnt.most_common(1)[0][0]}"
                       for (name, surface), cnt in sorted(synonyms.items())]

    # One fit on all examples. The held-out split calibrates the threshold with a leave-out model:
    # the intent layer is a closed form of counts F = H^T Y, so subtracting the held-out rows' counts
    # gives exactly the layer fitted without them (same token rows and attention W).
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(examples))
    n_hold = int(len(examples) * config.holdout) if len(examples) >= 20 else 0
    hold, train = order[:n_hold], order[n_hold:]

    batch = feat.Batch.from_ids(ids)
    f = _Fitter(config, vocab, len(intents), len(slot_labels))
    say("bit cipher and co-occurrence vectors")
    f.token_table(batch)
    say("slot SAFU")
    f.slot_fit(batch, np.concatenate(labels))
    say("intent SAFU")
    f.intent_fit(batch, y)
    polish_epochs_run, threshold = 0, 0.0
    if n_hold:
        say("calibrating the out-of-scope threshold")
        fx_hold = f.intent_features(batch.take(hold), f.intent_W)
        F_hold = f.intent_F(fx_hold, y[hold])
        U_full = f.intent_U
        f.intent_U = explicit_fit(np.maximum(f.intent_F_raw - F_hold, 0.0) + config.smoothing, 4.0)
        if config.polish_epochs:
            say("backprop polish")
            fx_train = f.intent_features(batch.take(train), f.intent_W)
            polish_epochs_run = f.polish((fx_train, y[train]), (fx_hold, y[hold]),
                                         config.polish_epochs, config.polish_lr)
        P_hold = _predict_intents(f, [ids[i] for i in hold])
        oos_ids = [vocab.encode(s, cut)[0] for s in (out_of_scope or [])]
        P_oos = _predict_intents(f, oos_ids) if oos_ids else np.zeros((0, len(intents)))
        threshold = calibrate_threshold(P_hold, y[hold], P_oos.max(axis=1) if len(P_oos) else np.zeros(0),
                                        config.min_inscope_recall)
        if not config.polish_epochs:
            f.intent_U = U_full  # explicit only: ship the layer fitted on every example
        # (with polish, the shipped layer is the polished leave-out layer: the held-out rows
        #  decided when to stop, so they were not trained on)
    final = f
    final.polish_epochs_run = polish_epochs_run

    K_s = 2 * config.slot_radius + 1
    tensors = {
        "token_table": final.R,
        "slot_W": final.slot_W,
        "slot_U": final.slot_U,
        "slot_b": final.slot_b,
        "intent_W": final.intent_W,
        "intent_U": final.intent_U,
        "intent_b": final.intent_b,
    }
    assert tensors["slot_U"].shape[0] == K_s * final.R.shape[1] + len(vocab)
    sentences = sorted({ex.text for ex in examples})
    if len(sentences) > 10000:
        sentences = sorted(rng.choice(sentences, 10000, replace=False).tolist())
    seconds = time.perf_counter() - t0
    return TrainedIntentModel(
        config=config, vocab=vocab.tokens, intents=intents, slot_labels=slot_labels,
        synonyms=synonym_entries, tensors=tensors, threshold=threshold, sentences=sentences,
        stats={"examples": len(examples), "seconds": seconds, "data_sha256": data_hash(examples),
               "polish_epochs_run": final.polish_epochs_run, "held_out": int(n_hold)})


def _predict_intents(f: _Fitter, id_lists: list[np.ndarray]) -> np.ndarray:
    if not id_lists:
        return np.zeros((0, f.C))
    batch = feat.Batch.from_ids(id_lists)
    return softmax(f.intent_logits(f.intent_features(batch, f.intent_W), f.intent_U, f.intent_b))


def calibrate_threshold(P_hold: np.ndarray, y_hold: np.ndarray, oos_conf: np.ndarray,
                        min_recall: float) -> float:
    """Picks the threshold on the top probability.

    Among thresholds that keep at least `min_recall` of the held-out examples the model gets right,
    take the one that rejects the most out-of-scope sentences (the highest such threshold).
    Without held-out correct answers, 0 (never reject).
    """
    conf = P_hold.max(axis=1)
    correct = conf[P_hold.argmax(axis=1) == y_hold]
    if len(correct) == 0:
        return 0.0
    t = float(np.quantile(correct, 1.0 - min_recall))
    return max(0.0, min(t, 0.99))
