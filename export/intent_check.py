"""The semantic checks of a kind-`intent` model file, shared by every Python reader of it.

    layout = check_intent_model(read_model_file("m.safu"))
    layout.radius, layout.weights["slot_U"]      # validated dims; float32 weights, int8 dequantised

The numpy backend (models/reference.py), the Python API (runtime/api.py), the ONNX and C exporters
(export/intent_tensors.py) and `safu inspect` call this. It makes the checks of the C++ core's
IntentModel constructor (cpp/src/intent_model.cpp, cpp/src/tensor_load.h, Vocabulary in
cpp/src/tokenizer.cpp) in the same order and raises IntentModelError with the same message text,
so a file is rejected by both backends with the same words (tests/test_model_checks.py holds the
table of failure modes). Every dimension and range is checked before anything is allocated from
it; every weight must be finite; the file itself was already bounded by the container reader.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from safu.models.slot_case import N_CASE_FEATURES
from safu.models.tokenizer import SPECIALS

from .model_file import (DTYPE_CODES, KV_F32, KV_F32_ARRAY, KV_F64, KV_I64, KV_STR, KV_STR_ARRAY,
                         KV_U32, KV_U32_ARRAY, ModelFormatError, dequantize_rows, shown)

MAX_DIM = 65536           # model.dim and tokenizer.max_tokens: 1..MAX_DIM
MAX_SLOT_RADIUS = 64      # slot.radius: 0..MAX_SLOT_RADIUS (the C++ window buffer holds 2*64+1)
MAX_BIGRAM_BUCKETS = 1 << 24

TYPE_NAMES = {KV_U32: "U32", KV_I64: "I64", KV_F32: "F32", KV_F64: "F64", KV_STR: "STR",
              KV_STR_ARRAY: "STR_ARRAY", KV_F32_ARRAY: "F32_ARRAY", KV_U32_ARRAY: "U32_ARRAY"}


class IntentModelError(ModelFormatError):
    """The file is a valid container but not a valid intent model; the message names file and field."""


@dataclass
class IntentLayout:
    """The validated contents of an intent model file (see docs/intent_model.md for the names)."""

    vocab: list
    dim: int
    max_tokens: int
    radius: int
    buckets: int
    intent_labels: list
    slot_labels: list
    threshold: float
    synonyms: list            # (slot, surface, value)
    aliases: dict = field(default_factory=dict)   # word -> token id (tokenizer.aliases / alias_ids)
    weights: dict = field(default_factory=dict)   # name -> float32 ndarray (int8 dequantised)


def _type_of(mf, key: str) -> int:
    """The stored type code of metadata[key] (inferred from the value for a hand-built ModelFile)."""
    types = getattr(mf, "types", None) or {}
    if key in types:
        return types[key]
    v = mf.metadata[key]
    if isinstance(v, str):
        return KV_STR
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return KV_U32 if 0 <= int(v) < 2**32 else KV_I64
    if isinstance(v, (float, np.floating)):
        return KV_F32
    if isinstance(v, np.ndarray):
        return KV_F32_ARRAY
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return KV_STR_ARRAY
    return KV_U32_ARRAY if isinstance(v, (list, tuple)) else 0


def _fmt_float(x) -> str:
    """A float as the C++ core prints it (%g; NaN and infinities spelled the same on every libc)."""
    x = float(x)
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def _shape_str(dims) -> str:
    return "(" + ", ".join(str(int(d)) for d in dims) + (",)" if len(dims) == 1 else ")")


class _Reader:
    """The typed metadata and tensor accessors of cpp/src/model_file.cpp and tensor_load.h."""

    def __init__(self, mf, src: str):
        self.mf, self.src = mf, src

    def fail(self, message: str):
        raise IntentModelError(f"{self.src}: {message}")

    def has(self, key: str) -> bool:
        return key in self.mf.metadata

    def meta(self, key: str, expected: str, accept) -> object:
        if key not in self.mf.metadata:
            self.fail(f"missing metadata key '{key}'")
        kind = _type_of(self.mf, key)
        value = self.mf.metadata[key]
        if not accept(kind, value):
            self.fail(f"metadata '{key}' is {TYPE_NAMES.get(kind, '?')}, expected {expected}")
        return value

    def u32(self, key: str) -> int:
        return int(self.meta(key, "U32", lambda k, v: k == KV_U32 or (k == KV_I64 and 0 <= v < 2**32)))

    def u32_or(self, key: str, fallback: int) -> int:
        return self.u32(key) if self.has(key) else fallback

    def get_float(self, key: str) -> float:
        return float(self.meta(key, "F32", lambda k, v: k in (KV_F32, KV_F64)))

    def get_str(self, key: str) -> str:
        return self.meta(key, "STR", lambda k, v: k == KV_STR)

    def str_array(self, key: str) -> list:
        return list(self.meta(key, "STR_ARRAY", lambda k, v: k == KV_STR_ARRAY))

    def u32_array(self, key: str) -> list:
        return [int(x) for x in self.meta(key, "U32_ARRAY", lambda k, v: k == KV_U32_ARRAY)]

    def f32_tensor(self, name: str, expect: tuple, allow_i8: bool) -> np.ndarray:
        """load_f32 of cpp/src/tensor_load.h: shape, dtype, scale, then every value finite."""
        tensors = self.mf.tensors
        if name not in tensors:
            self.fail(f"missing tensor '{name}'")
        t = tensors[name]
        if tuple(t.shape) != tuple(expect):
            self.fail(f"tensor '{name}' has shape {_shape_str(t.shape)}, expected {_shape_str(expect)}")
        if t.dtype == np.float32:
            out = np.array(t, dtype=np.float32)
        elif t.dtype == np.int8 and allow_i8:
            rows = expect[0]
            scale = self.f32_tensor(name + ".scale", (rows,), False)
            if rows == 0:
                out = np.zeros(t.shape, np.float32)
            else:
                with np.errstate(over="ignore"):   # an overflow to inf is reported below
                    out = dequantize_rows(t, scale)
        else:
            code = DTYPE_CODES.get(t.dtype, "?")
            self.fail(f"tensor '{name}' has dtype code {code}, expected F32"
                      + (" or I8 with a '.scale' tensor" if allow_i8 else ""))
        bad = ~np.isfinite(out.reshape(-1))
        if bad.any():
            i = int(np.argmax(bad))
            self.fail(f"tensor '{name}' has a non-finite value ({_fmt_float(out.reshape(-1)[i])}) at flat index "
                      f"{i}, expected finite weights")
        return out


def _check_vocab(r: _Reader, tokens: list) -> None:
    """Vocabulary(tokens) of cpp/src/tokenizer.cpp."""
    if len(tokens) < len(SPECIALS):
        r.fail(f"tokenizer.vocab has {len(tokens)} entries, expected at least the {len(SPECIALS)} specials")
    for i, special in enumerate(SPECIALS):
        if tokens[i] != special:
            r.fail(f"tokenizer.vocab[{i}] is '{shown(tokens[i])}', expected '{special}'")
    seen = {}
    for i, tok in enumerate(tokens):
        if tok in seen:
            r.fail(f"tokenizer.vocab has the token '{shown(tok)}' twice (ids {seen[tok]} and {i})")
        seen[tok] = i


def _check_aliases(r: _Reader, vocab: list) -> dict:
    """tokenizer.aliases / tokenizer.alias_ids, both or neither (Vocabulary::set_aliases of
    cpp/src/tokenizer.cpp): same length, no word twice, no word that is a token, ids of real words."""
    if not (r.has("tokenizer.aliases") or r.has("tokenizer.alias_ids")):
        return {}
    words = r.str_array("tokenizer.aliases")
    ids = r.u32_array("tokenizer.alias_ids")
    if len(words) != len(ids):
        r.fail(f"tokenizer.aliases has {len(words)} entries but tokenizer.alias_ids {len(ids)}")
    index = {t: i for i, t in enumerate(vocab)}
    out: dict = {}
    for k, (w, i) in enumerate(zip(words, ids)):
        if not w or w in index or w in out:
            r.fail(f"tokenizer.aliases[{k}] '{shown(w)}' is empty, a token or repeated, expected a new word")
        if not len(SPECIALS) <= i < len(vocab):
            r.fail(f"tokenizer.alias_ids[{k}] is {i}, expected a word id in [{len(SPECIALS)}, {len(vocab)})")
        out[w] = i
    return out


def check_intent_metadata(model_file, source: str | None = None) -> IntentLayout:
    """The metadata checks only (no tensor is read): dims, ranges, labels, threshold, synonyms."""
    r = _Reader(model_file, source if source is not None else model_file.path)
    kind = r.get_str("general.kind")
    if kind != "intent":
        r.fail(f"general.kind is '{shown(kind)}', expected 'intent'")
    vocab = r.str_array("tokenizer.vocab")
    _check_vocab(r, vocab)
    aliases = _check_aliases(r, vocab)
    D = r.u32("model.dim")
    max_tokens = r.u32("tokenizer.max_tokens")
    radius = r.u32("slot.radius")
    B = r.u32_or("intent.bigram_buckets", 0)
    if D == 0 or D > MAX_DIM:
        r.fail(f"model.dim is {D}, expected 1..{MAX_DIM}")
    if max_tokens == 0 or max_tokens > MAX_DIM:
        r.fail(f"tokenizer.max_tokens is {max_tokens}, expected 1..{MAX_DIM}")
    if radius > MAX_SLOT_RADIUS:
        r.fail(f"slot.radius is {radius}, expected 0..{MAX_SLOT_RADIUS}")
    if B > MAX_BIGRAM_BUCKETS:
        r.fail(f"intent.bigram_buckets is {B}, expected <= 2^24")
    intent_labels = r.str_array("intent.labels")
    slot_labels = r.str_array("slot.labels")
    if not intent_labels:
        r.fail("intent.labels is empty")
    if not slot_labels or slot_labels[0] != "O":
        r.fail("slot.labels must start with 'O'")
    threshold = r.get_float("intent.threshold")
    with np.errstate(over="ignore"):
        as_f32 = np.float32(threshold)   # the core keeps a float
    if not 0.0 <= as_f32 <= 1.0:
        r.fail(f"intent.threshold is {_fmt_float(as_f32)}, expected a probability in 0..1")
    for lab in slot_labels:
        if lab == "O":
            continue
        b = lab.encode("utf-8")
        if len(b) < 3 or b[:1] not in (b"B", b"I") or b[1:2] != b"-":
            r.fail(f"slot label '{shown(lab)}' is not O, B-<slot> or I-<slot>")
    synonyms = []
    if r.has("slot.synonyms"):
        for e in r.str_array("slot.synonyms"):
            parts = e.split("\t")
            if len(parts) != 3:
                r.fail(f"slot.synonyms entry '{shown(e)}' is not slot\\tsurface\\tvalue")
            synonyms.append(tuple(parts))
    return IntentLayout(vocab=vocab, dim=D, max_tokens=max_tokens, radius=radius, buckets=B,
                        intent_labels=intent_labels, slot_labels=slot_labels, threshold=float(threshold),
                        synonyms=synonyms, aliases=aliases)


def check_intent_model(model_file, source: str | None = None) -> IntentLayout:
    """All checks of the C++ IntentModel constructor; returns the layout with float32 weights.

    Raises IntentModelError (a ModelFormatError, a ValueError) naming the file and the field."""
    layout = check_intent_metadata(model_file, source)
    r = _Reader(model_file, source if source is not None else model_file.path)
    N, D, B = len(layout.vocab), layout.dim, layout.buckets
    Ks, Ki = 2 * layout.radius + 1, layout.max_tokens + 2
    C, S = len(layout.intent_labels), len(layout.slot_labels)
    w = layout.weights
    w["token_table"] = r.f32_tensor("token_table", (N, D), True)
    w["slot_W"] = r.f32_tensor("slot_W", (Ks, Ks), False)
    w["slot_U"] = r.f32_tensor("slot_U", (Ks * D + N, S), True)
    w["slot_b"] = r.f32_tensor("slot_b", (S,), False)
    w["intent_W"] = r.f32_tensor("intent_W", (Ki, Ki), False)
    w["intent_U"] = r.f32_tensor("intent_U", (N + B + 2 * D, C), True)
    w["intent_b"] = r.f32_tensor("intent_b", (C,), False)
    if "slot_allowed" in model_file.tensors:
        w["slot_allowed"] = r.f32_tensor("slot_allowed", (C, S), False)
    if "slot_transitions" in model_file.tensors:   # BIO Viterbi scores, row 0 = start
        w["slot_transitions"] = r.f32_tensor("slot_transitions", (S + 1, S), False)
    if "slot_case" in model_file.tensors:   # letter-case evidence, one row per models/slot_case.py feature
        w["slot_case"] = r.f32_tensor("slot_case", (N_CASE_FEATURES, S), False)
    if r.has("slot.values"):   # known slot values, "slot<TAB>surface" (decoding evidence)
        labels = set(layout.slot_labels)
        for e in r.str_array("slot.values"):
            tab = e.find("\t")
            name = e[:tab] if tab >= 0 else ""
            if (tab < 0 or tab + 1 == len(e) or "\t" in e[tab + 1:] or f"B-{name}" not in labels
                    or f"I-{name}" not in labels):
                r.fail(f"slot.values entry '{shown(e)}' is not slot\\tsurface with a slot of slot.labels")
        bonus = r.get_float("slot.value_bonus") if r.has("slot.value_bonus") else 0.0
        with np.errstate(over="ignore"):
            bonus = np.float32(bonus)
        if not 0.0 <= bonus <= 100.0:
            r.fail("slot.value_bonus is not in 0..100")
    if r.has("slot.trim_possessive"):   # slots whose spans leave a final "'s" out
        names = {lab[2:] for lab in layout.slot_labels if lab != "O"}
        for e in r.str_array("slot.trim_possessive"):
            if e not in names:
                r.fail(f"slot.trim_possessive entry '{shown(e)}' is not a slot of slot.labels")
    if r.has("slot.closed"):   # closed-list slots, "slot<TAB>value" (models/slot_values.py)
        names = {lab[2:] for lab in layout.slot_labels if lab != "O"}
        for e in r.str_array("slot.closed"):
            tab = e.find("\t")
            if tab < 0 or tab + 1 == len(e) or "\t" in e[tab + 1:] or e[:tab] not in names:
                r.fail(f"slot.closed entry '{shown(e)}' is not slot\\tvalue with a slot of slot.labels")
    return layout


def check_model_file(model_file, source: str | None = None) -> str:
    """The semantic checks of a read container by kind, as `safu inspect` reports them.

    Returns a one-line summary of what was checked; raises ModelFormatError naming the file and
    field for what no backend loads (kind `lm`: LMModel.load; anything else: check_intent_model)."""
    src = source if source is not None else model_file.path
    if "general.kind" in model_file.metadata and model_file.metadata["general.kind"] == "lm":
        from safu.models.lm import LMModel

        LMModel.load(src)
        r = _Reader(model_file, src)
        for name, t in model_file.tensors.items():   # the core's load_f32 refuses NaN/inf too
            if t.dtype == np.float32:
                r.f32_tensor(name, t.shape, False)
        return "lm model, keys and tensor shapes match, all weights finite"
    layout = check_intent_model(model_file, src)   # any other kind is refused in the intent readers' words
    return (f"intent model, {len(layout.vocab)} tokens, dim {layout.dim}, {len(layout.intent_labels)} intents, "
            f"{len(layout.slot_labels)} slot labels, shapes match, all weights finite")
