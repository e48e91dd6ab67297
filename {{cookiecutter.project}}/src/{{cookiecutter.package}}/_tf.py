"""Import TensorFlow quietly, or explain how to install it.

TensorFlow prints pages of C++ log lines on import (CUDA probing, oneDNN notes).
``TF_CPP_MIN_LOG_LEVEL`` must be set *before* the import to hide them, which is
why every command imports TensorFlow through this function instead of at the
top of its module. Set ``TF_CPP_MIN_LOG_LEVEL=0`` yourself to see everything.
"""

import os
import sys


def import_tensorflow():
    """Return the ``tensorflow`` module, imported with its log noise turned down."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # 0 all, 1 no INFO, 2 no WARNING
    try:
        import tensorflow as tf
    except ImportError as err:
        sys.exit(
            f"error: TensorFlow is not installed in this environment ({sys.executable}): {err}\n"
            'Install it with the extra for your machine:  pip install -e ".[gpu]"  (NVIDIA GPU)'
            '  or  pip install -e ".[cpu]"  (laptop / no GPU)'
        )
    tf.get_logger().setLevel("ERROR")
    return tf
