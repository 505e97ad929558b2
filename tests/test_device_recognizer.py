"""Speech recognisers: PocketSphinx restricted to the model's sentences (with OOV rejection), open
vocabulary, and Vosk (model-dependent parts run only with SAFU_VOSK_MODEL)."""
import os

import numpy as np

import pytest

from device_support import fixture_model_path, speak
from safu.device.asr_pocketsphinx import PocketSphinxConfig, PocketSphinxRecognizer
from safu.device.asr_vosk import UNKNOWN, check_model_dir, vosk_grammar
from safu.device.audio import WavSource
from safu.device.command_vocabulary import slot_values
from safu.device.pronunciations import with_merged_vowels
from safu.device.recognizer import RecognizerError, make_recognizer


def sphinx(sentences, values=None, **settings):
    """A PocketSphinxRecognizer with these PocketSphinxConfig settings."""
    return PocketSphinxRecognizer(sentences, values=values, config=PocketSphinxConfig(**settings))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from safu.runtime.api import load
    return load(fixture_model_path(tmp_path_factory.mktemp("model")))


@pytest.fixture(scope="module")
def restricted(model):
    return make_recognizer("pocketsphinx", model.sentences, values=slot_values(model))


def hear(rec, tmp_path, text, voice="en-us", speed=150):
    src = WavSource(speak(text, tmp_path / "s.wav", voice, speed))
    return rec.recognize(src.read(10 ** 7))


@pytest.mark.parametrize("text, voice", [("turn on the ceiling light", "en-us"), ("turn on the ceiling light", "en-gb"),
                                          ("turn off the desk fan", "en-us")])
def test_restricted_pocketsphinx_hears_commands(restricted, tmp_path, text, voice):
    t = hear(restricted, tmp_path, text, voice)
    assert t.accepted and t.words == text and t.text == text


def test_numbers_come_back_as_digits(restricted, model, tmp_path):
    t = hear(restricted, tmp_path, "set the thermostat to 21 degrees")
    assert "21" in t.text.split() and "twenty" in t.words


def test_out_of_vocabulary_speech_is_rejected(restricted, tmp_path):
    t = hear(restricted, tmp_path, "tell me a joke about penguins")
    assert not t.accepted and t.reason.startswith("out-of-vocabulary speech")


def test_restricted_vocabulary_comes_from_the_model(restricted, model):
    assert restricted.vocabulary.phrases and "ceiling" in restricted.vocabulary.words
    assert "penguins" not in restricted.vocabulary.words and "weather" in restricted.checks.garbage


def test_open_vocabulary_recogniser_runs(tmp_path):
    rec = make_recognizer("pocketsphinx", restricted=False)
    t = hear(rec, tmp_path, "what is the weather like tomorrow")
    assert not rec.restricted and "weather" in t.words.split()


def test_cot_caught_variants_are_added():
    assert with_merged_vowels(["off AO F"]) == ["off AO F", "off(2) AA F"]
    assert with_merged_vowels(["on AA N", "on(2) AO N"]) == ["on AA N", "on(2) AO N"]


def test_restricted_needs_sentences():
    with pytest.raises(ValueError, match="training sentences"):
        make_recognizer("pocketsphinx", sentences=[])


# ---- Vosk: everything up to loading the model is tested without one
def test_vosk_grammar_is_the_phrase_list_plus_unk():
    g = vosk_grammar(["Turn on the light", "set it to 20"])
    assert g == ["set it to twenty", "turn on the light", UNKNOWN]


def test_vosk_missing_or_wrong_model_dir_is_named(tmp_path):
    with pytest.raises(RecognizerError, match=r"nothere: no such directory"):
        make_recognizer("vosk", ["turn on the light"], vosk_model=str(tmp_path / "nothere"))
    with pytest.raises(RecognizerError, match=r"not a Vosk model directory"):
        check_model_dir(str(tmp_path))
    with pytest.raises(RecognizerError, match="--vosk-model DIR"):
        make_recognizer("vosk", ["turn on the light"])
    # PocketSphinx's accent forms are on by default there; asked for by name, Vosk refuses them.
    for accents in (True, False):
        with pytest.raises(ValueError, match="accents are PocketSphinx options"):
            make_recognizer("vosk", ["turn on the light"], vosk_model=str(tmp_path), accents=accents)


