"""Command-line interface: ``python -m <package> <command> [options]``.

Each command lives in its own module with two functions:
``add_parser(subparsers)`` describes its options, ``run(args)`` does the work and
returns the exit code. To add a command, write such a module and list it below.
"""

import argparse

from . import (
    __version__,
    fetch_data,
    fit,
    gpu_check,
    sweep_summary,
    tensorboard,
    tensorboard_socket,
)
from .chars import command as chars  # starter: chars
from .vae import command as vae  # starter: vae

# A line marked "starter: NAME" belongs to that starter (deleting one: docs/starters.md).
COMMANDS = [
    gpu_check,
    fit,
    sweep_summary,
    fetch_data,
    tensorboard,
    tensorboard_socket,
    vae,  # starter: vae
    chars,  # starter: chars
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}",
        description="Starter tools for the Generative AI course.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    subparsers = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
