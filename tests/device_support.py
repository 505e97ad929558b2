"""Helpers for the device tests (imported by tests/test_device_*.py; not a test module itself).

Real components only: a mosquitto broker on a random localhost port, espeak-ng speech, a small intent
model trained from tests/fixtures/data/ha. Each helper skips the calling test, with the reason, when its
program is missing (CI installs them from .ci/apt/device.txt).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The public data sets: $SAFU_SHARED_DATA, else <repo>/../shared/data (the CI layout), as conftest.shared_data.
SHARED_DATA = Path(os.environ.get("SAFU_SHARED_DATA") or REPO.parent / "shared" / "data")
MOSQUITTO_PATHS = ["mosquitto", "/usr/sbin/mosquitto"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_program(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        pytest.skip(f"{name} not installed (apt-get install {package}; listed in .ci/apt/device.txt)")
    return path


class Broker:
    """A real mosquitto on 127.0.0.1:<random port>, config file in a temp dir."""

    def __init__(self, tmp: Path, port: int | None = None):
        exe = require_program("mosquitto", "mosquitto")
        self.port = port or free_port()
        conf = tmp / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.log = open(tmp / "mosquitto.log", "w")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.log.close()


class Subscriber:
    """Collects (topic, payload) messages from the broker in a background paho loop."""

    def __init__(self, port: int, topic: str = "#"):
        import paho.mqtt.client as mqtt
        self.messages: list[tuple[str, str, bool]] = []
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}")

        def on_connect(c, userdata, flags, rc, props):
            c.subscribe(topic, qos=1)

        def on_subscribe(c, userdata, mid, rcs, props):
            self._ready.set()

        def on_message(c, userdata, msg):
            self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))

        self.client.on_connect, self.client.on_subscribe, self.client.on_message = on_connect, on_subscribe, on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._ready.wait(5), "subscriber could not subscribe"

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        deadline = time.time() + timeout
        while len(self.messages) < count and time.time() < deadline:
            time.sleep(0.02)
        return list(self.messages)

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def speak(text: str, out: Path, voice: str = "en-us", speed: int = 150) -> Path:
    """espeak-ng -> sox -> 16 kHz 16-bit mono WAV with 0.3 s / 0.6 s of silence around the speech."""
    espeak = require_program("espeak-ng", "espeak-ng")
    sox = require_program("sox", "sox")
    raw = out.with_suffix(".raw.wav")
    subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run([sox, str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out), "pad", "0.3", "0.6"], check=True)
    raw.unlink()
    return out


def fixture_model_path(tmp_dir: Path) -> Path:
    """A small model trained from the committed HA fixture (lights, fan, thermostat), ~2 s."""
    import safu
    fx = REPO / "tests" / "fixtures" / "data" / "ha"
    path = tmp_dir / "fixture_home.safu"
    safu.train([str(fx)], output=str(path), inventory=str(fx / "inventory.yaml"))
    return path


KITCHEN_NOISE = SHARED_DATA / "picovoice-coffee" / "kitchen_noise.flac"


def noise_wav(kind: str, seconds: float, out: Path, volume: float = 0.3) -> Path:
    """sox -> 16 kHz 16-bit mono WAV of `kind` noise ("whitenoise", "pinknoise", "brownnoise")."""
    sox = require_program("sox", "sox")
    subprocess.run([sox, "-n", "-r", "16000", "-c", "1", "-b", "16", str(out), "synth", str(seconds), kind,
                    "vol", str(volume)], check=True)
    return out


def kitchen_noise_wav(out: Path, start_s: float = 0.0, seconds: float = 10.0) -> Path:
    """A slice of the shared kitchen recording as 16 kHz 16-bit mono WAV (skips when the data is absent)."""
    sox = require_program("sox", "sox")
    path = Path(os.environ.get("SAFU_KITCHEN_NOISE", KITCHEN_NOISE))
    if not path.exists():
        pytest.skip(f"kitchen noise recording not found ({path}; set SAFU_KITCHEN_NOISE)")
    subprocess.run([sox, str(path), "-r", "16000", "-c", "1", "-b", "16", str(out), "trim", str(start_s),
                    str(seconds)], check=True)
    return out


def read_wav(path: Path):
    """float32 samples of a 16 kHz 16-bit WAV."""
    from safu.device.audio import WavSource
    source = WavSource(str(path))
    try:
        return source.read(10 ** 8)
    finally:
        source.close()


def pcm_bytes(samples) -> bytes:
    from safu.device.audio import float_to_pcm16
    return float_to_pcm16(samples)
