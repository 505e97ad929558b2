"""device/warps.py: the vocal-tract-length warps PocketSphinx decodes an utterance with, chosen by pitch.

    which = warps_for_pitch(WARPS, median_pitch(samples))    # indices of the warps to decode first
    settings = {**decoder_settings, **warp_options(WARPS[k])}

Each warp is one decoder of its own. The speaking pitch (device/pitch.py) picks the WARPS_PER_PITCH
lowest warps for a voice below PITCH_SPLIT_HZ and the highest above it; the recogniser's widen()
decodes the rest when the voice loop asks (docs/voice.md, "Warp decoders chosen by pitch").
"""
from __future__ import annotations

import itertools

WARPS = (0.9, 1.0, 1.1, 1.3, 1.4, 1.5)  # vocal-tract warps (restricted default), see above
WARPS_PER_PITCH = 3   # of them, the lowest (low voice) or highest (high voice) decoded per utterance, see above
PITCH_SPLIT_HZ = 150.0  # between adult male (85-155 Hz) and adult female (165-255 Hz) speaking pitch

_warps_made = itertools.count()


def warp_options(warp: float) -> dict:
    """Decoder options for a vocal-tract-length warp of the frequency axis (1.0: unwarped).

    PocketSphinx keeps the warp in process-wide variables and skips parsing `warp_params` when the string
    equals the previous decoder's, even if a decoder without a warp reset them to "no warp" in between:
    making warps (1.0, 1.1) and then (1.0, 1.1, 1.2) in one process left the second 1.1 decoder unwarped.
    So every decoder gets explicit parameters, 1.0 included, written with 3 or 4 decimals in turn so that
    no two decoders made one after the other pass the same string."""
    decimals = 3 + next(_warps_made) % 2
    return {"warp_type": "inverse_linear", "warp_params": f"{warp:.{decimals}f}"}


def warps_for_pitch(warps: tuple[float, ...], pitch_hz: float) -> list[int]:
    """Indices of the warps to decode for a voice of this pitch: the WARPS_PER_PITCH lowest below
    PITCH_SPLIT_HZ, the highest above it, all of them when no pitch was found (0) or there are few."""
    if pitch_hz <= 0 or len(warps) <= WARPS_PER_PITCH:
        return list(range(len(warps)))
    by_warp = sorted(range(len(warps)), key=lambda k: warps[k])
    chosen = by_warp[:WARPS_PER_PITCH] if pitch_hz < PITCH_SPLIT_HZ else by_warp[-WARPS_PER_PITCH:]
    return sorted(chosen)
