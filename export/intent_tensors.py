"""The keys and tensors of an intent model file, checked against docs/intent_model.md.

Shared by the ONNX and C exporters so both refuse the same malformed files with the same message.

    spec = IntentTensors.from_model(read_model_file("model.safu"), "model.safu")
    spec.n_vocab, spec.dim, spec.slot_k, spec.intent_k, spec.tensors["slot_U"]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .quantize import QUANTIZABLE, quantize_model_tensors

from safu.models.reference import BIGRAM_PRIME as BIGRAM_MULTIPLIER  # noqa: F401 (re-exported)
from safu.models.tokenizer import EOD, NUM, PAD, SOD, SPECIALS, UNK  # noqa: F401 (re-exported)


class IntentSpecError(ValueError):
    """The model file does not hold a valid intent model; the message names the file and field."""


@dataclass
class IntentTensors:
    source: str
    metadata: dict
    tensors: dict  # name -> ndarray as stored (float32, or int8 with name + ".scale")
    vocab: list[str]
    intent_labels: list[str]
    slot_labels: list[str]
    synonyms: list[tuple[str, str, str]]
    dim: int
    slot_radius: int
    bigram_buckets: int
    max_tokens: int
    threshold: float
    n_vocab: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_vocab = len(self.vocab)

    @property
    def slot_k(self) -> int:
        return 2 * self.slot_radius + 1

    @property
    def intent_k(self) -> int:
        return self.max_tokens + 2

    @property
    def n_intents(self) -> int:
        return len(self.intent_labels)

    @property
    def n_slot_labels(self) -> int:
        return len(self.slot_labels)

    def is_int8(self, name: str) -> bool:
        return self.tensors[name].dtype == np.int8

    def quantized(self) -> "IntentTensors":
        """A copy whose token_table, slot_U and intent_U are int8 with per-row scales."""
        import copy

        out = copy.copy(self)
        out.tensors = quantize_model_tensors(self.tensors)
        return out

    @classmethod
    def from_model(cls, model, source: str = "<model>") -> "IntentTensors":
        """Validate a ModelFile (safu.export.model_file) of kind `intent`.

        Raises IntentSpecError naming `source` and the missing or inconsistent key/tensor."""
        md, ts = model.metadata, model.tensors

        def need(key, types):
            if key not in md:
                raise IntentSpecError(f"{source}: metadata key '{key}' is missing")
            v = md[key]
            if not isinstance(v, types):
                raise IntentSpecError(f"{source}: metadata key '{key}' has type {type(v).__name__}")
            return v

        kind = need("general.kind", str)
        if kind != "intent":
            raise IntentSpecError(f"{source}: general.kind is '{kind}', expected 'intent'")
        vocab = list(need("tokenizer.vocab", list))
        if vocab[: len(SPECIALS)] != list(SPECIALS):
            raise IntentSpecError(f"{source}: tokenizer.vocab must start with {list(SPECIALS)}")
        syn = []
        for i, entry in enumerate(md.get("slot.synonyms", []) or []):
            parts = entry.split("\t")
            if len(parts) != 3:
                raise IntentSpecError(f"{source}: slot.synonyms[{i}] is not 'slot<TAB>surface<TAB>value'")
            syn.append((parts[0], parts[1], parts[2]))
        spec = cls(
            source=source, metadata=md, tensors=dict(ts), vocab=vocab,
            intent_labels=list(need("intent.labels", list)),
            slot_labels=list(need("slot.labels", list)),
            synonyms=syn,
            dim=int(need("model.dim", int)),
            slot_radius=int(need("slot.radius", int)),
            bigram_buckets=int(md.get("intent.bigram_buckets", 0)),
            max_tokens=int(need("tokenizer.max_tokens", int)),
            threshold=float(need("intent.threshold", (int, float))),
        )
        if not spec.slot_labels or spec.slot_labels[0] != "O":
            raise IntentSpecError(f"{source}: slot.labels must start with 'O'")
        for lab in spec.slot_labels[1:]:
            if not (lab.startswith("B-") or lab.startswith("I-")):
                raise IntentSpecError(f"{source}: slot.labels entry '{lab}' is not O, B-x or I-x")
        N, D, Ks, Ki, B = spec.n_vocab, spec.dim, spec.slot_k, spec.intent_k, spec.bigram_buckets
        C, S = spec.n_intents, spec.n_slot_labels
        shapes = {
            "token_table": (N, D), "slot_W": (Ks, Ks), "slot_U": (Ks * D + N, S), "slot_b": (S,),
            "intent_W": (Ki, Ki), "intent_U": (N + B + 2 * D, C), "intent_b": (C,),
        }
        if "slot_allowed" in ts:   # optional: intent-conditioned slot decoding
            shapes["slot_allowed"] = (C, S)
        for name, shape in shapes.items():
            if name not in ts:
                raise IntentSpecError(f"{source}: tensor '{name}' is missing")
            t = ts[name]
            if tuple(t.shape) != shape:
                raise IntentSpecError(f"{source}: tensor '{name}' has shape {tuple(t.shape)}, expected {shape}")
            if t.dtype == np.int8:
                if name not in QUANTIZABLE:
                    raise IntentSpecError(f"{source}: tensor '{name}' may not be int8")
                sc = ts.get(name + ".scale")
                if sc is None or sc.dtype != np.float32 or tuple(sc.shape) != (shape[0],):
                    raise IntentSpecError(f"{source}: int8 tensor '{name}' needs '{name}.scale' float32 ({shape[0]},)")
            elif t.dtype != np.float32:
                raise IntentSpecError(f"{source}: tensor '{name}' has dtype {t.dtype}, expected float32")
        return spec


def load_intent_tensors(path) -> IntentTensors:
    """Read and validate an intent model file. Raises ModelFormatError / IntentSpecError."""
    from .model_file import read_model_file

    return IntentTensors.from_model(read_model_file(path), str(path))
