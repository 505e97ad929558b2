"""Fuzz the C++ model loader through the binding (atheris / libFuzzer mutations of .safu files).

    python tests/fuzz/fuzz_model_loader.py CORPUS_DIR -runs=5000 -seed=1 -artifact_prefix=crash-

Each input is loaded as an intent model and as an lm model, and a loaded model runs one
prediction / one streaming step. Allowed outcomes: success, safu._core.FormatError / ShapeError
(ValueError subclasses). Anything else (another exception, a crash, a sanitizer report) is a bug;
libFuzzer writes the input to the artifact prefix, and it belongs in tests/fuzz_corpus/.
Half of the inputs get their CRCs recomputed first, so mutations reach the metadata, directory and
model-building code instead of stopping at the checksum checks.

The numpy side reads the same bytes (export/model_file.py, export/intent_check.py,
models/reference.py): its only allowed refusal is ModelFormatError, it must refuse the same
containers and intent models as the core with the core's exact message; a model
both load must give finite probabilities on both. A disagreement raises AssertionError (a finding).
tests/fuzz/fuzz_metadata.py fuzzes files with valid CRCs and bad metadata in a structured way.
"""
import struct
import sys
import zlib

import atheris
import numpy as np

with atheris.instrument_imports(include=["safu"]):   # coverage of safu's Python code, not numpy/scipy
    from safu import _core
    from safu.export.intent_check import check_intent_model
    from safu.export.model_file import ModelFormatError, decode_model
    from safu.models.reference import IntentReference
    from safu.models.tokenizer import Vocabulary

SENTENCES = ("turn on the kitchen lights 21.5 don't", "set the living room to 20 degrees")


@atheris.instrument_func
def fix_crcs(data: bytes) -> bytes:
    """Recomputes header, metadata and (where the directory parses) tensor CRCs."""
    if len(data) < 48:
        return data
    b = bytearray(data)
    n_kv, n_tensors, meta_size, data_offset = struct.unpack_from("<IIQQ", b, 8)
    if 48 + meta_size <= len(b):
        struct.pack_into("<I", b, 40, zlib.crc32(bytes(b[48:48 + meta_size])))
    struct.pack_into("<I", b, 44, zlib.crc32(bytes(b[:44])))
    try:  # tensor CRCs: walk metadata then directory; give up quietly on anything odd
        pos, end = 48, 48 + meta_size
        for _ in range(min(n_kv, 4096)):
            (klen,) = struct.unpack_from("<I", b, pos)
            pos += 4 + klen
            (typ,) = struct.unpack_from("<I", b, pos)
            pos += 4
            if typ in (1, 3):
                pos += 4
            elif typ in (2, 4):
                pos += 8
            elif typ == 5:
                pos += 4 + struct.unpack_from("<I", b, pos)[0]
            elif typ == 6:
                (count,) = struct.unpack_from("<I", b, pos)
                pos += 4
                for _ in range(min(count, 1 << 16)):
                    pos += 4 + struct.unpack_from("<I", b, pos)[0]
            elif typ in (7, 8):
                pos += 4 + 4 * struct.unpack_from("<I", b, pos)[0]
            else:
                return bytes(b)
        patched = False
        for _ in range(min(n_tensors, 4096)):
            (nlen,) = struct.unpack_from("<I", b, pos)
            pos += 4 + nlen
            _, ndim = struct.unpack_from("<II", b, pos)
            pos += 8 + 8 * min(ndim, 4)
            off, nbytes = struct.unpack_from("<QQ", b, pos)
            start = data_offset + off
            if start + nbytes <= len(b):
                struct.pack_into("<I", b, pos + 16, zlib.crc32(bytes(b[start:start + nbytes])))
                patched = True
            pos += 20
        if patched and pos <= end:
            struct.pack_into("<I", b, 40, zlib.crc32(bytes(b[48:48 + meta_size])))
            struct.pack_into("<I", b, 44, zlib.crc32(bytes(b[:44])))
    except struct.error:
        pass
    return bytes(b)


def numpy_intent(data: bytes):
    """The numpy backend on `data`: (container_ok, message or None, p_intent list)."""
    try:
        mf = decode_model(data, "<bytes>")
    except ModelFormatError as exc:
        return False, str(exc), []
    try:
        layout = check_intent_model(mf)
    except ModelFormatError as exc:
        return True, str(exc), []
    ref, vocab = IntentReference(mf, layout), Vocabulary(layout.vocab)
    outs = []
    for s in SENTENCES:
        try:
            outs.append(ref.forward(vocab.encode(s, layout.max_tokens)[0]))
        except ModelFormatError as exc:   # finite weights overflowing float32 on this input
            assert str(exc).startswith("forward: non-finite probabilities"), exc
            outs.append(None)
    return True, None, outs


@atheris.instrument_func
def exercise(data: bytes) -> None:
    """Loads `data` every way the core and the numpy backend can; raises only FormatError/ShapeError
    on bad input, AssertionError when the two backends disagree."""
    container_ok, np_message, np_out = numpy_intent(data)
    try:
        _core.ModelFile.from_bytes(data)
    except (_core.FormatError, _core.ShapeError) as exc:
        assert not container_ok, f"the core refuses a container the numpy reader accepts: {exc}"
        assert np_message == str(exc), f"container: numpy {np_message!r}, core {str(exc)!r}"
        return
    assert container_ok, "the numpy reader refuses a container the core accepts"
    try:
        m = _core.IntentModel.from_bytes(data)
    except (_core.FormatError, _core.ShapeError) as exc:
        assert np_message == str(exc), f"numpy: {np_message!r}, core: {str(exc)!r}"
    else:
        assert np_message is None, f"numpy refuses what the core loads: {np_message}"
        for out, s in zip(np_out, SENTENCES):
            try:   # an overflow on this input is refused, not answered with NaN (either side may)
                m.predict(s)
                out_c = m.forward(m.encode(s))
            except _core.FormatError as exc:
                assert str(exc).startswith("forward: non-finite probabilities"), exc
                out_c = None
            for x in (out or ()) + (out_c or ()):
                assert np.all(np.isfinite(x)), "non-finite probabilities from a loaded model"
    try:
        lm = _core.LmModel.from_bytes(data)
        s = lm.stream()
        s.logprobs()
        if lm.vocab_size > 6:
            s.feed(6)
            s.logprobs()
    except (_core.FormatError, _core.ShapeError):
        pass


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    if data and data[0] & 1:
        data = fix_crcs(data[1:])
    elif data:
        data = data[1:]
    exercise(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
