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
LOUD_SHARE of the 95th-percentile RMS) whose autocorrelation peak is above pitch.VOICING. Clicks and
clatter can have a few voiced frames, but their pitch jumps from frame to frame; speech holds a pitch
contour for a syllable, so the voiced frames must also hold MIN_CONTOUR_S of contour: CONTOUR_FRAMES
frames in a row, each within CONTOUR_STEP_OCT of the one before. Measured on endpointer utterances (per
recording, the utterance with the most voiced frames):

| audio | voiced fraction min (5th pct) | contour s min |
|---|---|---|
| espeak-ng, bench_voice recordings, clean / 20 dB / 10 dB pink noise (270 each) | 0.57 / 0.55 / 0.44 (0.67 / 0.64 / 0.53) | 0.08 / 0.10 / 0.10 |
| espeak-ng commands in the bench_soak streams (seeds 2, 4, 5, 6: 23) | 0.69 | 0.26 |
| Picovoice coffee recordings (real speakers, 80), clean / kitchen noise 12 dB / 6 dB | 0.52 / 0.45 / 0.20 (0.64 / 0.58 / 0.32) | 0.32 / 0.32 / 0.22 |
| kitchen noise in the bench_soak streams (seeds 2, 4, 5, 6: 343 utterances) | median 0.09, 95th pct 0.45 | median 0.00 |

Of those noise utterances 37 reach MIN_VOICED_FRACTION, and the recogniser heard no command in them;
the ones it had turned into commands ("add half an hour", "what is my off", "what can i say",
"hello") were at 0.08-0.29, and one at 0.46 held no contour at all. At 6 dB of kitchen noise about 7%
of real recordings fall under MIN_VOICED_FRACTION; bench_voice_real measures what that costs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safu.device.pitch import HOP_S, RATE, VOICING, frame_voicing, loud_frames

MIN_VOICED_FRACTION = 0.35  # of the loud frames; below it the utterance is not decoded (see above)
CONTOUR_FRAMES = 4     # a pitch contour: this many voiced frames in a row (80 ms) ...
CONTOUR_STEP_OCT = 0.1  # ... each within this many octaves of the one before
MIN_CONTOUR_S = 0.08   # seconds of loud voiced frames in pitch contours; less is not speech (see above)


@dataclass(frozen=True)
class SpeechEvidence:
    voiced_fraction: float | None  # voiced frames / loud frames (None: digital silence, nothing to measure)
    voiced_s: float         # seconds of loud voiced frames
    contour_s: float = 0.0  # seconds of them in pitch contours (CONTOUR_FRAMES, CONTOUR_STEP_OCT)

    def to_dict(self) -> dict:
        fraction = None if self.voiced_fraction is None else round(self.voiced_fraction, 3)
        return {"voiced_fraction": fraction, "voiced_s": round(self.voiced_s, 2), "contour_s": round(self.contour_s, 2)}

    def doubt(self, min_voiced_fraction: float = MIN_VOICED_FRACTION, min_contour_s: float = MIN_CONTOUR_S) -> str | None:
        """Why this is not speech, or None (also None for digital silence: nothing to measure)."""
        if self.voiced_fraction is None:
            return None
        if self.voiced_fraction < min_voiced_fraction:
            return f"{self.voiced_fraction:.0%} of the loud frames voiced, {min_voiced_fraction:.0%} needed"
        if self.contour_s < min_contour_s:
            return (f"{self.contour_s:.2f} s of voiced frames in a steady pitch contour, {min_contour_s:.2f} s "
                    f"needed")
        return None


def speech_evidence(samples: np.ndarray, rate: int = RATE) -> SpeechEvidence:
    """How much of `samples` (float, mono) is voiced, see the module docstring. Digital silence (or under
    one frame) has no loud frames: voiced_fraction None, left for the recogniser to judge."""
    rms, peaks, pitch = frame_voicing(samples, rate)
    loud = loud_frames(rms)
    is_voiced = loud & (peaks > VOICING)
    voiced = int(np.count_nonzero(is_voiced))
    loud_count = int(np.count_nonzero(loud))
    # frames linked to the one before: both voiced, pitch within CONTOUR_STEP_OCT
    linked = is_voiced[1:] & is_voiced[:-1] & (np.abs(np.diff(np.log2(np.maximum(pitch, 1.0)))) < CONTOUR_STEP_OCT)
    contour, run = 0, 1
    for step in list(linked) + [False]:
        if step:
            run += 1
        else:
            contour += run if run >= CONTOUR_FRAMES else 0
            run = 1
    return SpeechEvidence(voiced_fraction=voiced / loud_count if loud_count else None, voiced_s=voiced * HOP_S,
                          contour_s=contour * HOP_S)
