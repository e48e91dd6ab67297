"""Running things: a command (its output shown when it fails), an interpreter of a given
version, a free port and a wait for a server, an unprivileged user."""

from __future__ import annotations

import http.client
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def run(
    cmd: list[str] | str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` and capture its output; on an unexpected failure show all of it."""
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    full_env = {**os.environ, **(env or {})}
    print("$", shlex.join(str(c) for c in cmd), f"(in {cwd})" if cwd else "", flush=True)
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=full_env,
        text=True,
        capture_output=True,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {result.returncode}: {shlex.join(map(str, cmd))}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def python_for(version: str) -> str:
    """The interpreter for a ``X.Y`` version: pyenv's if it has one, else this one.

    pyenv's shims answer only for its global version, so ask pyenv for the prefix.
    """
    if shutil.which("pyenv"):  # absent in containers, e.g. the template's devcontainer
        found = subprocess.run(
            ["pyenv", "prefix", version], text=True, capture_output=True, check=False
        )
        if found.returncode == 0:
            return str(Path(found.stdout.strip().splitlines()[-1]) / "bin" / "python")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    raise AssertionError(f"no Python {version} on this machine (tried pyenv and {sys.executable})")


# Servers the tests start (code-server): a free port, then wait until it answers.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the system picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(
    port: int,
    path: str = "/healthz",
    alive: Callable[[], bool] = lambda: True,
    poll: float = 0.5,
    attempts: int = 600,
) -> bool:
    """Ask http://127.0.0.1:port/path until it answers 200 (True), the server is gone
    (``alive()`` is false: False at once) or ``attempts`` asks have failed (False)."""
    for _ in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return True
        except OSError:  # not listening yet, or the connection was reset
            pass
        finally:
            connection.close()
        if not alive():
            return False
        time.sleep(poll)
    return False


# Unprivileged users, as on a cluster (made once per machine, kept between runs).


def unprivileged_user(name: str, login: bool = False) -> pwd.struct_passwd:
    """The user ``name`` with a home and bash, made if missing. ``login``: SSH may let it in
    with a key (OpenSSH refuses a locked account, which `useradd` makes, without PAM)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--create-home", "--shell", "/bin/bash", name])
    if login:
        run(["usermod", "--password", "*", name])  # no password works, but not locked
    return pwd.getpwnam(name)
