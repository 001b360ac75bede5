"""Test instruments for the workers of tests/test_distributed.py (put on PYTHONPATH there).

Python imports `sitecustomize` at start-up, so every process torchrun starts runs this:

* RNNCLI_TEST_AUDIT=DIR, RNNCLI_TEST_WATCH=PREFIX: every write under PREFIX (a file
  opened for writing, a directory made, a rename or removal) is appended to
  DIR/rank{RANK}.log, through Python's audit hooks (PEP 578).
* RNNCLI_TEST_KILL=RANK:STEP: that rank sends itself SIGKILL as it begins step STEP.
* RNNCLI_TEST_INTERRUPT=STEP: rank 0 sends SIGINT to its launcher (the elastic agent,
  as Ctrl-C in a terminal would) as it begins step STEP.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

RANK = os.environ.get("RANK")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate", "shutil.rmtree"}


def _audit(log_dir: str, watched: str) -> None:
    log_path = os.path.join(log_dir, f"rank{RANK}.log")
    busy = [False]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if busy[0]:
            return
        if event == "open":
            path, mode, flags = args
            writes = bool(mode and any(c in str(mode) for c in "wax+")) or bool(
                (flags or 0) & WRITE_FLAGS
            )
        elif event in EVENTS:
            path, writes = args[0], True
        else:
            return
        if writes and isinstance(path, (str, bytes, os.PathLike)):
            name = os.fsdecode(path)
            if os.path.abspath(name).startswith(watched):
                busy[0] = True
                try:
                    with open(log_path, "a", encoding="utf-8") as handle:
                        handle.write(f"{event} {name}\n")
                finally:
                    busy[0] = False

    sys.addaudithook(hook)


def _at_step(step: int, action: Any) -> None:
    from rnncli.training import trainer

    original = trainer.Trainer._set_lr

    def set_lr(self: Any) -> float:
        if self.state.step == step:
            action()
        return original(self)

    trainer.Trainer._set_lr = set_lr  # type: ignore[method-assign]


if RANK is not None:
    if os.environ.get("RNNCLI_TEST_AUDIT"):
        _audit(os.environ["RNNCLI_TEST_AUDIT"], os.environ["RNNCLI_TEST_WATCH"])
    if os.environ.get("RNNCLI_TEST_KILL"):
        rank, step = map(int, os.environ["RNNCLI_TEST_KILL"].split(":"))
        if int(RANK) == rank:
            _at_step(step, lambda: os.kill(os.getpid(), signal.SIGKILL))
    if os.environ.get("RNNCLI_TEST_INTERRUPT") and RANK == "0":
        parent = os.getppid()
        _at_step(int(os.environ["RNNCLI_TEST_INTERRUPT"]), lambda: os.kill(parent, signal.SIGINT))
