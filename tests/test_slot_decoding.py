"""Slot decoding (docs/intent_model.md "Slot decoding"): the BIO Viterbi against brute force, the
transition table fitted from label bigrams, and spans on the Rhino coffee context."""
import itertools
from pathlib import Path

import numpy as np
import pytest
from device_support import SHARED_DATA

from safu.models.slot_decoding import label_spans, legal_transitions, viterbi_labels
from safu.models.slot_transitions import FORBIDDEN, fit_slot_transitions, transition_counts

LABELS = ["O", "B-a", "I-a", "B-b", "I-b"]
COFFEE = SHARED_DATA / "picovoice-coffee" / "coffee_maker.yaml"


def _score(seq, log_p, legal, T):
    total, prev = 0.0, -1
    for j, s in enumerate(seq):
        if not legal[prev + 1, s]:
            return -np.inf
        total += log_p[j, s] + (0.0 if T is None else T[prev + 1, s])
        prev = s
    return total


def test_legal_transitions_follow_bio():
    legal = legal_transitions(LABELS)
    assert legal.shape == (6, 5)
    assert not legal[0, 2] and not legal[0, 4]          # an utterance cannot start inside a slot
    assert not legal[1, 2] and not legal[1, 4]          # O -> I-x
    assert legal[2, 2] and legal[3, 2]                  # B-a -> I-a, I-a -> I-a
    assert not legal[2, 4] and not legal[3, 4]          # a -> I-b
    assert legal[:, [0, 1, 3]].all()                    # O and B-x may follow anything


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_finds_the_best_legal_path(seed):
    rng = np.random.default_rng(seed)
    legal = legal_transitions(LABELS)
    for n in range(1, 5):
        log_p = np.log(rng.dirichlet(np.ones(5), size=n))
        T = rng.normal(0, 1, (6, 5)) if seed % 2 else None
        allowed = np.array([True, True, True, seed < 3, seed < 3])
        got = viterbi_labels(log_p, legal, T, allowed)
        paths = [p for p in itertools.product(range(5), repeat=n) if allowed[list(p)].all()]
        best = max(_score(p, log_p, legal, T) for p in paths)
        assert _score(got, log_p, legal, T) == pytest.approx(best, abs=1e-12)
        assert allowed[got].all()


def test_viterbi_keeps_a_multi_word_value_in_one_span():
    # Per-token argmax says "a" = B-b (with a lot of ...), "lot of sugar" = I-a: a stray I-x.
    # The legal path with the most probability keeps the four words in one slot.
    p = np.array([[0.1, 0.2, 0.0, 0.7, 0.0],     # a
                  [0.05, 0.0, 0.9, 0.0, 0.05],   # lot
                  [0.05, 0.0, 0.9, 0.0, 0.05],   # of
                  [0.05, 0.0, 0.9, 0.0, 0.05]])  # sugar
    labels = viterbi_labels(np.log(np.maximum(p, 1e-30)), legal_transitions(LABELS))
    assert label_spans(labels, LABELS) == [("a", 0, 3)]


def test_label_spans_split_runs():
    assert label_spans([1, 2, 0, 3, 1, 2, 2], LABELS) == [("a", 0, 1), ("b", 3, 3), ("a", 4, 6)]
    assert label_spans([], LABELS) == []


def test_transition_table_is_log_bigram_probabilities():
    seqs = [np.array([1, 2, 0, 3]), np.array([0, 1, 2, 2]), np.array([3, 4, 0])]
    counts = transition_counts(seqs, 5)
    assert counts[0].tolist() == [1, 1, 0, 1, 0]
    assert counts[1 + 1, 2] == 2 and counts[2 + 1, 0] == 1      # B-a -> I-a twice, I-a -> O once
    T = fit_slot_transitions(seqs, LABELS, weight=1.0)
    legal = legal_transitions(LABELS)
    assert T.dtype == np.float32 and T.shape == (6, 5)
    assert (T[~legal] == FORBIDDEN).all()
    np.testing.assert_allclose(np.where(legal, np.exp(T), 0.0).sum(axis=1), 1.0, rtol=1e-5)
    assert T[2, 2] > T[2, 0]          # after B-a, I-a was seen and O was not
    weighted = fit_slot_transitions(seqs, LABELS)
    np.testing.assert_allclose(weighted[legal], 0.75 * T[legal], rtol=1e-6)


@pytest.fixture(scope="module")
def coffee_model(tmp_path_factory):
    if not COFFEE.exists():
        pytest.skip(f"the Rhino coffee context is not in {COFFEE.parent}")
    import safu
    path = tmp_path_factory.mktemp("coffee") / "coffee.safu"
    safu.train([COFFEE], output=path)
    return path


