"""runtime/wyoming_server.py: safu as a Wyoming server (Home Assistant's protocol for voice services).

    service = SpeechService.create(load("default"), recognizer)       # recognizer None: intent only
    asyncio.run(serve_wyoming(service, "127.0.0.1", 10300))

Events (the `wyoming` package's types; protocol: a JSON header line, optional JSON data, optional payload):
- `describe` -> `info`: an asr program (when a recogniser is loaded) and an intent program, each with one
  model carrying the language; the intent model also lists its intents (an extra `intents` field, which
  clients that do not know it skip).
- `transcribe`, `audio-start`, `audio-chunk`..., `audio-stop` -> `transcript`. Audio in any rate, 8-32 bit
  width, mono or stereo is converted to 16 kHz 16-bit mono (wyoming.audio.AudioChunkConverter) and heard by
  the recogniser and voice loop `safu listen` uses (device.pipeline.VoiceLoop, no actions). Speech the loop
  would not act on (out of vocabulary, out of scope, decoders that disagree) comes back as an empty text,
  with the reason in the transcript's context (`safu_reason`), so the forced words of a restricted
  recogniser are never handed on as a command.
- `recognize`, or a `transcript` sent to the server (what Home Assistant's Wyoming conversation agent
  sends) -> `intent` (name, entities from the slots) or `not-recognized`. The satellite's area and floor
  (SpeechService context, `safu serve --area/--floor`) are passed to predict, an event's own
  `context: {"area": ..., "floor": ...}` winning over them: "turn on the lights" is about that area.
- `ping` -> `pong`. Other event types are dropped, as the protocol asks of servers.

Every message is bounded (Limits): the header line, the data and payload lengths it declares, the audio
of one utterance, the text to recognise, the time a started event may take to arrive and the number of
clients at once. A broken frame (bad JSON, a header or payload over its bound, a truncated event, bad
lengths) gets an `error` event and the connection is closed; a well-framed event with bad fields gets an
`error` event and the connection goes on. Clients are served concurrently (asyncio); the recogniser, which
decodes one utterance at a time, runs in a worker thread so text requests are answered meanwhile.
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

log = logging.getLogger("safu.serve")

TARGET_RATE = 16000  # what both recognisers read: 16 kHz, 16-bit, mono


def _import_wyoming():
    try:
        import wyoming  # noqa: F401
    except ImportError as exc:
        raise ImportError("safu serve --wyoming needs the 'wyoming' package: pip install 'safu[wyoming]'") from exc


@dataclass
class Limits:
    header_bytes: int = 64 * 1024        # one JSON header line (wyoming headers are well under 1 KiB)
    data_bytes: int = 256 * 1024         # the JSON data block a header declares (data_length)
    payload_bytes: int = 1024 * 1024     # one event's binary payload (HA sends 2 KiB audio chunks)
    audio_seconds: float = 30.0          # audio of one utterance, measured in its own format
    text_chars: int = 2000               # text of one `recognize`
    clients: int = 32                    # connections served at once; more are refused with an error
    idle_seconds: float = 600.0          # silence allowed between events before the connection is closed
    event_seconds: float = 30.0          # time the rest of an event may take once its header arrived


class ProtocolError(Exception):
    """A broken frame: the connection cannot be read further. Answered with an error, then closed."""

    def __init__(self, text: str, code: str):
        super().__init__(text)
        self.code = code


class BadEvent(Exception):
    """A well-framed event with bad fields: answered with an error, the connection goes on."""

    def __init__(self, text: str, code: str = "bad-event"):
        super().__init__(text)
        self.code = code


def _length(header: dict, key: str, bound: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"header field {key!r} must be a non-negative integer, got {value!r}", "bad-header")
    if value > bound:
        raise ProtocolError(f"{key} {value} exceeds the limit of {bound} bytes", "too-large")
    return value


def _json_object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ProtocolError(f"{what} is not valid JSON: {str(exc)[:120]}", "bad-json") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a JSON object, got {type(value).__name__}", "bad-json")
    return value


async def read_event(reader: asyncio.StreamReader, limits: Limits):
    """The next event, or None at a clean end of stream. Raises ProtocolError (the stream can not be read
    on), asyncio.TimeoutError (idle or a stalled event) or ConnectionError (client gone)."""
    from wyoming.event import Event

    try:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), limits.idle_seconds)
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ProtocolError("truncated event: the stream ended inside a header line", "truncated") from None
        return None
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"header line longer than {limits.header_bytes} bytes", "too-large") from None
    header = _json_object(line, "header line")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise ProtocolError("header needs a 'type' string of 1-64 characters", "bad-header")
    data = header.get("data")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ProtocolError("header field 'data' must be a JSON object", "bad-header")
    data_length = _length(header, "data_length", limits.data_bytes)
    payload_length = _length(header, "payload_length", limits.payload_bytes)
    try:
        if data_length:
            extra = await asyncio.wait_for(reader.readexactly(data_length), limits.event_seconds)
            data = {**data, **_json_object(extra, f"{kind} data")}
        payload = None
        if payload_length:
            payload = await asyncio.wait_for(reader.readexactly(payload_length), limits.event_seconds)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(f"truncated {kind} event: {len(exc.partial)} of {exc.expected} bytes arrived",
                            "truncated") from None
    return Event(type=kind, data=data, payload=payload)


def _field(data: dict, name: str, kind: type | tuple, required: bool = True, event: str = ""):
    value = data.get(name)
    if value is None:
        if required:
            raise BadEvent(f"{event} needs the field {name!r}", "missing-field")
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BadEvent(f"{event} field {name!r} must be {expected}, got {value!r:.60}", "bad-field")
    return value


def _event_context(data: dict, limits: "Limits", event: str) -> dict:
    """The area/floor an event's optional `context` object names (other keys are ignored)."""
    context = data.get("context")
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise BadEvent(f"{event} field 'context' must be an object, got {type(context).__name__}", "bad-field")
    out = {}
    for key in ("area", "floor"):
        value = context.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limits.text_chars:
            raise BadEvent(f"{event} context.{key} must be a string of at most {limits.text_chars} characters",
                           "bad-field")
        if value.strip():
            out[key] = value.strip()
    return out


