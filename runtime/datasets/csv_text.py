"""CSV with two columns, text and intent (a header row `text,intent` is optional).

    turn on the kitchen light,HassTurnOn
    "set the lights to 50%, please",HassLightSet

    from safu.runtime.datasets.csv_text import load_csv
    examples, report = load_csv(Path("train.csv"))

CSV carries no slots. An empty intent cell is an error (use JSONL with "intent": null for out
of scope sentences).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .common import DataError, Example, read_text


def _row_error(path: Path, row: list[str], lineno: int | None) -> DataError | None:
    if len(row) != 2:
        return DataError(path, f"expected 2 columns (text,intent), got {len(row)}", line=lineno)
    if not row[0].strip():
        return DataError(path, "empty; expected a sentence", line=lineno, field="text")
    if not row[1].strip():
        return DataError(path, "empty; expected an intent name", line=lineno, field="intent")
    return None


def load_csv(path: Path, skipped: list[str] | None = None) -> tuple[list[Example], list[str]]:
    """Reads a text,intent CSV. Returns (examples, report lines). Raises DataError naming
    file:line for a row without exactly two columns, an empty text or intent, or no rows. With
    a `skipped` list, a bad row is not fatal: its error message is appended there instead."""
    text, _ = read_text(path)
    examples = []
    bad = 0
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV: {exc}") from None
    reader_lines = _row_lines(text)
    for k, row in enumerate(rows):
        lineno = reader_lines[k] if k < len(reader_lines) else None
        if not row or all(not c.strip() for c in row):
            continue
        if k == 0 and [c.strip().lower() for c in row] == ["text", "intent"]:
            continue
        error = _row_error(path, row, lineno)
        if error is not None:
            if skipped is None:
                raise error
            skipped.append(str(error))
            bad += 1
            continue
        examples.append(Example(row[0].strip(), row[1].strip(), []))
    if not examples:
        raise DataError(path, "no examples; expected rows of text,intent"
                        + (f" ({bad} invalid rows skipped)" if bad else ""))
    skipped_note = f", {bad:,} invalid rows skipped" if bad else ""
    return examples, [f"csv {path}: {len(examples):,} examples{skipped_note}"]


def _row_lines(text: str) -> list[int]:
    """1-based line on which each CSV record starts (quoted fields may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    starts, last = [], 1
    for _ in reader:
        starts.append(last)
        last = reader.line_num + 1
    return starts