def test_vosk_with_a_real_model(model, tmp_path):
    path = os.environ.get("SAFU_VOSK_MODEL")
    if not path:
        pytest.skip("set SAFU_VOSK_MODEL to an unpacked Vosk model directory (none can be downloaded here)")
    rec = make_recognizer("vosk", model.sentences, vosk_model=path, values=slot_values(model))
    t = hear(rec, tmp_path, "turn on the ceiling light")
    assert t.accepted and t.text == "turn on the ceiling light"
    t = hear(rec, tmp_path, "tell me a joke about penguins")
    assert not t.accepted


def test_word_sequences_no_command_contains_are_rejected(restricted):
    from safu.device.transcript_checks import word_ngrams
    assert word_ngrams("turn on", 2) == [("", "turn"), ("turn", "on"), ("on", "")]
    assert word_ngrams("turn on", 3) == [("", "", "turn"), ("", "turn", "on"), ("turn", "on", "")]
    assert ("the", "the") not in restricted.checks.bigrams and ("the", "ceiling") in restricted.checks.bigrams
    t = restricted.checks.transcript("turn on the the ceiling light")
    assert not t.accepted and t.reason == "word sequence in no command (the the)"


def test_a_word_twice_in_a_row_is_rejected_even_where_the_sentences_have_it():
    """Template leftovers ("play the the beatles") put "the the" into the language model; a transcript
    with a word twice in a row is still no command ("whats the the date" was a false action)."""
    rec = sphinx(["play the the beatles", "turn on the light", "what is the date"], warps=(1.0,), processes=1)
    assert ("the", "the") in rec.checks.bigrams  # the word-pair check alone would let it through
    t = rec.checks.transcript("play the the beatles")
    assert not t.accepted and t.reason == "a word twice in a row (the the)"
    assert rec.checks.transcript("turn on the light").accepted


NAMES = ["heater", "fan", "thermostat", "kettle", "radio", "lamp", "printer", "oven", "washer", "dryer", "toaster",
         "speaker", "television", "computer", "router", "fridge", "freezer", "blender", "mixer", "heating"]


def test_a_name_in_a_carrier_it_never_stood_in_counts_as_its_class():
    """The language model's sentences pair each carrier with 8 names drawn at random, so "set the thermostat
    to nineteen" can miss word triples only because of its name; with entity names as one class it has
    none missing and is accepted. Without names to swap in there are no classes and it is rejected."""
    from safu.device.transcript_checks import word_ngrams
    sentences = ["set the heater to twenty", "set my heater to nineteen", "turn the thermostat to low",
                 "turn off the kettle"]
    plain = sphinx(sentences, warps=(1.0,), processes=1)
    rec = sphinx(sentences, warps=(1.0,), processes=1, values={"name": NAMES})
    words = "set the thermostat to nineteen"
    assert sum(t not in rec.checks.trigrams for t in word_ngrams(words, 3)) >= 2  # literally, two or more are missing
    assert rec.checks.entity_classes(words) == "set the <entity> to nineteen"
    assert rec.checks.transcript(words).accepted
    t = plain.checks.transcript(words)
    assert not t.accepted and "word sequences in no command" in t.reason


def test_one_word_triple_no_command_contains_is_allowed_two_are_not():
    sentences = ["turn on the kitchen light", "switch off the desk lamp", "set the kitchen light to blue",
                 "dim the desk lamp to ten"]
    rec = sphinx(sentences, warps=(1.0,), processes=1)
    # every adjacent pair of these occurs in some sentence above
    assert rec.checks.transcript("turn on the desk lamp").accepted  # one new triple: "on the desk"
    t = rec.checks.transcript("set the desk lamp to blue")  # two: "set the desk", "lamp to blue"
    assert not t.accepted and t.reason == "2 word sequences in no command (set the desk, lamp to blue)"
    loose = sphinx(sentences, warps=(1.0,), processes=1, max_unseen_trigrams=None)
    assert loose.checks.transcript("set the desk lamp to blue").accepted


