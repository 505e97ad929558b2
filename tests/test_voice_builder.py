"""device/voice_builder.py builds what `safu listen` runs, and bench/bench_voice_real.py mixes noise at the
SNR the Picovoice benchmark defines (loudest 2048-sample frames)."""

import numpy as np

import pytest

from bench_support import load_bench
from device_support import REPO
from safu.device.endpointer import EnergyVad, WebRtcVad

pytest.importorskip("pocketsphinx", reason="PocketSphinx recogniser (pip install pocketsphinx)")


@pytest.fixture(scope="module")
def model():
    from safu.runtime.api import load_default
    return load_default()


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_voice_real")


def test_recogniser_is_restricted_to_the_model_with_the_listen_defaults(model):
    from safu.device.asr_pocketsphinx import MIN_AGREEING
    from safu.device.warps import WARPS
    from safu.device.voice_builder import build_recognizer

    rec = build_recognizer(model, processes=1)
    try:
        assert rec.restricted and rec.name == "pocketsphinx"
        assert rec.warps == WARPS and rec.min_agreeing == MIN_AGREEING
        assert "kitchen" in rec.vocabulary.words
    finally:
        rec.close()
    rec = build_recognizer(model, processes=1, warps=[1.0], min_agreeing=1, accent="american")
    try:
        assert rec.warps == (1.0,) and rec.min_agreeing == 1
    finally:
        rec.close()


def test_bad_options_are_refused(model):
    from safu.device.voice_builder import build_recognizer, build_voice_loop

    with pytest.raises(ValueError, match="accent 'scottish'"):
        build_recognizer(model, accent="scottish")
    with pytest.raises(ValueError, match="unknown VAD"):
        build_voice_loop(model, None, vad="loud")


def test_voice_loop_uses_the_detector_asked_for(model):
    from safu.device.voice_builder import build_voice_loop

    from safu.device.vad_silero import SileroVad

    loop = build_voice_loop(model, None)  # safu listen's default: Silero, with its hang-over and faded tail
    assert isinstance(loop.endpointer.vad, SileroVad)
    assert loop.endpointer.hangover_frames == 20 and loop.endpointer.fade_tail
    assert loop.endpointer.tail_frames == 20  # no recogniser tail: the whole hang-over is kept
    loop = build_voice_loop(model, None, vad="webrtc")
    assert isinstance(loop.endpointer.vad, WebRtcVad)
    assert loop.endpointer.hangover_frames == 15 and not loop.endpointer.fade_tail
    loop = build_voice_loop(model, None, vad="energy", min_confidence=0.5)
    assert isinstance(loop.endpointer.vad, EnergyVad) and loop.min_confidence == 0.5


def test_noise_is_scaled_on_the_loudest_frames(bench):
    rng = np.random.default_rng(1)
    speech = np.zeros(16000)
    speech[4096:6144] = 0.3 * rng.standard_normal(2048)  # one loud frame, silence around it
    segment = 0.01 * rng.standard_normal(16000)
    for snr in (24.0, 6.0):
        noise = bench.scaled_noise(speech, segment, snr)
        ratio = bench.max_frame_energy(speech) / bench.max_frame_energy(noise)
        assert 10 * np.log10(ratio) == pytest.approx(snr, abs=1e-9)
    with pytest.raises(ValueError, match="shorter than one 2048-sample frame"):
        bench.max_frame_energy(np.ones(100))


def test_mix_is_seeded_and_peaks_at_one_half(bench):
    rng = np.random.default_rng(2)
    speech = (0.2 * rng.standard_normal(8000)).astype(np.float32)
    noise = (0.05 * rng.standard_normal(64000)).astype(np.float32)
    a = bench.mix(speech, noise, "12", seed=0, index=3)
    assert np.max(np.abs(a)) == pytest.approx(0.5)
    assert np.array_equal(a, bench.mix(speech, noise, "12", seed=0, index=3))
    assert not np.array_equal(a, bench.mix(speech, noise, "12", seed=0, index=4))  # another noise offset
    assert bench.mix(speech, noise, "clean", seed=0, index=3) is speech


def test_a_rejected_hypothesis_is_tried_without_a_final_word_that_cannot_follow(model):
    from safu.device.voice_builder import build_recognizer

    rec = build_recognizer(model, warps=[1.0], processes=1)
    try:
        assert rec.checks.trim_final_word is False  # off unless asked for
        rec.checks.trim_final_word = True
        command = "turn on the kitchen lights"
        assert rec.checks.transcript(command).accepted
        noise_word = next(w for w in sorted(rec.checks.garbage) if ("lights", w) not in rec.checks.bigrams)
        heard = rec._ranked({0: [(f"{command} {noise_word}", 0.0)]}, float("inf"))
        assert not heard.accepted
        assert [(t.words, t.accepted) for t in heard.alternatives] == [(command, True)]
        assert heard.alternatives[0].reason == f"last word left out ({noise_word})"
        # a last word that could carry the command on ("... lights in") is a sign of more speech: kept
        follower = next(w for a, w in sorted(rec.checks.bigrams) if a == "lights" and w
                        and not rec.checks.transcript(f"{command} {w}").accepted)
        assert rec._ranked({0: [(f"{command} {follower}", 0.0)]}, float("inf")).alternatives == []
        rec.checks.trim_final_word = False
        assert rec._ranked({0: [(f"{command} {noise_word}", 0.0)]}, float("inf")).alternatives == []
    finally:
        rec.close()


