"""device/audio_conditioning.py: what an utterance goes through before PocketSphinx decodes it.

    levels = quiet_and_loud(samples)               # quietest and loudest frame RMS
    pcm = dithered(float_to_pcm16(with_noise_floor(samples, NOISE_FLOOR_DB, levels)))
    loudness_range_db(samples)                     # the speech-to-noise estimate the word checks use

Pink noise is mixed in until the quietest frames sit NOISE_FLOOR_DB below the loudest (the acoustic
model mishears words next to exact digital silence), then +-1 LSB of dither is added. Both are seeded
by the length of the recording, so a recording always decodes the same (docs/voice.md, "Audio
conditioning").
"""
from __future__ import annotations

import numpy as np

NOISE_FLOOR_DB = 30.0  # background noise at least this far below speech before decoding, see above
LEVEL_FRAME = 400  # samples per frame of quiet_and_loud: 25 ms at 16 kHz


def pink_noise(n: int, rng) -> np.ndarray:
    """n samples of unit-RMS pink (1/f power) noise, shaped from white noise in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


def quiet_and_loud(samples: np.ndarray) -> tuple[float, float] | None:
    """RMS of the quietest and the loudest frames (LEVEL_FRAME frames: 5th and 95th percentile); None
    for less than one frame."""
    if len(samples) < LEVEL_FRAME:
        return None
    x = samples.astype(np.float64)
    frames = x[: len(x) // LEVEL_FRAME * LEVEL_FRAME].reshape(-1, LEVEL_FRAME)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    return float(np.percentile(rms, 5)), float(np.percentile(rms, 95))


def loudness_range_db(samples: np.ndarray) -> float:
    """Loudest against quietest frames in dB, an estimate of the speech-to-noise ratio (the endpointer's
    pre-roll and end wait give the quiet frames). On the benchmark's utterances with pink noise mixed in
    at 20, 10 and 5 dB it measures 23.5-26.9, 13.5-16.9 and 9.3-12.3 dB; clean ones 79-85 dB. inf when
    there is no quiet to measure (digital silence, under 25 ms of audio)."""
    levels = quiet_and_loud(samples)
    return range_db(*levels) if levels else float("inf")


def range_db(quiet: float, loud: float) -> float:
    """loudness_range_db from quiet_and_loud's two levels (inf when the quiet frames are digital silence)."""
    return 20 * np.log10(loud / quiet) if quiet > 0 else float("inf")


def with_noise_floor(samples: np.ndarray, floor_db: float,
                     levels: tuple[float, float] | None = None) -> np.ndarray:
    """samples + pink noise so that the quietest frames sit at least `floor_db` below the loudest
    ones (see quiet_and_loud; `levels`: its result, when the caller has it already). Recordings that
    already have that much background noise are left as they are. Seeded by the length, so a recording
    always decodes the same."""
    if floor_db <= 0:
        return samples
    levels = levels or quiet_and_loud(samples)
    if levels is None:  # under one frame
        return samples
    quiet, loud = levels
    target = loud * 10 ** (-floor_db / 20)
    if quiet >= target:
        return samples
    noise = pink_noise(len(samples), np.random.default_rng(len(samples))) * np.sqrt(target ** 2 - quiet ** 2)
    return np.clip(samples.astype(np.float64) + noise, -1.0, 1.0).astype(np.float32)


def dithered(pcm: bytes) -> bytes:
    """16-bit PCM plus +-1 LSB of noise, seeded by the length: no exact digital silence reaches the decoder.

    pocketsphinx's own dither draws from one random generator per process, reseeded whenever a decoder
    is made, so each decoder's result depended on how many decoders shared its process and in which
    order they decoded: `safu listen` acted on a different hypothesis with 1 process than with 2. Here
    every decoder gets the same input, whatever the process layout."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    x += np.random.default_rng(len(x)).integers(-1, 2, size=len(x))
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()
