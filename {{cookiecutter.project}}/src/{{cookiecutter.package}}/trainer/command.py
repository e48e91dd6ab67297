"""Running a training command: exit codes the jobscripts understand, workers that leave together.

    def run(args):
        return trainer.run_command(lambda: _train(args))

* a fit stopped by SIGTERM/SIGUSR1 (``Interrupted``): its message, exit 75
  (the jobscripts requeue the job, and the rerun resumes);
* bad input (``ValueError``, also a bad number of steps or a damaged checkpoint
  folder): ``error: ...``, exit 2;
* a file the fit must write could not be written (``OutputError``: its settings or a
  checkpoint on a full disk; or any full disk or quota): ``error: ...`` naming the
  location, exit 74; the newest intact checkpoint is kept, so a rerun resumes;
* another worker of a multi-worker fit died: a message saying so, exit 1;
* with several workers: all meet once more, then leave together.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .. import outputs
from .signals import INTERRUPTED_EXIT, Interrupted, StopSignal
from .slurm import SlurmEnvError, num_tasks

BAD_INPUT_EXIT = 2
#: Exit code when another worker of a multi-worker fit died.
LOST_WORKER_EXIT = 1


def run_command(body) -> int:
    """Run ``body()`` (a command's work; returns its exit code, None for 0) as above."""
    with StopSignal():  # from here on a signal is kept for the fit, not fatal
        try:
            if num_tasks() > 1:  # srun's workers: TensorFlow's first work must be the strategy
                from .strategy import choose_strategy

                choose_strategy()
            code = body() or 0
        except Interrupted as stop:
            print(str(stop), file=sys.stderr, flush=True)
            code = INTERRUPTED_EXIT
        except outputs.OutputError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return outputs.OUTPUT_ERROR_EXIT
        except (ValueError, FloatingPointError, SlurmEnvError) as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return BAD_INPUT_EXIT
        except Exception as err:
            if outputs.is_full(err):  # a full disk met anywhere else (your own code's files)
                print(f"error: {outputs.cannot_write(err)}", file=sys.stderr, flush=True)
                return outputs.OUTPUT_ERROR_EXIT
            if not _lost_worker(err):
                raise
            return LOST_WORKER_EXIT
    return _finish(code)


def _lost_worker(err: Exception) -> bool:
    """Another worker died (or its node): the all-reduce broke. Say so; True if that was it."""
    from .strategy import chosen, rank_and_workers, tf

    lost = (tf.errors.UnavailableError, tf.errors.AbortedError)
    if chosen() is None or not isinstance(err, lost):
        return False
    rank, workers = rank_and_workers(chosen())
    if workers == 1:
        return False
    lines = [line for line in str(err).splitlines() if "aborted by" in line]
    first = (lines or str(err).strip().splitlines() or [type(err).__name__])[0].strip()
    print(
        f"error: worker {rank} lost contact with the other workers ({first}); one of them "
        "probably died: look for its error above. Resubmit with the same checkpoint "
        "directory to resume.",
        file=sys.stderr,
        flush=True,
    )
    return True


def _finish(code: int) -> int:
    """With several workers: wait for all, then leave at once, together.

    A worker that exits while another still runs makes TensorFlow log alarming
    (harmless) "stopped sending heartbeats" / "Failed to send RPC" errors, and
    Python's slow clean-up of TensorFlow makes that likely. So the workers meet
    once more (an all-reduce) after the chief has written everything, then exit.
    """
    if "tensorflow" not in sys.modules:
        return code
    from .strategy import barrier, chosen, rank_and_workers

    if chosen() is not None and rank_and_workers(chosen())[1] > 1:
        barrier(chosen())
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def check_writable(option: str, directory) -> None:
    """Make ``directory`` (if needed) and write a file in it: fail now, not after the fit."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{option} {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise ValueError(
            f"{option}: cannot write in {directory} ({err.strerror or err}); "
            "choose a directory you can write to"
        ) from None
