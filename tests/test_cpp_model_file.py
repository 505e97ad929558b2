"""The C++ reader (safu._core.ModelFile) agrees with export/model_file.py on valid files and rejects
every handcrafted corrupt file that the Python reader rejects, with a clear message."""
import struct
import zlib

import numpy as np
import pytest

from safu.export import model_file as mf

core = pytest.importorskip("safu._core", reason="the C++ core is not built (pip install .)")

from cpp_model_fixtures import random_intent_tensors  # noqa: E402


def test_constants_match_the_python_writer():
    assert core.FORMAT_VERSION == mf.FORMAT_VERSION
    assert core.MAGIC == mf.MAGIC
    assert core.HEADER_SIZE == mf.HEADER_SIZE
    assert core.DATA_ALIGN == mf.ALIGNMENT
    assert (core.MAX_KV, core.MAX_TENSORS, core.MAX_NAME_LEN, core.MAX_NDIM) == (
        mf.MAX_KV, mf.MAX_TENSORS, mf.MAX_NAME_LEN, mf.MAX_NDIM)
    assert (core.DTYPE_F32, core.DTYPE_I8, core.DTYPE_I32) == (mf.DTYPE_F32, mf.DTYPE_I8, mf.DTYPE_I32)
    from safu.models import tokenizer
    assert core.SPECIALS == tokenizer.SPECIALS
    assert (core.PAD, core.SOD, core.FRG, core.EOD, core.UNK, core.NUM) == (
        tokenizer.PAD, tokenizer.SOD, tokenizer.FRG, tokenizer.EOD, tokenizer.UNK, tokenizer.NUM)


def test_both_readers_see_the_same_file(tmp_path):
    meta = {"general.kind": "intent", "n": 7, "big": mf.I64(-3), "x": 0.5, "d": mf.F64(0.25),
            "words": ["a", "bé", ""], "vec": np.array([1.5, -2.0], np.float32), "ids": [1, 2, 3]}
    tensors = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "q": np.array([-1, 2], np.int8),
               "i": np.array([[7]], np.int32)}
    path = tmp_path / "m.safu"
    mf.write_model_file(path, meta, tensors)
    py, cc = mf.read_model_file(path), core.ModelFile(str(path))
    assert cc.version == py.version
    assert list(cc.metadata) == list(py.metadata)
    for k, v in py.metadata.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(cc.metadata[k], v)
        else:
            assert cc.metadata[k] == v, k
    assert cc.tensor_names == list(py.tensors)
    for name, arr in py.tensors.items():
        got = cc.tensor(name)
        assert got.dtype == arr.dtype and got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)
    assert core.ModelFile.from_bytes(path.read_bytes()).metadata["n"] == 7


def test_random_intent_models_read_identically(tmp_path):
    for seed in range(3):
        meta, tensors = random_intent_tensors(seed)
        path = tmp_path / f"m{seed}.safu"
        mf.write_model_file(path, meta, tensors)
        cc = core.ModelFile(str(path))
        for name, arr in tensors.items():
            np.testing.assert_array_equal(cc.tensor(name), arr)


def _good() -> bytes:
    meta, tensors = random_intent_tensors(0)
    return mf.encode_model(meta, tensors)


def _with_header(blob: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<" + fmt, b, offset, value)
    struct.pack_into("<I", b, 44, zlib.crc32(bytes(b[:44])))
    return bytes(b)


def _flip(blob: bytes, offset: int) -> bytes:
    b = bytearray(blob)
    b[offset] ^= 0x10
    return bytes(b)


# One handcrafted corrupt file per failure mode: (name, bytes, words the C++ message must contain).
def corrupt_files():
    good = _good()
    meta_size, data_offset = struct.unpack_from("<QQ", good, 16)
    return [
        ("empty", b"", "at least 48"),
        ("short", good[:30], "at least 48"),
        ("bad_magic", b"GGUF" + good[4:], "bad magic"),
        ("future_version", _with_header(good, 4, "I", 7), "file is v7, this build supports <= v1"),
        ("old_version", _with_header(good, 4, "I", 0), "unsupported old version"),
        ("bad_header_crc", _flip(good, 9), "header CRC"),
        ("huge_n_kv", _with_header(good, 8, "I", 0xFFFFFFFF), "n_kv"),
        ("huge_n_tensors", _with_header(good, 12, "I", 1 << 20), "n_tensors"),
        ("huge_meta_size", _with_header(good, 16, "Q", 1 << 62), "meta_size"),
        ("misaligned_data", _with_header(good, 24, "Q", data_offset + 8), "multiple of 64"),
        ("truncated", good[:-100], "truncated"),
        ("padded", good + b"\0" * 64, "truncated or padded"),
        ("bad_meta_crc", _flip(good, 48 + 10), "metadata CRC"),
        ("bad_tensor_crc", _flip(good, data_offset + 3), "CRC mismatch"),
    ]


@pytest.mark.parametrize("name,blob,needle", corrupt_files(), ids=[c[0] for c in corrupt_files()])
def test_corrupt_files_rejected_by_both_readers(tmp_path, name, blob, needle):
    path = tmp_path / f"{name}.safu"
    path.write_bytes(blob)
    with pytest.raises(mf.ModelFormatError):
        mf.read_model_file(path)
    with pytest.raises(core.FormatError) as info:
        core.ModelFile(str(path))
    assert isinstance(info.value, ValueError)
    assert needle in str(info.value) and str(path) in str(info.value)
    with pytest.raises(core.FormatError):
        core.IntentModel(str(path))


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(core.IoError) as info:
        core.IntentModel(str(tmp_path / "nope.safu"))
    assert isinstance(info.value, OSError) and "nope.safu" in str(info.value)


def test_wrong_shapes_are_shape_errors(tmp_path):
    meta, tensors = random_intent_tensors(0)
    tensors["slot_W"] = np.zeros((3, 3), np.float32)  # radius 2 needs (5, 5)
    path = tmp_path / "m.safu"
    mf.write_model_file(path, meta, tensors)
    with pytest.raises(core.ShapeError, match=r"slot_W' has shape \(3, 3\), expected \(5, 5\)"):
        core.IntentModel(str(path))
    meta, tensors = random_intent_tensors(0)
    del meta["intent.labels"]
    mf.write_model_file(path, meta, tensors)
    with pytest.raises(core.FormatError, match="missing metadata key 'intent.labels'"):
        core.IntentModel(str(path))


def test_type_stub_names_exist_on_the_module():
    import ast
    from pathlib import Path
    stub = Path(__file__).resolve().parents[1] / "python" / "safu" / "_core.pyi"
    missing = []
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(core, node.name, None)
            if cls is None:
                missing.append(node.name)
                continue
            for item in node.body:
                name = getattr(item, "name", None) or (item.target.id if isinstance(item, ast.AnnAssign) else None)
                if name and name != "__init__" and not hasattr(cls, name):
                    missing.append(f"{node.name}.{name}")
        elif isinstance(node, (ast.FunctionDef, ast.AnnAssign)):
            name = node.name if isinstance(node, ast.FunctionDef) else node.target.id
            if not hasattr(core, name):
                missing.append(name)
    assert missing == []
