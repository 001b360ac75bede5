"""Run directories: created atomically, locked for the life of a run, left clean.

A new run gets a directory made by a plain `mkdir` that fails if it exists (`output`,
else `output-1`, `output-2`...), so two runs started together never share one. An
existing *empty* directory may still be claimed, but only by whoever wins the lock.
The lock is an exclusive `flock` on `RUN/.lock`, held until the run ends (test score
included); the OS drops it when a process dies, even by SIGKILL, so a stale lock never
blocks a resume. A second writer, or `--resume` of a live run, is refused.

On the way out (success, error or signal) the run's temporary files are removed, and a
new run that saved no checkpoint is removed entirely: nothing half-made is left behind.
Stop signals become `RunInterrupted`, whose message says what is saved on disk.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

from rnncli.errors import CheckpointError, RunInterrupted, Stopped, TrainingError
from rnncli.training.checkpoint import load_checkpoint

log = logging.getLogger("rnncli")
LOCK_NAME = ".lock"
TEMP_PATTERNS = ("*.tmp", "cache/*.tmp")  # atomic writes' temp files, cache encodings
MAX_SUFFIX = 10_000
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}


class RunDir:
    """A locked run directory; `fresh` when this process created (or claimed) it."""

    def __init__(self, path: Path, fd: int | None, fresh: bool, created: bool) -> None:
        self.path, self.fd, self.fresh, self.created = path, fd, fresh, created

    def release(self) -> None:
        """Remove temporary files, then unlock (the lock file stays: see `_lock`)."""
        if self.fd is None:
            return
        remove_temp_files(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def discard(self) -> None:
        """Remove what this run wrote (it saved no checkpoint); still under the lock."""
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for entry in list(self.path.iterdir()):  # a directory the user made: empty it again
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def remove_temp_files(path: Path) -> None:
    for pattern in TEMP_PATTERNS:
        for tmp in path.glob(pattern):
            with suppress(OSError):
                tmp.unlink(missing_ok=True)


def _cannot_write(path: Path, exc: OSError) -> TrainingError:
    return TrainingError(
        f"cannot write in the run directory ({path}): {exc.strerror or exc}; "
        "choose another output (-o) or fix its permissions"
    )


def _holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f", pid {text}" if text.isdigit() else ""


def _lock(path: Path, busy_error: bool) -> int | None:
    """An fd holding the exclusive lock of `path`; None if another process holds it.

    The lock file is never deleted by a live run: a process that opened the old file
    could otherwise lock it while a third locks a new one. A discarded run removes its
    directory; the inode check below makes a late locker of that file move on.
    """
    lock = path / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        return None  # removed meanwhile (a discarded run)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        if busy_error:
            raise TrainingError(
                f"run directory is in use by another rnn process ({path}{holder}): "
                "wait for it to finish or stop it, then try again"
            ) from None
        return None
    except OSError as exc:  # a file system without locks: go on, unprotected
        log.warning("cannot lock %s (%s): another process could write in it", lock, exc)
    try:
        here, live = os.fstat(fd), os.stat(lock)
        same = (here.st_dev, here.st_ino) == (live.st_dev, live.st_ino)
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def _empty(path: Path) -> bool:
    """A directory holding nothing but (perhaps) a lock file: free to claim."""
    try:
        return all(entry.name == LOCK_NAME for entry in os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def claim(wanted: Path) -> RunDir:
    """Create and lock a new run directory: `wanted`, else `wanted-1`, `wanted-2`..."""
    try:
        wanted.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(wanted.parent, exc) from None
    for n in range(MAX_SUFFIX):
        path = wanted if n == 0 else wanted.with_name(f"{wanted.name}-{n}")
        try:
            path.mkdir()
            created = True
        except FileExistsError:
            if not _empty(path):
                continue
            created = False
        except OSError as exc:
            raise _cannot_write(wanted.parent, exc) from None
        fd = _lock(path, busy_error=False)
        if fd is None:
            continue
        if not created and not _empty(path):  # filled by a run that has just ended
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            continue
        return RunDir(path, fd, fresh=True, created=created)
    raise TrainingError(
        f"no free run directory ({wanted}-1 to -{MAX_SUFFIX - 1} are taken): choose another output"
    )


def acquire(path: Path) -> RunDir:
    """Lock an existing run directory (to resume it); refuse if a live process holds it."""
    if not path.is_dir():
        raise CheckpointError(
            f"no run directory to resume ({path}): give the directory `rnn train` printed"
        )
    fd = _lock(path, busy_error=True)
    if fd is None:  # it was removed while we looked
        raise CheckpointError(f"no run directory to resume ({path}): it was just removed")
    remove_temp_files(path)  # left by a process that was killed while writing
    return RunDir(path, fd, fresh=False, created=False)


def saved_training(path: Path) -> dict[str, Any] | None:
    """The `training` record of the run's resumable checkpoint, None if it has none."""
    try:
        return dict(load_checkpoint(path / "last.safetensors").meta.get("training") or {})
    except CheckpointError:
        return None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def interrupted(path: Path, signum: int, discarded: bool = False) -> RunInterrupted:
    """What a stop signal leaves behind, said from what is on disk, and how to go on."""
    name = _signal_name(signum)
    saved = None if discarded else saved_training(path)
    if saved is None:
        message = (
            f"interrupted by {name} before the first checkpoint ({path}): nothing was saved, "
            "nothing to resume; start the run again"
        )
    elif saved.get("done"):
        message = (
            f"interrupted by {name} after training finished ({path} holds its final "
            f"checkpoint, step {saved.get('steps')}): rnn train --resume {path} finishes "
            "what is left (the test score)"
        )
    else:
        message = (
            f"interrupted by {name} ({path} holds the checkpoint of step {saved.get('steps')}): "
            f"resume with rnn train --resume {path}"
        )
    return RunInterrupted(message, signum)