@dataclass
class AudioFormat:
    rate: int
    width: int
    channels: int

    @classmethod
    def from_data(cls, data: dict, event: str) -> "AudioFormat":
        rate = _field(data, "rate", int, event=event)
        width = _field(data, "width", int, event=event)
        channels = _field(data, "channels", int, event=event)
        if not 8000 <= rate <= 192000:
            raise BadEvent(f"{event}: rate {rate} Hz not supported (expected 8000-192000)", "bad-audio-format")
        if width not in (1, 2, 3, 4):
            raise BadEvent(f"{event}: width {width} bytes not supported (expected 1, 2, 3 or 4)", "bad-audio-format")
        if channels not in (1, 2):
            raise BadEvent(f"{event}: {channels} channels not supported (expected 1 or 2)", "bad-audio-format")
        return cls(rate, width, channels)

    @property
    def frame_bytes(self) -> int:
        return self.width * self.channels


@dataclass
class Utterance:
    """One audio stream between audio-start and audio-stop, converted to 16 kHz 16-bit mono as it arrives."""
    fmt: AudioFormat | None
    converter: Any
    chunks: list = field(default_factory=list)
    seconds: float = 0.0
    failed: str = ""  # why, once an error was sent; the rest of the stream is dropped until audio-stop


class SpeechService:
    """What every connection shares: the intent model, the recogniser (or None) and the info to describe."""

    def __init__(self, model, recognizer=None, language: str = "en", model_name: str = "default",
                 limits: Limits | None = None, open_vocabulary: bool = False, context: dict | None = None):
        self.model = model
        self.context = dict(context or {})   # the satellite's area/floor, passed to every predict
        self.recognizer = recognizer
        self.language = language
        self.model_name = model_name
        self.limits = limits or Limits()
        self.open_vocabulary = open_vocabulary
        self.loop = None  # the voice loop of `safu listen`, without actions
        if recognizer is not None:
            from safu.device.pipeline import VoiceLoop
            from safu.runtime.ha_answers import WithContext
            self.loop = VoiceLoop(WithContext(model, self.context) if self.context else model, recognizer)
        self.asr_lock = asyncio.Lock()  # one utterance in the recogniser at a time
        self.intents = [name for name in model.intents if not name.startswith("<")]
        self.info = self._info_event()

    def _info_event(self):
        from wyoming.info import AsrModel, AsrProgram, Attribution, Info, IntentModel, IntentProgram

        from safu import __version__

        @dataclass
        class ModelWithIntents(IntentModel):  # here: wyoming is imported only once a server starts
            intents: list = field(default_factory=list)

        safu_attr = Attribution(name="safu", url="")
        asr = []
        if self.recognizer is not None:
            engine = self.recognizer.name
            scope = "open vocabulary" if not self.recognizer.restricted else "restricted to the model's sentences"
            asr.append(AsrProgram(
                name="safu", attribution=safu_attr, installed=True, version=__version__,
                description=f"safu offline speech recognition ({engine}, {scope})",
                models=[AsrModel(name=f"{self.model_name}-{engine}", attribution=safu_attr, installed=True,
                                 description=f"{engine} for the {self.model_name} intent model",
                                 version=__version__, languages=[self.language])]))
        intent = [IntentProgram(
            name="safu", attribution=safu_attr, installed=True, version=__version__,
            description="safu offline intent recognition",
            models=[ModelWithIntents(name=self.model_name, attribution=safu_attr, installed=True,
                                     description=f"{len(self.intents)} intents", version=__version__,
                                     languages=[self.language], intents=self.intents)])]
        return Info(asr=asr, intent=intent).event()

    def language_ok(self, language: str | None) -> bool:
        return language is None or language.replace("_", "-").split("-")[0].lower() == self.language.lower()

    def recognize(self, text: str, context: dict | None = None):
        """text -> wyoming Intent or NotRecognized event. `context`: the event's own area/floor,
        over the server's (--area/--floor)."""
        from wyoming.intent import Entity, Intent, NotRecognized

        merged = {**self.context, **(context or {})}
        prediction = self.model.predict(text, context=merged or None)
        if prediction.intent is None:
            log.info("recognize %r -> not recognized (%s)", text[:80], prediction.reason)
            return NotRecognized(text="Sorry, I did not understand that.").event()
        entities = [Entity(name=name, value=value) for name, value in prediction.slots.items()]
        log.info("recognize %r -> %s %s (%.3f)", text[:80], prediction.intent, prediction.slots, prediction.confidence)
        return Intent(name=prediction.intent, entities=entities).event()

    def transcribe(self, samples: np.ndarray) -> tuple[str, str | None]:
        """16 kHz float32 mono -> (text, reason it is empty or None). Blocking: call from a worker thread."""
        from safu.device.endpointer import Utterance as Speech

        seconds = len(samples) / TARGET_RATE
        event = self.loop.handle(Speech(samples, 0.0, seconds, seconds, "end_of_stream"), "wyoming")
        if event.get("error"):
            log.warning("transcription failed: %s", event["error"])
            return "", event["error"]
        heard = event["asr"]["accepted"] and event["transcript"]
        acted_on = event["intent"] is not None and event["reason"] == "no actions configured"
        if heard and (self.open_vocabulary or acted_on):
            return event["transcript"], None
        return "", event["reason"] or "nothing heard"


