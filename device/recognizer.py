"""device/recognizer.py: the speech-recogniser interface and the factory behind `safu listen --asr`.

    rec = make_recognizer("pocketsphinx", sentences=model.sentences)          # restricted to the model
    rec = make_recognizer("vosk", sentences=model.sentences, vosk_model="/path/to/vosk-model-small-en-us")
    t = rec.recognize(samples)      # float32 16 kHz mono -> Transcript
    if t.accepted: model.predict(t.text)

A Recognizer has what the voice loop (pipeline.VoiceLoop) uses: `.name`, `.restricted`,
`.min_agreeing`, `.recognize(samples) -> Transcript`, `.widen()` and `.close()`. Restricted recognisers
only know the words of the intent model's training sentences plus garbage words; a transcript with a
garbage word (or with nothing) comes back with accepted=False and a reason, so it is never acted on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from safu.device.asr_pocketsphinx import PocketSphinxConfig


class RecognizerError(OSError):
    """The recogniser could not be set up (missing package, missing model directory, bad grammar)."""


@dataclass
class Transcript:
    text: str              # what the intent model reads: number words turned back into digits
    words: str             # the recogniser's own words
    accepted: bool         # False: out of vocabulary or nothing heard; do not act
    reason: str | None     # why it was not accepted
    decode_s: float        # recogniser time for this utterance
    # Runners-up (PocketSphinx N-best within a score margin), best first: the voice loop acts on the
    # first hypothesis, this one or a runner-up, that is accepted and that the intent model understands.
    alternatives: list["Transcript"] = field(default_factory=list)
    # Loudest against quietest frames of the utterance, in dB (audio_conditioning.loudness_range_db): an
    # estimate of the speech-to-noise ratio (3-7 dB above it on the benchmark's speech in pink noise).
    # None: not measured.
    loudness_range_db: float | None = None
    # Each decoder's own hypotheses (PocketSphinx: one list per vocal-tract warp decoded, best path and
    # N-best), for the voice loop's agreement check (pipeline.VoiceLoop.confirm). Empty: one decoder only.
    opinions: list[list["Transcript"]] = field(default_factory=list)
    # Natural-log posterior probability of each of `words` in its decoder's lattice (PocketSphinx: a
    # decoder's best path only; None: not measured), for the voice loop's slot-word check (VoiceLoop.confirm).
    word_posteriors: list[float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Recognizer(Protocol):
    name: str          # the engine, as the events name it ("pocketsphinx", "vosk")
    restricted: bool   # True: only the model's sentences (plus garbage words) can be heard
    min_agreeing: int  # decoders whose opinions must each hold the command acted on (1: no check)

    def recognize(self, samples: np.ndarray) -> Transcript: ...

    def widen(self) -> Transcript | None: ...  # the last utterance heard by more decoders (None: no more)

    def close(self) -> None: ...  # frees what the recogniser holds (PocketSphinx: its decoder processes)


def judge(words: str, garbage: set[str]) -> tuple[bool, str | None]:
    """The out-of-vocabulary rule shared by both engines: nothing heard, or any garbage word -> reject."""
    tokens = words.split()
    if not tokens:
        return False, "no words recognised"
    oov = [w for w in tokens if w in garbage]
    if oov:
        return False, "out-of-vocabulary speech (" + " ".join(oov[:5]) + ")"
    return True, None


def make_recognizer(engine: str = "pocketsphinx", sentences: list[str] | None = None, restricted: bool = True,
                    vosk_model: str | None = None, values: dict[str, list[str]] | None = None,
                    warps: tuple[float, ...] | None = None, processes: int | None = None,
                    labels: list[str | None] | None = None, pronunciations: str | None = None,
                    accents: bool | None = None, min_agreeing: int | None = None,
                    pocketsphinx: "PocketSphinxConfig | None" = None) -> Recognizer:
    """engine "pocketsphinx" (default, model inside the wheel) or "vosk" (needs vosk_model, a directory).

    restricted=True needs `sentences` (IntentModel.sentences); `values` ({slot: surfaces}, from
    command_vocabulary.slot_values(model)) lets names appear in every sentence shape; `labels`
    (command_vocabulary.sentence_labels(model, sentences)) gives every intent the same prior;
    `pronunciations`: a PocketSphinx pronunciation file of the user's and `accents`: British forms too
    (restricted mode; None: the engine's default, on for PocketSphinx). `min_agreeing`: warps that must
    each hear a command before it is acted on (PocketSphinx; default asr_pocketsphinx.MIN_AGREEING).
    Raises RecognizerError or ValueError. `warps`: PocketSphinx vocal-tract warps
    (default: warps.WARPS for restricted recognition, three of them per utterance chosen by
    pitch; one for open, whose decoding is ten times slower); `processes`: worker processes they run in
    (default: one per CPU core; 1: in this process). `pocketsphinx`: every other PocketSphinx setting
    (asr_pocketsphinx.PocketSphinxConfig); the options above, where given, replace its fields. Call
    close() when done."""
    if restricted and not sentences:
        raise ValueError("a restricted recogniser needs the model's training sentences (IntentModel.sentences)")
    if engine == "pocketsphinx":
        from dataclasses import replace

        from safu.device.asr_pocketsphinx import PocketSphinxConfig, PocketSphinxRecognizer
        chosen = {key: value for key, value in (("warps", warps), ("processes", processes),
                                                ("pronunciations", pronunciations), ("accents", accents),
                                                ("min_agreeing", min_agreeing)) if value is not None}
        config = replace(pocketsphinx or PocketSphinxConfig(), **chosen)
        return PocketSphinxRecognizer(sentences if restricted else None, values=values,
                                      labels=labels if restricted else None, config=config)
    if pocketsphinx is not None:
        raise ValueError("a PocketSphinx configuration needs --asr pocketsphinx")
    if warps is not None and tuple(warps) != (1.0,):
        raise ValueError("warps are a PocketSphinx option (--asr pocketsphinx)")
    if processes is not None and processes != 1:
        raise ValueError("decoder processes are a PocketSphinx option (--asr pocketsphinx)")
    if pronunciations or accents is not None:
        raise ValueError("pronunciations and accents are PocketSphinx options (--asr pocketsphinx)")
    if min_agreeing is not None:
        raise ValueError("--min-agreeing is a PocketSphinx option (--asr pocketsphinx): "
                         "it compares warp decoders")
    if engine == "vosk":
        from safu.device.asr_vosk import VoskRecognizer
        if not vosk_model:
            raise RecognizerError("--asr vosk needs --vosk-model DIR (an unpacked model such as vosk-model-small-en-us-0.15)")
        return VoskRecognizer(vosk_model, sentences if restricted else None, values)
    raise ValueError(f"unknown recogniser {engine!r}; expected 'pocketsphinx' or 'vosk'")
