"""device/pitch.py: the speaking pitch of an utterance, to choose vocal-tract warps by (asr_pocketsphinx).

    median_pitch(samples)        # -> 104.0 (Hz) for a typical adult male voice, 0.0 if nothing is voiced

Autocorrelation over 40 ms frames (hop 20 ms) of the louder part of the utterance: a frame counts as
voiced when its normalised autocorrelation has a peak above VOICING between 60 and 400 Hz, and the
utterance's pitch is the median over its voiced frames. Adult male voices speak at about 85-155 Hz,
adult female voices at about 165-255 Hz and children higher, and a higher voice usually comes with a
shorter vocal tract, hence higher formants. Measured on the voice benchmark's recordings (five espeak-ng
voices): the two female voices at 171-242 Hz and the three male ones at 91-122 Hz, clean and at 20, 10
and 5 dB SNR of pink noise alike.
"""
from __future__ import annotations

import numpy as np

RATE = 16000
FRAME_S, HOP_S = 0.040, 0.020
LOWEST_HZ, HIGHEST_HZ = 60.0, 400.0
VOICING = 0.5      # normalised autocorrelation peak of a voiced frame
LOUD_SHARE = 0.3   # frames quieter than this share of the loud frames' RMS (95th percentile) are skipped


def frame_voicing(samples: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per FRAME_S frame (hop HOP_S): (RMS, peak of the normalised autocorrelation between LOWEST_HZ and
    HIGHEST_HZ, the pitch in Hz at that peak). Empty arrays for less than one frame."""
    n, hop = int(FRAME_S * rate), int(HOP_S * rate)
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < n:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    starts = np.arange(0, len(x) - n + 1, hop)
    frames = np.stack([x[s:s + n] for s in starts])
    frames -= frames.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    # Autocorrelation of every frame at once, through the FFT (zero-padded: no wrap-around).
    spectrum = np.fft.rfft(frames, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :n]
    energy = ac[:, :1]
    ac = np.divide(ac, energy, out=np.zeros_like(ac), where=energy > 0)
    lo, hi = int(rate / HIGHEST_HZ), int(rate / LOWEST_HZ)
    lags = lo + np.argmax(ac[:, lo:hi], axis=1)
    peaks = ac[np.arange(len(ac)), lags]
    return rms, peaks, rate / lags


def loud_frames(rms: np.ndarray) -> np.ndarray:
    """The frames not quieter than LOUD_SHARE of the loud frames' RMS (95th percentile), as a mask."""
    if not len(rms) or not np.any(rms > 0):
        return np.zeros(len(rms), bool)
    return rms >= LOUD_SHARE * np.percentile(rms, 95)


def median_pitch(samples: np.ndarray, rate: int = RATE) -> float:
    """Median fundamental frequency (Hz) of the voiced frames of `samples` (float, mono); 0.0 if none."""
    rms, peaks, pitch = frame_voicing(samples, rate)
    loud = loud_frames(rms)
    voiced = pitch[loud & (peaks > VOICING)]
    return float(np.median(voiced)) if len(voiced) else 0.0
