"""SNIPS 2017 benchmark files (github.com/sonos/nlu-benchmark, 2017-06-custom-intent-engines).

    from safu.runtime.datasets.snips import load_snips, load_snips_file
    train = load_snips("../shared/data/snips", split="train")       # train_*_full.json
    test = load_snips("../shared/data/snips", split="validate")     # validate_*.json

A file is {"<Intent>": [{"data": [{"text": "play "}, {"text": "jazz", "entity": "genre"}]}]}.
The chunks are joined into the text; chunks with an entity become slot spans (value = surface).
The published train_PlayMusic_full.json is not valid UTF-8. It is UTF-8 except for one emoji
written as two encoded UTF-16 surrogates (CESU-8); decoding it as latin-1 would garble its ~30
accented names. So SNIPS files fall back to CESU-8, then cp1252, then latin-1, and the report
says which was used.
"""
from __future__ import annotations

import json
from pathlib import Path

from .common import DataError, Dataset, Example, SlotSpan, read_text

FALLBACK_ENCODINGS = ("cesu-8", "cp1252", "latin-1")
SPLITS = {"train": "train_*_full.json", "validate": "validate_*.json"}


def is_snips(doc) -> bool:
    return (isinstance(doc, dict) and len(doc) >= 1
            and all(isinstance(v, list) and all(isinstance(u, dict) and "data" in u for u in v[:3])
                    for v in doc.values()))


def load_snips_file(path: Path) -> tuple[list[Example], list[str]]:
    """Reads one SNIPS JSON file. Returns (examples, report lines). Raises DataError naming the
    file (and utterance index/field) for bad JSON, bad structure and undecodable bytes."""
    text, encoding = read_text(path, fallback_encodings=FALLBACK_ENCODINGS)
    report = []
    if encoding != "utf-8":
        report.append(f"warning: {path} is not valid UTF-8; decoded as {encoding}")
    if not text.strip():
        raise DataError(path, "file is empty; expected a SNIPS JSON object")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    if not isinstance(doc, dict) or not doc:
        raise DataError(path, 'expected {"<Intent>": [{"data": [chunks]}]}')
    examples = []
    for intent, utterances in doc.items():
        if not isinstance(utterances, list):
            raise DataError(path, "expected a list of utterances", field=intent)
        for k, utt in enumerate(utterances):
            where = f"{intent}[{k}].data"
            chunks = utt.get("data") if isinstance(utt, dict) else None
            if not isinstance(chunks, list):
                raise DataError(path, "missing; expected a list of text chunks", field=where)
            parts, spans, pos = [], [], 0
            for c, chunk in enumerate(chunks):
                if not isinstance(chunk, dict) or not isinstance(chunk.get("text"), str):
                    raise DataError(path, "expected a string", field=f"{where}[{c}].text")
                piece = chunk["text"]
                if chunk.get("entity"):
                    lead = len(piece) - len(piece.lstrip())
                    surface = piece.strip()
                    if surface:
                        a = pos + lead
                        spans.append(SlotSpan(str(chunk["entity"]), a, a + len(surface), surface))
                parts.append(piece)
                pos += len(piece)
            sentence = "".join(parts)
            # Strip the sentence and shift spans, so text and spans agree with what users type.
            shift = len(sentence) - len(sentence.lstrip())
            sentence = sentence.strip()
            if not sentence:
                raise DataError(path, "empty utterance", field=where)
            spans = [SlotSpan(s.name, s.start - shift, s.end - shift, s.value) for s in spans]
            examples.append(Example(sentence, str(intent), spans))
    report.append(f"snips {path}: {len(examples):,} examples")
    return examples, report


def snips_files(folder: str | Path, split: str = "train") -> list[Path]:
    """The files of one split in a SNIPS folder (searched recursively), sorted."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "not a folder; expected the SNIPS benchmark folder")
    files = sorted(folder.rglob(SPLITS[split]))
    if not files:
        raise DataError(folder, f"no {SPLITS[split]} files found (SNIPS {split} split)")
    return files


def load_snips(folder: str | Path, split: str = "train") -> Dataset:
    """The train (train_*_full.json) or validate (validate_*.json, the standard test split)
    examples of a SNIPS folder. Returns a Dataset; raises DataError as load_snips_file."""
    ds = Dataset()
    for f in snips_files(folder, split):
        examples, report = load_snips_file(f)
        ds.examples += examples
        ds.report += report
    ds.report.append(f"snips {split} split: {len(ds.examples):,} examples, {len(ds.intents)} intents")
    return ds
