"""Training of the intent + slot model: warm-started, explicit, one pass over counts.

    model = fit_intent_model(examples, IntentConfig())     # -> TrainedIntentModel
    model.save("m.safu")

Steps (each a closed-form fit, docs/method.md sections 1-4 and 6):
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
from safu.models.adam import Adam, EarlyStopping
from safu.models.bit_cipher import cipher_embeddings
from safu.models.cooc import normalise_blocks
from safu.models.safu_unit import fit_W, log_softmax, softmax
from safu.models.slot_case import N_CASE_FEATURES, case_flag_list, flag_matrix
from safu.models.slot_decoding import legal_transitions
from safu.models.slot_transitions import SMOOTHING as TRANSITION_SMOOTHING
from safu.models.slot_transitions import WEIGHT as TRANSITION_WEIGHT
from safu.models.slot_transitions import fit_slot_transitions
from safu.models.slot_unknown import with_rare_as_unknown
from safu.models.word_aliases import word_aliases
from safu.models.vocab_extension import extend_model, extension_words
from safu.models.slot_values import VALUE_BONUS, closed_slot_entries
from safu.models.intent_head import HeadFeatures, fit_logistic_head, head_features, warm_start
from safu.models.solver import explicit_fit
from safu.models.tokenizer import SPECIALS, UNK, Vocabulary, is_number, tokenize


NONE_INTENT = "<none>"  # the explicit out-of-scope class, when trained (IntentConfig.none_class)


@dataclass
class _PlainExample:
    text: str
    intent: str
    slots: list = field(default_factory=list)


@dataclass
class IntentConfig:
    cipher_bits: int = 32        # d: well above log2(N) as the papers advise; rows stay cheap
    cooc_mode: str = "cat"       # cat keeps left and right neighbours apart (better for slots)
    cooc_radius: int = 1         # r=1 cat -> 2 blocks; D = d * (1 + 2r)
    slot_radius: int = 2         # 5-token window for the slot tagger
    bigram_buckets: int = 4096   # hashed bigram features; 0 disables them (smaller models)
    max_tokens: int = 48         # longer utterances are cut (fixed state size on microcontrollers)
    smoothing: float = 0.05      # additive prior on co-occurrence counts: unseen word/class pairs stay finite
    slot_smoothing: float = 0.01  # the same prior for the slot layer (SNIPS slot F1, 1,000 held-out of train_full: 0.879 at 0.05, 0.888 at 0.01)
    tuning_rounds: int = 1       # internal-target refits of W after the bootstrap
    balance_intents: bool = True  # every intent gets equal weight, however many sentences it has
    unk_rate: float = 0.02       # share of training tokens also counted as <unk> (robust to unknown words)
    none_class: bool = False     # also fit an explicit "<none>" intent on the out-of-scope sentences
    holdout: float = 0.1         # share of examples held out to calibrate the out-of-scope threshold
    min_inscope_recall: float = 0.97  # threshold keeps at least this share of held-out correct answers
    polish_epochs: int = 0       # backprop polish (Adam on output layers); 0 = explicit only
    polish_lr: float = 0.01      # SNIPS: 0.9886 top-1 vs 0.9843 at 10**-2.5 (bench/bench_snips.py)
    general_dims: int = 64       # general-English dimensions in the token rows (models/general_vectors.py; 0 = none):
                                 # CLINC150 val top-1 0.905 -> 0.923 with 64 (150 fixed iterations: 0.929 with 64, 0.930 with 128)
    general_weight: float = 100.0  # the logistic layer fits the general columns times this (a weaker L2 on them)
    general_std: float = 0.0     # > 0: instead, fitted centred and scaled to this std over the training sentences
                                 # (_Fitter.dense_scale; off by default: CLINC150 val top-1 +0.3 at 0.03, +1.0 with general_dims 128,
                                 # but SNIPS and coffee lose a few sentences, SNIPS trains longer and an int8 token_table
                                 # breaks it (0.939 -> 0.695); docs/method.md section 6)
    alias_cosine: float = 0.7    # table words not in training read as the vocabulary word this close (models/word_aliases.py;
                                 # 0 = none): CLINC150 val top-1 0.923 -> 0.926, SNIPS unchanged
    general_extra_words: int = 0  # the N most frequent table words neither in training nor aliased become tokens
                                  # that bring their general vector (models/vocab_extension.py; 0 = off). Off: CLINC150
                                  # val at 10,000 top-1 0.9257 -> 0.9263, OOS recall 0.80 -> 0.74, file 9.3 -> 21.5 MB
    head: str = "logistic"       # intent layer: "logistic" (explicit fit, then L-BFGS warm-started from it) or "explicit"
    head_prior: float = 0.015    # L2 penalty of the logistic layer times the example count (a fixed prior:
                                 # CLINC150 val best at 1e-6 per example of 15k; small sets stay calibrated)
    head_iterations: int = 150   # L-BFGS iterations at most; stops when the held-out error has not fallen for 30
    head_bag: int = 1            # logistic layers fitted on this many held-out splits, their weights averaged
                                 # (_Fitter.bagged_head; the same features, so one layer of the same size)
    slot_iterations: int = 15    # L-BFGS iterations of the discriminative slot layer (_Fitter.slot_head; 0 = explicit only):
                                 # SNIPS validate slot F1 0.896 without, 0.921 / 0.922 / 0.923 at 15 / 20 / 25
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
            (self.slot_smoothing > 0, "slot_smoothing must be > 0"),
            (0 <= self.holdout < 0.5, "holdout must be in [0, 0.5)"),
            (self.head in ("logistic", "explicit"), "head must be 'logistic' or 'explicit'"),
            (self.head_prior >= 0, "head_prior must be >= 0"),
            (self.general_std >= 0, "general_std must be >= 0 (0 = the general columns fitted times general_weight)"),
            (self.head_iterations >= 1, "head_iterations must be >= 1"),
            (self.head_bag >= 1, "head_bag must be >= 1 (1 = one logistic layer)"),
            (0 <= self.alias_cosine <= 1, "alias_cosine must be in 0..1 (0 = no aliases)"),
            (self.slot_iterations >= 0, "slot_iterations must be >= 0"),
            (self.general_extra_words >= 0, "general_extra_words must be >= 0 (0 = off)"),
            (not self.general_extra_words or self.general_dims > 0,
             "general_extra_words needs general_dims > 0 (the words bring only their general vectors)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"IntentConfig: {msg}")


@dataclass
class Prepared:
    """Examples turned into flat token ids and BIO labels (one pass, counted as it goes: no token
    lists are kept, so the memory is 17 bytes per token (id, label, case flags) plus what grows
    with the vocabulary)."""

    vocab: Vocabulary
    ids: np.ndarray          # (sum n,) token ids, sentence after sentence (each cut to max_tokens)
    lengths: np.ndarray      # (M,) n of each sentence
    labels: np.ndarray       # (sum n,) BIO label index of each token
    synonyms: list[str]      # "slot\tsurface\tvalue" entries
    slot_values: list[str]   # models/slot_values.slot_value_entries of the examples
    case: np.ndarray | None = None   # (sum n,) uint8 letter-case flags of each token (models/slot_case.py)
    trim_possessive: list = field(default_factory=list)   # slots whose spans leave a final "'s" out

    def label_sequences(self):
        ends = np.cumsum(self.lengths)
        return (self.labels[e - n:e] for e, n in zip(ends, self.lengths))


def prepare(examples, label_index: dict, cut: int) -> Prepared:
    """Tokenises every example once. The vocabulary comes from the commands only: words seen only
    in the out-of-scope sentences map to <unk>, as unseen words do at prediction time, so "<none>"
    learns what unknown speech looks like and the tables do not grow by the size of the
    out-of-scope list. Raises ValueError when no sentence has a token."""
    from array import array

    word_ids: dict[str, int] = {}          # token text -> provisional id (first seen first)
    counts: Counter = Counter()            # token text -> occurrences in the commands
    ids, labels, case = array("q"), array("q"), array("B")
    lengths = np.zeros(len(examples), dtype=np.int64)
    synonyms: dict = {}
    values: set = set()
    possessive: Counter = Counter()        # slot -> spans ending before their last token's "'s" minus those keeping it
    for i, ex in enumerate(examples):
        toks = tokenize(ex.text)
        texts = [t.text for t in toks]
        if ex.intent != NONE_INTENT:
            counts.update(texts)
        kept = texts[:cut]
        case.extend(case_flag_list(ex.text, toks[:cut]))
        ids.extend([word_ids.setdefault(w, len(word_ids)) for w in kept])
        lengths[i] = len(kept)
        # bio_labels, the synonyms and slot_value_entries in one pass over each span's tokens
        bio = [0] * len(kept)
        for s in ex.slots:
            if s.start < 0 or s.end <= s.start:
                continue  # a fixed slot with no surface in the text
            inside = [j for j, t in enumerate(toks) if t.start < s.end and t.end > s.start]
            for k, j in enumerate(j for j in inside if j < cut):
                bio[j] = label_index[("B-" if k == 0 else "I-") + s.name]
            surface = " ".join(texts[j] for j in inside)
            if not surface:
                continue
            last = toks[inside[-1]]
            if len(last.text) > 2 and last.text.endswith("'s"):
                possessive[s.name] += 1 if last.end > s.end else -1
            if s.value and s.value != ex.text[s.start:s.end]:
                synonyms.setdefault((s.name, surface), Counter())[s.value] += 1
            if not is_number(str(s.value)):
                values.add(f"{s.name}\t{surface}")
        labels.extend(bio)
    if not lengths.any():
        raise ValueError("every training sentence is empty after tokenisation")
    vocab = Vocabulary(vocab_from_counts(counts))
    final = np.array([vocab.lookup(w) for w in word_ids], dtype=np.int64)  # provisional -> vocabulary id
    return Prepared(vocab=vocab, ids=final[np.frombuffer(ids, dtype=np.int64)], lengths=lengths,
                    labels=np.frombuffer(labels, dtype=np.int64).copy(),
                    synonyms=[f"{name}\t{surface}\t{cnt.most_common(1)[0][0]}"
                              for (name, surface), cnt in sorted(synonyms.items())],
                    slot_values=sorted(values), case=np.frombuffer(case, dtype=np.uint8).copy(),
                    trim_possessive=sorted(name for name, c in possessive.items() if c > 0))


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
            "slot.values": self.stats.get("slot_values", []),   # known values: decoding evidence
            **({"slot.trim_possessive": self.stats["trim_possessive"]} if self.stats.get("trim_possessive") else {}),
            # closed-list slots, "slot\tvalue" as the list spells it (models/slot_values.py; not read by decoding)
            **({"slot.closed": self.stats["closed_slots"]} if self.stats.get("closed_slots") else {}),
            "slot.value_bonus": float(VALUE_BONUS),
            "intent.threshold": float(self.threshold),
            "train.examples": int(self.stats.get("examples", 0)),
            "train.seconds": float(self.stats.get("seconds", 0.0)),
            "train.polish_epochs": int(self.stats.get("polish_epochs_run", 0)),
            "train.config": repr(asdict(c)),
            "train.sentences": self.sentences,
            **_alias_metadata(self.stats.get("aliases", {})),
            **self.stats.get("metadata", {}),   # entries other layers add (ha.answers: runtime/ha_answers.py)
        }

    def save(self, path) -> None:
        from safu.export.model_file import write_model_file
        write_model_file(path, self.metadata(), {k: v.astype(np.float32) for k, v in self.tensors.items()})


def _alias_metadata(aliases: dict) -> dict:
    """tokenizer.aliases / tokenizer.alias_ids (sorted by word), or nothing when there are none."""
    if not aliases:
        return {}
    words = sorted(aliases)
    return {"tokenizer.aliases": words, "tokenizer.alias_ids": [int(aliases[w]) for w in words]}


SLOT_HEAD_TOKENS = 1 << 15   # training tokens the discriminative slot layer is fitted on (a random set of sentences)
SLOT_HEAD_PRIOR = 1e-3       # its L2 pull towards the explicit layer, per parameter (SNIPS validate slot F1 0.912 /
                             # 0.914 / 0.918 / 0.918 / 0.914 at 3e-5 / 1e-4 / 3e-4 / 1e-3 / 3e-3; HA 0.929 -> 0.931 at 1e-3 vs 1e-4)
SLOT_HEAD_CAT_SCALE = 10.0   # its window-feature rows are fitted times this (SNIPS validate 0.905 / 0.918 / 0.916 at 3 / 10 / 30)
# (its softmax over the labels of the sentence's intent, as decoding masks them: SNIPS validate slot
#  F1 0.918 -> 0.922, HA bench row 0.931 -> 0.940, exact 0.889 -> 0.905)
SLOT_CASE_PRIOR = 1e-3       # L2 pull of the letter-case table (models/slot_case.py) towards 0, per entry
SLOT_CASE_DROP = 0.3         # share of the sampled sentences the slot layer sees without their case flags.
# SNIPS validate slot F1 (exact) as written / lower-cased, table fitted jointly: 0.936 (0.836) / 0.914 (0.757)
# with none dropped, 0.930 (0.824) / 0.926 (0.800) at 0.3, 0.929 / 0.925 at 0.5; without a table 0.925 / 0.924;
# a table fitted after the layer, on its fixed logits: 0.928 / 0.924 (HA row unchanged with 0.3: 0.943, coffee 1.0)
STORED_SENTENCES = 10000  # training sentences kept in the model file (speech recognisers build on them)
BLOCK_TOKENS = 1 << 15     # token positions per block of the blockwise training passes: bounds the
                           # (tokens x labels) and (tokens x D) temporaries, whatever the data size


def stored_sentences(examples, cap: int, rng) -> list[str]:
    """Up to `cap` distinct training sentences, shared out evenly across intents: each intent gets
    its sentences in random order, one intent at a time in turn, until the cap. A uniform sample would
    follow template expansion sizes, which leaves small intents ("what time is it") out entirely and
    so out of the recogniser's language model."""
    by_intent: dict = {}
    for ex in examples:
        if ex.intent == NONE_INTENT:  # out-of-scope text is not a command to listen for
            continue
        by_intent.setdefault(ex.intent, set()).add(ex.text)
    queues = [list(rng.permutation(sorted(texts))) for _, texts in sorted(by_intent.items(), key=lambda kv: str(kv[0]))]
    chosen: set[str] = set()
    depth = 0
    while len(chosen) < cap and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and len(chosen) < cap:
                chosen.add(str(q[depth]))
        depth += 1
    return sorted(chosen)


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


