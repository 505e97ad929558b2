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
    def slot_fit(self, batch: feat.Batch, labels: np.ndarray) -> None:
        c, R = self.c, self.R
        r, K, D, N = c.slot_radius, 2 * c.slot_radius + 1, R.shape[1], R.shape[0]
        rows, pos, win = batch.slot_windows(r)
        self.slot_win, self.slot_y = win, labels
        W = np.zeros((K, K))
        for round_ in range(c.tuning_rounds + 1):
            U = self._slot_U(win, labels, W)
            if round_ == c.tuning_rounds:
                break
            # internal targets -> W, computed in chunks to bound memory
            Qs, Vs = [], []
            for sl in _chunks(len(win), 20000):
                h, a, X = feat.slot_safu(win[sl], R, W, r)
                logits = h @ U[:K * D] + U[K * D + win[sl, r]]
                Ucat = U[:K * D]
                P = softmax(logits)
                cc = 2.0 * (1.0 + 1.0 / K) * np.log(max(self.S, 2))
                G = Ucat[:, labels[sl]].T - P @ Ucat.T  # (t, K*D)
                V = np.einsum("tkd,tkd->tk", G.reshape(-1, K, D) + cc, X)
                Qs.append(np.einsum("tkd,td->tk", X, X[:, r, :]))
                Vs.append(V)
            W = fit_W(np.concatenate(Qs), np.concatenate(Vs))
        self.slot_W, self.slot_U = W, U
        self.slot_b = np.zeros(self.S)

    def _slot_U(self, win, labels, W) -> np.ndarray:
        c, R = self.c, self.R
        r, K, D, N = c.slot_radius, 2 * c.slot_radius + 1, R.shape[1], R.shape[0]
        F_cat = np.zeros((K * D, self.S))
        norms = []
        for sl in _chunks(len(win), 20000):
            h, a, X = feat.slot_safu(win[sl], R, W, r)
            F_cat += h.T @ np.eye(self.S)[labels[sl]]
            norms.append(h.sum(axis=1) + 1.0)
        F_word = np.zeros((N, self.S))
        np.add.at(F_word, (win[:, r], labels), 1.0)
        F = np.concatenate([F_cat, F_word]) + c.smoothing
        return explicit_fit(F, float(np.concatenate(norms).mean()))

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
        return np.concatenate(parts) + c.smoothing

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
            U = explicit_fit(self.intent_F(fx, y), K_norm)
            if round_ == c.tuning_rounds:
                break
            P = softmax(self.intent_logits(fx, U, np.zeros(C)))
            U_att = U[N + B + D:]
            cc = 2.0 * (1.0 + 1.0 / K_i) * np.log(max(C, 2))
            G = U_att[:, y].T - P @ U_att.T                      # (M, D)
            X, Q = feat.intent_attention_parts(batch, self.R)
            V = np.einsum("md,mkd->mk", G + cc, X) * batch.mask  # masked positions get no target
            Lmax = batch.S.shape[1]
            W_part = fit_W(Q, V)
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

    # Held-out split for threshold calibration (and early stopping of the polish).
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(examples))
    n_hold = int(len(examples) * config.holdout) if len(examples) >= 20 else 0
    hold, train = order[:n_hold], order[n_hold:]

    def fit(rows, polish_dev=None):
        batch = feat.Batch.from_ids([ids[i] for i in rows])
        f = _Fitter(config, vocab, len(intents), len(slot_labels))
        say("bit cipher and co-occurrence vectors")
        f.token_table(batch)
        say("slot SAFU")
        f.slot_fit(batch, np.concatenate([labels[i] for i in rows]) if len(rows) else np.zeros(0, np.int64))
        say("intent SAFU")
        f.intent_fit(batch, y[rows])
        f.polish_epochs_run = 0
        if config.polish_epochs and polish_dev is not None and len(polish_dev):
            say("backprop polish")
            fx = f.intent_features(batch, f.intent_W)
            dev_batch = feat.Batch.from_ids([ids[i] for i in polish_dev])
            f.polish_epochs_run = f.polish((fx, y[rows]), (f.intent_features(dev_batch, f.intent_W), y[polish_dev]),
                                           config.polish_epochs, config.polish_lr)
        return f

    threshold = 0.0
    if n_hold:
        say("calibrating the out-of-scope threshold")
        f = fit(train, polish_dev=hold)
        P_hold = _predict_intents(f, [ids[i] for i in hold])
        oos_ids = [vocab.encode(s, cut)[0] for s in (out_of_scope or [])]
        P_oos = _predict_intents(f, oos_ids) if oos_ids else np.zeros((0, len(intents)))
        threshold = calibrate_threshold(P_hold, y[hold], P_oos.max(axis=1) if len(P_oos) else np.zeros(0),
                                        config.min_inscope_recall)
    final = fit(order, polish_dev=hold if n_hold else None)
    # (when polishing, the final fit early-stops on the same held-out rows it also trains on:
    #  the held-out split only decides the epoch count there; the threshold comes from the split run)

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
