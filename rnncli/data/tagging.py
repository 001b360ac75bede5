"""Tagged sentences for sequence labelling (`rnn tag`): readers, tag schemes and scores.

Files are CoNLL columns (one token per line, blank lines between sentences) or JSONL
(one {"tokens": [...], "tags": [...]} object per line), optionally gzip-compressed.

Entities are read from tags exactly as seqeval's default mode (that of conlleval.pl)
reads them, whatever the tags: `spans` is a port of `get_entities`, so F1 here is the
F1 papers report. `violations` and `allowed_transitions` are the strict schemes: a
sequence has no violation iff every move in it (from the start, between tags, to the
end) is allowed, which is what a CRF decodes under.

Errors name the file and the line, and say what to do.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

from rnncli.data.text import iter_lines, open_input
from rnncli.errors import DataError, excerpt

SCHEMES = ("iob1", "iob2", "iobes", "none")  # "none": plain tags (POS), no entities
PREFIXES = {"iob1": ("B", "I"), "iob2": ("B", "I"), "iobes": ("B", "I", "E", "S")}
DOCSTART = "-DOCSTART-"
NO_ENTITY = "(none)"  # the confusion matrix's row and column for "no entity there"
OUTSIDE = ("O", "")  # a sentence's start and end move like an O tag

Parsed = tuple[str, str] | None  # (prefix, type) of a tag; None: not a tag of the scheme


@dataclass
class Sentence:
    """Tokens and their tags ([] when read without tags).

    `line` is the 1-based file line of the first token; token i is on line `line + i`
    when `per_token` (CoNLL), else all tokens are on `line` (a JSONL record).
    """

    tokens: list[str]
    tags: list[str]
    line: int
    per_token: bool = True


def iter_conll(lines: Iterable[str], where: str, tag_column: int | None = -1) -> Iterator[Sentence]:
    """Sentences of CoNLL column lines; `where` names the input in errors.

    A line is split on tabs if it has one (cells stripped), else on whitespace. Column 0
    is the token, column `tag_column` (negative: from the end; None: no tags, any number
    of columns) the tag; with a tag, every row has as many columns as the first. Blank
    lines end sentences, and so do `-DOCSTART-` lines (document markers, skipped).
    """
    width = width_line = 0  # columns of the first row, and its line
    index: int | None = None  # of the tag column
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    for number, line in enumerate(lines, start=1):
        cells = [c.strip() for c in line.split("\t")] if "\t" in line else line.split()
        if not line.strip() or cells[0] == DOCSTART:
            if tokens:
                yield Sentence(tokens, tags, first)
                tokens, tags = [], []
            continue
        if not width:
            width, width_line = len(cells), number
            index = None if tag_column is None else _tag_index(tag_column, width, where, number)
        if index is not None:
            if len(cells) != width:
                raise DataError(
                    f"{where} line {number}: {len(cells)} columns where line {width_line} "
                    f"has {width} (ragged rows): give every token the same columns"
                )
            if not cells[index]:
                raise DataError(f"{where} line {number}: empty tag: fill it in")
            tags.append(cells[index])
        if not cells[0]:
            raise DataError(f"{where} line {number}: empty token: fill it in or remove the row")
        if not tokens:
            first = number
        tokens.append(cells[0])
    if tokens:
        yield Sentence(tokens, tags, first)


def _tag_index(tag_column: int, width: int, where: str, number: int) -> int:
    """The list index of the tag column, checked against the first row's columns."""
    if width == 1:
        raise DataError(
            f"{where} line {number} has a token but no tag: give token and tag columns "
            "(tab or space separated)"
        )
    index = tag_column + width if tag_column < 0 else tag_column
    if not 0 <= index < width:
        raise DataError(
            f"data.tag_column {tag_column} does not exist: {where} line {number} has "
            f"{width} columns"
        )
    if index == 0:
        raise DataError(
            f"data.tag_column {tag_column} is the token column ({where} line {number} has "
            f"{width} columns): pick the tag column (-1 is the last)"
        )
    return index


