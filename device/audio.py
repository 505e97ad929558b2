"""device/audio.py: where the samples come from (16 kHz mono float32 in [-1, 1]).

    src = WavSource("command.wav")          # or MicrophoneSource(device=None), PcmStreamSource(sys.stdin.buffer)
    while len(block := src.read(480)):
        ...
    src.close()

Every source has `.sample_rate` (always 16000), `.name`, `.read(n) -> float32[<= n]` (an empty array means
the stream has ended) and `.close()`. The microphone needs the optional `sounddevice` package and the
PortAudio library; both are imported only when a MicrophoneSource is created, so WAV and stdin work
without them.
"""
from __future__ import annotations

import queue
import wave
from typing import BinaryIO, Protocol

import numpy as np

SAMPLE_RATE = 16000  # what the recognisers' acoustic models expect


class AudioError(OSError):
    """A source could not be opened or read (missing file, wrong format, no device, no PortAudio)."""


class AudioSource(Protocol):
    sample_rate: int
    name: str

    def read(self, n: int) -> np.ndarray: ...

    def close(self) -> None: ...


def pcm16_to_float(raw: bytes) -> np.ndarray:
    """Little-endian signed 16-bit PCM -> float32 in [-1, 1). A trailing odd byte is dropped."""
    usable = len(raw) - (len(raw) % 2)
    return np.frombuffer(raw[:usable], dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> little-endian 16-bit PCM bytes (clipped), the recognisers' input format."""
    return (np.clip(samples, -1.0, 32767 / 32768) * 32768.0).astype("<i2").tobytes()


class ArraySource:
    """Samples already in memory (float32 in [-1, 1], 16 kHz mono) read like any other source."""

    def __init__(self, samples: np.ndarray, name: str = "array"):
        self.name, self.sample_rate = name, SAMPLE_RATE
        self._samples, self._pos = samples, 0

    def read(self, n: int) -> np.ndarray:
        out = self._samples[self._pos:self._pos + n]
        self._pos += n
        return out

    def close(self) -> None:
        pass


class WavSource:
    """A 16-bit PCM WAV file at 16 kHz; stereo is mixed down. Other rates are refused with a sox hint."""

    def __init__(self, path: str):
        self.name = str(path)
        self.sample_rate = SAMPLE_RATE
        try:
            self._wav = wave.open(str(path), "rb")
        except FileNotFoundError:
            raise AudioError(f"{path}: no such WAV file") from None
        except (wave.Error, EOFError) as exc:
            raise AudioError(f"{path}: not a readable WAV file ({exc}); expected 16-bit PCM, 16 kHz, mono") from None
        width, rate, channels = self._wav.getsampwidth(), self._wav.getframerate(), self._wav.getnchannels()
        if width != 2 or rate != SAMPLE_RATE:
            self._wav.close()
            raise AudioError(
                f"{path}: {8 * width}-bit {rate} Hz {channels}-channel audio; expected 16-bit PCM at {SAMPLE_RATE} Hz "
                f"(convert with: sox IN.wav -r {SAMPLE_RATE} -c 1 -b 16 OUT.wav)")
        self._channels = channels

    def read(self, n: int) -> np.ndarray:
        raw = self._wav.readframes(n)
        samples = pcm16_to_float(raw)
        if self._channels > 1:
            samples = samples[: len(samples) - len(samples) % self._channels]
            samples = samples.reshape(-1, self._channels).mean(axis=1).astype(np.float32)
        return samples

    def close(self) -> None:
        self._wav.close()


class PcmStreamSource:
    """Raw signed 16-bit little-endian mono PCM at 16 kHz from a binary stream (e.g. stdin, `arecord -t raw`)."""

    def __init__(self, stream: BinaryIO, name: str = "stdin"):
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self._stream = stream

    def read(self, n: int) -> np.ndarray:
        want = 2 * n
        chunks, got = [], 0
        while got < want:  # a pipe may return fewer bytes than asked; keep reading until EOF
            chunk = self._stream.read(want - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return pcm16_to_float(b"".join(chunks))

    def close(self) -> None:
        pass  # the caller owns the stream


def _import_sounddevice():
    """sounddevice is optional; PortAudio is a system library it loads on import."""
    try:
        import sounddevice
    except ImportError:
        raise AudioError("microphone input needs the 'sounddevice' package: pip install sounddevice") from None
    except OSError as exc:  # sounddevice raises OSError('PortAudio library not found')
        raise AudioError(
            f"microphone input needs the PortAudio library ({exc}): apt-get install libportaudio2") from None
    return sounddevice


def list_input_devices() -> list[dict]:
    """Returns [{index, name, channels, default_samplerate}] for devices that can record."""
    sd = _import_sounddevice()
    out = []
    for index, dev in enumerate(sd.query_devices()):
        if dev["max_input_channels"] > 0:
            out.append({"index": index, "name": dev["name"], "channels": dev["max_input_channels"],
                        "default_samplerate": dev["default_samplerate"]})
    return out


class MicrophoneSource:
    """Live microphone through sounddevice at 16 kHz mono. `device` is an index or a name substring.

    Raises AudioError when sounddevice or PortAudio is missing, when there is no input device, or when
    the device cannot record at 16 kHz mono.
    """

    def __init__(self, device: int | str | None = None, block_seconds: float = 0.03):
        sd = _import_sounddevice()
        self.sample_rate = SAMPLE_RATE
        try:
            info = sd.query_devices(device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            available = ", ".join(f"{d['index']}: {d['name']}" for d in list_input_devices()) or "none"
            raise AudioError(f"no usable audio input device {device!r} ({exc}); input devices: {available}") from None
        self.name = f"mic:{info['name']}"
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._pending = np.zeros(0, dtype=np.float32)
        self.overflows = 0

        def on_audio(indata, frames, time_info, status):  # runs on PortAudio's thread: only enqueue
            if status.input_overflow:
                self.overflows += 1
            self._queue.put(bytes(indata))

        try:
            self._stream = sd.RawInputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16", device=device,
                                             blocksize=int(SAMPLE_RATE * block_seconds), callback=on_audio)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioError(f"cannot record 16 kHz mono from {info['name']!r}: {exc}") from None

    def read(self, n: int) -> np.ndarray:
        while len(self._pending) < n:  # blocks until the microphone has delivered enough
            self._pending = np.concatenate([self._pending, pcm16_to_float(self._queue.get())])
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
