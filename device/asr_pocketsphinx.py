"""device/asr_pocketsphinx.py: offline recognition with PocketSphinx (the wheel carries an English model).

    rec = PocketSphinxRecognizer(model.sentences)   # restricted: n-gram LM over the commands + garbage words
    rec = PocketSphinxRecognizer(None)              # open vocabulary: the wheel's general English LM
    rec.recognize(samples).text

Restricted mode writes a trigram ARPA model (device/arpa.py) of the command sentences in spoken form,
every intent weighing about the same (command_vocabulary.intent_counts), adds the garbage words as
low-probability unigrams (GARBAGE_MASS) and loads a pronunciation dictionary cut down to those words
(CMUdict, plus British forms of command words unless `accents=False`, plus the user's own file).

Before decoding, pink noise is mixed in until the quietest frames sit NOISE_FLOOR_DB below the loudest
(the acoustic model mishears words next to exact digital silence), and +-1 LSB of dither is added in
numpy. Each utterance is decoded with several vocal-tract warps, one decoder each, chosen by the
speaking pitch (device/pitch.py: below PITCH_SPLIT_HZ the lowest WARPS_PER_PITCH of WARPS, above it
the highest); the decoders run in worker processes (device/decoder_pool.py), because pocketsphinx
holds the GIL while it decodes. `widen()` decodes with the other warps too, for the voice loop's
second look. Every warp's best path and its N-best runners-up within NBEST_MARGIN are ranked by score.

A transcript is accepted only if it has no garbage word, no word twice in a row, every adjacent word
pair in some command, and at most MAX_UNSEEN_TRIGRAMS word triples found in no command (with entity
names as one word class as a second chance, EntityClasses); an utterance whose loudness range is
below NOISY_BELOW_DB may have none missing. The voice loop (pipeline.VoiceLoop.confirm) acts only on
a command that MIN_AGREEING warps hear. docs/voice.md explains each step and has the figures
(`python bench/bench_voice.py`).
"""
from __future__ import annotations

import itertools
import os
import tempfile
import time
from importlib import resources

import numpy as np

from safu.device.arpa import arpa_lm
from safu.device.audio import float_to_pcm16
from safu.device.command_vocabulary import CommandVocabulary, garbage_words, names_pattern, spoken_values
from safu.device.decoder_pool import DecoderPool, build_decoder, decode
from safu.device.pitch import median_pitch
from safu.device.recognizer import RecognizerError, Transcript, judge
from safu.device.spoken_numbers import words_to_digits

GARBAGE_MASS = 0.05  # unigram probability shared by the garbage words (bench/bench_voice.py measures it)
LANGUAGE_WEIGHT = 6.5  # pocketsphinx -lw: how much the command LM counts against the acoustics
NOISE_FLOOR_DB = 30.0  # background noise at least this far below speech before decoding, see above
WARPS = (0.9, 1.0, 1.1, 1.3, 1.4, 1.5)  # vocal-tract warps (restricted default), see above
WARPS_PER_PITCH = 3   # of them, the lowest (low voice) or highest (high voice) decoded per utterance, see above
PITCH_SPLIT_HZ = 150.0  # between adult male (85-155 Hz) and adult female (165-255 Hz) speaking pitch
WORD_PENALTY = 0.65   # pocketsphinx -wip: below 1 discourages inserted short words ("the the")
NBEST_MARGIN = 150    # runners-up kept within this path score (log base 1.0001) of the best, see above
MAX_UNSEEN_TRIGRAMS = 1  # word triples no command contains, allowed in an accepted transcript, see above
NOISY_BELOW_DB = 20.0  # an utterance whose loudness range is below this is noisy: no such triple allowed
MIN_AGREEING = 2  # warps whose hypotheses must hold the command acted on (pipeline.VoiceLoop.confirm)
TRIM_FINAL_WORD = False  # try a rejected hypothesis without its last word (PocketSphinxRecognizer._trimmed)


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