def test_noisy_speech_may_have_no_word_triple_missing_from_the_commands():
    sentences = ["turn on the kitchen light", "switch off the desk lamp"]
    rec = sphinx(sentences, warps=(1.0,), processes=1)  # noisy below 20 dB by default
    assert rec.checks.transcript("turn on the desk lamp", 30.0).accepted  # one new triple: "on the desk"
    t = rec.checks.transcript("turn on the desk lamp", 15.0)
    assert not t.accepted and t.loudness_range_db == 15.0
    assert t.reason == "1 word sequence in no command (on the desk), none allowed in noisy speech (15 dB loudness range)"
    assert rec.checks.transcript("turn on the kitchen light", 15.0).accepted  # every triple in a command
    never = sphinx(sentences, warps=(1.0,), processes=1, noisy_below_db=0)
    assert never.checks.transcript("turn on the desk lamp", 15.0).accepted


def test_loudness_range_estimates_the_speech_to_noise_ratio():
    from safu.device.audio_conditioning import loudness_range_db
    t = np.arange(32000) / 16000
    speech = np.zeros(48000, dtype=np.float32)
    speech[8000:40000] = 0.3 * np.sin(2 * np.pi * 220 * t)  # a tone between two stretches of silence
    rng = np.random.default_rng(0)
    for snr_db in (30, 20, 10):
        noise = rng.standard_normal(len(speech)).astype(np.float32) * 0.3 / np.sqrt(2) / 10 ** (snr_db / 20)
        assert abs(loudness_range_db(speech + noise) - snr_db) < 2
    assert loudness_range_db(speech) == float("inf")  # digital silence: no noise to measure
    assert loudness_range_db(speech[:399]) == float("inf")


def test_the_recogniser_reports_the_loudness_range(restricted, tmp_path):
    samples = WavSource(speak("turn on the ceiling light", tmp_path / "s.wav", "en-us", 150)).read(10 ** 7)
    rms = np.sqrt(np.mean(samples[np.abs(samples) > 0] ** 2))
    noise = np.random.default_rng(3).standard_normal(len(samples)).astype(np.float32) * rms / 10 ** (10 / 20)
    t = restricted.recognize(samples + noise)  # 10 dB: noisy, whatever was heard
    assert t.loudness_range_db is not None and t.loudness_range_db < 20
    assert all(a.loudness_range_db == t.loudness_range_db for a in t.alternatives)


def test_noise_floor_fills_digital_silence_and_leaves_noisy_audio_alone():
    import numpy as np
    from safu.device.audio_conditioning import with_noise_floor
    t = np.arange(16000) / 16000
    speech = np.zeros(32000, dtype=np.float32)
    speech[8000:24000] = 0.3 * np.sin(2 * np.pi * 220 * t)  # a tone between two stretches of exact zeros
    out = with_noise_floor(speech, 30.0)
    quiet = out[:4000]
    assert np.all(quiet != 0) and 0.3 / np.sqrt(2) / 40 < np.sqrt(np.mean(quiet ** 2)) < 0.3 / np.sqrt(2) / 25
    assert np.array_equal(out, with_noise_floor(speech, 30.0))  # same recording, same decoding
    noisy = speech + 0.05 * np.random.default_rng(1).standard_normal(len(speech)).astype(np.float32)
    assert with_noise_floor(noisy, 30.0) is noisy  # already has a noise floor within 30 dB
    assert with_noise_floor(speech, 0.0) is speech


def test_warps_give_one_decoder_each_and_still_hear_the_command(model, tmp_path):
    rec = sphinx(model.sentences, values=slot_values(model), warps=(1.0, 1.1), processes=1)
    assert len(rec._decoders) == 2 and rec.processes == 1
    t = hear(rec, tmp_path, "turn off the desk fan", "en-us+f3", 170)
    assert t.accepted and t.text == "turn off the desk fan"
    with pytest.raises(ValueError, match="PocketSphinx option"):
        make_recognizer("vosk", model.sentences, vosk_model="/nonexistent", warps=(1.1,))


def test_garbage_words_and_decoder_options_can_be_given(model):
    rec = sphinx(model.sentences, warps=(1.0,), garbage=("weather", "pizza", "zzqx", "light"),
                                 decoder_options={"beam": "1e-50"}, processes=1)
    assert rec.checks.garbage == {"weather", "pizza"}  # unpronounceable and command words are dropped
    assert rec._decoders[0].config["beam"] == pytest.approx(1e-50)
    with pytest.raises(RecognizerError, match="unknown PocketSphinx option"):
        sphinx(model.sentences, warps=(1.0,), decoder_options={"no_such_setting": 1})
    with pytest.raises(RecognizerError, match="beam"):
        sphinx(None, decoder_options={"beam": "wide"})
    # The same errors come back from decoder processes.
    with pytest.raises(RecognizerError, match="unknown PocketSphinx option 'no_such_setting'"):
        sphinx(model.sentences, warps=(1.0, 1.1), decoder_options={"no_such_setting": 1}, processes=2)


