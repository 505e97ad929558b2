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
MAX_NONZERO_ELEMS = 1 << 48   # product of a tensor's nonzero dims

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
            return dequantize_rows(t, scale)
        return t


def dequantize_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32 values of an I8 tensor (docs/format.md): q[r, ...] * scale[r], one float32 multiply.
    The one dequantiser: the reader, the model checks and the quantiser's tests use it."""
    rows = len(scale)
    flat = q.reshape(rows, -1).astype(np.float32) * np.asarray(scale, dtype=np.float32)[:, None]
    return flat.reshape(q.shape).astype(np.float32, copy=False)


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


def shown(s: str) -> str:
    """A string from the file as an error message shows it: control characters escaped (\\t, \\n,
    \\xNN), as the C++ core does, so a NUL cannot cut its message short."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    return "".join(out)


class _Cursor:
    """Bounds-checked little-endian reads over the metadata section + tensor directory, with the
    messages of the C++ reader's Cursor (cpp/src/model_file.cpp); offsets count from byte 48."""

    def __init__(self, buf: bytes, start: int, end: int, where: str):
        self.buf, self.start, self.pos, self.end, self.where = buf, start, start, end, where

    def left(self) -> int:
        return self.end - self.pos

    def need(self, n: int, what: str) -> None:
        if n > self.left():
            raise ModelFormatError(f"{self.where}: {what} needs {n} bytes at metadata offset "
                                   f"{self.pos - self.start}, only {self.left()} left")

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what: str) -> int:
        return struct.unpack("<Q", self.take(8, what))[0]

    def text(self, n: int, what: str) -> str:
        self.need(n, what)
        try:
            value = self.buf[self.pos:self.pos + n].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFormatError(f"{self.where}: {what} at metadata offset {self.pos - self.start} "
                                   f"is not valid UTF-8") from None
        self.pos += n
        return value

    def string(self, what: str, min_len: int = 0, max_len: int = 0) -> str:
        """A u32 length then that many bytes of UTF-8; max_len 0: bounded by the section only."""
        n = self.u32(what + " length")
        if n < min_len or (max_len and n > max_len):
            raise ModelFormatError(f"{self.where}: {what} length is {n}, expected {min_len}..{max_len}")
        return self.text(n, what)


def _string_array(c: _Cursor, what: str, count: int) -> list:
    """`count` strings (u32 length + UTF-8 each) in one tight loop; at the first bad element the
    cursor's own reader is called there, so the message is the one it (and the core) gives."""
    buf, pos, end, out = c.buf, c.pos, c.end, []
    unpack_from = struct.unpack_from
    for i in range(count):
        if end - pos >= 4:
            n = unpack_from("<I", buf, pos)[0]
            if n <= end - pos - 4:
                try:
                    out.append(buf[pos + 4:pos + 4 + n].decode("utf-8"))
                    pos += 4 + n
                    continue
                except UnicodeDecodeError:
                    pass
        c.pos = pos
        c.string(f"{what}[{i}]")   # raises the exact message
        raise AssertionError("unreachable")  # pragma: no cover
    c.pos = pos
    return out


def _read_value(c: _Cursor, key: str, types: dict):
    what = f"metadata '{shown(key)}'"
    kind = c.u32(what + " type")
    types[key] = kind
    if kind == KV_U32:
        return c.u32(what)
    if kind == KV_I64:
        return struct.unpack("<q", c.take(8, what))[0]
    if kind == KV_F32:
        return struct.unpack("<f", c.take(4, what))[0]
    if kind == KV_F64:
        return struct.unpack("<d", c.take(8, what))[0]
    if kind == KV_STR:
        return c.string(what)
    if kind in (KV_STR_ARRAY, KV_F32_ARRAY, KV_U32_ARRAY):
        count = c.u32(what + " count")
        unit = {KV_STR_ARRAY: "strings", KV_F32_ARRAY: "floats", KV_U32_ARRAY: "u32"}[kind]
        c.need(4 * count, f"{what} ({count} {unit})")   # each element takes at least 4 bytes
        if kind == KV_STR_ARRAY:
            return _string_array(c, what, count)
        arr = np.frombuffer(c.take(4 * count, what), dtype="<f4" if kind == KV_F32_ARRAY else "<u4")
        return arr.astype(np.float32) if kind == KV_F32_ARRAY else [int(v) for v in arr]
    raise ModelFormatError(f"{c.where}: {what} has unknown type code {kind}, expected 1..8")


