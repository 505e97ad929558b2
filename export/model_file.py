"""The `.safu` model file: writer and reader of the container defined in docs/format.md.

    write_model_file("m.safu", {"general.kind": "intent", ...}, {"token_table": R, ...})
    mf = read_model_file("m.safu"); mf.metadata["intent.labels"]; mf.tensors["token_table"]

The C++ reader (cpp/src/model_file.cpp) implements the same checks in the same order; tests build
one bad file per failure mode and expect both readers to reject it.
"""
from __future__ import annotations

import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"SAFU"
FORMAT_VERSION = 1
OLDEST_SUPPORTED_VERSION = 1
HEADER_SIZE = 48
ALIGNMENT = 64
MAX_KV = 4096
MAX_TENSORS = 4096
MAX_NAME_LEN = 256
MAX_NDIM = 4

# Metadata value types.
KV_U32, KV_I64, KV_F32, KV_F64, KV_STR, KV_STR_ARRAY, KV_F32_ARRAY, KV_U32_ARRAY = range(1, 9)

# Tensor dtypes: code -> numpy dtype.
DTYPE_F32, DTYPE_I8, DTYPE_I32 = 0, 1, 2
DTYPES = {DTYPE_F32: np.dtype("<f4"), DTYPE_I8: np.dtype("i1"), DTYPE_I32: np.dtype("<i4")}
DTYPE_CODES = {np.dtype("float32"): DTYPE_F32, np.dtype("int8"): DTYPE_I8, np.dtype("int32"): DTYPE_I32}


class ModelFormatError(ValueError):
    """The file is not a valid .safu model; the message names the path and the field."""


@dataclass(frozen=True)
class F64:
    """Force a metadata float to be stored as F64 (plain floats are F32)."""

    value: float


@dataclass(frozen=True)
class I64:
    """Force a metadata integer to be stored as I64 (plain non-negative ints below 2**32 are U32)."""

    value: int


@dataclass
class ModelFile:
    version: int
    metadata: dict = field(default_factory=dict)
    tensors: dict = field(default_factory=dict)
    path: str = ""
    types: dict = field(default_factory=dict)  # metadata key -> stored type code (KV_U32 ...)

    def require(self, key: str):
        """Returns metadata[key]; raises ModelFormatError naming the missing key."""
        if key not in self.metadata:
            raise ModelFormatError(f"{self.path}: metadata key {key!r} is missing")
        return self.metadata[key]

    def tensor(self, name: str) -> np.ndarray:
        """Returns a float32 tensor, dequantising an I8 tensor with its `.scale` companion."""
        if name not in self.tensors:
            raise ModelFormatError(f"{self.path}: tensor {name!r} is missing")
        t = self.tensors[name]
        if t.dtype == np.int8:
            scale = self.tensors.get(name + ".scale")
            if scale is None or scale.shape != (t.shape[0],):
                raise ModelFormatError(f"{self.path}: int8 tensor {name!r} needs a {name}.scale of shape ({t.shape[0]},)")
            return (t.astype(np.float32) * scale[:, None]).astype(np.float32)
        return t


# ---------------------------------------------------------------------------------------------
# writing