def general_block(tokens: list[str], dims: int) -> np.ndarray:
    """The general-English rows of the token table (models/general_vectors.py: vectors distilled once
    from a sentence encoder, with a subword fallback for words the table lacks): the first `dims`
    principal components, shifted by the table's per-dimension minimum so they are non-negative like
    the cipher blocks, and scaled so a row has L1 = 1 on average. Special tokens and words with no
    vector get the shifted zero vector (the table's centre)."""
    from safu.models.general_vectors import default_table

    table = default_table()
    dims = min(dims, table.dim)
    words = [t for t in tokens if t not in SPECIALS]
    G = np.zeros((len(tokens), dims))
    G[len(tokens) - len(words):] = table.matrix(words)[0][:, :dims]  # zero rows where nothing is found
    whole = table.vectors[:, :dims].astype(np.float64) * table.scale[:dims]
    low = whole.min(axis=0)
    l1 = float((whole - low).sum(axis=1).mean())
    return (G - low) / l1


def build_vocab(token_lists: list[list[str]]) -> list[str]:
    return vocab_from_counts(Counter(t for toks in token_lists for t in toks))


def vocab_from_counts(counts: Counter) -> list[str]:
    """SPECIALS, then the words by falling count (ties alphabetical); numbers are left out (<num>)."""
    words = sorted((w for w in counts if w not in SPECIALS and not is_number(w)), key=lambda w: (-counts[w], w))
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
        Csum = feat.cooc_sums(batch, E, c.cooc_radius, c.cooc_mode, BLOCK_TOKENS)   # = cooc.cooc_sums of the rows
        prior = 0.1 * E[0]  # <pad> never occurs: its noised code is the noise vector p
        Cn = normalise_blocks(Csum, bits, prior)
        blocks = 1 + Cn.shape[1] // bits
        parts = [E, Cn]
        if c.general_dims:
            parts.append(general_block(self.vocab.tokens, c.general_dims))
            blocks += 1
        self.R = np.concatenate(parts, axis=1) / blocks
        self.general_scale = 1.0 / blocks   # the general block's factor in a row (models/vocab_extension.py)
        return self.R

    # -- 2. slot tagger --------------------------------------------------------------------------
    # Every quantity below is a lookup into per-type tables: the window rows are static type rows,
    # so F = H^T Y for the cat features is R^T A_k with A_k (N, S) the attention mass of each
    # (type, label) pair at window slot k. One pass is O(T*K) instead of O(T*K*D). The passes run
    # over blocks of sentences: only (tokens x K) arrays are kept for all tokens, the (tokens x S)
    # logits of the internal targets exist for one block at a time.
    def slot_fit(self, batch: feat.Batch, labels: np.ndarray) -> None:
        c, R = self.c, self.R
        r, K, D, S = c.slot_radius, 2 * c.slot_radius + 1, R.shape[1], self.S
        blocks, T = [], 0
        for sl in feat.row_blocks(batch, BLOCK_TOKENS):
            _, _, win = batch.rows(sl).slot_windows(r)
            blocks.append((win, feat.slot_comparisons(win, R, r), labels[T:T + len(win)]))
            T += len(win)
        W = np.zeros((K, K))
        for round_ in range(c.tuning_rounds + 1):
            F_raw, a_total = 0.0, 0.0
            for win, Q, lab in blocks:
                a = -log_softmax(feat.position_mix(Q, W))                  # (T_b, K)
                F_raw = F_raw + self._slot_F(win, lab, a)
                a_total += float(a.sum())
            K_norm = a_total / max(T, 1) + 1.0
            U = explicit_fit(F_raw + c.slot_smoothing, K_norm)
            if round_ == c.tuning_rounds:
                break
            RU = [R @ U[k * D:(k + 1) * D] for k in range(K)]          # K x (N, S)
            cc = 2.0 * (1.0 + 1.0 / K) * np.log(max(S, 2))
            F_W = np.zeros((K, K))
            for win, Q, lab in blocks:
                a = -log_softmax(feat.position_mix(Q, W))
                V = np.empty_like(Q)
                for sl in _chunks(len(win), 4096):   # each token on its own: chunks keep the K gathers in cache
                    w = win[sl]
                    rr = [RU[k][w[:, k]] for k in range(K)]            # K x (chunk, S)
                    logits = U[K * D + w[:, r]]
                    for k in range(K):
                        logits += a[sl, k, None] * rr[k]
                    P = _softmax(logits)
                    at = np.arange(len(w))
                    for k in range(K):
                        V[sl, k] = rr[k][at, lab[sl]] - np.einsum("ts,ts->t", P, rr[k]) + cc
                F_W += Q.T @ np.maximum(V, 0.0)
            W = fit_W(np.eye(K), F_W)   # fit_W of the summed counts F = Q^T max(V, 0) (Q = I gives F back)
        self.slot_W, self.slot_U, self.slot_b = W, U, np.zeros(S)
        self.slot_state = {"batch": batch, "labels": labels, "F_raw": F_raw, "K": K_norm}

    def slot_windows(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows (T, K), attention a (T, K) with the fitted slot_W, labels (T,)) of the real tokens
        of the slot batch's sentences `rows` (sorted; every sentence when None), as in slot_fit."""
        st, r = self.slot_state, self.c.slot_radius
        batch = st["batch"] if rows is None else st["batch"].take(rows)
        labels = st["labels"] if rows is None else st["labels"][feat.token_index(st["batch"], rows)]
        _, _, win = batch.slot_windows(r)
        a = -log_softmax(feat.position_mix(feat.slot_comparisons(win, self.R, r), self.slot_W))
        return win, a, labels

    def _slot_F(self, win: np.ndarray, labels: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Raw F = H^T Y of the slot features: cat blocks via per-type attention mass, then word identity."""
        import scipy.sparse as sparse

        r, K, N, S = self.c.slot_radius, win.shape[1], self.R.shape[0], self.S
        blocks = []
        for k in range(K):
            # (S, N) attention mass of each (label, type) pair, sparse: a product costs pairs x D, not N x S x D
            A = sparse.csr_matrix((a[:, k], (labels, win[:, k])), shape=(S, N))
            blocks.append(np.asarray(A @ self.R).T)                    # (D, S)
        F_word = np.bincount(win[:, r].astype(np.int64) * S + labels, minlength=N * S).reshape(N, S).astype(np.float64)
        return np.concatenate(blocks + [F_word])

    def slot_logit_parts(self, U: np.ndarray, win: np.ndarray, a: np.ndarray,
                         RU: list | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(cat-feature logits, word-identity logits) for windows, both (T, S); RU: the K tables
        R @ U_k when already computed."""
        K, D = win.shape[1], self.R.shape[1]
        RU = RU if RU is not None else [self.R @ U[k * D:(k + 1) * D] for k in range(K)]
        cat = np.zeros((len(win), self.S))
        for k in range(K):
            cat += a[:, k, None] * RU[k][win[:, k]]
        return cat, U[K * D + win[:, self.c.slot_radius]]

    def slot_calibrate(self, hold_rows: np.ndarray) -> float:
        """Chooses the weight of the cat-feature block against word identity on held-out tokens.

        The explicit layer treats the K*D correlated window features as independent evidence and
        over-counts them; one scalar, picked on held-out data with the leave-out layer (counts of the
        held-out tokens subtracted), restores the balance. Folded into slot_U; returns the weight.
        """
        st = self.slot_state
        win, a, y = self.slot_windows(np.sort(np.asarray(hold_rows, dtype=np.int64)))
        if not len(win):
            return 1.0
        F_hold = self._slot_F(win, y, a)
        U_cal = explicit_fit(np.maximum(st["F_raw"] - F_hold, 0.0) + self.c.slot_smoothing, st["K"])
        D, K = self.R.shape[1], win.shape[1]
        RU = [self.R @ U_cal[k * D:(k + 1) * D] for k in range(K)]
        lams = (0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0)
        correct = np.zeros(len(lams), dtype=np.int64)
        for start in range(0, len(win), BLOCK_TOKENS):
            sl = slice(start, start + BLOCK_TOKENS)
            cat, word = self.slot_logit_parts(U_cal, win[sl], a[sl], RU)
            for i, lam in enumerate(lams):
                correct[i] += int(np.count_nonzero(np.argmax(lam * cat + word, axis=1) == y[sl]))
        best = max((float(correct[i] / len(win)), -abs(np.log(lam)), lam) for i, lam in enumerate(lams))
        lam = best[2]
        self.slot_U = self.slot_U.copy()
        self.slot_U[:K * D] *= lam
        return lam

    def slot_head(self, iterations: int, allowed: np.ndarray | None = None, case: np.ndarray | None = None) -> dict:
        """The discriminative slot layer: multinomial logistic regression over the slot layer's
        window features (the same forward pass, only slot_U's window rows and slot_b change),
        L-BFGS from the explicit layer, on the tokens of a random SLOT_HEAD_TOKENS of the slot
        batch's sentences; the word-identity rows stay explicit (fitting them too: SNIPS validate
        0.922 against 0.921, at five times the parameters).

        The explicit layer counts every window feature as independent evidence: "a" and "the" are
        mostly O, so they lose a title's first word whatever the context says ("rate a twist in
        the tale"); the fit weighs the context features against each other and against word
        identity. Rows are centred first (a constant per row changes no prediction); the prior pulls
        towards that start, SLOT_HEAD_PRIOR per parameter, the rows fitted times SLOT_HEAD_CAT_SCALE
        (their inputs are small). `allowed` (intents, S) bool: each token's softmax runs over the
        labels its sentence's intent uses (decoding only considers those: "ruth" may be an artist
        elsewhere, not in RateBook). Only the token rows of the sampled tokens' types are used.
        `case` (all tokens,) uint8: the letter-case flags of models/slot_case.py; when any sampled
        token has one, the table `slot_case` (flags x S) is fitted with the rest (self.slot_case,
        else None), a random SLOT_CASE_DROP of the sentences seen without flags.
        Returns a report."""
        import scipy.optimize
        import scipy.sparse as sparse

        st, r, S = self.slot_state, self.c.slot_radius, self.S
        batch = st["batch"]
        rng = np.random.default_rng([self.c.seed, 1])   # its own stream: the fitter's draws stay as they were
        order = rng.permutation(len(batch))
        n_tokens = np.cumsum((batch.L - 2)[order])
        rows = np.sort(order[:int(np.searchsorted(n_tokens, SLOT_HEAD_TOKENS)) + 1])
        win, a, y = self.slot_windows(rows)
        T = len(y)
        if T == 0 or S < 2:
            return {"tokens": 0}
        K, D = win.shape[1], self.R.shape[1]
        types, local = np.unique(win, return_inverse=True)
        local = local.reshape(win.shape)
        n = len(types)
        Rt = self.R[types].astype(np.float32)   # float32 inside (half the memory traffic); L-BFGS in float64
        RtT = np.ascontiguousarray(Rt.T)
        at = np.arange(T)
        # sparse (T, n K): window slot k's attention weight at column type K + k, so that the window
        # logits are M @ (R U_cat).reshape(n K, S) with U_cat = [U_0 ... U_(K-1)] side by side
        M = sparse.csr_matrix((a.astype(np.float32).ravel(), (np.repeat(at, K), (local * K + np.arange(K)).ravel())),
                              shape=(T, n * K))
        MT = M.T   # the CSC view: its product scatters the rows of Z in order
        U0 = self.slot_U - self.slot_U.mean(axis=1, keepdims=True)
        fixed = U0[K * D + win[:, r]].astype(np.float32)   # word identity, and the intent's label mask
        if allowed is not None:
            fixed[~allowed[np.repeat(self.y_all[rows], batch.L[rows] - 2)]] = -1e4
        cat_scale = SLOT_HEAD_CAT_SCALE
        n_cat = K * D * S
        # letter-case flags of the sampled tokens (models/slot_case.py), as a (T, F) 0/1 matrix
        Fc = None
        if case is not None:
            flags = case[feat.token_index(batch, rows)].copy()
            if SLOT_CASE_DROP:
                # a share of the sentences is seen without case (as spoken, lower-case input is):
                # the layer must not come to rely on the flags
                drop = rng.random(len(rows)) < SLOT_CASE_DROP
                flags[np.repeat(drop, batch.L[rows] - 2)] = 0
            Fc = flag_matrix(flags).astype(np.float32)
            if not Fc.any():
                Fc = None
        n_case = N_CASE_FEATURES * S if Fc is not None else 0

        def logits(theta):
            U_cat = (theta[:n_cat] * cat_scale).astype(np.float32).reshape(K, D, S).transpose(1, 0, 2).reshape(D, K * S)
            Z = np.asarray(M @ (Rt @ U_cat).reshape(n * K, S))
            Z += fixed
            Z += theta[n_cat:n_cat + S].astype(np.float32)
            if n_case:
                Z += Fc @ theta[n_cat + S:].astype(np.float32).reshape(N_CASE_FEATURES, S)
            return Z

        def objective(theta):
            Z = logits(theta)
            Z -= Z.max(axis=1, keepdims=True)
            z_y = Z[at, y]
            np.exp(Z, out=Z)
            total = Z.sum(axis=1)
            loss = -float((z_y - np.log(total)).mean(dtype=np.float64))
            Z /= total[:, None] * T
            Z[at, y] -= 1.0 / T                                                    # dLoss/dlogits
            g = RtT @ np.asarray(MT @ Z).reshape(n, K * S)                         # (D, K*S)
            d = theta[:n_cat] - theta0[:n_cat]
            grad = np.empty(len(theta))
            grad[:n_cat] = (g.reshape(D, K, S).transpose(1, 0, 2) * cat_scale).ravel() + SLOT_HEAD_PRIOR * d
            grad[n_cat:n_cat + S] = Z.sum(axis=0, dtype=np.float64)
            extra = 0.0
            if n_case:
                c_theta = theta[n_cat + S:]
                grad[n_cat + S:] = (Fc.T @ Z).ravel() + SLOT_CASE_PRIOR * c_theta
                extra = 0.5 * SLOT_CASE_PRIOR * float(c_theta @ c_theta)
            return loss + 0.5 * SLOT_HEAD_PRIOR * float(d @ d) + extra, grad

        theta0 = np.concatenate([(U0[:K * D] / cat_scale).ravel(), np.zeros(S + n_case)])
        start = objective(theta0)[0]
        result = scipy.optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B",
                                         options={"maxiter": iterations, "maxcor": 10})
        U0[:K * D] = result.x[:n_cat].reshape(K * D, S) * cat_scale
        self.slot_U, self.slot_b = U0, result.x[n_cat:n_cat + S].copy()
        report = {"tokens": int(T), "iterations": int(result.nit), "loss": [round(start, 6), round(float(result.fun), 6)]}
        self.slot_case = result.x[n_cat + S:].reshape(N_CASE_FEATURES, S).copy() if n_case else None
        if n_case:
            report["case"] = np.round(self.slot_case, 3).tolist()
        return report

    # -- 3. intent head --------------------------------------------------------------------------
    # The pooled rows are kept as sparse (sentences x vocabulary) weights: f_row = A_row @ R,
    # f_att = A_att @ R (features.pooled_weights), so products with them cost tokens x C and no
    # (sentences x D) array is formed for all sentences.
    def intent_features(self, batch: feat.Batch, W: np.ndarray) -> dict:
        N = len(self.vocab)
        return {"batch": batch, "A_row": feat.row_weights(batch, N),
                "A_att": feat.intent_attention(batch, self.R, W, BLOCK_TOKENS)}

    def class_weights(self, y: np.ndarray) -> np.ndarray:
        """Per-example weights giving every intent the same total mass: the explicit layer's
        column-sum term otherwise acts as a prior that favours intents with more sentences
        (template expansion easily gives 2,000 sentences to one intent and 20 to another)."""
        counts = np.bincount(self.y_all, minlength=self.C).astype(np.float64)
        return (len(self.y_all) / (self.C * np.maximum(counts, 1.0)))[y]

    def intent_F(self, fx: dict, y: np.ndarray) -> np.ndarray:
        """F = H^T Y for the intent features, accumulated sparsely for the bag-of-words blocks."""
        import scipy.sparse as sparse

        c, N, B, C = self.c, len(self.vocab), self.c.bigram_buckets, self.C
        batch = fx["batch"]
        w = self.class_weights(y) if self.c.balance_intents else np.ones(len(batch))
        F_bow, F_big = np.zeros((N, C)), np.zeros((B, C))
        # Over blocks of sentences, in order: np.add.at adds in position order and the random
        # draws follow one stream, so the sums are those of one pass over everything.
        for sl in feat.row_blocks(batch, BLOCK_TOKENS):
            sub, yb, wb = batch.rows(sl), y[sl], w[sl]
            rows, cols = np.nonzero(sub.mask)
            np.add.at(F_bow, (sub.S[rows, cols], yb[rows]), (wb / sub.L)[rows])
            # <unk> statistics: a random share of tokens also counts as <unk>, so unknown words at
            # prediction time point to the classes that have many rare words.
            pick = self.rng.random(len(rows)) < c.unk_rate
            np.add.at(F_bow, (np.full(pick.sum(), UNK), yb[rows[pick]]), (wb / sub.L)[rows[pick]])
            if B:
                big, valid = sub.bigrams(B)
                r2, c2 = np.nonzero(valid)
                np.add.at(F_big, (big[r2, c2], yb[r2]), (wb / (sub.L - 1))[r2])
        parts = [F_bow, F_big] if B else [F_bow]
        Y = sparse.csr_matrix((w, (np.arange(len(y)), y)), shape=(len(y), C))   # weighted one-hot
        parts += [self.R.T @ (fx["A_row"].T @ Y).toarray(), self.R.T @ (fx["A_att"].T @ Y).toarray()]
        return np.concatenate(parts)

    def _bigram_logits(self, batch: feat.Batch, U_big: np.ndarray) -> np.ndarray:
        out = np.zeros((len(batch), U_big.shape[1]))
        for sl in _chunks(len(batch), 4096):
            S, mask, L = batch.S[sl], batch.mask[sl], batch.L[sl]
            big = feat.bigram_bucket(S[:, :-1], S[:, 1:], len(U_big))
            out[sl] = (U_big[big] * mask[:, 1:, None]).sum(axis=1) / (L - 1)[:, None]
        return out

    def intent_logits(self, fx: dict, U: np.ndarray, b: np.ndarray) -> np.ndarray:
        N, B, D = len(self.vocab), self.c.bigram_buckets, self.R.shape[1]
        U_bow, U_big, U_row, U_att = np.split(U, [N, N + B, N + B + D])
        out = np.asarray(fx["A_row"] @ (U_bow + self.R @ U_row))   # f_bow and f_row share the 1/L weights
        if B:
            out += self._bigram_logits(fx["batch"], U_big)
        out += fx["A_att"] @ (self.R @ U_att)
        return out + b

    def intent_fit(self, batch: feat.Batch, y: np.ndarray) -> None:
        self.y_all = y
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
            U_att = U[N + B + D:]
            cc = 2.0 * (1.0 + 1.0 / K_i) * np.log(max(C, 2))
            Lmax = batch.S.shape[1]
            F_W = np.zeros((Lmax, Lmax))   # Q^T max(V, 0), summed over blocks of sentences
            for sl in feat.row_blocks(batch, BLOCK_TOKENS):
                sub = batch.rows(sl)
                P = softmax(self.intent_logits({"batch": sub, "A_row": fx["A_row"][sl], "A_att": fx["A_att"][sl]},
                                               U, np.zeros(C)))
                G = U_att[:, y[sl]].T - P @ U_att.T                          # (m, D)
                V = feat.intent_internal_targets(sub, self.R, G + cc)  # masked positions get no target
                F_W += feat.intent_comparisons(sub, self.R).T @ np.maximum(V, 0.0)
            W = np.zeros((K_i, K_i))
            W[:Lmax, :Lmax] = fit_W(np.eye(Lmax), F_W)   # Q = I: fit_W of the summed counts
        self.intent_W, self.intent_U, self.intent_b = W, U, np.zeros(C)

    def intent_block_logits(self, fx: dict, U: np.ndarray) -> list[np.ndarray]:
        """Logits of each feature block [bow, bigram, row, attention] separately, each (M, C)."""
        N, B, D = len(self.vocab), self.c.bigram_buckets, self.R.shape[1]
        U_bow, U_big, U_row, U_att = np.split(U, [N, N + B, N + B + D])
        batch = fx["batch"]
        bow = np.asarray(fx["A_row"] @ U_bow)
        big = self._bigram_logits(batch, U_big) if B else np.zeros_like(bow)
        return [bow, big, np.asarray(fx["A_row"] @ (self.R @ U_row)), np.asarray(fx["A_att"] @ (self.R @ U_att))]

    def intent_block_weights(self, fx_hold: dict, y_hold: np.ndarray, U: np.ndarray) -> np.ndarray:
        """Weights of the four feature blocks, by coordinate search on held-out log-loss.

        Like the slot weight: the explicit fit scores each block as independent evidence; a weight
        per block (folded into intent_U) corrects for blocks that repeat each other."""
        parts = self.intent_block_logits(fx_hold, U)
        w = np.ones(4)

        def loss(weights):
            lp = log_softmax(sum(wi * p for wi, p in zip(weights, parts)))
            return -float(lp[np.arange(len(y_hold)), y_hold].mean())

        grid = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
        for _ in range(2):
            for b in range(4):
                trials = []
                for g in grid:
                    t = w.copy()
                    t[b] = g
                    if t.any():
                        trials.append((loss(t), abs(g - 1.0), g))
                w[b] = min(trials)[2]
        return w

    def apply_block_weights(self, w: np.ndarray) -> None:
        N, B, D = len(self.vocab), self.c.bigram_buckets, self.R.shape[1]
        bounds = [0, N, N + B, N + B + D, N + B + 2 * D]
        self.intent_U = self.intent_U.copy()
        for b in range(4):
            self.intent_U[bounds[b]:bounds[b + 1]] *= w[b]

    # -- 4. the discriminative intent layer ------------------------------------------------------
    def _head_inputs(self, batch: feat.Batch, y: np.ndarray):
        att = feat.intent_attention(batch, self.R, self.intent_W, BLOCK_TOKENS)
        H = head_features(batch, att, self.R, len(self.vocab), self.c.bigram_buckets)
        w = self.class_weights(y) if self.c.balance_intents else np.ones(len(y))
        return H, w

    def dense_scale(self, H: HeadFeatures) -> tuple[np.ndarray, np.ndarray | None]:
        """Fit-time (scale, shift) of the dense columns [f_row, f_att] (intent_head.fit_logistic_head).

        The general-English columns (the last general_dims of each row) vary about thirty times less
        over the sentences than the cipher columns (CLINC150: std 1.8e-4 against 5.2e-3), so they are
        fitted times `general_weight` (a weaker L2 on their rows). With `general_std` > 0 they are
        instead fitted centred (the mean over the training sentences taken off, folded into the bias)
        and scaled to that std, one scale per column for both blocks (their pooled std), folded back
        into intent_U (docs/method.md section 6 has the measurements). The cipher columns are fitted as
        they are: scaled to a common std too they overfit (CLINC150 val 0.916 top-1, OOS recall 0.61)."""
        D, g = self.R.shape[1], min(self.c.general_dims, self.R.shape[1])
        scale = np.ones(2 * D)
        if not g:
            return scale, None
        if not self.c.general_std:
            scale[D - g:D] = scale[2 * D - g:] = self.c.general_weight
            return scale, None
        N = self.R.shape[0]
        G = self.R[:, D - g:]
        F_row, F_att = np.asarray(H.sparse[:, :N] @ G), np.asarray(H.att @ G)
        sd = np.sqrt(0.5 * (F_row.var(axis=0) + F_att.var(axis=0)))
        scale[D - g:D] = scale[2 * D - g:] = self.c.general_std / np.maximum(sd, 1e-12)
        shift = np.zeros(2 * D)
        shift[D - g:D], shift[2 * D - g:] = F_row.mean(axis=0), F_att.mean(axis=0)
        return scale, shift

    def logistic_head(self, batch: feat.Batch, y: np.ndarray, train: np.ndarray, hold: np.ndarray) -> int:
        """Fits the logistic layer on the training split from the current (leave-out explicit) layer;
        keeps the iteration count with the lowest held-out log-loss. Returns that count."""
        c = self.c
        H, w = self._head_inputs(batch.take(train), y[train])
        H_hold, _ = self._head_inputs(batch.take(hold), y[hold])
        l2 = c.head_prior / len(train)
        U0, b0 = warm_start(H, y[train], self.intent_U, w)
        checkpoints = tuple(range(10, c.head_iterations + 1, 10)) or (c.head_iterations,)
        rows = np.arange(len(hold))
        losses: dict = {}

        def no_longer_falling(kept) -> bool:
            # held-out error first, log-loss on ties: with a weak prior the loss rises (confidence
            # grows) while the error still falls
            for it, (U, b) in kept.items():
                if it not in losses:
                    lp = log_softmax(H_hold.logits(U, b))
                    losses[it] = (float(np.mean(lp.argmax(axis=1) != y[hold])), -float(lp[rows, y[hold]].mean()))
            order = sorted(losses)
            best_at = min(order, key=lambda it: (losses[it], it))
            return len(order) - 1 - order.index(best_at) >= 3  # three checkpoints without a new best

        self.head_scale = self.dense_scale(H)
        _, _, kept = fit_logistic_head(H, y[train], U0, b0, l2, c.head_iterations, w, checkpoints,
                                       *self.head_scale, stop=no_longer_falling)
        no_longer_falling(kept)
        best = min(losses, key=lambda it: (losses[it], it))
        self.intent_U, self.intent_b = kept[best]
        self.head_report = {"iterations": best, "held_out_error_loss": {k: [round(e, 4), round(v, 4)]
                                                                         for k, (e, v) in losses.items()}}
        return best

    def logistic_head_refit(self, batch: feat.Batch, y: np.ndarray, iterations: int,
                            from_explicit: bool = False) -> None:
        """The layer shipped: every example, warm-started from the leave-out logistic layer (or from
        the explicit layer when nothing was held out), a third of the chosen iterations."""
        H, w = self._head_inputs(batch, y)
        if from_explicit:
            U0, b0 = warm_start(H, y, self.intent_U, w)
        else:
            U0, b0, iterations = self.intent_U, self.intent_b, max(10, iterations // 3)
        l2 = self.c.head_prior / len(y)
        ds, shift = getattr(self, "head_scale", None) or self.dense_scale(H)   # the leave-out fit's scale
        self.intent_U, self.intent_b, _ = fit_logistic_head(H, y, U0, b0, l2, iterations, w,
                                                            dense_scale=ds, dense_shift=shift)

    def leave_out_layer(self, batch: feat.Batch, y: np.ndarray, hold: np.ndarray) -> tuple[dict, np.ndarray]:
        """Sets intent_U to the explicit layer fitted without the `hold` rows (F minus their counts),
        with its block weights chosen on them. Returns (the held-out features, the block weights)."""
        fx_hold = self.intent_features(batch.take(hold), self.intent_W)
        F_hold = self.intent_F(fx_hold, y[hold])
        self.intent_U = explicit_fit(np.maximum(self.intent_F_raw - F_hold, 0.0) + self.c.smoothing, 4.0)
        block_w = self.intent_block_weights(fx_hold, y[hold], self.intent_U)
        self.apply_block_weights(block_w)
        return fx_hold, block_w

    def bagged_head(self, batch: feat.Batch, y: np.ndarray, n_hold: int) -> None:
        """Averages the shipped logistic layer with head_bag - 1 more, each fitted as the first was
        (leave-out explicit layer, block weights, early stopping, refit on every example) but on its
        own held-out split. Early stopping makes one layer a draw of its split (docs/method.md
        section 6); every layer reads the same features, so their mean is one layer of the same size,
        and its logits are the mean of theirs."""
        c = self.c
        Us, bs = [self.intent_U], [self.intent_b]
        for k in range(1, c.head_bag):
            order = np.random.default_rng((c.seed, k)).permutation(len(y))
            hold, train = order[:n_hold], order[n_hold:]
            self.leave_out_layer(batch, y, hold)
            self.logistic_head_refit(batch, y, self.logistic_head(batch, y, train, hold))
            Us.append(self.intent_U)
            bs.append(self.intent_b)
        self.intent_U, self.intent_b = np.mean(Us, axis=0), np.mean(bs, axis=0)

    # -- 5. polish -------------------------------------------------------------------------------
    def polish(self, train: tuple, dev: tuple, epochs: int, lr: float) -> int:
        """Adam on intent_U/intent_b with early stopping on dev log-loss; returns epochs run."""
        fx, y = train
        fx_dev, y_dev = dev
        U, b = self.intent_U.copy(), self.intent_b.copy()
        N, B, D = len(self.vocab), self.c.bigram_buckets, self.R.shape[1]
        opt = Adam([U, b], lr)
        stopper = EarlyStopping([U, b], self._dev_loss(fx_dev, y_dev, U, b))
        batch, ran = fx["batch"], 0
        for epoch in range(epochs):
            ran = epoch + 1
            order = self.rng.permutation(len(batch))
            for sl in _chunks(len(order), 256):
                idx = order[sl]
                sub = {"batch": batch.take(idx), "A_row": fx["A_row"][idx], "A_att": fx["A_att"][idx]}
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
                gU[N + B:N + B + D] = np.asarray(sub["A_row"] @ self.R).T @ G
                gU[N + B + D:] = np.asarray(sub["A_att"] @ self.R).T @ G
                opt.step([gU, G.sum(axis=0)])
            if stopper.update([U, b], self._dev_loss(fx_dev, y_dev, U, b)):
                break
        self.intent_U, self.intent_b = stopper.best
        return ran

    def slot_polish(self, hold_rows: np.ndarray, epochs: int, lr: float) -> int:
        """Adam on slot_U/slot_b (window features and word identity), early stopping on the
        held-out examples' tokens; embeddings and W stay frozen. Returns epochs run."""
        batch = self.slot_state["batch"]
        all_win, all_a, labels = self.slot_windows()
        K, D = all_win.shape[1], self.R.shape[1]
        held = np.isin(np.repeat(np.arange(len(batch)), batch.L - 2), hold_rows)
        tr, dv = np.nonzero(~held)[0], np.nonzero(held)[0]
        U, b = self.slot_U.copy(), self.slot_b.copy()

        def feats(idx):
            win = all_win[idx]
            return (all_a[idx][:, :, None] * self.R[win]).reshape(len(idx), -1), win[:, self.c.slot_radius]

        def dev_loss():
            if not len(dv):
                return 0.0
            total = 0.0
            for sl in _chunks(len(dv), 4096):   # (chunk, K*D) features at a time
                h, centre = feats(dv[sl])
                lp = log_softmax(h @ U[:K * D] + U[K * D + centre] + b)
                total += float(lp[np.arange(len(h)), labels[dv[sl]]].sum())
            return -total / len(dv)

        opt = Adam([U, b], lr)
        stopper = EarlyStopping([U, b], dev_loss())
        ran = 0
        for epoch in range(epochs):
            ran = epoch + 1
            order = self.rng.permutation(tr)
            for sl in _chunks(len(order), 512):
                idx = order[sl]
                h, centre = feats(idx)
                P = softmax(h @ U[:K * D] + U[K * D + centre] + b)
                G = P
                G[np.arange(len(idx)), labels[idx]] -= 1.0
                G /= len(idx)
                gU = np.zeros_like(U)
                gU[:K * D] = h.T @ G
                np.add.at(gU, K * D + centre, G)
                opt.step([gU, G.sum(axis=0)])
            if stopper.update([U, b], dev_loss()):
                break
        self.slot_U, self.slot_b = stopper.best
        return ran

    def _dev_loss(self, fx, y, U, b) -> float:
        if len(y) == 0:
            return 0.0
        lp = log_softmax(self.intent_logits(fx, U, b))
        return float(-lp[np.arange(len(y)), y].mean())


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in one exp (safu_unit.softmax is exp of log_softmax: two)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


# ---------------------------------------------------------------------------------------------
# public entry point


def fit_intent_model(examples, config: IntentConfig | None = None, out_of_scope: list[str] | None = None,
                     progress=None, closed_slots: dict | None = None) -> TrainedIntentModel:
    """Fits an intent + slot model on examples (objects with .text, .intent, .slots).

    out_of_scope: sentences that must be rejected; used only to calibrate the threshold.
    progress: optional callable(step_name) for progress reporting.
    closed_slots: {slot: values} of the closed-list slots (Dataset.closed_slots), stored as
    `slot.closed` for the tagged slots among them; the fit does not use them.
    Raises ValueError for data that cannot train a model (no examples, fewer than two intents).
    """
    config = config or IntentConfig()
    config.validate()
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    examples = [ex for ex in examples if ex.intent is not None]
    if any(ex.intent == NONE_INTENT for ex in examples):
        raise ValueError(f"the intent name {NONE_INTENT!r} is reserved for out-of-scope text")
    if not examples:
        raise ValueError("no training examples with an intent")
    intents = sorted({ex.intent for ex in examples})
    if config.none_class and out_of_scope:   # with one intent too: <none> is then the second class
        # An explicit out-of-scope class (docs/method.md section 6): the shipped out-of-domain sentences,
        # repeated so they weigh like a typical intent; predicting it means "not a command".
        examples = examples + [_PlainExample(text, NONE_INTENT) for text in out_of_scope]
        intents = sorted({ex.intent for ex in examples})
    if len(intents) < 2:
        raise ValueError(f"training needs at least two intents, found only {intents[0]!r}: add examples of "
                         "another intent, or turn on none_class with out-of-scope sentences (an intent "
                         "model with one class cannot tell anything apart)")
    slot_names = sorted({s.name for ex in examples for s in ex.slots if s.start >= 0 and s.end > s.start})
    slot_labels = ["O"] + [f"{p}-{n}" for n in slot_names for p in ("B", "I")]
    label_index = {lab: i for i, lab in enumerate(slot_labels)}
    intent_index = {name: i for i, name in enumerate(intents)}
    say("tokenising")
    cut = config.max_tokens
    prep = prepare(examples, label_index, cut)
    vocab = prep.vocab
    y = np.array([intent_index[ex.intent] for ex in examples])

    # One fit on all examples. The held-out split calibrates the threshold with a leave-out model:
    # the intent layer is a closed form of counts F = H^T Y, so subtracting the held-out rows' counts
    # gives exactly the layer fitted without them (same token rows and attention W).
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(examples))
    n_hold = int(len(examples) * config.holdout) if len(examples) >= 20 else 0
    hold, train = order[:n_hold], order[n_hold:]

    batch = feat.Batch.from_flat(prep.ids, prep.lengths)
    f = _Fitter(config, vocab, len(intents), len(slot_labels))
    say("bit cipher and co-occurrence vectors")
    f.token_table(batch)
    say("slot SAFU")
    f.slot_fit(with_rare_as_unknown(batch, len(vocab), seed=config.seed), prep.labels)  # slot_unknown.py
    say("intent SAFU")
    f.intent_fit(batch, y)
    polish_epochs_run, threshold, block_w, slot_weight = 0, 0.0, np.ones(4), 1.0
    head_iterations = config.head_iterations
    if n_hold:
        say("calibrating the out-of-scope threshold")
        U_full = f.intent_U
        fx_hold, block_w = f.leave_out_layer(batch, y, hold)
        slot_weight = f.slot_calibrate(hold)
        if config.head == "logistic":
            say("logistic intent layer")
            head_iterations = f.logistic_head(batch, y, train, hold)
        if config.polish_epochs:
            say("backprop polish")
            fx_train = f.intent_features(batch.take(train), f.intent_W)
            polish_epochs_run = f.polish((fx_train, y[train]), (fx_hold, y[hold]),
                                         config.polish_epochs, config.polish_lr)
            say("backprop polish (slots)")
            f.slot_polish_epochs_run = f.slot_polish(hold, config.polish_epochs, config.polish_lr)
        P_hold = _predict_batch(f, batch.take(hold))
        oos_ids = [vocab.encode(s, cut)[0] for s in (out_of_scope or [])]
        P_oos = _predict_intents(f, oos_ids) if oos_ids else np.zeros((0, len(intents)))
        threshold = calibrate_threshold(P_hold, y[hold], P_oos.max(axis=1) if len(P_oos) else np.zeros(0),
                                        config.min_inscope_recall)
        if config.head == "logistic" and not config.polish_epochs:
            say("logistic intent layer (all examples)")
            f.logistic_head_refit(batch, y, head_iterations)
            if config.head_bag > 1:
                say(f"logistic intent layer ({config.head_bag - 1} more held-out splits)")
                f.bagged_head(batch, y, n_hold)
        elif not config.polish_epochs:
            f.intent_U = U_full  # explicit only: ship the layer fitted on every example
            f.apply_block_weights(block_w)
        # (with polish, the shipped layer is the polished leave-out layer: the held-out rows
        #  decided when to stop, so they were not trained on)
    elif out_of_scope:
        # Too few examples to hold any out: calibrate on the training sentences themselves (their
        # confidences are optimistic) against the shipped out-of-scope sentences.
        if config.head == "logistic":
            say("logistic intent layer")
            f.logistic_head_refit(batch, y, config.head_iterations, from_explicit=True)
        say("calibrating the out-of-scope threshold")
        P_in = _predict_batch(f, batch)
        P_oos = _predict_intents(f, [vocab.encode(s, cut)[0] for s in out_of_scope])
        threshold = calibrate_threshold(P_in, y, P_oos.max(axis=1), config.min_inscope_recall)
    # Which slot labels each intent uses in training: decoding only considers those (a timer's
    # `conversation_command` can never be tagged inside a HassTurnOn command).
    allowed = np.zeros((len(intents), len(slot_labels)), np.float32)
    allowed[:, 0] = 1.0
    allowed[np.repeat(y, prep.lengths), prep.labels] = 1.0
    slot_head = {}
    if config.slot_iterations and not config.polish_epochs:   # (polish refits the slot layer its own way)
        say("discriminative slot layer")
        slot_head = f.slot_head(config.slot_iterations, allowed > 0, prep.case)
    final = f
    final.polish_epochs_run = polish_epochs_run
    K_s = 2 * config.slot_radius + 1
    tensors = {
        "slot_allowed": allowed,
        "slot_transitions": slot_transition_scores(prep, slot_labels),  # BIO Viterbi scores
        "token_table": final.R,
        "slot_W": final.slot_W,
        "slot_U": final.slot_U,
        "slot_b": final.slot_b,
        "intent_W": final.intent_W,
        "intent_U": final.intent_U,
        "intent_b": final.intent_b,
    }
    if getattr(final, "slot_case", None) is not None:
        tensors["slot_case"] = final.slot_case   # letter-case evidence (models/slot_case.py)
    assert tensors["slot_U"].shape[0] == K_s * final.R.shape[1] + len(vocab)
    sentences = stored_sentences(examples, STORED_SENTENCES, rng)
    say("word aliases")
    seen = np.bincount(prep.ids, minlength=len(vocab))
    aliases = word_aliases(vocab.tokens, config.alias_cosine, counts=dict(zip(vocab.tokens, seen.tolist())))
    tokens = vocab.tokens
    if config.general_extra_words:
        say("vocabulary extension")
        extra = extension_words(tokens, aliases, config.general_extra_words)
        tokens, tensors = extend_model(tokens, tensors, extra, config.general_dims, f.general_scale,
                                       config.slot_radius)
    seconds = time.perf_counter() - t0
    return TrainedIntentModel(
        config=config, vocab=tokens, intents=intents, slot_labels=slot_labels,
        synonyms=prep.synonyms, tensors=tensors, threshold=threshold, sentences=sentences,
        stats={"examples": len(examples), "seconds": seconds, "data_sha256": data_hash(examples),
               "polish_epochs_run": final.polish_epochs_run, "held_out": int(n_hold),
               "intent_block_weights": block_w.tolist(), "slot_block_weight": slot_weight,
               "slot_values": prep.slot_values, "aliases": aliases, "extra_words": len(tokens) - len(vocab),
               "slot_head": slot_head,
               "trim_possessive": prep.trim_possessive,
               "closed_slots": closed_slot_entries(closed_slots or {}, slot_names)})


