"""The Python API: train, load and run intent models.

    import safu
    model = safu.train(["intents/"], output="home.safu")    # HA templates, YAML, JSONL, CSV, SNIPS
    model = safu.load("home.safu")                          # C++ core if built, else numpy
    p = model.predict("turn on the kitchen lights")
    p.intent, p.confidence, p.slots                         # 'HassTurnOn', 0.97, {'area': 'kitchen', ...}
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from safu.export.model_file import ModelFormatError, decode_model  # noqa: F401  (re-exported: callers catch it from here)
from safu.models.intent_model import NONE_INTENT
from safu.models.slot_case import case_evidence, case_flags
from safu.models.slot_decoding import label_parts, label_spans, legal_transitions, masked_transitions, viterbi_path
from safu.models.slot_values import ClosedSlots, SlotValues
from safu.models.tokenizer import Vocabulary

DEFAULT_MODEL = Path(__file__).parent / "data" / "smart_home.safu"
P_FLOOR = 1e-30   # slot probabilities are floored before the log (docs/intent_model.md)


@dataclass(slots=True)   # slots: the C++ binding fills a result's fields directly (cpp/bindings/intent_model_py.cpp)
class SlotSpan:
    name: str
    value: str   # canonical value (synonyms resolved) or the surface text
    text: str    # surface text as spoken/typed
    start: int   # char offsets into the input text
    end: int


@dataclass(slots=True)
class Prediction:
    text: str
    intent: str | None
    confidence: float
    slots: dict = field(default_factory=dict)
    spans: list = field(default_factory=list)
    reason: str | None = None           # why intent is None (out of scope, empty input)
    best_intent: str | None = None      # the top intent even when rejected
    truncated: bool = False             # the input had more tokens than the model reads

    def to_dict(self) -> dict:
        return asdict(self)


class IntentModel:
    """A loaded intent model; `predict` is thread-safe (no mutable state but first-use caches).

    With the C++ core the file is parsed and checked once, by the core; what only Python reads
    (the vocabulary, the training sentences, the slot tables of the numpy decoder) is parsed from
    the same bytes on first use, so loading costs the core's parse and nothing more."""

    def __init__(self, path, backend: str = "auto"):
        from safu.runtime.backends import core_forward, numpy_forward, uses_core

        self.path = str(path)
        self.backend = backend
        core = uses_core(backend)   # raises for an unknown backend or a missing core
        with open(path, "rb") as f:
            self._image = f.read()
        if core:
            self._forward = core_forward(self._image, self.path)   # the core's checks, in the same words
            self.intents = list(self._forward.intents)   # may include NONE_INTENT
            self.slot_labels = list(self._forward.slot_labels)
            self.threshold = float(self._forward.threshold)
            self.max_tokens = int(self._forward.max_tokens)
            answers = self._forward.metadata.get("ha.answers")
        else:
            mf = self._model_file
            self._forward = numpy_forward(mf, self.path)   # check_intent_model before anything is built
            self.intents = list(mf.require("intent.labels"))
            self.slot_labels = list(mf.require("slot.labels"))
            self.threshold = float(mf.require("intent.threshold"))
            self.max_tokens = int(mf.require("tokenizer.max_tokens"))
            answers = mf.metadata.get("ha.answers")
        self.slot_names = sorted({lab[2:] for lab in self.slot_labels if lab != "O"})
        # The predictor: the core's own predict, which builds the Prediction in C++ (held to the numpy
        # decoder's intent and spans by tests/test_cpp_intent.py), else the numpy decoder below.
        self._predict = self._numpy_predict
        if core:
            self._forward.bind_result_types(Prediction, SlotSpan)
            self._predict = self._forward.fast_predict   # predict_result, called without pybind11's dispatch
        self._masked = {}   # intent index -> masked transitions, filled on first use (a race only
                            # computes the same array twice, so predict stays thread-safe)
        self.answers = None   # Home Assistant answers (runtime/ha_answers.py), stored by training on HA templates
        if answers:
            from safu.runtime.ha_answers import HomeAssistantAnswers
            self.answers = HomeAssistantAnswers.from_json(answers, self.path)

    # What only Python reads, parsed from the loaded bytes on first use (a race parses twice).
    @cached_property
    def _model_file(self):
        return decode_model(self._image, self.path)

    @cached_property
    def metadata(self) -> dict:
        return self._model_file.metadata

    @cached_property
    def vocab(self) -> Vocabulary:
        return Vocabulary.from_metadata(self.metadata)

    @cached_property
    def sentences(self) -> list[str]:
        """The training sentences stored in the model (the voice recogniser's language)."""
        return list(self.metadata.get("train.sentences", []))

    @cached_property
    def synonyms(self) -> dict:
        """{(slot, surface tokens): canonical value} of slot.synonyms."""
        out = {}
        for entry in self.metadata.get("slot.synonyms", []):
            name, surface, value = entry.split("\t")
            out[(name, surface)] = value
        return out

    @cached_property
    def slot_allowed(self):
        mf = self._model_file
        return (mf.tensor("slot_allowed") > 0) if "slot_allowed" in mf.tensors else None

    @cached_property
    def slot_transitions(self):
        mf = self._model_file
        return mf.tensor("slot_transitions") if "slot_transitions" in mf.tensors else None

    @cached_property
    def trim_possessive(self) -> frozenset:
        """The slots whose spans leave out a final "'s" (slot.trim_possessive)."""
        return frozenset(self.metadata.get("slot.trim_possessive", []))

    @cached_property
    def slot_case(self):
        """The letter-case evidence table (features, S) of models/slot_case.py, or None."""
        mf = self._model_file
        return mf.tensor("slot_case") if "slot_case" in mf.tensors else None

    @cached_property
    def slot_legal(self):
        return legal_transitions(self.slot_labels)

    @cached_property
    def slot_parts(self):
        return label_parts(self.slot_labels)

    @cached_property
    def slot_values(self) -> SlotValues | None:
        md = self.metadata
        if not md.get("slot.values"):
            return None
        return SlotValues(list(md["slot.values"]), self.vocab.lookup, self.slot_labels,
                          float(md.get("slot.value_bonus", 0.0)))

    @cached_property
    def closed_slots(self) -> ClosedSlots | None:
        """The closed-list slots of `slot.closed` (models/slot_values.py), or None: no slot is closed."""
        return ClosedSlots.from_metadata(self.metadata)

    def off_list(self, prediction) -> list[tuple[str, str]]:
        """(slot, value) of each closed-list slot of the prediction whose value is not on its list
        (compared as the list spells it, case and punctuation aside). predict reports what the tagger
        read, such values included ("with a lot of sugar" read as milkAmount "a"); a caller that acts
        on a command checks this first, as the voice loop does. Empty for a model without closed slots."""
        closed = self.closed_slots
        return closed.off_list(dict(prediction.slots)) if closed is not None else []

    def __repr__(self) -> str:
        return f"IntentModel({self.path!r}, intents={len(self.intents)}, vocab={len(self.vocab)})"

    def probabilities(self, text: str):
        """Returns (ids, tokens, p_intent (C,), p_slot (n, S))."""
        ids, toks = self.vocab.encode(text, self.max_tokens)
        p_intent, p_slot = self._forward.forward(ids)
        return ids, toks, np.asarray(p_intent), np.asarray(p_slot)

    def predict(self, text: str, context: dict | None = None) -> Prediction:
        """`context`: where the command was heard, {"area": ..., "floor": ...} (Home Assistant's
        satellite); with Home Assistant answers (self.answers) the prediction gets the slots HA
        needs, the area from the context where the template takes it (runtime/ha_answers.py)."""
        if context is not None and not isinstance(context, dict):
            raise TypeError(f"predict context must be a dict such as {{'area': 'Kitchen'}}, got {type(context).__name__}")
        pred = self._predict(text)
        return self.answers.answer(pred, context) if self.answers is not None else pred

    def _numpy_predict(self, text: str) -> Prediction:
        if not isinstance(text, str):
            raise TypeError(f"predict expects a str, got {type(text).__name__}")
        ids, toks, p_intent, p_slot = self.probabilities(text)
        truncated = len(toks) == self.max_tokens and len(self.vocab.encode(text, self.max_tokens + 1)[1]) > self.max_tokens
        if len(toks) == 0:
            return Prediction(text, None, 0.0, reason="empty input: no words to understand")
        best = int(np.argmax(p_intent))
        conf = float(p_intent[best])
        allowed = self.slot_allowed[best] if self.slot_allowed is not None else None
        if best not in self._masked:
            self._masked[best] = masked_transitions(self.slot_legal, self.slot_transitions, allowed)
        evidence = self.slot_values.evidence(ids) if self.slot_values is not None else None
        if self.slot_case is not None:
            case = case_evidence(case_flags(text, toks), self.slot_case)
            evidence = case if evidence is None else evidence + case
        spans = decode_slots(text, toks, p_slot, self.slot_labels, self.synonyms, allowed,
                             self.slot_transitions, self.slot_legal, evidence, self.slot_parts, self._masked[best],
                             self.trim_possessive)
        pred = Prediction(text, self.intents[best], conf, {s.name: s.value for s in spans}, spans,
                          best_intent=self.intents[best], truncated=truncated)
        if self.intents[best] == NONE_INTENT:
            pred.intent = None
            pred.slots, pred.spans = {}, []
            pred.reason = f"out of scope: the model's {NONE_INTENT} class is the best match ({conf:.3f})"
        elif conf < self.threshold:
            pred.intent = None
            pred.slots, pred.spans = {}, []
            pred.reason = f"out of scope: confidence {conf:.3f} below the model's threshold {self.threshold:.3f}"
        return pred