def word_ngrams(phrase: str, n: int) -> list[tuple[str, ...]]:
    """Runs of n adjacent words with sentence start/end marks (""): word_ngrams("turn on", 2) ->
    [("", "turn"), ("turn", "on"), ("on", "")]; with n=3 the first is ("", "", "turn")."""
    words = [""] * (n - 1) + phrase.split() + [""]
    return list(zip(*(words[i:] for i in range(n))))


ENTITY = "<entity>"  # stands for any entity name in the class-level word triples


class EntityClasses:
    """Entity names (the model's name/area/floor values, spoken form) replaced by one word class:
    "set the thermostat to nineteen" -> "set the <entity> to nineteen". The language model's sentences
    pair each carrier with only a few names (command_vocabulary.with_slot_variants), so a real command
    can miss word triples only because its name never stood in that carrier."""

    def __init__(self, values: dict[str, list[str]] | None):
        self._pattern = names_pattern(v for vs in (values or {}).values() for v in vs)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, phrase: str) -> str:
        return self._pattern.sub(ENTITY, phrase) if self._pattern else phrase


def parse_pronunciations(text: str, source: str, phones: set[str]) -> dict[str, list[list[str]]]:
    """"word PHONE PHONE ..." lines ('#' comments, blank lines skipped) -> {word: [phone lists]}.
    Raises ValueError naming `source` and the line for a line without phones or with a phone outside
    `phones` (the acoustic model's set)."""
    entries: dict[str, list[list[str]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split("#")[0].split()
        if not parts:
            continue
        word, spelled = parts[0].lower().split("(")[0], parts[1:]
        unknown = [p for p in spelled if p not in phones]
        if not spelled or unknown:
            detail = f"unknown phone {unknown[0]!r}" if unknown else "no phones"
            raise ValueError(f"{source} line {number}: {detail}; expected 'word PHONE PHONE ...' with phones "
                             f"from {' '.join(sorted(phones))}")
        entries.setdefault(word, []).append(spelled)
    return entries


def extra_pronunciations() -> str:
    """The shipped British-English pronunciations (accent_pronunciations.txt)."""
    return resources.files("safu.device").joinpath("accent_pronunciations.txt").read_text(encoding="utf-8")


def with_pronunciations(dictionary: dict[str, list[str]], extra: dict[str, list[list[str]]]) -> dict[str, list[str]]:
    """`dictionary` plus the `extra` pronunciations it does not have yet (new words too), numbered "word(2)"..."""
    out = {word: list(lines) for word, lines in dictionary.items()}
    for word, variants in extra.items():
        lines = out.setdefault(word, [])
        for phones in variants:
            add_pronunciation(lines, word, phones)
    return out


def add_pronunciation(lines: list[str], word: str, phones: list[str]) -> None:
    """Appends "word(k) PHONES" to one word's dictionary lines ("word PHONES" if it is the first), unless
    a line already has those phones."""
    if all(phones != line.split()[1:] for line in lines):
        lines.append(f"{word}({len(lines) + 1}) {' '.join(phones)}" if lines else f"{word} {' '.join(phones)}")


def with_non_rhotic_endings(lines: list[str]) -> list[str]:
    """Adds an AH variant of every pronunciation of two or more syllables that ends in ER: British
    English drops the r of "timer", "water", "speaker" (espeak-ng's en-gb voices do too). One-syllable
    words are left alone: "for" and "are" without the r would sound like "a". Dropping every r after a
    vowel ("porch" P AO CH, "floor" F L AO) as well was measured and made things worse: "fan" was heard
    as "for me", "garage" as "garden"."""
    def variant(phones: list[str]) -> list[str] | None:
        if phones and phones[-1] == "ER" and sum(p in _VOWELS for p in phones) >= 2:
            return phones[:-1] + ["AH"]
        return None
    return with_variants(lines, variant)


def with_variants(lines: list[str], variant) -> list[str]:
    """`lines` (one word's "word(k) PHONES" dictionary lines) plus variant(phones) of each, where that is
    not None and not there yet, numbered on."""
    out = list(lines)
    word = lines[0].split()[0].split("(")[0]
    for line in lines:
        phones = variant(line.split()[1:])
        if phones:
            add_pronunciation(out, word, phones)
    return out


_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def with_merged_vowels(lines: list[str]) -> list[str]:
    """Adds an AA variant of every pronunciation with AO: the cot-caught merger of most North American
    speech (and of espeak-ng's en-us voice), without which "off" (AO F) is heard as "on" (AA N)."""
    return with_variants(lines, lambda phones: ["AA" if p == "AO" else p for p in phones] if "AO" in phones else None)


def pink_noise(n: int, rng) -> np.ndarray:
    """n samples of unit-RMS pink (1/f power) noise, shaped from white noise in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


LEVEL_FRAME = 400  # samples per frame of quiet_and_loud: 25 ms at 16 kHz


def quiet_and_loud(samples: np.ndarray) -> tuple[float, float] | None:
    """RMS of the quietest and the loudest frames (LEVEL_FRAME frames: 5th and 95th percentile); None
    for less than one frame."""
    if len(samples) < LEVEL_FRAME:
        return None
    x = samples.astype(np.float64)
    frames = x[: len(x) // LEVEL_FRAME * LEVEL_FRAME].reshape(-1, LEVEL_FRAME)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    return float(np.percentile(rms, 5)), float(np.percentile(rms, 95))


def loudness_range_db(samples: np.ndarray) -> float:
    """Loudest against quietest frames in dB, an estimate of the speech-to-noise ratio (the endpointer's
    pre-roll and end wait give the quiet frames). On the benchmark's utterances with pink noise mixed in
    at 20, 10 and 5 dB it measures 23.5-26.9, 13.5-16.9 and 9.3-12.3 dB; clean ones 79-85 dB. inf when
    there is no quiet to measure (digital silence, under 25 ms of audio)."""
    levels = quiet_and_loud(samples)
    return range_db(*levels) if levels else float("inf")


def range_db(quiet: float, loud: float) -> float:
    """loudness_range_db from quiet_and_loud's two levels (inf when the quiet frames are digital silence)."""
    return 20 * np.log10(loud / quiet) if quiet > 0 else float("inf")


def with_noise_floor(samples: np.ndarray, floor_db: float,
                     levels: tuple[float, float] | None = None) -> np.ndarray:
    """samples + Gaussian noise so that the quietest frames sit at least `floor_db` below the loudest
    ones (see quiet_and_loud; `levels`: its result, when the caller has it already). Recordings that
    already have that much background noise are left as they are. Seeded by the length, so a recording
    always decodes the same."""
    if floor_db <= 0:
        return samples
    levels = levels or quiet_and_loud(samples)
    if levels is None:  # under one frame
        return samples
    quiet, loud = levels
    target = loud * 10 ** (-floor_db / 20)
    if quiet >= target:
        return samples
    noise = pink_noise(len(samples), np.random.default_rng(len(samples))) * np.sqrt(target ** 2 - quiet ** 2)
    return np.clip(samples.astype(np.float64) + noise, -1.0, 1.0).astype(np.float32)


def dithered(pcm: bytes) -> bytes:
    """16-bit PCM plus +-1 LSB of noise, seeded by the length: no exact digital silence reaches the decoder.

    pocketsphinx's own dither draws from one random generator per process, reseeded whenever a decoder
    is made, so each decoder's result depended on how many decoders shared its process and in which
    order they decoded: `safu listen` acted on a different hypothesis with 1 process than with 2. Here
    every decoder gets the same input, whatever the process layout."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    x += np.random.default_rng(len(x)).integers(-1, 2, size=len(x))
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


_warps_made = itertools.count()


def _warp_options(warp: float) -> dict:
    """Decoder options for a vocal-tract-length warp of the frequency axis (1.0: unwarped).

    PocketSphinx keeps the warp in process-wide variables and skips parsing `warp_params` when the string
    equals the previous decoder's, even if a decoder without a warp reset them to "no warp" in between:
    making warps (1.0, 1.1) and then (1.0, 1.1, 1.2) in one process left the second 1.1 decoder unwarped.
    So every decoder gets explicit parameters, 1.0 included, written with 3 or 4 decimals in turn so that
    no two decoders made one after the other pass the same string."""
    decimals = 3 + next(_warps_made) % 2
    return {"warp_type": "inverse_linear", "warp_params": f"{warp:.{decimals}f}"}


def pronunciation_dictionary(dict_path: str, accents: bool, pronunciations: str | None) -> dict[str, list[str]]:
    """CMUdict (dict_path), plus the shipped British forms if `accents`, plus the user's file if given."""
    dictionary = read_dictionary(dict_path)
    phones = {p for lines in dictionary.values() for line in lines for p in line.split()[1:]}
    if accents:
        shipped = parse_pronunciations(extra_pronunciations(), "accent_pronunciations.txt", phones)
        dictionary = with_pronunciations(dictionary, shipped)
    if pronunciations:
        try:
            with open(pronunciations, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise RecognizerError(f"cannot read the pronunciation file {pronunciations}: {exc.strerror}") from None
        dictionary = with_pronunciations(dictionary, parse_pronunciations(text, pronunciations, phones))
    return dictionary


def warps_for_pitch(warps: tuple[float, ...], pitch_hz: float) -> list[int]:
    """Indices of the warps to decode for a voice of this pitch: the WARPS_PER_PITCH lowest below
    PITCH_SPLIT_HZ, the highest above it, all of them when no pitch was found (0) or there are few."""
    if pitch_hz <= 0 or len(warps) <= WARPS_PER_PITCH:
        return list(range(len(warps)))
    by_warp = sorted(range(len(warps)), key=lambda k: warps[k])
    chosen = by_warp[:WARPS_PER_PITCH] if pitch_hz < PITCH_SPLIT_HZ else by_warp[-WARPS_PER_PITCH:]
    return sorted(chosen)


class PocketSphinxRecognizer:
    name = "pocketsphinx"

    def __init__(self, sentences: list[str] | None, garbage_mass: float = GARBAGE_MASS, order: int = 3,
                 language_weight: float = LANGUAGE_WEIGHT, word_penalty: float = WORD_PENALTY,
                 discount: float = 0.5, values: dict[str, list[str]] | None = None,
                 noise_floor_db: float = NOISE_FLOOR_DB, warps: tuple[float, ...] | None = None,
                 garbage: list[str] | None = None, decoder_options: dict | None = None,
                 nbest_margin: float = NBEST_MARGIN, processes: int | None = None,
                 labels: list[str | None] | None = None, warps_by_pitch: bool = True,
                 accents: bool = True, pronunciations: str | None = None,
                 max_unseen_trigrams: int | None = MAX_UNSEEN_TRIGRAMS, noisy_below_db: float = NOISY_BELOW_DB,
                 min_agreeing: int = MIN_AGREEING, trim_final_word: bool = TRIM_FINAL_WORD):
        """labels: each sentence's intent (command_vocabulary.sentence_labels), to give every intent the
        same weight in the language model; garbage: out-of-vocabulary words (default: the shipped list, see command_vocabulary);
        decoder_options: extra PocketSphinx settings (e.g. {"beam": 1e-60}), for experiments;
        nbest_margin: score margin of the runners-up (0: the best hypothesis alone);
        processes: worker processes the warp decoders are spread over (default: one per CPU core, at
        most one per warp; 1: decode in this process). See decoder_pool. warps_by_pitch: decode only the
        WARPS_PER_PITCH warps that suit the voice's pitch (False: every warp, every utterance). accents:
        add British-English pronunciations (accent_pronunciations.txt and non-rhotic "-er" endings; on by
        default, see above);
        pronunciations: a file of the user's own, "word PHONE PHONE ..." lines in CMUdict's phone set
        (new words, names, accents), read in restricted mode. max_unseen_trigrams: how many word
        triples of a transcript may be missing from every command (None: no trigram check);
        noisy_below_db: below this loudness range (loudness_range_db) an utterance counts as noisy and,
        with the trigram check on, none may be missing (0: never). min_agreeing: how many warps must each
        have heard the command acted on (the voice loop checks it, see MIN_AGREEING; 1: no check; at most
        the number of warps). trim_final_word: a rejected hypothesis may also be tried without its last
        word (see _trimmed)."""
        if processes is not None and processes < 1:
            raise ValueError(f"decoder processes must be at least 1, got {processes}")
        ps = _import_pocketsphinx()
        options = dict(decoder_options or {})
        self.nbest_margin = nbest_margin
        self.noise_floor_db = noise_floor_db
        self.restricted = sentences is not None
        # Open-vocabulary decoding is ten times slower, so by default it decodes once.
        self.warps = tuple(warps or (WARPS if self.restricted else (1.0,)))
        self.warps_by_pitch = warps_by_pitch
        model_dir = os.path.join(ps.get_model_path(), "en-us")
        hmm = os.path.join(model_dir, "en-us")
        dict_path = os.path.join(model_dir, "cmudict-en-us.dict")
        self.garbage: set[str] = set()
        self.vocabulary: CommandVocabulary | None = None
        self.bigrams: set[tuple[str, ...]] = set()
        self.trigrams: set[tuple[str, ...]] = set()
        self.max_unseen_trigrams = max_unseen_trigrams
        self.noisy_below_db = noisy_below_db
        self.trim_final_word = trim_final_word
        if min_agreeing < 1:
            raise ValueError(f"min_agreeing must be at least 1, got {min_agreeing}")
        self.min_agreeing = min(min_agreeing, len(self.warps))  # one warp: nothing to compare
        self._last_utterance = None  # (pcm, {warp: hypotheses}, loudness range), for widen
        if not self.restricted:
            settings = dict(hmm=hmm, dict=dict_path, lm=os.path.join(model_dir, "en-us.lm.bin"), dither=False,
                            loglevel="FATAL")
            self._start(ps, settings, options, processes)
            return
        dictionary = pronunciation_dictionary(dict_path, accents, pronunciations)
        variants = (lambda lines: with_non_rhotic_endings(with_merged_vowels(lines))) if accents else with_merged_vowels
        self.vocabulary = CommandVocabulary.from_sentences(sentences, known_word=lambda w: w in dictionary,
                                                          values=values, labels=labels)
        candidates = garbage_words() if garbage is None else garbage
        command_words = set(self.vocabulary.words)
        self.garbage = {w for w in candidates if w in dictionary and w not in command_words}
        self.bigrams = {pair for phrase in self.vocabulary.phrases for pair in word_ngrams(phrase, 2)}
        self.trigrams = {triple for phrase in self.vocabulary.phrases for triple in word_ngrams(phrase, 3)}
        self.entity_classes = EntityClasses(spoken_values(values))
        self.class_trigrams = set()
        if self.entity_classes:
            self.class_trigrams = {triple for phrase in self.vocabulary.phrases
                                   for triple in word_ngrams(self.entity_classes(phrase), 3)}
        lm_text = arpa_lm(self.vocabulary.phrases, order=order, extra_words=sorted(self.garbage),
                          extra_mass=garbage_mass if self.garbage else 0.0, discount=discount,
                          counts=self.vocabulary.counts)
        with tempfile.TemporaryDirectory(prefix="safu-asr-") as tmp:
            lm_path, small_dict = os.path.join(tmp, "commands.lm"), os.path.join(tmp, "commands.dict")
            with open(lm_path, "w", encoding="utf-8") as f:
                f.write(lm_text)
            with open(small_dict, "w", encoding="utf-8") as f:
                for word in sorted(command_words | self.garbage):
                    f.write("\n".join(variants(dictionary[word])) + "\n")
            settings = dict(hmm=hmm, dict=small_dict, lm=lm_path, lw=language_weight, wip=word_penalty,
                            dither=False, loglevel="FATAL")
            self._start(ps, settings, options, processes)  # the pool's workers read the files now

    def _start(self, ps, settings: dict, options: dict, processes: int | None) -> None:
        """One decoder per warp (user `options` override `settings`): here, or in a DecoderPool."""
        per_warp = [{**settings, **_warp_options(w), **options} for w in self.warps]
        named = tuple(sorted(options))
        if processes is None:
            processes = os.cpu_count() or 1
        self._decoders, self._pool = [], None
        if processes > 1 and len(per_warp) > 1:
            self._pool = DecoderPool(per_warp, processes, named=named)
        else:
            self._decoders = [build_decoder(ps, s, named) for s in per_warp]

    @property
    def processes(self) -> int:
        """Processes decoding side by side (1: this one)."""
        return self._pool.processes if self._pool else 1

    def close(self) -> None:
        """Stops the decoder processes, if any (also done when the recogniser is garbage-collected)."""
        if self._pool:
            self._pool.close()

    def recognize(self, samples: np.ndarray) -> Transcript:
        t0 = time.perf_counter()
        # The frame levels serve twice: the noise floor, and the loudness range of the word checks.
        levels = quiet_and_loud(samples)
        utterance_range_db = range_db(*levels) if levels else float("inf")
        pcm = dithered(float_to_pcm16(with_noise_floor(samples, self.noise_floor_db, levels)))
        which = range(len(self.warps))
        if self.warps_by_pitch and len(self.warps) > WARPS_PER_PITCH:  # else the pitch changes nothing
            which = warps_for_pitch(self.warps, median_pitch(samples))
        by_decoder = self._decode(pcm, which)
        self._last_utterance = (pcm, by_decoder, utterance_range_db)
        best = self._ranked(by_decoder, utterance_range_db)
        best.decode_s = time.perf_counter() - t0
        return best

    def widen(self) -> Transcript | None:
        """The last utterance heard by every warp: the ones its pitch chose and the others, ranked afresh
        (decode_s: the time the others took). None when every warp had heard it. The voice loop asks for
        this when the chosen warps gave no command that enough of them agree on (VoiceLoop.handle)."""
        if self._last_utterance is None:
            return None
        t0 = time.perf_counter()
        pcm, by_decoder, utterance_range_db = self._last_utterance
        rest = [k for k in range(len(self.warps)) if k not in by_decoder]
        if not rest:
            return None
        by_decoder = {**by_decoder, **self._decode(pcm, rest)}
        self._last_utterance = (pcm, by_decoder, utterance_range_db)
        best = self._ranked(by_decoder, utterance_range_db)
        best.decode_s = time.perf_counter() - t0
        return best

    def _ranked(self, by_decoder: dict[int, list[tuple[str, float]]], utterance_range_db: float) -> Transcript:
        """The best hypothesis over all these decoders, with the runners-up within the margin as its
        alternatives and every decoder's own hypotheses as its opinions."""
        scored: dict[str, float] = {}  # words -> best score over the warps
        for hypotheses in by_decoder.values():
            for words, score in hypotheses:
                if score > scored.get(words, -np.inf):
                    scored[words] = score
        ranked = sorted(scored.items(), key=lambda kv: -kv[1]) or [("", 0.0)]
        top = ranked[0][1]
        heard = [self._transcript(words, utterance_range_db) for words, score in ranked
                 if top - score <= self.nbest_margin]
        best = heard[0]
        best.alternatives = heard[1:] + self._trimmed(heard, utterance_range_db)
        if len(self.warps) > 1:
            opinions = []
            for _, hyps in sorted(by_decoder.items()):  # each warp's own, deduplicated
                own = [self._transcript(words, utterance_range_db) for words in dict.fromkeys(w for w, _ in hyps)]
                opinions.append(own + self._trimmed(own, utterance_range_db))
            best.opinions = opinions
        return best

    def _trimmed(self, hypotheses: list[Transcript], utterance_range_db: float) -> list[Transcript]:
        """With trim_final_word: each rejected hypothesis without its last word, where that passes the word
        checks and the last word could not go on from the one before it in any command (noise after the
        speech decoded as a word: "... with milk can"; not "... iced coffee with", whose "with" says that
        more was said); tried after every hypothesis as heard. Empty otherwise."""
        if not self.trim_final_word:
            return []
        seen = {t.words for t in hypotheses}
        out = []
        for t in hypotheses:
            tokens = t.words.split()
            if t.accepted or len(tokens) < 2 or (tokens[-2], tokens[-1]) in self.bigrams:
                continue
            shorter = " ".join(tokens[:-1])
            if shorter in seen:
                continue
            seen.add(shorter)
            candidate = self._transcript(shorter, utterance_range_db)
            if candidate.accepted:
                candidate.reason = f"last word left out ({tokens[-1]})"
                out.append(candidate)
        return out

    def _decode(self, pcm: bytes, which) -> dict[int, list[tuple[str, float]]]:
        """{warp index: its hypotheses} for the warps `which`, in the pool or here."""
        if self._pool:
            return self._pool.decode(pcm, which)
        return {k: decode(self._decoders[k], pcm) for k in which}

    def _transcript(self, words: str, utterance_range_db: float = float("inf")) -> Transcript:
        """words -> Transcript, accepted or not by the word checks; utterance_range_db: the utterance's
        loudness range (loudness_range_db); below noisy_below_db no word triple may be missing from the
        commands."""
        accepted, reason = judge(words, self.garbage)
        if accepted and self.restricted:
            tokens = words.split()
            doubled = [a for a, b in zip(tokens, tokens[1:]) if a == b]
            unseen = [pair for pair in word_ngrams(words, 2) if pair not in self.bigrams]
            if unseen:  # a word sequence no command contains: speech forced onto command words
                accepted, reason = False, "word sequence in no command (" + " ".join(unseen[0]).strip() + ")"
            elif doubled:  # "whats the the date": a template leftover the language model learnt, not a command
                accepted, reason = False, f"a word twice in a row ({doubled[0]} {doubled[0]})"
            elif self.max_unseen_trigrams is not None:
                noisy = utterance_range_db < self.noisy_below_db
                allowed = 0 if noisy else self.max_unseen_trigrams
                unseen = [triple for triple in word_ngrams(words, 3) if triple not in self.trigrams]
                if len(unseen) > allowed and self.entity_classes:  # a name in a carrier it never stood in?
                    classed = word_ngrams(self.entity_classes(words), 3)
                    if sum(triple not in self.class_trigrams for triple in classed) <= allowed:
                        unseen = []
                if len(unseen) > allowed:
                    shown = ", ".join(" ".join(triple).strip() for triple in unseen)
                    plural = "s" if len(unseen) > 1 else ""
                    accepted, reason = False, f"{len(unseen)} word sequence{plural} in no command ({shown})"
                    if noisy:
                        reason += f", none allowed in noisy speech ({utterance_range_db:.0f} dB loudness range)"
        measured = None if utterance_range_db == float("inf") else round(float(utterance_range_db), 1)
        return Transcript(text=words_to_digits(words), words=words, accepted=accepted, reason=reason, decode_s=0.0,
                          loudness_range_db=measured)
