"""Give caches a writable home when the image runs read-only as someone else.

HPC container runtimes (Apptainer on Quest, Charliecloud) start this image read-only,
as YOUR user ID (not `student`), with a $HOME the image may not have or own. Programs
that keep caches in $HOME would then warn, and rebuild them on every run (matplotlib's
font cache takes ~20 s). Python runs this at every start (container_caches.pth, in the
venv's site-packages): each variable below that is unset, or names a folder that cannot
be written, is pointed at a folder under the temp directory. Docker and the devcontainer,
where $HOME is writable, are left alone.
"""

import contextlib
import os
import tempfile

# variable -> where the program writes when the variable is unset
DEFAULTS = {
    "MPLCONFIGDIR": "~/.config/matplotlib",  # matplotlib: config and font cache
    "KERAS_HOME": "~/.keras",  # Keras: keras.json, downloaded data sets
    "XDG_CACHE_HOME": "~/.cache",  # everything else that follows the XDG rules
}


def _writable(path: str) -> bool:
    """Could this user create or write ``path``? (Checks its nearest existing parent.)"""
    path = os.path.abspath(os.path.expanduser(path))
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.access(path, os.W_OK | os.X_OK)


def redirect() -> None:
    fallback = os.path.join(tempfile.gettempdir(), f"container-caches-{os.getuid()}")
    for variable, default in DEFAULTS.items():
        if not _writable(os.environ.get(variable) or default):
            os.environ[variable] = os.path.join(fallback, variable.lower())


with contextlib.suppress(OSError):  # never stop Python from starting because of a cache
    redirect()