def test_voice_loop_acts_on_the_first_runner_up_the_model_understands(model):
    """The recogniser's best hypothesis is no command; a runner-up is, and is what gets acted on."""
    # (the fixture home has a "Desk Fan"; a name outside the inventory is rejected, runtime/ha_answers.py)
    import numpy as np
    from safu.device.endpointer import Utterance
    from safu.device.pipeline import VoiceLoop
    from safu.device.recognizer import Transcript

    class Heard:  # a recogniser that "heard" fixed hypotheses, best first
        name, restricted, min_agreeing = "fixed", True, 1  # the Recognizer interface (device/recognizer.py)

        def __init__(self, *hypotheses):
            self.hypotheses = hypotheses

        def recognize(self, samples):
            out = [Transcript(text=w, words=w, accepted=ok, reason=None if ok else "no command", decode_s=0.0)
                   for w, ok in self.hypotheses]
            out[0].alternatives = out[1:]
            return out[0]

        def widen(self):
            return None

        def close(self):
            pass

    utt = Utterance(samples=np.zeros(1600, np.float32), start_s=0.0, end_s=0.1, speech_end_s=0.1, ended_by="silence")
    event = VoiceLoop(model, Heard(("delete off the desk fan", False), ("turn off the desk fan", True))).handle(utt)
    assert event["asr"]["best"] == "delete off the desk fan" and event["asr"]["words"] == "turn off the desk fan"
    assert event["intent"] == "HassTurnOff" and event["asr"]["alternatives"] == 1
    assert event["asr"]["loudness_range_db"] is None  # this recogniser does not measure it
    event = VoiceLoop(model, Heard(("delete off the desk fan", False), ("the the the", False))).handle(utt)
    assert event["intent"] is None and event["reason"] == "speech rejected: no command"
    # The best hypothesis wins when the model understands it, whatever the runners-up say.
    event = VoiceLoop(model, Heard(("turn on the desk fan", True), ("turn off the desk fan", True))).handle(utt)
    assert event["intent"] == "HassTurnOn"


