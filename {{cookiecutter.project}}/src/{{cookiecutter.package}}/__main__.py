"""Lets ``python -m <package> ...`` run the command-line interface."""

from .cli import main

raise SystemExit(main())
