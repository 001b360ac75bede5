"""Starter recipes (`rnn init TASK [DATA]`): a commented YAML recipe for any registered task.

Every key written carries its one-line description from the task's schema as a comment,
so the recipe documents itself. Values are the schema's defaults, except the data keys
found by looking at a bounded sample (the first SAMPLE_BYTES) of the data file:

- classify: the format (by extension, checked against the delimiter), the header, and the
  text and label columns (usual names, else the longest strings and the fewest values);
- forecast: the time, target and id columns, gaps, and a horizon of one season;
- translate: the two sides of the TSV (and a validation share a small file can afford);
- generate: the tokenizer (characters for a small file, words for a big one);
- tag: the format, the tag column and the tag scheme (IOB1, IOB2, IOBES or plain tags).

What was chosen comes back as notes (the CLI prints them as `note:` lines). Bad input is
one DataError/UsageError. Imports no torch; pandas only for a forecast.
"""

from __future__ import annotations

import gzip
import inspect
import io
import json
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from rnncli.config import Section, validate_recipe
from rnncli.data.tables import blank_record, delimited_rows, detect_format, did_you_mean
from rnncli.data.text import iter_lines, open_input
from rnncli.errors import DataError, UsageError

SAMPLE_BYTES = 1 << 20  # what is read of a data file to fill the recipe in
CHAR_MODEL_BYTES = 10 << 20  # a text up to this size gets a character language model

# Keys a user is likely to change, written for every task whose schema has them.
COMMON: dict[str, list[str]] = {
    "data": [],  # the required keys and the detected ones are always written
    "model": ["cell", "hidden_size", "num_layers", "embedding_dim", "dropout"],
    "training": ["epochs", "batch_size", "lr", "max_minutes", "eval_every"],
}
# And per task (a dotted key is one inside a sub-section: `source.tokenizer`).
EXTRA: dict[str, dict[str, list[str]]] = {
    "generate": {
        "data": ["valid", "valid_fraction", "test", "tokenizer", "lowercase"],
        "model": ["tie_embeddings"],
        "training": ["seq_length"],
    },
    "classify": {
        "data": [
            "valid",
            "valid_fraction",
            "test",
            "format",
            "header",
            "text_column",
            "label_column",
            "tokenizer",
            "lowercase",
        ],
        "model": ["pooling"],
        "training": ["monitor"],
    },
    "forecast": {
        "data": ["time_column", "target", "id_column", "frequency", "missing", "horizon"],
        "data+": ["lookback", "valid_size", "test_size", "scaling"],
        "model": ["horizon_mode", "loss"],
    },
    "translate": {
        "data": [
            "valid",
            "valid_size",
            "test_size",
            "source_column",
            "target_column",
            "source.tokenizer",
            "target.tokenizer",
        ],
        "model": ["attention"],
    },
    "tag": {
        "data": ["valid", "valid_fraction", "test", "format", "tag_column", "scheme"],
        "model": ["char_features", "crf"],
        "training": ["monitor"],
    },
}
SECTION_HELP = {
    "data": "Where the examples come from and how they are read.",
    "model": "The network.",
    "training": "How it is trained.",
}
PLACEHOLDER_EXT = {
    "generate": "txt",
    "classify": "tsv",
    "forecast": "csv",
    "translate": "tsv",
    "tag": "conll",
}

TEXT_NAMES = (
    "text",
    "sentence",
    "review",
    "content",
    "body",
    "comment",
    "document",
    "tweet",
    "message",
    "utterance",
    "question",
)
LABEL_NAMES = (
    "label",
    "labels",
    "class",
    "sentiment",
    "category",
    "intent",
    "topic",
    "polarity",
    "tag",
    "target",
    "y",
)
TARGET_NAMES = ("value", "target", "y", "close", "sales", "demand", "count", "load")
ID_NAMES = ("id", "unique_id", "series", "series_id", "item_id", "key", "name", "store")