def decode_slots(text, toks, p_slot, labels, synonyms, allowed=None, transitions=None,
                 legal=None, evidence=None, parts=None, masked=None, trim_possessive=frozenset()) -> list[SlotSpan]:
    """Slot decoding of docs/intent_model.md: Viterbi over log p_slot (plus `evidence`, the known
    values' bonus (n, S)) under the BIO rules and the model's `slot_transitions` scores when it
    has them, over the labels the predicted intent allows; spans get their canonical value from
    `slot.synonyms`. A span of a slot in `trim_possessive` ends before its last token's final "'s"."""
    if masked is None:
        masked = masked_transitions(legal if legal is not None else legal_transitions(labels), transitions, allowed)
    log_p = np.log(np.maximum(np.asarray(p_slot, dtype=np.float64), P_FLOOR))
    if evidence is not None:
        log_p = log_p + evidence
    label_ids = viterbi_path(log_p, masked)
    out, seen = [], set()
    for name, a, b in label_spans(label_ids, labels, parts):
        if name in seen:
            continue  # the first span of a slot name wins
        seen.add(name)
        surface_tokens = " ".join(t.text for t in toks[a:b + 1])
        end = toks[b].end
        if name in trim_possessive and len(toks[b].text) > 2 and toks[b].text.endswith("'s"):
            end -= 2
        surface = text[toks[a].start:end]
        out.append(SlotSpan(name, synonyms.get((name, surface_tokens), surface), surface, toks[a].start, end))
    return out


