"""`safu serve --wyoming` end to end: the real server process on 127.0.0.1, the `wyoming` package's client,
espeak-ng speech, and raw sockets for malformed, oversized, truncated and dropped connections.

One server (built-in model, PocketSphinx in one process, --max-audio-seconds 5) serves the whole module;
after every abuse a normal request on a fresh connection is still answered.
"""
import asyncio
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from device_support import require_program, speak

wyoming = pytest.importorskip("wyoming", reason="the wyoming package is needed (pip install 'safu[wyoming]')")
from wyoming.asr import Transcribe, Transcript  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop, wav_to_chunks  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.event import Event, read_event  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.intent import Intent, NotRecognized, Recognize  # noqa: E402

READY = re.compile(r"wyoming listening on tcp://([\d.]+):(\d+)")


class Server:
    """`safu serve` as a subprocess; stderr goes to a file (a pipe left unread would fill and stall it)."""

    def __init__(self, tmp: Path, *args: str, timeout: float = 180):
        self.log_path = tmp / "serve.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "safu.runtime.cli", "serve", *args],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = READY.search(self.log_path.read_text())
            if found:
                self.host, self.port = found.group(1), int(found.group(2))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"safu serve did not start: {self.log_path.read_text()[-2000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from safu.runtime.api import DEFAULT_MODEL
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"the built-in model is not in this checkout ({DEFAULT_MODEL})")
    srv = Server(tmp_path_factory.mktemp("serve"), "--wyoming", "tcp://:0", "--decoder-processes", "1",
                 "--max-audio-seconds", "5")
    yield srv
    assert srv.stop() == 0, "safu serve did not exit cleanly on SIGTERM"
    log = srv.log_path.read_text()
    assert "Traceback" not in log and "exception" not in log.lower(), log[-3000:]


@pytest.fixture(scope="module")
def kitchen_wav(tmp_path_factory):
    return speak("turn on the kitchen lights", tmp_path_factory.mktemp("speech") / "kitchen.wav")


