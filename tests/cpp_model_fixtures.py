"""Tiny hand-made intent model files for the C++ core tests (random but valid per docs/intent_model.md).

    path = write_random_intent_model(tmp_path / "m.safu", seed=0, quantise=False)

Trained models (safu.runtime.api) are used too when the trainer is available; these random ones
reach every code path (bigrams, I8 tensors, synonyms, unknown words) deterministically.
"""
from __future__ import annotations

import numpy as np

from safu.export.model_file import write_model_file
from safu.models.tokenizer import SPECIALS

WORDS = ["turn", "on", "off", "the", "kitchen", "bedroom", "lights", "light", "set", "to", "degrees",
         "heating", "living", "room", "play", "music", "in", "please", "what", "is", "temperature",
         "don't", "café", "21.5", "open", "close", "blinds", "garage", "door", "fan"]


def _quantise(x: np.ndarray):
    scale = np.abs(x).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def random_intent_tensors(seed: int = 0, dim: int = 8, max_tokens: int = 12, radius: int = 2,
                          bigram_buckets: int = 16, n_words: int = len(WORDS)):
    rng = np.random.default_rng(seed)
    vocab = SPECIALS + WORDS[:n_words]
    N, D, B = len(vocab), dim, bigram_buckets
    intents = ["HassTurnOn", "HassTurnOff", "HassClimateSetTemperature", "HassMediaPlay"]
    slot_names = ["area", "name", "temperature"]
    slot_labels = ["O"] + [f"{p}-{s}" for s in slot_names for p in "BI"]
    C, S, Ks, Ki = len(intents), len(slot_labels), 2 * radius + 1, max_tokens + 2
    R = rng.random((N, D)).astype(np.float32) ** 2
    R /= R.sum(axis=1, keepdims=True)
    tensors = {
        "token_table": R.astype(np.float32),
        "slot_W": rng.normal(0, 1, (Ks, Ks)).astype(np.float32),
        "slot_U": rng.normal(0, 2, (Ks * D + N, S)).astype(np.float32),
        "slot_b": rng.normal(0, 0.1, S).astype(np.float32),
        "intent_W": rng.normal(0, 1, (Ki, Ki)).astype(np.float32),
        "intent_U": rng.normal(0, 2, (N + B + 2 * D, C)).astype(np.float32),
        "intent_b": rng.normal(0, 0.1, C).astype(np.float32),
    }
    metadata = {
        "general.kind": "intent",
        "general.safu_version": "test",
        "general.training_data_sha256": "0" * 64,
        "tokenizer.vocab": vocab,
        "tokenizer.max_tokens": max_tokens,
        "model.dim": D,
        "cipher.bits": D,
        "cooc.mode": "cat",
        "cooc.radius": radius,
        "slot.radius": radius,
        "intent.bigram_buckets": B,
        "intent.labels": intents,
        "slot.labels": slot_labels,
        "slot.synonyms": ["area\tliving room\tliving_room", "name\tlights\tlight"],
        "intent.threshold": 0.3,
    }
    return metadata, tensors


def write_random_intent_model(path, seed: int = 0, quantise: bool = False, **kw):
    metadata, tensors = random_intent_tensors(seed, **kw)
    if quantise:
        for name in ("token_table", "slot_U", "intent_U"):
            q, scale = _quantise(tensors[name])
            tensors[name] = q
            tensors[name + ".scale"] = scale
    write_model_file(path, metadata, tensors)
    return path


def tiny_training_examples():
    """A dozen hand-written smart-home sentences with spanned slots (for the trainer)."""
    from safu.runtime.datasets.common import Example, SlotSpan

    def ex(text, intent, **slots):
        spans = []
        for name, surface in slots.items():
            start = text.index(surface)
            spans.append(SlotSpan(name, start, start + len(surface), surface))
        return Example(text, intent, spans)

    return [
        ex("turn on the kitchen lights", "HassTurnOn", area="kitchen"),
        ex("switch on the lights in the bedroom", "HassTurnOn", area="bedroom"),
        ex("please turn the living room lamp on", "HassTurnOn", area="living room"),
        ex("lights on in the garage", "HassTurnOn", area="garage"),
        ex("turn off the kitchen lights", "HassTurnOff", area="kitchen"),
        ex("switch off the bedroom lamp", "HassTurnOff", area="bedroom"),
        ex("turn the garage lights off", "HassTurnOff", area="garage"),
        ex("lights off in the living room", "HassTurnOff", area="living room"),
        ex("set the temperature to 21 degrees", "HassClimateSetTemperature", temperature="21"),
        ex("make it 19.5 degrees in the bedroom", "HassClimateSetTemperature", temperature="19.5",
           area="bedroom"),
        ex("heat the kitchen to 22", "HassClimateSetTemperature", temperature="22", area="kitchen"),
        ex("what is the temperature in the garage", "HassClimateGetTemperature", area="garage"),
        ex("how warm is it in the living room", "HassClimateGetTemperature", area="living room"),
    ]


def train_tiny_intent_model(path, **config):
    """Trains a real (explicitly fitted) intent model on tiny_training_examples(); returns path."""
    from safu.models.intent_model import IntentConfig, fit_intent_model

    cfg = IntentConfig(**{"cipher_bits": 8, "bigram_buckets": 64, "max_tokens": 16, "holdout": 0.0, **config})
    model = fit_intent_model(tiny_training_examples(), cfg)
    model.save(path)
    return path


def random_lm_tensors(seed: int = 0, block_size: int = 4, radius: int = 3, doc_groups: int = 2,
                      Db: int = 6, Dr: int = 4, Cb: int = 5, Cr: int = 4):
    """A valid kind-`lm` file's metadata and tensors (docs/lm_model.md) with random weights."""
    rng = np.random.default_rng(seed)
    vocab = SPECIALS + WORDS
    N, b, r, G = len(vocab), block_size, radius, doc_groups

    def table(D):
        t = rng.random((N, D)).astype(np.float32) ** 2 + 0.01
        return (t / t.sum(axis=1, keepdims=True)).astype(np.float32)

    def normal(*shape, s=1.0):
        return rng.normal(0, s, shape).astype(np.float32)

    tensors = {"block.table": table(Db), "block.W": normal(b, b), "block.U": normal(Db, Cb, s=3),
               "radial.table": table(Dr), "radial.W": normal(r, r), "radial.U": normal(r * Dr, Cr, s=3)}
    if G:
        tensors["doc.U"] = normal(Db, G, s=3)
    tensors["final.U"] = normal(Cb + Cr + G, N, s=2)
    tensors["final.b"] = normal(N, s=0.1)
    metadata = {"general.kind": "lm", "general.safu_version": "test", "general.training_data_sha256": "0" * 64,
                "tokenizer.vocab": vocab, "tokenizer.max_tokens": 0, "lm.block_size": b, "lm.radius": r,
                "lm.doc_groups": G, "lm.block_mode": "sum", "lm.radial_mode": "cat",
                "cipher.block_bits": Db, "cipher.radial_bits": Dr}
    return metadata, tensors


def write_random_lm_model(path, seed: int = 0, **kw):
    metadata, tensors = random_lm_tensors(seed, **kw)
    write_model_file(path, metadata, tensors)
    return path
