"""Home Assistant answers (runtime/ha_answers.py): wordless slots, inventory names, per-intent
values, context, and the tables stored in a trained model.

The layer is tested on predictions written out by hand (the spans a tagger could give), so each
case checks the layer alone; the last tests train a small model end to end."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from ha_support import train_small_ha_model

from safu.runtime.api import Prediction, SlotSpan, load
from safu.runtime.datasets.common import DataError
from safu.runtime.datasets.inventory import load_inventory
from safu.runtime.ha_answers import HomeAssistantAnswers


@pytest.fixture(scope="module")
def ha(shared_data):
    """Tables fitted from HA's English templates with HA's test home."""
    root = shared_data / "home-assistant-intents"
    return HomeAssistantAnswers.from_templates([root / "sentences-en"], root / "tests-en" / "_fixtures.yaml")


def pred(text: str, intent: str | None, *spans: tuple[str, str, str], confidence: float = 0.99,
         reason: str | None = None) -> Prediction:
    """A prediction with spans given as (slot, value, surface words in text)."""
    out = []
    for name, value, words in spans:
        a = text.index(words)
        out.append(SlotSpan(name, value, words, a, a + len(words)))
    return Prediction(text, intent, confidence, {s.name: s.value for s in out}, out, reason=reason,
                      best_intent=intent)


def test_wordless_domain_comes_from_the_template(ha):
    p = ha.answer(pred("turn on the living room lights", "HassTurnOn", ("area", "Living Room", "living room")))
    assert p.slots == {"area": "Living Room", "domain": "light"}
    p = ha.answer(pred("close the blinds in the kitchen", "HassTurnOff", ("area", "Kitchen", "kitchen"),
                       ("device_class", "blind", "blinds")))
    assert p.slots == {"area": "Kitchen", "device_class": "blind", "domain": "cover"}


def test_context_area_fills_templates_that_take_it(ha):
    text = "turn on the lights"
    assert ha.answer(pred(text, "HassTurnOn"), {"area": "Kitchen"}).slots == {"domain": "light", "area": "Kitchen"}
    assert ha.answer(pred(text, "HassTurnOn")).slots == {"domain": "light"}
    # a sentence that names its area keeps it; the satellite's area does not replace it
    p = ha.answer(pred("turn on the lights in the bedroom", "HassTurnOn", ("area", "Bedroom", "bedroom")),
                  {"area": "Kitchen"})
    assert p.slots == {"area": "Bedroom", "domain": "light"}
    # a timer template takes no area from the context
    p = ha.answer(pred("set a timer for 5 minutes", "HassStartTimer", ("minutes", "5", "5")), {"area": "Kitchen"})
    assert p.slots == {"minutes": "5"}


def test_whole_entity_name_wins_over_the_area_word_in_it(ha):
    p = ha.answer(pred("turn off the bedroom lamp", "HassTurnOff", ("area", "Bedroom", "bedroom"),
                       ("name", "lamp", "lamp")))
    assert p.slots == {"name": "Bedroom Lamp"}
    assert [(s.name, s.text) for s in p.spans] == [("name", "bedroom lamp")]


def test_a_name_not_in_the_inventory_is_rejected(ha):
    p = ha.answer(pred("turn on the flux capacitor", "HassTurnOn", ("name", "flux capacitor", "flux capacitor")))
    assert p.intent is None and "not in the inventory" in p.reason and p.slots == {}
    # a timer's name is free text, not an entity
    p = ha.answer(pred("cancel the pizza timer", "HassCancelTimer", ("name", "pizza", "pizza")))
    assert p.intent == "HassCancelTimer" and p.slots == {"name": "pizza"}


def test_values_are_per_intent_and_template(ha):
    # "open" is the cover state 'open' here, while the binary-sensor templates map it to 'on'
    p = ha.answer(pred("are the living room curtains open", "HassGetState", ("area", "Living Room", "living room"),
                       ("device_class", "curtain", "curtains"), ("state", "on", "open")))
    assert p.slots == {"area": "Living Room", "device_class": "curtain", "domain": "cover", "state": "open"}
    p = ha.answer(pred("is the shed window open", "HassGetState", ("name", "Shed Window", "shed window"),
                       ("state", "open", "open")))
    assert p.slots["state"] == "on" and p.slots["domain"] == "binary_sensor"


def test_a_number_takes_the_slot_its_words_say(ha):
    p = ha.answer(pred("remove 5 minutes from my timer", "HassDecreaseTimer", ("seconds", "5", "5")))
    assert p.slots == {"minutes": "5"}


def test_a_below_threshold_template_wording_is_accepted_chit_chat_is_not(ha):
    reason = "out of scope: confidence 0.900 below the model's threshold 0.950"
    p = ha.answer(Prediction("switch on the lights in the kitchen", None, 0.9, reason=reason,
                             best_intent="HassTurnOn"))
    assert p.intent == "HassTurnOn" and p.slots == {"area": "Kitchen", "domain": "light"}
    p = ha.answer(Prediction("tell me a joke about lights", None, 0.9, reason=reason, best_intent="HassTurnOn"))
    assert p.intent is None and p.reason == reason
    # rejected as out of scope by the <none> class: left alone
    p = ha.answer(Prediction("switch on the lights", None, 0.9, reason="out of scope: the model's <none> class",
                             best_intent="<none>"))
    assert p.intent is None


def test_an_answer_no_slot_supports_in_foreign_words_is_out_of_scope(ha):
    p = ha.answer(pred("what is the capital of france", "HassGetState"))
    assert p.intent is None and "in no HassGetState template" in p.reason
    # the same intent with a slot the model found, or in template words, stays
    assert ha.answer(pred("is the front door locked", "HassGetState", ("name", "Front Door", "front door"),
                          ("state", "locked", "locked"))).intent == "HassGetState"
    assert ha.answer(pred("who made you", "HassRespond")).intent == "HassRespond"


def test_free_text_comes_back_verbatim_for_words_never_seen(ha):
    """Wildcards are placed by the template words around them, whatever words fill them."""
    p = ha.answer(pred("play the Zyxwv Quux album", "HassMediaSearchAndPlay"), context={"area": "Kitchen"})
    assert p.slots == {"search_query": "Zyxwv Quux", "media_class": "album", "area": "Kitchen"}
    p = ha.answer(pred("add purple flamingo feathers to my shopping list", "HassShoppingListAddItem"))
    assert p.slots == {"item": "purple flamingo feathers"}
    # a place name inside the title: the reading that also fills the area wins
    p = ha.answer(pred("play The Office in the Kitchen", "HassMediaSearchAndPlay", ("area", "Office", "Office")))
    assert p.slots == {"search_query": "The Office", "area": "Kitchen"}


def rejected(text: str) -> Prediction:
    return Prediction(text, None, 0.99, reason="out of scope: the model's <none> class is the best match (0.990)",
                      best_intent="<none>")


def test_a_rejected_sentence_a_template_frames_is_read_chit_chat_is_not(ha):
    p = ha.answer(rejected("play Does Not Exist"), context={"area": "Kitchen"})
    assert (p.intent, p.slots) == ("HassMediaSearchAndPlay", {"search_query": "Does Not Exist", "area": "Kitchen"})
    p = ha.answer(rejected("broadcast the zorblat has landed"))
    assert (p.intent, p.slots) == ("HassBroadcast", {"message": "the zorblat has landed"})
    for text in ("who is the president of france", "tell me a story about dragons", "that was not what i meant"):
        assert ha.answer(rejected(text)).intent is None, text


def test_a_number_before_minutes_is_minutes_whatever_the_model_said(ha):
    p = ha.answer(pred("remove 5 minutes from 1 hour timer", "HassDecreaseTimer", ("seconds", "5", "5"),
                       ("start_hours", "1", "1")))
    assert p.slots == {"minutes": "5", "start_hours": "1"}


def test_tables_round_trip_through_json(ha):
    again = HomeAssistantAnswers.from_json(ha.to_json())
    for p in [pred("turn on the living room lights", "HassTurnOn", ("area", "Living Room", "living room")),
              pred("turn off the bedroom lamp", "HassTurnOff", ("area", "Bedroom", "bedroom"), ("name", "lamp", "lamp"))]:
        assert again.answer(p, {"area": "Office"}).slots == ha.answer(p, {"area": "Office"}).slots
    with pytest.raises(ValueError, match="m.safu: metadata ha.answers"):
        HomeAssistantAnswers.from_json('{"tables": {"version": 99}, "inventory": {}}', "m.safu")
    with pytest.raises(ValueError, match="m.safu: metadata ha.answers"):
        HomeAssistantAnswers.from_json("not json", "m.safu")


def test_no_templates_is_an_error_naming_the_path(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "hi", "intent": "Greet"}\n')
    assert HomeAssistantAnswers.for_training([tmp_path]) is None
    with pytest.raises(DataError, match="no Home Assistant template files"):
        HomeAssistantAnswers.from_templates([tmp_path])


def test_fixture_attributes_give_the_device_class(shared_data, tmp_path):
    inv = load_inventory(shared_data / "home-assistant-intents" / "tests-en" / "_fixtures.yaml")
    assert inv.entity_by_name("Curtain Left").device_class == "curtain"
    bad = tmp_path / "inv.yaml"
    bad.write_text("entities:\n  - {name: Lamp, id: light.lamp, attributes: [x]}\n")
    with pytest.raises(DataError, match=r"inv.yaml:2: field 'attributes': expected a mapping"):
        load_inventory(bad)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    return train_small_ha_model(tmp_path_factory.mktemp("ha"))


def test_training_stores_the_tables_and_predict_uses_context(small_model):
    model = load(small_model, backend="numpy")
    assert model.answers is not None
    assert model.predict("turn on the lights", context={"area": "Kitchen"}).slots == \
        {"domain": "light", "area": "Kitchen"}
    assert model.predict("turn off the kitchen lights").slots == {"area": "Kitchen", "domain": "light"}
    assert model.predict("switch on the bedroom lamp").slots == {"name": "Bedroom Lamp"}
    with pytest.raises(TypeError, match="context must be a dict"):
        model.predict("turn on the lights", context="Kitchen")


def test_cli_predict_area(small_model):
    cmd = [sys.executable, "-m", "safu.runtime.cli", "predict", str(small_model), "--json",
           "--area", "Living Room", "turn off the lights"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["slots"] == {"domain": "light", "area": "Living Room"}


def test_satellite_place_is_checked_and_passed_to_every_predict(small_model):
    from safu.runtime.ha_answers import WithContext, place_context

    model = load(small_model, backend="numpy")
    assert place_context(model, "living room") == {"area": "Living Room"}
    with pytest.raises(ValueError, match=r"--area: 'Attic' is not an area of the model's inventory; "
                                         r"expected one of Bedroom, Kitchen, Living Room"):
        place_context(model, "Attic")
    with pytest.raises(ValueError, match="--floor: 'Loft' is not a floor.*the inventory has no floors"):
        place_context(model, None, "Loft", "--floor")
    heard = WithContext(model, {"area": "Kitchen"})
    assert heard.predict("turn on the lights").slots == {"domain": "light", "area": "Kitchen"}
    assert heard.predict("turn on the lights", context={"area": "Bedroom"}).slots["area"] == "Bedroom"
    assert heard.intents == model.intents   # the rest is the model's


def test_cli_listen_refuses_an_area_the_inventory_lacks(small_model):
    cmd = [sys.executable, "-m", "safu.runtime.cli", "listen", "--model", str(small_model), "--area", "Attic"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--area: 'Attic' is not an area" in done.stderr


def test_requires_and_excludes_context_are_honoured(tmp_path):
    (tmp_path / "t.yaml").write_text("""\
