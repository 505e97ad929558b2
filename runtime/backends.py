"""Forward-pass backends of an intent model: the C++ core (default) or the numpy reference.

    if uses_core(backend):                       # "auto": the core when it is built
        fwd = core_forward(image, "m.safu")      # _core.IntentModel; image: the file's bytes
    else:
        fwd = numpy_forward(model_file, "m.safu")
    p_intent, p_slot = fwd.forward(ids)

"auto" takes the C++ core when the compiled module `safu._core` imports, else numpy. Both compute
docs/intent_model.md and refuse a bad file in the same words; tests hold them to the same
probabilities.
"""
from __future__ import annotations

BACKENDS = ("auto", "core", "numpy")


def core_available() -> bool:
    try:
        from safu import _core  # noqa: F401
    except ImportError:
        return False
    return hasattr(_core, "IntentModel")


def uses_core(backend: str) -> bool:
    """True for the C++ core: backend "core", or "auto" with the core built. Raises ValueError for
    an unknown backend or "core" without the compiled module."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "numpy":
        return False
    if core_available():
        return True
    if backend == "core":
        raise ValueError("backend='core' needs the compiled module safu._core; reinstall with `pip install .`")
    return False


def core_forward(image: bytes, source: str):
    """_core.IntentModel of a file's bytes (`source` names it in errors). The core's FormatError and
    ShapeError come back as ModelFormatError, the error the numpy side raises, with the same words."""
    from safu import _core
    from safu.export.model_file import ModelFormatError

    try:
        return _core.IntentModel.from_bytes(image, source)
    except (_core.FormatError, _core.ShapeError) as exc:
        raise ModelFormatError(str(exc)) from None


def numpy_forward(model_file, source: str):
    """The numpy reference (models/reference.py) of a parsed file, after export/intent_check's checks."""
    from safu.export.intent_check import check_intent_model
    from safu.models.reference import IntentReference

    return IntentReference(model_file, check_intent_model(model_file, source))
