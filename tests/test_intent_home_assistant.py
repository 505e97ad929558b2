"""Home Assistant templates: the built-in model (trained from them) and a fresh training run."""
import pytest

from safu.models.intent_model import IntentConfig, fit_intent_model
from safu.runtime.api import load_default
from safu.runtime.datasets import load_examples

EVERYDAY = [
    ("turn on the kitchen lights", "HassTurnOn", {"area": "Kitchen"}),
    ("set the bedroom temperature to 21 degrees", "HassClimateSetTemperature", {"area": "Bedroom", "temperature": "21"}),
    ("what time is it", "HassGetCurrentTime", {}),
    ("turn off the living room lights", "HassTurnOff", {"area": "Living Room"}),
    ("set a timer for 5 minutes", "HassStartTimer", {"minutes": "5"}),
    ("what's the weather like", "HassGetWeather", {}),
]


@pytest.mark.parametrize("text,intent,slots", EVERYDAY)
def test_builtin_model_understands_everyday_commands(text, intent, slots):
    p = load_default(backend="numpy").predict(text)
    assert p.intent == intent, p
    for name, value in slots.items():
        assert p.slots.get(name) == value, p


def test_builtin_model_rejects_chit_chat():
    model = load_default(backend="numpy")
    # none of these is in the shipped out-of-scope calibration list (runtime/data/out_of_scope.txt)
    chat = ["tell me a story about dragons", "who invented the telephone", "i am hungry",
            "what is the capital of spain", "my sister is visiting", "how do bees make honey"]
    rejected = [s for s in chat if model.predict(s).intent is None]
    assert len(rejected) >= 5, rejected


def test_training_on_the_full_english_template_set(shared_data):
    data = load_examples([shared_data / "home-assistant-intents" / "sentences-en"], max_sentences_per_intent=600)
    assert len({ex.intent for ex in data.examples}) >= 30
    model = fit_intent_model(data.examples, IntentConfig(bigram_buckets=512))
    assert len(model.intents) >= 30
    from safu.runtime.api import IntentModel
    import tempfile, os
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ha.safu")
        model.save(path)
        m = IntentModel(path, backend="numpy")
        for text, intent, _ in EVERYDAY[:3]:
            assert m.predict(text).best_intent == intent, text
