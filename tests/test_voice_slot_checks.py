"""The voice loop's checks on a command's slot values (pipeline.VoiceLoop.unread_value, slot_words_doubt)
and the word posteriors PocketSphinx's decoders give them (decoder_pool.word_posteriors)."""
from __future__ import annotations

import math

import pytest

from device_support import REPO, speak


@pytest.fixture(scope="module")
def coffee(tmp_path_factory):
    """A model trained from the Rhino coffee fixture (slot values stored: size, drink)."""
    from safu.runtime.api import load, train

    path = tmp_path_factory.mktemp("coffee") / "coffee.safu"
    train(str(REPO / "tests" / "fixtures" / "data" / "rhino" / "coffee.yaml"), output=str(path))
    return load(str(path))


@pytest.fixture(scope="module")
def sphinx(coffee):
    from safu.device.asr_pocketsphinx import PocketSphinxConfig, PocketSphinxRecognizer
    from safu.device.command_vocabulary import sentence_labels, slot_values

    pytest.importorskip("pocketsphinx")
    rec = PocketSphinxRecognizer(coffee.sentences, values=slot_values(coffee),
                                 labels=sentence_labels(coffee, coffee.sentences),
                                 config=PocketSphinxConfig(warps=(1.0, 1.1), processes=1))
    yield rec
    rec.close()


def hyp(words, posteriors=None, ok=True):
    from safu.device.recognizer import Transcript
    from safu.device.spoken_numbers import words_to_digits

    return Transcript(text=words_to_digits(words), words=words, accepted=ok, reason=None if ok else "no command",
                      decode_s=0.0, word_posteriors=posteriors)


def test_a_slot_value_the_model_did_not_read_stops_the_command(coffee, sphinx):
    """A transcript holding a known slot value outside every span the model tagged is not acted on: the
    command would leave out something that was said. Training sentences never trip it."""
    from safu.device.pipeline import VoiceLoop

    loop = VoiceLoop(coffee, sphinx)
    assert loop.unread_value(coffee.predict("give me a large latte please")) is None
    assert not [s for s in coffee.sentences if (p := coffee.predict(s)).intent and loop.unread_value(p)]
    twice = coffee.predict("give me a large latte latte")
    assert twice.intent == "orderDrink" and sum(s.name == "drink" for s in twice.spans) == 1
    assert loop.unread_value(twice) == "'latte' (drink) heard outside the command the model read"
    heard = hyp("give me a large latte latte")
    heard.opinions = [[heard], [heard]]
    heard.loudness_range_db = 12.0  # noisy speech: the check applies
    assert loop.confirm(heard, twice) == (None, loop.unread_value(twice))
    # In clean speech a value left untagged is the tagger's miss, not a mishearing: the check is off.
    heard.loudness_range_db = 60.0
    assert loop.confirm(heard, twice)[1] is None
    # A model without stored slot values has nothing to check against.
    loop._values = {}
    assert loop.unread_value(twice) is None


def test_pocketsphinx_gives_each_best_path_word_a_posterior(coffee, sphinx, tmp_path):
    """Each warp's best path carries one natural-log lattice posterior per word (at most 0); a clean
    command's slot words are well above the noisy-speech floor. The decoder processes give the same."""
    from safu.device.asr_pocketsphinx import PocketSphinxConfig, PocketSphinxRecognizer
    from safu.device.audio import WavSource
    from safu.device.command_vocabulary import sentence_labels, slot_values
    from safu.device.pipeline import slot_word_mask

    samples = WavSource(speak("give me a large latte", tmp_path / "s.wav", "en-us", 150)).read(10 ** 7)
    heard = sphinx.recognize(samples)
    assert heard.text == "give me a large latte" and len(heard.opinions) == 2
    for own in heard.opinions:
        best = own[0]
        assert best.word_posteriors is not None and len(best.word_posteriors) == len(best.words.split())
        assert all(p <= 1e-9 for p in best.word_posteriors)
        assert all(o.word_posteriors is None for o in own[1:])  # runners-up have none
        prediction = coffee.predict(best.text)
        in_slot = [p for p, m in zip(best.word_posteriors, slot_word_mask(best.words, prediction)) if m]
        assert len(in_slot) == 2 and min(in_slot) > math.log(0.22)
    pooled = PocketSphinxRecognizer(coffee.sentences, values=slot_values(coffee),
                                    labels=sentence_labels(coffee, coffee.sentences),
                                    config=PocketSphinxConfig(warps=(1.0, 1.1), processes=2))
    try:
        again = pooled.recognize(samples)
    finally:
        pooled.close()
    assert [o[0].words for o in again.opinions] == [o[0].words for o in heard.opinions]
    for pooled_own, own in zip(again.opinions, heard.opinions):
        assert pooled_own[0].word_posteriors == pytest.approx(own[0].word_posteriors)


def test_slot_word_mask_follows_number_words(coffee):
    """Words map to the intent model's tokens, where a run of number words is one digit token."""
    from safu.device.pipeline import slot_word_mask

    prediction = coffee.predict("give me a large latte")
    assert slot_word_mask("give me a large latte", prediction) == [False, False, False, True, True]
    spans = coffee.predict("21 latte").spans
    assert [s.text for s in spans][-1] == "latte"
    assert slot_word_mask("twenty one latte", coffee.predict("21 latte"))[2] is True
    assert len(slot_word_mask("twenty one latte", coffee.predict("21 latte"))) == 3


