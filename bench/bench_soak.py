"""Soak test of `safu listen --stdin-pcm`: a long stream of kitchen noise, out-of-scope speech and commands,
with actuators that fail and hang at random. Prints what it heard and did, false actions per hour of
noise, the listener's memory (peak and final RSS, its decoder processes included) and any error.

    python bench/bench_soak.py                       # 30 minutes of audio, the built-in model
    python bench/bench_soak.py --minutes 5 --seed 2  # a shorter run
    python bench/bench_soak.py --json soak.json      # the figures as JSON too

The stream is made once (espeak-ng voices, slices of the kitchen recording, pads of silence), written
to a file and fed to the listener's stdin as fast as it reads it (faster than real time: the listener
decodes as fast as it can, so the run takes the decoding time, not the audio time). The ground truth
is the timeline of the stream; an utterance counts where most of it lies:

- a command acted on: an utterance in a command segment whose event has an intent (its action queued);
  `correct` when that intent is the one spoken;
- a false action: an utterance in noise (or in out-of-scope speech) with an intent;
- a command not acted on: a command segment none of whose utterances has an intent (printed with what
  was heard and why it was not acted on);
- errors: events with an "error" (decoding, understanding, acting), action lines that failed (they
  are expected: the actuators fail on purpose; counted apart), the exit status and stderr.

Actuators (the actions file the bench writes): a shell step that exits 1 (FAIL_RATE), sleeps 60 s past
its 2 s timeout (HANG_RATE) or appends to a log, and an HTTP step to a local server that answers 500
(FAIL_RATE), hangs 60 s past its 2 s timeout (HANG_RATE) or 200.
"""
from __future__ import annotations

import argparse
import http.server
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KITCHEN = REPO.parent / "shared" / "data" / "picovoice-coffee" / "kitchen_noise.flac"
RATE = 16000
FAIL_RATE, HANG_RATE = 0.15, 0.10

DEVICES = ["kitchen light", "ceiling light", "floor lamp", "desk lamp", "garage light", "porch light",
           "ceiling fan", "desk fan", "coffee maker", "kettle", "christmas tree", "washing machine"]
COMMANDS = [(f"{verb} {state} the {device}", intent)
            for device in DEVICES
            for verb, state, intent in (("turn", "on", "HassTurnOn"), ("turn", "off", "HassTurnOff"),
                                        ("switch", "on", "HassTurnOn"), ("switch", "off", "HassTurnOff"))]
OUT_OF_SCOPE = [  # none of them a command of the built-in model (which has timers, shopping lists, media)
    "what is the weather going to be like tomorrow", "tell me a joke about penguins",
    "how tall is mount everest", "who wrote the origin of species", "what time does the bakery open",
    "how do you spell necessary", "I think the kettle is broken again",
    "the light in the garage was on all night", "can you order more coffee beans",
    "what is the capital of australia", "did anyone feed the cat this morning", "turn the page please",
    "the fan club meets on tuesday", "my lamp is from the flea market", "we should paint the kitchen blue",
    "how many ounces are in a pound"]
VOICES = [("en-us", 150), ("en-gb", 140), ("en-us", 175), ("en-gb-x-rp", 160), ("en-us+f3", 150)]