def run(coro, timeout: float = 120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def ask(port: int, *events: Event) -> Event:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        return await client.read_event()


def assert_still_serving(server):
    assert server.alive()
    answer = run(ask(server.port, Recognize("turn off the bedroom lights").event()))
    assert Intent.is_type(answer.type) and Intent.from_event(answer).name == "HassTurnOff"


def raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def raw_reply(sock: socket.socket):
    """The next event on a raw socket, then whether the server closed the connection after it."""
    stream = sock.makefile("rb")
    event = read_event(stream)
    closed = stream.read(1) == b""
    return event, closed


def header(kind: str, **fields) -> bytes:
    return (json.dumps({"type": kind, **fields}) + "\n").encode()


# ---- the protocol


def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1"
    proc_net = Path("/proc/net/tcp")
    if not proc_net.exists():
        pytest.skip("no /proc/net/tcp to read the listening address from")
    listening = [line.split()[1] for line in proc_net.read_text().splitlines()[1:] if line.split()[3] == "0A"]
    assert f"0100007F:{server.port:04X}" in listening
    assert f"00000000:{server.port:04X}" not in listening


def test_describe_lists_asr_and_intent_with_language_and_intents(server):
    event = run(ask(server.port, Describe().event()))
    info = Info.from_event(event)
    assert [p.name for p in info.asr] == ["safu"] and [p.name for p in info.intent] == ["safu"]
    assert info.asr[0].installed and info.asr[0].models[0].languages == ["en"]
    assert info.intent[0].models[0].languages == ["en"]
    intents = event.data["intent"][0]["models"][0]["intents"]
    assert "HassTurnOn" in intents and "HassTurnOff" in intents and "<none>" not in intents


def test_recognize_gives_intent_with_entities(server):
    event = run(ask(server.port, Recognize("turn on the kitchen lights").event()))
    intent = Intent.from_event(event)
    assert intent.name == "HassTurnOn"
    assert {e.name: e.value for e in intent.entities} == {"area": "Kitchen"}


def test_transcript_in_is_recognized_as_home_assistant_sends_it(server):
    # Home Assistant's Wyoming conversation agent sends the text as a transcript event, with its context
    event = run(ask(server.port, Transcript("turn off the bedroom lights", language="en",
                                            context={"conversation_id": "01J"}).event()))
    assert Intent.from_event(event).name == "HassTurnOff"


def test_recognize_out_of_scope_is_not_recognized(server):
    event = run(ask(server.port, Recognize("who wrote the origin of species").event()))
    assert NotRecognized.is_type(event.type), event


def test_ping(server):
    event = run(ask(server.port, Event("ping", {"text": "hello"})))
    assert event.type == "pong" and event.data["text"] == "hello"


def test_events_up_to_the_bounds_are_read(server):
    big = Event("ping", {"text": "big", "pad": "x" * (250 * 1024)}, payload=bytes(1024 * 1024))
    event = run(ask(server.port, big))  # a 250 KiB data block and a 1 MiB payload, just under the limits
    assert event.type == "pong" and event.data["text"] == "big"


def transcribe_events(wav_path: Path):
    with wave.open(str(wav_path), "rb") as wav:
        return [Transcribe(language="en").event()] + [e.event() for e in wav_to_chunks(
            wav, 1024, start_event=True, stop_event=True)]


def test_transcribe_espeak_speech(server, kitchen_wav):
    event = run(ask(server.port, *transcribe_events(kitchen_wav)))
    transcript = Transcript.from_event(event)
    assert transcript.text == "turn on the kitchen lights" and transcript.language == "en"


def test_transcribe_converts_rate_width_and_channels(server, kitchen_wav, tmp_path):
    sox = require_program("sox", "sox")
    other = tmp_path / "kitchen_22k_stereo_32bit.wav"
    subprocess.run([sox, str(kitchen_wav), "-r", "22050", "-c", "2", "-b", "32", "-t", "wavpcm", str(other)],
                   check=True)  # wavpcm: a plain PCM header, which Python's wave module reads
    with wave.open(str(other)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (22050, 2, 4)
    event = run(ask(server.port, *transcribe_events(other)))
    assert Transcript.from_event(event).text == "turn on the kitchen lights"


def test_transcribe_silence_is_empty_with_a_reason(server):
    silence = AudioChunk(16000, 2, 1, bytes(32000))
    event = run(ask(server.port, Transcribe().event(), AudioStart(16000, 2, 1).event(), silence.event(),
                    AudioStop().event()))
    transcript = Transcript.from_event(event)
    assert transcript.text == "" and transcript.context["safu_reason"]


def test_two_clients_transcribing_at_once_and_one_asking_meanwhile(server, kitchen_wav):
    async def together():
        return await asyncio.gather(ask(server.port, *transcribe_events(kitchen_wav)),
                                    ask(server.port, *transcribe_events(kitchen_wav)),
                                    ask(server.port, Recognize("turn off the bedroom lights").event()))

    first, second, text = run(together())
    assert Transcript.from_event(first).text == Transcript.from_event(second).text == "turn on the kitchen lights"
    assert Intent.from_event(text).name == "HassTurnOff"


def test_unsupported_audio_format_is_refused_clearly(server):
    async def three_channels():
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            for event in (Transcribe().event(), AudioStart(16000, 2, 3).event(),
                          AudioChunk(16000, 2, 3, bytes(600)).event(), AudioStop().event()):
                await client.write_event(event)
            return await client.read_event(), await client.read_event()

    error, empty = run(three_channels())
    assert error.type == "error" and "3 channels not supported" in error.data["text"]
    assert Transcript.from_event(empty).text == ""  # its chunks were dropped, its end answered
    event = run(ask(server.port, Transcribe().event(), AudioStart(16000, 2, 1).event(),
                    AudioChunk(16000, 2, 1, b"\x00\x01\x02").event()))
    assert event.type == "error" and "not a whole number of 2-byte frames" in event.data["text"]
    event = run(ask(server.port, Transcribe(language="de").event()))
    assert event.type == "error" and "language 'de' not served" in event.data["text"]
    assert_still_serving(server)


# ---- bounds, malformed input, dropped clients


def test_audio_longer_than_the_limit_is_refused_and_the_connection_goes_on(server):
    async def go():
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(Transcribe().event())
            await client.write_event(AudioStart(16000, 2, 1).event())
            for _ in range(12):  # 6 s of silence, the server's limit is 5 s
                await client.write_event(AudioChunk(16000, 2, 1, bytes(16000)).event())
            await client.write_event(AudioStop().event())
            error, empty = await client.read_event(), await client.read_event()
            await client.write_event(Recognize("turn on the kitchen lights").event())
            return error, empty, await client.read_event()

    error, empty, answer = run(go())
    assert error.type == "error" and "longer than the limit of 5 s" in error.data["text"]
    transcript = Transcript.from_event(empty)  # for a client that waits for one, as Home Assistant does
    assert transcript.text == "" and "longer than the limit" in transcript.context["safu_reason"]
    assert Intent.from_event(answer).name == "HassTurnOn"  # nothing else came between: the stream was dropped


def test_bad_field_gets_an_error_and_the_connection_goes_on(server):
    async def go():
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(Event("recognize", {"text": 123}))
            error = await client.read_event()
            await client.write_event(Event("recognize", {}))
            missing = await client.read_event()
            await client.write_event(Event("recognize", {"text": "x" * 5000}))
            long = await client.read_event()
            await client.write_event(Event("no-such-event", {"x": 1}))  # dropped, as the protocol asks
            await client.write_event(Describe().event())
            return error, missing, long, await client.read_event()

    error, missing, long, info = run(go())
    assert error.type == "error" and "'text' must be str" in error.data["text"]
    assert missing.type == "error" and "needs the field 'text'" in missing.data["text"]
    assert long.type == "error" and "exceeds the limit of 2000" in long.data["text"]
    assert info.type == "info"


@pytest.mark.parametrize("junk, message", [
    (b"this is not json\n", "header line is not valid JSON"),
    (b"[1, 2, 3]\n", "must be a JSON object"),
    (b'{"data": {}}\n', "needs a 'type' string"),
    (b'{"type": "recognize", "data": "turn on the light"}\n', "'data' must be a JSON object"),
    (b"\xff\xfe\n", "not valid JSON"),
    (b"[" * 50000 + b"\n", "not valid JSON"),
    (header("recognize", data_length=-1), "non-negative integer"),
    (header("recognize", data_length="12"), "non-negative integer"),
    (header("recognize", data_length=3) + b"{1}", "recognize data is not valid JSON"),
    (header("audio-chunk", payload_length=10**9), "payload_length 1000000000 exceeds the limit"),
    (header("recognize", data_length=10**8), "data_length 100000000 exceeds the limit"),
    (b"{" + b" " * (70 * 1024), "header line longer than 65536 bytes"),
], ids=["text", "array", "no-type", "string-data", "bad-utf8", "deep-nesting", "negative-length", "string-length",
        "bad-data", "huge-payload", "huge-data", "huge-header"])
def test_broken_frames_get_an_error_and_are_closed(server, junk, message):
    with raw(server.port) as sock:
        sock.sendall(junk)
        event, closed = raw_reply(sock)
    assert event is not None and event.type == "error" and message in event.data["text"], event
    assert closed
    assert_still_serving(server)


@pytest.mark.parametrize("partial", [
    b'{"type": "recogn',                                              # inside the header line
    header("recognize", data_length=40) + b'{"text": "tu',           # inside the data
    header("audio-chunk", payload_length=2048, data={"rate": 16000, "width": 2, "channels": 1}) + bytes(100),
], ids=["header", "data", "payload"])
def test_truncated_events_and_dropped_clients_are_survived(server, partial):
    with raw(server.port) as sock:
        sock.sendall(partial)
        sock.shutdown(socket.SHUT_WR)
        event, closed = raw_reply(sock)
    assert event.type == "error" and "truncated" in event.data["text"] and closed
    assert_still_serving(server)


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashed or lost its network would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_client_dropped_mid_audio_and_mid_transcription(server, kitchen_wav):
    events = transcribe_events(kitchen_wav)
    wire = bytearray()
    for event in events:
        data = json.dumps(event.data).encode()
        head = {"type": event.type, "data_length": len(data)}
        if event.payload:
            head["payload_length"] = len(event.payload)
        wire += json.dumps(head).encode() + b"\n" + data + (event.payload or b"")
    sock = raw(server.port)
    sock.sendall(bytes(wire[: len(wire) // 2]))  # half the audio, then gone
    reset(sock)
    sock = raw(server.port)
    sock.sendall(bytes(wire))  # the whole utterance; gone while it is being recognised
    reset(sock)
    time.sleep(0.5)
    assert_still_serving(server)
    event = run(ask(server.port, *events))  # and the recogniser still works
    assert Transcript.from_event(event).text == "turn on the kitchen lights"


def test_several_clients_at_once_while_one_stalls(server):
    stalled = raw(server.port)
    stalled.sendall(header("audio-start", data={"rate": 16000, "width": 2, "channels": 1})
                    + b'{"type": "audio-chunk", "payload_len')  # half a header, then nothing

    async def many():
        sentences = ["turn on the kitchen lights", "turn off the bedroom lights", "turn on the kitchen lights",
                     "turn off the bedroom lights", "turn on the kitchen lights", "turn off the bedroom lights"]
        answers = await asyncio.gather(*(ask(server.port, Recognize(s).event()) for s in sentences))
        return [Intent.from_event(a).name for a in answers]

    try:
        assert run(many(), timeout=30) == ["HassTurnOn", "HassTurnOff"] * 3
    finally:
        stalled.close()


# ---- the command line


def test_client_limit_and_loopback_default(tmp_path):
    srv = Server(tmp_path, "--wyoming", "tcp://:0", "--no-asr", "--max-clients", "2", "--quiet")
    try:
        assert srv.host == "127.0.0.1"
        held = [raw(srv.port), raw(srv.port)]
        for sock in held:  # both being served before the third arrives
            sock.sendall(header("ping", data={"text": "held"}))
            assert read_event(sock.makefile("rb")).type == "pong"
        with raw(srv.port) as third:
            event, closed = raw_reply(third)
        assert event.type == "error" and "server busy: 2 clients" in event.data["text"] and closed
        for sock in held:
            sock.close()
        deadline = time.time() + 10  # the server notices the closed connections and has room again
        while (answer := run(ask(srv.port, Describe().event()))).type == "error" and time.time() < deadline:
            time.sleep(0.1)
        info = Info.from_event(answer)
        assert info.asr == [] and info.intent[0].models[0].name == "default"
        event = run(ask(srv.port, Transcribe().event()))
        assert event.type == "error" and "no speech recogniser" in event.data["text"]
    finally:
        assert srv.stop() == 0
    assert "Traceback" not in srv.log_path.read_text()


def test_stops_cleanly_with_clients_connected(tmp_path):
    srv = Server(tmp_path, "--wyoming", "tcp://127.0.0.1:0", "--no-asr")
    socks = [raw(srv.port) for _ in range(3)]
    socks[0].sendall(header("recognize", data_length=100) + b'{"te')  # in the middle of an event
    socks[1].sendall(header("ping"))
    assert read_event(socks[1].makefile("rb")).type == "pong"
    try:
        assert srv.stop() == 0
    finally:
        for sock in socks:
            sock.close()
    log = srv.log_path.read_text()
    assert "Traceback" not in log and "Exception" not in log, log


def test_cli_errors_are_one_clear_line():
    def serve(*args):
        return subprocess.run([sys.executable, "-m", "safu.runtime.cli", "serve", *args], capture_output=True,
                              text=True, timeout=120)

    r = serve()
    assert r.returncode == 2 and "nothing to serve" in r.stderr
    r = serve("--wyoming", "http://127.0.0.1:10300")
    assert r.returncode == 2 and "--wyoming: expected tcp://HOST:PORT" in r.stderr and "Traceback" not in r.stderr
    r = serve("--wyoming", "tcp://127.0.0.1")
    assert r.returncode == 2 and "--wyoming: expected tcp://HOST:PORT" in r.stderr
    r = serve("--wyoming", "tcp://127.0.0.1:0", "--no-asr", "--warps", "1.0")
    assert r.returncode == 2 and "recogniser options such as --warps" in r.stderr
    r = serve("--wyoming", "tcp://127.0.0.1:0", "--model", "/nonexistent/home.safu", "--no-asr")
    assert r.returncode == 2 and "home.safu" in r.stderr and "Traceback" not in r.stderr


def test_satellite_area_is_passed_to_predict_and_an_event_context_wins(tmp_path):
    """--area is where the satellite is: 'turn on the lights' is about that area (a Home Assistant
    model); a recognize event's own context names another; a place the inventory lacks is refused."""
    from ha_support import train_small_ha_model

    model = train_small_ha_model(tmp_path)
    srv = Server(tmp_path, "--wyoming", "tcp://:0", "--no-asr", "--model", str(model), "--area", "kitchen")
    try:
        def entities(event):
            assert Intent.is_type(event.type), event
            return {e.name: e.value for e in Intent.from_event(event).entities}

        assert entities(run(ask(srv.port, Recognize("turn on the lights").event()))) == \
            {"domain": "light", "area": "Kitchen"}
        assert entities(run(ask(srv.port, Event("recognize", {"text": "turn off the lights",
                                                              "context": {"area": "Bedroom"}})))) == \
            {"domain": "light", "area": "Bedroom"}
        assert entities(run(ask(srv.port, Recognize("turn on the living room lights").event()))) == \
            {"area": "Living Room", "domain": "light"}
        bad = run(ask(srv.port, Event("recognize", {"text": "turn on the lights", "context": "Kitchen"})))
        assert bad.type == "error" and "'context' must be an object" in bad.data["text"]
    finally:
        assert srv.stop() == 0
    unknown = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "serve", "--wyoming", "tcp://:0", "--no-asr",
                              "--model", str(model), "--area", "Attic"], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2
    assert "--area: 'Attic' is not an area of the model's inventory; expected one of Bedroom, Kitchen, Living Room" \
        in unknown.stderr