@pytest.mark.parametrize("backend", ["numpy", "core"])
def test_coffee_multi_word_values_come_back_whole(coffee_model, backend):
    import safu
    from safu.runtime.backends import core_available
    if backend == "core" and not core_available():
        pytest.skip("the C++ core is not built")
    model = safu.load(coffee_model, backend=backend)
    p = model.predict("can I get a large dark roast latte with a lot of sugar")
    assert p.slots == {"size": "large", "roast": "dark roast", "coffeeDrink": "latte",
                       "sugarAmount": "a lot of sugar"}
    p = model.predict("make me a medium roast double shot americano with a bit of almond milk and lots of sugar")
    assert p.slots["milkAmount"] == "a bit of almond milk" and p.slots["sugarAmount"] == "lots of sugar"


# ---- canonical values: number words in phrase slots ------------------------------------------

def test_digit_form_writes_numbers_as_the_recognisers_do():
    from safu.device.spoken_numbers import words_to_digits
    from safu.runtime.datasets.numbers import digit_form, number_words
    phrases = ["twenty ounce", "eight ounce", "a lot of sugar", "one two", "hundred", "point five",
               "twenty one point five degrees", "three thousand four", "the one hundred and one"]
    phrases += [f"{number_words(n)} ounce" for n in range(0, 1200, 7)]
    for phrase in phrases:
        assert digit_form(phrase) == words_to_digits(phrase), phrase
    assert digit_form("twenty ounce") == "20 ounce" and digit_form("a lot of sugar") == "a lot of sugar"


def test_rhino_phrase_values_train_in_digits_and_report_the_phrase(tmp_path):
    from safu.runtime.datasets import load_examples
    path = tmp_path / "ctx.yaml"
    path.write_text("context:\n  expressions:\n    order:\n      - \"a $size:size drink\"\n"
                    "    count:\n      - \"give me $pv.TwoDigitInteger:n cups\"\n"
                    "  slots:\n    size: [\"twenty ounce\", \"small\"]\n")
    examples = load_examples([path]).examples
    sizes = {e.text: e.slots[0].value for e in examples if e.intent == "order"}
    assert sizes == {"a twenty ounce drink": "twenty ounce", "a 20 ounce drink": "twenty ounce",
                     "a small drink": "small"}
    counts = {e.text: e.slots[0].value for e in examples if e.intent == "count"}
    assert counts["give me 21 cups"] == "21" and counts["give me twenty one cups"] == "21"


@pytest.mark.parametrize("backend", ["numpy", "core"])
def test_coffee_numbers_come_back_as_the_context_spells_them(coffee_model, backend):
    import safu
    from safu.runtime.backends import core_available
    if backend == "core" and not core_available():
        pytest.skip("the C++ core is not built")
    model = safu.load(coffee_model, backend=backend)
    for text in ("can I get a 20 ounce latte", "can I get a twenty ounce latte"):
        assert model.predict(text).slots == {"size": "twenty ounce", "coffeeDrink": "latte"}, text
    assert model.predict("brew an 8 ounce dark roast espresso").slots["size"] == "eight ounce"


# ---- known values as evidence ------------------------------------------------------------------

def test_known_values_add_their_bonus_to_whole_matches():
    from safu.models.slot_values import SlotValues, slot_value_entries
    from safu.models.tokenizer import Vocabulary, tokenize
    from safu.runtime.datasets.common import Example, SlotSpan
    vocab = Vocabulary(["<pad>", "<sod>", "<frg>", "<eod>", "<unk>", "<num>", "a", "lot", "of", "sugar", "milk"])
    text = "a lot of sugar"
    examples = [Example(text, "order", [SlotSpan("b", 0, 14, text)]),
                Example("milk", "order", [SlotSpan("a", 0, 4, "milk")])]
    entries = slot_value_entries(examples, [tokenize(e.text) for e in examples])
    assert entries == ["a\tmilk", "b\ta lot of sugar"]
    values = SlotValues(entries + ["b\t7 of"], vocab.lookup, LABELS, 2.0)
    ids, _ = vocab.encode("a lot of sugar milk lot of 12 of", 16)
    E = values.evidence(ids)
    expect = np.zeros((len(ids), 5))
    expect[0, 3] = expect[1, 4] = expect[2, 4] = expect[3, 4] = 2.0   # "a lot of sugar": B-b I-b I-b I-b
    expect[4, 1] = 2.0                                                  # "milk": B-a
    expect[7, 3] = expect[8, 4] = 2.0                                   # "12 of" as "<num> of"
    np.testing.assert_array_equal(E, expect)
    # an ambiguous tagger: the evidence tips the path to the known value
    log_p = np.log(np.full((4, 5), 0.2))
    assert label_spans(viterbi_labels(log_p + E[:4], legal_transitions(LABELS)), LABELS) == [("b", 0, 3)]