language: en
intents:
  HassTurnOn:
    data:
      - sentences: ["activate [the] {name}"]
        slots: {mode: lamp}
        requires_context: {domain: light}
      - sentences: ["activate [the] {name}"]
        slots: {mode: breeze}
        excludes_context: {domain: [light, switch]}
""")
    (tmp_path / "home.yaml").write_text("entities:\n  - {name: Desk Lamp, id: light.desk}\n  - {name: Desk Fan, id: fan.desk}\n")
    answers = HomeAssistantAnswers.from_templates([tmp_path / "t.yaml"], tmp_path / "home.yaml")
    text = "activate the desk lamp"
    p = pred(text, "HassTurnOn", ("name", "Desk Lamp", "desk lamp"))
    assert answers.answer(p, context={"domain": "light"}).slots["mode"] == "lamp"
    fan = pred("activate the desk fan", "HassTurnOn", ("name", "Desk Fan", "desk fan"))
    assert answers.answer(fan, context={"domain": "fan"}).slots["mode"] == "breeze"
    refused = answers.answer(p, context={"domain": "switch"})   # no template admits it
    assert refused.intent is None and "does not admit the context" in refused.reason
    # the entity named must pass the template's rules too, as in HA's matcher: with no context,
    # the lamp is only the light template's and the fan only the other's
    assert answers.answer(p).slots["mode"] == "lamp"
    assert answers.answer(fan).slots["mode"] == "breeze"
    assert answers.answer(p, context={"domain": "fan"}).intent is None   # a light is excluded there


def test_cli_listen_area_reaches_the_voice_loop(small_model, tmp_path):
    """Spoken 'turn on the lights' heard by a satellite in the bedroom: the voice loop's prediction
    takes the area from --area (real PocketSphinx on espeak-ng speech; nothing is switched, as the
    default actions name no Home Assistant intent)."""
    pytest.importorskip("pocketsphinx", reason="PocketSphinx is needed for safu listen")
    from device_support import speak

    wav = speak("turn on the lights", tmp_path / "lights.wav")
    cmd = [sys.executable, "-m", "safu.runtime.cli", "listen", "--model", str(small_model), "--wav", str(wav),
           "--area", "bedroom", "--decoder-processes", "1", "--state-file", str(tmp_path / "gpio.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    heard = [e for e in events if e.get("type") == "utterance"]
    assert heard and heard[0]["transcript"] == "turn on the lights", done.stdout + done.stderr
    assert heard[0]["heard_slots"] == {"domain": "light", "area": "Bedroom"}


def test_an_entity_name_written_as_a_template_has_each_spelling(tmp_path):
    """HA's test fixtures write "Trader Joe[']s": each spelling is a name, its own slot value."""
    (tmp_path / "home.yaml").write_text('entities:\n  - {name: "Trader Joe[\']s", id: todo.tj}\n  - {name: Chores, id: todo.chores}\n')
    inv = load_inventory(tmp_path / "home.yaml")
    assert [(e.name, e.spellings) for e in inv.entities] == [("Trader Joe's", ["Trader Joes"]), ("Chores", [])]
    assert inv.entity_by_name("trader joes").id == "todo.tj"
    (tmp_path / "t.yaml").write_text("language: en\nintents:\n  HassListAddItem:\n    data:\n"
                                     "      - sentences: ['add milk to [the] {name} list']\n")
    answers = HomeAssistantAnswers.from_templates([tmp_path / "t.yaml"], tmp_path / "home.yaml")
    for said, value in (("trader joes", "Trader Joes"), ("trader joe's", "Trader Joe's")):
        text = f"add milk to the {said} list"
        assert answers.answer(pred(text, "HassListAddItem", ("name", value, said))).slots["name"] == value
    (tmp_path / "bad.yaml").write_text('entities:\n  - {name: "Trader (Joe", id: todo.tj}\n')
    with pytest.raises(DataError, match="name"):
        load_inventory(tmp_path / "bad.yaml")


