"""device/denoise.py: a noise-robust front end in numpy: the utterance's noise floor, estimated from its
quietest frames, taken out with a Wiener gain (decision-directed a-priori SNR) before recognition.

    clean = denoise(samples)                   # float32 16 kHz mono -> float32, same length
    snr = estimated_snr_db(samples)            # loud frames over the noise floor, in dB

How:
- Short-time spectra: FRAME-sample Hann frames every HOP samples (32 ms / 8 ms at 16 kHz), resynthesised
  by weighted overlap-add (the window's overlapping squares sum out), so a gain of 1 gives the input back.
- The noise floor of each frequency bin is the mean power of the frames whose energy is in the lowest
  NOISE_FRACTION of the utterance (at least MIN_NOISE_FRAMES), taken OVER_SUBTRACTION times: an
  endpointed command keeps the pre-roll before the speech, the pauses between words and the quiet tail
  after it, where only the noise is heard.
- The gain of each bin and frame is the Wiener gain xi / (1 + xi) of the a-priori SNR xi, estimated the
  decision-directed way (Ephraim and Malah 1984: SMOOTHING times the last frame's cleaned power over the
  noise, the rest from this frame's power over the noise, less one), never below GAIN_FLOOR: a floor keeps
  some of the noise, which Whisper, trained on noisy speech, hears better than the "musical" residue of a
  deeper cut.
- estimated_snr_db compares the loudest frames (the top LOUD_FRACTION, speech) with the noise floor, so
  that a caller can leave clean speech alone.
"""
from __future__ import annotations

import numpy as np

FRAME = 512            # samples per analysis frame (32 ms at 16 kHz)
HOP = 128              # samples between frames (a quarter frame)
NOISE_FRACTION = 0.3   # the quietest frames taken for the noise floor
MIN_NOISE_FRAMES = 8
LOUD_FRACTION = 0.1    # the loudest frames taken for the speech level (estimated_snr_db)
SMOOTHING = 0.98       # decision-directed a-priori SNR: weight of the last frame's cleaned spectrum
GAIN_FLOOR = 0.3       # the least a bin is kept (about -10 dB)
OVER_SUBTRACTION = 2.0  # the noise floor is taken this many times (kitchen noise is not stationary:
                        # its quietest frames are below its mean)


def _window() -> np.ndarray:
    return np.hanning(FRAME + 1)[:FRAME].astype(np.float64)  # periodic Hann


def _frames(x: np.ndarray) -> tuple[np.ndarray, int]:
    """(the STFT of x padded by a frame at both ends, frames x bins; the padded length)."""
    padded = np.concatenate([np.zeros(FRAME), x.astype(np.float64), np.zeros(FRAME)])
    count = 1 + (len(padded) - FRAME) // HOP
    total = FRAME + (count - 1) * HOP
    if total < len(padded):
        count += 1
        total += HOP
    padded = np.concatenate([padded, np.zeros(total - len(padded))])
    index = np.arange(FRAME)[None, :] + HOP * np.arange(count)[:, None]
    return np.fft.rfft(padded[index] * _window(), axis=1), total


def _overlap_add(spectra: np.ndarray, total: int) -> np.ndarray:
    w = _window()
    frames = np.fft.irfft(spectra, n=FRAME, axis=1) * w
    out = np.zeros(total)
    norm = np.zeros(total)
    for k in range(frames.shape[0]):
        out[k * HOP:k * HOP + FRAME] += frames[k]
        norm[k * HOP:k * HOP + FRAME] += w * w
    return out / np.maximum(norm, 1e-8)


def noise_floor(power: np.ndarray) -> np.ndarray:
    """Per-bin noise power: the mean over the frames of lowest energy (NOISE_FRACTION, MIN_NOISE_FRAMES)."""
    energy = power.sum(axis=1)
    count = min(len(energy), max(MIN_NOISE_FRAMES, int(round(NOISE_FRACTION * len(energy)))))
    quiet = np.argsort(energy)[:count]
    return np.maximum(power[quiet].mean(axis=0), 1e-12)


def _check(samples) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"denoise: expected mono samples (one dimension), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("denoise: the samples hold NaN or infinite values")
    return x


def estimated_snr_db(samples) -> float:
    """The loudest frames' mean power over the noise floor's, in dB (inf for digital silence)."""
    x = _check(samples)
    if len(x) < FRAME:
        return float("inf")
    spectra, _ = _frames(x)
    power = np.abs(spectra) ** 2
    energy = power.sum(axis=1)
    noise = noise_floor(power).sum()
    loud = np.sort(energy)[-max(1, int(round(LOUD_FRACTION * len(energy)))):].mean()
    if noise <= 1e-10 * FRAME:
        return float("inf")
    return float(10 * np.log10(max(loud, 1e-12) / noise))


def denoise(samples, gain_floor: float = GAIN_FLOOR, over_subtraction: float = OVER_SUBTRACTION,
            smoothing: float = SMOOTHING) -> np.ndarray:
    """`samples` (float, 16 kHz mono) with the noise floor taken out by a decision-directed Wiener gain;
    float32, the same length. Shorter than one frame: returned as it is."""
    x = _check(samples)
    if len(x) < FRAME:
        return x.astype(np.float32)
    if not 0 < gain_floor <= 1:
        raise ValueError(f"denoise: gain_floor {gain_floor} is not in (0, 1]")
    spectra, total = _frames(x)
    power = np.abs(spectra) ** 2
    noise = over_subtraction * noise_floor(power)
    posterior = power / noise
    gains = np.empty_like(power)
    previous = np.ones(power.shape[1])  # the last frame's cleaned power over the noise
    for k in range(power.shape[0]):
        prior = smoothing * previous + (1 - smoothing) * np.maximum(posterior[k] - 1, 0)
        g = np.maximum(prior / (1 + prior), gain_floor)
        gains[k] = g
        previous = g * g * posterior[k]
    out = _overlap_add(spectra * gains, total)[FRAME:FRAME + len(x)]
    return out.astype(np.float32)
