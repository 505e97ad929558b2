"""The .safu container: round trip and one handcrafted bad file per failure mode."""
import struct
import zlib

import numpy as np
import pytest

from safu.export import model_file as mf


def sample_bytes() -> bytes:
    meta = {"general.kind": "intent", "n": 7, "big": mf.I64(-3), "x": 0.5, "d": mf.F64(0.25),
            "words": ["a", "bé", ""], "vec": np.array([1.5, -2.0], np.float32), "ids": [1, 2, 3]}
    tensors = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "q": np.array([-1, 2], np.int8),
               "i": np.array([[7]], np.int32)}
    return mf.encode_model(meta, tensors)


def test_round_trip(tmp_path):
    path = tmp_path / "m.safu"
    blob = sample_bytes()
    path.write_bytes(blob)
    m = mf.read_model_file(path)
    assert m.version == mf.FORMAT_VERSION
    assert m.metadata["general.kind"] == "intent" and m.metadata["n"] == 7 and m.metadata["big"] == -3
    assert m.metadata["x"] == 0.5 and m.metadata["d"] == 0.25 and m.metadata["words"] == ["a", "bé", ""]
    assert m.metadata["vec"].tolist() == [1.5, -2.0] and m.metadata["ids"] == [1, 2, 3]
    np.testing.assert_array_equal(m.tensors["w"], np.arange(12, dtype=np.float32).reshape(3, 4))
    assert m.tensors["q"].dtype == np.int8 and m.tensors["i"][0, 0] == 7
    assert len(blob) % 64 == 0  # data blob is 64-aligned and padded


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "m.safu"
    mf.write_model_file(path, {"k": "v"}, {"t": np.ones(3, np.float32)})
    with pytest.raises(TypeError):
        mf.write_model_file(path, {"k": object()}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safu"]
    assert mf.read_model_file(path).metadata == {"k": "v"}


def test_int8_tensor_dequantised_with_scale():
    blob = mf.encode_model({}, {"U": np.array([[1, -2], [3, 4]], np.int8),
                                "U.scale": np.array([0.5, 2.0], np.float32)})
    m = mf.decode_model(blob)
    np.testing.assert_allclose(m.tensor("U"), [[0.5, -1.0], [6.0, 8.0]])


def _refresh_header_crc(b: bytearray) -> bytearray:
    b[44:48] = struct.pack("<I", zlib.crc32(bytes(b[:44])))
    return b


def _refresh_meta_crc(b: bytearray) -> bytearray:
    meta_size = struct.unpack_from("<Q", b, 16)[0]
    b[40:44] = struct.pack("<I", zlib.crc32(bytes(b[48:48 + meta_size])))
    return _refresh_header_crc(b)


def bad_files():
    good = sample_bytes()
    g = bytearray(good)
    yield "empty", b"", "file is 0 bytes, a .safu file needs at least 48 (header)"
    yield "truncated header", good[:30], "file is 30 bytes, a .safu file needs at least 48 (header)"
    yield "bad magic", b"GGUF" + good[4:], "bad magic"
    yield "future version", bytes(_refresh_header_crc(bytearray(good[:4] + struct.pack("<I", 9) + good[8:]))), "file is v9"
    yield "old version", bytes(_refresh_header_crc(bytearray(good[:4] + struct.pack("<I", 0) + good[8:]))), "unsupported old version 0"
    yield "header crc", good[:8] + struct.pack("<I", 999) + good[12:], "header CRC mismatch (field 'header_crc32')"
    huge = bytearray(good)
    huge[8:12] = struct.pack("<I", 10**9)
    yield "huge kv count", bytes(_refresh_header_crc(huge)), "field 'n_kv' is 1000000000, at most 4096 allowed"
    yield "truncated body", good[:-64], "(truncated or padded file)"
    meta = bytearray(good)
    meta[60] ^= 0xFF
    yield "metadata crc", bytes(meta), "metadata CRC mismatch (field 'meta_crc32')"
    t = bytearray(good)
    t[-64 * 3 + 1] ^= 0xFF  # inside the first tensor's data
    yield "tensor crc", bytes(t), "CRC mismatch: stored"
    # a string length that runs past the section, with valid CRCs
    lying = bytearray(good)
    lying[48:52] = struct.pack("<I", 10**6)
    yield "key length past section", bytes(_refresh_meta_crc(lying)), "metadata entry 0 key length is 1000000, expected 1..256"
    misaligned = bytearray(g)
    misaligned[24:32] = struct.pack("<Q", struct.unpack_from("<Q", g, 24)[0] + 1)
    yield "misaligned data", bytes(_refresh_header_crc(misaligned)), "expected a multiple of 64"


@pytest.mark.parametrize("name,blob,message", list(bad_files()), ids=[b[0] for b in bad_files()])
def test_bad_files_rejected_with_clear_error(tmp_path, name, blob, message):
    path = tmp_path / f"{name.replace(' ', '_')}.safu"
    path.write_bytes(blob)
    with pytest.raises(mf.ModelFormatError) as err:
        mf.read_model_file(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(OSError):
        mf.read_model_file(tmp_path / "nope.safu")
