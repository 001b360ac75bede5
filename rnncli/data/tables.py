"""Labelled text tables: CSV, TSV or JSONL, with named text and label columns.

A TSV cell is exactly the text between two tabs (no quoting), as `rnn classify` reads
an input line: training and use see the same text. CSV keeps the standard quoting
(a quoted cell may hold commas, quotes and line ends). `data.quoting` overrides either,
for TSV files that really are quoted, or CSV files that are not.

Errors name the file and the line, so a user can fix the row.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from rnncli.data.text import MAX_LINE, iter_lines, open_input
from rnncli.errors import DataError, excerpt

csv.field_size_limit(MAX_LINE + 2)
QUOTINGS = ("auto", "none", "csv")
MAX_LABELS = 100_000  # distinct labels: more means the label column is not a label


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "csv" if suffix == ".csv" else "tsv"


def resolve_quoting(quoting: str, delimiter: str) -> str:
    """ "csv" (standard quotes) or "none"; auto: quotes in CSV files, none in TSV files."""
    if quoting not in QUOTINGS:
        raise DataError(f"unknown data.quoting {quoting!r}: use one of {', '.join(QUOTINGS)}")
    if quoting == "auto":
        return "csv" if delimiter == "," else "none"
    return quoting


def delimited_rows(
    lines: Iterable[str], delimiter: str, quoting: str, where: str, limit: int = MAX_LINE
) -> Iterator[tuple[int, list[str]]]:
    """(first file line, cells) of each record; blank lines give [""].

    quoting "none": a record is a line, split on the delimiter. "csv": standard quoting,
    where a record may span lines; one record holds at most `limit` characters, so an
    unclosed quote is an error naming its line instead of swallowing the rest of the file.
    """
    if resolve_quoting(quoting, delimiter) == "none":
        for number, line in enumerate(lines, start=1):
            yield number, line.split(delimiter)
        return
    start, held = 1, 0

    def feed() -> Iterator[str]:
        nonlocal held
        for line in lines:
            held += len(line) + 1
            if held > limit:
                raise DataError(
                    f"a record runs past {limit:,} characters from line {start} ({where}): "
                    "is a quote not closed? fix it, or set data.quoting: none"
                )
            yield line + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    try:
        for row in reader:
            number, start, held = start, reader.line_num + 1, 0
            yield number, row
    except csv.Error as exc:
        raise DataError(
            f"cannot split a row ({where}, line {reader.line_num}): {exc}; check the quotes "
            "and line ends, or set data.quoting"
        ) from None


def blank_record(row: list[str]) -> bool:
    """A record of a blank line (or of nothing but spaces): skipped by table readers."""
    return not row or (len(row) == 1 and not row[0].strip())


def ragged_row(fields: int, header: int, where: str | Path, line: int) -> DataError:
    return DataError(
        f"row has {fields} fields, the header {header} ({where}, line {line}): "
        "check quoting (data.quoting) and the delimiter"
    )


def repeated_column(name: str, where: str | Path, line: int) -> DataError:
    return DataError(
        f"column {name!r} appears twice in the header ({where}, line {line}): rename one"
    )


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' naming the closest of `choices`, or "" when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_labelled(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str,
    header: bool,
    encoding: str,
    separator: str | None = None,
    quoting: str = "auto",
) -> list[tuple[str, str]]:
    """(text, label) rows of a file; labels are kept as strings ("1", "positive"...).

    With a `separator` (multi-label), a cell holds several labels ("a|b", or a JSON
    list); they come back de-duplicated, sorted and joined by it, and may be empty.
    """
    fmt = detect_format(path, fmt)
    with open_input(path) as handle:
        lines = iter_lines(handle, str(path), encoding)
        if fmt == "jsonl":
            found = _json_rows(lines, path, text_column, label_column, separator)
        else:
            delimiter = "," if fmt == "csv" else "\t"
            cells = delimited_rows(lines, delimiter, quoting, str(path))
            found = _table_rows(cells, delimiter, path, text_column, label_column, header)
        rows = [_pick(obj, text_column, label_column, path, n, separator) for n, obj in found]
    if not rows:
        raise DataError(f"no rows in {path}: the file is empty")
    names = {label for _, label in rows}
    if separator is not None:
        names = {x for label in names for x in label.split(separator)}
    if len(names) > MAX_LABELS:
        raise DataError(
            f"{len(names):,} different labels in {path} (at most {MAX_LABELS:,}): is "
            f"{label_column!r} the label column? set data.label_column"
        )
    return rows


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON: write a number or null")


def _json_rows(
    lines: Iterable[str],
    path: Path,
    text_column: str,
    label_column: str,
    separator: str | None,
) -> Iterator[tuple[int, dict[str, object]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({path}, line {number}): {exc.msg}") from None
        except (ValueError, RecursionError) as exc:  # NaN, huge integers, deep nesting
            reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
            raise DataError(f"not valid JSON ({path}, line {number}): {reason}") from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object ({path}, line {number})")
        yield number, obj


def _table_rows(
    rows: Iterable[tuple[int, list[str]]],
    delimiter: str,
    path: Path,
    text_column: str,
    label_column: str,
    header: bool,
) -> Iterator[tuple[int, dict[str, object]]]:
    columns: list[str] | None = None
    for number, row in rows:
        if blank_record(row):
            continue
        if header and columns is None:
            columns = [c.strip() for c in row]
            _check_header(columns, delimiter, path, number, (text_column, label_column))
            continue
        if columns is None:
            columns = [str(i) for i in range(len(row))]
        if len(row) != len(columns):
            raise ragged_row(len(row), len(columns), path, number)
        yield number, dict(zip(columns, row, strict=True))


def _check_header(
    columns: list[str], delimiter: str, path: Path, number: int, wanted: tuple[str, ...]
) -> None:
    for name in wanted:
        if name not in columns:
            hint = did_you_mean(name, columns)
            other = "," if delimiter == "\t" else "\\t"
            wrong = f"; is the delimiter {other!r}?" if len(columns) == 1 else ""
            shown = excerpt(", ".join(columns), 200)
            raise DataError(f"no column {name!r} in {path} (columns: {shown}){hint}{wrong}")
        if columns.count(name) > 1:
            raise repeated_column(name, path, number)


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
            hint = did_you_mean(name, [str(k) for k in obj])
            raise DataError(f"no field {name!r} ({path}, line {number}){hint}")
    text, label = obj[text_column], obj[label_column]
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"empty text ({path}, line {number}): remove the line or fill it in")
    if separator is not None:
        parts = label if isinstance(label, list) else str(label or "").split(separator)
        names = sorted({str(p).strip() for p in parts} - {""})
        for name in names:
            _check_label(name, path, number)
        return text, separator.join(names)
    if label is None or str(label).strip() == "":
        raise DataError(f"empty label ({path}, line {number})")
    if isinstance(label, (list, dict)):
        raise DataError(
            f"label is a JSON {type(label).__name__} ({path}, line {number}): "
            "set data.multi_label: true for several labels per line"
        )
    return text, _check_label(str(label).strip(), path, number)


def _check_label(label: str, path: Path, number: int) -> str:
    """A label that reads as NaN or infinity is a missing value, not a class."""
    try:
        value = float(label)
    except (ValueError, OverflowError):
        return label
    if not math.isfinite(value):
        raise DataError(
            f"label {excerpt(label)} is not a finite number ({path}, line {number}): "
            "fill in the label or remove the row"
        )
    return label