def test_auto_takes_whisper_only_for_a_small_vocabulary(model, tmp_path):
    """`--asr auto` (choose_asr): PocketSphinx for the built-in model's hundreds of words, Whisper for a
    coffee context when its weights are installed; open vocabulary or one recogniser's options decide."""
    import safu
    from safu.device.voice_builder import WHISPER_MAX_WORDS, build_recognizer, build_voice_loop, choose_asr, \
        command_words, whisper_installed

    asr, why = choose_asr(model)
    assert asr == "pocketsphinx" and len(command_words(model)) > WHISPER_MAX_WORDS
    assert f"{len(command_words(model))} command words" in why
    small = safu.load(_train_coffee(tmp_path))
    assert 0 < len(command_words(small)) <= WHISPER_MAX_WORDS
    asr, why = choose_asr(small)
    assert asr == ("whisper" if whisper_installed() else "pocketsphinx"), why
    assert choose_asr(small, open_vocabulary=True)[0] == "pocketsphinx"
    assert choose_asr(small, pocketsphinx_options={"--warps": [1.0]}) == \
        ("pocketsphinx", "PocketSphinx options given: --warps")
    assert choose_asr(small, pocketsphinx_options={"--warps": None, "--trim-final-word": False})[0] == \
        choose_asr(small)[0]  # options left unset choose nothing
    assert choose_asr(model, whisper_options={"--whisper-threads": 2})[0] == "whisper"
    with pytest.raises(ValueError, match=r"\(--accent\) and Whisper options \(--whisper-model\) given together"):
        choose_asr(small, pocketsphinx_options={"--accent": "british"}, whisper_options={"--whisper-model": "w"})
    rec = build_recognizer(small, processes=1)  # a PocketSphinx option: PocketSphinx, whatever is installed
    try:
        assert rec.name == "pocketsphinx"
        from safu.device.speech_evidence import MIN_VOICED_FRACTION
        assert build_voice_loop(small, rec).min_voiced_fraction == MIN_VOICED_FRACTION
    finally:
        rec.close()
    if whisper_installed():
        rec = build_recognizer(small, whisper_threads=1)
        try:
            assert rec.name == "whisper" and rec.reading is None
            from safu.device.pipeline import command_key
            loop = build_voice_loop(small, rec)  # gives Whisper what the model reads, for its repairs
            assert loop.min_voiced_fraction is None  # Whisper's own no-speech check, not the voicing check
            text = "can i get a large latte"
            assert rec.reading(text) == command_key(small.predict(text))
        finally:
            rec.close()


def _train_coffee(tmp_path):
    import safu
    path = tmp_path / "coffee.safu"
    safu.train([str(REPO / "tests" / "fixtures" / "data" / "rhino" / "coffee.yaml")], output=str(path))
    return str(path)



def test_the_built_in_model_is_heard_in_its_default_area_unless_a_place_is_given(model, tmp_path, monkeypatch):
    """The voice loop of the built-in model, when it has Home Assistant answers, is told the satellite
    is in BUILT_IN_AREA; a place given (safu listen --area) or a model of another file is left as is."""
    import safu.runtime.api as api
    from device_support import fixture_model_path
    from safu.runtime.ha_answers import WithContext
    from safu.device.voice_builder import BUILT_IN_AREA, build_voice_loop, is_built_in, with_satellite_place

    assert is_built_in(model)
    if model.answers is None:  # the shipped file predates the answer tables: nothing to fill
        assert with_satellite_place(model) is model
    home = api.load(fixture_model_path(tmp_path))  # a Home Assistant model whose inventory has the area
    assert home.answers is not None and not is_built_in(home) and with_satellite_place(home) is home
    monkeypatch.setattr(api, "DEFAULT_MODEL", home.path)  # as if it were the shipped file
    assert is_built_in(home)
    heard = build_voice_loop(home, None).model
    assert isinstance(heard, WithContext) and heard.context == {"area": BUILT_IN_AREA}
    assert heard.predict("turn on the lights in the kitchen").slots["area"] == "Kitchen"  # a place said wins
    given = WithContext(home, {"area": "Kitchen"})  # safu listen --area Kitchen
    assert with_satellite_place(given) is given and build_voice_loop(given, None).model is given
