"""`rnn train --nproc N`: torch's own launcher (torchrun), standalone, on this machine.

This is `torchrun --standalone --nproc-per-node N -m rnncli train ...` run in-process
(`torch.distributed.run.run`): the same elastic agent, rendezvous and worker
supervision, so a dead worker stops the others and the run fails in bounded time.
Several machines use torchrun itself (README: "Training on several processes").
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence

from rnncli.errors import RunInterrupted, TrainingError, UsageError
from rnncli.training import distributed

log = logging.getLogger("rnncli")


def launch(worker_args: Sequence[str], nproc: int, quiet: bool = False) -> None:
    """Run `rnn train WORKER_ARGS` in `nproc` processes; return when all have finished."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    if distributed.launched():
        raise UsageError("--nproc inside torchrun: give the process count to torchrun only")
    if nproc < 1:
        raise UsageError(f"--nproc must be 1 or more, not {nproc}")
    # One thread per process unless --threads/training.threads says otherwise (torchrun's
    # own default, set here so it does not print its banner about it).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if quiet:
        logging.getLogger("torch.distributed").setLevel(logging.ERROR)
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--module", "rnncli", "train", *worker_args]
    )
    try:
        run(args)
    except ChildFailedError as exc:
        raise TrainingError(_failure_line(exc, nproc)) from None
    except SignalException as exc:
        name = signal.Signals(exc.sigval).name
        raise RunInterrupted(
            f"training interrupted by {name}: the processes saved what they had (see above); "
            f"resume with rnn train --resume RUN --nproc {nproc}",
            int(exc.sigval),
        ) from None


def _failure_line(exc: object, nproc: int) -> str:
    failures = getattr(exc, "failures", {}) or {}
    parts = []
    for rank, failure in sorted(failures.items()):
        code = int(getattr(failure, "exitcode", 1))
        if code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        parts.append(f"rank {rank}: {how}")
    what = ", ".join(parts) or "a process failed"
    return (
        f"a training run of {nproc} processes failed ({what}; their messages are above): "
        f"rnn train --resume RUN --nproc {nproc} continues from the last checkpoint"
    )
