"""Export an intent model to a standard ONNX graph (opset 17), docs/intent_model.md inside the graph.

    safu export model.safu --onnx model.onnx [--int8]

    import onnxruntime as ort
    sess = ort.InferenceSession("model.onnx")
    p_intent, p_slot = sess.run(None, {"ids": ids})     # ids: int64 (n,), from the model's vocabulary

Input `ids`: int64 (n,), the looked-up token ids of one utterance (tokenizer of docs/intent_model.md
with the vocabulary stored in the metadata_props key `tokenizer.vocab`), without <sod>/<eod>; n may
be 0; ids after `tokenizer.max_tokens` are ignored. Outputs: `p_intent` float32 (C,) and
`p_slot` float32 (n', S), n' = min(n, max_tokens). The graph builds <sod>/<eod>, the bigram hashes
and the slot windows itself. Int8 tensors are stored as int8 initializers with a per-row scale and
expanded with DequantizeLinear(axis=0). The graph stops at the probabilities: slot decoding
(docs/intent_model.md "Slot decoding": the Viterbi path with the transition table, the known values'
bonus and the letter-case table `slot_case`, whose flags come from the text before lower-casing) is
the caller's, with the tensors of the .safu file.

metadata_props carry model_type, format_version and the .safu keys (arrays as JSON).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .intent_tensors import BIGRAM_MULTIPLIER, EOD, SOD, IntentTensors, load_intent_tensors
from .model_file import write_file_atomic

OPSET = 17
FORMAT_VERSION = 1


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        self._n += 1
        out = name or f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n{self._n}_{op_type}", **attrs))
        return out

    def weight(self, name: str, spec: IntentTensors, tensor: str, rows: slice) -> str:
        """Rows of a model tensor as a float32 value: an initializer, or int8 + DequantizeLinear."""
        t = spec.tensors[tensor][rows]
        if t.dtype != np.int8:
            return self.const(name, np.ascontiguousarray(t, dtype=np.float32))
        scale = np.ascontiguousarray(spec.tensors[tensor + ".scale"][rows], dtype=np.float32)
        q = self.const(name + "_q", np.ascontiguousarray(t))
        s = self.const(name + "_scale", scale)
        zp = self.const(name + "_zero", np.zeros(scale.shape, np.int8))
        return self.op("DequantizeLinear", [q, s, zp], name=name, axis=0)


def build_onnx_model(spec: IntentTensors) -> onnx.ModelProto:
    """The ONNX model of a validated intent model (see module docstring for inputs/outputs)."""
    N, D, B, r = spec.n_vocab, spec.dim, spec.bigram_buckets, spec.slot_radius
    Ks, C, S = spec.slot_k, spec.n_intents, spec.n_slot_labels
    g = _Graph()
    i64 = lambda name, v: g.const(name, np.array(v, dtype=np.int64))  # noqa: E731

    R = g.weight("token_table", spec, "token_table", slice(None))
    U_bow = g.weight("intent_U_bow", spec, "intent_U", slice(0, N))
    U_row = g.weight("intent_U_row", spec, "intent_U", slice(N + B, N + B + D))
    U_att = g.weight("intent_U_att", spec, "intent_U", slice(N + B + D, N + B + 2 * D))
    intent_W = g.const("intent_W", spec.tensors["intent_W"].astype(np.float32))
    intent_b = g.const("intent_b", spec.tensors["intent_b"].astype(np.float32))
    U_win = g.weight("slot_U_window", spec, "slot_U", slice(0, Ks * D))
    U_id = g.weight("slot_U_identity", spec, "slot_U", slice(Ks * D, Ks * D + N))
    slot_W = g.const("slot_W", spec.tensors["slot_W"].astype(np.float32))
    slot_b = g.const("slot_b", spec.tensors["slot_b"].astype(np.float32))
    zero1, one1, ax0, ax1, ax2 = i64("c_zero1", [0]), i64("c_one1", [1]), i64("c_ax0", [0]), i64("c_ax1", [1]), i64("c_ax2", [2])

    # seq = [<sod>] + ids[:max_tokens] + [<eod>]
    ids = g.op("Slice", ["ids", zero1, i64("c_max_tokens", [spec.max_tokens]), ax0], name="ids_used")
    seq = g.op("Concat", [i64("c_sod", [SOD]), ids, i64("c_eod", [EOD])], name="seq", axis=0)
    L = g.op("Shape", [seq], name="L")                                     # (1,) int64
    Lf = g.op("Cast", [L], name="L_float", to=TensorProto.FLOAT)
    X = g.op("Gather", [R, seq], name="seq_rows", axis=0)                  # (L, D)

    # ---- intent: H @ intent_U, the sparse parts as sums of selected rows
    bow = g.op("Div", [g.op("ReduceSum", [g.op("Gather", [U_bow, seq], axis=0), ax0], keepdims=0), Lf],
               name="bow_logits")
    logits = bow
    if B > 0:
        U_big = g.weight("intent_U_big", spec, "intent_U", slice(N, N + B))
        big_max = i64("c_big_end", [np.iinfo(np.int64).max])
        first = g.op("Slice", [seq, zero1, i64("c_minus1", [-1]), ax0])
        second = g.op("Slice", [seq, one1, big_max, ax0])
        h = g.op("Mod", [g.op("Add", [g.op("Mul", [first, i64("c_prime", BIGRAM_MULTIPLIER)]), second]),
                         i64("c_buckets", B)], name="bigram_hash")
        Lm1 = g.op("Sub", [Lf, g.const("c_onef", np.array([1.0], np.float32))])
        big = g.op("Div", [g.op("ReduceSum", [g.op("Gather", [U_big, h], axis=0), ax0], keepdims=0), Lm1],
                   name="bigram_logits")
        logits = g.op("Add", [logits, big])
    f_row = g.op("ReduceMean", [X], name="f_row", axes=[0], keepdims=0)  # opset 17: axes attribute
    head = g.op("Gather", [X, g.const("c_zero", np.array(0, np.int64))], name="head_row", axis=0)
    q = g.op("MatMul", [X, head], name="intent_q")                        # (L,)
    LL = g.op("Concat", [L, L], axis=0)
    W_sub = g.op("Slice", [intent_W, i64("c_zero2", [0, 0]), LL, i64("c_ax01", [0, 1])], name="intent_W_used")
    z = g.op("MatMul", [q, W_sub], name="intent_z")
    a = g.op("Neg", [g.op("LogSoftmax", [z], axis=0)], name="intent_a")
    f_att = g.op("Div", [g.op("MatMul", [a, X]), g.op("ReduceSum", [a, ax0], keepdims=0)], name="f_att")
    logits = g.op("Add", [logits, g.op("MatMul", [f_row, U_row])])
    logits = g.op("Add", [logits, g.op("MatMul", [f_att, U_att])])
    logits = g.op("Add", [logits, intent_b], name="intent_logits")
    g.op("Softmax", [logits], name="p_intent", axis=0)

    # ---- slots: window k of token j (seq position j+1) is seq_padded[j + 1 + k]
    pad = i64("c_pads", np.zeros(r, np.int64)) if r > 0 else None
    seq_p = g.op("Concat", [pad, seq, pad], name="seq_padded", axis=0) if r > 0 else seq
    n = g.op("Shape", [ids], name="n")
    n_scalar = g.op("Squeeze", [n, ax0])
    j = g.op("Range", [g.const("c_zero_s", np.array(0, np.int64)), n_scalar, g.const("c_one_s", np.array(1, np.int64))])
    idx = g.op("Add", [g.op("Unsqueeze", [j, ax1]), i64("c_window_offsets", np.arange(1, Ks + 1).reshape(1, Ks))],
               name="window_index")                                          # (n, Ks)
    win = g.op("Gather", [seq_p, idx], name="window_ids", axis=0)           # (n, Ks)
    Xw = g.op("Gather", [R, win], name="window_rows", axis=0)               # (n, Ks, D)
    head_w = g.op("Gather", [Xw, g.const("c_radius", np.array(r, np.int64))], name="window_head", axis=1)  # (n, D)
    qw = g.op("ReduceSum", [g.op("Mul", [Xw, g.op("Unsqueeze", [head_w, ax1])]), ax2], name="slot_q", keepdims=0)
    zw = g.op("MatMul", [qw, slot_W], name="slot_z")
    aw = g.op("Neg", [g.op("LogSoftmax", [zw], axis=1)], name="slot_a")     # (n, Ks)
    hw = g.op("Mul", [Xw, g.op("Unsqueeze", [aw, ax2])])                     # (n, Ks, D)
    hw = g.op("Reshape", [hw, g.op("Concat", [n, i64("c_ksd", [Ks * D])], axis=0)], name="slot_h")
    sl = g.op("Add", [g.op("MatMul", [hw, U_win]), g.op("Gather", [U_id, ids], axis=0)])
    sl = g.op("Add", [sl, slot_b], name="slot_logits")
    g.op("Softmax", [sl], name="p_slot", axis=1)

    ids_in = helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])
    ids_in.doc_string = ("token ids (tokenizer of docs/intent_model.md, vocabulary in metadata "
                         "'tokenizer.vocab'), without <sod>/<eod>; ids after tokenizer.max_tokens are ignored")
    outs = [helper.make_tensor_value_info("p_intent", TensorProto.FLOAT, [C]),
            helper.make_tensor_value_info("p_slot", TensorProto.FLOAT, ["n_used", S])]
    outs[0].doc_string = "intent probabilities, order of metadata 'intent.labels'"
    outs[1].doc_string = "per-token slot label probabilities, order of metadata 'slot.labels'"
    graph = helper.make_graph(g.nodes, "safu_intent", [ids_in], outs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="safu", producer_version=str(spec.metadata.get("general.safu_version", "")))
    model.ir_version = 8   # opset 17 era; accepted by onnxruntime >= 1.13
    model.doc_string = __doc__.split("\n\n")[2] if __doc__ else ""
    helper.set_model_props(model, onnx_metadata(spec))
    return model


def onnx_metadata(spec: IntentTensors) -> dict[str, str]:
    """metadata_props: the same keys as the .safu file (lists as JSON) plus model_type/format_version."""
    md = spec.metadata
    props = {
        "model_type": "safu-intent",
        "format_version": str(FORMAT_VERSION),
        "general.kind": "intent",
        "general.safu_version": str(md.get("general.safu_version", "")),
        "general.training_data_sha256": str(md.get("general.training_data_sha256", "")),
        "tokenizer.vocab": json.dumps(spec.vocab, ensure_ascii=False),
        "tokenizer.max_tokens": str(spec.max_tokens),
        "model.dim": str(spec.dim),
        "slot.radius": str(spec.slot_radius),
        "intent.bigram_buckets": str(spec.bigram_buckets),
        "intent.labels": json.dumps(spec.intent_labels, ensure_ascii=False),
        "slot.labels": json.dumps(spec.slot_labels, ensure_ascii=False),
        "slot.synonyms": json.dumps(["\t".join(s) for s in spec.synonyms], ensure_ascii=False),
        "intent.threshold": repr(float(spec.threshold)),
        "safu.vocab_size": str(spec.n_vocab),
        "safu.weights": "int8" if any(spec.is_int8(t) for t in ("token_table", "slot_U", "intent_U")) else "float32",
    }
    return props


def export_onnx(model, out_path, int8: bool = False) -> Path:
    """Write the ONNX export of `model` (a path or IntentTensors) to out_path (temp file + rename,
    the umask's mode, no temp file left on failure).

    Returns the path. Raises ModelFormatError / IntentSpecError for a bad model file and
    onnx.checker.ValidationError if the graph fails onnx.checker (full_check)."""
    spec = model if isinstance(model, IntentTensors) else load_intent_tensors(model)
    if int8:
        spec = spec.quantized()
    proto = build_onnx_model(spec)
    onnx.checker.check_model(proto, full_check=True)
    return write_file_atomic(out_path, proto.SerializeToString())
