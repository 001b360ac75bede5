"""The real `rnn` command: exit codes, stdout holding results only, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnncli.training.checkpoint import load_checkpoint

from .conftest import ROOT, rnn, write_recipe


def _one_error_line(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_help_and_recipe_validate_do_not_import_torch() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from rnncli.cli.main import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "r = CliRunner().invoke(app, ['recipe', 'validate', 'recipes/shakespeare.yaml']);"
        "assert r.exit_code == 0, r.output; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_train_prints_only_the_run_dir_then_generate_info_evaluate(text_file, tmp_path) -> None:
    recipe = write_recipe(tmp_path, text_file)
    proc = rnn("train", str(recipe), "--set", "training.max_steps=8", check=True)
    run = Path(proc.stdout.strip())
    assert proc.stdout.count("\n") == 1 and (run / "best.safetensors").is_file()
    assert (run / "recipe.yaml").is_file() and (run / "metrics.jsonl").is_file()

    gen = rnn(
        "generate",
        "--model",
        str(run),
        "--seed",
        "All:",
        "-n",
        "30",
        "--rng-seed",
        "1",
        "--threads",
        "1",
        check=True,
    )
    assert gen.stdout.startswith("All:") and len(gen.stdout) >= 30
    again = rnn(
        "generate",
        "--model",
        str(run),
        "--seed",
        "All:",
        "-n",
        "30",
        "--rng-seed",
        "1",
        "--threads",
        "1",
    )
    assert again.stdout == gen.stdout  # same process setup, same computation: same text

    jsonl = rnn(
        "generate",
        "-m",
        str(run),
        "--seed",
        "-",
        "-n",
        "10",
        "--num-samples",
        "2",
        "--format",
        "jsonl",
        stdin="All:\nFirst\n",
        check=True,
    )
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [(r["seed"], r["sample"]) for r in rows] == [
        ("All:", 0),
        ("All:", 1),
        ("First", 0),
        ("First", 1),
    ]
    plain = rnn(
        "generate", "-m", str(run), "--seed", "-", "-n", "40", stdin="a\ne\nt\n", check=True
    )
    assert len(plain.stdout.splitlines()) == 3

    info = json.loads(rnn("info", str(run), "--format", "json", check=True).stdout)
    assert info["task"] == "generate" and info["parameters"] > 0 and info["vocab_size"] > 10
    assert "parameters" in rnn("info", str(run), check=True).stdout

    ev = json.loads(
        rnn("evaluate", "-m", str(run), str(text_file), "-f", "json", check=True).stdout
    )
    assert ev["test_loss"] > 0 and abs(ev["test_bpc"] - ev["test_loss"] / 0.6931) < 0.01


def test_stop_string_and_stream(trained_run: Path) -> None:
    out = rnn(
        "generate",
        "-m",
        str(trained_run),
        "--seed",
        "All",
        "-n",
        "200",
        "--stop",
        "\\n",
        "--temperature",
        "0",
        check=True,
    ).stdout
    assert out.count("\n") == 1  # the stop string ends the sample and is not printed
    streamed = rnn(
        "generate",
        "-m",
        str(trained_run),
        "--seed",
        "A",
        "-n",
        "25",
        "--stream",
        "--rng-seed",
        "4",
        check=True,
    ).stdout
    whole = rnn(
        "generate", "-m", str(trained_run), "--seed", "A", "-n", "25", "--rng-seed", "4", check=True
    ).stdout
    assert streamed == whole


def test_unknown_seed_characters(trained_run: Path) -> None:
    line = _one_error_line(rnn("generate", "-m", str(trained_run), "--seed", "Zé☃"))
    assert "outside the model's vocabulary" in line and "--allow-unknown" in line
    ok = rnn("generate", "-m", str(trained_run), "--seed", "Zé☃", "--allow-unknown", "-n", "5")
    assert ok.returncode == 0 and "warning:" in ok.stderr


def test_bad_utf8_on_stdin(trained_run: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rnncli", "generate", "-m", str(trained_run), "--seed", "-"],
        input=b"All\n\xff\xfe\n",
        capture_output=True,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "error: stdin is not valid UTF-8 (line 2, byte 0)"
    assert len(proc.stdout.decode().splitlines()) == 1  # the good first line was answered


def test_closed_pipe_is_quiet(trained_run: Path) -> None:
    cmd = f"{sys.executable} -m rnncli generate -m {trained_run} -n 3000 --seed A | head -c 20"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT)
    assert len(proc.stdout) == 20
    assert proc.stderr == ""
    # line-by-line commands too, and the exit status is 0 (pipefail sees rnn's status)
    cmd = (
        f"set -o pipefail; {sys.executable} -m rnncli generate -m {trained_run} "
        "--seed - -n 5 | head -n 2"
    )
    seeds = "speak, speak\n" * 5000
    proc = subprocess.run(
        ["bash", "-c", cmd], input=seeds, capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2 and proc.stderr == ""


def test_bad_inputs_get_one_clear_line(text_file: Path, tmp_path: Path, trained_run: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: generate\ndata: {train: x.txt}\ntraining: {lrr: 1}\n")
    assert "did you mean 'lr'" in _one_error_line(rnn("train", str(bad)))
    bad.write_text("task: generate\n  data: [")
    assert "not valid YAML" in _one_error_line(rnn("train", str(bad)))
    assert "not found" in _one_error_line(rnn("train", str(tmp_path / "none.yaml")))
    missing = write_recipe(tmp_path, tmp_path / "missing.txt")
    assert "file not found" in _one_error_line(rnn("train", str(missing)))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1") * 100)
    enc = write_recipe(tmp_path, latin)
    assert "not valid utf-8" in _one_error_line(rnn("train", str(enc)))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in _one_error_line(rnn("train", str(write_recipe(tmp_path, empty))))
    assert "not found" in _one_error_line(rnn("generate", "-m", str(tmp_path / "nope")))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    assert "checkpoint" in _one_error_line(rnn("generate", "-m", str(junk)))
    assert "--format" in _one_error_line(rnn("info", str(trained_run), "-f", "xml"), code=2)
    invalid = rnn("recipe", "validate", str(bad), str(ROOT / "recipes" / "shakespeare.yaml"))
    assert invalid.returncode == 1 and invalid.stdout.startswith("ok ")


def test_checkpoint_of_another_task_is_refused(trained_run: Path, tmp_path: Path) -> None:
    from .test_checkpoint import _rewrite_meta

    other = tmp_path / "classify.safetensors"
    _rewrite_meta(trained_run / "best.safetensors", other, task="classify")
    line = _one_error_line(rnn("generate", "-m", str(other), "--seed", "A"))
    assert "for task 'classify', not 'generate'" in line


def test_a_taken_output_dir_is_never_overwritten(text_file: Path, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, text_file, training={"max_steps": 2})
    first = Path(rnn("train", str(recipe), check=True).stdout.strip())
    before = (first / "best.safetensors").read_bytes()
    second = Path(rnn("train", str(recipe), check=True).stdout.strip())
    assert second != first and (first / "best.safetensors").read_bytes() == before


def test_recipe_show_and_schema(tmp_path: Path) -> None:
    shown = rnn(
        "recipe", "show", "recipes/shakespeare.yaml", "--set", "training.lr=0.01", check=True
    ).stdout
    assert "lr: 0.01" in shown and "clip_grad_norm: 5.0" in shown
    schema = json.loads(rnn("recipe", "schema", check=True).stdout)
    assert "GenerateRecipe" in json.dumps(schema)


def test_sigkill_mid_epoch_then_resume_completes(text_file: Path, tmp_path: Path) -> None:
    recipe = write_recipe(
        tmp_path,
        text_file,
        # one thread in both processes: the same computation, so the weights must match exactly
        training={
            "max_steps": 400,
            "eval_every": 100,
            "checkpoint_every": 20,
            "epochs": 100,
            "threads": 1,
        },
    )
    reference = Path(
        rnn("train", str(recipe), "-o", str(tmp_path / "ref"), check=True).stdout.strip()
    )
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnncli", "train", str(recipe), "-o", str(run)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        last = run / "last.safetensors"
        if last.exists() and load_checkpoint(last).meta["training"]["steps"] >= 40:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    steps = load_checkpoint(run / "last.safetensors").meta["training"]["steps"]
    assert steps < 400
    resumed = rnn("train", "--resume", str(run), check=True)
    assert resumed.stdout.strip() == str(run)
    a = load_checkpoint(reference / "last.safetensors")
    b = load_checkpoint(run / "last.safetensors")
    assert b.meta["training"]["steps"] == 400
    for key in a.model:
        assert torch.equal(a.model[key], b.model[key]), key


def test_every_command_help_ends_with_real_examples(monkeypatch, capsys) -> None:
    """`rnn CMD -h` ends with two or three examples, each a command line of this `rnn`."""
    from rnncli.cli.main import app, run

    commands = [c.name for c in app.registered_commands]
    assert {"train", "generate", "classify", "forecast", "translate", "evaluate"} <= set(commands)
    for name in commands:
        monkeypatch.setattr(sys, "argv", ["rnn", name, "-h"])
        with pytest.raises(SystemExit):
            run()
            raise SystemExit(0)
        out = capsys.readouterr().out
        tail = out[out.rindex("Examples:") :].splitlines()[1:]
        lines = [line.strip() for line in tail if line.strip()]
        assert 2 <= len(lines) <= 3, (name, lines)
        assert all(f"rnn {name}" in line for line in lines), (name, lines)
