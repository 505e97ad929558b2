"""Audio sources and the endpointer: WAV/PCM reading, clear errors, utterance cutting with pre-roll."""
import io
import wave

import numpy as np
import pytest

from safu.device.audio import ArraySource, AudioError, MicrophoneSource, PcmStreamSource, WavSource, float_to_pcm16
from safu.device.endpointer import FRAME_SAMPLES, Endpointer, EnergyVad, WebRtcVad


def write_wav(path, samples, rate=16000, channels=1):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(float_to_pcm16(np.asarray(samples, dtype=np.float32)))
    return path


def bursts(layout, rate=16000, seed=0):
    """layout: [(seconds, loud?)] -> noise bursts (amplitude 0.3) between near-silence (1e-4)."""
    rng = np.random.default_rng(seed)
    parts = [rng.standard_normal(int(s * rate)).astype(np.float32) * (0.3 if loud else 1e-4) for s, loud in layout]
    return np.concatenate(parts)


def test_wav_source_reads_all_samples(tmp_path):
    x = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    src = WavSource(write_wav(tmp_path / "a.wav", x))
    got = np.concatenate([src.read(1000) for _ in range(17)])
    assert len(got) == 16000 and np.allclose(got, x, atol=1 / 16384)
    assert len(src.read(10)) == 0


def test_wav_source_mixes_stereo_down(tmp_path):
    inter = np.empty(2000, dtype=np.float32)
    inter[0::2], inter[1::2] = 0.5, -0.25
    src = WavSource(write_wav(tmp_path / "s.wav", inter, channels=2))
    assert np.allclose(src.read(1000), 0.125, atol=1e-3)


def test_wav_source_rejects_other_rates_with_sox_hint(tmp_path):
    path = write_wav(tmp_path / "b.wav", np.zeros(100), rate=44100)
    with pytest.raises(AudioError, match=r"b\.wav: .*44100 Hz.*expected 16-bit PCM at 16000 Hz.*sox"):
        WavSource(path)


def test_wav_source_missing_and_garbage_files(tmp_path):
    with pytest.raises(AudioError, match="nope.wav: no such WAV file"):
        WavSource(tmp_path / "nope.wav")
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    with pytest.raises(AudioError, match="bad.wav: not a readable WAV file"):
        WavSource(tmp_path / "bad.wav")


def test_pcm_stream_source_handles_short_reads_and_odd_bytes():
    pcm = float_to_pcm16(np.full(1001, 0.25, dtype=np.float32)) + b"\x01"  # trailing odd byte dropped
    src = PcmStreamSource(io.BufferedReader(io.BytesIO(pcm), buffer_size=7))
    first, rest = src.read(1000), src.read(1000)
    assert len(first) == 1000 and len(rest) == 1 and np.allclose(first, 0.25)


def test_microphone_without_device_is_a_clear_error():
    try:
        import sounddevice as sd
        has_input = any(d["max_input_channels"] > 0 for d in sd.query_devices())
    except (ImportError, OSError):
        has_input = False
    if has_input:
        pytest.skip("this machine has an audio input device; the no-device error cannot be provoked")
    with pytest.raises(AudioError, match="(no usable audio input device|sounddevice|PortAudio)"):
        MicrophoneSource()


def test_endpointer_splits_keeps_preroll_and_caps_length():
    # 1 s quiet, 1 s burst, 1 s quiet, 3 s burst (cut at 1.8 s), 1 s quiet
    x = bursts([(1, False), (1, True), (1, False), (3, True), (1, False)])
    ep = Endpointer(EnergyVad(), pre_roll=0.3, hangover=0.3, max_seconds=1.8)
    utts = list(ep.utterances(ArraySource(x)))
    assert [u.ended_by for u in utts] == ["silence", "max_length", "silence"]
    first = utts[0]
    assert 0.6 <= first.start_s <= 0.9          # pre-roll: starts before the burst at 1.0 s
    assert abs(first.speech_end_s - 2.0) < 0.1  # end of speech found
    assert abs(first.endpoint_delay_s - 0.3) < 0.05
    assert all(len(u.samples) <= 1.8 * 16000 + FRAME_SAMPLES for u in utts)
    assert abs(utts[2].speech_end_s - 6.0) < 0.1  # the long burst ends at 6.0 s


def test_endpointer_drops_clicks_and_flushes_at_end_of_stream():
    x = bursts([(0.5, False), (0.06, True), (1, False), (0.8, True)])  # a click, then speech cut by EOF
    utts = list(Endpointer(EnergyVad(), min_speech=0.2).utterances(ArraySource(x)))
    assert len(utts) == 1 and utts[0].ended_by == "end_of_stream"


def test_webrtc_vad_hears_speech_not_silence(tmp_path):
    from device_support import speak
    wav = speak("turn on the kitchen light", tmp_path / "s.wav")
    utts = list(Endpointer(WebRtcVad()).utterances(WavSource(wav)))
    assert len(utts) == 1 and utts[0].ended_by == "silence"
    assert utts[0].start_s < 0.35  # the speech starts at 0.3 s; pre-roll keeps the onset
    assert not WebRtcVad().is_speech(np.zeros(FRAME_SAMPLES, dtype=np.float32))


def test_each_source_is_heard_as_if_it_came_first(tmp_path):
    """The WebRTC detector adapts to what it hears; the endpointer resets it per source, so a recording
    is cut the same whichever recordings came before it."""
    from device_support import speak
    wav = speak("turn on the kitchen light", tmp_path / "s.wav")
    src = WavSource(wav)
    speech = src.read(10 ** 7)
    src.close()
    noise = (np.random.default_rng(0).standard_normal(5 * 16000) * 0.1).astype(np.float32)
    frames = lambda x: [x[i:i + FRAME_SAMPLES] for i in range(0, len(x) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]

    def decisions(vad, x):
        return [vad.is_speech(f) for f in frames(x)]

    adapted = WebRtcVad()
    decisions(adapted, noise)
    assert decisions(adapted, speech) != decisions(WebRtcVad(), speech)  # the noise changed its decisions
    adapted.reset()
    assert decisions(adapted, speech) == decisions(WebRtcVad(), speech)

    def cuts(endpointer, source):
        return [(u.start_s, u.end_s, len(u.samples)) for u in endpointer.utterances(source)]

    ep = Endpointer(WebRtcVad())
    cuts(ep, ArraySource(noise))
    assert cuts(ep, WavSource(wav)) == cuts(Endpointer(WebRtcVad()), WavSource(wav))


def test_energy_vad_reset_forgets_the_noise_floor():
    loud = np.full(FRAME_SAMPLES, 0.3, dtype=np.float32)
    quiet = np.full(FRAME_SAMPLES, 0.01, dtype=np.float32)
    vad = EnergyVad()
    for _ in range(20):
        vad.is_speech(quiet)
    assert vad.is_speech(loud)  # 30 dB above the floor it learnt
    vad.reset()
    assert not vad.is_speech(loud) and not EnergyVad().is_speech(loud)  # the first frame only sets the floor
