"""bench/bench_voice.py: spoken-command accuracy, false actions and latency of `safu listen`, in noise.

    python bench/bench_voice.py                      # built-in model, PocketSphinx restricted vs open, 2 jobs
    python bench/bench_voice.py --model home.safu --modes restricted --snr clean 10 --jobs 1
    python bench/bench_voice.py --modes restricted --snr clean --garbage-words more_words.txt   # a variant

Speech: espeak-ng speaks COMMANDS (expected intent and slots given below) and OUT_OF_SCOPE sentences
with several voices and speeds (VOICES); sox resamples to 16 kHz and pads 0.3 s / 0.6 s of silence.
Noise: pink noise made by sox (repeatable, -R), added over the whole recording at the speech-to-noise
ratio asked for, measured on the speech samples. Each recording goes through the loop `safu listen` builds
(device/voice_builder.py: the endpointer with --vad, default Silero; the recogniser, --asr, default
PocketSphinx; the intent model; an action runner that logs every intent). The built-in model is heard
in its satellite's default area, as by `safu listen` with no --area (voice_builder.BUILT_IN_AREA, the
Living Room: "pause the music", "set the volume to 50" take it); another model file gets no area.

Reported per recogniser mode and noise level:
- command accuracy: the first acted-on utterance has the expected intent and every expected slot
  value (case-insensitive; the model's `conversation_command` slot is not compared); a rejected
  command counts as wrong;
- false actions: out-of-scope recordings for which anything was acted on;
- latency: end of speech -> action done = endpointer wait + recognition (with the other warps, when
  asked) + intent model (with the agreement check) + action,
  median and 90th percentile in ms (audio delivered in real time; this machine's CPU);
- text: the intent model alone on the reference text, the ceiling speech can reach.
Synthesised audio is cached in --cache (default /tmp/safu-bench-voice). Each cell's recordings are
shared out over --jobs worker processes (every k-th recording to worker k). Each recording is heard
as if it came first: the endpointer's detector starts afresh on each source and the decoders rebuild
their feature front end per utterance, so --jobs and --limit do not change a recording's result.
Recogniser variants for experiments: --nbest-margin, --max-unseen-trigrams, --noisy-below-db,
--min-agreeing, --trim-final-word, --accent, --garbage-words, --garbage-mass, --lm-discount, --language-weight,
--ps-option KEY=VALUE (any PocketSphinx setting).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

VOICES = [("en-us", 150), ("en-us+f3", 170), ("en-gb", 140), ("en-us+m3", 190), ("en-gb-x-rp+f2", 160)]

# (text, expected intent, expected slots) for the built-in smart-home model and its sample inventory
# (runtime/data/sample_inventory.yaml: "the kitchen light" is the lights of the Kitchen area, as in the
# templates' "<area> light[s]" rule). Slot names are the templates' own ("set a timer for 5 minutes"
# fills `minutes`).
COMMANDS = [
    ("turn on the kitchen light", "HassTurnOn", {"area": "Kitchen"}),
    ("turn off the kitchen light", "HassTurnOff", {"area": "Kitchen"}),
    ("turn on the ceiling light", "HassTurnOn", {"name": "Ceiling Light"}),
    ("turn off the ceiling light", "HassTurnOff", {"name": "Ceiling Light"}),
    ("turn on the floor lamp", "HassTurnOn", {"name": "Floor Lamp"}),
    ("turn off the floor lamp", "HassTurnOff", {"name": "Floor Lamp"}),
    ("turn on the bedside lamp", "HassTurnOn", {"name": "Bedside Lamp"}),
    ("turn off the bedside lamp", "HassTurnOff", {"name": "Bedside Lamp"}),
    ("turn on the desk lamp", "HassTurnOn", {"name": "Desk Lamp"}),
    ("turn off the desk lamp", "HassTurnOff", {"name": "Desk Lamp"}),
    ("turn on the porch light", "HassTurnOn", {"name": "Porch Light"}),
    ("turn off the porch light", "HassTurnOff", {"name": "Porch Light"}),
    ("turn on the garage light", "HassTurnOn", {"area": "Garage"}),
    ("turn off the garage light", "HassTurnOff", {"area": "Garage"}),
    ("switch on the ceiling fan", "HassTurnOn", {"name": "Ceiling Fan"}),
    ("switch off the ceiling fan", "HassTurnOff", {"name": "Ceiling Fan"}),
    ("turn on the desk fan", "HassTurnOn", {"name": "Desk Fan"}),
    ("turn off the desk fan", "HassTurnOff", {"name": "Desk Fan"}),
    ("turn on the coffee maker", "HassTurnOn", {"name": "Coffee Maker"}),
    ("turn off the coffee maker", "HassTurnOff", {"name": "Coffee Maker"}),
    ("turn on the kettle", "HassTurnOn", {"name": "Kettle"}),
    ("turn off the kettle", "HassTurnOff", {"name": "Kettle"}),
    ("turn on the christmas tree", "HassTurnOn", {"name": "Christmas Tree"}),
    ("turn off the christmas tree", "HassTurnOff", {"name": "Christmas Tree"}),
    ("turn on the washing machine", "HassTurnOn", {"name": "Washing Machine"}),
    ("turn off the washing machine", "HassTurnOff", {"name": "Washing Machine"}),
    ("turn off the lights in the kitchen", "HassTurnOff", {"area": "Kitchen"}),
    ("turn on the lights in the bedroom", "HassTurnOn", {"area": "Bedroom"}),
    ("set the bedroom temperature to 21 degrees", "HassClimateSetTemperature", {"temperature": "21", "area": "Bedroom"}),
    ("set the thermostat to 19", "HassClimateSetTemperature", {"temperature": "19", "name": "Thermostat"}),
    ("set the volume to 50", "HassSetVolume", {"volume_level": "50"}),
    ("set a timer for 5 minutes", "HassStartTimer", {"minutes": "5"}),
    ("set a timer for 10 minutes", "HassStartTimer", {"minutes": "10"}),
    ("pause the music", "HassMediaPause", {}),
    ("next song", "HassMediaNext", {}),
    ("set the desk lamp brightness to 40 percent", "HassLightSet", {"brightness": "40", "name": "Desk Lamp"}),
    ("set the kitchen lights brightness to 70 percent", "HassLightSet", {"brightness": "70", "area": "Kitchen"}),
    ("cancel the timer", "HassCancelTimer", {}),
    ("what time is it", "HassGetCurrentTime", {}),
    ("turn on the night light", "HassTurnOn", {"name": "Night Light"}),
    ("turn off the night light", "HassTurnOff", {"name": "Night Light"}),
    ("turn on the mirror light", "HassTurnOn", {"name": "Mirror Light"}),
]

# Everyday speech that is not a command for this model (hand-written; none of it is in the shipped
# out-of-scope list runtime/data/out_of_scope.txt that training calibrates rejection on).
OUT_OF_SCOPE = [
    "what is the tallest mountain in africa",
    "tell me a joke about penguins",
    "how many people live in tokyo",
    "my sister is coming to visit next week",
    "i think we should paint the fence green",
    "who wrote the origin of species",
    "can you recommend a good book about history",
    "the train was late again this morning",
    "how do you make pancakes",
    "remind me why the sky is blue",
    "what does the fox say",
    "let us go to the beach on saturday",
    "please translate hello into spanish",
    "how long does it take to boil an egg",
    "i had a strange dream last night",
    "the cat is sleeping on the sofa",
    "which team won the football game",
    "send an email to my boss",
    "order a large pizza with mushrooms",
    "is it going to be a busy day",
    "i forgot where i parked the car",
    "why do cats purr when they are happy",
    "we need to buy a new vacuum cleaner someday",
    "my favourite colour is purple",
    "good morning everyone",
    # Every one said by every voice, so that false actions are counted over as
    # many recordings as commands; several share words with commands ("garage door", "the light").
    "the light in this old painting is beautiful",
    "i left my keys somewhere in the kitchen",
    "the music at the concert was far too loud",
    "my brother fixed the garage door last summer",
    "do you think it will snow at christmas",
    "she turned around and walked out of the room",
    "what is the capital city of australia",
    "our neighbours have a very noisy dog",
    "i would like to learn how to play the piano",
    "the kids are playing football in the garden",
    "how far away is the moon from the earth",
    "who invented the light bulb",
    "my phone battery dies very quickly",
    "thank you for helping me with my homework",
    "the temperature of the sun is extremely high",
    "i need a holiday somewhere warm and sunny",
    "what time does the bakery open on sunday",
]

SNRS = ["clean", "20", "10", "5"]
IGNORED_SLOTS = {"conversation_command"}


# ---- audio preparation
def synthesize(text: str, voice: str, speed: int, out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
        subprocess.run(["sox", raw, "-r", "16000", "-c", "1", "-b", "16", out + ".tmp.wav", "pad", "0.3", "0.6"],
                       check=True)
    os.replace(out + ".tmp.wav", out)


def pink_noise(cache: str, seconds: int = 60) -> np.ndarray:
    path = os.path.join(cache, "pink_noise.wav")
    if not os.path.exists(path):
        subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", path + ".tmp.wav",
                        "synth", str(seconds), "pinknoise"], check=True)
        os.replace(path + ".tmp.wav", path)
    from safu.device.audio import WavSource
    src = WavSource(path)
    noise = src.read(16000 * seconds)
    src.close()
    return noise


def mix(speech: np.ndarray, noise: np.ndarray, snr: str, offset: int) -> np.ndarray:
    if snr == "clean":
        return speech
    active = speech[np.abs(speech) > 0.01]  # speech samples, not the padding
    p_speech = float(np.mean(active.astype(np.float64) ** 2)) if len(active) else 1e-6
    start = offset % (len(noise) - len(speech))
    segment = noise[start:start + len(speech)].astype(np.float64)
    p_noise = float(np.mean(segment ** 2)) + 1e-12
    gain = np.sqrt(p_speech / (p_noise * 10 ** (float(snr) / 10)))
    return np.clip(speech + gain * segment, -1, 1).astype(np.float32)


# ---- one (mode, snr) cell, run in a worker process
def run_cell(task):
    """One worker's share of one (mode, snr) cell: items are (index, recording) pairs."""
    mode, snr, model_path, items, cache, options = task
    from safu.device.actions import ActionRunner
    from safu.device.asr_pocketsphinx import PocketSphinxConfig
    from safu.device.audio import ArraySource, WavSource
    from safu.device.voice_builder import build_recognizer, build_voice_loop
    from safu.runtime.api import load

    options = dict(options)
    asr, vad, threads = options.pop("asr"), options.pop("vad"), options.pop("whisper_threads")
    model = load(model_path)
    if asr == "whisper":
        recognizer = build_recognizer(model, asr="whisper", open_vocabulary=mode != "restricted",
                                      whisper_threads=threads)
    else:
        recognizer = build_recognizer(model, asr="pocketsphinx", open_vocabulary=mode != "restricted",
                                      pocketsphinx=PocketSphinxConfig(**options))
    log = os.path.join(tempfile.mkdtemp(prefix="safu-bench-"), "actions.jsonl")
    runner = ActionRunner({"actuators": {"log": {"type": "print", "file": log}},
                           "default": {"do": [{"actuator": "log"}]}})
    loop = build_voice_loop(model, recognizer, runner, vad=vad)
    noise = pink_noise(cache)
    results = []
    for i, (kind, text, intent, slots, wav) in items:
        src = WavSource(wav)
        speech = src.read(10 ** 7)
        src.close()
        events = list(loop.run([ArraySource(mix(speech, noise, snr, 7919 * i), wav)]))
        acted = [e for e in events if e["action"] is not None]
        first = acted[0] if acted else None
        results.append({"index": i, "kind": kind, "text": text, "wav": wav,
                        "ok": bool(first and first["intent"] == intent and slots_match(first["slots"], slots)),
                        "acted": bool(acted), "heard": [e["asr"]["words"] for e in events],
                        "latency_ms": first["timings"]["latency_ms"] if first else None,
                        "asr_ms": [e["timings"]["asr_ms"] for e in events],
                        "audio_s": len(speech) / 16000})
    recognizer.close()
    return mode, snr, results


