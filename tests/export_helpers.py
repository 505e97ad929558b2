"""Helpers for the export tests: a small hand-made intent model file and a plain numpy forward
written straight from docs/intent_model.md (checked against safu.models.reference when present).

    path = write_tiny_intent_model(tmp_path / "tiny.safu", seed=0)
    p_intent, p_slot = spec_forward(IntentTensors, ids)
"""
from __future__ import annotations

import numpy as np

from safu.export.intent_tensors import BIGRAM_MULTIPLIER, EOD, SOD, SPECIALS, IntentTensors
from safu.export.quantize import dense_tensor

TINY_WORDS = [
    "turn", "on", "off", "the", "kitchen", "bedroom", "living", "room", "lights", "light", "lamp",
    "set", "thermostat", "to", "degrees", "open", "close", "garage", "door", "play", "music",
    "what's", "temperature", "in", "switch", "fan", "tv", "café", "1,000", "21.5",
]
TINY_INTENTS = ["HassTurnOn", "HassTurnOff", "HassClimateSetTemperature", "HassOpen"]
TINY_SLOT_NAMES = ["area", "name"]
TINY_UTTERANCES = [
    "turn on the kitchen lights",
    "Switch OFF the bedroom lamp!",
    "set the thermostat to 21.5 degrees",
    "what's the temperature in the living room",
    "open the garage door",
    "play some music at 1,000 watts in the café",
    "",
    "xyzzy plugh",
    "turn turn turn on on the the fan fan tv tv lamp lamp lights lights kitchen kitchen",
    "switch on the Lamps and the televisions",
]


def tiny_intent_model(seed: int = 0, dim: int = 8, radius: int = 2, buckets: int = 16,
                      max_tokens: int = 12, vocab_words=None):
    """(metadata, tensors) of a random but well-formed intent model."""
    rng = np.random.default_rng(seed)
    vocab = list(SPECIALS) + list(vocab_words if vocab_words is not None else TINY_WORDS)
    n = len(vocab)
    slot_labels = ["O"] + [f"{p}-{s}" for s in TINY_SLOT_NAMES for p in ("B", "I")]
    C, S, Ks, Ki = len(TINY_INTENTS), len(slot_labels), 2 * radius + 1, max_tokens + 2
    R = rng.random((n, dim)).astype(np.float32) ** 3
    R /= R.sum(axis=1, keepdims=True)
    tensors = {
        "token_table": R.astype(np.float32),
        "slot_W": rng.normal(0, 3, (Ks, Ks)).astype(np.float32),
        "slot_U": rng.normal(0, 4, (Ks * dim + n, S)).astype(np.float32),
        "slot_b": rng.normal(0, 0.5, S).astype(np.float32),
        "intent_W": rng.normal(0, 3, (Ki, Ki)).astype(np.float32),
        "intent_U": rng.normal(0, 4, (n + buckets + 2 * dim, C)).astype(np.float32),
        "intent_b": rng.normal(0, 0.5, C).astype(np.float32),
    }
    metadata = {
        "general.kind": "intent",
        "general.safu_version": "0.1.0",
        "general.training_data_sha256": "0" * 64,
        "tokenizer.vocab": vocab,
        "tokenizer.max_tokens": max_tokens,
        "model.dim": dim,
        "cipher.bits": dim,
        "cooc.mode": "sum",
        "cooc.radius": 1,
        "slot.radius": radius,
        "intent.bigram_buckets": buckets,
        "intent.labels": TINY_INTENTS,
        "slot.labels": slot_labels,
        "slot.synonyms": ["area\tliving room\tliving_room", "name\tlamp\tlight.lamp"],
        "intent.threshold": 0.3,
        "train.sentences": TINY_UTTERANCES[:6],
    }
    if vocab_words is None:   # aliases (models/word_aliases.py): words read as a token they stand for
        aliases = {"lamps": "lamp", "televisions": "tv", "kitchens": "kitchen"}
        metadata["tokenizer.aliases"] = sorted(aliases)
        metadata["tokenizer.alias_ids"] = [vocab.index(aliases[w]) for w in sorted(aliases)]
    return metadata, tensors


def write_tiny_intent_model(path, **kw):
    from safu.export.model_file import write_model_file

    metadata, tensors = tiny_intent_model(**kw)
    write_model_file(path, metadata, tensors)
    return path


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def spec_forward(spec: IntentTensors, ids) -> tuple[np.ndarray, np.ndarray]:
    """docs/intent_model.md, computed densely in float64 (an independent check of every backend)."""
    ids = np.asarray(ids, dtype=np.int64)
    N, D, B, r = spec.n_vocab, spec.dim, spec.bigram_buckets, spec.slot_radius
    Ks = 2 * r + 1
    R = dense_tensor(spec.tensors, "token_table").astype(np.float64)
    sU = dense_tensor(spec.tensors, "slot_U").astype(np.float64)
    iU = dense_tensor(spec.tensors, "intent_U").astype(np.float64)
    sW, iW = spec.tensors["slot_W"].astype(np.float64), spec.tensors["intent_W"].astype(np.float64)
    seq = np.concatenate([[SOD], ids, [EOD]]).astype(np.int64)
    L, n = len(seq), len(ids)
    f_bow = np.zeros(N)
    for t in seq:
        f_bow[t] += 1.0 / L
    f_big = np.zeros(B)
    if B:
        for j in range(L - 1):
            f_big[(seq[j] * BIGRAM_MULTIPLIER + seq[j + 1]) % B] += 1.0 / (L - 1)
    rows = R[seq]
    f_row = rows.mean(axis=0)
    q = rows @ rows[0]
    z = q @ iW[:L, :L]
    a = -_log_softmax(z)
    f_att = (a[:, None] * rows).sum(axis=0) / a.sum()
    H = np.concatenate([f_bow, f_big, f_row, f_att])
    p_intent = np.exp(_log_softmax(H @ iU + spec.tensors["intent_b"]))
    p_slot = np.zeros((n, len(spec.slot_labels)))
    for j in range(1, n + 1):
        w = [seq[j - r + k] if 0 <= j - r + k < L else 0 for k in range(Ks)]
        Rw = R[w]
        qq = Rw @ Rw[r]
        aa = -_log_softmax(qq @ sW)
        h = (aa[:, None] * Rw).reshape(-1)
        p_slot[j - 1] = np.exp(_log_softmax(h @ sU[: Ks * D] + sU[Ks * D + seq[j]] + spec.tensors["slot_b"]))
    return p_intent, p_slot
