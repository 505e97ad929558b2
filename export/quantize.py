"""Int8 weights with one scale per row (docs/format.md: X[r, c] * X.scale[r]).

    from safu.export.quantize import quantize_rows, quantize_model_tensors
    q, scale = quantize_rows(x)                        # x float32 (R, C) -> int8 (R, C), float32 (R,)
    tensors = quantize_model_tensors(model.tensors)    # token_table, slot_U, intent_U as I8 + .scale
"""
from __future__ import annotations

import numpy as np

from .model_file import dequantize_rows

# The tensors docs/intent_model.md allows to be stored as I8 + .scale (the large ones).
QUANTIZABLE = ("token_table", "slot_U", "intent_U")


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: scale[r] = max|x[r]| / 127, q = round(x / scale) in [-127, 127].

    Returns (q int8 (R, C), scale float32 (R,)); an all-zero row gets scale 0 and q 0."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"quantize_rows: expected a 2-D tensor, got shape {x.shape}")
    scale = (np.abs(x).max(axis=1) / np.float32(127.0)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(x / safe[:, None]), -127, 127).astype(np.int8)
    return q, scale


def dense_tensor(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The float32 value of tensor `name`, dequantising an I8 tensor with its `.scale`."""
    t = tensors[name]
    if t.dtype == np.int8:
        return dequantize_rows(t, tensors[name + ".scale"])
    return np.asarray(t, dtype=np.float32)


def quantize_model_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy of an intent model's tensors with the QUANTIZABLE ones as int8 + per-row scale."""
    out = dict(tensors)
    for name in QUANTIZABLE:
        if name in out and out[name].dtype != np.int8:
            q, scale = quantize_rows(out[name])
            out[name] = q
            out[name + ".scale"] = scale
    return out
