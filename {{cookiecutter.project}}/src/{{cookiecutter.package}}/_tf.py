"""Import TensorFlow quietly, or explain how to install it.

TensorFlow's C++ core prints notices while it loads (oneDNN, CPU instruction
sets, CUDA plug-in registration). ``TF_CPP_MIN_LOG_LEVEL`` must be set *before*
the import to hide most of them, and a few are printed before that setting is
even read. So every command imports TensorFlow through ``import_tensorflow()``:
it sets the level, catches what the C++ code writes to stderr during the
import, drops the known harmless notices and passes every other line on, so
a real problem (a missing CUDA library, say) is still shown.

Set ``TF_CPP_MIN_LOG_LEVEL=0`` to see everything TensorFlow says.
"""

import contextlib
import os
import sys
import tempfile

# Substrings of harmless notices printed while TensorFlow loads.
KNOWN_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
    "Unable to register cu",  # cuDNN/cuFFT/cuBLAS factories registered twice
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
)


@contextlib.contextmanager
def _stderr_without_noise():
    """Capture file descriptor 2 (C++ writes there, not to sys.stderr) and filter it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if not any(noise in line for noise in KNOWN_NOISE):
                    print(line, file=sys.stderr)


def import_tensorflow():
    """Return the ``tensorflow`` module, imported with its log noise turned down."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # 0 all, 1 no INFO, 2 no WARNING
    quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0"
    try:
        with _stderr_without_noise() if quiet else contextlib.nullcontext():
            import tensorflow as tf
    except ImportError as err:
        sys.exit(
            f"error: TensorFlow is not installed in this environment ({sys.executable}): {err}\n"
            "Install the lock's build for your machine:"
            "  pip install --no-deps --require-hashes -r requirements/gpu.txt  (NVIDIA GPU)"
            "  or  requirements/cpu.txt  (laptop / no GPU)"
        )
    tf.get_logger().setLevel("ERROR")
    return tf
