"""The listening loop keeps listening: noise with no words in it, faults in decoding, understanding or
acting, devices that hang, bad bytes on stdin. Real PocketSphinx, a real intent model, real actuators
(simulated GPIO file, shell, a local HTTP server); faults are injected by wrapping the real components.
"""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import yaml

from device_support import (fixture_model_path, kitchen_noise_wav, noise_wav, pcm_bytes, read_wav, speak)
from safu.device.actions import ActionRunner, ActionWorker
from safu.device.actuators import ActionContext
from safu.device.audio import ArraySource
from safu.device.endpointer import Endpointer, EnergyVad, Utterance, make_vad
from safu.device.pipeline import VoiceLoop

SILENCE = np.zeros(8000, np.float32)  # 0.5 s
LINES = {"desk fan": 5, "ceiling light": 6}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from safu.runtime.api import load
    return load(str(fixture_model_path(tmp_path_factory.mktemp("model"))))


@pytest.fixture(scope="module")
def recognizer(model):
    from safu.device.command_vocabulary import sentence_labels, slot_values
    from safu.device.recognizer import make_recognizer
    rec = make_recognizer("pocketsphinx", sentences=model.sentences, values=slot_values(model),
                          labels=sentence_labels(model, model.sentences), processes=2)
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Spoken commands and noises, made once: {name: float32 samples}."""
    tmp = tmp_path_factory.mktemp("audio")
    out = {"light on": read_wav(speak("turn on the ceiling light", tmp / "on.wav")),
           "fan off": read_wav(speak("turn off the desk fan", tmp / "off.wav")),
           "white": read_wav(noise_wav("whitenoise", 5, tmp / "white.wav", 0.3)),
           "pink": read_wav(noise_wav("pinknoise", 5, tmp / "pink.wav", 0.3)),
           "quiet": read_wav(noise_wav("whitenoise", 4, tmp / "quiet.wav", 0.02))}
    return out


def gpio_runner(tmp_path):
    state = tmp_path / "gpio.json"
    runner = ActionRunner({"actuators": {"board": {"type": "simulated_gpio", "state_file": str(state), "lines": LINES}},
                           "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "board", "line": "{name}", "value": 1}]},
                                       {"intent": "HassTurnOff", "do": [{"actuator": "board", "line": "{name}", "value": 0}]}]},
                          source="test-actions")
    return runner, state


def gpio_lines(state) -> dict:
    return json.loads(state.read_text())["lines"] if state.exists() else {}


# ---- noise with no words in it, then a command
@pytest.mark.parametrize("noise", ["white", "pink", "kitchen", "quiet after a command"])
def test_noise_only_audio_is_rejected_and_the_next_command_is_acted_on(noise, model, recognizer, audio, tmp_path):
    """PocketSphinx's N-best iterator yields None for a lattice with no path (noise with no words): the
    loop died on it ("'NoneType' object has no attribute 'score'"). Each noise is heard without an error,
    nothing is switched by it, and the command after it is acted on."""
    if noise == "kitchen":
        parts = [read_wav(kitchen_noise_wav(tmp_path / "kitchen.wav", start_s=20.0, seconds=10.0))]
    elif noise == "quiet after a command":
        parts = [audio["fan off"], audio["quiet"]]
    else:
        parts = [audio[noise]]
    samples = np.concatenate(parts + [SILENCE, audio["light on"]])
    runner, state = gpio_runner(tmp_path)
    # Every utterance decoded (no voicing check, and WebRTC, which cuts utterances from noise where the
    # default Silero cuts none): the decoder itself must survive noise.
    loop = VoiceLoop(model, recognizer, runner, endpointer=Endpointer(make_vad("webrtc")), min_voiced_fraction=None)
    events = list(loop.run([ArraySource(samples, noise)]))
    assert events, "nothing was heard"
    assert [e["error"] for e in events] == [None] * len(events)
    last = events[-1]
    assert last["intent"] == "HassTurnOn" and last["slots"].get("name") == "Ceiling Light", last
    assert last["action"]["steps"][0]["ok"]
    acted = [e for e in events if e["action"]]
    expected = {"6": 1} if noise != "quiet after a command" else {"5": 0, "6": 1}
    assert gpio_lines(state) == expected  # the noise itself switched nothing
    assert len(acted) == len(expected)


@pytest.mark.parametrize("vad", ["webrtc", "silero"])
def test_a_noise_is_heard_the_same_whatever_came_before(model, recognizer, audio, vad):
    """The same noise, alone and after a command: the same utterances, words and verdict (the detector
    is reset per source). WebRTC cuts utterances from white noise, Silero none."""
    loop = VoiceLoop(model, recognizer, endpointer=Endpointer(make_vad(vad)), min_voiced_fraction=None)
    alone = list(loop.run([ArraySource(audio["white"], "alone")]))
    after = list(loop.run([ArraySource(audio["light on"], "cmd"), ArraySource(audio["white"], "after")]))
    heard = lambda events: [(e["start_s"], e["asr"]["best"], e["asr"]["accepted"], e["intent"])  # noqa: E731
                            for e in events]
    assert [e["intent"] for e in after if e["source"] == "cmd"] == ["HassTurnOn"]
    assert heard([e for e in after if e["source"] == "after"]) == heard(alone)
    assert (len(alone) > 0) == (vad == "webrtc")


def test_speech_evidence_voiced_speech_against_noise(audio):
    from safu.device.speech_evidence import MIN_VOICED_FRACTION, speech_evidence
    t = np.arange(32000) / 16000
    vowel = sum(np.sin(2 * np.pi * k * 120 * t) / k for k in range(1, 8)) * (0.2 + 0.1 * np.sin(2 * np.pi * 3 * t))
    assert speech_evidence(vowel.astype(np.float32)).voiced_fraction > 0.9
    for name in ("white", "pink"):
        assert speech_evidence(audio[name]).voiced_fraction < MIN_VOICED_FRACTION, name
    for name in ("light on", "fan off"):
        evidence = speech_evidence(audio[name])
        assert evidence.voiced_fraction > MIN_VOICED_FRACTION + 0.25 and evidence.voiced_s > 0.3, name
    assert speech_evidence(vowel.astype(np.float32)).contour_s > 1.5 and speech_evidence(vowel).doubt() is None
    jumpy = np.concatenate([np.sin(2 * np.pi * f * t[:640]) for f in (100, 300, 140, 250, 110, 330) * 4])
    evidence = speech_evidence(jumpy.astype(np.float32))  # voiced, but its pitch jumps every 40 ms
    assert evidence.voiced_fraction > 0.5 and evidence.contour_s < 0.08 and "steady pitch contour" in evidence.doubt()
    assert speech_evidence(np.zeros(16000, np.float32)).voiced_fraction is None  # nothing to measure
    assert speech_evidence(np.zeros(16000, np.float32)).doubt() is None
    assert speech_evidence(np.zeros(100, np.float32)).voiced_fraction is None


@pytest.mark.parametrize("vad", ["webrtc", "silero"])
def test_unvoiced_noise_is_not_decoded_and_the_command_after_it_is_acted_on(model, recognizer, audio, tmp_path, vad):
    """Kitchen noise, white and pink noise: each utterance the WebRTC detector cuts from them has too few
    voiced frames, is rejected as no speech without being decoded (the restricted recogniser would force
    it onto command words); Silero (the default) cuts none. The command that follows is decoded and acted on."""
    kitchen = read_wav(kitchen_noise_wav(tmp_path / "kitchen.wav", start_s=20.0, seconds=10.0))
    samples = np.concatenate([kitchen, SILENCE, audio["white"], SILENCE, audio["pink"], SILENCE, audio["light on"]])
    counting = FailsOn(recognizer, "recognize", lambda samples: False, None)
    runner, state = gpio_runner(tmp_path)
    endpointer = Endpointer(make_vad(vad))
    events = list(VoiceLoop(model, counting, runner, endpointer=endpointer).run([ArraySource(samples, "noisy")]))
    noise, last = events[:-1], events[-1]
    gated = [e for e in noise if e["reason"].startswith("no speech: ")]
    if vad == "silero":
        assert noise == [] and last["intent"] == "HassTurnOn" and counting.calls == 1, noise
        return
    assert len(gated) >= 3 and all(e["reason"].endswith("needed") for e in gated), [e["reason"] for e in noise]
    assert all(e["asr"]["best"] is None for e in gated)
    assert any(e["asr"]["voiced_fraction"] < 0.35 and "voiced, 35% needed" in e["reason"] for e in gated)
    assert all(e["intent"] is None and e["error"] is None for e in noise)
    assert last["intent"] == "HassTurnOn" and last["action"]["steps"][0]["ok"] and last["asr"]["voiced_fraction"] > 0.5
    assert counting.calls == len(events) - len(gated)  # what was gated was not decoded
    assert gpio_lines(state) == {"6": 1}


def test_a_transcript_shorter_than_every_sentence_of_its_intent_is_not_acted_on():
    """Noise forced onto one command word ("on", "shut", "pause") reads as an intent with confidence;
    no sentence of that intent in the built-in model is that short, so it is rejected. "hello" is a
    sentence of HassRespond, "turn on" as long as HassTurnOn's shortest: both acted on."""
    from safu.device.recognizer import Transcript
    from safu.runtime.api import load

    class Heard:  # a recogniser that heard these words (the real one's output on kitchen noise)
        name, restricted, min_agreeing = "fixed", True, 1  # the Recognizer interface (device/recognizer.py)

        def __init__(self, words):
            self.words = words

        def recognize(self, samples):
            return Transcript(text=self.words, words=self.words, accepted=True, reason=None, decode_s=0.0)

        def widen(self):
            return None

        def close(self):
            pass

    builtin = load("default")
    silence = utterance(np.zeros(1600, np.float32))  # no voicing to measure: left to the recogniser
    for words, intent in (("on", "HassTurnOn"), ("shut", "HassTurnOff"), ("pause", "HassMediaPause"),
                          ("lamp", "HassTurnOn")):
        event = VoiceLoop(builtin, Heard(words)).handle(silence)
        assert event["intent"] is None and event["heard_intent"] == intent, event
        assert event["reason"] == f"speech rejected: 1 word, shorter than every {intent} sentence of the model"
    for words, intent in (("hello", "HassRespond"), ("turn on", "HassTurnOn"), ("pause the music", "HassMediaPause"),
                          ("turn on the kettle", "HassTurnOn")):
        event = VoiceLoop(builtin, Heard(words)).handle(silence)
        assert event["intent"] == intent and event["reason"] == "no actions configured", event