def test_voice_loop_acts_only_when_enough_decoders_hear_the_command(model):
    """The agreement check: a command is acted on only when min_agreeing decoders each have it among their
    own hypotheses. When the decoders chosen first give none, the recogniser is asked to widen (decode the
    other warps, rank afresh) and the check is made again over all of them."""
    import numpy as np
    from safu.device.endpointer import Utterance
    from safu.device.pipeline import VoiceLoop
    from safu.device.recognizer import Transcript

    def hyp(words, ok=True):
        return Transcript(text=words, words=words, accepted=ok, reason=None if ok else "no command", decode_s=0.0)

    class Decoders:  # a recogniser whose decoders "heard" fixed hypotheses, best first; the first `first` decode first
        name, restricted, min_agreeing = "fixed", True, 2

        def __init__(self, per_decoder, first):
            self.per_decoder, self.first, self.widened = per_decoder, first, 0

        def heard(self, decoders):  # ranked: every decoder's hypotheses, in decoder order
            ranked = [hyp(w) for w in dict.fromkeys(w for ws in decoders for w in ws)]
            best, best.alternatives = ranked[0], ranked[1:]
            best.opinions = [[hyp(w) for w in ws] for ws in decoders]
            return best

        def recognize(self, samples):
            return self.heard(self.per_decoder[:self.first])

        def widen(self):
            self.widened += 1
            return self.heard(self.per_decoder) if self.first < len(self.per_decoder) else None

    utt = Utterance(samples=np.zeros(1600, np.float32), start_s=0.0, end_s=0.1, speech_end_s=0.1, ended_by="silence")
    on, off = "turn on the desk fan", "turn off the desk fan"
    # Two of the first three decoders hear it (one as a runner-up): acted on, the others are not asked.
    rec = Decoders([[on], [off, on], [off], [off]], first=3)
    event = VoiceLoop(model, rec).handle(utt)
    assert event["intent"] == "HassTurnOn" and event["reason"] == "no actions configured"
    assert (event["asr"]["agreeing"], event["asr"]["decoders"], rec.widened) == (2, 3, 0)
    # One of three: the others are asked; one of them agrees.
    rec = Decoders([[on], [off], [off], ["what time is it"], [on]], first=3)
    event = VoiceLoop(model, rec).handle(utt)
    assert event["intent"] == "HassTurnOn"
    assert (event["asr"]["agreeing"], event["asr"]["decoders"], rec.widened) == (2, 5, 1)
    # None of them does: rejected, and the event says why. The same name with another intent does not count.
    rec = Decoders([[on], [off], [off], [off]], first=3)
    event = VoiceLoop(model, rec).handle(utt)
    assert event["intent"] is None and event["heard_intent"] == "HassTurnOn" and event["action"] is None
    assert event["slots"] == {} and event["heard_slots"]
    assert event["reason"] == "speech rejected: heard as this command by 1 of 4 decoders, 2 needed"
    # A hypothesis the word checks rejected does not count either.
    rec = Decoders([[on], [off]], first=2)
    widened = rec.heard([[on], [off], ["x"]])
    widened.opinions[2] = [hyp(on, ok=False)]
    rec.widen = lambda: widened
    assert VoiceLoop(model, rec).handle(utt)["asr"]["agreeing"] == 1
    # The first decoders understand nothing: the others are asked, and what they agree on is acted on.
    rec = Decoders([["delete the"], ["the the"], [off], [off]], first=2)
    event = VoiceLoop(model, rec).handle(utt)
    assert event["intent"] == "HassTurnOff" and event["asr"]["agreeing"] == 2 and rec.widened == 1
    # Agreement off (min_agreeing 1), or one decoder only (no opinions): no check, nothing widened.
    rec = Decoders([[on], [off], [off]], first=3)
    rec.min_agreeing = 1
    assert VoiceLoop(model, rec).handle(utt)["intent"] == "HassTurnOn" and rec.widened == 0
    rec = Decoders([[on]], first=1)
    rec.recognize = lambda samples: hyp(on)
    assert VoiceLoop(model, rec).handle(utt)["reason"] == "no actions configured" and rec.widened == 0


def test_pocketsphinx_runners_up_are_ranked_within_the_margin(model, tmp_path):
    src = WavSource(speak("turn off the desk fan", tmp_path / "s.wav", "en-us", 150))
    samples = src.read(10 ** 7)
    only_best = sphinx(model.sentences, values=slot_values(model), warps=(1.0,), nbest_margin=0)
    wide = sphinx(model.sentences, values=slot_values(model), warps=(1.0, 1.1), nbest_margin=5000)
    t = only_best.recognize(samples)
    assert t.text == "turn off the desk fan" and t.alternatives == []
    t = wide.recognize(samples)
    words = [t.words] + [a.words for a in t.alternatives]
    assert len(t.alternatives) >= 2 and len(set(words)) == len(words)  # distinct hypotheses
    assert all(a.decode_s == 0.0 for a in t.alternatives) and t.decode_s > 0


def test_runners_up_are_scored_from_the_highest_n_best_entry():
    """PocketSphinx's N-best list comes out of score order at times. Runners-up are measured from its
    highest entry, so none outscores the best path (which would push every other hypothesis out of the margin)."""
    from types import SimpleNamespace

    from safu.device.decoder_pool import hypotheses

    class Decoded:  # what a pocketsphinx.Decoder returns after an utterance; scores are log base 1.0001
        def hyp(self):
            return SimpleNamespace(hypstr="tune on the floor lamp", score=1.0001 ** -8046)

        def nbest(self):
            return [SimpleNamespace(hypstr=w, score=1.0001 ** s) for w, s in
                    [("do you know the floor lamp", -28818), ("tune on the floor lamp", -28735),
                     ("to the floor lamp", -28835)]]

        def get_logmath(self):
            return SimpleNamespace(log=lambda p: round(float(np.log(p) / np.log(1.0001))))

    scored = hypotheses(Decoded())
    # The best path keeps its own score; the highest N-best entry stands for it; the others follow it.
    assert scored == [("tune on the floor lamp", -8046), ("do you know the floor lamp", -8046 - (28818 - 28735)),
                      ("to the floor lamp", -8046 - (28835 - 28735))]


