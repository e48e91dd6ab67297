"""Writing what a fit made -- the plot, the report -- whole, or not at all, with a message.

A full disk or quota shows itself only at the end, after minutes or hours of fitting. So
nothing here raises: the plot is written to a temporary name and renamed (a half-written
PNG never takes the real name), and a report that cannot be written where it should go is
printed to stderr (the job's log) instead, so the fitted parameters are never lost.

During a fit, a file the fit needs (its settings, a checkpoint) that cannot be written
stops it with ``OutputError``: a message naming the location, exit code 74.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

#: Exit code of a fit that could not write what it must (sysexits.h's EX_IOERR).
OUTPUT_ERROR_EXIT = 74
#: How a full disk or quota reads in Python's errors and in TensorFlow's messages.
FULL = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}


class OutputError(Exception):
    """A file the fit needs could not be written; the message says where and what is kept."""


def is_full(err: BaseException) -> bool:
    """Is ``err`` a full disk or quota? (TensorFlow's errors carry it only in their text.)"""
    if isinstance(err, OSError):
        return err.errno in FULL
    return any(words in str(err) for words in FULL.values())


def why(err: BaseException) -> str:
    """The reason in words, with the fix for the common one."""
    text = str(err).strip()
    reason = (text.splitlines() or [type(err).__name__])[0][:200]
    if isinstance(err, OSError) and err.strerror:
        reason = err.strerror
    for words in FULL.values():
        if words in text:
            reason = words  # TensorFlow's message buries it behind a temporary file's name
    if is_full(err):
        reason += " -- the disk or your quota is full (on Quest: checkproject, homedu)"
    return reason


def cannot_write(err: BaseException) -> str:
    """'cannot write WHERE (why)': Python's errors name the file, TensorFlow's say it in text."""
    where = getattr(err, "filename", None)
    if where is None:
        text = str(err).strip()
        where = (text.splitlines() or ["a file"])[0].split("; ")[0][:200]
    return f"cannot write {where} ({why(err)})"


def save_plot(figure, path: str | Path) -> str | None:
    """Save a matplotlib ``figure`` to ``path``; return None, or a message naming the
    location that could not be written (the half-written file is removed)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        figure.savefig(partial, dpi=100, format=path.suffix.lstrip(".").lower() or "png")
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        return f"the plot was not saved: cannot write {path} ({why(err)})"
    return None


def print_report(text: str) -> int:
    """Print the report on stdout; return 0, or OUTPUT_ERROR_EXIT after printing it on
    stderr with a message naming where stdout goes (a file the jobscript made)."""
    start = _position(sys.stdout)
    try:
        print(text, flush=True)
        return 0
    except OSError as err:
        _truncate(sys.stdout, start)  # no half report left in the file
        where = _location(sys.stdout)
        print(
            f"error: the result could not be written to {where} ({why(err)}); "
            "here it is instead:\n" + text,
            file=sys.stderr,
            flush=True,
        )
        # Python would try again at exit and fail with its own message: point at nothing.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (kept open until the exit)
        return OUTPUT_ERROR_EXIT


def _position(stream) -> int | None:
    try:
        stream.flush()
        return os.lseek(stream.fileno(), 0, os.SEEK_CUR)
    except (OSError, ValueError, AttributeError):  # a terminal, a pipe, pytest's capture
        return None


def _truncate(stream, position: int | None) -> None:
    if position is None:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.ftruncate(stream.fileno(), position)


def _location(stream) -> str:
    """The file behind ``stream`` where the system says (Linux), else 'standard output'."""
    try:
        return os.readlink(f"/proc/self/fd/{stream.fileno()}")
    except (OSError, ValueError, AttributeError):
        return "standard output"