def test_name_domains_restrict_the_entity_named(tmp_path):
    (tmp_path / "HassTurnOn").mkdir()
    (tmp_path / "HassTurnOn" / "name_only.yaml").write_text(
        "language: en\ndata:\n  - sentences: ['open [the] {name}']\n    name_domains: [cover]\n")
    (tmp_path / "valve.yaml").write_text("language: en\nintents:\n  HassTurnOn:\n    data:\n"
                                         "      - sentences: ['open [the] {name}']\n"
                                         "        requires_context: {domain: valve}\n        slots: {domain: valve}\n")
    (tmp_path / "home.yaml").write_text("entities:\n  - {name: Main Valve, id: valve.main}\n  - {name: Blind, id: cover.blind}\n")
    answers = HomeAssistantAnswers.from_templates([tmp_path / "HassTurnOn", tmp_path / "valve.yaml"], tmp_path / "home.yaml")
    valve = answers.answer(pred("open the main valve", "HassTurnOn", ("name", "Main Valve", "main valve")))
    assert valve.slots == {"name": "Main Valve", "domain": "valve"}   # the cover-only block cannot take a valve
    blind = answers.answer(pred("open the blind", "HassTurnOn", ("name", "Blind", "blind")))
    assert blind.slots == {"name": "Blind"}