def starter(task: str, data: str | Path | None = None) -> tuple[str, list[str]]:
    """(YAML text, notes): a commented starter recipe of `task`, filled in from `data`."""
    from rnncli.tasks.registry import known, names, recipe_class

    if not known(task):
        raise UsageError(
            f"unknown task {task!r}: choose one of {', '.join(names())}"
            f"{did_you_mean(str(task), names())}"
        )
    notes: list[str] = []
    detected: dict[str, Any] = {}
    if data is None:
        ext = PLACEHOLDER_EXT.get(task, "txt")
        detected["train"] = f"path/to/train.{ext}"
        notes.append(f"no data file given: set data.train (now {detected['train']})")
    else:
        path = Path(data)
        detected["train"] = str(data)
        look = _LOOKERS.get(task)
        if look is None:
            _sample(path)  # at least a readable, non-empty text file
            notes.append(f"no detection for task {task}: check the data keys by hand")
        else:
            detected.update(look(path, notes))
    cls = recipe_class(task)
    text = render(cls, task, detected, header=_title(task, data))
    validate_recipe(yaml.safe_load(text), "the starter recipe")  # it must validate as written
    return text, notes


def _title(task: str, data: str | Path | None) -> str:
    command = f"rnn init {task}" + (f" {data}" if data is not None else "")
    return (
        f"# Starter recipe written by `{command}`.\n"
        "# Every key is one of the schema's (`rnn recipe schema`); the values are its\n"
        "# defaults unless read from the data. Check them, then: rnn train THIS_FILE\n"
    )


# --------------------------------------------------------------------------- rendering


def _section_class(annotation: Any) -> type[Section] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation  # type: ignore[return-value]
    return None


def _doc(cls: type[BaseModel]) -> str | None:
    doc = cls.__dict__.get("__doc__")
    return doc.strip().splitlines()[0] if doc else None


def _default(field: Any) -> Any:
    if field.is_required():
        return PydanticUndefined
    value = field.get_default(call_default_factory=True)
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 20)
    text = text.rstrip("\n")
    return text.removesuffix("\n...").rstrip("\n")


def _keys(cls: type[Section], task: str, section: str, detected: dict[str, Any]) -> list[str]:
    """The keys written in `section`, in the schema's order (dotted: sub-section keys)."""
    wanted = set(COMMON.get(section, [])) | set(EXTRA.get(task, {}).get(section, []))
    if section == "data":
        wanted |= set(detected) | set(EXTRA.get(task, {}).get("data+", []))
    own = inspect.get_annotations(cls)  # the class's own fields, not inherited ones
    if section == "model" and "bidirectional" in own:  # the task's model says it matters
        wanted.add("bidirectional")
    keys = []
    for name, field in cls.model_fields.items():
        sub = _section_class(field.annotation)
        if sub is not None:
            keys += [f"{name}.{k}" for k in sub.model_fields if f"{name}.{k}" in wanted]
        elif name in wanted or field.is_required():
            keys.append(name)
    return keys


def _lines(
    cls: type[Section], keys: list[str], values: dict[str, Any], indent: str
) -> list[tuple[str, str]]:
    """(`key: value` text, comment) rows of one section; sub-sections get their own header."""
    rows: list[tuple[str, str]] = []
    done: set[str] = set()
    for key in keys:
        name, _, rest = key.partition(".")
        field = cls.model_fields[name]
        if rest:
            if name in done:
                continue
            done.add(name)
            sub = _section_class(field.annotation)
            assert sub is not None
            rows.append((f"{indent}{name}:", field.description or _doc(sub) or name))
            inner = [k.partition(".")[2] for k in keys if k.startswith(f"{name}.")]
            nested = {k.partition(".")[2]: v for k, v in values.items() if k.startswith(f"{name}.")}
            rows += _lines(sub, inner, nested, indent + "  ")
            continue
        value = values[key] if key in values else _default(field)
        if value is PydanticUndefined:
            raise DataError(f"{key}: required, and nothing to fill it in with: give a data file")
        rows.append((f"{indent}{key}: {_scalar(value)}", field.description or ""))
    return rows


