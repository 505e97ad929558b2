"""device/samples: short spoken commands (espeak-ng, 16 kHz mono) that `safu listen` plays with no arguments.

    from safu.device.samples import sample_wavs
    sample_wavs()  # sorted paths of the shipped WAVs

Regenerate with `sh device/samples/make_samples.sh` (needs espeak-ng and sox); commands.txt lists the texts.
"""
from __future__ import annotations

from importlib import resources


def sample_wavs() -> list[str]:
    """Returns the shipped sample paths; raises FileNotFoundError if the installation lacks them."""
    folder = resources.files("safu.device.samples")
    paths = sorted(str(p) for p in folder.iterdir() if p.name.endswith(".wav"))
    if not paths:
        raise FileNotFoundError(f"no sample recordings in {folder}; reinstall safu or pass --wav/--mic")
    return paths
