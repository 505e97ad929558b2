"""The numpy noise front end (device/denoise.py) on real mixes: espeak-ng speech and the shared kitchen
noise recording, mixed by the real-speech benchmark's SNR definition. Skips with the reason when
espeak-ng, sox or the kitchen recording are missing."""
import sys
from pathlib import Path

import numpy as np
import pytest

from device_support import kitchen_noise_wav, read_wav, speak

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_voice_real import scaled_noise  # noqa: E402  (the benchmark's own mixer)

LEAD_IN = 8000  # samples of noise alone before the speech (speak pads 0.5 s here)


def snr_db(reference, x):
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2)
                               / np.sum((x.astype(np.float64) - reference) ** 2)))


@pytest.fixture(scope="module")
def speech_and_noise(tmp_path_factory):
    import subprocess
    tmp = tmp_path_factory.mktemp("denoise")
    spoken = speak("make me a large latte with soy milk", tmp / "raw.wav")
    padded = tmp / "speech.wav"
    subprocess.run(["sox", str(spoken), str(padded), "pad", "0.2", "0"], check=True)  # 0.3 + 0.2 s lead-in
    speech = read_wav(padded)
    noise = read_wav(kitchen_noise_wav(tmp / "noise.wav", start_s=30.0, seconds=10.0))[:len(speech)]
    assert len(noise) == len(speech)
    return speech, noise


def test_a_gain_of_one_gives_the_input_back(speech_and_noise):
    from safu.device.denoise import denoise
    speech, noise = speech_and_noise
    mixed = speech + scaled_noise(speech, noise, 6.0)
    back = denoise(mixed, gain_floor=1.0)
    assert back.dtype == np.float32 and back.shape == mixed.shape
    assert np.max(np.abs(back - mixed)) < 1e-6


def test_the_kitchen_noise_is_taken_down_and_the_speech_kept(speech_and_noise):
    """At 6 dB the denoised mix is nearer the clean speech than the mix is, and the noise before the
    speech is at least 3 dB quieter; the loud part (the speech) loses less than 2 dB."""
    from safu.device.denoise import denoise
    speech, noise = speech_and_noise
    mixed = (speech + scaled_noise(speech, noise, 6.0)).astype(np.float32)
    cleaned = denoise(mixed)
    assert snr_db(speech, cleaned) > snr_db(speech, mixed) + 1.5
    lead_in = 10 * np.log10(np.sum(cleaned[:LEAD_IN] ** 2) / np.sum(mixed[:LEAD_IN] ** 2))
    assert lead_in < -3.0, lead_in
    loud = np.abs(speech) > 0.3 * np.max(np.abs(speech))
    kept = 10 * np.log10(np.sum(cleaned[loud] ** 2) / np.sum(mixed[loud] ** 2))
    assert kept > -2.0, kept


def test_the_snr_estimate_follows_the_mix(speech_and_noise):
    from safu.device.denoise import estimated_snr_db
    speech, noise = speech_and_noise
    estimates = [estimated_snr_db(speech + scaled_noise(speech, noise, db)) for db in (0.0, 6.0, 12.0, 24.0)]
    assert all(a < b for a, b in zip(estimates, estimates[1:])), estimates
    assert all(b - a > 2.0 for a, b in zip(estimates, estimates[1:])), estimates
    assert 12.0 < estimates[-1] - estimates[0] < 30.0, estimates  # 24 dB apart (speech leaks into the floor)
    assert estimated_snr_db(speech) > 60  # espeak-ng's silence is digital silence


def test_bad_input_is_refused_by_name():
    from safu.device.denoise import denoise, estimated_snr_db
    with pytest.raises(ValueError, match="mono"):
        denoise(np.zeros((2, 4000), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        estimated_snr_db(np.full(4000, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="gain_floor"):
        denoise(np.zeros(4000, dtype=np.float32), gain_floor=0.0)
    short = np.ones(100, dtype=np.float32)
    assert np.array_equal(denoise(short), short)  # shorter than a frame: as it is
