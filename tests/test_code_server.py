"""code-server in the project's image, run with podman as the README says (`nox -s containers`).

Its health check, the login (headless Chromium, a screenshot in artifacts/code-server.png),
its password (generated, or from a private env file; on no command line), its init, and
where it listens: 127.0.0.1 only, and CODE_SERVER_LISTEN=all refused where the network is a
host's. The image is built from the podman cache tests/test_images.py left (same lane).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import tempfile
import urllib.parse
from pathlib import Path

import pytest

from harness.bake import TEMPLATE, bake
from harness.browser import chromium, code_server_login
from harness.podman import build, podman, standin_base_image
from harness.processes import free_port, run, wait_for_http

IMAGE = "localhost/template-test:code-server"
ARTIFACTS = TEMPLATE / "artifacts"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("code-server"))


@pytest.fixture(scope="module")
def image(project: Path) -> str:
    """The `code-server` stage, CPU variant."""
    build(project, "code-server", IMAGE)
    return IMAGE


def request(port: int, method: str, path: str, body: dict | None = None, cookie: str = ""):
    """One request to 127.0.0.1:port without following redirects; (status, headers, text)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    result = response.status, dict(response.getheaders()), response.read().decode()
    connection.close()
    return result


def env_file(env: dict[str, str]) -> Path:
    """A private --env-file, as the README makes it: values never on a command line."""
    directory = Path(tempfile.mkdtemp(prefix="code-server-env-"))
    path = directory / "code-server.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return path


def start_code_server(env: dict[str, str], network: str = "") -> tuple[str, int]:
    """Run the code-server image as the README says (127.0.0.1 only); wait for /healthz.

    With ``network="host"`` it shares the host's network and is left to its default.
    """
    port = free_port()
    if network == "host":
        options = ["--network", "host", "-e", f"PORT={port}"]
    else:
        options = ["-p", f"127.0.0.1:{port}:8080", "-e", "CODE_SERVER_LISTEN=all"]
    name = podman("run", "-d", "--env-file", env_file(env), *options, IMAGE).stdout.strip()

    def running() -> bool:
        return podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"

    if wait_for_http(port, "/healthz", alive=running):  # bounded: 600 asks, 0.5 s apart
        return name, port
    logs = podman("logs", name, check=False)
    podman("rm", "-f", name, check=False)
    raise AssertionError(f"code-server did not answer /healthz\n{logs.stdout}{logs.stderr}")


@pytest.fixture(scope="module")
def code_server(image: str):
    password = "correct horse battery staple"
    name, port = start_code_server({"PASSWORD": password})
    yield name, port, password
    podman("rm", "-f", name, check=False)


def login(port: int, password: str):
    return request(port, "POST", "/login", {"password": password, "base": ".", "href": ""})


def test_code_server_is_published_on_localhost_only(code_server) -> None:
    name, port, _ = code_server
    assert podman("port", name).stdout.split() == ["8080/tcp", "->", f"127.0.0.1:{port}"]


