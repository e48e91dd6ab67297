"""Fetching a data set: checked by its checksum, never half a file, never inside a job.

A local HTTP server stands in for the internet: a good file, a file whose checksum
is wrong, a missing file, a transfer that breaks off, and a job that must not try.
"""

import hashlib
import http.server
import threading

import pytest

GOOD = b"a data set\n" * 1000
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


class Files(http.server.BaseHTTPRequestHandler):
    """Serves /good.npz; /broken.npz promises more bytes than it sends; the rest is 404."""

    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        Files.requests.append(self.path)
        if self.path == "/good.npz":
            self._send(GOOD, len(GOOD))
        elif self.path == "/broken.npz":
            self._send(GOOD[:100], len(GOOD))  # then the connection closes
        else:
            self.send_error(404, "Not Found")

    def _send(self, body: bytes, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def data(tmp_path):
    """An empty data folder, named by PROJECT_DATA (as on Quest)."""
    folder = tmp_path / "data"
    return folder, {"PROJECT_DATA": str(folder), "SLURM_JOB_ID": ""}


def fetch(cli, env, url, sha256=GOOD_SHA, name="my.npz"):
    return cli("fetch-data", "--url", url, "--sha256", sha256, name, env=env)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_good_file_is_kept(cli, server, data):
    folder, env = data
    done = fetch(cli, env, f"{server}/good.npz")
    assert done.returncode == 0, done.stderr
    assert (folder / "my.npz").read_bytes() == GOOD
    assert leftovers(folder) == ["my.npz"]
    again = fetch(cli, env, f"{server}/good.npz")
    assert again.returncode == 0 and "already there" in again.stdout


@pytest.mark.parametrize(
    ("path", "sha256", "message"),
    [
        ("/good.npz", "0" * 64, f"not kept: expected SHA-256 {'0' * 64}, got {GOOD_SHA}"),
        ("/nothing.npz", GOOD_SHA, "the server answered 404"),
        ("/broken.npz", GOOD_SHA, f"the download broke off after 100 of {len(GOOD)} bytes"),
    ],
    ids=["wrong checksum", "missing file", "broken transfer"],
)
def test_a_bad_download_keeps_nothing(cli, server, data, path, sha256, message):
    folder, env = data
    done = fetch(cli, env, server + path, sha256=sha256)
    assert done.returncode == 2
    assert message in done.stderr
    assert leftovers(folder) == []


def test_no_server_is_a_clear_error(cli, data):
    folder, env = data
    from socket import socket

    with socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    done = fetch(cli, env, f"http://127.0.0.1:{port}/good.npz")
    assert done.returncode == 2
    assert "cannot connect" in done.stderr
    assert leftovers(folder) == []


def test_inside_a_job_nothing_is_downloaded(cli, server, data):
    folder, env = data
    before = len(Files.requests)
    done = fetch(cli, {**env, "SLURM_JOB_ID": "4242"}, f"{server}/good.npz")
    assert done.returncode == 2
    assert "Slurm job 4242" in done.stderr and "no internet" in done.stderr
    assert len(Files.requests) == before  # not even tried
    assert leftovers(folder) == []


def test_require_names_the_fetch_command_and_never_downloads(data, monkeypatch):
    from {{ cookiecutter.package }} import datasets

    folder, env = data
    monkeypatch.setenv("PROJECT_DATA", str(folder))
    with pytest.raises(ValueError, match=f"PROJECT_DATA={folder} python -m .* fetch-data mnist"):
        datasets.require("mnist")
    folder.mkdir()
    (folder / "mnist.npz").write_bytes(b"half a file")
    with pytest.raises(ValueError, match="damaged or incomplete"):
        datasets.require("mnist")
    assert leftovers(folder) == ["mnist.npz"]  # looked at, not replaced


def test_bad_requests_are_refused(cli, data):
    folder, env = data
    unknown = cli("fetch-data", "imagenet", env=env)
    assert unknown.returncode == 2 and "unknown data set 'imagenet'" in unknown.stderr
    no_sum = cli("fetch-data", "--url", "http://127.0.0.1:1/x", "x.npz", env=env)
    assert no_sum.returncode == 2 and "--sha256" in no_sum.stderr
    listing = cli("fetch-data", "--list", env=env)
    assert listing.returncode == 0 and "mnist" in listing.stdout and str(folder) in listing.stdout