def slots_match(got: dict, expected: dict) -> bool:
    got = {k: str(v).lower() for k, v in got.items() if k not in IGNORED_SLOTS}
    want = {k: str(v).lower() for k, v in expected.items()}
    return all(got.get(k) == v for k, v in want.items())


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


class _Serial:
    """Stands in for a process pool with --jobs 1."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap(self, fn, tasks):
        return (fn(t) for t in tasks)


def print_row(asr, mode, snr, results, errors):
    cmd = [r for r in results if r["kind"] == "command"]
    oos = [r for r in results if r["kind"] == "oos"]
    ok = sum(r["ok"] for r in cmd)
    false = sum(r["acted"] for r in oos)
    lat = [r["latency_ms"] for r in results if r["latency_ms"] is not None]
    rtf = sum(sum(r["asr_ms"]) for r in results) / 1000 / sum(r["audio_s"] for r in results)
    print(f"| {asr} {mode} | {snr} | {100 * ok / len(cmd):.1f}% ({ok}/{len(cmd)}) | "
          f"{100 * false / len(oos):.1f}% ({false}/{len(oos)}) | "
          f"{statistics.median(lat) if lat else float('nan'):.0f} | {percentile(lat, 0.9):.0f} | {rtf:.3f} |", flush=True)
    if errors:
        for r in results:
            if (r["kind"] == "command" and not r["ok"]) or (r["kind"] == "oos" and r["acted"]):
                print(f"    {mode} {snr} {r['kind']}: {os.path.basename(r['wav'])} heard {r['heard']}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="intent model (default: the built-in one)")
    ap.add_argument("--modes", nargs="+", default=["restricted", "open"], choices=["restricted", "open"])
    ap.add_argument("--snr", nargs="+", default=SNRS)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "safu-bench-voice"))
    ap.add_argument("--limit", type=int, default=0, help="use only the first N commands (quick runs)")
    ap.add_argument("--errors", action="store_true", help="list misrecognised recordings")
    ap.add_argument("--asr", choices=["pocketsphinx", "whisper"], default="pocketsphinx",
                    help="recogniser (default pocketsphinx, which safu listen's auto choice takes for the built-in model)")
    ap.add_argument("--whisper-threads", type=int, default=1, help="Whisper: CPU threads per recogniser (default 1)")
    ap.add_argument("--vad", choices=["silero", "webrtc", "energy"], default="silero",
                    help="the endpointer's speech detector (default silero, as safu listen)")
    ap.add_argument("--warps", type=float, nargs="+", help="PocketSphinx vocal-tract warps (default: safu listen's)")
    ap.add_argument("--json", help="write all results to this file")
    ap.add_argument("--garbage-words", help="out-of-vocabulary word list, one per line (default: the shipped one)")
    ap.add_argument("--garbage-mass", type=float, help="unigram mass of the garbage words")
    ap.add_argument("--lm-discount", type=float, help="absolute discount of the command n-gram model")
    ap.add_argument("--language-weight", type=float, help="PocketSphinx -lw for the command model")
    ap.add_argument("--decoder-processes", type=int,
                    help="worker processes per recogniser for the warp decoders (default: CPU cores / --jobs, at "
                         "least 1, so that decoding does not compete for cores; 'safu listen' uses every core)")
    ap.add_argument("--nbest-margin", type=float, help="score margin of the recogniser's runners-up (0: best only)")
    ap.add_argument("--all-warps", action="store_true",
                    help="decode every warp for every utterance (default: the ones that suit the voice's pitch)")
    ap.add_argument("--unbalanced-lm", action="store_true",
                    help="count every command sentence once in the language model (default: every intent weighs the same)")
    ap.add_argument("--max-unseen-trigrams", type=int,
                    help="word triples no command contains allowed in a transcript (default 1; -1: no trigram check)")
    ap.add_argument("--noisy-below-db", type=float,
                    help="loudness range (dB) below which an utterance may have no word triple missing from the "
                         "commands (default 20; 0: never)")
    ap.add_argument("--min-agreeing", type=int,
                    help="warps that must each hear the command acted on (default 2; 1: no agreement check)")
    ap.add_argument("--trim-final-word", action="store_true",
                    help="also try a rejected hypothesis without its last word (default: off)")
    ap.add_argument("--accent", choices=["american", "british"],
                    help="PocketSphinx pronunciations (default: british, American and British forms)")
    ap.add_argument("--ps-option", action="append", default=[], metavar="KEY=VALUE",
                    help="any PocketSphinx setting, e.g. beam=1e-60 (repeatable)")
    args = ap.parse_args(argv)

    from safu.runtime.api import DEFAULT_MODEL, load
    model_path = args.model or str(DEFAULT_MODEL)
    from safu.device.voice_builder import with_satellite_place
    model = with_satellite_place(load(model_path))  # as the voice loop reads it (the built-in model's area)
    commands = COMMANDS[: args.limit] if args.limit else COMMANDS
    text_ok = sum(1 for t, i, s in commands
                  if (p := model.predict(t)).intent == i and slots_match(p.slots, s))
    text_oos = sum(1 for t in OUT_OF_SCOPE if model.predict(t).intent is not None)

    os.makedirs(args.cache, exist_ok=True)
    t0 = time.perf_counter()
    items = []
    for kind, entries in (("command", commands), ("oos", [(t, None, {}) for t in OUT_OF_SCOPE])):
        for text, intent, slots in entries:
            for voice, speed in VOICES:  # every sentence, command or not, by every voice
                wav = os.path.join(args.cache, f"{voice}_{speed}_{text.replace(' ', '_')}.wav")
                if not os.path.exists(wav):
                    synthesize(text, voice, speed, wav)
                items.append((kind, text, intent, slots, wav))
    n_cmd = sum(1 for it in items if it[0] == "command")
    n_oos = len(items) - n_cmd
    print(f"{n_cmd} command recordings ({len(commands)} commands x {len(VOICES)} voices/speeds), "
          f"{n_oos} out-of-scope recordings; synthesis {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    options = recognizer_options(args)
    cells = [(mode, snr) for mode in args.modes for snr in args.snr]
    jobs = max(1, args.jobs)
    tasks = [(mode, snr, model_path, list(enumerate(items))[k::jobs], args.cache, options)
             for mode, snr in cells for k in range(jobs)]
    t0 = time.perf_counter()
    print(f"\nmodel {os.path.basename(model_path)}; text only (no speech): command accuracy "
          f"{100 * text_ok / len(commands):.1f}% ({text_ok}/{len(commands)}), "
          f"false actions {100 * text_oos / len(OUT_OF_SCOPE):.1f}% ({text_oos}/{len(OUT_OF_SCOPE)})\n")
    print("| recogniser | SNR | command accuracy | false actions (OOS) | latency median ms | latency p90 ms | ASR real-time factor |")
    print("|---|---|---|---|---|---|---|", flush=True)
    done, parts = [], []
    with multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 else _Serial() as pool:
        for mode, snr, results in pool.imap(run_cell, tasks):  # rows appear as cells finish, in order
            parts.extend(results)
            if len(parts) == len(items):
                results = sorted(parts, key=lambda r: r["index"])
                done.append((mode, snr, results))
                print_row(args.asr, mode, snr, results, args.errors)
                parts = []
    elapsed = time.perf_counter() - t0
    print(f"\n{len(cells)} cells, {elapsed:.0f} s with {jobs} job(s)", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"mode": m, "snr": s, "options": options, "results": r} for m, s, r in done], f)


def recognizer_options(args) -> dict:
    """PocketSphinxConfig fields from the command line (only what was given)."""
    options = {"asr": args.asr, "vad": args.vad, "whisper_threads": args.whisper_threads,
               "processes": args.decoder_processes or max(1, (os.cpu_count() or 1) // max(1, args.jobs))}
    if args.warps:
        options["warps"] = tuple(args.warps)
    if args.all_warps:
        options["warps_by_pitch"] = False
    if args.unbalanced_lm:
        options["balanced_lm"] = False
    if args.max_unseen_trigrams is not None:
        options["max_unseen_trigrams"] = None if args.max_unseen_trigrams < 0 else args.max_unseen_trigrams
    if args.noisy_below_db is not None:
        options["noisy_below_db"] = args.noisy_below_db
    if args.min_agreeing is not None:
        options["min_agreeing"] = args.min_agreeing
    if args.trim_final_word:
        options["trim_final_word"] = True
    if args.accent:
        options["accents"] = args.accent == "british"
    if args.garbage_words:
        from safu.device.command_vocabulary import word_list
        with open(args.garbage_words, encoding="utf-8") as f:
            options["garbage"] = tuple(word_list(f.read()))
    for key, value in (("garbage_mass", args.garbage_mass), ("discount", args.lm_discount),
                       ("language_weight", args.language_weight), ("nbest_margin", args.nbest_margin)):
        if value is not None:
            options[key] = value
    decoder = {}
    for item in args.ps_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--ps-option {item!r}: expected KEY=VALUE")
        decoder[key] = value
    if decoder:
        options["decoder_options"] = decoder
    return options


if __name__ == "__main__":
    main()