@pytest.mark.parametrize("vad", ["webrtc", "silero"])
def test_random_bytes_on_stdin_pcm_then_a_command(tmp_path, audio, vad):
    """safu listen --stdin-pcm (a subprocess): three seconds of random bytes, then a spoken command. WebRTC
    cuts an utterance from the bytes (decoded or gated, never an error), Silero none."""
    model_path = fixture_model_path(tmp_path)
    rng = np.random.default_rng(18)
    pcm = rng.integers(0, 256, size=96000, dtype=np.uint8).tobytes()
    pcm += pcm_bytes(np.zeros(32000, np.float32)) + pcm_bytes(audio["light on"]) + pcm_bytes(SILENCE)
    pcm += b"\x01"  # and a stray byte at the end
    actions = tmp_path / "actions.yaml"
    actions.write_text(yaml.safe_dump({
        "actuators": {"board": {"type": "simulated_gpio", "state_file": str(tmp_path / "s.json"), "lines": LINES}},
        "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "board", "line": "{name}", "value": 1}]}]}))
    r = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "listen", "--model", str(model_path), "--stdin-pcm",
                        "--actions", str(actions), "--vad", vad], input=pcm, capture_output=True, timeout=600)
    stderr = r.stderr.decode()
    assert r.returncode == 0, stderr
    lines = [json.loads(line) for line in r.stdout.decode().splitlines()]
    events = [e for e in lines if e["type"] == "utterance"]
    assert len(events) >= (2 if vad == "webrtc" else 1) and all(e["error"] is None for e in events)
    assert events[-1]["intent"] == "HassTurnOn" and events[-1]["action"]["queued"], events
    outcome = [e for e in lines if e["type"] == "action"]
    assert len(outcome) == 1 and outcome[0]["ok"] and outcome[0]["id"] == events[-1]["action"]["id"]
    assert gpio_lines(tmp_path / "s.json") == {"6": 1}
    assert "Traceback" not in stderr and "1 action(s) done" in stderr


# ---- a fault in one utterance ends that utterance only
class FailsOn:
    """Wraps a real component; its method `name` raises `error` while `when(argument)` holds."""

    def __init__(self, real, name, when, error):
        self._real, self._name, self._when, self._error = real, name, when, error
        self.calls = 0

    def __getattr__(self, attr):
        value = getattr(self._real, attr)
        if attr != self._name:
            return value

        def call(arg, *args, **kwargs):
            self.calls += 1
            if self._when(arg):
                raise self._error
            return value(arg, *args, **kwargs)
        return call


def utterance(samples):
    return Utterance(samples=samples, start_s=0.0, end_s=len(samples) / 16000, speech_end_s=len(samples) / 16000,
                     ended_by="silence")


def test_an_error_in_decoding_understanding_or_acting_is_that_utterances_error(model, recognizer, audio, tmp_path):
    on, off = audio["light on"], audio["fan off"]
    runner, state = gpio_runner(tmp_path)
    # decoding: the recogniser raises on the first utterance, not the second
    faulty = FailsOn(recognizer, "recognize", lambda samples: len(samples) == len(off), MemoryError("out of memory"))
    loop = VoiceLoop(model, faulty, runner)
    first, second = loop.handle(utterance(off)), loop.handle(utterance(on))
    assert first["error"] == "decoding failed: MemoryError: out of memory" and first["intent"] is None
    assert first["reason"] == first["error"] and first["action"] is None and first["asr"]["accepted"] is False
    assert second["error"] is None and second["intent"] == "HassTurnOn" and second["action"]["steps"][0]["ok"]
    # understanding: the intent model raises on what the first one said
    wrapped = FailsOn(model, "predict", lambda text: "fan" in text, RuntimeError("bad tensor"))
    loop = VoiceLoop(wrapped, recognizer, runner)
    first, second = loop.handle(utterance(off)), loop.handle(utterance(on))
    assert first["error"] == "understanding failed: RuntimeError: bad tensor" and first["transcript"] is None
    assert second["error"] is None and second["intent"] == "HassTurnOn"
    # acting: the runner itself raises (a bug, not a failing device)
    broken = FailsOn(runner, "run", lambda context: context.intent == "HassTurnOff", KeyError("steps"))
    loop = VoiceLoop(model, recognizer, broken)
    first, second = loop.handle(utterance(off)), loop.handle(utterance(on))
    assert first["error"] == "acting failed: KeyError: 'steps'" and first["intent"] == "HassTurnOff"
    assert second["error"] is None and second["action"]["steps"][0]["ok"]
    assert gpio_lines(state) == {"6": 1}


def test_a_broken_source_is_reported_and_the_next_one_is_heard(model, recognizer, audio):
    class Breaks(ArraySource):
        def read(self, n):
            if self._pos > 16000:
                raise OSError("device unplugged")
            return super().read(n)

    events = list(VoiceLoop(model, recognizer, endpointer=Endpointer(EnergyVad())).run(
        [Breaks(np.concatenate([audio["white"]]), "usb"), ArraySource(audio["light on"], "next")]))
    assert events[0]["source"] == "usb" and events[0]["error"] == "reading audio failed: OSError: device unplugged"
    assert events[-1]["source"] == "next" and events[-1]["intent"] == "HassTurnOn"


def test_a_killed_decoder_process_is_started_again(model, recognizer, audio):
    """A decoder worker killed between utterances: the next utterance is heard by a new one."""
    pool = recognizer._pool
    if pool is None:
        pytest.skip("the recogniser decodes in this process (one CPU)")
    before = pool.restarts
    victim = pool._procs[0]
    victim.kill()
    victim.wait()
    event = VoiceLoop(model, recognizer).handle(utterance(audio["light on"]))
    assert event["error"] is None and event["intent"] == "HassTurnOn"
    assert pool.restarts == before + 1 and pool._procs[0].pid != victim.pid


def test_listen_exit_status_counts_the_failed_utterances(tmp_path, audio):
    """A shell action that fails: the event line, the outcome line, exit 1 and how many failed."""
    import wave
    model_path = fixture_model_path(tmp_path)
    wavs = []
    for name in ("light on", "fan off"):
        path = tmp_path / f"{name.replace(' ', '_')}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            w.writeframes(pcm_bytes(np.concatenate([audio[name], SILENCE])))
        wavs.append(str(path))
    actions = tmp_path / "actions.yaml"
    actions.write_text(yaml.safe_dump({
        "actuators": {"sh": {"type": "shell", "timeout": 5}}, "retry": {"attempts": 2, "backoff": 0.01},
        "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "sh", "command": "echo on >> runs.txt"}]},
                    {"intent": "HassTurnOff", "do": [{"actuator": "sh", "command": "echo off >> runs.txt; exit 3"}]}]}))
    r = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "listen", "--model", str(model_path), "--wav", *wavs,
                        "--actions", str(actions)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "1 utterance(s) failed (1 in acting)" in r.stderr and "1 action(s) done" in r.stderr
    outcomes = {o["intent"]: o for o in map(json.loads, r.stdout.splitlines()) if o["type"] == "action"}
    assert outcomes["HassTurnOn"]["ok"] and not outcomes["HassTurnOff"]["ok"]
    assert "exited with 3" in outcomes["HassTurnOff"]["error"] and outcomes["HassTurnOff"]["steps"][0]["attempts"] == 2
    assert sorted((tmp_path / "runs.txt").read_text().split()) == ["off", "off", "on"]  # a failure is retried


