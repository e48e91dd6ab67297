"""``tensorboard-socket``: TensorBoard on a Unix socket only its owner can open."""

import http.client
import socket
import threading

from {{ cookiecutter.package }}.tensorboard_socket import unix_socket_server


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a Unix socket (what SSH's forward does for the browser)."""

    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(self.path))


def test_serves_on_a_socket_only_its_owner_can_open(tmp_path):
    folder = tmp_path / "private"
    folder.mkdir(mode=0o700)
    path = folder / "tb.sock"

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"curves"]

    server = unix_socket_server(path)(app, flags=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert path.is_socket() and path.stat().st_mode & 0o777 == 0o600
        connection = UnixHTTPConnection(path)
        connection.request("GET", "/")
        assert connection.getresponse().read() == b"curves"
        connection.close()
    finally:
        server._server.shutdown()
        thread.join()


def test_refuses_a_folder_others_can_enter(cli, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)  # whatever the umask
    done = cli("tensorboard-socket", "--socket", str(shared / "tb.sock"))
    assert done.returncode == 2
    assert "others may enter it" in done.stderr and "chmod 700" in done.stderr
    assert list(shared.iterdir()) == []


def test_refuses_a_path_too_long_for_a_socket(cli, tmp_path):
    folder = tmp_path / ("x" * 120)
    folder.mkdir(mode=0o700)
    done = cli("tensorboard-socket", "--socket", str(folder / "tb.sock"))
    assert done.returncode == 2 and "too long for a socket" in done.stderr