@pytest.mark.parametrize("entry", ["nosuchslot\tkitchen", "area", "area\t", "area\tkitchen\textra"])
def test_bad_slot_values_are_refused_in_the_same_words(tmp_path, entry):
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from cpp_model_fixtures import random_intent_tensors
    from safu.export.model_file import ModelFormatError, write_model_file
    import safu
    from safu.runtime.backends import core_available
    metadata, tensors = random_intent_tensors(0)
    metadata["slot.values"] = ["area\tkitchen", entry]
    metadata["slot.value_bonus"] = 2.0
    path = tmp_path / "m.safu"
    write_model_file(path, metadata, tensors)
    with pytest.raises(ModelFormatError) as numpy_error:
        safu.load(path, backend="numpy")
    assert "slot.values entry" in str(numpy_error.value) and "is not slot\\tsurface" in str(numpy_error.value)
    if core_available():
        from safu import _core
        with pytest.raises(Exception) as core_error:
            _core.IntentModel(str(path))
        assert str(core_error.value) == str(numpy_error.value)


def _bytes_flags(text: str) -> list[int]:
    """The letter-case flags of docs/intent_model.md on the UTF-8 bytes, written from the table."""
    from safu.models.tokenizer import tokenize_bytes
    data = text.encode("utf-8")
    toks = tokenize_bytes(data)
    n = len(toks)
    up = [0x41 <= data[s] <= 0x5A for _, s, _ in toks]
    if not any(0x61 <= data[s] <= 0x7A for _, s, _ in toks):
        return [0] * n
    out = []
    for j, (_, s, e) in enumerate(toks):
        word = data[s:e]
        f = (up[j] and j > 0) | (up[j] and j == 0) << 1
        f |= (up[j] and any(0x41 <= b <= 0x5A for b in word[1:]) and not any(0x61 <= b <= 0x7A for b in word)) << 2
        f |= (j > 1 and up[j - 1]) << 3
        f |= (j + 1 < n and up[j + 1]) << 4
        out.append(int(f))
    return out


def test_letter_case_flags_follow_the_byte_definition():
    import random
    from safu.models.slot_case import case_flags
    from safu.models.tokenizer import tokenize
    text = "Add Lisa Simpson to my BBC playlist"
    assert list(case_flags(text, tokenize(text))) == [2 | 16, 1 | 16, 1 | 8, 8, 16, 1 | 4, 8]
    assert not case_flags("ADD LISA TO MY PLAYLIST", tokenize("ADD LISA TO MY PLAYLIST")).any()
    assert not case_flags("Add Lisa To My Playlist", tokenize("Add Lisa To My Playlist")).any()
    assert not case_flags("add lisa to my playlist", tokenize("add lisa to my playlist")).any()
    rng = random.Random(0)
    alphabet = "aAbBzZ09' .,-\u00e9\u00c9\u00df"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert list(case_flags(text, tokenize(text))) == _bytes_flags(text), text


def test_letter_case_evidence_sums_the_rows_of_each_flag():
    from safu.models.slot_case import case_evidence
    table = np.arange(15, dtype=np.float32).reshape(5, 3)
    E = case_evidence(np.array([0, 1, 1 | 8, 31], dtype=np.uint8), table)
    assert E.tolist() == [[0, 0, 0], table[0].tolist(), (table[0] + table[3]).tolist(), table.sum(axis=0).tolist()]


def test_training_fits_a_case_table_only_where_the_data_has_case(tmp_path):
    # The same words as an artist (capitalised) and as plain words in the same frames: only the
    # letter case tells them apart.
    from safu.models.intent_model import IntentConfig, fit_intent_model
    from safu.runtime.datasets.common import Example, SlotSpan
    import safu

    def examples(cased):
        out = []
        for word in ("rain", "sun", "stars", "wind", "snow", "night", "fire", "moon"):
            for frame in ("play {} now", "put on some {} please", "i want to hear {} today"):
                name = word.capitalize() if cased else word
                text = frame.format(name)
                start = text.index(name)
                out.append(Example(text, "PlayMusic", [SlotSpan("artist", start, start + len(name), name)]))
                out.append(Example(frame.format(word), "PlayMusic", []))
            out.append(Example(f"what is the weather like with {word}", "GetWeather", []))
        return out

    config = IntentConfig(general_dims=0, alias_cosine=0)
    cased = fit_intent_model(examples(True), config)
    lower = fit_intent_model(examples(False), config)
    assert "slot_case" not in lower.tensors
    table = cased.tensors["slot_case"]
    assert table.shape == (5, len(cased.slot_labels))
    b = cased.slot_labels.index("B-artist")
    assert table[0, b] - table[0, 0] > 1.0   # a capitalised word leans towards the artist
    cased.save(tmp_path / "m.safu")
    m = safu.load(tmp_path / "m.safu", backend="numpy")
    assert m.predict("put on some Snow please").slots == {"artist": "Snow"}