def _encode_value(key: str, value) -> bytes:
    if isinstance(value, bool):
        raise TypeError(f"metadata {key!r}: booleans are not a metadata type; store 0/1")
    if isinstance(value, F64):
        return struct.pack("<Id", KV_F64, value.value)
    if isinstance(value, I64):
        return struct.pack("<Iq", KV_I64, value.value)
    if isinstance(value, (int, np.integer)):
        value = int(value)
        if 0 <= value < 2**32:
            return struct.pack("<II", KV_U32, value)
        return struct.pack("<Iq", KV_I64, value)
    if isinstance(value, (float, np.floating)):
        return struct.pack("<If", KV_F32, float(value))
    if isinstance(value, str):
        b = value.encode("utf-8")
        return struct.pack("<II", KV_STR, len(b)) + b
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype == np.float32:
        return struct.pack("<II", KV_F32_ARRAY, len(value)) + value.astype("<f4").tobytes()
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            parts = [struct.pack("<II", KV_STR_ARRAY, len(value))]
            for v in value:
                b = v.encode("utf-8")
                parts.append(struct.pack("<I", len(b)) + b)
            return b"".join(parts)
        if all(isinstance(v, (int, np.integer)) and 0 <= int(v) < 2**32 for v in value):
            return struct.pack("<II", KV_U32_ARRAY, len(value)) + np.asarray(value, "<u4").tobytes()
    raise TypeError(f"metadata {key!r}: unsupported value type {type(value).__name__}")


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def encode_model(metadata: dict, tensors: dict) -> bytes:
    """Returns the bytes of a .safu file (see write_model_file)."""
    if len(metadata) > MAX_KV or len(tensors) > MAX_TENSORS:
        raise ValueError("too many metadata entries or tensors")
    meta = []
    for key, value in metadata.items():
        kb = key.encode("utf-8")
        if not 1 <= len(kb) <= MAX_NAME_LEN:
            raise ValueError(f"metadata key {key!r}: length must be 1..{MAX_NAME_LEN} bytes")
        meta.append(struct.pack("<I", len(kb)) + kb + _encode_value(key, value))

    blobs, directory, offset = [], [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in DTYPE_CODES:
            raise TypeError(f"tensor {name!r}: dtype {array.dtype} not storable (float32, int8, int32)")
        if not 1 <= array.ndim <= MAX_NDIM:
            raise ValueError(f"tensor {name!r}: ndim must be 1..{MAX_NDIM}, got {array.ndim}")
        nb = name.encode("utf-8")
        if not 1 <= len(nb) <= MAX_NAME_LEN:
            raise ValueError(f"tensor name {name!r}: length must be 1..{MAX_NAME_LEN} bytes")
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        entry = struct.pack("<I", len(nb)) + nb + struct.pack("<II", DTYPE_CODES[array.dtype], array.ndim)
        entry += struct.pack(f"<{array.ndim}Q", *array.shape)
        entry += struct.pack("<QQI", offset, len(data), zlib.crc32(data))
        directory.append(entry)
        blobs.append(data + b"\0" * (_align(len(data)) - len(data)))
        offset += _align(len(data))

    meta_bytes = b"".join(meta) + b"".join(directory)
    data_offset = _align(HEADER_SIZE + len(meta_bytes))
    data = b"".join(blobs)
    head = MAGIC + struct.pack("<IIIQQQI", FORMAT_VERSION, len(metadata), len(tensors), len(meta_bytes),
                               data_offset, len(data), zlib.crc32(meta_bytes))
    head += struct.pack("<I", zlib.crc32(head))
    assert len(head) == HEADER_SIZE
    pad = b"\0" * (data_offset - HEADER_SIZE - len(meta_bytes))
    return head + meta_bytes + pad + data


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but nothing else works)
    os.umask(mask)
    return mask