def test_code_server_runs_under_an_init(code_server) -> None:
    name, _, _ = code_server
    assert podman("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"


def test_code_server_healthz(code_server) -> None:
    status, _, text = request(code_server[1], "GET", "/healthz")
    assert status == 200 and "status" in json.loads(text)


def test_code_server_sends_strangers_to_login(code_server) -> None:
    status, headers, _ = request(code_server[1], "GET", "/")
    assert status == 302 and headers["Location"].endswith("/login")


def test_code_server_refuses_a_wrong_password(code_server) -> None:
    status, headers, text = login(code_server[1], "wrong password")
    assert status == 200 and "Set-Cookie" not in headers
    assert "Incorrect password" in text


def test_code_server_accepts_the_password_and_opens_the_editor(code_server) -> None:
    """Log in with headless Chromium and keep a screenshot of the editor."""
    _, port, password = code_server
    status, headers, _ = login(port, password)
    assert status == 302 and "code-server-session=" in headers["Set-Cookie"]

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "code-server.png"
    with chromium() as browser:
        page = code_server_login(browser, port, password)
        explorer = page.wait_for_selector(".explorer-folders-view", timeout=180_000)
        page.wait_for_selector(".explorer-folders-view >> text=pyproject.toml", timeout=60_000)
        page.screenshot(path=screenshot)
        assert "pyproject.toml" in explorer.inner_text()
    print(f"screenshot: {screenshot}")


def test_code_server_prints_its_generated_password_and_stops_cleanly(image) -> None:
    name, port = start_code_server({})
    try:
        logs = podman("logs", name).stdout
        password = re.search(r"code-server password: (\S+)", logs)[1]
        assert login(port, password)[0] == 302
        podman("stop", "-t", "30", name)
        # tini passes SIGTERM on: code-server exits by itself (137 would be a SIGKILL)
        assert podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        podman("rm", "-f", name, check=False)


def test_the_password_is_on_no_command_line(code_server) -> None:
    """In the container and on the host: every process's command line is free of it."""
    name, _, password = code_server
    script = 'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/$0"; echo; done'
    inside = podman("exec", name, "sh", "-c", script, "cmdline").stdout
    assert "code-server" in inside and password not in inside
    host = run(["ps", "-eo", "args"]).stdout
    assert password not in host
    # The scan would see it: it is in code-server's environment, readable by its user only.
    assert f"PASSWORD={password}" in podman("exec", name, "sh", "-c", script, "environ").stdout


def listening_addresses(port: int) -> list[str]:
    """Addresses with a TCP socket listening on ``port`` in this network namespace."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.append(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_code_server_listens_on_loopback_when_sharing_the_host_network(image) -> None:
    """As under Apptainer (host networking by default): only 127.0.0.1 of the host."""
    name, port = start_code_server({"PASSWORD": "x" * 20}, network="host")
    try:
        assert listening_addresses(port) == ["127.0.0.1"]
    finally:
        podman("rm", "-f", name, check=False)


# Network interfaces made in a new network namespace (ip, as root), and whether
# CODE_SERVER_LISTEN=all must be refused there: a host's, or a container's own network.
INTERFACES = {
    "eth0 ifb0 ifb1 (a host with no bridge)": (
        "ip tuntap add eth0 mode tap; ip link add ifb0 type ifb; ip link add ifb1 type ifb",
        True,
    ),
    "eth0 eth1 (a host with two cards)": (
        "ip tuntap add eth0 mode tap; ip tuntap add eth1 mode tap",
        True,
    ),
    # A network card cannot be made in a namespace: /sys/class/net shows the links of a
    # host whose only card is eth0 (this machine's card, a virtio one on the PCI bus).
    "eth0 alone, a network card (a host with one card)": (
        "mount -t tmpfs cards /sys/class/net && cd /sys/class/net"
        " && ln -s ../../devices/virtual/net/lo lo"
        " && ln -s ../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0 eth0",
        True,
    ),
    "eth0 (a container's own network)": ("ip tuntap add eth0 mode tap", False),
    "tap0 (rootless podman's own network)": ("ip tuntap add tap0 mode tap", False),
}


@pytest.mark.parametrize("interfaces", INTERFACES)
def test_listening_on_all_is_refused_where_the_network_is_a_hosts(project, tmp_path, interfaces):
    """start-code-server.sh in a network namespace with these interfaces (and its own /sys,
    which shows them). Refused: exit 2 before code-server starts; accepted: it starts (a
    stand-in that prints its arguments) on 0.0.0.0."""
    make, refused = INTERFACES[interfaces]
    (tmp_path / "code-server").write_text('#!/bin/sh\necho "code-server $*"\n')
    (tmp_path / "code-server").chmod(0o755)
    script = project / "docker" / "start-code-server.sh"
    inside = f"mount -t sysfs sysfs /sys && {make} && sh {script}"
    env = {
        "CODE_SERVER_LISTEN": "all",
        "PASSWORD": "x" * 20,
        "PATH": f"{tmp_path}:/usr/sbin:/usr/bin:/bin",
    }
    done = run(["unshare", "--net", "--mount", "sh", "-c", inside], env=env, check=False)
    if refused:
        assert done.returncode == 2 and "CODE_SERVER_LISTEN=all refused" in done.stderr, done
        assert "code-server --bind-addr" not in done.stdout
    else:
        assert done.returncode == 0, done.stderr
        assert "code-server --bind-addr 0.0.0.0:8080 --auth password" in done.stdout


@pytest.mark.parametrize("network", ["bridge", "host"])
def test_the_network_card_tells_a_hosts_network_from_a_containers_own(project, tmp_path, network):
    """Real podman runs of start-code-server.sh (in the stand-in base image, with a stand-in
    code-server that prints its arguments): on podman's own network (eth0 a veth) it listens
    on 0.0.0.0; on the host's it is refused, naming the host's card (a PCI device) or, while
    another container runs, the bridge's veth (the namespace test above isolates the card)."""
    (tmp_path / "code-server").write_text('#!/bin/sh\necho "code-server $*"\n')
    (tmp_path / "code-server").chmod(0o755)
    done = podman(
        *["run", "--rm", "--network", network, "-v", f"{tmp_path}:/stand-in:ro"],
        *["-v", f"{project / 'docker'}:/scripts:ro", "-e", "PATH=/stand-in:/usr/bin:/bin"],
        *["-e", "CODE_SERVER_LISTEN=all", "-e", "PASSWORD=" + "x" * 20],
        *[standin_base_image("3.12"), "sh", "/scripts/start-code-server.sh"],
        check=False,
    )
    if network == "bridge":
        assert "code-server --bind-addr 0.0.0.0:8080" in done.stdout, done.stderr
    else:  # the card, or a bridge's veth when another test's container is running
        assert done.returncode == 2, done
        refused = "CODE_SERVER_LISTEN=all refused: this container sees the host's network"
        assert refused in done.stderr, done.stderr


@pytest.mark.parametrize(
    "options",
    [
        ["-e", "APPTAINER_CONTAINER=/home/abc1234/project.sif"],  # Apptainer sets this
        ["--network", "host"],  # the host's bridges (podman0, veth...) are visible
    ],
    ids=["apptainer", "network-host"],
)
def test_listening_on_all_interfaces_is_refused_on_the_host_network(
    code_server, options: list[str]
) -> None:
    # (code_server runs a container on podman's bridge, so the host has one to see)
    refused = podman(
        "run",
        "--rm",
        "-e",
        "CODE_SERVER_LISTEN=all",
        *options,
        IMAGE,
        check=False,
    )
    assert refused.returncode == 2
    assert "CODE_SERVER_LISTEN=all refused" in refused.stderr
