"""The C++ reader (safu._core.ModelFile) agrees with export/model_file.py on valid files and rejects
every handcrafted corrupt file that the Python reader rejects, with the same clear message."""
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
    with pytest.raises(mf.ModelFormatError) as py_info:
        mf.read_model_file(path)
    with pytest.raises(core.FormatError) as info:
        core.ModelFile(str(path))
    assert isinstance(info.value, ValueError)
    assert needle in str(info.value) and str(path) in str(info.value)
    assert str(py_info.value) == str(info.value)   # one wording for both readers
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


# ---- directory and metadata faults behind valid CRCs: both readers, one message ----

def _kv(key: bytes, type_code: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(key)) + key + struct.pack("<I", type_code) + payload


def _tensor_entry(name: bytes, dtype: int, dims, offset: int, nbytes: int, crc: int = 0) -> bytes:
    return (struct.pack("<I", len(name)) + name + struct.pack("<II", dtype, len(dims))
            + struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<QQI", offset, nbytes, crc))


def _image(meta: bytes, n_kv: int, n_tensors: int = 0, blob: bytes = b"") -> bytes:
    """A file around arbitrary metadata + directory bytes, with every checksum right."""
    data_offset = (mf.HEADER_SIZE + len(meta) + 63) // 64 * 64
    head = mf.MAGIC + struct.pack("<IIIQQQI", mf.FORMAT_VERSION, n_kv, n_tensors, len(meta), data_offset, len(blob),
                                  zlib.crc32(meta))
    head += struct.pack("<I", zlib.crc32(head))
    return head + meta + b"\0" * (data_offset - mf.HEADER_SIZE - len(meta)) + blob


def _one_tensor(dtype=0, dims=(4,), offset=0, nbytes=16, blob=b"\0" * 64, name=b"w", extra=b""):
    crc = zlib.crc32(blob[offset:offset + nbytes]) if offset + nbytes <= len(blob) else 0
    return _image(_kv(b"k", 1, struct.pack("<I", 7)) + _tensor_entry(name, dtype, dims, offset, nbytes, crc) + extra,
                  1, 1, blob)


def directory_faults():
    u32 = lambda v: struct.pack("<I", v)  # noqa: E731
    return [
        ("unknown_type", _image(_kv(b"k", 9, u32(0)), 1), "metadata 'k' has unknown type code 9, expected 1..8"),
        ("duplicate_key", _image(_kv(b"k", 1, u32(1)) + _kv(b"k", 1, u32(2)), 2), "duplicate metadata key 'k'"),
        ("duplicate_key_with_nul", _image(_kv(b"a\0b", 1, u32(1)) + _kv(b"a\0b", 1, u32(2)), 2),
         "duplicate metadata key 'a\\x00b'"),
        ("key_not_utf8", _image(_kv(b"\xff", 1, u32(1)), 1), "metadata entry 0 key at metadata offset 4 is not valid UTF-8"),
        ("empty_key", _image(_kv(b"", 1, u32(1)), 1), "metadata entry 0 key length is 0, expected 1..256"),
        ("value_truncated", _image(_kv(b"k", 2, u32(1)), 1), "metadata 'k' needs 8 bytes at metadata offset 9, only 4 left"),
        ("string_array_count_huge", _image(_kv(b"k", 6, u32(10**6)), 1),
         "metadata 'k' (1000000 strings) needs 4000000 bytes at metadata offset 13, only 0 left"),
        ("string_array_element_not_utf8", _image(_kv(b"k", 6, u32(2) + u32(1) + b"a" + u32(1) + b"\xff"), 1),
         "metadata 'k'[1] at metadata offset 22 is not valid UTF-8"),
        ("string_array_element_past_the_end", _image(_kv(b"k", 6, u32(2) + u32(1) + b"a" + u32(50) + b"xxxx"), 1),
         "metadata 'k'[1] needs 50 bytes at metadata offset 22, only 4 left"),
        ("surrogate_in_string", _image(_kv(b"k", 5, u32(3) + b"\xed\xa0\x80"), 1),
         "metadata 'k' at metadata offset 13 is not valid UTF-8"),
        ("entries_missing", _image(_kv(b"k", 1, u32(1)), 2), "metadata entry 1 key length needs 4 bytes"),
        ("unexplained_bytes", _image(_kv(b"k", 1, u32(1)) + b"\0\0\0", 1),
         "3 unexplained bytes after the tensor directory (field 'meta_size')"),
        ("dtype_code", _one_tensor(dtype=7), "tensor 'w' has dtype code 7, expected 0 (F32), 1 (I8) or 2 (I32)"),
        ("ndim_zero", _one_tensor(dims=()), "tensor 'w' has ndim 0, expected 1..4"),
        ("ndim_five", _one_tensor(dims=(1, 1, 1, 1, 4)), "tensor 'w' has ndim 5, expected 1..4"),
        ("nbytes_mismatch", _one_tensor(nbytes=12), "tensor 'w' nbytes is 12, expected prod(dims) * 4"),
        ("offset_misaligned", _one_tensor(offset=8, blob=b"\0" * 128), "tensor 'w' offset 8 is not a multiple of 64"),
        ("past_the_blob", _one_tensor(dims=(32,), nbytes=128), "tensor 'w' (offset 0, 128 bytes) runs past the data blob"),
        ("empty_tensor_absurd_dims", _one_tensor(dims=(2**40, 2**40, 0), nbytes=0),
         "tensor 'w' dims hold more than 2^48 elements (zeros left out)"),
        ("dims_overflow", _one_tensor(dims=(2**32, 2**32, 2**32), nbytes=0),
         "tensor 'w' dims hold more than 2^48 elements (zeros left out)"),
        ("tensor_name_with_newline", _one_tensor(name=b"w\n", dtype=5), "tensor 'w\\n' has dtype code 5"),
        ("duplicate_tensor", _image(_kv(b"k", 1, u32(7)) + _tensor_entry(b"w", 0, (1,), 0, 4, zlib.crc32(bytes(4)))
                                    + _tensor_entry(b"w", 0, (1,), 0, 4, zlib.crc32(bytes(4))), 1, 2, bytes(64)),
         "duplicate tensor name 'w'"),
    ]


@pytest.mark.parametrize("name,blob,needle", directory_faults(), ids=[c[0] for c in directory_faults()])
def test_directory_faults_same_message_from_both_readers(tmp_path, name, blob, needle):
    path = tmp_path / f"{name}.safu"
    path.write_bytes(blob)
    with pytest.raises(mf.ModelFormatError) as py_info:
        mf.read_model_file(path)
    with pytest.raises(core.FormatError) as cc_info:
        core.ModelFile(str(path))
    assert str(py_info.value) == str(cc_info.value)
    assert str(cc_info.value).startswith(f"{path}: ") and needle in str(cc_info.value)
    with pytest.raises(core.FormatError) as cc_bytes:
        core.ModelFile.from_bytes(blob)
    with pytest.raises(mf.ModelFormatError) as py_bytes:
        mf.decode_model(blob)
    assert str(cc_bytes.value) == str(py_bytes.value) == str(py_info.value).replace(str(path), "<bytes>", 1)
