"""Labelled text tables: CSV, TSV or JSONL, with named text and label columns.

Errors name the file and the line, so a user can fix the row.
"""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Iterator
from pathlib import Path

from rnncli.data.text import read_chunks
from rnncli.errors import DataError

csv.field_size_limit(1 << 24)


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "csv" if suffix == ".csv" else "tsv"


def _lines(path: Path, encoding: str) -> Iterator[str]:
    for chunk in read_chunks(path, encoding):
        yield from chunk.splitlines()


def read_labelled(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str,
    header: bool,
    encoding: str,
    separator: str | None = None,
) -> list[tuple[str, str]]:
    """(text, label) rows of a file; labels are kept as strings ("1", "positive"...).

    With a `separator` (multi-label), a cell holds several labels ("a|b", or a JSON
    list); they come back de-duplicated, sorted and joined by it, and may be empty.
    """
    fmt = detect_format(path, fmt)
    rows = list(_read_rows(path, fmt, text_column, label_column, header, encoding, separator))
    if not rows:
        raise DataError(f"no rows in {path}: the file is empty")
    return rows


def _read_rows(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str,
    header: bool,
    encoding: str,
    separator: str | None,
) -> Iterator[tuple[str, str]]:
    if fmt == "jsonl":
        for number, line in enumerate(_lines(path, encoding), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({path}, line {number}): {exc.msg}") from None
            if not isinstance(obj, dict):
                raise DataError(f"expected a JSON object ({path}, line {number})")
            yield _pick(obj, text_column, label_column, path, number, separator)
        return
    delimiter = "," if fmt == "csv" else "\t"
    reader = csv.reader(_lines(path, encoding), delimiter=delimiter)
    columns: list[str] | None = None
    for number, row in enumerate(reader, start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header and columns is None:
            columns = [c.strip() for c in row]
            for name in (text_column, label_column):
                if name not in columns:
                    close = difflib.get_close_matches(name, columns, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    other = "," if delimiter == "\t" else "\\t"
                    wrong = f"; is the delimiter {other!r}?" if len(columns) == 1 else ""
                    raise DataError(
                        f"no column {name!r} in {path} (columns: {', '.join(columns)}){hint}{wrong}"
                    )
            continue
        if columns is None:
            columns = [str(i) for i in range(len(row))]
        if len(row) != len(columns):
            raise DataError(
                f"row has {len(row)} fields, the header {len(columns)} ({path}, line {number}): "
                "check quoting and the delimiter"
            )
        cells: dict[str, object] = dict(zip(columns, row, strict=True))
        yield _pick(cells, text_column, label_column, path, number, separator)


def _pick(
    obj: dict[str, object],
    text_column: str,
    label_column: str,
    path: Path,
    number: int,
    separator: str | None,
) -> tuple[str, str]:
    for name in (text_column, label_column):
        if name not in obj:
            close = difflib.get_close_matches(name, [str(k) for k in obj], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"no field {name!r} ({path}, line {number}){hint}")
    text, label = obj[text_column], obj[label_column]
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"empty text ({path}, line {number}): remove the line or fill it in")
    if separator is not None:
        parts = label if isinstance(label, list) else str(label or "").split(separator)
        names = sorted({str(p).strip() for p in parts} - {""})
        return text, separator.join(names)
    if label is None or str(label).strip() == "":
        raise DataError(f"empty label ({path}, line {number})")
    if isinstance(label, (list, dict)):
        raise DataError(
            f"label is a JSON {type(label).__name__} ({path}, line {number}): "
            "set data.multi_label: true for several labels per line"
        )
    return text, str(label).strip()