def test_in_noisy_speech_every_slot_word_needs_a_confident_lattice(coffee, sphinx):
    """Below the recogniser's slot_posterior_below_db of loudness range, the decoders whose best path is
    the command must give each slot word at least min_slot_posterior, and one of them must have it as
    its best path; at a wide range (clean speech) the posteriors are not looked at."""
    from safu.device.pipeline import VoiceLoop

    loop = VoiceLoop(coffee, sphinx)
    words = "give me a large latte"
    prediction = coffee.predict(words)
    sure, unsure = [-0.1, -0.2, -2.0, -0.05, -0.1], [-0.1, -0.2, -0.3, -1.8, -0.1]  # "large" at 0.17

    def heard(range_db, *bests):
        best = hyp(words)
        best.loudness_range_db = range_db
        best.opinions = [[b] for b in bests]
        return best

    floor = sphinx.min_slot_posterior
    assert floor == pytest.approx(0.22) and sphinx.slot_posterior_below_db == 28.0
    # Confident in both decoders ("a" at 0.14 is no slot word): acted on, noisy or not.
    assert loop.confirm(heard(20.0, hyp(words, sure), hyp(words, sure)), prediction) == (2, None)
    # One decoder doubts "large": rejected in noise, and the reason says so ...
    agreeing, doubt = loop.confirm(heard(20.0, hyp(words, sure), hyp(words, unsure)), prediction)
    assert agreeing == 2 and doubt == ("a slot word has posterior 0.17, 0.22 needed in noisy speech "
                                       "(20 dB loudness range)")
    # ... but not in clean speech, nor with the check off.
    assert loop.confirm(heard(40.0, hyp(words, sure), hyp(words, unsure)), prediction) == (2, None)
    sphinx.min_slot_posterior = 0.0
    try:
        assert loop.confirm(heard(20.0, hyp(words, sure), hyp(words, unsure)), prediction) == (2, None)
    finally:
        sphinx.min_slot_posterior = floor
    # Both decoders have the command only as a runner-up: no best path to vouch for it in noise.
    other = "give me a small latte"
    best = hyp(words)
    best.loudness_range_db = 20.0
    best.opinions = [[hyp(other, sure), hyp(words)], [hyp(other, sure), hyp(words)]]
    assert loop.confirm(best, prediction) == (2, "no decoder's best path is this command (20 dB loudness range)")


def test_the_slot_posterior_floor_is_checked():
    from safu.device.asr_pocketsphinx import PocketSphinxConfig

    with pytest.raises(ValueError, match=r"min_slot_posterior must be in \[0, 1\), got 1.5"):
        PocketSphinxConfig(min_slot_posterior=1.5)


def test_a_command_without_a_slot_every_sentence_of_its_intent_has_is_refused(coffee):
    """Every orderDrink sentence of the fixture names a drink: "i want a large" (a cut-off or
    half-heard order) lacks it and is not acted on; no training sentence trips the check, and cancelOrder,
    whose sentences have no slot, requires none."""
    from safu.device.pipeline import VoiceLoop

    loop = VoiceLoop(coffee, None)
    assert loop.missing_slots(coffee.predict("give me a large latte please")) == []
    half = coffee.predict("i want a large")
    assert half.intent == "orderDrink" and "drink" not in half.slots
    assert loop.missing_slots(half) == ["drink"]
    assert not [s for s in coffee.sentences if (p := coffee.predict(s)).intent and loop.missing_slots(p)]
    assert loop.missing_slots(coffee.predict("cancel my order")) == []


def test_a_command_whose_closed_slot_holds_a_value_off_its_list_is_refused(coffee, tmp_path):
    """Every Rhino context slot is a closed list (metadata slot.closed): "i want a large a latte"
    read as drink "a" (as kitchen noise at 6 dB did to "with a lot of sugar": milkAmount "a") is no
    order to act on; a value the context spells, in any case, passes, no training sentence trips the
    check, and a model file without slot.closed checks nothing."""
    from safu.device.pipeline import VoiceLoop
    from safu.export.model_file import read_model_file, write_model_file
    from safu.runtime.api import load

    loop = VoiceLoop(coffee, None)
    assert loop.off_list(coffee.predict("give me a large latte please")) == []
    split = coffee.predict("i want a large a latte")
    assert split.intent == "orderDrink" and split.slots["drink"] == "a" and loop.missing_slots(split) == []
    assert loop.off_list(split) == [("drink", "a")]
    assert loop.off_list(coffee.predict("I want a LARGE Latte")) == []
    assert not [s for s in coffee.sentences if (p := coffee.predict(s)).intent and loop.off_list(p)]
    mf = read_model_file(coffee.path)
    old = tmp_path / "old.safu"
    write_model_file(old, {k: v for k, v in mf.metadata.items() if k != "slot.closed"},
                     {k: mf.tensor(k) for k in mf.tensors})
    assert VoiceLoop(load(str(old)), None).off_list(split) == []
