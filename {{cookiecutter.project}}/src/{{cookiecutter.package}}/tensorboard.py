"""``tensorboard``: TensorBoard, without TensorFlow's start-up notices.

    python -m <package> tensorboard --logdir logs/tensorboard     # then open http://localhost:6006

The ``tensorboard`` program itself, with all its options (``--help`` lists them).
TensorBoard loads TensorFlow to read the runs, and TensorFlow prints its start-up notices
(oneDNN, CPU instructions) before any setting can hide them. This command loads it
first, through ``_tf.py``: the known notices are dropped, every other line is shown.
``TF_CPP_MIN_LOG_LEVEL=0`` shows them all.
"""

import argparse
import sys

from ._tf import import_tensorflow


def add_parser(subparsers) -> argparse.ArgumentParser:
    # prefix_chars="+": every option (--logdir, --port, --help...) is TensorBoard's. (In this
    # module, `tensorboard` is TensorBoard: imports are absolute, this file is .tensorboard.)
    parser = subparsers.add_parser(
        "tensorboard",
        help="TensorBoard (its own options), without TensorFlow's start-up notices",
        add_help=False,
        prefix_chars="+",
    )
    parser.add_argument("options", nargs="*")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import_tensorflow()
    from tensorboard.main import run_main

    sys.argv = ["tensorboard", *args.options]
    return run_main()
