"""Lets ``python -m <package> ...`` run the command-line interface."""

import os
import sys

from .cli import main

code = main()
if code == 75:  # a fit stopped by Slurm's signal, and saved (trainer/signals.py: INTERRUPTED_EXIT)
    # Leave now: Python's clean-up of TensorFlow takes 1 to 9 s, while Slurm waits
    # only KillWait seconds before it kills the job. Everything is written and closed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
