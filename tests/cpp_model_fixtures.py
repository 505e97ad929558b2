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
