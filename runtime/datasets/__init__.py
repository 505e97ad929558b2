"""Training input for intent models: Home Assistant templates, device inventories, Rhino
contexts, JSONL, CSV and SNIPS, all turned into one list of examples.

    from safu.runtime.datasets import load_examples, check_trainable, Example, SlotSpan
    ds = load_examples(["sentences-en/"], inventory=None, max_sentences_per_intent=2000, seed=0)
    check_trainable(ds)
    ds.examples[0]   # Example(text="turn on the kitchen lights", intent="HassTurnOn",
                     #         slots=[SlotSpan("area", 12, 19, "Kitchen"), SlotSpan("domain", -1, -1, "light")])
    ds.report        # ["home assistant: 67 sentence files, 33 intents, ... sampled 46,489 ...", ...]

SlotSpan.start/end are character offsets of the surface in Example.text; a *fixed* slot (implied
by the sentence, e.g. domain=light) has start == end == -1 (SlotSpan.fixed). Every error is a
DataError (ValueError) whose message names the file, line and field.
"""
from .common import DataError, Dataset, Example, SlotSpan
from .inventory import SAMPLE_INVENTORY, Inventory, load_inventory
from .load import DEFAULT_MAX_SENTENCES_PER_INTENT, check_trainable, load_examples
from .snips import load_snips

__all__ = ["load_examples", "check_trainable", "load_snips", "load_inventory", "Example", "SlotSpan",
           "Dataset", "DataError", "Inventory", "SAMPLE_INVENTORY", "DEFAULT_MAX_SENTENCES_PER_INTENT"]
