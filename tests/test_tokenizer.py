import random

import numpy as np

from safu.models.tokenizer import NUM, SPECIALS, UNK, Vocabulary, tokenize, tokenize_bytes


def texts(tokens):
    return [t.text for t in tokens]


def test_rules():
    assert texts(tokenize("Turn ON the Kitchen-Lights!")) == ["turn", "on", "the", "kitchen", "lights"]
    assert texts(tokenize("it's 21.5 degrees, 1,000 times")) == ["it's", "21.5", "degrees", "1,000", "times"]
    assert texts(tokenize("'quoted' end. 3.x")) == ["quoted", "end", "3", "x"]
    assert texts(tokenize("Café ÜBER")) == ["café", "Über"]  # only ASCII is lower-cased
    assert tokenize("") == [] and tokenize(" ,.!? ") == []


def test_offsets_cut_the_original_text():
    text = "Set the Living Room to 21°C"
    for t in tokenize(text):
        assert text[t.start:t.end].lower() == t.text


def test_regex_equals_byte_reference_on_random_strings():
    rng = random.Random(7)
    alphabet = "aZ09 '.,-!é’\t3Ω"
    for _ in range(5000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        assert texts(tokenize(s)) == [b.decode() for b, _, _ in tokenize_bytes(s.encode())], s


def test_vocabulary_lookup_numbers_and_unknowns():
    vocab = Vocabulary(SPECIALS + ["turn", "on"])
    ids, toks = vocab.encode("turn on 21.5 zebras", max_tokens=3)
    assert ids.tolist() == [6, 7, NUM] and len(toks) == 3
    assert vocab.lookup("zebras") == UNK
    assert isinstance(ids, np.ndarray) and ids.dtype == np.int64
