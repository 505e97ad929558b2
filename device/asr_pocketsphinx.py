"""device/asr_pocketsphinx.py: offline recognition with PocketSphinx (the wheel carries an English model).

    rec = PocketSphinxRecognizer(model.sentences)   # restricted: n-gram LM over the commands + garbage words
    rec = PocketSphinxRecognizer(None)              # open vocabulary: the wheel's general English LM
    rec.recognize(samples).text

Restricted mode writes a trigram ARPA model (device/arpa.py) of the command sentences (spoken form),
adds the garbage words as low-probability unigrams, and loads a pronunciation dictionary cut down to
those words, which also makes the decoder start quickly. A transcript is accepted only when it has no
garbage word and every adjacent word pair (including sentence start and end) occurs in some command:
the n-gram model can still string command words into sequences no command has ("what is the the lamp"),
which is what out-of-scope speech forced onto the command vocabulary looks like.

Digital silence: synthesised or padded audio has stretches of exact zeros (41% of the samples in an
espeak-ng recording) that no microphone delivers, and PocketSphinx's acoustic model, trained on real
recordings, mishears the words next to them ("turn on" -> "are"). A constant Gaussian noise floor of
NOISE_FLOOR (about -54 dBFS, far below any room's noise) is added before decoding: on the benchmark's
clean recordings it raised exact transcripts from 14% to 56% (bench/bench_voice.py measures commands);
dithering alone (+-1 LSB) was not enough.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from safu.device.arpa import arpa_lm
from safu.device.audio import float_to_pcm16
from safu.device.command_vocabulary import CommandVocabulary, garbage_words
from safu.device.recognizer import RecognizerError, Transcript, judge
from safu.device.spoken_numbers import words_to_digits

GARBAGE_MASS = 0.05  # unigram probability shared by the garbage words (bench/bench_voice.py measures it)
LANGUAGE_WEIGHT = 6.5  # pocketsphinx -lw: how much the command LM counts against the acoustics
NOISE_FLOOR = 0.002  # RMS of the noise floor added before decoding (full scale = 1.0), see above
WORD_PENALTY = 0.65   # pocketsphinx -wip: below 1 discourages inserted short words ("the the")


def _import_pocketsphinx():
    try:
        import pocketsphinx
    except ImportError:
        raise RecognizerError("the default recogniser needs the 'pocketsphinx' package: pip install pocketsphinx") from None
    return pocketsphinx


def read_dictionary(path: str) -> dict[str, list[str]]:
    """CMUdict-style file -> {word: [pronunciation lines]} (variants "word(2)" kept under "word")."""
    entries: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=1)
            if len(parts) == 2:
                entries.setdefault(parts[0].split("(")[0], []).append(line.rstrip("\n"))
    return entries


def word_pairs(phrase: str) -> list[tuple[str, str]]:
    """Adjacent word pairs with sentence start/end marks: "turn on" -> [("", "turn"), ("turn", "on"), ("on", "")]."""
    words = [""] + phrase.split() + [""]
    return list(zip(words, words[1:]))


def with_merged_vowels(lines: list[str]) -> list[str]:
    """Adds an AA variant of every pronunciation with AO: the cot-caught merger of most North American
    speech (and of espeak-ng's en-us voice), without which "off" (AO F) is heard as "on" (AA N)."""
    out = list(lines)
    word = lines[0].split()[0].split("(")[0]
    for line in lines:
        phones = line.split()[1:]
        if "AO" in phones:
            variant = " ".join("AA" if p == "AO" else p for p in phones)
            if all(variant != " ".join(l.split()[1:]) for l in out):
                out.append(f"{word}({len(out) + 1}) {variant}")
    return out


def with_noise_floor(samples: np.ndarray, rms: float) -> np.ndarray:
    """samples + Gaussian noise of the given RMS, seeded by the length so a recording always decodes the same."""
    if rms <= 0 or len(samples) == 0:
        return samples
    noise = np.random.default_rng(len(samples)).standard_normal(len(samples)) * rms
    return np.clip(samples.astype(np.float64) + noise, -1.0, 1.0).astype(np.float32)


class PocketSphinxRecognizer:
    name = "pocketsphinx"

    def __init__(self, sentences: list[str] | None, garbage_mass: float = GARBAGE_MASS, order: int = 3,
                 language_weight: float = LANGUAGE_WEIGHT, word_penalty: float = WORD_PENALTY,
                 discount: float = 0.5, values: dict[str, list[str]] | None = None,
                 noise_floor: float = NOISE_FLOOR):
        ps = _import_pocketsphinx()
        self.noise_floor = noise_floor
        model_dir = os.path.join(ps.get_model_path(), "en-us")
        hmm = os.path.join(model_dir, "en-us")
        dict_path = os.path.join(model_dir, "cmudict-en-us.dict")
        self.restricted = sentences is not None
        self.garbage: set[str] = set()
        self.vocabulary: CommandVocabulary | None = None
        self.bigrams: set[tuple[str, str]] = set()
        if not self.restricted:
            self._decoder = ps.Decoder(hmm=hmm, dict=dict_path, lm=os.path.join(model_dir, "en-us.lm.bin"),
                                       dither=True, loglevel="FATAL")
            return
        dictionary = read_dictionary(dict_path)
        self.vocabulary = CommandVocabulary.from_sentences(sentences, known_word=lambda w: w in dictionary,
                                                          values=values)
        self.garbage = {w for w in garbage_words(exclude=self.vocabulary.words) if w in dictionary}
        self.bigrams = {pair for phrase in self.vocabulary.phrases for pair in word_pairs(phrase)}
        lm_text = arpa_lm(self.vocabulary.phrases, order=order, extra_words=sorted(self.garbage),
                          extra_mass=garbage_mass if self.garbage else 0.0, discount=discount)
        with tempfile.TemporaryDirectory(prefix="safu-asr-") as tmp:
            lm_path, small_dict = os.path.join(tmp, "commands.lm"), os.path.join(tmp, "commands.dict")
            with open(lm_path, "w", encoding="utf-8") as f:
                f.write(lm_text)
            with open(small_dict, "w", encoding="utf-8") as f:
                for word in sorted(set(self.vocabulary.words) | self.garbage):
                    f.write("\n".join(with_merged_vowels(dictionary[word])) + "\n")
            try:
                self._decoder = ps.Decoder(hmm=hmm, dict=small_dict, lm=lm_path, lw=language_weight,
                                           wip=word_penalty, dither=True, loglevel="FATAL")
            except (RuntimeError, ValueError) as exc:
                raise RecognizerError(f"pocketsphinx rejected the command language model: {exc}") from None

    def recognize(self, samples: np.ndarray) -> Transcript:
        t0 = time.perf_counter()
        self._decoder.start_utt()
        samples = with_noise_floor(samples, self.noise_floor)
        self._decoder.process_raw(float_to_pcm16(samples), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        words = hyp.hypstr.strip() if hyp is not None else ""
        accepted, reason = judge(words, self.garbage)
        if accepted and self.restricted:
            unseen = [pair for pair in word_pairs(words) if pair not in self.bigrams]
            if unseen:  # a word sequence no command contains: speech forced onto command words
                accepted, reason = False, "word sequence in no command (" + " ".join(unseen[0]).strip() + ")"
        return Transcript(text=words_to_digits(words), words=words, accepted=accepted, reason=reason,
                          decode_s=time.perf_counter() - t0)
