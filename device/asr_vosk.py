"""device/asr_vosk.py: offline recognition with Vosk (Kaldi); the model directory is supplied by the user.

    rec = VoskRecognizer("/models/vosk-model-small-en-us-0.15", model.sentences)  # phrase-list grammar + [unk]
    rec = VoskRecognizer("/models/vosk-model-small-en-us-0.15", None)             # open vocabulary
    rec.recognize(samples).text

Restricted mode passes Vosk a phrase-list grammar: the model's sentences in spoken form plus "[unk]",
Vosk's out-of-vocabulary word. Anything Vosk can only explain with [unk] is rejected. (Only models with a
dynamic graph, such as the "small" ones, accept a grammar; big models ignore it and decode openly.)
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from safu.device.audio import SAMPLE_RATE, float_to_pcm16
from safu.device.command_vocabulary import CommandVocabulary
from safu.device.recognizer import RecognizerError, Transcript, judge
from safu.device.spoken_numbers import words_to_digits

UNKNOWN = "[unk]"


def vosk_grammar(sentences: list[str], values: dict[str, list[str]] | None = None) -> list[str]:
    """The phrase list handed to KaldiRecognizer: spoken-form sentences, then "[unk]"."""
    return CommandVocabulary.from_sentences(sentences, values=values).phrases + [UNKNOWN]


def check_model_dir(path: str) -> str:
    """Returns the path; raises RecognizerError naming it when it is not an unpacked Vosk model."""
    if not os.path.isdir(path):
        raise RecognizerError(f"--vosk-model {path}: no such directory (unpack a model from "
                              "https://alphacephei.com/vosk/models, e.g. vosk-model-small-en-us-0.15)")
    if not (os.path.isdir(os.path.join(path, "am")) or os.path.exists(os.path.join(path, "final.mdl"))):
        raise RecognizerError(f"--vosk-model {path}: not a Vosk model directory (expected am/ and conf/ inside)")
    return path


class VoskRecognizer:
    name = "vosk"
    min_agreeing = 1  # one decoder: no agreement check

    def __init__(self, model_dir: str, sentences: list[str] | None, values: dict[str, list[str]] | None = None):
        check_model_dir(model_dir)
        self.restricted = sentences is not None
        self.grammar = vosk_grammar(sentences, values) if self.restricted else None
        try:
            import vosk
        except ImportError:
            raise RecognizerError("--asr vosk needs the 'vosk' package: pip install vosk") from None
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(model_dir)
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise RecognizerError(f"--vosk-model {model_dir}: Vosk could not load it ({exc})") from None
        if self.grammar is not None:
            self._rec = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, json.dumps(self.grammar))
        else:
            self._rec = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)

    def close(self) -> None:
        """Nothing to free: the model goes with the object."""

    def widen(self) -> Transcript | None:
        """None: there is no other decoder to hear the last utterance with."""
        return None

    def recognize(self, samples: np.ndarray) -> Transcript:
        t0 = time.perf_counter()
        self._rec.AcceptWaveform(float_to_pcm16(samples))
        words = json.loads(self._rec.FinalResult()).get("text", "").strip()
        self._rec.Reset()
        accepted, reason = judge(words, {UNKNOWN})
        return Transcript(text=words_to_digits(words.replace(UNKNOWN, "").strip()) if accepted else words,
                          words=words, accepted=accepted, reason=reason, decode_s=time.perf_counter() - t0)
