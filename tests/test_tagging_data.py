"""Tagged sentences (rnncli.data.tagging): readers, schemes, and scores equal to seqeval's."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re
import warnings
from pathlib import Path

import pytest

from rnncli.data.tagging import (
    Sentence,
    allowed_transitions,
    check_tags,
    entity_types,
    evaluate_tags,
    iter_conll,
    read_conll,
    read_jsonl,
    read_tagged,
    repair,
    spans,
    split_prefix,
    split_prefixes,
    to_scheme,
    violations,
)
from rnncli.errors import DataError

ENTITY_SCHEMES = ("iob1", "iob2", "iobes")
TYPES = ("PER", "LOC", "MISC")


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def error(path: Path, **kwargs: object) -> str:
    """The message of the DataError that reading `path` raises."""
    with pytest.raises(DataError) as info:
        read_tagged(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# -- CoNLL -------------------------------------------------------------------------------

CONLL = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP B-ORG\n"
    "rejects VBZ B-VP O\n"
    "German JJ B-NP B-MISC\n"
    "\n"
    "\n"
    "\n"
    "Peter NNP B-NP B-PER\n"
    "Blackburn NNP I-NP I-PER\n"
)


def test_conll_space_separated_docstart_blanks_no_trailing_blank(tmp_path: Path) -> None:
    got = read_conll(write(tmp_path, "a.conll", CONLL))
    assert got == [
        Sentence(["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"], 3),
        Sentence(["Peter", "Blackburn"], ["B-PER", "I-PER"], 9),
    ]
    pos = read_conll(write(tmp_path, "b.conll", CONLL), tag_column=1)
    assert pos[0].tags == ["NNP", "VBZ", "JJ"]
    bare = read_conll(write(tmp_path, "c.conll", CONLL), tag_column=None)
    assert [s.tokens for s in bare] == [s.tokens for s in got]
    assert all(s.tags == [] for s in bare)


def test_conll_tabs_crlf_and_whitespace_only_separators(tmp_path: Path) -> None:
    text = "New York\tB-LOC\r\nis\tO\r\n \t \r\n\r\nhi there\t O \r\n"
    got = read_conll(write(tmp_path, "a.tsv", text))
    assert got == [
        Sentence(["New York", "is"], ["B-LOC", "O"], 1),
        Sentence(["hi there"], ["O"], 5),
    ]


def test_docstart_inside_a_sentence_ends_it_and_keeps_line_numbers(tmp_path: Path) -> None:
    got = read_conll(write(tmp_path, "a.conll", "a O\n-DOCSTART- O\nb O\n"))
    assert [(s.tokens, s.line) for s in got] == [(["a"], 1), (["b"], 3)]


def test_iter_conll_tokens_only_takes_any_columns() -> None:
    got = list(iter_conll(["a", "b x y", "", "c z"], "stdin", tag_column=None))
    assert got == [Sentence(["a", "b"], [], 1), Sentence(["c"], [], 4)]


@pytest.mark.parametrize(
    ("text", "kwargs", "pattern"),
    [
        ("a B-X\n\nb O\nc X O\n", {}, r"a\.conll line 4: 3 columns where line 1 has 2 \(ragged"),
        (
            "a B-X\nb O\n",
            {"tag_column": 4},
            r"tag_column 4 does not exist: .*a\.conll line 1 has 2",
        ),
        ("a B-X\nb O\n", {"tag_column": -3}, r"tag_column -3 does not exist: .*a\.conll line 1"),
        ("\n\na B-X\nb O\n", {"tag_column": 0}, r"tag_column 0 is the token column \(.*line 3"),
        ("a\nb\n", {}, r"a\.conll line 1 has a token but no tag"),
        ("a O\nb\n", {}, r"a\.conll line 2: 1 columns where line 1 has 2"),
        ("a\tO\n\tO\n", {}, r"a\.conll line 2: empty token"),
        ("a\tO\nb\t\n", {}, r"a\.conll line 2: empty tag"),
        (b"ok O\ncaf\xe9\tO\n", {}, r"a\.conll is not valid utf-8 \(line 2"),
        (b"a O\nb\x00 O\n", {}, r"NUL character \(.*a\.conll, line 2"),
        ("", {}, r"a\.conll has no sentences"),
        ("-DOCSTART- O\n\n\n", {}, r"a\.conll has no sentences"),
    ],
)
def test_conll_errors_name_file_and_line(
    tmp_path: Path, text: str | bytes, kwargs: dict, pattern: str
) -> None:
    assert re.search(pattern, error(write(tmp_path, "a.conll", text), **kwargs))


def test_non_utf8_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not valid utf-8"):
        read_conll(write(tmp_path, "a.conll", b"caf\xe9\tO\n"))
    got = read_conll(write(tmp_path, "b.conll", b"caf\xe9\tO\n"), encoding="latin-1")
    assert got[0].tokens == ["café"]


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    assert "file not found" in error(tmp_path / "nope.conll")
    assert "unknown data.format" in error(write(tmp_path, "a.conll", "a O\n"), fmt="xml")


# -- JSONL -------------------------------------------------------------------------------


def test_jsonl_reading_gzip_and_auto_format(tmp_path: Path) -> None:
    records = [
        {"tokens": ["New York", "is"], "tags": ["B-LOC", "O"], "id": 1},
        {"tokens": ["hi"], "tags": ["O"]},
    ]
    text = "\n".join(json.dumps(r) for r in records[:1]) + "\n\n  \n" + json.dumps(records[1])
    want = [
        Sentence(["New York", "is"], ["B-LOC", "O"], 1, per_token=False),
        Sentence(["hi"], ["O"], 4, per_token=False),
    ]
    assert read_tagged(write(tmp_path, "a.jsonl", text)) == want
    assert read_tagged(write(tmp_path, "a.json.gz", gzip.compress(text.encode()))) == want
    bare = read_tagged(write(tmp_path, "b.jsonl", '{"tokens": ["x"]}\n'), tag_column=None)
    assert bare == [Sentence(["x"], [], 1, per_token=False)]
    words = read_jsonl(write(tmp_path, "c.jsonl", '{"w": ["x"], "t": ["O"]}'), "utf-8", "w", "t")
    assert words[0].tags == ["O"]
    # an unknown suffix reads as CoNLL
    assert read_tagged(write(tmp_path, "d.txt", "x O\n"))[0].line == 1


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ('{"tokens": ["a"], "tags": ["O"]', r"line 2: not valid JSON"),
        ('["a", "O"]', r"line 2: expected a JSON object"),
        ('{"tags": ["O"]}', r"line 2: no key 'tokens' \(keys: 'tags'\)"),
        ('{"tokens": ["a"]}', r"line 2: no key 'tags'"),
        ('{"tokens": "a", "tags": ["O"]}', r"line 2: 'tokens' must be a list of non-empty str"),
        ('{"tokens": ["a", 1], "tags": ["O", "O"]}', r"line 2: 'tokens' must be a list"),
        ('{"tokens": ["a"], "tags": [""]}', r"line 2: 'tags' must be a list"),
        ('{"tokens": [], "tags": []}', r"line 2: no tokens"),
        ('{"tokens": ["a", "b"], "tags": ["O"]}', r"line 2: 2 tokens but 1 tags"),
        ('{"tokens": [1' + "0" * 5000 + '], "tags": ["O"]}', r"line 2: not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, r"line 2: not valid JSON"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, line: str, pattern: str) -> None:
    path = write(tmp_path, "a.jsonl", '{"tokens": ["ok"], "tags": ["O"]}\n' + line + "\n")
    assert re.search(r"a\.jsonl " + pattern, error(path))


def test_jsonl_empty_and_whitespace_tokens(tmp_path: Path) -> None:
    assert "has no sentences" in error(write(tmp_path, "a.jsonl", "\n \n"))
    got = read_jsonl(write(tmp_path, "b.jsonl", '{"tokens": ["a b"], "tags": ["O"]}'))
    assert got[0].tokens == ["a b"]


# -- spans, schemes, repair --------------------------------------------------------------


def test_spans_hand_made() -> None:
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-MISC", "B-MISC"]
    assert spans(tags, "iob2") == [
        ("PER", 0, 2),
        ("LOC", 3, 5),
        ("LOC", 5, 6),
        ("MISC", 6, 7),
        ("MISC", 7, 8),
    ]
    assert spans(["S-A", "B-A", "E-A", "I-A", "E-B"], "iobes") == [
        ("A", 0, 1),
        ("A", 1, 3),
        ("A", 3, 4),
        ("B", 4, 5),
    ]
    assert spans(["NN", "NN"], "none") == []


def random_tags(rng: random.Random, prefixes: str, odd: bool = False) -> list[str]:
    pool = ["O", *(f"{p}-{t}" for p in prefixes for t in TYPES)]
    if odd:  # tags no scheme allows, read as seqeval reads them anyway
        pool += ["B", "I", "E", "S", ".", "NN", "B-", "-", ".-PER", "B-PER-X", "IPER"]
    return [rng.choice(pool) for _ in range(rng.randint(0, 12))]


@pytest.mark.parametrize(("prefixes", "odd"), [("BI", False), ("BIES", False), ("BIES", True)])
def test_spans_equal_seqeval_get_entities(prefixes: str, odd: bool) -> None:
    sequence_labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")
    rng = random.Random(f"{prefixes}{odd}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about tags that are not entities
        for _ in range(2000):
            tags = random_tags(rng, prefixes, odd)
            theirs = sequence_labeling.get_entities(tags)
            assert spans(tags, "iob2") == [(t, s, e + 1) for t, s, e in theirs], tags


def noisy(rng: random.Random, tags: list[str], prefixes: str, odd: bool) -> list[str]:
    """A prediction: mostly the gold tags, some replaced."""
    other = random_tags(rng, prefixes, odd)
    return [rng.choice(other) if other and rng.random() < 0.3 else t for t in tags]


@pytest.mark.parametrize(("prefixes", "odd"), [("BI", False), ("BIES", False), ("BIES", True)])
def test_evaluate_tags_equals_seqeval(prefixes: str, odd: bool) -> None:
    metrics = pytest.importorskip("seqeval.metrics")
    rng = random.Random(f"{prefixes}{odd}")
    scheme = "iob2" if prefixes == "BI" else "iobes"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about undefined scores and odd tags
        for _ in range(40):
            gold = [random_tags(rng, prefixes, odd) for _ in range(rng.randint(1, 12))]
            pred = [noisy(rng, g, prefixes, odd) for g in gold]
            if not any(gold):
                continue  # seqeval's accuracy divides by zero
            ours = evaluate_tags(gold, pred, scheme)
            assert ours["accuracy"] == pytest.approx(metrics.accuracy_score(gold, pred), abs=1e-12)
            for key, score in [
                ("precision", metrics.precision_score),
                ("recall", metrics.recall_score),
                ("f1", metrics.f1_score),
            ]:
                assert ours[key] == pytest.approx(score(gold, pred), abs=1e-12)
                assert type(ours[key]) is float
            report = metrics.classification_report(gold, pred, output_dict=True)
            micro = report.pop("micro avg")
            types = sorted(k for k in report if not k.endswith(" avg"))
            assert list(ours["per_type"]) == types
            for t in types:
                mine, theirs = ours["per_type"][t], report[t]
                assert mine["precision"] == pytest.approx(theirs["precision"], abs=1e-12)
                assert mine["recall"] == pytest.approx(theirs["recall"], abs=1e-12)
                assert mine["f1"] == pytest.approx(theirs["f1-score"], abs=1e-12)
                assert mine["support"] == theirs["support"]
            assert ours["f1"] == pytest.approx(micro["f1-score"], abs=1e-12)
            assert ours["entities"] == micro["support"]


def test_evaluate_tags_hand_made() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "O", "B-LOC"]]
    got = evaluate_tags(gold, pred, "iob2")
    assert got["accuracy"] == 5 / 7
    assert (got["precision"], got["recall"]) == (2 / 3, 2 / 4)
    assert got["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), abs=1e-15)
    assert (got["entities"], got["predicted"]) == (4, 3)
    assert got["per_type"] == {
        "LOC": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "predicted": 1},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 1},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1, "predicted": 1},
    }
    assert got["confusion"] == {
        "labels": ["LOC", "ORG", "PER", "(none)"],
        "rows": [[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]],
    }
    extra = evaluate_tags([["O", "O"]], [["B-X", "O"]], "iob2")
    assert extra["confusion"]["rows"] == [[0, 0], [1, 0]]
    assert (extra["precision"], extra["recall"], extra["f1"]) == (0.0, 0.0, 0.0)
    plain = evaluate_tags([["NN", "VB"]], [["NN", "NN"]], "none")
    assert plain == {"accuracy": 0.5, "tokens": 2}
    with pytest.raises(ValueError, match="differ"):
        evaluate_tags([["O", "O"]], [["O"]], "iob2")


def all_sequences(inventory: list[str], longest: int = 4) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for n in range(1, longest + 1):
        found += itertools.product(inventory, repeat=n)
    return found


INVENTORIES = {
    "iob1": ["O", "B-A", "I-A", "I-B", "NN"],
    "iob2": ["O", "B-A", "I-A", "B-B", "I-B"],
    "iobes": ["O", "B-A", "I-A", "E-A", "S-A", "E-B"],
    "none": ["NN", "VB"],
}


@pytest.mark.parametrize("scheme", list(INVENTORIES))
def test_allowed_transitions_are_exactly_the_valid_sequences(scheme: str) -> None:
    inventory = INVENTORIES[scheme]
    start, moves, end = allowed_transitions(inventory, scheme)
    at = {t: i for i, t in enumerate(inventory)}
    for seq in all_sequences(inventory):
        ids = [at[t] for t in seq]
        allowed = start[ids[0]] and end[ids[-1]]
        allowed = allowed and all(moves[a][b] for a, b in itertools.pairwise(ids))
        assert allowed == (violations(seq, scheme) == []), seq


def test_violations_hand_made() -> None:
    assert violations(["O", "I-A", "I-A", "B-A", "I-B"], "iob2") == [1, 4]
    assert violations(["B-A", "I-A", "B-A", "B-B", "I-B"], "iob1") == [0, 3]
    assert violations(["B-A", "O", "I-A", "E-B", "S-A", "B-A"], "iobes") == [1, 2, 3, 5]
    assert violations(["NN", "O", "E-A"], "iob2") == [0, 2]
    assert violations(["NN", "I-A"], "none") == []


@pytest.mark.parametrize("source", ENTITY_SCHEMES)
def test_conversions_and_repair_keep_spans(source: str) -> None:
    rng = random.Random(source)
    prefixes = "BIES" if source == "iobes" else "BI"
    for _ in range(500):
        tags = random_tags(rng, prefixes)
        found = spans(tags, source)
        fixed = repair(tags, source)
        assert violations(fixed, source) == []
        assert spans(fixed, source) == found
        if not violations(tags, source):
            assert fixed == tags
        for target in ENTITY_SCHEMES:
            converted = to_scheme(tags, source, target)
            assert violations(converted, target) == []
            assert spans(converted, target) == found
            assert to_scheme(converted, target, source) == fixed


def test_to_scheme_hand_made() -> None:
    iob1 = ["I-A", "I-A", "B-A", "I-B", "O", "I-A"]
    assert to_scheme(iob1, "iob1", "iob2") == ["B-A", "I-A", "B-A", "B-B", "O", "B-A"]
    assert to_scheme(iob1, "iob1", "iobes") == ["B-A", "E-A", "S-A", "S-B", "O", "S-A"]
    assert to_scheme(["NN"], "none", "none") == ["NN"]
    with pytest.raises(ValueError, match="cannot convert"):
        to_scheme(["NN"], "none", "iob2")
    with pytest.raises(ValueError, match="unknown tag scheme"):
        spans(["O"], "bio")


def test_entity_types() -> None:
    assert entity_types(["O", "B-person", "I-person", "S-org", "NN"]) == ["org", "person"]


# -- check_tags --------------------------------------------------------------------------


def test_check_tags_errors_name_the_token_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.conll", "a O\n\nb O\nc I-PER\n")
    sentences = read_conll(path)
    with pytest.raises(DataError) as info:
        check_tags(sentences, "iob2", str(path))
    message = str(info.value)
    assert "a.conll line 4: 'I-PER' after 'O' is invalid in iob2" in message
    assert "data.repair: true" in message and "data.scheme" in message
    fixed, count = check_tags(sentences, "iob2", str(path), repair_invalid=True)
    assert count == 1 and fixed[1].tags == ["O", "B-PER"] and fixed[0] is sentences[0]
    with pytest.raises(DataError, match=r"a\.conll line 3: 'I-PER' starting a sentence"):
        check_tags([Sentence(["c"], ["I-PER"], 3)], "iob2", str(path))
    with pytest.raises(DataError, match=r"line 2: 'B-PER' ending a sentence is invalid in iobes"):
        check_tags([Sentence(["b", "c"], ["O", "B-PER"], 1)], "iobes", "f")


def test_check_tags_rejects_tags_of_another_shape_even_when_repairing() -> None:
    sentence = Sentence(["a", "b"], ["O", "NN"], 3, per_token=False)
    for fix in (False, True):
        with pytest.raises(DataError) as info:
            check_tags([sentence], "iob2", "f.jsonl", repair_invalid=fix)
        assert "f.jsonl line 3, token 2: tag 'NN' is not O or B-/I-" in str(info.value)
        assert "data.scheme: none" in str(info.value)
    assert check_tags([sentence], "none", "f.jsonl") == ([sentence], 0)


def test_split_prefix_hand_made() -> None:
    assert split_prefix("@Bob", "@#") == ["@", "Bob"]
    assert split_prefix("#tbt", "@#") == ["#", "tbt"]
    assert split_prefix("@", "@#") == ["@"]  # a lone symbol stays
    assert split_prefix("@#", "@#") == ["@#"]  # so does a run of symbols only
    assert split_prefix("@Bob", "") == ["@Bob"]  # off
    assert split_prefix("a@b", "@") == ["a@b"]  # only the front


@pytest.mark.parametrize(
    ("scheme", "tags", "want"),
    [
        ("iob2", "O B-per B-loc I-loc", "O O B-per O B-loc I-loc I-loc"),
        ("iob1", "O I-per I-loc I-loc", "O O I-per O I-loc I-loc I-loc"),
        ("iobes", "O S-per B-loc E-loc", "O O S-per O B-loc I-loc E-loc"),
        ("none", "X N N N", "X N N N N N N"),
    ],
)
def test_split_prefixes_keeps_every_entity(scheme: str, tags: str, want: str) -> None:
    """'@Bob' starts an entity: the '@' stays out of it; '#x' goes on with one: inside."""
    sentence = Sentence(["RT", "@Bob", "@New", "#x"], tags.split(), line=3)
    got = split_prefixes(sentence, "@#", scheme)
    assert got.tokens == ["RT", "@", "Bob", "@", "New", "#", "x"]
    assert " ".join(got.tags) == want
    assert got.line == 3 and not got.per_token  # errors name the sentence's first line
    if scheme != "none":
        assert [(k, " ".join(got.tokens[a:b])) for k, a, b in spans(got.tags, scheme)] == [
            ("per", "Bob"),
            ("loc", "New # x"),
        ]
    untouched = Sentence(["a", "@"], ["O", "O"], line=1)
    assert split_prefixes(untouched, "@#", scheme) is untouched
