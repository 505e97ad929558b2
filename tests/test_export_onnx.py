"""ONNX export: passes onnx.checker (full_check), carries the model metadata, and onnxruntime gives
the numpy reference's probabilities (and the C++ core's, when it is built) within ONNX_TOLERANCE."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from export_helpers import TINY_UTTERANCES, tiny_intent_model, write_tiny_intent_model  # noqa: E402

from safu.export.model_file import read_model_file, write_model_file  # noqa: E402
from safu.export.onnx_export import export_onnx  # noqa: E402
from safu.export.quantize import quantize_model_tensors  # noqa: E402
from safu.models.reference import IntentReference  # noqa: E402
from safu.models.tokenizer import Vocabulary  # noqa: E402

ONNX_TOLERANCE = 1e-5


def id_cases(n_vocab: int, max_tokens: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    cases = [np.zeros(0, np.int64), np.array([4], np.int64), np.array([5, 5, 5], np.int64)]
    cases += [rng.integers(0, n_vocab, int(rng.integers(1, max_tokens + 6))) for _ in range(40)]
    return cases


def max_diff(sess, ref, cases, max_tokens) -> float:
    worst = 0.0
    for ids in cases:
        p_intent, p_slot = sess.run(["p_intent", "p_slot"], {"ids": ids.astype(np.int64)})
        r_intent, r_slot = ref.forward(ids[:max_tokens])
        assert p_slot.shape == r_slot.shape
        d = float(np.abs(p_intent - r_intent).max())
        if r_slot.size:
            d = max(d, float(np.abs(p_slot - r_slot).max()))
            assert (p_slot.argmax(1) == r_slot.argmax(1)).all()
        assert p_intent.argmax() == r_intent.argmax()
        assert d < ONNX_TOLERANCE, f"ids {ids.tolist()}: max |diff| {d:.3g}"
        worst = max(worst, d)
    return worst


@pytest.mark.parametrize("kw", [dict(seed=1), dict(seed=2, buckets=0, radius=1), dict(seed=4, radius=0, dim=5)],
                         ids=["bigrams", "no-bigrams", "radius0"])
def test_onnx_matches_numpy_reference(tmp_path, kw):
    model = write_tiny_intent_model(tmp_path / "m.safu", **kw)
    out = export_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    mf = read_model_file(model)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    worst = max_diff(sess, IntentReference(mf), id_cases(len(mf.metadata["tokenizer.vocab"]), 12), 12)
    print(f"onnxruntime vs numpy reference ({kw}): max |diff| = {worst:.3g}")


def test_onnx_metadata_and_inputs(tmp_path):
    model = write_tiny_intent_model(tmp_path / "m.safu")
    proto = onnx.load(str(export_onnx(model, tmp_path / "m.onnx")))
    props = {p.key: p.value for p in proto.metadata_props}
    md, _ = tiny_intent_model()
    assert props["general.kind"] == "intent" and props["model_type"] == "safu-intent"
    assert props["format_version"] == "1"
    assert json.loads(props["intent.labels"]) == md["intent.labels"]
    assert json.loads(props["slot.labels"]) == md["slot.labels"]
    assert json.loads(props["tokenizer.vocab"]) == md["tokenizer.vocab"]
    assert int(props["model.dim"]) == md["model.dim"] and int(props["tokenizer.max_tokens"]) == 12
    assert props["safu.weights"] == "float32"
    (inp,) = proto.graph.input
    assert inp.name == "ids" and inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert "tokenizer.vocab" in inp.doc_string
    assert [o.name for o in proto.graph.output] == ["p_intent", "p_slot"]


def test_onnx_from_text_matches_python_api(tmp_path):
    """Tokenise with the vocabulary stored in the ONNX metadata; decisions equal the numpy backend."""
    from safu.runtime.api import load

    model = write_tiny_intent_model(tmp_path / "m.safu", seed=5)
    proto_path = export_onnx(model, tmp_path / "m.onnx")
    props = {p.key: p.value for p in onnx.load(str(proto_path)).metadata_props}
    vocab = Vocabulary(json.loads(props["tokenizer.vocab"]))
    labels = json.loads(props["intent.labels"])
    sess = ort.InferenceSession(str(proto_path), providers=["CPUExecutionProvider"])
    api = load(model, backend="numpy")
    for text in TINY_UTTERANCES[:6]:
        ids, _ = vocab.encode(text, int(props["tokenizer.max_tokens"]))
        p_intent, _ = sess.run(None, {"ids": ids})
        assert labels[int(p_intent.argmax())] == api.predict(text).best_intent


def test_onnx_int8_matches_int8_reference(tmp_path):
    model = write_tiny_intent_model(tmp_path / "m.safu", seed=6)
    mf = read_model_file(model)
    write_model_file(tmp_path / "q.safu", mf.metadata, quantize_model_tensors(mf.tensors))
    out = export_onnx(model, tmp_path / "q.onnx", int8=True)
    proto = onnx.load(str(out))
    assert any(n.op_type == "DequantizeLinear" for n in proto.graph.node)
    assert {p.key: p.value for p in proto.metadata_props}["safu.weights"] == "int8"
    # the big tensors are stored as int8 initializers (1 byte per weight), not float32
    int8_inits = {i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT8}
    assert {"token_table_q", "slot_U_window_q", "slot_U_identity_q", "intent_U_bow_q"} <= int8_inits
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ref = IntentReference(read_model_file(tmp_path / "q.safu"))
    worst = max_diff(sess, ref, id_cases(len(mf.metadata["tokenizer.vocab"]), 12, seed=1), 12)
    print(f"int8 onnxruntime vs int8 numpy reference: max |diff| = {worst:.3g}")


def test_onnx_matches_cpp_core(tmp_path):
    core = pytest.importorskip("safu._core", reason="C++ core (safu._core) not built in this install")
    model = write_tiny_intent_model(tmp_path / "m.safu", seed=7)
    sess = ort.InferenceSession(str(export_onnx(model, tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    cpp = core.IntentModel(str(model))
    worst = 0.0
    for ids in id_cases(36, 12, seed=2):
        ids = ids[:12]
        p_intent, p_slot = sess.run(None, {"ids": ids})
        c_intent, c_slot = cpp.forward(ids)
        d = float(np.abs(p_intent - np.asarray(c_intent)).max())
        if p_slot.size:
            d = max(d, float(np.abs(p_slot - np.asarray(c_slot)).max()))
        assert d < ONNX_TOLERANCE
        worst = max(worst, d)
    print(f"onnxruntime vs C++ core: max |diff| = {worst:.3g}")


def test_lm_model_is_rejected(tmp_path):
    from safu.export.intent_tensors import IntentSpecError

    md, ts = tiny_intent_model()
    md["general.kind"] = "lm"
    write_model_file(tmp_path / "lm.safu", md, ts)
    with pytest.raises(IntentSpecError, match="general.kind"):
        export_onnx(tmp_path / "lm.safu", tmp_path / "lm.onnx")
    assert not (tmp_path / "lm.onnx").exists()
