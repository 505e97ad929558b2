"""`safu serve`: safu as a voice service for Home Assistant (Wyoming) and Rhasspy (Hermes MQTT).

    safu serve --wyoming tcp://127.0.0.1:10300                      # built-in model, PocketSphinx
    safu serve --wyoming tcp://0.0.0.0:10300 --model home.safu      # reachable from other machines
    safu serve --wyoming tcp://127.0.0.1:10300 --no-asr             # intent recognition only
    safu serve --hermes mqtt://127.0.0.1:1883                       # hermes/nlu/query -> hermes/intent/<name>
    safu serve --wyoming tcp://127.0.0.1:10300 --model ha.safu --area Kitchen     # a satellite in the kitchen
    safu serve --hermes mqtt://127.0.0.1:1883 --model ha.safu --site-area bedroom=Bedroom

Prints one line on stderr once listening ("safu serve: wyoming listening on tcp://HOST:PORT ...") and a
log line per request. The server packages (wyoming, safu.device) are imported only when this runs.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_HOST = "127.0.0.1"  # nothing is exposed beyond this machine unless the user names a host


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve the model to Home Assistant (Wyoming) or Rhasspy (Hermes MQTT)",
        description="Serve speech-to-text and intent recognition over the Wyoming protocol (Home Assistant: "
                    "Settings > Devices & services > Add integration > Wyoming Protocol) and/or Hermes MQTT.",
        epilog="example: safu serve --wyoming tcp://127.0.0.1:10300",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wyoming", metavar="tcp://HOST:PORT",
                   help="listen for Wyoming clients (host defaults to 127.0.0.1; port 0 picks a free one)")
    p.add_argument("--hermes", metavar="mqtt://HOST:PORT", help="answer Hermes NLU queries on this MQTT broker")
    p.add_argument("--model", default="default", help="intent model .safu (default: the built-in smart-home model)")
    p.add_argument("--backend", default="auto", choices=["auto", "core", "numpy"], help="intent model backend")
    p.add_argument("--language", default="en", help="language announced to clients (default: en)")
    p.add_argument("--no-asr", action="store_true", help="intent recognition only: no speech recogniser")
    p.add_argument("--asr", default="pocketsphinx", choices=["pocketsphinx", "vosk"], help="recogniser")
    p.add_argument("--vosk-model", metavar="DIR", help="unpacked Vosk model directory (for --asr vosk)")
    p.add_argument("--warps", type=float, nargs="+", metavar="W",
                   help="PocketSphinx vocal-tract warps (see safu listen)")
    p.add_argument("--min-agreeing", type=int, metavar="N",
                   help="PocketSphinx: warp decoders that must each hear a command (default 2)")
    p.add_argument("--pronunciations", metavar="FILE",
                   help="PocketSphinx: your own pronunciations, 'word PHONE PHONE ...' lines (see safu listen)")
    p.add_argument("--accent", choices=["american", "british"],
                   help="PocketSphinx pronunciations: 'british' (the default) adds British forms; "
                        "'american': CMUdict's alone")
    p.add_argument("--decoder-processes", type=int, metavar="N",
                   help="PocketSphinx: worker processes for the warp decoders (default: one per CPU core)")
    p.add_argument("--open-vocabulary", action="store_true",
                   help="do not restrict recognition to the model's sentences; transcripts are passed on as heard")
    p.add_argument("--max-clients", type=int, default=32, metavar="N",
                   help="Wyoming connections served at once (default 32)")
    p.add_argument("--max-audio-seconds", type=float, default=30.0, metavar="S",
                   help="longest utterance accepted (default 30 s)")
    p.add_argument("--area", metavar="AREA",
                   help="where the satellite is: commands that name no place ('turn on the lights') are about "
                        "this area (a Home Assistant model: an area of its inventory)")
    p.add_argument("--floor", metavar="FLOOR", help="the satellite's floor, as --area")
    p.add_argument("--site-area", action="append", default=[], metavar="SITE=AREA",
                   help="Hermes: the area of the satellite with this siteId (repeatable; others take --area)")
    p.add_argument("--quiet", action="store_true", help="log only warnings, not every request")
    p.set_defaults(func=run_serve)


def satellite_places(args, model) -> tuple[dict, dict]:
    """(context of --area/--floor, {siteId: area} of --site-area), checked against the model's
    inventory. Raises ValueError naming the option."""
    from safu.runtime.ha_answers import place_context

    context = place_context(model, args.area, None, "--area")
    context.update(place_context(model, None, args.floor, "--floor"))
    sites = {}
    for item in args.site_area:
        site, sep, area = item.partition("=")
        if not sep or not site.strip() or not area.strip():
            raise ValueError(f"--site-area: expected SITE=AREA (for example kitchen-satellite=Kitchen), got {item!r}")
        sites[site.strip()] = place_context(model, area, None, f"--site-area {site.strip()}")["area"]
    return context, sites


def parse_endpoint(uri: str, scheme: str, option: str) -> tuple[str, int]:
    """'tcp://HOST:PORT' -> (host, port); a missing host is 127.0.0.1. Raises ValueError naming the option."""
    parsed = urlparse(uri if "://" in uri else f"{scheme}://{uri}")
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != scheme or port is None or parsed.path not in ("", "/"):
        raise ValueError(f"{option}: expected {scheme}://HOST:PORT (for example {scheme}://127.0.0.1:10300), "
                         f"got {uri!r}")
    return parsed.hostname or DEFAULT_HOST, port


def _recognizer(args, model):
    # The same recogniser `safu listen` builds (runtime/cli_listen.py run_listen).
    from safu.device.command_vocabulary import sentence_labels, slot_values
    from safu.device.recognizer import make_recognizer

    balance_lm = args.asr == "pocketsphinx" and not args.open_vocabulary
    return make_recognizer(args.asr, sentences=model.sentences, restricted=not args.open_vocabulary,
                           vosk_model=args.vosk_model, values=slot_values(model),
                           labels=sentence_labels(model, model.sentences) if balance_lm else None,
                           warps=tuple(args.warps) if args.warps else None,
                           processes=args.decoder_processes, pronunciations=args.pronunciations,
                           accents=None if args.accent is None else args.accent == "british",
                           min_agreeing=args.min_agreeing)


def run_serve(args) -> int:
    import asyncio

    from safu.runtime.api import load

    if not args.wyoming and not args.hermes:
        raise ValueError("nothing to serve: give --wyoming tcp://HOST:PORT and/or --hermes mqtt://HOST:PORT")
    wyoming = parse_endpoint(args.wyoming, "tcp", "--wyoming") if args.wyoming else None
    hermes = parse_endpoint(args.hermes, "mqtt", "--hermes") if args.hermes else None
    if args.max_clients < 1 or args.max_audio_seconds <= 0:
        raise ValueError("--max-clients must be at least 1 and --max-audio-seconds above 0")
    asr_options = (args.vosk_model, args.warps, args.open_vocabulary, args.pronunciations, args.accent,
                   args.min_agreeing, args.decoder_processes)
    if (args.no_asr or not wyoming) and any(option is not None and option is not False for option in asr_options):
        why = "--no-asr serves no speech recogniser" if args.no_asr else "Hermes serves intents only (no audio)"
        raise ValueError(f"{why}; recogniser options such as --warps or --vosk-model do not apply")
    if args.vosk_model and args.asr != "vosk":
        raise ValueError("--vosk-model is only used with --asr vosk")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="safu serve: %(message)s")
    model = load(args.model, backend=args.backend)
    context, sites = satellite_places(args, model)
    if sites and not hermes:
        raise ValueError("--site-area maps Hermes siteIds: give --hermes mqtt://HOST:PORT (Wyoming takes --area)")
    if (context or sites) and model.answers is None:
        print(f"safu serve: note: {args.model} has no Home Assistant answer tables (trained from other data); "
              "--area/--floor/--site-area are not used", file=sys.stderr)
    model_name = "default" if args.model == "default" else Path(args.model).stem
    if wyoming:
        from safu.runtime.wyoming_server import _import_wyoming
        _import_wyoming()  # fail before the recogniser takes seconds to build
    recognizer = None if args.no_asr or not wyoming else _recognizer(args, model)
    try:
        from safu.runtime.wyoming_server import Limits, SpeechService, serve_wyoming

        async def main() -> None:
            stop = asyncio.Event()
            tasks = []
            hermes_service = None
            if hermes:
                from safu.runtime.hermes import HermesService
                hermes_service = HermesService(model, *hermes, context=context, site_areas=sites)
                hermes_service.start()
                print(f"safu serve: hermes connected to mqtt://{hermes[0]}:{hermes[1]} "
                      f"(model {model_name})", file=sys.stderr, flush=True)
            if wyoming:
                limits = Limits(clients=args.max_clients, audio_seconds=args.max_audio_seconds)
                service = SpeechService(model, recognizer, language=args.language, model_name=model_name,
                                        limits=limits, open_vocabulary=args.open_vocabulary, context=context)

                def ready(host: str, port: int) -> None:
                    asr = recognizer.name if recognizer is not None else "none"
                    print(f"safu serve: wyoming listening on tcp://{host}:{port} (model {model_name}, "
                          f"{len(service.intents)} intents, asr {asr})", file=sys.stderr, flush=True)
                    if host not in ("127.0.0.1", "localhost", "::1"):
                        print(f"safu serve: warning: {host} is reachable from other machines; Wyoming has no "
                              "authentication", file=sys.stderr, flush=True)

                tasks.append(asyncio.create_task(serve_wyoming(service, *wyoming, on_ready=ready, stop=stop)))
            try:
                if tasks:
                    await asyncio.gather(*tasks)
                else:
                    await _wait_for_signal(stop)
            finally:
                if hermes_service is not None:
                    hermes_service.stop()

        asyncio.run(main())
    finally:
        if recognizer is not None:
            recognizer.close()
    return 0


async def _wait_for_signal(stop) -> None:
    from safu.runtime.wyoming_server import stop_on_signals

    stop_on_signals(stop)
    await stop.wait()