def render(cls: type[Section], task: str, detected: dict[str, Any], header: str = "") -> str:
    """The recipe as YAML, each key followed by its description as a comment."""
    rows: list[tuple[str, str]] = []
    for name, field in cls.model_fields.items():
        sub = _section_class(field.annotation)
        if name == "task":
            rows.append((f"task: {task}", field.description or "Which task the recipe trains."))
        elif sub is not None:
            rows.append(("", ""))
            help_text = field.description or _doc(sub) or SECTION_HELP.get(name, name)
            rows.append((f"{name}:", help_text))
            values = detected if name == "data" else {}
            rows += _lines(sub, _keys(sub, task, name, detected), values, "  ")
        elif field.is_required() and name not in detected:
            raise DataError(f"{name}: required, and nothing to fill it in with")
        else:
            rows.append(("", ""))
            rows.append((f"{name}: {_scalar(_default(field))}", field.description or ""))
    width = min(max(len(text) for text, _ in rows), 40)
    out = [header] if header else []
    for text, comment in rows:
        if not text:
            out.append("\n")
            continue
        comment = " ".join(comment.split())
        out.append(f"{text.ljust(width)}  # {comment}\n" if comment else f"{text}\n")
    return "".join(out)


# --------------------------------------------------------------------------- sampling