# The tagger's p(label | window) already holds the label's prior, and P(label | previous label)
# holds it again: the table's scores get log P(label) * TRANSITION_PRIOR taken off (1 would be the
# pointwise mutual information of the two labels, 0 the plain bigram). Without it a rare slot
# after O pays twice ("rate <unk> four out of 6": B-object_name at 0.63 lost to O).
# SNIPS validate slot F1 with the discriminative slot layer (value bonus 2, weight 0.75): 0.923 / 0.923 /
# 0.925 / 0.922 / 0.921 at 0 / 0.125 / 0.25 / 0.375 / 0.5; HA bench row 0.943 at 0.25, 0.941 at 0.5
# (explicit slot layer only: 0.889 / 0.896 / 0.888 at 0 / 0.5 / 1).
TRANSITION_PRIOR = 0.25


def slot_transition_scores(prep: Prepared, slot_labels: list[str]) -> np.ndarray:
    """slot_transitions.fit_slot_transitions of the training label sequences, minus
    TRANSITION_WEIGHT * TRANSITION_PRIOR * log P(next label) on the legal transitions (the label
    frequencies with the table's additive count); float32 (S+1, S)."""
    table = fit_slot_transitions(prep.label_sequences(), slot_labels)
    if not TRANSITION_PRIOR:
        return table
    counts = np.bincount(prep.labels, minlength=len(slot_labels)) + TRANSITION_SMOOTHING
    shift = TRANSITION_WEIGHT * TRANSITION_PRIOR * np.log(counts / counts.sum())
    legal = legal_transitions(slot_labels)
    return np.where(legal, table - shift[None, :], table).astype(np.float32)