def write_error(exc: OSError, target: Path, run_dir: Path) -> TrainingError:
    """A failed write in a run (disk full, file too large, read-only...), in one line."""
    saved = saved_training(run_dir)
    if saved is None:
        then = "nothing was saved; free some space or fix the permissions, then train again"
    else:
        then = (
            f"the checkpoint of step {saved.get('steps')} is kept; free some space or fix the "
            f"permissions, then rnn train --resume {run_dir}"
        )
    what = "in the run directory" if target == run_dir else target.name
    return TrainingError(f"cannot write {what} ({target}): {exc.strerror or exc}; {then}")


@contextmanager
def writing(target: Path, run_dir: Path) -> Iterator[None]:
    """Turn an OSError while writing `target` into one line that says what is kept."""
    try:
        yield
    except OSError as exc:
        raise write_error(exc, target, run_dir) from None


@contextmanager
def hold(run: RunDir) -> Iterator[Path]:
    """Run inside a locked directory; on the way out clean up and unlock.

    A stop signal (KeyboardInterrupt, or `Stopped` from the CLI's SIGTERM handler)
    becomes `RunInterrupted`; a new run that saved no checkpoint is removed.
    """
    try:
        yield run.path
    except BaseException as exc:
        nothing = run.fresh and not any(run.path.glob("*.safetensors"))
        if nothing:
            run.discard()
        if isinstance(exc, (KeyboardInterrupt, Stopped)):
            signum = exc.signum if isinstance(exc, Stopped) else int(signal.SIGINT)
            raise interrupted(run.path, signum, discarded=nothing) from None
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:  # e.g. the data cache
            target = Path(exc.filename) if exc.filename else run.path
            raise write_error(exc, target, run.path) from None
        raise
    finally:
        run.release()


def new_run(wanted: Path) -> AbstractContextManager[Path]:
    """`with new_run(Path("runs/x")) as run_dir:` a fresh, locked run directory."""
    return hold(claim(wanted))


def existing_run(path: Path) -> AbstractContextManager[Path]:
    """`with existing_run(run_dir):` the run locked for a resume."""
    return hold(acquire(path))
