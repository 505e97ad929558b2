"""Spoken numbers, the command vocabulary and the ARPA language model for the restricted recogniser."""
import math
import re

import pytest

from safu.device.arpa import arpa_lm
from safu.device.command_vocabulary import CommandVocabulary, garbage_words, spoken_form, with_slot_variants
from safu.device.recognizer import judge
from safu.device.spoken_numbers import number_to_words, words_to_digits


@pytest.mark.parametrize("digits, words", [
    ("0", "zero"), ("7", "seven"), ("13", "thirteen"), ("40", "forty"), ("21", "twenty one"),
    ("100", "one hundred"), ("215", "two hundred fifteen"), ("1000", "one thousand"),
    ("2024", "two thousand twenty four"), ("21.5", "twenty one point five")])
def test_numbers_round_trip(digits, words):
    assert number_to_words(digits) == words
    assert words_to_digits(f"set it to {words} now") == f"set it to {digits} now"


def test_words_to_digits_leaves_non_numbers_alone():
    assert words_to_digits("the point of one two") == "the point of one two"
    assert words_to_digits("turn on the light") == "turn on the light"


def test_spoken_form_tokenises_like_the_model_and_spells_numbers():
    assert spoken_form("Set the Kitchen light to 50%!") == ["set", "the", "kitchen", "light", "to", "fifty"]
    assert spoken_form("don't stop") == ["don't", "stop"]


def test_vocabulary_skips_unpronounceable_sentences_and_reports_them():
    vocab = CommandVocabulary.from_sentences(["turn on the light", "turn on the zorbulator"],
                                             known_word=lambda w: w != "zorbulator")
    assert vocab.phrases == ["turn on the light"]
    assert vocab.skipped == [("turn on the zorbulator", ["zorbulator"])]
    with pytest.raises(ValueError, match="no usable sentences"):
        CommandVocabulary.from_sentences(["zorbulator"], known_word=lambda w: False)


def test_slot_variants_put_every_shape_with_other_names():
    out = with_slot_variants(["turn on the kitchen light", "switch off the fan"],
                             {"name": ["kitchen light", "fan", "porch light"]}, per_carrier=20)
    assert "turn on the porch light" in out and "switch off the kitchen light" in out


def test_garbage_words_exclude_command_words():
    words = garbage_words()
    assert len(words) >= 300 and "weather" in words
    assert "the" not in garbage_words(exclude=["the"])


def test_judge_rejects_garbage_and_silence():
    assert judge("turn on the light", {"weather"}) == (True, None)
    ok, reason = judge("what weather", {"weather"})
    assert not ok and "out-of-vocabulary" in reason and "weather" in reason
    assert judge("", set()) == (False, "no words recognised")


def parse_arpa(text):
    """-> {n: {gram: (log10 p, log10 bow)}}"""
    grams, n = {}, None
    for line in text.splitlines():
        m = re.match(r"\\(\d)-grams:", line)
        if m:
            n = int(m.group(1))
            grams[n] = {}
        elif n and line and not line.startswith("\\"):
            parts = line.split("\t")
            grams[n][tuple(parts[1].split())] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
    return grams


def test_arpa_probabilities_sum_to_one_for_every_history():
    sentences = ["turn on the light", "turn off the light", "turn on the fan", "set the light to fifty"]
    g = parse_arpa(arpa_lm(sentences, order=3, extra_words=["weather", "music"], extra_mass=0.1))
    vocab = [w for (w,) in g[1] if w != "<s>"]

    def p(words):
        if len(words) == 1:
            return 10 ** g[1][words][0]
        if words in g[len(words)]:
            return 10 ** g[len(words)][words][0]
        bow = g[len(words) - 1].get(words[:-1], (0, 0.0))[1]
        return 10 ** bow * p(words[1:])

    for history in [(), ("turn",), ("<s>", "turn"), ("the", "light"), ("weather",)]:
        total = sum(p(history + (w,)) for w in vocab)
        assert math.isclose(total, 1.0, rel_tol=1e-4), (history, total)
    assert math.isclose(sum(10 ** g[1][(w,)][0] for w in ["weather", "music"]), 0.1, rel_tol=1e-4)


def test_arpa_rejects_bad_arguments():
    with pytest.raises(ValueError, match="no sentences"):
        arpa_lm([])
    with pytest.raises(ValueError, match="extra_mass"):
        arpa_lm(["a"], extra_mass=1.5)


def test_arpa_counts_a_sentence_as_often_as_told():
    sentences = ["turn on the light", "what time is it", "turn off the light"]
    repeated = sentences + ["what time is it"] * 2
    assert arpa_lm(sentences, counts=[1, 3, 1]) == arpa_lm(repeated)
    assert arpa_lm(sentences, counts=[1, 3, 1]) != arpa_lm(sentences)
    for bad in ([1, 1], [1, 0, 1], [1, 1.5, 1]):
        with pytest.raises(ValueError, match="counts"):
            arpa_lm(sentences, counts=bad)


def test_labelled_sentences_give_every_intent_about_the_same_weight():
    """An intent with few phrases ("what time is it") is counted more often, so the language model does
    not find it unlikely next to an intent whose templates expand to many phrases."""
    shopping = [f"delete {item} from the list" for item in ("milk", "eggs", "bread", "apples", "rice", "tea")]
    timer = ["set a timer", "start a timer", "set the timer", "start the timer"]
    media = ["pause", "pause the music", "next song", "skip this song"]
    time = ["what time is it", "tell me the time"]
    sentences = shopping + timer + media + time
    labels = ["list"] * 6 + ["timer"] * 4 + ["media"] * 4 + ["time"] * 2
    vocab = CommandVocabulary.from_sentences(sentences, labels=labels)
    counts = dict(zip(vocab.phrases, vocab.counts))
    # Group sizes 2, 4, 4, 6: the median is 4, so each "time" phrase counts 4 / 2 times; bigger groups once.
    assert counts["what time is it"] == 2 and counts["tell me the time"] == 2
    assert counts["set a timer"] == 1 and counts["delete milk from the list"] == 1
    assert CommandVocabulary.from_sentences(sentences).counts is None  # no labels: once each
    with pytest.raises(ValueError, match="labels"):
        CommandVocabulary.from_sentences(sentences, labels=labels[:-1])


def test_a_phrase_of_two_intents_adds_their_counts():
    vocab = CommandVocabulary.from_sentences(["stop", "stop", "pause the music", "pause", "a", "b", "c"],
                                             labels=["x", "y", "y", "y", "z", "z", "z"])
    counts = dict(zip(vocab.phrases, vocab.counts))  # sizes x 1, y 3, z 3: median 3
    assert counts["stop"] == 3 + 1 and counts["pause"] == 1