class Connection:
    """One client: reads events one at a time, answers each."""

    def __init__(self, service: SpeechService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.service = service
        self.limits = service.limits
        self.reader, self.writer = reader, writer
        self.utterance: Utterance | None = None
        self.peer = writer.get_extra_info("peername")

    async def send(self, event) -> None:
        from wyoming.event import async_write_event

        await async_write_event(event, self.writer)

    async def send_error(self, text: str, code: str) -> None:
        from wyoming.error import Error

        log.warning("client %s: %s", self.peer, text)
        try:
            await self.send(Error(text=text, code=code).event())
        except (ConnectionError, RuntimeError):
            pass

    async def run(self) -> None:
        try:
            while True:
                try:
                    event = await read_event(self.reader, self.limits)
                except ProtocolError as exc:
                    await self.send_error(str(exc), exc.code)
                    return
                if event is None:
                    return
                try:
                    await self.handle(event)
                except BadEvent as exc:
                    await self.send_error(str(exc), exc.code)
        except asyncio.TimeoutError:
            await self.send_error("timed out waiting for the client", "timeout")
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("client %s dropped the connection", self.peer)
        finally:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def handle(self, event) -> None:
        kind, data = event.type, event.data
        if kind == "describe":
            await self.send(self.service.info)
        elif kind == "ping":
            from wyoming.ping import Pong
            await self.send(Pong(text=data.get("text") if isinstance(data.get("text"), str) else None).event())
        elif kind in ("recognize", "transcript"):
            text = _field(data, "text", str, event=kind)
            if len(text) > self.limits.text_chars:
                raise BadEvent(f"recognize text of {len(text)} characters exceeds the limit of "
                               f"{self.limits.text_chars}", "too-large")
            await self.send(self.service.recognize(text, _event_context(data, self.limits, kind)))
        elif kind == "transcribe":
            self._need_asr()
            language = _field(data, "language", str, required=False, event=kind)
            if not self.service.language_ok(language):
                raise BadEvent(f"language {language!r} not served (this model: {self.service.language!r})",
                               "unsupported-language")
        elif kind == "audio-start":
            self._need_asr()
            from wyoming.audio import AudioChunkConverter
            try:
                fmt = AudioFormat.from_data(data, kind)
            except BadEvent as exc:  # its chunks are dropped and its audio-stop answered with an empty text
                self.utterance = Utterance(None, None, failed=str(exc))
                raise
            self.utterance = Utterance(fmt, AudioChunkConverter(rate=TARGET_RATE, width=2, channels=1))
        elif kind == "audio-chunk":
            self._chunk(event)
        elif kind == "audio-stop":
            await self._finish()
        else:
            log.debug("client %s: dropped unknown event %r", self.peer, kind)

    def _need_asr(self) -> None:
        if self.service.recognizer is None:
            raise BadEvent("this server has no speech recogniser (started with --no-asr)", "no-asr")

    def _chunk(self, event) -> None:
        from wyoming.audio import AudioChunk

        utt = self.utterance
        if utt is None:
            raise BadEvent("audio-chunk before audio-start", "no-audio-start")
        if utt.failed:
            return
        try:
            fmt = AudioFormat.from_data(event.data, "audio-chunk")
            if fmt != utt.fmt:
                raise BadEvent(f"audio-chunk format {fmt} differs from audio-start's {utt.fmt}", "bad-audio-format")
            audio = event.payload or b""
            if len(audio) % fmt.frame_bytes:
                raise BadEvent(f"audio-chunk of {len(audio)} bytes is not a whole number of "
                               f"{fmt.frame_bytes}-byte frames", "bad-audio")
            utt.seconds += len(audio) / (fmt.frame_bytes * fmt.rate)
            if utt.seconds > self.limits.audio_seconds:
                raise BadEvent(f"utterance longer than the limit of {self.limits.audio_seconds:g} s of audio",
                               "too-long")
        except BadEvent as exc:
            utt.failed, utt.chunks = str(exc), []
            raise
        converted = utt.converter.convert(AudioChunk(fmt.rate, fmt.width, fmt.channels, audio))
        utt.chunks.append(converted.audio)

    async def _finish(self) -> None:
        from wyoming.asr import Transcript

        from safu.device.audio import pcm16_to_float

        utt, self.utterance = self.utterance, None
        if utt is None:
            raise BadEvent("audio-stop before audio-start", "no-audio-start")
        if utt.failed:  # the error went out when it happened; a client waiting for a transcript gets one
            await self.send(Transcript(text="", language=self.service.language,
                                       context={"safu_reason": utt.failed}).event())
            return
        samples = pcm16_to_float(b"".join(utt.chunks))
        async with self.service.asr_lock:
            text, reason = await asyncio.to_thread(self.service.transcribe, samples)
        log.info("transcribe %.2f s -> %r%s", len(samples) / TARGET_RATE, text, f" ({reason})" if reason else "")
        context = {"safu_reason": reason} if reason else None
        await self.send(Transcript(text=text, language=self.service.language, context=context).event())


async def serve_wyoming(service: SpeechService, host: str, port: int,
                        on_ready: Callable[[str, int], None] | None = None,
                        stop: asyncio.Event | None = None) -> None:
    """Serves until `stop` is set or SIGTERM/SIGINT arrives. on_ready(host, port) once listening."""
    _import_wyoming()
    limits = service.limits
    active: set[asyncio.Task] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(service, reader, writer)
        if len(active) >= limits.clients:
            await conn.send_error(f"server busy: {limits.clients} clients already connected", "busy")
            writer.close()
            return
        task = asyncio.current_task()
        active.add(task)
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass  # shutting down; asyncio's stream callback would log a cancelled task as an error
        finally:
            active.discard(task)

    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    server = await asyncio.start_server(on_client, host=host, port=port, limit=limits.header_bytes)
    bound_port = server.sockets[0].getsockname()[1]
    if on_ready:
        on_ready(host, bound_port)
    async with server:
        await stop.wait()
        server.close()
        for task in list(active):
            task.cancel()
        if active:
            await asyncio.wait(list(active), timeout=5)


def stop_on_signals(stop) -> None:
    """SIGTERM and SIGINT set `stop` (an asyncio.Event) in the running loop, where signals can be caught."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals on this platform