def _predict_intents(f: _Fitter, id_lists: list[np.ndarray]) -> np.ndarray:
    if not id_lists:
        return np.zeros((0, f.C))
    return _predict_batch(f, feat.Batch.from_ids(id_lists))


def _predict_batch(f: _Fitter, batch: feat.Batch) -> np.ndarray:
    return softmax(f.intent_logits(f.intent_features(batch, f.intent_W), f.intent_U, f.intent_b))


def calibrate_threshold(P_hold: np.ndarray, y_hold: np.ndarray, oos_conf: np.ndarray,
                        min_recall: float, oos_rejection: float = 0.95) -> float:
    """Picks the threshold on the top probability.

    t_in keeps `min_recall` of the held-out examples the model gets right. If out-of-scope
    sentences are given and a lower threshold already rejects `oos_rejection` of them, that lower
    one is used: held-out sentences come from the same templates as training and are easier than
    real speech, so a threshold no higher than needed keeps more real commands.
    The out-of-scope rule needs at least 20 sentences. Without held-out correct answers, 0 (never reject).
    """
    conf = P_hold.max(axis=1)
    correct = conf[P_hold.argmax(axis=1) == y_hold]
    if len(correct) == 0:
        return 0.0
    t = float(np.quantile(correct, 1.0 - min_recall))
    if len(oos_conf) >= 20:  # a 95% quantile of fewer sentences says little
        t = min(t, float(np.quantile(oos_conf, oos_rejection)) + 1e-6)
    return max(0.0, min(t, 0.99))
