"""`rnn plot` (training curves to an image) and `rnn runs` (the runs under a folder)."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import pytest

from rnncli import api
from rnncli.errors import CheckpointError
from rnncli.training.checkpoint import read_meta

from .test_reliability import GOOD_DATA, recipe

FILES = {"generate": "train.txt", "classify": "train.tsv"}
FILES |= {"forecast": "series.csv", "translate": "pairs.tsv"}
STEPS = {"generate": 6, "classify": 4, "forecast": 4, "translate": 2}
MAIN = {
    "generate": "valid_bpc",
    "classify": "valid_accuracy",
    "forecast": "valid_loss",
    "translate": "valid_loss",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/<task>: one tiny run of every task, evaluated every 2 steps."""
    root = tmp_path_factory.mktemp("runs_world")
    for task, name in FILES.items():
        data = root / "data" / name
        data.parent.mkdir(exist_ok=True)
        data.write_text(GOOD_DATA[name], encoding="utf-8")
        path = root / f"{task}.yaml"
        text = recipe(
            task,
            data__train=str(data),
            training__max_steps=STEPS[task],
            training__eval_every=2,
            training__threads=1,
        )
        path.write_text(text, encoding="utf-8")
        api.train(path, output=root / "runs" / task)
    return root / "runs"


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    from rnncli.cli.main import run

    monkeypatch.setattr(sys, "argv", ["rnn", *argv])
    monkeypatch.setenv("RNNCLI_DEBUG", "")
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(data) > 10_000, len(data)  # axes, labels and lines drawn, not an empty canvas
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# ---------------------------------------------------------------------------- plot
def test_plot_one_run(runs: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "curves.png"
    code, stdout, stderr = cli(monkeypatch, capsys, "plot", str(runs / "generate"), "-o", str(out))
    assert code == 0, stderr
    assert stdout == f"{out}\n"
    width, height = png_size(out)
    assert 600 <= width <= 2000 and 300 <= height <= 1200  # loss and bits per character


def test_plot_three_runs_against_minutes(runs: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "three.png"
    three = [str(runs / t) for t in ("generate", "classify", "translate")]
    code, stdout, stderr = cli(
        monkeypatch, capsys, "plot", *three, "-o", str(out), "--x", "minutes"
    )
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    png_size(out)


def test_plot_metric(runs: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "f1.png"
    run = str(runs / "classify")
    code, _, stderr = cli(
        monkeypatch, capsys, "plot", run, "--metric", "valid_macro_f1", "-o", str(out)
    )
    assert code == 0, stderr
    png_size(out)

    code, stdout, stderr = cli(
        monkeypatch, capsys, "plot", run, "--metric", "nope", "-o", str(tmp_path / "x.png")
    )
    assert code == 1 and stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    assert "'nope'" in lines[0] and "valid_accuracy" in lines[0] and "train_loss" in lines[0]


def test_plot_never_overwrites_without_force(
    runs: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    out = tmp_path / "taken.png"
    out.write_bytes(b"mine")
    code, stdout, stderr = cli(monkeypatch, capsys, "plot", str(runs / "forecast"), "-o", str(out))
    assert code != 0 and stdout == ""
    assert stderr.startswith("error:") and "--force" in stderr and len(stderr.splitlines()) == 1
    assert out.read_bytes() == b"mine"
    code, stdout, stderr = cli(
        monkeypatch, capsys, "plot", str(runs / "forecast"), "-o", str(out), "--force"
    )
    assert code == 0, stderr
    png_size(out)


def test_plot_without_matplotlib_says_what_to_install(
    runs: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    out = tmp_path / "none.png"
    code, _, stderr = cli(monkeypatch, capsys, "plot", str(runs / "generate"), "-o", str(out))
    assert code != 0 and not out.exists()
    assert len(stderr.splitlines()) == 1 and "pip install 'rnncli[plot]'" in stderr


def test_plot_of_a_folder_that_is_no_run(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, stderr = cli(monkeypatch, capsys, "plot", str(tmp_path), "-o", str(tmp_path / "x.png"))
    assert code != 0 and stderr.startswith("error:") and len(stderr.splitlines()) == 1


# ---------------------------------------------------------------------------- runs
def tsv(stdout: str) -> list[dict[str, str]]:
    header, *rows = stdout.splitlines()
    return [dict(zip(header.split("\t"), row.split("\t"), strict=True)) for row in rows]


def test_runs_lists_every_task(runs: Path, monkeypatch, capsys) -> None:
    code, stdout, stderr = cli(monkeypatch, capsys, "runs", str(runs))  # not a terminal: tsv
    assert code == 0 and stderr == ""
    rows = {row["run"]: row for row in tsv(stdout)}
    assert set(rows) == set(FILES)
    for task, row in rows.items():
        assert row["task"] == task
        assert row["data"] == FILES[task]
        assert row["metric"] == MAIN[task]
        assert float(row["best"]) > 0
        assert int(row["steps"]) == STEPS[task]
        assert row["stopped"] == "max_steps"
        assert row["date"][:2] == "20"


def test_runs_json_and_sort(runs: Path, monkeypatch, capsys) -> None:
    code, stdout, _ = cli(
        monkeypatch, capsys, "runs", str(runs), "--format", "json", "--sort", "steps"
    )
    assert code == 0
    found = json.loads(stdout)
    assert [r["steps"] for r in found] == sorted(STEPS.values())
    assert all(r["problems"] == [] and r["metrics"] for r in found)

    code, stdout, _ = cli(
        monkeypatch, capsys, "runs", str(runs), "-f", "json", "--sort", "valid_loss"
    )
    losses = [r["metrics"]["valid_loss"] for r in json.loads(stdout)]
    assert losses == sorted(losses)

    code, stdout, _ = cli(monkeypatch, capsys, "runs", str(runs), "-f", "json", "--sort", "date")
    assert code == 0 and len(json.loads(stdout)) == 4

    code, stdout, stderr = cli(monkeypatch, capsys, "runs", str(runs), "--sort", "nope")
    assert code != 0 and stdout == "" and len(stderr.splitlines()) == 1
    assert "valid_loss" in stderr and "steps" in stderr


def test_runs_table(runs: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich's width when stdout is no terminal
    code, stdout, _ = cli(monkeypatch, capsys, "runs", str(runs), "--format", "table")
    assert code == 0
    assert all(task in stdout for task in FILES) and "bpc" in stdout


def test_a_damaged_run_is_listed_with_a_warning(
    runs: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    root = tmp_path / "experiments"
    for task in FILES:  # two levels deep: experiments/<group>/<run>
        shutil.copytree(runs / task, root / "good" / task)
    cut = shutil.copytree(runs / "classify", root / "bad" / "cut")
    (cut / "best.safetensors").unlink()
    text = (cut / "metrics.jsonl").read_text(encoding="utf-8")
    (cut / "metrics.jsonl").write_text(text[: len(text) - 40], encoding="utf-8")  # cut mid-line
    gone = shutil.copytree(runs / "generate", root / "bad" / "gone")
    (gone / "best.safetensors").unlink()
    (gone / "last.safetensors").unlink()
    tampered = shutil.copytree(runs / "translate", root / "bad" / "tampered")
    data = bytearray((tampered / "last.safetensors").read_bytes())
    data[-3] ^= 0x10
    (tampered / "last.safetensors").write_bytes(bytes(data))

    code, stdout, stderr = cli(monkeypatch, capsys, "runs", str(root), "--format", "json")
    assert code == 0
    found = {r["name"]: r for r in json.loads(stdout)}
    assert set(found) == {f"good/{t}" for t in FILES} | {"bad/cut", "bad/gone", "bad/tampered"}
    warnings = stderr.splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: ") for w in warnings), stderr
    for name in ("cut", "gone", "tampered"):
        assert sum(f"bad/{name}" in w for w in warnings) == 1, (name, stderr)
    assert any("checksum mismatch" in w for w in warnings)

    assert found["bad/cut"]["task"] == "classify" and found["bad/cut"]["steps"] == STEPS["classify"]
    assert any("best.safetensors is missing" in p for p in found["bad/cut"]["problems"])
    assert any("unreadable line" in p for p in found["bad/cut"]["problems"])
    assert found["bad/gone"]["task"] == "generate"  # from recipe.yaml and metrics.jsonl
    assert found["bad/gone"]["steps"] == STEPS["generate"] and found["bad/gone"]["best"] > 0
    assert found["bad/tampered"]["task"] == "translate"  # its intact best checkpoint
    assert all(not found[f"good/{t}"]["problems"] for t in FILES)


def test_read_meta_verifies_without_loading_weights(runs: Path, tmp_path: Path) -> None:
    meta = read_meta(runs / "classify" / "last.safetensors")
    assert meta["task"] == "classify" and meta["training"]["steps"] == STEPS["classify"]
    data = bytearray((runs / "classify" / "best.safetensors").read_bytes())
    data[-1] ^= 0x01
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        read_meta(bad)


def test_runs_of_an_empty_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    code, stdout, _ = cli(monkeypatch, capsys, "runs", str(tmp_path), "-f", "json")
    assert code == 0 and json.loads(stdout) == []
    code, _, stderr = cli(monkeypatch, capsys, "runs", str(tmp_path / "nowhere"))
    assert code != 0 and stderr.startswith("error:")
