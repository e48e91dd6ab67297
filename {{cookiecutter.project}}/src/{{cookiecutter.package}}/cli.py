"""Command-line interface: ``python -m <package> <command> [options]``.

Each command lives in its own module with two functions:
``add_parser(subparsers)`` describes its options, ``run(args)`` does the work and
returns the exit code. To add a command, write such a module and list it below.
"""

import argparse

from . import __version__, fit, gpu_check, sweep_summary, tensorboard_socket

COMMANDS = [gpu_check, fit, sweep_summary, tensorboard_socket]


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
