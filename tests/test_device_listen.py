"""`safu listen` end to end: espeak-ng speech -> WAV -> safu listen -> a real mosquitto broker.

Also: the runtime does not import the device package until `listen` runs; clear one-line errors.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from device_support import Broker, Subscriber, fixture_model_path, speak

REPO = Path(__file__).resolve().parents[1]


def safu(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "safu.runtime.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def fixture_model(tmp_path_factory):
    return fixture_model_path(tmp_path_factory.mktemp("model"))


def builtin_model_or_skip():
    from safu.runtime.api import DEFAULT_MODEL
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"the built-in model is not in this checkout ({DEFAULT_MODEL})")
    return DEFAULT_MODEL


def mqtt_actions(tmp_path, port):
    path = tmp_path / "actions.yaml"
    path.write_text(yaml.safe_dump({
        "actuators": {"broker": {"type": "mqtt", "host": "127.0.0.1", "port": port}},
        "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "broker", "topic": "home/{name|area}/set", "payload": "ON"}]},
                    {"intent": "HassTurnOff", "do": [{"actuator": "broker", "topic": "home/{name|area}/set", "payload": "OFF"}]}]}))
    return path


def test_runtime_does_not_import_device_until_listen_runs():
    code = "import sys, safu.runtime.cli as c; c.build_parser(); print('safu.device' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_listen_errors_are_one_clear_line(tmp_path, fixture_model):
    r = safu("listen", "--model", str(fixture_model), "--wav", str(tmp_path / "missing.wav"))
    assert r.returncode == 2 and "missing.wav: no such WAV file" in r.stderr and "Traceback" not in r.stderr
    r = safu("listen", "--model", str(fixture_model), "--asr", "vosk", "--vosk-model", str(tmp_path / "nodir"))
    assert r.returncode == 2 and "nodir: no such directory" in r.stderr
    r = safu("listen", "--model", str(fixture_model), "--asr", "vosk")
    assert r.returncode == 2 and "--vosk-model DIR" in r.stderr
    (tmp_path / "bad.yaml").write_text("actuators: {x: {type: nope}}")
    r = safu("listen", "--model", str(fixture_model), "--actions", str(tmp_path / "bad.yaml"))
    assert r.returncode == 2 and "bad.yaml: actuator x: unknown type 'nope'" in r.stderr
    (tmp_path / "words.txt").write_text("zorblax Z AO R B L AE K S\nlamp L AE M P X\n")
    r = safu("listen", "--model", str(fixture_model), "--pronunciations", str(tmp_path / "words.txt"))
    assert r.returncode == 2 and "words.txt line 2: unknown phone 'X'" in r.stderr and "Traceback" not in r.stderr
    r = safu("listen", "--model", str(fixture_model), "--min-agreeing", "0")
    assert r.returncode == 2 and "min_agreeing must be at least 1, got 0" in r.stderr
    r = safu("listen", "--model", str(fixture_model), "--asr", "vosk", "--vosk-model", str(tmp_path), "--min-agreeing", "2")
    assert r.returncode == 2 and "--min-agreeing is a PocketSphinx option" in r.stderr


def run_voice_to_broker(tmp_path, model, commands, expected):
    wavs = [str(speak(text, tmp_path / f"{i}.wav")) for i, text in enumerate(commands)]
    broker = Broker(tmp_path)
    sub = Subscriber(broker.port, "home/#")
    try:
        r = safu("listen", "--model", str(model), "--wav", *wavs, "--actions", str(mqtt_actions(tmp_path, broker.port)))
        assert r.returncode == 0, r.stderr
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        events = [e for e in lines if e["type"] == "utterance"]
        outcomes = [e for e in lines if e["type"] == "action"]
        messages = sub.wait_for(len(expected), timeout=5)
    finally:
        sub.stop()
        broker.stop()
    assert len(events) == len(commands)  # one JSON line per utterance
    for e in events:
        assert set(e) >= {"transcript", "intent", "confidence", "slots", "action", "timings", "reason"}
        assert e["timings"]["latency_ms"] >= e["timings"]["asr_ms"] > 0
    assert [(t, p) for t, p, _ in messages] == expected
    assert len(outcomes) == len(expected) and all(o["ok"] for o in outcomes)
    assert [o["id"] for o in outcomes] == [e["action"]["id"] for e in events if e["action"]]
    return events


def test_spoken_commands_reach_a_real_broker(tmp_path, fixture_model):
    events = run_voice_to_broker(
        tmp_path, fixture_model,
        ["turn off the desk fan", "tell me a joke about penguins"],
        [("home/desk_fan/set", "OFF")])
    assert events[1]["action"] is None and events[1]["reason"]  # out of scope: nothing sent, and why


def test_builtin_model_spoken_commands_reach_a_real_broker(tmp_path):
    model = builtin_model_or_skip()
    run_voice_to_broker(tmp_path, model, ["turn on the kitchen light", "turn off the kitchen light"],
                        [("home/kitchen/set", "ON"), ("home/kitchen/set", "OFF")])


def test_listen_with_no_arguments_runs_the_demo(tmp_path):
    builtin_model_or_skip()
    r = safu("listen", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    events = [e for e in lines if e["type"] == "utterance"]
    assert len(events) == 5  # the five shipped samples, one utterance each
    assert events[0]["intent"] == "HassTurnOn" and events[0]["action"]["queued"]
    acted = [e for e in events if e["action"]]
    assert len(acted) == 4 and all(e["asr"]["agreeing"] >= 2 for e in acted)  # two warps agreed on each
    # each queued action's outcome follows its utterance's line, in order
    outcomes = [e for e in lines if e["type"] == "action"]
    assert [o["id"] for o in outcomes] == [e["action"]["id"] for e in acted]
    assert all(o["ok"] and o["steps"][0]["ok"] for o in outcomes)
    for event in acted:
        assert lines.index(event) < next(i for i, o in enumerate(lines) if o.get("id") == event["action"]["id"]
                                         and o["type"] == "action")
    state = json.loads((tmp_path / "safu_gpio_state.json").read_text())
    assert "2" in state["lines"]  # the kitchen light's line was switched
    assert "switched: gpio" in r.stderr


def test_stdin_pcm_source(tmp_path, fixture_model):
    wav = speak("turn on the ceiling light", tmp_path / "a.wav")
    import wave
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    r = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "listen", "--model", str(fixture_model), "--stdin-pcm",
                        "--state-file", str(tmp_path / "s.json")], input=pcm, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    event = json.loads(r.stdout.decode().splitlines()[0])
    assert event["transcript"] == "turn on the ceiling light" and event["intent"] == "HassTurnOn"
