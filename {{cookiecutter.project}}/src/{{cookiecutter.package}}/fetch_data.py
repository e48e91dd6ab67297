"""fetch-data: download a data set once, with its checksum, into the data folder.

    python -m <package> fetch-data mnist          # a data set of the list below
    python -m <package> fetch-data --list         # the list, and where they go
    python -m <package> fetch-data --url URL --sha256 HEX my_data.npz   # any file

Run it on a login node (or your laptop), never in a job: Quest's compute nodes
have no internet. The folder is ``PROJECT_DATA`` if set, else your project space
on Quest, else the project's ``data/`` (see ``datasets.py``).
"""

from __future__ import annotations

import argparse
import re
import sys

BAD_INPUT_EXIT = 2


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fetch-data",
        help="download a data set once (on a login node), checked by its checksum",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("name", nargs="?", help="a data set of --list, or with --url a file name")
    parser.add_argument("--list", action="store_true", help="list the known data sets")
    parser.add_argument("--url", help="download this address instead (give --sha256 too)")
    parser.add_argument("--sha256", metavar="HEX", help="the file's SHA-256 checksum, for --url")
    parser.set_defaults(func=run)
    return parser


def _entry(args):
    """(file name, url, sha256) from the arguments; ``ValueError`` saying what is missing."""
    from .datasets import REGISTRY

    if args.url is None:
        if args.sha256 is not None:
            raise ValueError("--sha256 goes with --url")
        if args.name not in REGISTRY:
            raise ValueError(
                f"unknown data set {args.name!r}; known: {', '.join(REGISTRY)} "
                "(or give --url and --sha256)"
            )
        entry = REGISTRY[args.name]
        return entry.file, entry.url, entry.sha256
    if not args.sha256 or not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
        raise ValueError("--url needs --sha256 with the file's 64-hex-digit SHA-256 checksum")
    if not args.name or "/" in args.name or args.name.startswith("."):
        raise ValueError("with --url, name the file to save as (a plain name, e.g. my_data.npz)")
    return args.name, args.url, args.sha256.lower()


def run(args: argparse.Namespace) -> int:
    from .datasets import REGISTRY, data_dir, sha256_of
    from .download import download

    if args.list or args.name is None:
        print(f"data folder: {data_dir()}")
        for name, entry in REGISTRY.items():
            print(f"  {name:<10} {entry.about}")
        return 0
    try:
        file, url, sha256 = _entry(args)
        target = data_dir() / file
        if target.is_file() and sha256_of(target) == sha256:
            print(f"{target}: already there, checksum correct")
            return 0
        print(f"downloading {url}\n  into {target}", file=sys.stderr, flush=True)
        download(url, sha256, target)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_INPUT_EXIT
    except OSError as err:  # e.g. the data folder cannot be written
        print(f"error: cannot write {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return BAD_INPUT_EXIT
    print(f"{target}: downloaded, checksum correct")
    return 0