def _sample(path: Path) -> tuple[bytes, bool]:
    """(the first SAMPLE_BYTES of a file, cut at a line end; whether the file is longer).

    A .gz file is decompressed. A missing, empty or binary file is one DataError.
    """
    with open_input(path) as raw:
        try:
            handle: Any = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
            data = handle.read(SAMPLE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
    truncated = len(data) > SAMPLE_BYTES
    if truncated:
        cut = data.rfind(b"\n", 0, SAMPLE_BYTES)
        if cut < 0:
            raise DataError(
                f"no line end in the first {SAMPLE_BYTES >> 20} MB of {path}: "
                "is this a binary file? give a text file"
            )
        data = data[: cut + 1]
    if b"\0" in data:
        at = data.index(b"\0")
        raise DataError(f"{path} is a binary file (NUL byte at {at}): give a text file")
    if not data.strip():
        raise DataError(f"{path} is empty: give a file with data in it")
    return data, truncated


def _sample_lines(path: Path) -> tuple[list[str], bool]:
    data, truncated = _sample(path)
    return list(iter_lines(io.BytesIO(data), str(path))), truncated


def _shown(values: list[str], limit: int = 5) -> str:
    head = ", ".join(repr(v) if len(v) <= 20 else repr(v[:17] + "...") for v in values[:limit])
    return head + (f" and {len(values) - limit} more" if len(values) > limit else "")


# --------------------------------------------------------------------------- classify


def _classify(path: Path, notes: list[str]) -> dict[str, Any]:
    lines, truncated = _sample_lines(path)
    fmt = detect_format(path, "auto")
    found: dict[str, Any] = {}
    if fmt == "jsonl":
        columns, values = _json_columns(lines, path)
        notes.append(f"format: jsonl (from the extension {path.suffix})")
    else:
        head = [line for line in lines if line.strip()][:20]
        tabs, commas = sum("\t" in h for h in head), sum("," in h for h in head)
        if fmt == "tsv" and not tabs and commas:
            fmt = "csv"
            notes.append("format: csv (no tabs but commas in the first lines)")
        elif fmt == "csv" and not commas and tabs:
            fmt = "tsv"
            notes.append("format: tsv (no commas but tabs in the first lines)")
        else:
            notes.append(f"format: {fmt} (from the extension {path.suffix or '(none)'})")
        columns, values, header = _table_columns(lines, fmt, path, truncated)
        found["header"] = header
        if not header:
            notes.append("no header line: columns are numbered from 0")
    found["format"] = fmt
    if len(columns) < 2:
        other = "commas" if fmt == "tsv" else "tabs"
        raise DataError(
            f"one column only in {path} ({_shown(columns)}): a labelled file needs a text "
            f"and a label column; are they separated by {other}?"
        )
    text, why_text = _pick_text(columns, values)
    label, why_label = _pick_label(columns, values, text, path)
    labels = sorted(Counter(values[label]))
    found["text_column"], found["label_column"] = text, label
    notes.append(f"text column: {text} ({why_text})")
    notes.append(f"label column: {label} ({why_label}; {len(labels)} labels: {_shown(labels)})")
    return found


def _json_columns(lines: list[str], path: Path) -> tuple[list[str], dict[str, list[str]]]:
    objects = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            if number == len(lines):
                break  # the sample may end inside a line
            raise DataError(f"not valid JSON ({path}, line {number})") from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object ({path}, line {number})")
        objects.append(obj)
    columns = list(dict.fromkeys(k for obj in objects for k in obj))
    values = {
        c: [_cell(obj[c]) for obj in objects if obj.get(c) is not None]
        for c in columns
        if all(isinstance(obj.get(c), (str, int, float, bool)) for obj in objects if c in obj)
    }
    return [c for c in columns if c in values], values


def _cell(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _table_columns(
    lines: list[str], fmt: str, path: Path, truncated: bool
) -> tuple[list[str], dict[str, list[str]], bool]:
    delimiter = "," if fmt == "csv" else "\t"
    rows = [
        r for _, r in delimited_rows(lines, delimiter, "auto", str(path)) if not blank_record(r)
    ]
    if truncated and len(rows) > 1:
        rows = rows[:-1]  # the sample may end inside a record
    first = [c.strip() for c in rows[0]]
    body = [r for r in rows[1:] if len(r) == len(first)]
    lowered = {c.lower() for c in first}
    named = bool(lowered & set(TEXT_NAMES + LABEL_NAMES))
    numeric = any(_is_number(c) for c in first) and any(
        not _is_number(r[i]) for r in body for i, c in enumerate(first) if _is_number(c)
    )
    header = named or (
        len(set(first)) == len(first)
        and all(0 < len(c) <= 40 for c in first)
        and not any(_is_number(c) for c in first)
        and not numeric
        and bool(body)
        and all(
            first[i] not in {r[i].strip() for r in body} for i in range(len(first))
        )  # a header name never appears again as a value of its column
    )
    if header:
        columns = first
    else:
        columns = [str(i) for i in range(len(first))]
        body = [r for r in rows if len(r) == len(first)]
    values = {c: [r[i].strip() for r in body] for i, c in enumerate(columns)}
    return columns, values, header


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _pick_text(columns: list[str], values: dict[str, list[str]]) -> tuple[str, str]:
    for name in TEXT_NAMES:
        for c in columns:
            if c.lower() == name:
                return c, "header name"

    def mean_length(c: str) -> float:
        cells = values[c]
        return sum(len(v) for v in cells) / max(len(cells), 1)

    best = max(columns, key=mean_length)
    return best, f"longest strings, {mean_length(best):.0f} characters on average"


def _pick_label(
    columns: list[str], values: dict[str, list[str]], text: str, path: Path
) -> tuple[str, str]:
    for name in LABEL_NAMES:
        for c in columns:
            if c.lower() == name and c != text:
                return c, "header name"
    others = [c for c in columns if c != text and values[c]]
    if not others:
        raise DataError(f"no label column in {path}: every column but {text!r} is empty")
    best = min(others, key=lambda c: len(set(values[c])))
    distinct, rows = len(set(values[best])), len(values[best])
    if rows >= 10 and distinct > max(20, rows // 2):
        raise DataError(
            f"no label column in {path}: no column but the text ({text!r}) has few different "
            f"values (fewest: {best!r}, {distinct} in {rows} rows); name it in data.label_column"
        )
    return best, "fewest different values"


# --------------------------------------------------------------------------- forecast


def _forecast(path: Path, notes: list[str]) -> dict[str, Any]:
    import numpy as np

    from rnncli.data.series import read_panel, season_length
    from rnncli.data.series.table import NA_TOKENS, choose_delimiter, read_table
    from rnncli.data.series.times import detect_time

    data, truncated = _sample(path)
    delimiter = choose_delimiter(path, "auto")
    where = str(path)
    table = read_table(io.BytesIO(data), where, "utf-8", delimiter, "auto")
    if len(table.columns) < 2:
        used = "commas" if delimiter == "," else "tabs"
        raise DataError(
            f"one column only in {path} ({_shown(table.columns)}): a series file needs a time "
            f"and a value column; the file was split on {used}"
        )
    found: dict[str, Any] = {}
    time = detect_time(table, table.columns)
    found["time_column"] = time
    notes.append(f"time column: {time}")
    free = [c for c in table.columns if c != time]

    def numeric(c: str) -> bool:
        filled = [v for v in table.cells[c] if v.lower() not in NA_TOKENS]
        return bool(filled) and sum(_is_number(v) for v in filled) >= 0.9 * len(filled)

    numbers = [c for c in free if numeric(c)]
    if not numbers:
        raise DataError(
            f"no numeric column to forecast in {path} (columns: {', '.join(table.columns)})"
        )
    named = [c for c in numbers if c.lower() in TARGET_NAMES]
    targets = named[:1] or numbers
    found["target"] = targets
    if len(numbers) == 1:
        notes.append(f"target: {targets[0]} (the one numeric column)")
    elif named:
        rest = [c for c in numbers if c not in targets]
        notes.append(
            f"target: {targets[0]} (by name; {', '.join(rest)} could be data.past_covariates)"
        )
    else:
        notes.append(
            f"targets: {', '.join(targets)} (every numeric column; keep the ones to forecast)"
        )
    stamps = table.cells[time]
    if len(set(stamps.tolist())) < len(stamps):  # repeated stamps: long format?
        ids = [c for c in free if c not in numbers]
        ids = [c for c in ids if 2 <= len(set(table.cells[c].tolist())) <= len(stamps) // 2]
        ids.sort(key=lambda c: (c.lower() not in ID_NAMES, len(set(table.cells[c].tolist()))))
        if ids:
            found["id_column"] = ids[0]
            count = len(set(table.cells[ids[0]].tolist()))
            more = "+" if truncated else ""
            notes.append(f"id column: {ids[0]} (long format, {count}{more} series)")
    panel = None
    tries: list[dict[str, Any]] = [
        {},
        {"missing": "interpolate"},
        {"missing": "interpolate", "sort": True},
    ]
    first_error: DataError | None = None
    for options in tries:
        try:
            panel = read_panel(
                io.BytesIO(data),
                where=where,
                time_column=time,
                targets=targets,
                id_column=found.get("id_column"),
                fmt="csv" if delimiter == "," else "tsv",
                **options,
            )
        except DataError as exc:
            first_error = first_error or exc
            continue
        for key, value in options.items():
            found[key] = value
            notes.append(f"{key}: {value} (the series have gaps or are out of order)")
        break
    if panel is None:
        assert first_error is not None
        raise first_error
    season = season_length(panel.freq)
    notes.append(f"frequency: {panel.freq} (inferred; season {season})")
    lengths = [len(s.times) for s in panel.series]
    if truncated and len(lengths) > 1:
        lengths = lengths[:-1]  # the last series of the sample may be cut short
    shortest = int(np.min(lengths))
    horizon = season if season > 1 else None
    if horizon is not None:
        # lookback + horizon + valid + test must fit in the shortest series
        while horizon > 1 and max(2 * season, 2 * horizon, 8) + 3 * horizon > shortest:
            horizon -= 1
        found["horizon"] = horizon
        notes.append(
            f"horizon: {horizon} (one season)"
            if horizon == season
            else f"horizon: {horizon} (the shortest series has {shortest} steps)"
        )
    return found


# --------------------------------------------------------------------------- translate


def _translate(path: Path, notes: list[str]) -> dict[str, Any]:
    lines, truncated = _sample_lines(path)
    if truncated and len(lines) > 1:
        lines = lines[:-1]
    rows = [(n, line.split("\t")) for n, line in enumerate(lines, start=1) if line.strip()]
    short = [n for n, cells in rows if len(cells) < 2]
    if len(short) == len(rows):
        raise DataError(
            f"no tab in the first lines of {path}: give a TSV of source<TAB>target, one pair "
            "a line (or set data.train to {source: FILE, target: FILE} for two files)"
        )
    if short:
        raise DataError(
            f"{path}, line {short[0]}: one column, need source<TAB>target on every line"
        )
    source, target = rows[0][1][0], rows[0][1][1]
    notes.append(
        f"source: column 0 (e.g. {source.strip()!r}); target: column 1 "
        f"(e.g. {target.strip()!r}); set data.reverse: true to swap them"
    )
    widest = max(len(cells) for _, cells in rows)
    if widest > 2:
        notes.append(f"{widest} columns: the ones after column 1 are ignored")
    found: dict[str, Any] = {}
    if not truncated and len(rows) < 10_000:
        found["valid_size"] = max(1, len(rows) // 10)
        notes.append(f"valid_size: {found['valid_size']} ({len(rows)} pairs, a tenth held out)")
    return found


# --------------------------------------------------------------------------- generate


def _generate(path: Path, notes: list[str]) -> dict[str, Any]:
    _sample_lines(path)  # a readable, non-empty, decodable text
    size = path.stat().st_size
    tokenizer = "char" if size <= CHAR_MODEL_BYTES else "word"
    why = "at most" if tokenizer == "char" else "over"
    notes.append(f"tokenizer: {tokenizer} ({size:,} bytes, {why} {CHAR_MODEL_BYTES >> 20} MB)")
    return {"tokenizer": tokenizer}


# --------------------------------------------------------------------------- tag


def _tag(path: Path, notes: list[str]) -> dict[str, Any]:
    from rnncli.data.tagging import iter_conll, read_jsonl, violations, well_formed

    lines, truncated = _sample_lines(path)
    jsonl = path.suffix in (".jsonl", ".json") or path.suffixes[-2:-1] in ([".jsonl"], [".json"])
    if truncated and len(lines) > 1:
        lines = lines[:-1]
    if jsonl:
        sentences = read_jsonl(path)
        notes.append(f"format: jsonl (from the extension {path.suffix})")
    else:
        sentences = list(iter_conll(lines, str(path)))
        first = next(line for line in lines if line.strip())
        width = len(first.split("\t") if "\t" in first else first.split())
        notes.append(f"format: conll, {width} columns; the tag is the last (data.tag_column: -1)")
    tags = [s.tags for s in sentences]
    found: dict[str, Any] = {"scheme": "none"}
    shaped = all(well_formed(t, "iobes") for ts in tags for t in ts)
    if shaped:
        for scheme in ("iob2", "iobes", "iob1"):
            if not any(violations(ts, scheme) for ts in tags):
                found["scheme"] = scheme
                break
        else:
            found["scheme"] = "iobes" if any(t[0] in "ES" for ts in tags for t in ts) else "iob2"
            found["repair"] = True
            notes.append(f"some tag sequences are invalid {found['scheme']}: data.repair: true")
    kinds = sorted({t for ts in tags for t in ts})
    notes.append(f"scheme: {found['scheme']} ({len(kinds)} tags: {_shown(kinds, 8)})")
    return found


_LOOKERS = {
    "tag": _tag,
    "classify": _classify,
    "forecast": _forecast,
    "translate": _translate,
    "generate": _generate,
}
