"""The perturbed sentences of bench/bench_ha.py --perturb: seeded, deterministic, and each
perturbation changes a sentence the way its name says."""
from __future__ import annotations


import pytest

from bench_support import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_ha")


SENTENCES = ["turn on the kitchen lights", "what is the temperature in the living room?",
             "set a timer for five minutes", "lock the front door", "is the garage door open",
             "play the next track please", "how many lights are on in the house",
             "close the bedroom curtain", "pause", "start the vacuum"]
TESTS = [{"sentence": s, "intent": "X", "slots": {}, "context": {}, "file": "t.yaml"} for s in SENTENCES]


def words(s: str) -> list[str]:
    return s.rstrip("?!.").split()


def test_same_seed_same_sentences_other_seed_others(bench):
    for kind in bench.PERTURBATIONS:
        a = bench.perturbed_tests(TESTS, kind, seed=3)
        assert a == bench.perturbed_tests(TESTS, kind, seed=3)
        assert a == bench.perturbed_tests(list(reversed(TESTS)), kind, seed=3)[::-1]   # per sentence, not by order
        assert all(t["intent"] == "X" and t["original"] in SENTENCES for t in a)
    seeds = [[t["sentence"] for t in bench.perturbed_tests(TESTS, "drop", seed=s)] for s in range(4)]
    assert len({tuple(x) for x in seeds}) > 1


def test_drop_leaves_out_one_word(bench):
    out = bench.perturbed_tests(TESTS, "drop", seed=0)
    assert len(out) == len(TESTS) - 1   # "pause" has no word to spare
    for t in out:
        before, after = words(t["original"]), words(t["sentence"])
        assert len(after) == len(before) - 1
        assert any(before[:i] + before[i + 1:] == after for i in range(len(before)))


def test_filler_adds_one_filler_and_nothing_else(bench):
    fillers = set(bench.FILLER_BEFORE) | set(bench.FILLER_INSIDE) | set(bench.FILLER_AFTER)
    out = bench.perturbed_tests(TESTS, "filler", seed=0)
    assert len(out) == len(TESTS)
    for t in out:
        before, after = words(t["original"]), t["sentence"].split()
        found = False
        for f in fillers:
            n = len(f.split())
            for i in range(len(after) - n + 1):
                if " ".join(after[i:i + n]) == f and after[:i] + after[i + n:] == before:
                    found = True
        assert found, t


def test_synonym_replaces_one_word_outside_names(bench):
    out = bench.perturbed_tests(TESTS, "synonym", seed=0, protected=["front door", "garage door"])
    assert out
    for t in out:
        before, after = words(t["original"]), t["sentence"].split()
        hits = [(i, bench.SYNONYMS[w]) for i, w in enumerate(before) if w in bench.SYNONYMS
                and before[:i] + bench.SYNONYMS[w].split() + before[i + 1:] == after]
        assert hits, t
    changed = {t["original"]: t["sentence"] for t in out}
    assert "front door" in changed.get("lock the front door", "lock the front door")
    for t in bench.perturbed_tests([{**TESTS[0], "sentence": "front door"}], "synonym", protected=["front door"]):
        pytest.fail(f"a protected name was changed: {t}")


def test_order_swaps_two_neighbours(bench):
    out = bench.perturbed_tests(TESTS, "order", seed=0)
    assert len(out) == len(TESTS) - 1
    for t in out:
        before, after = words(t["original"]), t["sentence"].split()
        swaps = [i for i in range(len(before) - 1)
                 if before[:i] + [before[i + 1], before[i]] + before[i + 2:] == after]
        assert swaps, t


def test_sound_respells_one_word_keeping_its_soundex(bench):
    out = bench.perturbed_tests(TESTS, "sound", seed=0)
    assert len(out) >= len(TESTS) - 1
    for t in out:
        before, after = words(t["original"]), t["sentence"].split()
        assert len(before) == len(after)
        diff = [(a, b) for a, b in zip(before, after) if a != b]
        assert len(diff) == 1, t
        old, new = diff[0]
        assert bench.soundex(old) == bench.soundex(new) and old.lower() != new.lower()


def test_soundex_known_codes_and_unknown_perturbation(bench):
    assert [bench.soundex(w) for w in ("Robert", "Rupert", "Ashcraft", "Tymczak", "Pfister")] == \
        ["r163", "r163", "a261", "t522", "p236"]
    import random
    with pytest.raises(ValueError, match="expected one of drop"):
        bench.perturb("turn on the lights", "shuffle", random.Random(0))
