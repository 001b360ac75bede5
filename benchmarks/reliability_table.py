"""Print the reliability matrix of tests/test_reliability.py as a Markdown table.

    python benchmarks/reliability_table.py > /tmp/matrix.md   # pasted into docs/RELIABILITY.md

One row per case: the case, the command it runs, the expected behaviour (exit code and
what the one `error:` line must name) and the test id that checks it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_reliability import CASES


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 70 else text[:67] + "..."


def main() -> None:
    print("| # | case (the test id) | command | exit | the `error:` line names |")
    print("|---|---|---|---|---|")
    for number, case in enumerate(CASES, start=1):
        command = "rnn " + " ".join(a if len(a) < 30 else a[:27] + "..." for a in case.argv)
        names = " and ".join(
            " or ".join(f"`{alt}`" for alt in part.split("|")) for part in case.expect.split(".*")
        )
        print(f"| {number} | {_cell(case.id)} | `{_cell(command)}` | {case.code} | {names} |")
    print(f"\n{len(CASES)} cases.")


if __name__ == "__main__":
    main()
