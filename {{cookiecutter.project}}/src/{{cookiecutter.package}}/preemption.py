"""Preemption: Slurm's warning signal becomes "save a checkpoint, exit 75, run me again".

Before Slurm stops a job (time limit, preemption) it sends a signal: SIGTERM,
or SIGUSR1 with ``#SBATCH --signal``. ``StopSignal`` turns it into a flag; the
training loop looks at the flag between two *compiled calls* (each call runs
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

    def __init__(self, step: int, signal_name: str, checkpoint_dir: str | None):
        self.step, self.signal_name, self.checkpoint_dir = step, signal_name, checkpoint_dir
        if checkpoint_dir:
            detail = f"checkpoint saved to {checkpoint_dir}; rerun the same command to resume"
        else:
            detail = "no --checkpoint-dir was given, so nothing was saved"
        super().__init__(f"{signal_name}: interrupted at step {step}; {detail}")


class StopSignal:
    """``with StopSignal() as stop:`` sets ``stop.name`` ("SIGTERM", "SIGUSR1") when one arrives."""

    SIGNALS = ("SIGTERM", "SIGUSR1")

    def __init__(self):
        self.name = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.name = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Python's rule for handlers
            for name in self.SIGNALS:
                if hasattr(signal, name):
                    number = getattr(signal, name)
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)


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
