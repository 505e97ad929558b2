"""Bad input: every case gives a DataError (a ValueError) naming the file, line and field."""
import re

import pytest

from safu.runtime.datasets import DataError, check_trainable, load_examples

HA_OK = 'language: en\nintents:\n  A:\n    data:\n      - sentences:\n          - "hello"\n'


def write(tmp_path, name, content, encoding="utf-8"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding=encoding)
    return p


def fails(paths, pattern, **kw):
    with pytest.raises(DataError) as info:
        load_examples(paths, **kw)
    assert isinstance(info.value, ValueError)
    assert re.search(pattern, str(info.value)), str(info.value)
    return info.value


@pytest.mark.parametrize("name", ["empty.yaml", "empty.jsonl", "empty.csv", "empty.json"])
def test_empty_files(tmp_path, name):
    p = write(tmp_path, name, "")
    fails([p], re.escape(str(p)) + r": (file is empty|no examples)")


def test_malformed_yaml_names_the_line(tmp_path):
    p = write(tmp_path, "bad.yaml", 'language: en\nintents:\n  A:\n    data: [\n      - "x"\n')
    err = fails([p], r"bad\.yaml:\d+: malformed YAML")
    assert err.line in (4, 5, 6)


def test_wrong_encoding(tmp_path):
    p = write(tmp_path, "latin.jsonl", '{"text": "caf\u00e9 au lait", "intent": "A"}\n', encoding="latin-1")
    fails([p], r"latin\.jsonl:1: not valid UTF-8 text \(byte 0xe9")
    p = write(tmp_path, "utf16.yaml", HA_OK, encoding="utf-16")
    fails([p], r"utf16\.yaml:1: not valid UTF-8")


def test_jsonl_errors(tmp_path):
    ok = '{"text": "hi", "intent": "A"}\n'
    fails([write(tmp_path, "a.jsonl", ok + '{"text": "hi"}\n')], r"a\.jsonl:2: field 'intent': missing")
    fails([write(tmp_path, "b.jsonl", ok + '{"intent": "A"}\n')], r"b\.jsonl:2: field 'text': missing")
    fails([write(tmp_path, "c.jsonl", ok + '{"text": "hi",\n')], r"c\.jsonl:2: invalid JSON")
    fails([write(tmp_path, "d.jsonl", '{"text": "turn on the lamp", "intent": "A", "slots": {"name": "fan"}}\n')],
          r"d\.jsonl:1: field 'slots\.name': value 'fan' not found in the text")
    fails([write(tmp_path, "e.jsonl", '["hi", "A"]\n')], r"e\.jsonl:1: expected a JSON object")
    fails([write(tmp_path, "f.jsonl", '{"text": "hi lamp", "intent": "A", "slots": {"x": {"text": "lamp", "start": 1}}}\n')],
          r"f\.jsonl:1: field 'slots\.x\.start': start 1 does not point at 'lamp'")
    fails([write(tmp_path, "g.jsonl", '{"text": "hi", "intent": "A", "fixed": ["light"]}\n')],
          r"g\.jsonl:1: field 'fixed': expected an object")


def test_csv_errors(tmp_path):
    fails([write(tmp_path, "a.csv", "text,intent\nhi,A\nhello,B,extra\n")], r"a\.csv:3: expected 2 columns")
    fails([write(tmp_path, "b.csv", "hi,A\n\"multi\nline\",B\n,C\n")], r"b\.csv:4: field 'text': empty")
    fails([write(tmp_path, "c.csv", "hi,\n")], r"c\.csv:1: field 'intent': empty")


def test_home_assistant_errors(tmp_path):
    fails([write(tmp_path, "a.yaml", HA_OK.replace('"hello"', '"turn (on"'))],
          r"a\.yaml:6: sentence: missing '\)' .* at column 6")
    rec = write(tmp_path, "rec.yaml", HA_OK.replace('"hello"', '"<x>"') + 'expansion_rules:\n  x: "a <y>"\n  y: "b [<x>]"\n')
    fails([rec], r"rec\.yaml:6: sentence '<x>': rule <.> \(recursive\) refers to itself")
    bad_list = write(tmp_path, "c.yaml", HA_OK.replace('"hello"', '"{colour}"') + "lists:\n  colour:\n    valuez: [red]\n")
    fails([bad_list], r"c\.yaml:9: field 'lists\.colour\.values': expected a list")
    no_sentences = write(tmp_path, "d.yaml", "language: en\nintents:\n  A:\n    data:\n      - slots: {x: 1}\n")
    fails([no_sentences], r"d\.yaml:5: field 'sentences': missing")
    bad_range = write(tmp_path, "e.yaml", HA_OK + "lists:\n  n:\n    range: {from: 1}\n")
    fails([bad_range], r"e\.yaml:9: field 'to': missing")


def test_home_assistant_wrong_types(tmp_path):
    p = write(tmp_path, "a.yaml", HA_OK + "        requires_context: [light]\n")
    fails([p], r"a\.yaml:7: field 'requires_context': expected a mapping, got list")
    p = write(tmp_path, "b.yaml", HA_OK + "lists: [a, b]\n")
    fails([p], r"b\.yaml:7: field 'lists': expected a mapping")
    p = write(tmp_path, "c.yaml", "language: en\nintents:\n  A: [hello]\n")
    fails([p], r"c\.yaml:\d: field 'intents\.A': expected a mapping with data")


def test_undefined_reference_is_skipped_with_a_warning(tmp_path):
    p = write(tmp_path, "a.yaml", HA_OK.replace('- "hello"', '- "hello"\n          - "hi <nope>"'))
    ds = load_examples([p])
    assert [e.text for e in ds.examples] == ["hello"]
    assert any(line.startswith("warning: skipped 1 sentences") and "a.yaml:7 uses <nope>" in line
               for line in ds.report)


def test_rhino_errors(tmp_path):
    base = "context:\n  expressions:\n    A:\n      - \"order $drink:drink\"\n"
    fails([write(tmp_path, "a.yaml", base)], r"a\.yaml:4: expression 'order \$drink:drink' uses \$drink")
    fails([write(tmp_path, "b.yaml", base.replace("order $drink:drink", "order [tea, coffee"))],
          r"b\.yaml:4: expression of A: missing '\]'")
    fails([write(tmp_path, "c.yaml", "context:\n  expressions:\n    A: hello\n")],
          r"c\.yaml:3: field 'expressions\.A': expected a list")


def test_paths_and_shapes(tmp_path):
    fails([tmp_path / "missing.jsonl"], r"missing\.jsonl: no such file or folder")
    fails([write(tmp_path, "notes.txt", "hello")], r"notes\.txt: unsupported file type '\.txt'")
    fails([write(tmp_path, "other.yaml", "foo: bar\n")], r"other\.yaml:1: unrecognised YAML")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    write(empty, "readme.md", "nothing here")
    fails([empty], r"no training examples found")


def test_one_intent_loads_but_is_not_trainable(tmp_path):
    ds = load_examples([write(tmp_path, "one.csv", "hi,Greet\nhello,Greet\n")])
    assert len(ds.examples) == 2
    with pytest.raises(ValueError, match=r"at least 2 intents.*found only 'Greet'"):
        check_trainable(ds)


def test_bad_cap():
    with pytest.raises(ValueError, match="max_sentences_per_intent"):
        load_examples(["x"], max_sentences_per_intent=0)
