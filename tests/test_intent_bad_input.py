"""`safu train` on bad input: one clear line naming the file, exit code 2, no traceback, no output file."""
import pytest

from safu.runtime.cli import main


@pytest.mark.parametrize("name,content,expected", [
    ("empty.jsonl", b"", "empty"),
    ("broken.yaml", b"intents:\n  On:\n    data: [\n  - sentences: oops\n", "broken.yaml"),
    ("latin1.csv", "caf\xe9 au lait,Order\nturn on,On\n".encode("latin-1"), "latin1.csv"),
    ("missing_field.jsonl", b'{"txt": "turn on the light", "intent": "On"}\n', "missing_field.jsonl:1"),
])
def test_train_rejects_bad_input_clearly(tmp_path, capsys, name, content, expected):
    data = tmp_path / name
    data.write_bytes(content)
    out = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_one_intent_without_the_none_class_is_refused(tmp_path, capsys):
    data = tmp_path / "one_intent.jsonl"
    data.write_text('{"text": "turn on the light", "intent": "On"}\n{"text": "lights on", "intent": "On"}\n')
    out = tmp_path / "m.safu"
    assert main(["train", str(data), "-o", str(out), "--no-none-class"]) == 2
    err = capsys.readouterr().err
    assert "two intents" in err and "none_class" in err, err
    assert not out.exists()
