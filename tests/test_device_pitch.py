"""The speaking pitch that chooses the PocketSphinx warps (device/pitch.py, warps.warps_for_pitch)."""
import numpy as np
import pytest

from device_support import speak
from safu.device.warps import PITCH_SPLIT_HZ, WARPS, WARPS_PER_PITCH, warps_for_pitch
from safu.device.audio import WavSource
from safu.device.pitch import median_pitch

RATE = 16000


def voice_like(f0: float, seconds: float = 1.0) -> np.ndarray:
    """A buzz at f0 with falling harmonics, in bursts (syllables) with silence between them."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
    x *= (np.sin(2 * np.pi * 3 * t) > 0)  # three syllables a second
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize("f0", [95.0, 120.0, 210.0, 300.0])
def test_pitch_of_a_voiced_signal(f0):
    assert median_pitch(voice_like(f0)) == pytest.approx(f0, rel=0.03)


def test_no_pitch_in_silence_noise_or_a_short_signal():
    rng = np.random.default_rng(0)
    assert median_pitch(np.zeros(RATE, np.float32)) == 0.0
    assert median_pitch(rng.standard_normal(RATE).astype(np.float32) * 0.1) == 0.0
    assert median_pitch(voice_like(120.0)[:300]) == 0.0


def test_noise_does_not_move_the_pitch_across_the_split():
    rng = np.random.default_rng(1)
    for f0 in (110.0, 200.0):
        x = voice_like(f0)
        noisy = x + rng.standard_normal(len(x)).astype(np.float32) * np.sqrt(np.mean(x ** 2)) / np.sqrt(10)  # 10 dB
        assert (median_pitch(noisy) > PITCH_SPLIT_HZ) == (f0 > PITCH_SPLIT_HZ)


def test_espeak_voices_fall_on_their_side_of_the_split(tmp_path):
    male = WavSource(speak("turn on the kitchen light", tmp_path / "m.wav", "en-us", 150)).read(10 ** 7)
    female = WavSource(speak("turn on the kitchen light", tmp_path / "f.wav", "en-us+f3", 170)).read(10 ** 7)
    assert 80 < median_pitch(male) < PITCH_SPLIT_HZ < median_pitch(female) < 300


def test_warps_for_pitch_takes_the_lowest_or_highest():
    warps = (1.1, 0.9, 1.5, 1.0, 1.3)  # any order: indices come back into this tuple
    assert WARPS_PER_PITCH == 3 and len(WARPS) > WARPS_PER_PITCH
    assert [warps[k] for k in warps_for_pitch(warps, 105.0)] == [1.1, 0.9, 1.0]
    assert [warps[k] for k in warps_for_pitch(warps, 210.0)] == [1.1, 1.5, 1.3]
    assert warps_for_pitch(warps, 0.0) == [0, 1, 2, 3, 4]  # no pitch found: every warp
    assert warps_for_pitch((1.0, 1.2), 210.0) == [0, 1]