def test_a_rejected_sentence_is_accepted_only_as_a_template_wording(ha):
    """Below the threshold, a sentence of template words is accepted when its neighbouring words
    are neighbours in a template too: every HA test sentence passes that check, "who are you"
    (words of "who made you" and "are you always listening") does not."""
    def rejected(text, intent):
        return Prediction(text, None, 0.6, {}, [], reason="out of scope: confidence 0.600 below the model's threshold 0.930",
                          best_intent=intent)
    assert ha.answer(rejected("who made you", "HassRespond")).intent == "HassRespond"
    assert ha.answer(rejected("who are you", "HassRespond")).intent is None
    assert ha.answer(rejected("turn every light on across the house", "HassTurnOn")).intent == "HassTurnOn"


def test_a_name_in_near_spellings_or_another_order_is_that_name(ha):
    """A name the inventory lacks is first read as the one inventory name it is a near miss of
    (vowels or a doubled letter different, one letter off, words in another order); a name
    near none, or near several, is still not in the inventory."""
    p = ha.answer(pred("turn on the living rum lights", "HassTurnOn", ("area", "living rum", "living rum")))
    assert p.slots == {"area": "Living Room", "domain": "light"}
    p = ha.answer(pred("is the garage secondary door closed", "HassGetState",
                       ("name", "garage secondary door", "garage secondary door"), ("state", "off", "closed")))
    assert p.slots["name"] == "Secondary Garage Door"
    assert ha.answer(pred("turn on the lights in the gardn", "HassTurnOn", ("area", "gardn", "gardn"))).intent is None


