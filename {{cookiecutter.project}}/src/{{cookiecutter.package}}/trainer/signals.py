"""Signals: Slurm's warning becomes "save a checkpoint, exit 75, run me again".

Before Slurm stops a job (time limit, preemption) it sends a signal: SIGTERM,
or SIGUSR1 with ``#SBATCH --signal``. ``StopSignal`` turns it into a flag; the
loop (``loop.py``) looks at the flag between two *compiled calls* (each call runs
many steps inside TensorFlow's graph, where Python cannot interrupt it). The
loop sizes its calls to take about ``CALL_SECONDS`` (at most ``MAX_STEPS_PER_CALL``
steps), so a fit reacts to a signal within about a tenth of a second, then
saves and raises ``Interrupted``; the command exits with ``INTERRUPTED_EXIT``.
"""

from __future__ import annotations

import signal
import threading
import time

#: Exit code of a fit stopped by a signal (EX_TEMPFAIL: "try again later").
INTERRUPTED_EXIT = 75
#: Aim for compiled calls of about this long: short enough to react to a signal
#: quickly, long enough that Python's overhead per call does not matter.
CALL_SECONDS = 0.05
MAX_STEPS_PER_CALL = 1000


class Interrupted(Exception):
    """The fit was stopped by a signal after saving a checkpoint (if it had a directory)."""

    def __init__(self, step: int, signal_name: str, checkpoint_dir: str | None, saved=True):
        self.step, self.signal_name, self.checkpoint_dir = step, signal_name, checkpoint_dir
        if not checkpoint_dir:
            detail = "no --checkpoint-dir was given, so nothing was saved"
        elif saved:
            detail = f"checkpoint saved to {checkpoint_dir}; rerun the same command to resume"
        else:
            detail = f"nothing to save yet in {checkpoint_dir}; rerun the same command to start"
        super().__init__(f"{signal_name}: interrupted at step {step}; {detail}")


_STATE = {"name": None, "depth": 0, "previous": {}}


class StopSignal:
    """``with StopSignal() as stop:`` sets ``stop.name`` ("SIGTERM", "SIGUSR1") when one arrives.

    Nested uses share one flag: ``run_command`` catches signals from the start of a
    command (a signal while TensorFlow loads is not lost), and ``fit`` reads the flag.
    """

    SIGNALS = ("SIGTERM", "SIGUSR1")

    @property
    def name(self) -> str | None:
        return _STATE["name"]

    @staticmethod
    def _handle(signum, frame):
        _STATE["name"] = signal.Signals(signum).name

    def __enter__(self):
        main = threading.current_thread() is threading.main_thread()  # Python's rule
        if _STATE["depth"] == 0 and main:
            _STATE["name"] = None
            for name in self.SIGNALS:
                number = getattr(signal, name)
                _STATE["previous"][number] = signal.signal(number, self._handle)
        _STATE["depth"] += 1
        return self

    def __exit__(self, *exc):
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0:
            for number, handler in _STATE["previous"].items():
                signal.signal(number, handler)
            _STATE["previous"].clear()


class CallSize:
    """How many steps the next compiled call runs: doubles while calls are quick."""

    def __init__(self, steps: int, checkpoint_every: int):
        self.steps, self.every, self.size = steps, checkpoint_every, 1
        self.began = time.monotonic()

    def next(self, current: int) -> int:
        """Steps for the next call (its clock starts); calls end at checkpoints and the end."""
        self.began = time.monotonic()
        return min(self.size, self.steps - current, self.every - current % self.every)

    def was_slow(self) -> bool:
        """Did the call take more than half of ``CALL_SECONDS``?"""
        return time.monotonic() - self.began >= CALL_SECONDS / 2

    def grow(self, slow: bool) -> None:
        if not slow:
            self.size = min(self.size * 2, MAX_STEPS_PER_CALL)
