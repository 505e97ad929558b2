"""safu: offline, on-device language models, warm-started from closed-form solutions.

    import safu
    model = safu.load("model.safu")       # or safu.load_default()
    model.predict("turn on the kitchen lights")
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("safu")
except _metadata.PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

from safu.runtime.api import Prediction, load, load_default, train  # noqa: E402

__all__ = ["Prediction", "__version__", "load", "load_default", "train"]