# ---- actions off the listening path
class Hangs(http.server.BaseHTTPRequestHandler):
    """Answers only once `release` is set; counts the requests it got."""
    release = threading.Event()
    requests = 0

    def do_POST(self):
        type(self).requests += 1
        type(self).release.wait(60)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


class Trickles(http.server.BaseHTTPRequestHandler):
    """Sends its answer one byte every 0.3 s: no single read waits long enough to time out."""

    def do_POST(self):
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.3)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    servers = []

    def start(handler):
        handler.release = threading.Event()
        handler.requests = 0
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append((srv, handler))
        return f"http://127.0.0.1:{srv.server_address[1]}"
    yield start
    for srv, handler in servers:
        handler.release.set()
        srv.shutdown()
        srv.server_close()


def http_runner(url, timeout, attempts=3):
    return ActionRunner({"actuators": {"web": {"type": "http", "base_url": url, "timeout": timeout}},
                         "retry": {"attempts": attempts, "backoff": 0.01},
                         "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "web", "path": "/on/{name}"}]}]},
                        source="test-actions")


CTX = ActionContext("HassTurnOn", {"name": "Ceiling Light"}, "turn on the ceiling light", 0.9)


def test_an_http_step_that_times_out_is_not_sent_again(server):
    url = server(Hangs)
    step = http_runner(url, timeout=0.5).run(CTX)["steps"][0]
    assert not step["ok"] and step["timed_out"] and step["attempts"] == 1
    assert "no answer within 0.5s" in step["error"] and "(not run again)" in step["error"]
    assert Hangs.requests == 1


def test_a_trickling_server_is_cut_off_at_the_step_deadline(server):
    from safu.device.actions import DEADLINE_GRACE_S
    url = server(Trickles)
    t0 = time.monotonic()
    step = http_runner(url, timeout=0.5).run(CTX)["steps"][0]
    took = time.monotonic() - t0
    assert not step["ok"] and step["timed_out"] and step["attempts"] == 1
    assert f"deadline of {0.5 + DEADLINE_GRACE_S:g}s" in step["error"]
    assert took < 0.5 + DEADLINE_GRACE_S + 5  # not the ~30 s the server would take to finish


def test_a_hanging_http_step_does_not_hold_up_listening(server, model, recognizer, audio):
    """An ActionWorker runs the action; the next command is heard and queued while the first hangs; the
    outcome comes after its utterance's event."""
    url = server(Hangs)
    outcomes = []
    worker = ActionWorker(http_runner(url, timeout=30), on_done=outcomes.append, max_waiting=1)
    loop = VoiceLoop(model, recognizer, worker)
    try:
        source = ArraySource(np.concatenate([audio["light on"], SILENCE, audio["light on"], SILENCE,
                                             audio["light on"]]), "three")
        events = []
        for event in loop.run([source]):
            events.append((event, len(outcomes)))
        assert [e["intent"] for e, _ in events] == ["HassTurnOn"] * 3
        assert [done for _, done in events] == [0, 0, 0]  # all three heard while the first still hangs
        first, second, third = (e["action"] for e, _ in events)
        assert first["queued"] and second["queued"] and second["waiting"] == 0
        assert not third["queued"] and "1 actions are already waiting; this one was dropped" in third["error"]
        assert events[2][0]["error"].startswith("acting failed: ")
        Hangs.release.set()
        worker.drain()
        assert [o["id"] for o in outcomes] == [first["id"], second["id"]] and all(o["ok"] for o in outcomes)
        assert outcomes[0]["transcript"] == "turn on the ceiling light" and outcomes[0]["source"] == "three"
    finally:
        Hangs.release.set()
        worker.close(timeout=10)


def test_a_shell_step_that_times_out_has_its_process_group_ended_and_is_not_run_again(tmp_path):
    runs, child = tmp_path / "runs.txt", tmp_path / "child.pid"
    runner = ActionRunner({"actuators": {"sh": {"type": "shell", "timeout": 1}}, "retry": {"attempts": 3, "backoff": 0.01},
                           "actions": [{"intent": "HassTurnOn", "do": [
                               {"actuator": "sh", "command": f"echo run >> {runs}; sleep 60 & echo $! > {child}; sleep 60"}]}]},
                          source="test-actions")
    outcomes = []
    worker = ActionWorker(runner, on_done=outcomes.append)
    try:
        queued = worker.submit(CTX, {"source": "test"})
        assert queued["queued"]
        worker.drain()
    finally:
        worker.close(timeout=10)
    (outcome,) = outcomes
    step = outcome["steps"][0]
    assert not outcome["ok"] and step["timed_out"] and step["attempts"] == 1
    assert "timed out after 1s, its process group ended" in step["error"] and "(not run again)" in step["error"]
    assert runs.read_text() == "run\n"  # once
    pid = int(child.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the background sleep was in the group: it is gone (or a zombie)
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail(f"the command's child {pid} was left running")


def test_a_failing_shell_step_is_retried_but_a_timed_out_one_is_not(tmp_path):
    runs = tmp_path / "runs.txt"
    runner = ActionRunner({"actuators": {"sh": {"type": "shell", "timeout": 0.5}}, "retry": {"attempts": 3, "backoff": 0.01},
                           "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "sh", "command": f"echo x >> {runs}; exit 1"}]},
                                       {"intent": "HassTurnOff", "do": [{"actuator": "sh", "command": f"echo y >> {runs}; sleep 5"}]}]},
                          source="test-actions")
    failed = runner.run(CTX)["steps"][0]
    timed_out = runner.run(ActionContext("HassTurnOff", {}))["steps"][0]
    assert (failed["attempts"], failed.get("timed_out"), timed_out["attempts"], timed_out["timed_out"]) == (3, None, 1, True)
    assert runs.read_text().split() == ["x", "x", "x", "y"]