def test_decoder_processes_hear_what_one_process_hears(model, tmp_path):
    """Warp decoders spread over worker processes rank the same hypotheses in the same order as
    in-process decoding, utterance after utterance (the dither no longer depends on which decoders share
    a process); a dead worker is started again before the next utterance, which it hears the same, and a
    closed pool refuses to decode."""
    utterances = [WavSource(speak(text, tmp_path / f"{k}.wav", "en-us+f3", 170)).read(10 ** 7)
                  for k, text in enumerate(["turn off the desk fan", "what is the capital of france"])]
    here = sphinx(model.sentences, values=slot_values(model), warps=(1.0, 1.1, 1.2), processes=1)
    pooled = sphinx(model.sentences, values=slot_values(model), warps=(1.0, 1.1, 1.2), processes=2)
    assert pooled.processes == 2 and pooled._decoders == []
    for k, samples in enumerate(utterances):
        a, b = here.recognize(samples), pooled.recognize(samples)
        assert [a.words] + [t.words for t in a.alternatives] == [b.words] + [t.words for t in b.alternatives]
        if k == 0:
            assert a.text == "turn off the desk fan"
    samples = utterances[0]
    dead = pooled._pool._procs[0]
    dead.kill()
    dead.wait()
    b = pooled.recognize(samples)
    assert pooled._pool.restarts == 1 and pooled._pool._procs[0].pid != dead.pid
    assert b.text == "turn off the desk fan" and b.words == here.recognize(samples).words
    pooled.close()
    with pytest.raises(RecognizerError, match="closed"):
        pooled.recognize(samples)
    with pytest.raises(ValueError, match="at least 1"):
        sphinx(model.sentences, warps=(1.0, 1.1), processes=0)


def test_a_warp_decoder_made_after_an_unwarped_one_is_still_warped(model, tmp_path):
    """PocketSphinx keeps the warp in process-wide state and skips a warp string equal to the previous
    one, even across an unwarped decoder; the recogniser writes each decoder's warp differently."""
    samples = WavSource(speak("what is the capital of france", tmp_path / "s.wav", "en-us+f3", 170)).read(10 ** 7)

    def heard(warps):
        t = sphinx(model.sentences, warps=warps, processes=1).recognize(samples)
        return [t.words] + [a.words for a in t.alternatives]

    warped = heard((1.3,))
    unwarped = heard((1.0,))
    assert warped != unwarped  # the warp changes what is heard (the check below would be empty otherwise)
    assert heard((1.3,)) == warped


def test_pitch_chooses_the_warps_decoded_in_the_pool(model, tmp_path):
    """With warps chosen by pitch, a high voice is decoded by the three highest warps only: the pooled
    recogniser ranks exactly what an in-process one with just those warps ranks."""
    samples = WavSource(speak("turn off the desk fan", tmp_path / "f.wav", "en-us+f3", 170)).read(10 ** 7)
    by_pitch = sphinx(model.sentences, warps=(0.9, 1.0, 1.1, 1.3, 1.5), processes=2)
    fixed = sphinx(model.sentences, warps=(1.1, 1.3, 1.5), processes=1, warps_by_pitch=False)
    a, b = by_pitch.recognize(samples), fixed.recognize(samples)
    assert [a.words] + [t.words for t in a.alternatives] == [b.words] + [t.words for t in b.alternatives]
    assert a.text == "turn off the desk fan"
    # Each decoder's own hypotheses come back too, in warp order, the same from the pool as from here.
    assert [[t.words for t in h] for h in a.opinions] == [[t.words for t in h] for h in b.opinions]
    assert len(a.opinions) == 3 and all(h for h in a.opinions)
    # Widened: the two warps the pitch left out (0.9, 1.0) decoded too, all five ranked afresh; only once.
    every = sphinx(model.sentences, warps=(0.9, 1.0, 1.1, 1.3, 1.5), processes=1, warps_by_pitch=False)
    wide, c = by_pitch.widen(), every.recognize(samples)
    assert [wide.words] + [t.words for t in wide.alternatives] == [c.words] + [t.words for t in c.alternatives]
    assert [[t.words for t in h] for h in wide.opinions] == [[t.words for t in h] for h in c.opinions]
    assert len(wide.opinions) == 5 and by_pitch.widen() is None
    with pytest.raises(ValueError, match="no decoder 5"):
        by_pitch._pool.decode(b"\0\0" * 1600, which=[5])
    by_pitch.close()


