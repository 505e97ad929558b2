"""`safu listen`: voice control, offline. Microphone or recordings -> recognised command -> switched device.

    safu listen                                          # built-in model, PocketSphinx, shipped samples, simulated board
    safu listen --model home.safu --mic --actions actions.yaml
    safu listen --wav a.wav b.wav --asr vosk --vosk-model ~/vosk-model-small-en-us-0.15
    arecord -f S16_LE -r 16000 -c 1 -t raw | safu listen --stdin-pcm

Prints one JSON line per utterance (transcript, intent, confidence, slots, action, timings). The device
package (safu.device) is imported only when this command runs.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "listen", help="recognise spoken commands offline and switch devices",
        description="Recognise spoken commands offline and act on them. With no arguments: the built-in "
                    "model hears the shipped sample recordings and switches a simulated GPIO board.",
        epilog="example: safu listen --mic --actions actions.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="intent model .safu (default: the built-in smart-home model)")
    p.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"], help="intent model backend")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--wav", nargs="+", metavar="FILE", help="16 kHz 16-bit WAV files (default: the shipped samples)")
    src.add_argument("--mic", action="store_true", help="live microphone (sounddevice + PortAudio)")
    src.add_argument("--stdin-pcm", action="store_true", help="raw s16le 16 kHz mono PCM on stdin")
    src.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    p.add_argument("--device", help="microphone: device index or name (default: the system default input)")
    p.add_argument("--asr", default="pocketsphinx", choices=["pocketsphinx", "vosk"], help="recogniser")
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
    p.add_argument("--open-vocabulary", action="store_true",
                   help="do not restrict recognition to the model's sentences (for comparison)")
    p.add_argument("--actions", metavar="YAML", help="actions file (default: the shipped simulated-board demo)")
    p.add_argument("--state-file", help="simulated board state file for the default actions "
                                        "(default: ./safu_gpio_state.json)")
    p.add_argument("--vad", default="webrtc", choices=["webrtc", "energy"], help="voice activity detector")
    p.add_argument("--min-confidence", type=float, help="act only above this confidence (default: the model's threshold)")
    p.set_defaults(func=run_listen)


def _sources(args):
    from safu.device.audio import MicrophoneSource, PcmStreamSource, WavSource
    from safu.device.samples import sample_wavs

    if args.mic:
        device = int(args.device) if args.device and args.device.isdigit() else args.device
        return [MicrophoneSource(device)]
    if args.stdin_pcm:
        return [PcmStreamSource(sys.stdin.buffer)]
    paths = args.wav or sample_wavs()
    return (WavSource(path) for path in paths)  # opened one at a time


def run_listen(args) -> int:
    from safu.device.actions import ActionRunner
    from safu.device.command_vocabulary import sentence_labels, slot_values
    from safu.device.endpointer import Endpointer, make_vad
    from safu.device.pipeline import VoiceLoop
    from safu.device.recognizer import make_recognizer
    from safu.runtime.api import load

    if args.list_devices:
        from safu.device.audio import list_input_devices
        for dev in list_input_devices():
            print(json.dumps(dev))
        return 0
    if args.vosk_model and args.asr != "vosk":
        raise ValueError("--vosk-model is only used with --asr vosk")
    model = load(args.model, backend=args.backend)
    runner = ActionRunner.from_file(args.actions) if args.actions else ActionRunner.default(args.state_file)
    balance_lm = args.asr == "pocketsphinx" and not args.open_vocabulary  # only its language model has weights
    recognizer = make_recognizer(args.asr, sentences=model.sentences, restricted=not args.open_vocabulary,
                                 vosk_model=args.vosk_model, values=slot_values(model),
                                 labels=sentence_labels(model, model.sentences) if balance_lm else None,
                                 warps=tuple(args.warps) if args.warps else None,
                                 processes=args.decoder_processes, pronunciations=args.pronunciations,
                                 accents=None if args.accent is None else args.accent == "british",
                                 min_agreeing=args.min_agreeing)
    loop = VoiceLoop(model, recognizer, runner, Endpointer(make_vad(args.vad)), args.min_confidence)
    done = 0
    try:
        for event in loop.run(_sources(args)):
            print(json.dumps(event), flush=True)
            for step in (event["action"] or {}).get("steps", []):
                if step["ok"]:
                    done += 1
                    print(f"switched: {step['detail']}  <- \"{event['transcript']}\"", file=sys.stderr)
    finally:
        runner.close()
        recognizer.close()
    print(f"{done} action(s) done", file=sys.stderr)
    return 0