def _lines(path: Path, encoding: str) -> Iterator[str]:
    """Lines without line ends (see `iter_lines`); .gz files are decompressed as read."""
    raw: Any = open_input(path)
    with raw:
        if path.suffix.lower() == ".gz":
            raw = gzip.GzipFile(fileobj=raw)
        yield from iter_lines(raw, str(path), encoding)


def _no_sentences(path: Path) -> DataError:
    return DataError(
        f"{path} has no sentences: it is empty or blank; give a file of tagged sentences"
    )


def read_conll(
    path: str | Path, tag_column: int | None = -1, encoding: str = "utf-8"
) -> list[Sentence]:
    """All sentences of a CoNLL file (see `iter_conll`)."""
    path = Path(path)
    sentences = list(iter_conll(_lines(path, encoding), str(path), tag_column))
    if not sentences:
        raise _no_sentences(path)
    return sentences


def read_jsonl(
    path: str | Path,
    encoding: str = "utf-8",
    tokens_key: str = "tokens",
    tags_key: str | None = "tags",
) -> list[Sentence]:
    """Sentences of a JSONL file: one object per line with a list of tokens and one tag
    per token (no tags when `tags_key` is None). Blank lines are skipped."""
    path = Path(path)
    sentences = []
    for number, line in enumerate(_lines(path, encoding), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:  # bad JSON, huge integers, deep nesting
            reason = "nested too deeply or a number too long"
            if isinstance(exc, json.JSONDecodeError):
                reason = exc.msg
            raise DataError(
                f"{path} line {number}: not valid JSON ({reason}): write one object per line"
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"{path} line {number}: expected a JSON object such as "
                f'{{"{tokens_key}": [...], "{tags_key or "tags"}": [...]}}, got '
                f"{excerpt(obj)}"
            )
        tokens = _strings(obj, tokens_key, path, number)
        if not tokens:
            raise DataError(f"{path} line {number}: no tokens: remove the line or fill it in")
        tags = [] if tags_key is None else _strings(obj, tags_key, path, number)
        if tags_key is not None and len(tags) != len(tokens):
            raise DataError(
                f"{path} line {number}: {len(tokens)} tokens but {len(tags)} tags: give one "
                "tag per token"
            )
        sentences.append(Sentence(tokens, tags, number, per_token=False))
    if not sentences:
        raise _no_sentences(path)
    return sentences


def _strings(obj: dict[str, Any], key: str, path: Path, number: int) -> list[str]:
    if key not in obj:
        keys = excerpt(", ".join(map(str, obj)), 100)
        raise DataError(f"{path} line {number}: no key {key!r} (keys: {keys})")
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise DataError(
            f"{path} line {number}: {key!r} must be a list of non-empty strings, got "
            f"{excerpt(value)}"
        )
    return value


def read_tagged(
    path: str | Path, fmt: str = "auto", tag_column: int | None = -1, encoding: str = "utf-8"
) -> list[Sentence]:
    """Sentences of a CoNLL or JSONL file; auto: .jsonl/.json (maybe + .gz) is JSONL.

    `tag_column` None reads tokens only (also from JSONL).
    """
    path = Path(path)
    if fmt == "auto":
        name = path.name.lower().removesuffix(".gz")
        fmt = "jsonl" if name.endswith((".jsonl", ".json")) else "conll"
    if fmt == "jsonl":
        return read_jsonl(path, encoding, tags_key=None if tag_column is None else "tags")
    if fmt == "conll":
        return read_conll(path, tag_column, encoding)
    raise DataError(f"unknown data.format {fmt!r} for tagged files: use auto, conll or jsonl")


def _check_scheme(*schemes: str) -> None:
    for scheme in schemes:
        if scheme not in SCHEMES:
            raise ValueError(f"unknown tag scheme {scheme!r}: use one of {', '.join(SCHEMES)}")


def spans(tags: Sequence[str], scheme: str) -> list[tuple[str, int, int]]:
    """Entities as (type, start, end exclusive), read as seqeval's `get_entities` (default
    mode, prefixes; conlleval) reads them, for any tags: an I- after O starts an entity, a
    change of type ends one. Plain tags (scheme none) have none."""
    _check_scheme(scheme)
    if scheme == "none":
        return []
    found = []
    prev, prev_type, begin = "O", "", 0
    for i, chunk in enumerate([*tags, "O"]):
        tag = chunk[:1]
        type_ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        ends = (
            prev in ("E", "S")
            or (prev in ("B", "I") and tag in ("B", "S", "O"))
            or (prev not in ("O", ".") and prev_type != type_)
        )
        if ends:
            found.append((prev_type, begin, i))
        starts = (
            tag in ("B", "S")
            or (prev in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_)
        )
        if starts:
            begin = i
        prev, prev_type = tag, type_
    return found


def well_formed(tag: str, scheme: str) -> bool:
    """`O` or `<prefix>-<type>` with a prefix of the scheme (B/I; IOBES also E/S)."""
    return _parse(tag, scheme) is not None


def _parse(tag: str, scheme: str) -> Parsed:
    if tag == "O":
        return OUTSIDE
    prefix, dash, type_ = tag.partition("-")
    return (prefix, type_) if dash and type_ and prefix in PREFIXES[scheme] else None


def _may_follow(a: tuple[str, str], b: tuple[str, str], scheme: str) -> bool:
    """Whether tag `b` may follow tag `a` (OUTSIDE for a sentence's start or end)."""
    (pa, ta), (pb, tb) = a, b
    inside = pa in ("B", "I") and ta == tb
    if scheme == "iob2":  # I-X continues B-X or I-X
        return pb != "I" or inside
    if scheme == "iob1":  # B-X only splits adjacent entities of type X
        return pb != "B" or inside
    if pa in ("B", "I"):  # iobes: an open entity goes on with I-X or ends with E-X
        return pb in ("I", "E") and ta == tb
    return pb in ("O", "B", "S")


def violations(tags: Sequence[str], scheme: str) -> list[int]:
    """Positions of tags that break the strict scheme: a tag that is not O or
    <prefix>-<type> with a prefix of the scheme, one that cannot follow the tag before it
    (or start a sentence), or a last tag that cannot end one."""
    _check_scheme(scheme)
    if scheme == "none":
        return []
    parsed = [_parse(t, scheme) for t in tags]
    bad = []
    for i, tag in enumerate(parsed):
        prev = parsed[i - 1] if i else OUTSIDE
        if (
            tag is None
            or (prev is not None and not _may_follow(prev, tag, scheme))
            or (i == len(parsed) - 1 and not _may_follow(tag, OUTSIDE, scheme))
        ):
            bad.append(i)
    return bad


def _from_spans(found: list[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """The tags of non-overlapping entities in `scheme` (iob1, iob2 or iobes)."""
    out = ["O"] * length
    last: tuple[int, str] | None = None  # (end, type) of the entity before
    for type_, start, end in found:
        body = [f"I-{type_}"] * (end - start)
        if scheme == "iobes":
            body = [f"S-{type_}"] if end - start == 1 else [f"B-{type_}", *body[2:], f"E-{type_}"]
        elif scheme == "iob2" or last == (start, type_):
            body[0] = f"B-{type_}"
        out[start:end] = body
        last = (end, type_)
    return out


def split_prefix(token: str, prefixes: str) -> list[str]:
    """`@name` -> ['@', 'name'] when '@' is one of `prefixes`; a token made of prefix
    characters only (a lone '@', '##') stays whole."""
    if prefixes and len(token) > 1 and token[0] in prefixes and token[1:].strip(prefixes):
        return [token[0], token[1:]]
    return [token]


def split_prefixes(sentence: Sentence, prefixes: str, scheme: str) -> Sentence:
    """The sentence with every `@name` token (see `split_prefix`) written as two, '@' and
    'name'. The name keeps the token's place in its entity; the symbol lies outside an
    entity that starts at the token and inside one that goes through it. Plain tags (scheme
    none) give both pieces the token's tag. A changed sentence no longer has one token per
    file line, so errors about it name the sentence's first line."""
    pieces = [split_prefix(t, prefixes) for t in sentence.tokens]
    if all(len(p) == 1 for p in pieces):
        return sentence
    tokens = [p for ps in pieces for p in ps]
    tags: list[str] = []
    if sentence.tags and scheme == "none":
        tags = [tag for ps, tag in zip(pieces, sentence.tags, strict=True) for _ in ps]
    elif sentence.tags:
        ends = list(accumulate(len(ps) for ps in pieces))  # one past each token's pieces
        found = [(kind, ends[a] - 1, ends[b - 1]) for kind, a, b in spans(sentence.tags, scheme)]
        tags = _from_spans(found, len(tokens), scheme)
    return replace(sentence, tokens=tokens, tags=tags, per_token=False)


def to_scheme(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Tags of `source` rewritten in `target` with the same entities (see `spans`); plain
    tags (none) convert only to none."""
    _check_scheme(source, target)
    if "none" in (source, target):
        if source != target:
            raise ValueError(f"plain tags have no entities: cannot convert {source} to {target}")
        return list(tags)
    return _from_spans(spans(tags, source), len(tags), target)


def repair(tags: Sequence[str], scheme: str) -> list[str]:
    """The valid sequence with the entities `spans` reads in `tags` (tags of the scheme's
    shape; `check_tags` rejects others first)."""
    return to_scheme(tags, scheme, scheme)


def _at(sentence: Sentence, where: str, i: int) -> str:
    """Where token i of a sentence is: 'f.conll line 12' or 'f.jsonl line 3, token 5'."""
    if sentence.per_token:
        return f"{where} line {sentence.line + i}"
    return f"{where} line {sentence.line}, token {i + 1}"


def _move(tags: Sequence[str], i: int, scheme: str) -> str:
    """The move that makes tag i (of the scheme's shape, as the one before) a violation."""
    tag, prev = _parse(tags[i], scheme), _parse(tags[i - 1], scheme) if i else OUTSIDE
    assert tag is not None and prev is not None
    shown = excerpt(tags[i])
    if _may_follow(prev, tag, scheme):
        return f"{shown} ending a sentence"
    return f"{shown} after {excerpt(tags[i - 1])}" if i else f"{shown} starting a sentence"


def check_tags(
    sentences: list[Sentence], scheme: str, where: str, repair_invalid: bool = False
) -> tuple[list[Sentence], int]:
    """Sentences whose tags are valid in `scheme`, and how many were repaired.

    A tag not of the scheme's shape is an error; so is an invalid sequence unless
    `repair_invalid`, which replaces it by `repair` of it.
    """
    _check_scheme(scheme)
    if scheme == "none":
        return sentences, 0
    checked, repaired = [], 0
    for sentence in sentences:
        tags = sentence.tags
        bad = violations(tags, scheme)
        for i in bad:
            if _parse(tags[i], scheme) is None:
                shape = "/".join(f"{p}-" for p in PREFIXES[scheme])
                raise DataError(
                    f"{_at(sentence, where, i)}: tag {excerpt(tags[i])} is not O or {shape} "
                    f"and a type, as scheme {scheme} needs: set data.scheme: none for plain "
                    "tags (such as parts of speech), or the scheme the file uses"
                )
        if bad and not repair_invalid:
            raise DataError(
                f"{_at(sentence, where, bad[0])}: {_move(tags, bad[0], scheme)} is invalid in "
                f"{scheme}: set data.repair: true to repair such sequences, or data.scheme if "
                "the file uses another scheme"
            )
        if bad:
            sentence = replace(sentence, tags=repair(tags, scheme))
            repaired += 1
        checked.append(sentence)
    return checked, repaired


def entity_types(tags: Iterable[str]) -> list[str]:
    """Sorted entity types of a tag set ("B-person" -> "person"); O and plain tags have none."""
    return sorted({t.partition("-")[2] for t in tags if t != "O" and t.partition("-")[2]})


def allowed_transitions(
    tags: Sequence[str], scheme: str
) -> tuple[list[bool], list[list[bool]], list[bool]]:
    """For a tag inventory: may a sentence start with tag j, may tag j follow tag i, may a
    sentence end with tag i. A sequence has no `violations` iff all its moves are allowed
    (a tag not of the scheme's shape never is); plain tags (none) allow everything."""
    _check_scheme(scheme)
    parsed = [_parse(t, scheme) if scheme != "none" else OUTSIDE for t in tags]

    def ok(a: Parsed, b: Parsed) -> bool:
        return scheme == "none" or (a is not None and b is not None and _may_follow(a, b, scheme))

    start = [ok(OUTSIDE, b) for b in parsed]
    moves = [[ok(a, b) for b in parsed] for a in parsed]
    end = [ok(a, OUTSIDE) for a in parsed]
    return start, moves, end


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _scores(correct: int, predicted: int, gold: int) -> dict[str, float]:
    precision, recall = _ratio(correct, predicted), _ratio(correct, gold)
    total = precision + recall
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / total if total else 0.0,
    }


def evaluate_tags(gold: list[list[str]], pred: list[list[str]], scheme: str) -> dict[str, Any]:
    """Token accuracy and, for entity schemes, entity precision, recall and F1 exactly as
    seqeval's default mode (micro; an entity is right when type, start and end match; 0
    when undefined), per-type scores and a confusion matrix of types on the same span.

    The confusion rows are gold types + "(none)", the columns predicted types + "(none)":
    a gold entity counts at its predicted type when its exact span is predicted, else at
    "(none)"; a predicted entity on no gold span counts in the "(none)" row.
    """
    _check_scheme(scheme)
    if list(map(len, gold)) != list(map(len, pred)):
        raise ValueError("gold and predicted tags differ in the number of sentences or tokens")
    tokens = sum(map(len, gold))
    right = sum(
        g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)
    )
    result: dict[str, Any] = {"accuracy": _ratio(right, tokens), "tokens": tokens}
    if scheme == "none":
        return result
    # seqeval reads all sentences as one sequence, each followed by an O
    gold_set = set(spans([t for s in gold for t in [*s, "O"]], scheme))
    pred_set = set(spans([t for s in pred for t in [*s, "O"]], scheme))
    hits = gold_set & pred_set
    types = sorted({t for t, _, _ in gold_set | pred_set})
    result |= _scores(len(hits), len(pred_set), len(gold_set))
    result |= {"entities": len(gold_set), "predicted": len(pred_set)}
    right_n, pred_n, gold_n = (Counter(t for t, _, _ in x) for x in (hits, pred_set, gold_set))
    result["per_type"] = {
        t: {
            **_scores(right_n[t], pred_n[t], gold_n[t]),
            "support": gold_n[t],
            "predicted": pred_n[t],
        }
        for t in types
    }
    index = {t: i for i, t in enumerate(types)}
    none = len(types)
    rows = [[0] * (none + 1) for _ in range(none + 1)]
    pred_at = {(s, e): index[t] for t, s, e in pred_set}
    gold_spans = {(s, e) for _, s, e in gold_set}
    for t, s, e in gold_set:
        rows[index[t]][pred_at.get((s, e), none)] += 1
    for t, s, e in pred_set:
        if (s, e) not in gold_spans:
            rows[none][index[t]] += 1
    result["confusion"] = {"labels": [*types, NO_ENTITY], "rows": rows}
    return result
