"""Every command survives a faulty world: kills at random moments (during checkpoint
writes too), a disk that fills up mid-save, unwritable and shared run directories,
stop signals at every stage, out of memory.

Commands run through the real entry point (`rnncli.cli.main.run`) in forked children
of this test process: torch is already imported, so a child starts in milliseconds and
can be killed like any `rnn` process. After each fault the previous checkpoint must
load and `--resume` must complete (with the same weights as an undisturbed run).
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from rnncli import api
from rnncli.errors import TrainingError
from rnncli.training import rundir, state_io
from rnncli.training.checkpoint import load_checkpoint

from .conftest import ROOT, TEXT, write_recipe

MAX_STEPS = 24


class Child:
    """A forked `rnn` command: its pid, exit status and captured output."""

    def __init__(self, pid: int, out: Path, err: Path) -> None:
        self.pid, self.out, self.err = pid, out, err
        self.code: int | None = None

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise AssertionError(f"rnn did not finish in {timeout}s: {self.stderr}")
            else:
                time.sleep(0.005)
        return self.code

    def signal(self, sig: int) -> None:
        if self.code is None:
            os.kill(self.pid, sig)

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def error_line(self, code: int, skip_warnings: bool = False) -> str:
        assert self.wait() == code, self.stderr
        lines = self.stderr.strip().splitlines()
        if skip_warnings:  # e.g. about the built-in model's file, not this test's subject
            lines = [line for line in lines if not line.startswith("warning: ")]
        assert len(lines) == 1 and lines[0].startswith("error: "), self.stderr
        return lines[0]


_spawned = 0


def spawn(tmp: Path, *args: str, setup: Callable[[], None] | None = None) -> Child:
    """Fork and run `rnn ARGS` in the child; `setup` runs first (patches, rlimits)."""
    global _spawned
    _spawned += 1
    out, err = tmp / f"child{_spawned}.out", tmp / f"child{_spawned}.err"
    out.touch()
    err.touch()
    pid = os.fork()
    if pid:
        return Child(pid, out, err)
    code = 70
    try:  # the child: never returns into pytest
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_TRUNC), fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stdin = open(os.devnull)  # noqa: SIM115
        os.environ["RNNCLI_DEBUG"] = ""
        if setup is not None:
            setup()
        sys.argv = ["rnn", *args]
        from rnncli.cli.main import run

        run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wait_for(predicate: Callable[[], object], child: Child, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if child.code is not None or os.waitpid(child.pid, os.WNOHANG)[0]:
            raise AssertionError(f"rnn ended before the awaited moment: {child.stderr}")
        if time.monotonic() > deadline:
            raise AssertionError("the awaited moment never came")
        time.sleep(0.002)


def temp_files(root: Path) -> list[Path]:
    return list(root.rglob("*.tmp"))


def evals(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Train once in this process: forked children inherit its imports and warm torch."""
    tmp = tmp_path_factory.mktemp("warm")
    (tmp / "text.txt").write_text(TEXT, encoding="utf-8")
    api.train(write_recipe(tmp, tmp / "text.txt", training={"max_steps": 2}))


@pytest.fixture()
def recipe(text_file: Path, tmp_path: Path) -> Path:
    return write_recipe(
        tmp_path,
        text_file,
        training={"max_steps": MAX_STEPS, "eval_every": 6, "checkpoint_every": 2},
    )


@pytest.fixture()
def reference(recipe: Path, tmp_path: Path) -> Path:
    """The undisturbed run every disturbed one must end up identical to."""
    child = spawn(tmp_path, "train", str(recipe), "-o", str(tmp_path / "reference"), "-q")
    assert child.wait() == 0, child.stderr
    return Path(child.stdout.strip())