def test_user_pronunciations_add_words_and_bad_lines_are_named(tmp_path):
    sentences = ["turn on the zorblax", "turn off the zorblax", "turn on the light"]
    plain = sphinx(sentences, warps=(1.0,), processes=1)
    assert "zorblax" not in plain.vocabulary.words and len(plain.vocabulary.skipped) == 2
    words = tmp_path / "words.txt"
    words.write_text("# our gadget\nzorblax Z AO R B L AE K S\n")
    rec = sphinx(sentences, warps=(1.0,), processes=1, pronunciations=str(words), accents=True)
    assert "zorblax" in rec.vocabulary.words and not rec.vocabulary.skipped
    t = hear(rec, tmp_path, "turn off the zorblax")
    assert t.accepted and t.words == "turn off the zorblax"
    words.write_text("zorblax Z AO R B L AE K S\nzorb Z Q R B\n")
    with pytest.raises(ValueError, match=r"words.txt line 2: unknown phone 'Q'"):
        sphinx(sentences, warps=(1.0,), processes=1, pronunciations=str(words))
    words.write_text("zorblax\n")
    with pytest.raises(ValueError, match=r"words.txt line 1: no phones"):
        sphinx(sentences, warps=(1.0,), processes=1, pronunciations=str(words))
    with pytest.raises(RecognizerError, match="missing.txt"):
        sphinx(sentences, warps=(1.0,), processes=1, pronunciations=str(tmp_path / "missing.txt"))


def test_british_pronunciations_are_added():
    from safu.device.pronunciations import (extra_pronunciations, parse_pronunciations, with_non_rhotic_endings,
                                            with_pronunciations)
    dictionary = {"garage": ["garage G ER AA ZH", "garage(2) G ER AA JH"], "light": ["light L AY T"]}
    phones = {"G", "ER", "AA", "ZH", "JH", "AE", "R", "IH", "L", "AY", "T", "Z", "S", "K", "B", "TH", "UW", "M",
              "HH", "F", "P", "AH", "OW", "AO", "CH"}
    shipped = parse_pronunciations(extra_pronunciations(), "accent_pronunciations.txt", phones)
    merged = with_pronunciations(dictionary, shipped)
    assert merged["garage"][:2] == dictionary["garage"] and "garage(3) G AE R AA ZH" in merged["garage"]
    assert merged["light"] == ["light L AY T"] and dictionary["garage"] == ["garage G ER AA ZH", "garage(2) G ER AA JH"]
    assert with_pronunciations(merged, shipped) == merged  # nothing added twice
    assert with_non_rhotic_endings(["timer T AY M ER"]) == ["timer T AY M ER", "timer(2) T AY M AH"]
    assert with_non_rhotic_endings(["sensor S EH N S ER", "sensor(2) S EH N S AH"]) == [
        "sensor S EH N S ER", "sensor(2) S EH N S AH"]  # nothing added twice
    assert with_non_rhotic_endings(["for F ER"]) == ["for F ER"]  # one syllable: left alone
    assert with_non_rhotic_endings(["porch P AO R CH"]) == ["porch P AO R CH"]  # only the final -er


def test_an_utterance_is_heard_the_same_whatever_came_before(model, tmp_path):
    """A PocketSphinx decoder's feature front end carries state from one utterance to the next, so this
    recording was heard as two different things before and after three others (measured with the front
    end kept); the recogniser rebuilds it per utterance."""
    first = WavSource(speak("send an email to my boss", tmp_path / "a.wav", "en-us+f3", 170)).read(10 ** 7)
    other = WavSource(speak("turn on the desk fan", tmp_path / "b.wav", "en-gb", 140)).read(10 ** 7)
    rec = sphinx(model.sentences, values=slot_values(model), warps=(1.3,), processes=1)

    def heard():
        t = rec.recognize(first)
        return [t.words] + [a.words for a in t.alternatives]

    before = heard()
    for _ in range(3):
        rec.recognize(other)
    assert heard() == before
