"""TensorBoard for your eyes only: served on a Unix socket, never on a TCP port.

``tensorboard --logdir logs/tensorboard`` listens on a TCP port, and every user of a
shared machine (a Quest login or compute node) can open a TCP port of it: they would
see your curves and pictures, whatever your file permissions say. A Unix socket is a
file: in a folder only you can enter, with mode 600, only you (and root) can connect.
SSH forwards a port of your laptop to it (docs/quest-ide.md; ``slurm/ide.sh`` does this):

    python -m <package> tensorboard-socket --socket /tmp/mine/tb.sock --logdir logs/tensorboard
    ssh -N -L 6006:/tmp/mine/tb.sock you@host       # on the laptop; then http://localhost:6006
"""

import argparse
import os
import sys
from pathlib import Path

from ._tf import import_tensorflow

# Linux's limit on a socket's path (sun_path is 108 bytes, the last one a NUL).
MAX_SOCKET_PATH = 107


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "tensorboard-socket",
        help="serve TensorBoard on a Unix socket only you can reach (not a TCP port)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--socket",
        type=Path,
        required=True,
        help="the socket to create, in a folder only you can enter (its folder must exist)",
    )
    parser.add_argument(
        "--logdir",
        type=Path,
        default=Path("logs/tensorboard"),
        help="the folder of runs to show (default: logs/tensorboard)",
    )
    parser.set_defaults(func=run)
    return parser


def socket_problem(path: Path) -> str | None:
    """Why ``path`` is no place for a private socket, or None if it is."""
    if len(os.fsencode(path.absolute())) > MAX_SOCKET_PATH:
        return f"{path}: longer than {MAX_SOCKET_PATH} bytes, too long for a socket"
    folder = path.absolute().parent
    if not folder.is_dir():
        return f"{folder}: no such folder"
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return f"{folder}: others may enter it (make it yours with mode 700: chmod 700 {folder})"
    return None


def unix_socket_server(path: Path):
    """A TensorBoard server class that listens on the Unix socket ``path``, mode 600."""
    from tensorboard import program
    from werkzeug import serving

    class UnixSocketServer(program.TensorBoardServer):
        def __init__(self, wsgi_app, flags):
            old = os.umask(0o177)  # the socket file is made with mode 600
            try:
                self._server = serving.make_server(f"unix://{path}", 0, wsgi_app, threaded=True)
            finally:
                os.umask(old)

        def serve_forever(self):
            self._server.serve_forever()

        def get_url(self):
            # TensorBoard records a URL with a port; the socket has none: its path says it all.
            return f"http://localhost:0/ (unix socket {path})"

    return UnixSocketServer


def run(args: argparse.Namespace) -> int:
    problem = socket_problem(args.socket)
    if problem:
        print(f"error: --socket {problem}", file=sys.stderr)
        return 2
    # TensorBoard loads TensorFlow to read the runs: load it first, without its start-up
    # notices (_tf.py; TF_CPP_MIN_LOG_LEVEL=0 shows them).
    import_tensorflow()
    from tensorboard import program

    board = program.TensorBoard(server_class=unix_socket_server(args.socket.absolute()))
    # load_fast=false: TensorBoard's faster reader is a second program that listens on a
    # TCP port of its own (gRPC, on localhost): on a shared node others could read from it.
    board.configure(logdir=str(args.logdir), load_fast="false")
    print(f"TensorBoard of {args.logdir} on the socket {args.socket}", flush=True)
    try:
        return board.main()
    finally:
        args.socket.unlink(missing_ok=True)