# ---- the stream
def speak(text: str, voice: str, speed: int, out: Path) -> np.ndarray:
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True)
    raw.unlink()
    return read_wav(out)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def make_stream(minutes: float, seed: int, tmp: Path):
    """-> (PCM bytes, timeline [(start_s, end_s, kind, text, intent)]); kind: noise, out_of_scope, command."""
    rng = random.Random(seed)
    kitchen_wav = tmp / "kitchen.wav"
    subprocess.run(["sox", str(KITCHEN), "-r", str(RATE), "-c", "1", "-b", "16", str(kitchen_wav)], check=True)
    kitchen = read_wav(kitchen_wav)
    cache: dict = {}

    def spoken(text):
        voice, speed = rng.choice(VOICES)
        key = (text, voice, speed)
        if key not in cache:
            cache[key] = speak(text, voice, speed, tmp / f"s{len(cache)}.wav")
        return cache[key]

    pieces, timeline, t = [], [], 0.0
    total = minutes * 60
    while t < total:
        roll = rng.random()
        if roll < 0.55:  # 10-30 s of kitchen noise, from a random place in the recording
            seconds = rng.uniform(10, 30)
            n = int(seconds * RATE)
            start = rng.randrange(0, len(kitchen) - n)
            samples, kind, text, intent = kitchen[start:start + n] * rng.uniform(0.5, 1.5), "noise", None, None
        elif roll < 0.75:
            text = rng.choice(OUT_OF_SCOPE)
            samples, kind, intent = spoken(text), "out_of_scope", None
        else:
            text, intent = rng.choice(COMMANDS)
            samples, kind = spoken(text), "command"
        samples = np.clip(samples, -1, 32767 / 32768).astype(np.float32)
        timeline.append((t, t + len(samples) / RATE, kind, text, intent))
        gap = np.zeros(int(rng.uniform(1.0, 2.0) * RATE), np.float32)  # silence between segments
        pieces += [samples, gap]
        t += (len(samples) + len(gap)) / RATE
    audio = np.concatenate(pieces)
    return (audio * 32768).astype("<i2").tobytes(), timeline


# ---- the devices
class Flaky(http.server.BaseHTTPRequestHandler):
    seed = 0
    requests = 0

    def do_POST(self):
        cls = type(self)
        cls.requests += 1
        roll = random.Random(cls.seed * 100003 + cls.requests).random()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if roll < HANG_RATE:
            time.sleep(60)
        self.send_response(500 if roll < HANG_RATE + FAIL_RATE else 200)
        self.end_headers()

    def log_message(self, *a):
        pass


def actions_file(tmp: Path, port: int) -> Path:
    flaky = (f'r=$(( $(od -An -N2 -tu2 /dev/urandom) % 100 )); '
             f'if [ $r -lt {int(100 * HANG_RATE)} ]; then sleep 60; fi; '
             f'if [ $r -lt {int(100 * (HANG_RATE + FAIL_RATE))} ]; then exit 1; fi; '
             f'echo "$SAFU_INTENT $SAFU_SLOT_NAME" >> {tmp / "acted.log"}')
    config = {
        "actuators": {"sh": {"type": "shell", "timeout": 2},
                      "web": {"type": "http", "base_url": f"http://127.0.0.1:{port}", "timeout": 2},
                      "log": {"type": "print", "file": str(tmp / "other.jsonl")}},
        "retry": {"attempts": 2, "backoff": 0.1},
        "actions": [{"intent": intent, "do": [{"actuator": "sh", "command": flaky},
                                              {"actuator": "web", "path": "/" + intent + "/{name|area}"}]}
                    for intent in ("HassTurnOn", "HassTurnOff")],
        "default": {"do": [{"actuator": "log"}]}}
    path = tmp / "actions.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


