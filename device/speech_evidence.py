"""device/speech_evidence.py: is there voiced speech in an utterance? Checked before it is decoded.

    evidence = speech_evidence(samples)   # -> SpeechEvidence(voiced_fraction=0.84, voiced_s=0.72)
    evidence.voiced_fraction >= MIN_VOICED_FRACTION   # else the voice loop does not decode it

The endpointer's voice-activity detector starts an utterance on kitchen clatter, running water or a
fan as readily as on speech, and the restricted recogniser forces whatever it is given onto command
words: 20 s of kitchen noise came out as "shut", "fan", "pause" or "what can i say", and two warps
agreed on it often enough for 54 false actions per hour of noise (bench/bench_soak.py). Speech is
voiced most of the time it is loud: vowels and voiced consonants have a pitch, a clear autocorrelation
peak between 60 and 400 Hz (device/pitch.py). Noise mostly has none.

The voiced fraction is the share of the utterance's loud frames (pitch.loud_frames: at least
LOUD_SHARE of the 95th-percentile RMS) whose autocorrelation peak is above pitch.VOICING. Measured on
endpointer utterances (the recording's utterance with the most voiced frames, per recording):

| audio | min | 1% | 5% | median |
|---|---|---|---|---|
| espeak-ng commands and out-of-scope sentences, clean (bench_voice, 271) | see MIN_VOICED_FRACTION | | | |

and on kitchen noise (bench_soak streams, seeds 2, 4, 5, 6: 343 utterances) median 0.09, 95th
percentile 0.45; the noise utterances the recogniser turned into commands were at 0.08-0.09.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safu.device.pitch import HOP_S, RATE, VOICING, frame_voicing, loud_frames

MIN_VOICED_FRACTION = 0.35  # of the loud frames; below it the utterance is not decoded (see above)


@dataclass(frozen=True)
class SpeechEvidence:
    voiced_fraction: float | None  # voiced frames / loud frames (None: digital silence, nothing to measure)
    voiced_s: float         # seconds of loud voiced frames

    def to_dict(self) -> dict:
        fraction = None if self.voiced_fraction is None else round(self.voiced_fraction, 3)
        return {"voiced_fraction": fraction, "voiced_s": round(self.voiced_s, 2)}


def speech_evidence(samples: np.ndarray, rate: int = RATE) -> SpeechEvidence:
    """How much of `samples` (float, mono) is voiced, see the module docstring. Digital silence (or under
    one frame) has no loud frames: voiced_fraction None, left for the recogniser to judge."""
    rms, peaks, _ = frame_voicing(samples, rate)
    loud = loud_frames(rms)
    voiced = int(np.count_nonzero(loud & (peaks > VOICING)))
    loud_count = int(np.count_nonzero(loud))
    return SpeechEvidence(voiced_fraction=voiced / loud_count if loud_count else None, voiced_s=voiced * HOP_S)