def test_skip_words_are_left_out_as_whole_phrases(ha):
    """HA's skip words are phrases ("for me", "could you"): "for me" after a title is left out,
    "me" alone is not a skip word."""
    p = ha.answer(rejected("play Does Not Exist for me"), context={"area": "Kitchen"})
    assert p.slots["search_query"] == "Does Not Exist"
    p = ha.answer(rejected("play Does Not Exist with me"), context={"area": "Kitchen"})
    assert p.slots["search_query"] == "Does Not Exist with me"


def test_the_answer_whose_templates_say_every_word_wins(ha):
    """HA's matcher needs every word of a template: 'is light detected' is the binary sensor
    Light in '(is|are) <name> {state}', not the device class of 'are any lights detected';
    'open the garage door' is the garage door template, not an area Garage."""
    p = ha.answer(pred("is light detected", "HassGetState", ("state", "on", "detected")))
    assert p.slots == {"name": "Light", "state": "on", "domain": "binary_sensor", "device_class": "light"}
    p = ha.answer(pred("open the garage door", "HassTurnOn", ("area", "Garage", "garage")))
    assert p.slots == {"domain": "cover", "device_class": "garage"}


def test_every_slot_gets_words_when_best_first_would_leave_one_out(ha):
    """'1 and a half hours': the model calling '1' minutes must not leave hours without a number
    ('half' is the minutes in HA's template '{hours} and a half hours')."""
    p = ha.answer(pred("set a timer for 1 and a half hours", "HassStartTimer", ("minutes", "1", "1")),
                  context={"area": "Kitchen"})
    assert p.slots == {"hours": "1", "minutes": "30"}


def test_a_name_the_model_did_not_tag_is_found_in_near_spellings_too(ha):
    """No span from the model and no name as written: the one entity the words are a near miss
    of fills {name}, and an area word inside it is that entity ('bedrum lamp', not 'bedrum')."""
    p = ha.answer(pred("set the bedrum lamp to 50% brightness", "HassLightSet", ("brightness", "50", "50")))
    assert p.slots == {"name": "Bedroom Lamp", "brightness": "50"}