# ---- memory
def rss_kib(pid: int) -> int:
    """Resident memory of pid and its children (the decoder processes), KiB."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="audio minutes (default 30)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default="default")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    for program in ("espeak-ng", "sox"):
        if not shutil.which(program):
            print(f"bench_soak: needs {program} (apt-get install {program})", file=sys.stderr)
            return 2
    if not KITCHEN.exists():
        print(f"bench_soak: kitchen noise recording not found: {KITCHEN}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="safu-soak-"))
    t0 = time.time()
    pcm, timeline = make_stream(args.minutes, args.seed, tmp)
    stream = tmp / "stream.pcm"
    stream.write_bytes(pcm)
    audio_s = len(pcm) / 2 / RATE
    print(f"stream: {audio_s / 60:.1f} min of audio, {len(timeline)} segments "
          f"({sum(k == 'noise' for _, _, k, _, _ in timeline)} noise, "
          f"{sum(k == 'out_of_scope' for _, _, k, _, _ in timeline)} out-of-scope, "
          f"{sum(k == 'command' for _, _, k, _, _ in timeline)} commands), made in {time.time() - t0:.0f} s",
          flush=True)

    Flaky.seed, Flaky.requests = args.seed, 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    actions = actions_file(tmp, server.server_address[1])

    started = time.time()
    with open(stream, "rb") as stdin, open(tmp / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "safu.runtime.cli", "listen", "--model", args.model,
                                 "--stdin-pcm", "--actions", str(actions)], stdin=stdin, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, cwd=tmp)
        samples: list[tuple[float, int]] = []  # (seconds since start, RSS KiB)
        done = threading.Event()

        def watch():
            while not done.is_set():
                samples.append((time.time() - started, rss_kib(proc.pid)))
                done.wait(2.0)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        lines = []
        heard_s, first_event_t, last_event_t = 0.0, None, None
        for line in proc.stdout:
            lines.append(json.loads(line))
            if lines[-1]["type"] == "utterance":  # the listener is running: warm-up over, not exiting yet
                last_event_t = time.time() - started
                first_event_t = first_event_t or last_event_t
            heard_s = lines[-1].get("end_s") or heard_s  # action lines have no stream time
            if len(lines) % 50 == 0:
                print(f"  {len(lines)} lines, {heard_s:.0f} s of audio heard, "
                      f"{time.time() - started:.0f} s, RSS {samples[-1][1] / 1024 if samples else 0:.0f} MiB",
                      flush=True)
        code = proc.wait()
        done.set()
        watcher.join()
    samples = [(t, kib) for t, kib in samples if kib > 0]  # the sample taken after the listener exited
    # "final": the last sample up to the last utterance line (later ones catch the decoder processes
    # exiting); "after warm-up": the first sample after both 10% of the run and the first utterance line.
    running = [(t, kib) for t, kib in samples if last_event_t is None or t <= last_event_t] or samples
    wall = time.time() - started
    server.shutdown()

    events = [e for e in lines if e["type"] == "utterance"]
    outcomes = [e for e in lines if e["type"] == "action"]

    def segment_of(event):
        """The timeline segment most of the utterance lies in (None: in the silence between)."""
        best, overlap = None, 0.0
        for seg in timeline:
            o = min(seg[1], event["end_s"] or 0) - max(seg[0], event["start_s"] or 0)
            if o > overlap:
                best, overlap = seg, o
        return best

    tally = {"command": 0, "command_acted": 0, "command_correct": 0, "noise_utterances": 0, "noise_false": 0,
             "oos_utterances": 0, "oos_false": 0, "silence": 0}
    false_examples, missed = [], {}
    for e in events:
        seg = segment_of(e)
        kind = seg[2] if seg else None
        acted = e["intent"] is not None
        if kind == "command":
            if acted:
                missed[seg[0]] = None
            elif missed.get(seg[0], "") is not None:
                missed[seg[0]] = f"command at {seg[0]:.0f} s: spoken {seg[3]!r}, heard {e['asr']['words']!r}: {e['reason']}"
            tally["command"] += 1
            tally["command_acted"] += acted
            tally["command_correct"] += acted and e["intent"] == seg[4]
        elif kind == "noise":
            tally["noise_utterances"] += 1
            tally["noise_false"] += acted
        elif kind == "out_of_scope":
            tally["oos_utterances"] += 1
            tally["oos_false"] += acted
        else:
            tally["silence"] += 1
        if acted and kind in ("noise", "out_of_scope"):
            false_examples.append(f"{kind} at {e['start_s']:.0f} s: heard {e['asr']['words']!r} -> {e['intent']} "
                                  f"{e['slots']}" + (f" (spoken: {seg[3]!r})" if seg[3] else ""))
    noise_h = sum(s[1] - s[0] for s in timeline if s[2] == "noise") / 3600
    oos_h = sum(s[1] - s[0] for s in timeline if s[2] == "out_of_scope") / 3600
    commands_spoken = sum(s[2] == "command" for s in timeline)
    errors = [e["error"] for e in events if e["error"] and not e["error"].startswith("acting failed: ")]
    dropped = [e for e in events if (e["action"] or {}).get("queued") is False and (e["action"] or {}).get("error")]
    timed_out = sum(bool(step.get("timed_out")) for o in outcomes for step in o["steps"])
    failed_steps = sum(not step["ok"] for o in outcomes for step in o["steps"])
    stderr_text = (tmp / "stderr.txt").read_text()
    tracebacks = stderr_text.count("Traceback")
    warm = [kib for t, kib in samples if t > max(0.1 * wall, first_event_t or 0.0)]
    figures = {
        "audio_min": round(audio_s / 60, 1), "wall_s": round(wall), "exit_status": code,
        "utterances": len(events), "commands_spoken": commands_spoken,
        "command_utterances": tally["command"], "commands_acted_on": tally["command_acted"],
        "commands_correct": tally["command_correct"],
        "noise_hours": round(noise_h, 3), "noise_utterances": tally["noise_utterances"],
        "false_actions_noise": tally["noise_false"],
        "false_actions_per_hour_of_noise": round(tally["noise_false"] / noise_h, 2) if noise_h else None,
        "oos_utterances": tally["oos_utterances"], "false_actions_out_of_scope": tally["oos_false"],
        "false_actions_per_hour_of_out_of_scope_speech": round(tally["oos_false"] / oos_h, 2) if oos_h else None,
        "utterances_in_silence": tally["silence"],
        "actions_queued": sum(bool((e["action"] or {}).get("queued")) for e in events),
        "action_outcomes": len(outcomes), "actions_ok": sum(o["ok"] for o in outcomes),
        "steps_failed": failed_steps, "steps_timed_out": timed_out, "actions_dropped_queue_full": len(dropped),
        "http_requests": Flaky.requests,
        "errors": len(errors), "error_kinds": sorted(set(errors))[:10], "tracebacks_on_stderr": tracebacks,
        "rss_peak_mib": round(max(k for _, k in samples) / 1024, 1) if samples else None,
        "rss_after_warmup_mib": round(warm[0] / 1024, 1) if warm else None,
        "rss_final_mib": round(running[-1][1] / 1024, 1) if running else None,
        "stderr_tail": stderr_text.strip().splitlines()[-3:],
    }
    rss_trace = [(round(t), round(k / 1024)) for t, k in samples[:: max(1, len(samples) // 16)]]
    print()
    print(f"audio {figures['audio_min']} min fed through safu listen --stdin-pcm in {wall:.0f} s; exit status {code}")
    print(f"utterances handled: {len(events)}")
    print(f"commands: {commands_spoken} spoken, {tally['command_acted']} acted on "
          f"({tally['command_correct']} with the intent spoken)")
    print(f"noise: {noise_h * 60:.1f} min, {tally['noise_utterances']} utterances, {tally['noise_false']} false "
          f"actions = {figures['false_actions_per_hour_of_noise']} per hour of noise")
    print(f"out-of-scope speech: {oos_h * 60:.1f} min, {tally['oos_utterances']} utterances, {tally['oos_false']} "
          f"false actions = {figures['false_actions_per_hour_of_out_of_scope_speech']} per hour")
    print(f"actions: {figures['actions_queued']} queued, {len(outcomes)} outcomes, {figures['actions_ok']} ok, "
          f"{failed_steps} steps failed ({timed_out} timed out, not re-run), {len(dropped)} dropped (queue full)")
    print(f"RSS (listener + decoder processes): peak {figures['rss_peak_mib']} MiB, after warm-up (10% of the "
          f"run and the first utterance) {figures['rss_after_warmup_mib']} MiB, final (at the last utterance) {figures['rss_final_mib']} MiB; trace (s, MiB) {rss_trace}")
    print(f"errors: {len(errors)} in events {figures['error_kinds']}, {tracebacks} tracebacks on stderr")
    print(f"stderr ends: {figures['stderr_tail']}")
    for example in false_examples[:10]:
        print(f"  false action: {example}")
    not_acted = [why for why in missed.values() if why]
    for why in not_acted[:10]:
        print(f"  not acted on: {why}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**figures, "rss_trace": rss_trace, "false_examples": false_examples, "not_acted_on": not_acted},
                      f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
