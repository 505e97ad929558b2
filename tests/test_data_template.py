"""The template language: parsing, counting, enumerating, sampling, rendering, matching."""
import random

import pytest

from safu.runtime.datasets.template import (Grammar, ListValue, SlotList, TemplateError, Text,
                                            parse_template, render)


def texts(grammar, src):
    return sorted(render(p)[0] for p in grammar.enumerate(parse_template(src)))


@pytest.fixture
def grammar():
    rules = {"the": parse_template("(the|my)"), "turn": parse_template("turn|switch")}
    lists = {"area": SlotList([ListValue(Text("kitchen"), "Kitchen"),
                               ListValue(Text("lounge"), "Living Room")]),
             "domain": SlotList([ListValue(parse_template("light[s]"), "light")])}
    return Grammar(rules, lists)


def test_alternatives_optional_and_whitespace(grammar):
    assert texts(grammar, "(a|b) [c] d") == ["a c d", "a d", "b c d", "b d"]
    assert texts(grammar, "batter(y|ies)") == ["batteries", "battery"]
    assert texts(grammar, "[a|b] c") == ["a c", "b c", "c"]


def test_top_level_alternative_and_rules(grammar):
    assert texts(grammar, "<turn> on") == ["switch on", "turn on"]
    assert texts(grammar, "x|y") == ["x", "y"]


def test_permutation(grammar):
    assert texts(grammar, "(on;<the> tv)") == ["my tv on", "on my tv", "on the tv", "the tv on"]


def test_escape(grammar):
    assert texts(grammar, r"a \(b\)") == ["a (b)"]


def test_count_matches_enumeration(grammar):
    src = "<turn> on [<the>] {area} {domain} [(please|now)]"
    node = parse_template(src)
    assert grammar.count(node) == 2 * 3 * 2 * 2 * 3 == len(grammar.enumerate(node))


def test_slots_render_with_spans_and_values(grammar):
    for pieces in grammar.enumerate(parse_template("turn on [<the>] {area} {domain}")):
        text, slots = render(pieces)
        by_name = {n: (v, text[a:b]) for n, v, a, b in slots}
        assert by_name["domain"][0] == "light" and by_name["domain"][1] in ("light", "lights")
        assert by_name["area"] in (("Kitchen", "kitchen"), ("Living Room", "lounge"))


def test_slot_name_from_list_colon(grammar):
    text, slots = render(grammar.enumerate(parse_template("{area:room}"))[0])
    assert slots == [("room", "Kitchen", 0, 7)] and text == "kitchen"


def test_sampling_is_seeded_and_in_enumeration(grammar):
    node = parse_template("<turn> on [<the>] {area} {domain} [(please|now)]")
    everything = {render(p)[0] for p in grammar.enumerate(node)}
    a = [render(grammar.sample(node, random.Random(3)))[0] for _ in range(50)]
    b = [render(grammar.sample(node, random.Random(3)))[0] for _ in range(50)]
    assert a == b
    assert set(a) <= everything


def test_match(grammar):
    node = parse_template("<turn> on [<the>] {area} {domain}")
    assert grammar.match(node, "Turn on  the LOUNGE lights") == [
        (("area", "Living Room", "lounge"), ("domain", "light", "lights"))]
    assert grammar.match(node, "turn on the garage lights") == []


@pytest.mark.parametrize("src, column", [("turn (on", 6), ("turn on)", 8), ("a [b", 3),
                                         ("{area", 1), ("<>", 1), ("x \\", 3)])
def test_parse_errors_name_the_column(src, column):
    with pytest.raises(TemplateError, match=f"column {column} "):
        parse_template(src)