def write_file_atomic(path, data: bytes) -> Path:
    """Writes `data` to `path` through a temp file in the same folder, fsync, then rename.

    The file gets the mode a plain open() would give (0666 minus the umask), not mkstemp's 0600;
    an existing file keeps being replaced whole. On any failure the temp file is removed and the
    old file (if any) is untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_model_file(path, metadata: dict, tensors: dict) -> None:
    """Writes a .safu file atomically (write_file_atomic: temp file, rename, the umask's mode)."""
    write_file_atomic(path, encode_model(metadata, tensors))


# ---------------------------------------------------------------------------------------------
# reading


class _Cursor:
    """Bounds-checked little-endian reads over the metadata section."""

    def __init__(self, buf: bytes, start: int, end: int, where: str):
        self.buf, self.pos, self.end, self.where = buf, start, end, where

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise ModelFormatError(f"{self.where}: metadata truncated while reading {what} "
                                   f"(needs {n} bytes at offset {self.pos}, section ends at {self.end})")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def string(self, what: str, max_len: int | None = None) -> str:
        (n,) = self.unpack("I", what + " length")
        if max_len is not None and not 1 <= n <= max_len:
            raise ModelFormatError(f"{self.where}: {what} length {n} outside 1..{max_len}")
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFormatError(f"{self.where}: {what} is not valid UTF-8") from exc


def _read_value(c: _Cursor, key: str, types: dict):
    (kind,) = c.unpack("I", f"type of {key!r}")
    types[key] = kind
    if kind == KV_U32:
        return c.unpack("I", key)[0]
    if kind == KV_I64:
        return c.unpack("q", key)[0]
    if kind == KV_F32:
        return c.unpack("f", key)[0]
    if kind == KV_F64:
        return c.unpack("d", key)[0]
    if kind == KV_STR:
        return c.string(f"value of {key!r}")
    if kind in (KV_STR_ARRAY, KV_F32_ARRAY, KV_U32_ARRAY):
        (count,) = c.unpack("I", f"count of {key!r}")
        if count > c.end - c.pos:  # every element takes at least one byte
            raise ModelFormatError(f"{c.where}: {key!r} claims {count} elements, only {c.end - c.pos} bytes left")
        if kind == KV_STR_ARRAY:
            return [c.string(f"element {i} of {key!r}") for i in range(count)]
        dt = "<f4" if kind == KV_F32_ARRAY else "<u4"
        arr = np.frombuffer(c.take(4 * count, key), dtype=dt)
        return arr.astype(np.float32) if kind == KV_F32_ARRAY else [int(v) for v in arr]
    raise ModelFormatError(f"{c.where}: metadata {key!r} has unknown type {kind}")


def decode_model(buf: bytes, where: str = "<bytes>") -> ModelFile:
    """Parses and validates a .safu image; raises ModelFormatError before building anything big."""
    size = len(buf)
    if size < HEADER_SIZE:
        raise ModelFormatError(f"{where}: file is {size} bytes, shorter than the {HEADER_SIZE}-byte header (truncated?)")
    if buf[:4] != MAGIC:
        raise ModelFormatError(f"{where}: bad magic {buf[:4]!r}, expected {MAGIC!r} (not a safu model file)")
    version, n_kv, n_tensors, meta_size, data_offset, data_size, meta_crc, header_crc = struct.unpack_from(
        "<IIIQQQII", buf, 4)
    if version < OLDEST_SUPPORTED_VERSION:
        raise ModelFormatError(f"{where}: unsupported old format version {version} "
                               f"(this build reads {OLDEST_SUPPORTED_VERSION}..{FORMAT_VERSION})")
    if version > FORMAT_VERSION:
        raise ModelFormatError(f"{where}: file is v{version}, this build supports <= v{FORMAT_VERSION}; upgrade safu")
    if zlib.crc32(buf[:44]) != header_crc:
        raise ModelFormatError(f"{where}: header checksum mismatch (corrupt file)")
    if n_kv > MAX_KV or n_tensors > MAX_TENSORS:
        raise ModelFormatError(f"{where}: header counts out of range (n_kv={n_kv}, n_tensors={n_tensors}; "
                               f"limits {MAX_KV}, {MAX_TENSORS})")
    if HEADER_SIZE + meta_size > data_offset or data_offset % ALIGNMENT:
        raise ModelFormatError(f"{where}: data_offset {data_offset} is not a 64-aligned offset after the metadata")
    if data_offset + data_size != size:
        raise ModelFormatError(f"{where}: file is {size} bytes, header says {data_offset + data_size} (truncated?)")
    if zlib.crc32(buf[HEADER_SIZE:HEADER_SIZE + meta_size]) != meta_crc:
        raise ModelFormatError(f"{where}: metadata checksum mismatch (corrupt file)")

    c = _Cursor(buf, HEADER_SIZE, HEADER_SIZE + meta_size, where)
    metadata, types = {}, {}
    for _ in range(n_kv):
        key = c.string("metadata key", MAX_NAME_LEN)
        if key in metadata:
            raise ModelFormatError(f"{where}: duplicate metadata key {key!r}")
        metadata[key] = _read_value(c, key, types)

    entries = []
    for _ in range(n_tensors):
        name = c.string("tensor name", MAX_NAME_LEN)
        dtype, ndim = c.unpack("II", f"dtype/ndim of tensor {name!r}")
        if dtype not in DTYPES:
            raise ModelFormatError(f"{where}: tensor {name!r} has unknown dtype {dtype}")
        if not 1 <= ndim <= MAX_NDIM:
            raise ModelFormatError(f"{where}: tensor {name!r} has ndim {ndim}, expected 1..{MAX_NDIM}")
        dims = c.unpack(f"{ndim}Q", f"dims of tensor {name!r}")
        offset, nbytes, crc = c.unpack("QQI", f"offset/size of tensor {name!r}")
        count = 1
        for d in dims:   # as the C++ reader: a product past 2**64 is refused even if a later dim is 0
            count *= d
            if count >= 2**64:
                raise ModelFormatError(f"{where}: tensor {name!r} dims {dims} overflow 64 bits")
        if nbytes != count * DTYPES[dtype].itemsize:
            raise ModelFormatError(f"{where}: tensor {name!r} has {nbytes} bytes, dims {dims} need "
                                   f"{count * DTYPES[dtype].itemsize}")
        if offset % ALIGNMENT or offset + nbytes > data_size:
            raise ModelFormatError(f"{where}: tensor {name!r} at offset {offset} (+{nbytes}) is misaligned "
                                   f"or outside the {data_size}-byte data blob")
        if any(e[0] == name for e in entries):
            raise ModelFormatError(f"{where}: duplicate tensor name {name!r}")
        entries.append((name, dtype, dims, offset, nbytes, crc))
    if c.pos != c.end:
        raise ModelFormatError(f"{where}: {c.end - c.pos} unexplained bytes at the end of the metadata")

    tensors = {}
    for name, dtype, dims, offset, nbytes, crc in entries:
        start = data_offset + offset
        raw = buf[start:start + nbytes]
        if zlib.crc32(raw) != crc:
            raise ModelFormatError(f"{where}: tensor {name!r} checksum mismatch (corrupt file)")
        tensors[name] = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(dims).astype(DTYPES[dtype].newbyteorder("="))
    return ModelFile(version=version, metadata=metadata, tensors=tensors, path=where, types=types)


def read_model_file(path) -> ModelFile:
    """Reads and validates a .safu file; raises ModelFormatError (a ValueError) or OSError."""
    path = Path(path)
    with open(path, "rb") as f:
        buf = f.read()
    return decode_model(buf, str(path))
