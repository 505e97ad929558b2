"""The voice loop's agreement between decoders (pipeline.VoiceLoop.confirm): min_agreeing decoders must
hear a command with the word checks passed, or more than half of all the recogniser's decoders in any
of their hypotheses (VoiceLoop.majority_needed)."""
from __future__ import annotations

import numpy as np

import pytest

from device_support import fixture_model_path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from safu.runtime.api import load
    return load(fixture_model_path(tmp_path_factory.mktemp("model")))


def hyp(words, ok=True):
    from safu.device.recognizer import Transcript
    return Transcript(text=words, words=words, accepted=ok, reason=None if ok else "word sequence in no command",
                      decode_s=0.0)


class Warps:
    """A recogniser of `decoders` warps that "heard" fixed hypotheses, (words, passes the word checks)
    best first per warp, every warp asked at once (nothing to widen)."""
    name, restricted, min_agreeing = "fixed", True, 2

    def __init__(self, per_warp, decoders=None):
        self.per_warp = per_warp
        self.decoders = len(per_warp) if decoders is None else decoders

    def recognize(self, samples):
        ranked = [hyp(w, ok) for w, ok in dict.fromkeys(h for hs in self.per_warp for h in hs)]
        best = next((t for t in ranked if t.accepted), ranked[0])
        best.alternatives = [t for t in ranked if t is not best]
        best.opinions = [[hyp(w, ok) for w, ok in hs] for hs in self.per_warp]
        return best

    def widen(self):
        return None


def handle(model, rec):
    from safu.device.endpointer import Utterance
    from safu.device.pipeline import VoiceLoop

    utt = Utterance(samples=np.zeros(1600, np.float32), start_s=0.0, end_s=0.1, speech_end_s=0.1, ended_by="silence")
    return VoiceLoop(model, rec).handle(utt)


OFF = "turn off the desk fan"
MISHEARD = ("turn off desk fan", False)  # read as the same command; the word checks failed it (in this test)


def test_a_majority_of_warps_hearing_the_command_in_any_form_is_agreement(model):
    """One warp hears the command with the word checks passed; three more have words the intent model
    reads as the same command that fail the word checks: 4 of 6, a majority, so it is acted on (agreeing
    still counts the warps whose words passed)."""
    assert model.predict(MISHEARD[0]).intent == model.predict(OFF).intent == "HassTurnOff"
    assert model.predict(MISHEARD[0]).slots == model.predict(OFF).slots
    rec = Warps([[(OFF, True)], [MISHEARD], [MISHEARD], [("what time is it", True), MISHEARD], [], [("x", False)]])
    event = handle(model, rec)
    assert event["intent"] == "HassTurnOff" and event["reason"] == "no actions configured"
    assert (event["asr"]["agreeing"], event["asr"]["decoders"]) == (1, 6)


def test_half_the_warps_or_fewer_is_no_second_opinion(model):
    """3 of 6 in any form (out-of-scope speech heard as one command by half the warps) is refused, and
    the reason gives both counts."""
    rec = Warps([[(OFF, True)], [MISHEARD], [MISHEARD], [("what time is it", True)], [], [("x", False)]])
    event = handle(model, rec)
    assert event["intent"] is None and event["heard_intent"] == "HassTurnOff"
    assert event["reason"] == ("speech rejected: heard as this command by 1 of 6 decoders, 2 needed; "
                               "3 with the word checks aside, 4 of 6 needed")
    # Another command's words do not count: a different slot value is a different command.
    rec = Warps([[(OFF, True)], [MISHEARD], [MISHEARD], [("turn on the desk fan", False)], [], []])
    assert handle(model, rec)["intent"] is None


def test_the_majority_is_of_all_the_warps_and_never_below_min_agreeing(model):
    """The majority counts every warp the recogniser has, asked or not: 3 of the 3 asked out of 6 is not
    one. A min_agreeing above the majority is kept."""
    rec = Warps([[(OFF, True)], [MISHEARD], [MISHEARD]], decoders=6)
    assert handle(model, rec)["intent"] is None
    rec = Warps([[(OFF, True)], [MISHEARD], [MISHEARD], [], [(OFF, True)], []])
    assert handle(model, rec)["intent"] == "HassTurnOff"  # 2 agree with the word checks passed
    rec.min_agreeing = 5  # 4 of 6 in any form: a majority, but fewer than min_agreeing
    event = handle(model, rec)
    assert event["intent"] is None
    assert event["reason"].endswith("2 of 6 decoders, 5 needed; 4 with the word checks aside, 5 of 6 needed")
    # A recogniser that does not say how many decoders it has: the count alone, as before.
    rec = Warps([[(OFF, True)], [MISHEARD], [MISHEARD], [MISHEARD]])
    del rec.decoders
    event = handle(model, rec)
    assert event["reason"] == "speech rejected: heard as this command by 1 of 4 decoders, 2 needed"


def test_pocketsphinx_says_how_many_decoders_it_has(model):
    from safu.device.asr_pocketsphinx import PocketSphinxConfig, PocketSphinxRecognizer
    from safu.device.pipeline import VoiceLoop
    from safu.device.warps import WARPS

    pytest.importorskip("pocketsphinx")
    rec = PocketSphinxRecognizer(model.sentences, config=PocketSphinxConfig(warps=(1.0, 1.1, 1.3), processes=1))
    try:
        assert rec.decoders == 3 and VoiceLoop(model, rec).majority_needed == 2
    finally:
        rec.close()
    assert len(WARPS) // 2 + 1 == 4  # the default six warps: four make a majority
