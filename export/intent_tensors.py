"""The keys and tensors of an intent model file, checked against docs/intent_model.md.

Shared by the ONNX and C exporters so both refuse the same malformed files with the same message.

    spec = IntentTensors.from_model(read_model_file("model.safu"), "model.safu")
    spec.n_vocab, spec.dim, spec.slot_k, spec.intent_k, spec.tensors["slot_U"]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .intent_check import IntentModelError, check_intent_model
from .quantize import quantize_model_tensors

from safu.models.reference import BIGRAM_PRIME as BIGRAM_MULTIPLIER  # noqa: F401 (re-exported)
from safu.models.tokenizer import EOD, NUM, PAD, SOD, SPECIALS, UNK  # noqa: F401 (re-exported)


# The model file does not hold a valid intent model; the message names the file and field.
IntentSpecError = IntentModelError


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
        """Validate a ModelFile (safu.export.model_file) of kind `intent` with the readers' checks
        (export/intent_check.py: the C++ core's checks and words), so an exporter refuses exactly
        what the readers refuse. Raises IntentSpecError naming `source` and the key/tensor."""
        layout = check_intent_model(model, source)
        return cls(
            source=source, metadata=model.metadata, tensors=dict(model.tensors), vocab=layout.vocab,
            intent_labels=layout.intent_labels, slot_labels=layout.slot_labels, synonyms=layout.synonyms,
            dim=layout.dim, slot_radius=layout.radius, bigram_buckets=layout.buckets,
            max_tokens=layout.max_tokens, threshold=layout.threshold,
        )


def load_intent_tensors(path) -> IntentTensors:
    """Read and validate an intent model file. Raises ModelFormatError / IntentSpecError."""
    from .model_file import read_model_file

    return IntentTensors.from_model(read_model_file(path), str(path))
