"""safu train turns the <none> class on for grammars (HA templates, Rhino contexts), not for listed examples."""
import json
from pathlib import Path

import safu
from safu.models.intent_model import NONE_INTENT

FIXTURE_HA = Path(__file__).parent / "fixtures" / "data" / "ha"


def test_a_grammar_trains_the_none_class_and_rejects_chit_chat(tmp_path):
    model = safu.train([str(FIXTURE_HA)], output=str(tmp_path / "m.safu"), inventory=str(FIXTURE_HA / "inventory.yaml"))
    assert NONE_INTENT in model.intents
    assert any(line.startswith("command grammar: none class turned on") for line in model.stats["report"])
    m = safu.load(tmp_path / "m.safu")
    chat = ["tell me a joke", "who won the football game last night", "what is the capital of france",
            "i like trains", "how old are you"]
    assert sum(m.predict(s).intent is None for s in chat) >= 4
    assert m.predict("turn on the kitchen lights").intent == "HassTurnOn"


def test_listed_examples_keep_the_none_class_off(tmp_path):
    rows = [{"text": f"{verb} the {area} lights", "intent": intent}
            for verb, intent in (("turn on", "LightsOn"), ("switch on", "LightsOn"), ("turn off", "LightsOff"),
                                 ("switch off", "LightsOff"))
            for area in ("kitchen", "bedroom", "hall", "office", "garage", "porch")]
    data = tmp_path / "lights.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = safu.train([str(data)])
    assert NONE_INTENT not in model.intents
    assert not any("none class turned on" in line for line in model.stats["report"])