def assert_recovers(run: Path, recipe: Path, reference: Path, tmp: Path) -> Path:
    """Every checkpoint present loads; resume (or, with none, a new run) ends like `reference`."""
    for path in run.glob("*.safetensors") if run.is_dir() else ():
        load_checkpoint(path, with_train=True)
    if (run / "last.safetensors").is_file():
        api.load(run)  # the previous checkpoint is usable as a model
        child = spawn(tmp, "train", "--resume", str(run), "-q")
    else:  # killed before its first checkpoint: nothing to resume, so start again
        child = spawn(tmp, "train", str(recipe), "-o", str(run), "-q")
    assert child.wait() == 0, child.stderr
    run = Path(child.stdout.strip())
    final = load_checkpoint(run / "last.safetensors")
    assert final.meta["training"]["steps"] == MAX_STEPS and final.meta["training"]["done"]
    expected = load_checkpoint(reference / "last.safetensors").model
    for key, tensor in expected.items():
        assert torch.equal(tensor, final.model[key]), key
    assert evals(run) == evals(reference)  # no evaluation lost or written twice
    assert temp_files(run) == []
    return run


# ------------------------------------------------------------------ kills at random
def test_sigkill_and_sigterm_at_random_moments(recipe: Path, reference: Path, tmp_path) -> None:
    started = time.monotonic()
    timing = spawn(tmp_path, "train", str(recipe), "-o", str(tmp_path / "timing"), "-q")
    timing.wait()
    duration = time.monotonic() - started
    rng = random.Random(20240611)
    for trial in range(6):
        sig = signal.SIGKILL if trial % 2 == 0 else signal.SIGTERM
        run = tmp_path / f"trial{trial}"
        child = spawn(tmp_path, "train", str(recipe), "-o", str(run), "-q")
        time.sleep(rng.uniform(0, duration))
        child.signal(sig)
        code = child.wait()
        if code == -signal.SIGTERM:  # before the CLI started: nothing begun, exit 143 too
            assert not run.exists()
        elif sig == signal.SIGTERM and code != 0:  # 0: it had finished before the signal
            line = child.error_line(143)
            assert "interrupted by SIGTERM" in line
            assert ("--resume" in line) == (run / "last.safetensors").is_file(), line
            assert temp_files(run) == [] if run.exists() else True
        assert_recovers(run, recipe, reference, tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_kill_during_a_checkpoint_write(recipe, reference, tmp_path, sig) -> None:
    def slow_sync() -> None:  # every write pauses after its data, before its rename
        real = os.fsync

        def fsync(fd: int) -> None:
            real(fd)
            time.sleep(0.1)

        os.fsync = fsync  # type: ignore[assignment]

    run = tmp_path / "run"
    child = spawn(tmp_path, "train", str(recipe), "-o", str(run), "-q", setup=slow_sync)
    # a checkpoint exists, and the next one is being written
    wait_for(lambda: (run / "last.safetensors").exists() and list(run.glob(".*.tmp")), child)
    child.signal(sig)
    if sig == signal.SIGTERM:
        line = child.error_line(143)
        assert f"rnn train --resume {run}" in line
        assert temp_files(run) == []
    else:
        assert child.wait() == -signal.SIGKILL
    assert_recovers(run, recipe, reference, tmp_path)


# --------------------------------------------------------------- full disk, no rights
def test_disk_full_mid_save_keeps_the_previous_checkpoint(text_file, tmp_path) -> None:
    recipe = write_recipe(
        tmp_path,
        text_file,
        model={"hidden_size": 48},
        training={"max_steps": 4, "eval_every": 4, "checkpoint_every": 2},
    )
    run = api.train(recipe, output=tmp_path / "run")
    last, best = (
        (run / "last.safetensors").stat().st_size,
        (run / "best.safetensors").stat().st_size,
    )
    limit = (last + best) // 2  # a model fits, a model with optimizer moments does not
    others = [best, *(p.stat().st_size for p in run.glob("cache/*")), len(recipe.read_bytes())]
    assert max(others) < limit < last

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = ("train", "--resume", str(run), "--set", "training.max_steps=8", "-q")
    line = spawn(tmp_path, *args, setup=small_disk).error_line(1)
    assert "cannot write last.safetensors" in line and "File too large" in line, line
    assert "the checkpoint of step 4 is kept" in line and f"--resume {run}" in line, line
    assert temp_files(run) == []
    assert load_checkpoint(run / "last.safetensors").meta["training"]["steps"] == 4
    api.load(run)
    child = spawn(tmp_path, *args)
    assert child.wait() == 0, child.stderr
    assert load_checkpoint(run / "last.safetensors").meta["training"]["steps"] == 8


def _read_only_command(directory: Path, *args: str) -> subprocess.CompletedProcess | None:
    """Run `rnn ARGS` with `directory` unwritable, as a real subprocess; None if impossible.

    Root ignores permission bits, so as root the directory is bind-mounted read-only in
    a private mount namespace (`unshare`), after a probe proves writes there fail.
    """
    rnn = [sys.executable, "-m", "rnncli", *args]
    env = {**os.environ, "RNNCLI_DEBUG": ""}
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            if os.access(directory, os.W_OK):
                return None
            return subprocess.run(rnn, capture_output=True, text=True, cwd=ROOT, env=env)
        finally:
            directory.chmod(0o755)
    mount = f"mount --bind -o ro {directory} {directory}"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"{mount} && ! touch {directory}/probe"],
        capture_output=True,
    )
    if probe.returncode != 0 or (directory / "probe").exists():
        return None
    script = f'{mount} && exec "$@"'
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", *rnn],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )


def test_unwritable_run_directory(trained_run: Path, text_file, tmp_path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = (run / "last.safetensors").read_bytes()
    proc = _read_only_command(run, "train", "--resume", str(run), "--set", "training.max_steps=36")
    if proc is None:
        pytest.skip("cannot make a directory unwritable here")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write in the run directory")
    assert (run / "last.safetensors").read_bytes() == before
    api.load(run)
    recipe = write_recipe(tmp_path, text_file, training={"max_steps": 2})
    parent = tmp_path / "ro"
    parent.mkdir()
    proc = _read_only_command(parent, "train", str(recipe), "-o", str(parent / "new"))
    assert proc is not None and proc.returncode == 1, proc
    assert proc.stderr.startswith(f"error: cannot write in the run directory ({parent})")
    resumed = spawn(tmp_path, "train", "--resume", str(run), "--set", "training.max_steps=36")
    assert resumed.wait() == 0, resumed.stderr
    assert load_checkpoint(run / "last.safetensors").meta["training"]["steps"] == 36


# --------------------------------------------------------------- shared directories
@pytest.mark.parametrize("existing", [False, True])
def test_two_trains_at_once_get_two_complete_runs(recipe, reference, tmp_path, existing) -> None:
    output = tmp_path / "same"
    if existing:
        output.mkdir()  # an empty directory may be claimed, by one of them only
    children = [spawn(tmp_path, "train", str(recipe), "-o", str(output), "-q") for _ in range(2)]
    runs = []
    for child in children:
        assert child.wait() == 0, child.stderr
        runs.append(Path(child.stdout.strip()))
    assert len(set(runs)) == 2 and output in runs
    for run in runs:
        assert sorted(p.name for p in run.iterdir()) == [
            ".lock",
            "best.safetensors",
            "cache",
            "last.safetensors",
            "metrics.jsonl",
            "recipe.yaml",
        ]
        assert evals(run) == evals(reference)
        ckpt = load_checkpoint(run / "last.safetensors")
        assert ckpt.meta["training"]["done"] and ckpt.meta["training"]["steps"] == MAX_STEPS
        api.load(run)


def test_claims_racing_in_threads_never_share_a_directory(tmp_path: Path) -> None:
    wanted, claimed, errors = tmp_path / "run", [], []
    (tmp_path / "run-2").mkdir()  # empty: claimable once

    def claim() -> None:
        try:
            claimed.append(rundir.claim(wanted))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    paths = sorted(r.path.name for r in claimed)
    assert len(set(paths)) == 8 and "run-2" in paths
    with pytest.raises(TrainingError, match="in use by another rnn process"):
        rundir.acquire(claimed[0].path)
    for r in claimed:
        r.release()
    rundir.acquire(claimed[0].path).release()  # free once released


def test_resume_of_a_live_run_is_refused_then_sigint_saves(recipe, tmp_path) -> None:
    run = tmp_path / "live"
    args = ("train", str(recipe), "-o", str(run), "--set", "training.max_steps=100000", "-q")
    live = spawn(tmp_path, *args)
    metrics = run / "metrics.jsonl"
    wait_for(lambda: metrics.exists() and metrics.read_text().count("\n") >= 2, live)
    with pytest.raises(TrainingError, match=r"in use by another rnn process \(.*pid \d+\)"):
        api.train(resume=run)
    line = spawn(tmp_path, "train", "--resume", str(run)).error_line(1)
    assert "run directory is in use by another rnn process" in line
    rows = len(evals(run))
    live.signal(signal.SIGINT)
    line = live.error_line(130)
    assert f"rnn train --resume {run}" in line and "SIGINT" in line
    assert len(evals(run)) >= rows  # the refused resume truncated nothing
    assert temp_files(run) == []
    steps = load_checkpoint(run / "last.safetensors").meta["training"]["steps"]
    api.load(run)
    child = spawn(
        tmp_path, "train", "--resume", str(run), "--set", f"training.max_steps={steps + 4}"
    )
    assert child.wait() == 0, child.stderr
    assert load_checkpoint(run / "last.safetensors").meta["training"]["steps"] == steps + 4


# -------------------------------------------------------------- signals at each stage
def test_sigterm_during_data_preparation_leaves_nothing(recipe, reference, tmp_path) -> None:
    def slow_encoding() -> None:
        from rnncli.data import text

        real = text.Encoder.encode

        def encode(self, chunk):  # type: ignore[no-untyped-def]
            time.sleep(30)
            return real(self, chunk)

        text.Encoder.encode = encode  # type: ignore[method-assign]

    run = tmp_path / "prep"
    child = spawn(tmp_path, "train", str(recipe), "-o", str(run), setup=slow_encoding)
    wait_for(lambda: list(run.glob("cache/*.tmp")), child)
    child.signal(signal.SIGTERM)
    line = child.error_line(143)
    assert "before the first checkpoint" in line and "nothing to resume" in line
    assert "--resume" not in line
    assert not run.exists()  # a run that saved nothing is not left behind
    assert temp_files(tmp_path) == []
    assert_recovers(run, recipe, reference, tmp_path)


def test_sigterm_during_the_test_evaluation(text_file, tmp_path) -> None:
    recipe = write_recipe(
        tmp_path, text_file, data={"test": str(text_file)}, training={"max_steps": 6}
    )
    marker = tmp_path / "testing"

    def slow_test() -> None:
        def evaluate(*args, **kwargs):  # type: ignore[no-untyped-def]
            marker.touch()
            time.sleep(30)

        api.evaluate = evaluate  # type: ignore[assignment]

    run = tmp_path / "run"
    child = spawn(tmp_path, "train", str(recipe), "-o", str(run), "-q", setup=slow_test)
    wait_for(marker.exists, child)
    child.signal(signal.SIGTERM)
    line = child.error_line(143)
    assert "after training finished" in line and f"rnn train --resume {run}" in line
    assert temp_files(tmp_path) == []
    assert load_checkpoint(run / "last.safetensors").meta["training"]["done"]
    api.load(run)
    assert spawn(tmp_path, "train", "--resume", str(run)).wait() == 0
    rows = evals(run)
    assert [r.get("split") for r in rows].count("test") == 1 and rows[-1]["split"] == "test"
    again = spawn(tmp_path, "train", "--resume", str(run))
    assert again.wait() == 0 and again.stdout.strip() == str(run)
    assert "already complete" in again.stderr
    assert evals(run) == rows  # resuming a finished run writes no second test line


def test_sigint_in_forecast_without_model_has_nothing_to_resume(tmp_path: Path) -> None:
    csv = ROOT / "sample_data" / "airline-passengers.csv"
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def private_tmp() -> None:
        import tempfile

        tempfile.tempdir = str(scratch)

    child = spawn(tmp_path, "forecast", str(csv), "--threads", "1", "-q", setup=private_tmp)
    wait_for(lambda: list(scratch.glob("*/run/last.safetensors")), child)
    child.signal(signal.SIGINT)
    line = child.error_line(130)
    assert "nothing to resume" in line and "--resume" not in line and "--save-model" in line
    assert list(scratch.iterdir()) == []


def test_sigterm_while_generating(trained_run: Path, tmp_path: Path) -> None:
    args = ("generate", "-m", str(trained_run), "-n", "10000000", "--stream", "--seed", "A")
    child = spawn(tmp_path, *args)
    wait_for(lambda: child.out.stat().st_size > 0, child)
    child.signal(signal.SIGTERM)
    assert (
        child.error_line(143) == "error: interrupted by SIGTERM (rnn generate): nothing was saved"
    )


# ----------------------------------------------------------------- out of memory
def test_out_of_memory_is_one_line(tmp_path: Path) -> None:
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1":
        pytest.skip("memory overcommit is on: a huge allocation would succeed, then swap")
    child = spawn(
        tmp_path, "generate", "--num-samples", "100000000", "-n", "1", "--seed", "A", "-q"
    )
    line = child.error_line(1, skip_warnings=True)
    assert line.startswith("error: out of memory (tried to allocate "), line
    assert "--num-samples" in line and "report" not in line

    def cuda_oom() -> None:
        def generate(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

        api.generate = generate  # type: ignore[assignment]

    child = spawn(tmp_path, "generate", "--seed", "A", "-q", setup=cuda_oom)
    line = child.error_line(1, skip_warnings=True)
    assert line.startswith("error: out of memory (tried to allocate 20.00 GiB): "), line


# ----------------------------------------------------------------- metrics history
def test_truncating_metrics_is_atomic(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 6}, {"step": 12}, {"step": 12, "split": "test"}, {"step": 18}]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 2'  # a line cut by a kill
    path.write_text(text)

    def killed(*args: object) -> None:
        raise OSError("killed before the rename")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", killed)
        with pytest.raises(OSError, match="killed"):
            state_io.truncate_metrics(path, 12)
    assert path.read_text() == text and temp_files(tmp_path) == []
    state_io.truncate_metrics(path, 12)
    assert [json.loads(line) for line in path.read_text().splitlines()] == rows[:2]
    assert not state_io.has_test_line(path, 12)


class _SignalAt:
    """Callback: send this process `signals` at the first progress log (inside the loop)."""

    def __init__(self, *signals: int) -> None:
        self.signals = signals

    def on_start(self, state, total): ...
    def on_eval(self, state, metrics): ...
    def on_end(self, state): ...

    def on_log(self, state, loss, lr, rate):
        for sig in self.signals:
            os.kill(os.getpid(), sig)
        self.signals = ()


@pytest.mark.parametrize(
    ("signals", "code", "said"),
    [
        ((signal.SIGTERM,), 143, "training interrupted by SIGTERM at step 10"),
        ((signal.SIGINT, signal.SIGINT), 130, "interrupted by SIGINT (.* step 8)"),
    ],
)
def test_the_trainer_stops_cleanly_on_a_signal(recipe, tmp_path, signals, code, said) -> None:
    """One signal: the step ends, then a save; a second one does not wait for the step."""
    from rnncli.errors import RunInterrupted

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where make runs in the background
    with pytest.raises(RunInterrupted, match=said) as caught:
        api.train(recipe, output=tmp_path / "run", callbacks=[_SignalAt(*signals)])
    assert caught.value.exit_code == code and "--resume" in str(caught.value)
    assert temp_files(tmp_path / "run") == []
    api.load(tmp_path / "run")
    assert signal.getsignal(signal.SIGINT) is before  # restored
    api.train(resume=tmp_path / "run")
    assert load_checkpoint(tmp_path / "run" / "last.safetensors").meta["training"]["done"]


def test_disk_full_while_preparing_data(recipe: Path, tmp_path: Path) -> None:
    def small_disk() -> None:  # room for the recipe, not for the encoded corpus
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    run = tmp_path / "run"
    line = spawn(tmp_path, "train", str(recipe), "-o", str(run), setup=small_disk).error_line(1)
    assert line.startswith(f"error: cannot write in the run directory ({run}): File too large")
    assert "nothing was saved" in line and "--resume" not in line
    assert not run.exists()
