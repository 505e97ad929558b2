"""device/asr_pocketsphinx.py: offline recognition with PocketSphinx (the wheel carries an English model).

    rec = PocketSphinxRecognizer(model.sentences)   # restricted: n-gram LM over the commands + garbage words
    rec = PocketSphinxRecognizer(None)              # open vocabulary: the wheel's general English LM
    rec = PocketSphinxRecognizer(model.sentences, config=PocketSphinxConfig(warps=(1.0,), processes=1))
    rec.recognize(samples).text

Restricted mode writes a trigram ARPA model (device/arpa.py) of the command sentences in spoken form,
every intent weighing about the same (command_vocabulary.intent_counts), adds the garbage words as
low-probability unigrams (GARBAGE_MASS) and loads a pronunciation dictionary cut down to those words
(device/pronunciations.py). Each utterance is conditioned (device/audio_conditioning.py) and decoded
with several vocal-tract warps, one decoder each, chosen by the speaking pitch (device/warps.py); the
decoders run in worker processes (device/decoder_pool.py), because pocketsphinx holds the GIL while it
decodes. `widen()` decodes with the other warps too, for the voice loop's second look. Every warp's
best path and its N-best runners-up within NBEST_MARGIN are ranked by score, and each is judged by the
word checks (device/transcript_checks.py). Each warp's best path carries its words' lattice posteriors
(decoder_pool.word_posteriors). The voice loop (pipeline.VoiceLoop.confirm) acts only on a command that
`min_agreeing` warps hear and, when the utterance's loudness range is below `slot_posterior_below_db`
(noisy speech), whose slot words have a posterior of at least `min_slot_posterior` in every warp whose
best path it is; a command fewer warps hear with the word checks passed is acted on when more than half
of all the warps hear it in any of their hypotheses (`decoders`: how many warps there are). docs/voice.md
explains each step and has the figures (`python bench/bench_voice.py`).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from safu.device.arpa import arpa_lm
from safu.device.audio import float_to_pcm16
from safu.device.audio_conditioning import NOISE_FLOOR_DB, dithered, quiet_and_loud, range_db, with_noise_floor
from safu.device.command_vocabulary import CommandVocabulary, garbage_words
from safu.device.decoder_pool import DecoderPool, build_decoder, decode
from safu.device.pitch import median_pitch
from safu.device.pronunciations import accent_variants, pronunciation_dictionary
from safu.device.recognizer import RecognizerError, Transcript
from safu.device.transcript_checks import MAX_UNSEEN_TRIGRAMS, NOISY_BELOW_DB, TRIM_FINAL_WORD, TranscriptChecks
from safu.device.warps import WARPS, WARPS_PER_PITCH, warp_options, warps_for_pitch

GARBAGE_MASS = 0.05  # unigram probability shared by the garbage words (bench/bench_voice.py measures it)
LANGUAGE_WEIGHT = 6.5  # pocketsphinx -lw: how much the command LM counts against the acoustics
WORD_PENALTY = 0.65   # pocketsphinx -wip: below 1 discourages inserted short words ("the the")
NBEST_MARGIN = 150    # runners-up kept within this path score (log base 1.0001) of the best, see above
MIN_AGREEING = 2  # warps whose hypotheses must hold the command acted on (pipeline.VoiceLoop.confirm)
MIN_SLOT_POSTERIOR = 0.22  # in noisy speech, each slot word's lattice posterior in every warp hearing the command
SLOT_POSTERIOR_BELOW_DB = 28.0  # loudness range below which MIN_SLOT_POSTERIOR applies (pipeline.VoiceLoop.confirm)


@dataclass(frozen=True)
class PocketSphinxConfig:
    """How PocketSphinxRecognizer builds its language model and decoders and judges what they hear.
    The defaults are what `safu listen` uses; bench/bench_voice.py measures the alternatives."""
    # Language model (restricted mode)
    order: int = 3  # n-gram order of the command language model
    discount: float = 0.5  # absolute discount of its n-gram counts (device/arpa.py)
    garbage_mass: float = GARBAGE_MASS  # unigram probability shared by the garbage words
    garbage: tuple[str, ...] | None = None  # out-of-vocabulary words (None: the shipped list, command_vocabulary)
    balanced_lm: bool = True  # every intent weighs the same in the LM when sentence labels are given
    accents: bool = True  # British-English forms too (accent_pronunciations.txt, non-rhotic "-er" endings)
    pronunciations: str | None = None  # a file of the user's own "word PHONE PHONE ..." lines (CMUdict phones)
    # Decoders
    language_weight: float = LANGUAGE_WEIGHT  # pocketsphinx -lw (restricted mode)
    word_penalty: float = WORD_PENALTY  # pocketsphinx -wip (restricted mode)
    decoder_options: dict = field(default_factory=dict)  # extra PocketSphinx settings ({"beam": 1e-60}), for experiments
    warps: tuple[float, ...] | None = None  # vocal-tract warps (None: WARPS restricted, (1.0,) open: ten times slower)
    warps_by_pitch: bool = True  # decode the WARPS_PER_PITCH warps that suit the voice first (False: every warp)
    processes: int | None = None  # worker processes of the warp decoders (None: one per CPU core; 1: this process)
    noise_floor_db: float = NOISE_FLOOR_DB  # noise mixed in below the loudest frames (audio_conditioning)
    # Ranking and word checks
    nbest_margin: float = NBEST_MARGIN  # score margin of the runners-up (0: the best hypothesis alone)
    max_unseen_trigrams: int | None = MAX_UNSEEN_TRIGRAMS  # word triples missing from every command (None: no check)
    noisy_below_db: float = NOISY_BELOW_DB  # below this loudness range none may be missing (0: never noisy)
    trim_final_word: bool = TRIM_FINAL_WORD  # also try a rejected hypothesis without its last word
    min_agreeing: int = MIN_AGREEING  # warps that must each hear the command acted on (1: no check)
    min_slot_posterior: float = MIN_SLOT_POSTERIOR  # slot-word posterior needed in noisy speech (0: no check)
    slot_posterior_below_db: float = SLOT_POSTERIOR_BELOW_DB  # loudness range that counts as noisy for it

    def __post_init__(self):
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"decoder processes must be at least 1, got {self.processes}")
        if self.min_agreeing < 1:
            raise ValueError(f"min_agreeing must be at least 1, got {self.min_agreeing}")
        if not 0.0 <= self.min_slot_posterior < 1.0:
            raise ValueError(f"min_slot_posterior must be in [0, 1), got {self.min_slot_posterior}")


def _import_pocketsphinx():
    try:
        import pocketsphinx
    except ImportError:
        raise RecognizerError("the default recogniser needs the 'pocketsphinx' package: pip install pocketsphinx") from None
    return pocketsphinx


class PocketSphinxRecognizer:
    name = "pocketsphinx"

    def __init__(self, sentences: list[str] | None, values: dict[str, list[str]] | None = None,
                 labels: list[str | None] | None = None, config: PocketSphinxConfig | None = None):
        """sentences: the intent model's training sentences (None: open vocabulary); values: {slot:
        surfaces} (command_vocabulary.slot_values), so that names appear in every sentence shape; labels:
        each sentence's intent (command_vocabulary.sentence_labels), to give every intent the same weight
        in the language model (with config.balanced_lm). Raises RecognizerError or ValueError."""
        self.config = config = config or PocketSphinxConfig()
        ps = _import_pocketsphinx()
        self.restricted = sentences is not None
        self.warps = tuple(config.warps or (WARPS if self.restricted else (1.0,)))
        self.min_agreeing = min(config.min_agreeing, len(self.warps))  # one warp: nothing to compare
        self.min_slot_posterior = config.min_slot_posterior  # read by pipeline.VoiceLoop.confirm
        self.slot_posterior_below_db = config.slot_posterior_below_db
        self._last_utterance = None  # (pcm, {warp: hypotheses}, loudness range), for widen
        model_dir = os.path.join(ps.get_model_path(), "en-us")
        hmm = os.path.join(model_dir, "en-us")
        dict_path = os.path.join(model_dir, "cmudict-en-us.dict")
        self.vocabulary: CommandVocabulary | None = None
        if not self.restricted:
            self.checks = TranscriptChecks(None, set())
            settings = dict(hmm=hmm, dict=dict_path, lm=os.path.join(model_dir, "en-us.lm.bin"), dither=False,
                            loglevel="FATAL")
            self._start(ps, settings)
            return
        dictionary = pronunciation_dictionary(dict_path, config.accents, config.pronunciations)
        self.vocabulary = CommandVocabulary.from_sentences(
            sentences, known_word=lambda w: w in dictionary, values=values,
            labels=labels if config.balanced_lm else None)
        candidates = garbage_words() if config.garbage is None else config.garbage
        command_words = set(self.vocabulary.words)
        garbage = {w for w in candidates if w in dictionary and w not in command_words}
        self.checks = TranscriptChecks(self.vocabulary.phrases, garbage, values, config.max_unseen_trigrams,
                                       config.noisy_below_db, config.trim_final_word)
        lm_text = arpa_lm(self.vocabulary.phrases, order=config.order, extra_words=sorted(garbage),
                          extra_mass=config.garbage_mass if garbage else 0.0, discount=config.discount,
                          counts=self.vocabulary.counts)
        variants = accent_variants(config.accents)
        with tempfile.TemporaryDirectory(prefix="safu-asr-") as tmp:
            lm_path, small_dict = os.path.join(tmp, "commands.lm"), os.path.join(tmp, "commands.dict")
            with open(lm_path, "w", encoding="utf-8") as f:
                f.write(lm_text)
            with open(small_dict, "w", encoding="utf-8") as f:
                for word in sorted(command_words | garbage):
                    f.write("\n".join(variants(dictionary[word])) + "\n")
            settings = dict(hmm=hmm, dict=small_dict, lm=lm_path, lw=config.language_weight,
                            wip=config.word_penalty, dither=False, loglevel="FATAL")
            self._start(ps, settings)  # the pool's workers read the files now

    def _start(self, ps, settings: dict) -> None:
        """One decoder per warp (the config's decoder_options override `settings`): here, or in a DecoderPool."""
        options = self.config.decoder_options
        per_warp = [{**settings, **warp_options(w), **options} for w in self.warps]
        named = tuple(sorted(options))
        processes = self.config.processes or os.cpu_count() or 1
        self._decoders, self._pool = [], None
        if processes > 1 and len(per_warp) > 1:
            self._pool = DecoderPool(per_warp, processes, named=named)
        else:
            self._decoders = [build_decoder(ps, s, named) for s in per_warp]

    @property
    def decoders(self) -> int:
        """Decoders it has, one per warp (the voice loop's majority, pipeline.VoiceLoop.majority_needed)."""
        return len(self.warps)

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
        pcm = dithered(float_to_pcm16(with_noise_floor(samples, self.config.noise_floor_db, levels)))
        which = range(len(self.warps))
        if self.config.warps_by_pitch and len(self.warps) > WARPS_PER_PITCH:  # else the pitch changes nothing
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
            for words, score, *_ in hypotheses:
                if score > scored.get(words, -np.inf):
                    scored[words] = score
        ranked = sorted(scored.items(), key=lambda kv: -kv[1]) or [("", 0.0)]
        top = ranked[0][1]
        checks = self.checks
        heard = [checks.transcript(words, utterance_range_db) for words, score in ranked
                 if top - score <= self.config.nbest_margin]
        best = heard[0]
        best.alternatives = heard[1:] + checks.trimmed(heard, utterance_range_db)
        if len(self.warps) > 1:
            opinions = []
            for _, hyps in sorted(by_decoder.items()):  # each warp's own, deduplicated, best path first
                own = [checks.transcript(words, utterance_range_db) for words in dict.fromkeys(h[0] for h in hyps)]
                if own and len(hyps[0]) > 2:
                    own[0].word_posteriors = hyps[0][2]
                opinions.append(own + checks.trimmed(own, utterance_range_db))
            best.opinions = opinions
        return best

    def _decode(self, pcm: bytes, which) -> dict[int, list[tuple[str, float]]]:
        """{warp index: its hypotheses} for the warps `which`, in the pool or here."""
        if self._pool:
            return self._pool.decode(pcm, which)
        return {k: decode(self._decoders[k], pcm) for k in which}
