"""Data-parallel training: 2 gloo processes (torchrun's launcher, 1 thread each) per task.

Every run here is the real command, `rnn train ... --nproc 2`, on tiny data: the loss
falls, one step on 2 ranks x b rows equals one on 1 rank x 2b, only rank 0 writes, a
rank killed by SIGKILL (or a Ctrl-C to the launcher) ends the run with an error and
`--resume` finishes it with the weights of an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from rnncli import api
from rnncli.errors import TrainingError
from rnncli.training.checkpoint import load_checkpoint
from rnncli.training.distributed import World, shard

from .conftest import rnn
from .ddp_support import TASKS, launch, recipe

STEPS = 30  # evaluations at 10, 20, 30; checkpoints every 4 steps


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.safetensors").model


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def evals(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if "valid_loss" in row]


def train_two(tmp: Path, task: str, **env: str):
    path = recipe(task, tmp, max_steps=STEPS, eval_every=10, checkpoint_every=4)
    return path, launch(str(path), **env)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory: pytest.TempPathFactory):
    """`get(task)`: a 2-process run of `task` (made once), every write of its processes
    recorded: (task, its directory, the finished command, the audit directory)."""
    made: dict[str, tuple] = {}

    def get(task: str) -> tuple:
        if task not in made:
            tmp = tmp_path_factory.mktemp(f"ddp-{task}")
            audit = tmp_path_factory.mktemp(f"audit-{task}")
            watch = {"RNNCLI_TEST_AUDIT": str(audit), "RNNCLI_TEST_WATCH": str(tmp)}
            _, proc = train_two(tmp, task, **watch)
            assert proc.returncode == 0, proc.stderr
            made[task] = (task, tmp, proc, audit)
        return made[task]

    return get


# ---------------------------------------------------------------- in process
def test_shard_gives_each_rank_a_contiguous_block() -> None:
    x, lengths = torch.arange(10).reshape(5, 2), torch.arange(5)
    parts = [shard((x, lengths, 7), World(r, 2)) for r in range(2)]
    assert [p[0][0].tolist() for p in parts] == [[[0, 1], [2, 3]], [[4, 5], [6, 7], [8, 9]]]
    assert [p[0][1].tolist() for p in parts] == [[0, 1], [2, 3, 4]]
    assert all(p[0][2] == 7 and not p[1] for p in parts)  # a step number passes whole
    single, empty = shard((x[:1],), World(0, 2))  # fewer rows than ranks: row 0, weight 0
    assert empty and single[0].tolist() == [[0, 1]]
    assert shard((x,), World())[0][0] is x


def test_recipe_schema_explains_the_scale_keys() -> None:
    proc = rnn("recipe", "schema")
    assert proc.returncode == 0
    text = proc.stdout
    for key in ("batch_scope", "lr_scaling", "collective_timeout"):
        assert f'"{key}"' in text
    assert "split between the processes" in text


# ----------------------------------------------------------- two processes
@pytest.mark.parametrize("task", TASKS)
def test_one_step_on_2_ranks_of_b_equals_1_rank_of_2b(task: str, tmp_path: Path) -> None:
    one = api.train(recipe(task, tmp_path / "one", max_steps=1, batch_size=8, eval_every=None))
    half = api.train(recipe(task, tmp_path / "half", max_steps=1, batch_size=4, eval_every=None))
    two = recipe(
        task, tmp_path / "two", max_steps=1, batch_size=4, batch_scope="rank", eval_every=None
    )
    proc = launch(str(two))
    assert proc.returncode == 0, proc.stderr
    run = Path(proc.stdout.strip())
    assert max_difference(weights(one), weights(run)) < 1e-5
    assert max_difference(weights(half), weights(run)) > 1e-4  # the test can tell them apart


@pytest.mark.parametrize("task", TASKS)
def test_two_ranks_train_and_only_rank_0_writes(task: str, two_process_run) -> None:
    _, tmp, proc, audit = two_process_run(task)
    assert proc.stdout.splitlines() == [str(tmp / "run")]  # one line: rank 0's
    rows = evals(tmp / "run")
    assert [r["step"] for r in rows] == [10, 20, 30]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]  # averaged over the ranks
    if task != "forecast":  # 30 steps on 50 windows: its validation loss still wobbles
        assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]
    meta = load_checkpoint(tmp / "run" / "last.safetensors", with_train=True).meta
    assert meta["trainer"]["world_size"] == 2 and meta["training"]["done"]
    assert "last.safetensors" in (audit / "rank0.log").read_text()  # the audit sees writes
    assert not (audit / "rank1.log").exists()  # and rank 1 made none
    assert sorted(p.name for p in tmp.iterdir() if p.is_dir()) == ["run"]


@pytest.mark.parametrize(
    ("task", "how"), [("generate", "kill"), ("translate", "kill"), ("classify", "interrupt")]
)
def test_a_stopped_run_resumes_to_the_uninterrupted_weights(
    task: str, how: str, two_process_run, tmp_path: Path
) -> None:
    uninterrupted = two_process_run(task)
    env = {"RNNCLI_TEST_KILL": "1:14"} if how == "kill" else {"RNNCLI_TEST_INTERRUPT": "14"}
    _, proc = train_two(tmp_path, task, **env)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    run = tmp_path / "run"
    if how == "kill":
        assert proc.returncode == 1
        assert "rank 1: killed by SIGKILL" in errors[-1]
        assert f"rnn train --resume {run} --nproc 2" in errors[0]  # rank 0 names the run
    else:
        assert proc.returncode == 130
        assert sum("interrupted by SIGINT at step" in line for line in errors) == 1  # rank 0
    saved = load_checkpoint(run / "last.safetensors").meta["training"]
    assert 12 <= saved["steps"] < STEPS and not saved["done"]
    resumed = launch("--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert max_difference(weights(run), weights(uninterrupted[1] / "run")) < 1e-5
    for got, want in zip(evals(run), evals(uninterrupted[1] / "run"), strict=True):
        assert got["step"] == want["step"]
        for key in ("train_loss", "valid_loss"):  # the loss sums carry across the stop too
            assert got[key] == pytest.approx(want[key], abs=1e-5), (got, want)


def test_resuming_on_another_process_count_is_refused(two_process_run, tmp_path: Path) -> None:
    run = shutil.copytree(two_process_run("generate")[1] / "run", tmp_path / "run")
    proc = rnn("train", "--resume", str(run), "--set", f"training.max_steps={STEPS + 5}")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert "trained by 2 process(es), not 1" in proc.stderr
    assert f"rnn train --resume {run} --nproc 2" in proc.stderr
    with pytest.raises(TrainingError):
        api.train(resume=run, overrides=[f"training.max_steps={STEPS + 5}"])


def test_the_time_budget_stops_every_rank_at_the_same_step(tmp_path: Path) -> None:
    """Each rank's clock differs; their votes are shared, so none waits for the other."""
    path = recipe("generate", tmp_path, max_steps=None, epochs=1000, max_minutes=0.001)
    proc = launch(str(path))
    assert proc.returncode == 0, proc.stderr
    saved = load_checkpoint(Path(proc.stdout.strip()) / "last.safetensors").meta["training"]
    assert saved["stop_reason"] == "max_minutes" and saved["done"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_ranks_train_with_mixed_precision(tmp_path: Path) -> None:
    nproc = min(2, torch.cuda.device_count())
    path = recipe("generate", tmp_path, max_steps=STEPS, eval_every=10, device="cuda")
    proc = launch(str(path), "--set", "training.mixed_precision=true", nproc=nproc)
    assert proc.returncode == 0, proc.stderr
    rows = evals(Path(proc.stdout.strip()))
    assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]