def load(path, backend: str = "auto") -> IntentModel:
    """Loads a .safu intent model. Raises ModelFormatError (ValueError) or OSError with the path."""
    if str(path) == "default":
        return load_default(backend)
    return IntentModel(path, backend)


def load_default(backend: str = "auto") -> IntentModel:
    """The built-in smart-home model shipped in the package (trained from the HA templates)."""
    if not DEFAULT_MODEL.exists():
        raise FileNotFoundError(f"the built-in model is missing from the installation: {DEFAULT_MODEL}")
    return IntentModel(DEFAULT_MODEL, backend)


def train(data, output=None, config=None, inventory=None, progress=None, max_sentences_per_intent=None,
          seed=None, skip_invalid=False, auto_none_class=True):
    """Trains an intent model from files/folders (see safu.runtime.datasets); saves it if `output`.

    max_sentences_per_intent: cap per intent (templates are always sampled; see load_examples).
    seed: sampling seed (default: config.seed). skip_invalid: bad JSONL/CSV rows are skipped and
    reported instead of stopping the load. Examples with intent None are out-of-scope sentences:
    with the shipped ones they calibrate rejection (and train the <none> class when it is on).
    With a single intent the <none> class is turned on (unless auto_none_class is False), since
    rejection is then all there is to learn. Refuses an `output` that is one of the inputs. Returns the TrainedIntentModel.
    """
    from dataclasses import replace

    from safu.models.intent_model import IntentConfig, fit_intent_model
    from safu.runtime.datasets import load_examples
    from safu.runtime.datasets.load import check_output_not_input

    paths = [data] if isinstance(data, (str, Path)) else list(data)
    config = replace(config) if config is not None else IntentConfig()
    if output is not None:
        check_output_not_input(output, paths)
    if progress:
        progress("reading training data")
    dataset = load_examples(paths, inventory=inventory, max_sentences_per_intent=max_sentences_per_intent,
                            seed=config.seed if seed is None else seed, skip_invalid=skip_invalid)
    report = list(dataset.report)
    commands = [ex for ex in dataset.examples if ex.intent is not None]
    data_oos = [ex.text for ex in dataset.examples if ex.intent is None]
    shipped = out_of_scope_sentences()
    if data_oos:
        report.append(f"{len(data_oos):,} examples with intent null used as out-of-scope sentences "
                      f"(with {len(shipped)} shipped ones)")
    intents = sorted({ex.intent for ex in commands})
    if len(intents) == 1 and not config.none_class and auto_none_class:
        config.none_class = True
        report.append(f"one intent ({intents[0]!r}): none class turned on, so rejection learns from "
                      f"{len(shipped) + len(data_oos):,} out-of-scope sentences as the class {NONE_INTENT!r}")
    elif _only_grammars(report) and not config.none_class and auto_none_class:
        # A grammar (Home Assistant templates, Rhino context) defines a closed command language, so
        # the shipped chit-chat is out of scope for it; the logistic layer's confidence alone lets too
        # much of it through (HA templates with HA's test home: 81 of 125 shipped and 74 of 102
        # held-out chat sentences accepted, against 1 and 1 with the class; bench/bench_ha.py).
        # Listed examples (JSONL, CSV, SNIPS) may cover chit-chat themselves (CLINC150 does), so
        # there it stays off.
        config.none_class = True
        report.append(f"command grammar: none class turned on, so rejection learns from "
                      f"{len(shipped) + len(data_oos):,} out-of-scope sentences as the class {NONE_INTENT!r}")
    model = fit_intent_model(commands, config, out_of_scope=shipped + data_oos, progress=progress,
                             closed_slots=dataset.closed_slots)
    from safu.runtime.ha_answers import HomeAssistantAnswers
    answers = HomeAssistantAnswers.for_training(paths, inventory, seed=config.seed if seed is None else seed)
    if answers is not None:   # the slots Home Assistant needs, applied by predict (runtime/ha_answers.py)
        model.stats.setdefault("metadata", {})["ha.answers"] = answers.to_json()
        report.append("home assistant answers: wordless slots, inventory names and context stored in the model")
    model.stats["report"] = report
    if output is not None:
        model.save(output)
    return model


def _only_grammars(report: list[str]) -> bool:
    """True when every training file was a grammar (HA templates or a Rhino context), read from the
    loader's report lines."""
    grammar = any(line.startswith(("home assistant:", "rhino ")) for line in report)
    listed = any(line.startswith("listed examples") or line.startswith(("jsonl", "csv", "snips")) for line in report)
    return grammar and not listed


def out_of_scope_sentences() -> list[str]:
    """Shipped out-of-domain sentences used to calibrate rejection."""
    path = Path(__file__).parent / "data" / "out_of_scope.txt"
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
