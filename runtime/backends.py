"""Forward-pass backends of an intent model: the C++ core (default) or the numpy reference.

    fwd = make_forward("m.safu", model_file, backend="auto")
    p_intent, p_slot = fwd.forward(ids)

"auto" takes the C++ core when the compiled module `safu._core` imports, else numpy. Both compute
docs/intent_model.md; tests hold them to the same probabilities.
"""
from __future__ import annotations

BACKENDS = ("auto", "core", "numpy")


def core_available() -> bool:
    try:
        from safu import _core  # noqa: F401
    except ImportError:
        return False
    return hasattr(_core, "IntentModel")


def make_forward(path, model_file, backend: str = "auto", layout=None):
    """`layout`: the result of export/intent_check.check_intent_model(model_file) if already made."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "core" or (backend == "auto" and core_available()):
        if not core_available():
            raise ValueError("backend='core' needs the compiled module safu._core; reinstall with `pip install .`")
        from safu import _core
        return _core.IntentModel(str(path))
    from safu.models.reference import IntentReference
    return IntentReference(model_file, layout)