def decode_model(buf: bytes, where: str = "<bytes>") -> ModelFile:
    """Parses and validates a .safu image; raises ModelFormatError before building anything big.

    The checks, their order and their messages are those of cpp/src/model_file.cpp (docs/format.md),
    so both readers refuse a file with the same words (tests/test_cpp_model_file.py)."""
    size = len(buf)
    if size < HEADER_SIZE:
        raise ModelFormatError(f"{where}: file is {size} bytes, a .safu file needs at least {HEADER_SIZE} (header)")
    if buf[:4] != MAGIC:
        raise ModelFormatError(f"{where}: bad magic (field 'magic'): expected \"SAFU\", this is not a .safu "
                               f"model file")
    version, n_kv, n_tensors, meta_size, data_offset, data_size, meta_crc, header_crc = struct.unpack_from(
        "<IIIQQQII", buf, 4)
    if version < OLDEST_SUPPORTED_VERSION:
        raise ModelFormatError(f"{where}: unsupported old version {version} (field 'version'); this build reads "
                               f"v{FORMAT_VERSION}")
    if version > FORMAT_VERSION:
        raise ModelFormatError(f"{where}: file is v{version}, this build supports <= v{FORMAT_VERSION} "
                               f"(field 'version'); upgrade safu")
    actual = zlib.crc32(buf[:44])
    if actual != header_crc:
        raise ModelFormatError(f"{where}: header CRC mismatch (field 'header_crc32'): stored {header_crc}, "
                               f"computed {actual}; the file is corrupt")
    if n_kv > MAX_KV:
        raise ModelFormatError(f"{where}: field 'n_kv' is {n_kv}, at most {MAX_KV} allowed")
    if n_tensors > MAX_TENSORS:
        raise ModelFormatError(f"{where}: field 'n_tensors' is {n_tensors}, at most {MAX_TENSORS} allowed")
    if meta_size > size or HEADER_SIZE + meta_size > data_offset:
        raise ModelFormatError(f"{where}: field 'meta_size' ({meta_size}) runs past 'data_offset' ({data_offset})")
    if data_offset % ALIGNMENT:
        raise ModelFormatError(f"{where}: field 'data_offset' is {data_offset}, expected a multiple of {ALIGNMENT}")
    if data_offset > size or data_size != size - data_offset:
        raise ModelFormatError(f"{where}: data_offset + data_size = {data_offset} + {data_size}, expected the file "
                               f"size {size} (truncated or padded file)")
    actual = zlib.crc32(buf[HEADER_SIZE:HEADER_SIZE + meta_size])
    if actual != meta_crc:
        raise ModelFormatError(f"{where}: metadata CRC mismatch (field 'meta_crc32'): stored {meta_crc}, "
                               f"computed {actual}; the file is corrupt")

    c = _Cursor(buf, HEADER_SIZE, HEADER_SIZE + meta_size, where)
    metadata, types = {}, {}
    for i in range(n_kv):
        key = c.string(f"metadata entry {i} key", 1, MAX_NAME_LEN)
        if key in metadata:
            raise ModelFormatError(f"{where}: duplicate metadata key '{shown(key)}'")
        metadata[key] = _read_value(c, key, types)

    entries, names = [], set()
    for i in range(n_tensors):
        name = c.string(f"tensor entry {i} name", 1, MAX_NAME_LEN)
        what = f"tensor '{shown(name)}'"
        if name in names:
            raise ModelFormatError(f"{where}: duplicate tensor name '{shown(name)}'")
        dtype = c.u32(what + " dtype")
        if dtype not in DTYPES:
            raise ModelFormatError(f"{where}: {what} has dtype code {dtype}, expected 0 (F32), 1 (I8) or 2 (I32)")
        ndim = c.u32(what + " ndim")
        if not 1 <= ndim <= MAX_NDIM:
            raise ModelFormatError(f"{where}: {what} has ndim {ndim}, expected 1..{MAX_NDIM}")
        dims = tuple(c.u64(what + " dims") for _ in range(ndim))
        offset, nbytes, crc = c.u64(what + " offset"), c.u64(what + " nbytes"), c.u32(what + " crc32")
        count, overflow, nonzero = 1, False, 1
        for d in dims:   # as the core: a product past 2**64 is refused even if a later dim is 0
            count *= d
            overflow = overflow or count >= 2**64
            nonzero *= d or 1
        if nonzero > MAX_NONZERO_ELEMS:   # an empty tensor with absurd dims: numpy cannot hold its shape
            raise ModelFormatError(f"{where}: {what} dims hold more than 2^48 elements (zeros left out)")
        item = DTYPES[dtype].itemsize
        if overflow or count * item != nbytes:
            raise ModelFormatError(f"{where}: {what} nbytes is {nbytes}, expected prod(dims) * {item}")
        if offset % ALIGNMENT:
            raise ModelFormatError(f"{where}: {what} offset {offset} is not a multiple of {ALIGNMENT}")
        if offset > data_size or nbytes > data_size - offset:
            raise ModelFormatError(f"{where}: {what} (offset {offset}, {nbytes} bytes) runs past the data blob of "
                                   f"{data_size} bytes")
        names.add(name)
        entries.append((name, dtype, dims, offset, nbytes, crc))
    if c.left():
        raise ModelFormatError(f"{where}: {c.left()} unexplained bytes after the tensor directory "
                               f"(field 'meta_size')")

    tensors = {}
    for name, dtype, dims, offset, nbytes, crc in entries:
        start = data_offset + offset
        raw = buf[start:start + nbytes]
        actual = zlib.crc32(raw)
        if actual != crc:
            raise ModelFormatError(f"{where}: tensor '{shown(name)}' CRC mismatch: stored {crc}, computed {actual}; "
                                   f"the file is corrupt")
        tensors[name] = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(dims).astype(DTYPES[dtype].newbyteorder("="))
    return ModelFile(version=version, metadata=metadata, tensors=tensors, path=where, types=types)


def read_model_file(path) -> ModelFile:
    """Reads and validates a .safu file; raises ModelFormatError (a ValueError) or OSError."""
    path = Path(path)
    with open(path, "rb") as f:
        buf = f.read()
    return decode_model(buf, str(path))
