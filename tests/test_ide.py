"""The browser IDE on a Quest node (`slurm/ide.sh`), reached through SSH (`nox -s ide`).

As on Quest: an unprivileged student submits the job on mini-Quest; it runs code-server
and TensorBoard inside the project's `code-server` image, converted by Charliecloud
(Apptainer's stand-in), on Unix sockets. The student then runs the ssh command the job's
log prints, exactly as printed, through a real sshd on this machine that plays both the
login node and the compute node (the student's ~/.ssh/config sends their names to it).
Headless Chromium logs in through that tunnel, opens a file and a terminal, and runs the
GPU check there. Another user must not reach the sockets; no TCP port may listen; scancel
and the time limit must leave nothing behind; the password must show nowhere.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness.bake import DEFAULTS, TEMPLATE
from harness.browser import chromium, code_server_login
from harness.miniquest import Project
from harness.podman import build, ch_convert
from harness.processes import free_port, run, unprivileged_user, wait_for_http

IMAGE = "localhost/hpc-test:ide"  # this module's tag
ARTIFACTS = TEMPLATE / "artifacts"  # the screenshot of the editor and its terminal
# The student who submits (conftest.py: `student`, `project`; SSH lets it in with a key),
# and a classmate on the same node.
STUDENT, STUDENT_LOGIN, OTHER = "idestudent", True, "ideother"
SSHD = "/usr/sbin/sshd"
# The names the printed command uses: Quest's login host and mini-Quest's nodes.
HOSTS = ["quest.northwestern.edu", "mq-gpu1", "mq-gpu2", "mq-cpu"]


def as_user(user: str, *cmd: str) -> list[str]:
    """``cmd`` run as ``user`` with its own HOME (what a login gives)."""
    home = Path("~" + user).expanduser()
    return ["runuser", "-u", user, "--", "env", f"HOME={home}", f"USER={user}", *cmd]


# --------------------------------------------------------------------------
# The project, its code-server image as Charliecloud runs it, the users, an sshd.


@pytest.fixture(scope="module")
def converted(project: Path, workdir: Path) -> Path:
    """The `code-server` target (CPU TensorFlow), exported by ch-convert to a directory."""
    build(project, "code-server", IMAGE, python=DEFAULTS["python_version"][0])
    return ch_convert(IMAGE, workdir / "image")


@pytest.fixture(scope="module")
def sshd(workdir: Path, student):
    """A real OpenSSH server on a port of 127.0.0.1: keys only, the student only.
    Yields (port, host public key)."""
    folder = workdir / "sshd"
    (folder / "keys").mkdir(parents=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", folder / "host_key"])
    port = free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'keys'}/%u\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        # StrictModes checks every folder up to /, and /tmp is writable by all.
        f"StrictModes no\nAllowUsers {STUDENT}\n"
        # OpenSSH's defaults, written out: what the tunnel needs of a Quest node.
        "AllowTcpForwarding yes\nAllowStreamLocalForwarding yes\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", folder / "sshd_config"],
                              stderr=(folder / "sshd.log").open("w"))  # fmt: skip
    try:
        started = wait_for_port(port, alive=lambda: server.poll() is None)
        assert started, (folder / "sshd.log").read_text()
        yield port, (folder / "host_key.pub").read_text().split()[:2], folder
    finally:
        server.terminate()
        server.wait()


def wait_for_port(port: int, alive, attempts: int = 200) -> bool:
    """Whether 127.0.0.1:port accepts a connection within ``attempts`` tries (0.1 s apart)."""
    for _ in range(attempts):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        if not alive():
            return False
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def laptop(sshd, student):
    """The student's SSH client set up as on a laptop: a key the server knows, the server's
    key known, and (in ~/.ssh/config) Quest's login host and the nodes sent to the sshd."""
    port, (key_type, host_key), folder = sshd
    dot_ssh = Path(student.pw_dir) / ".ssh"
    shutil.rmtree(dot_ssh, ignore_errors=True)
    run(as_user(STUDENT, "mkdir", "-m", "700", dot_ssh))
    key = dot_ssh / "id_ed25519"
    run(as_user(STUDENT, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key))
    shutil.copy(f"{key}.pub", folder / "keys" / STUDENT)
    known = "".join(f"[{host}]:{port} {key_type} {host_key}\n" for host in [*HOSTS, "127.0.0.1"])
    config = (f"Host {' '.join(HOSTS)}\n  HostName 127.0.0.1\n  Port {port}\n"
              "  StrictHostKeyChecking yes\n  BatchMode yes\n")  # fmt: skip
    for name, text in (("known_hosts", known), ("config", config)):
        (dot_ssh / name).write_text(text)
        run(["chown", f"{student.pw_uid}:{student.pw_gid}", dot_ssh / name])
        (dot_ssh / name).chmod(0o600)
    return dot_ssh


# --------------------------------------------------------------------------
# A session: the job, its log, the tunnel as printed.


def submit(cluster, project: Path, converted: Path, *options: str, **settings: str):
    """Submit slurm/ide.sh as the student; return (job id, the laptop ports it will print)."""
    ports = {"IDE_PORT": str(free_port()), "IDE_TENSORBOARD_PORT": str(free_port())}
    export = {"PROJECT_CONTAINER": str(converted), "PROJECT_CONTAINER_RUNTIME": "ch-run", **ports,
              **settings}  # fmt: skip
    job = Project(project, export, user=STUDENT).submit(cluster, "ide", options=options)
    return job, {k: int(v) for k, v in ports.items()}


def log(project: Path, job: int) -> str:
    path = project / "logs" / f"ide-{job}.out"
    return path.read_text() if path.exists() else ""


def tunnel_command(project: Path, job: int) -> str:
    """The one line of the job's log that starts with `ssh `."""
    [line] = [x for x in log(project, job).splitlines() if x.startswith("ssh ")]
    return line


def wait_until_ready(cluster, project: Path, job: int) -> str:
    ready = cluster.wait(job, until=lambda: "=== VS Code is ready" in log(project, job))
    assert ready, f"the IDE job ended before it was ready:\n{log(project, job)}"
    return tunnel_command(project, job)


def run_dir(command: str) -> Path:
    """The job's private folder on the node, from the socket the command forwards to."""
    return Path(re.search(r"-L \d+:(/\S+)/code-server\.sock", command)[1])


def job_processes(cluster, job: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process of ``job`` of ``cluster`` (other Slurms on
    this machine have jobs of the same number: their SLURM_CONF differs)."""
    marks = {f"SLURM_JOB_ID={job}".encode(), f"SLURM_CONF={cluster.dir}/slurm.conf".encode()}
    found = []
    for proc in Path("/proc").iterdir():
        try:
            environ = set((proc / "environ").read_bytes().split(b"\0"))
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            continue
        if marks <= environ and state != "Z":
            found.append((int(proc.name), cmdline))
    return found


@pytest.fixture(scope="module")
def session(cluster, project, converted, laptop):
    """A running IDE job and the student's tunnel to it, started as the log says."""
    job, ports = submit(cluster, project, converted)
    command = wait_until_ready(cluster, project, job)
    tunnel = subprocess.Popen(as_user(STUDENT, "bash", "-c", command),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    assert wait_for_port(ports["IDE_PORT"], alive=lambda: tunnel.poll() is None), (
        tunnel.communicate()[0] if tunnel.poll() is not None else "")  # fmt: skip
    password_file = Path(f"~{STUDENT}/.config/code-server/ide-password").expanduser()
    yield {"job": job, "ports": ports, "command": command, "tunnel": tunnel,
           "password": password_file.read_text().strip()}  # fmt: skip
    tunnel.send_signal(signal.SIGTERM)
    tunnel.wait()
    run(["scancel", str(job)], env=cluster.env, check=False)


def test_the_log_prints_one_tunnel_command(session, project):
    command, ports = session["command"], session["ports"]
    words = shlex.split(command)
    assert words[:2] == ["ssh", "-N"]
    assert f"{ports['IDE_PORT']}:{run_dir(command)}/code-server.sock" in words
    assert f"{ports['IDE_TENSORBOARD_PORT']}:{run_dir(command)}/tensorboard.sock" in words
    assert words[words.index("-J") + 1] == f"{STUDENT}@quest.northwestern.edu"
    assert re.fullmatch(rf"{STUDENT}@mq-gpu\d", words[-1]), words
    assert f"http://localhost:{ports['IDE_PORT']}" in log(project, session["job"])


def test_vscode_through_the_tunnel_opens_a_file_and_runs_the_gpu_check(session, project):
    """Log in, open pyproject.toml, open a terminal and run the GPU check in it."""
    package = project.name.replace("-", "_")
    # The terminal draws with WebGL where it can (onto a canvas); drawn as text in the page,
    # the test can read it back. (A setting of the session's own, as a student's would be.)
    settings = run_dir(session["command"]) / "vscode" / "User" / "settings.json"
    text = json.dumps({"terminal.integrated.gpuAcceleration": "off"})
    run(as_user(STUDENT, "sh", "-c", 'mkdir -p "${1%/*}" && printf %s "$2" > "$1"', "-",
                str(settings), text))  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = code_server_login(browser, session["ports"]["IDE_PORT"], session["password"])
        try:
            page.wait_for_selector(".explorer-folders-view >> text=pyproject.toml", timeout=180_000)
            page.keyboard.press("Control+P")  # Quick Open
            page.wait_for_selector(".quick-input-widget input", timeout=60_000)
            page.keyboard.type("pyproject.toml")
            page.wait_for_selector(".quick-input-list >> text=pyproject.toml", timeout=60_000)
            page.keyboard.press("Enter")
            page.wait_for_selector(".view-lines >> text=[project]", timeout=60_000)
            page.keyboard.press("Control+Backquote")  # View: Toggle Terminal
            terminal = page.wait_for_selector(".terminal-wrapper .xterm", timeout=120_000)
            terminal.click()
            page.keyboard.type(f"python -m {package} gpu-check; echo gpu-check exit=$?\n")
            page.wait_for_selector(".xterm-rows >> text=gpu-check exit=0", timeout=300_000)
            shown = page.inner_text(".xterm-rows")
        finally:
            page.screenshot(path=ARTIFACTS / "ide-terminal.png")
    assert "Num GPUs Available: 0" in shown, shown  # TensorFlow ran, in the job, on the node
    assert re.search(r"CUDA_VISIBLE_DEVICES\S*\s*\d", shown), shown  # the job's GPU (a fake)


def test_tensorboard_through_the_tunnel(session):
    url = f"http://127.0.0.1:{session['ports']['IDE_TENSORBOARD_PORT']}/data/environment"
    with urllib.request.urlopen(url, timeout=60) as answer:
        assert json.load(answer)["data_location"] == "logs/tensorboard"


def test_another_user_cannot_connect_to_the_sockets(session):
    unprivileged_user(OTHER)
    folder = run_dir(session["command"])
    for name in ("code-server.sock", "tensorboard.sock"):
        path = folder / name
        assert path.is_socket() and path.stat().st_mode & 0o777 == 0o600, path
        probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                 "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n"
                 "    print('permission denied')\nelse:\n    print('connected')\n")  # fmt: skip
        done = run(as_user(OTHER, "python3", "-c", probe, str(path)))
        assert done.stdout.strip() == "permission denied"
    assert folder.stat().st_mode & 0o777 == 0o700


def test_no_tcp_port_listens_for_the_ide(session, cluster):
    """`ss`: the job's processes listen on their Unix sockets and on no TCP port."""
    pids = {pid for pid, _ in job_processes(cluster, session["job"])}
    assert any(
        "bin/code-server" in cmdline for _, cmdline in job_processes(cluster, session["job"])
    )
    tcp = run(["ss", "-H", "-l", "-t", "-n", "-p"]).stdout
    unix = run(["ss", "-H", "-l", "-x", "-p"]).stdout
    owners = lambda line: {int(p) for p in re.findall(r"pid=(\d+)", line)}  # noqa: E731
    assert not [line for line in tcp.splitlines() if owners(line) & pids], tcp
    folder = run_dir(session["command"])
    for name in ("code-server.sock", "tensorboard.sock"):
        [line] = [x for x in unix.splitlines() if f"{folder}/{name} " in x]
        assert owners(line) & pids, line  # listened on by the job itself


def test_the_password_is_on_no_command_line_and_in_no_log(session, project, cluster):
    password = session["password"]
    assert len(password) >= 20
    assert password not in run(["ps", "-eo", "args"]).stdout
    assert all(password not in cmdline for _, cmdline in job_processes(cluster, session["job"]))
    logs = [*project.glob("logs/*.out"), *(cluster.dir / "log").iterdir()]
    assert project / "logs" / f"ide-{session['job']}.out" in logs
    assert not [path for path in logs if password in path.read_text(errors="replace")]
    file = Path(f"~{STUDENT}/.config/code-server/ide-password").expanduser()
    assert file.stat().st_mode & 0o777 == 0o600


def test_a_second_session_says_where_the_first_runs(session, cluster, project, converted):
    job, _ = submit(cluster, project, converted)
    cluster.wait(job)
    text = log(project, job)
    assert f"your IDE job {session['job']} is already running on mq-gpu" in text, text
    assert f"scancel {session['job']}" in text and f"ide-{session['job']}.out" in text
    assert cluster.final(job)["JobState"] == "FAILED"


def assert_nothing_left(cluster, job: int, folder: Path, student) -> None:
    assert not folder.exists(), list(folder.rglob("*"))
    assert job_processes(cluster, job) == []
    # (the pattern matches code-server itself, not the tunnel's ssh that names its socket)
    left = run(["pgrep", "-u", str(student.pw_uid), "-f", "bin/code-server"], check=False)
    assert left.stdout.strip() == "", left.stdout


def test_scancel_leaves_no_socket_and_no_process(session, cluster, project, student):
    job, folder = session["job"], run_dir(session["command"])
    run(["scancel", str(job)], env=cluster.env)
    cluster.wait(job)
    assert cluster.final(job)["JobState"] == "CANCELLED"
    assert "removed (the sockets with it)" in log(project, job)
    assert_nothing_left(cluster, job, folder, student)


def test_the_time_limit_leaves_no_socket_and_no_process(cluster, project, converted, laptop,
                                                        student):  # fmt: skip
    # (after test_scancel...: one IDE at a time)
    job, _ = submit(cluster, project, converted, "--time=00:01:00")
    folder = run_dir(wait_until_ready(cluster, project, job))
    assert folder.exists()
    cluster.wait(job)
    assert cluster.final(job)["JobState"] == "TIMEOUT"
    assert "removed (the sockets with it)" in log(project, job)
    assert_nothing_left(cluster, job, folder, student)


def test_the_tcp_fallback_listens_on_the_nodes_loopback_only(cluster, project, converted,
                                                              laptop, student):  # fmt: skip
    """IDE_TUNNEL=tcp (where a node's sshd refuses socket forwarding): 127.0.0.1 ports of
    the node, reached by the printed command; the password still guards code-server."""
    job, ports = submit(cluster, project, converted, IDE_TUNNEL="tcp")
    command = wait_until_ready(cluster, project, job)
    words = shlex.split(command)
    forwards = [words[i + 1] for i, word in enumerate(words) if word == "-L"]
    assert [f.split(":")[:2] for f in forwards] == [
        [str(ports["IDE_PORT"]), "127.0.0.1"],
        [str(ports["IDE_TENSORBOARD_PORT"]), "127.0.0.1"],
    ]
    tunnel = subprocess.Popen(as_user(STUDENT, "bash", "-c", command))
    try:
        assert wait_for_http(ports["IDE_PORT"], "/login", alive=lambda: tunnel.poll() is None)
        assert wait_for_http(ports["IDE_TENSORBOARD_PORT"], "/data/environment")
        assert "oneDNN custom operations" not in log(project, job)  # the package's TensorBoard
        pids = {pid for pid, _ in job_processes(cluster, job)}
        listening = [line for line in run(["ss", "-H", "-l", "-t", "-n", "-p"]).stdout.splitlines()
                     if {int(p) for p in re.findall(r"pid=(\d+)", line)} & pids]  # fmt: skip
        assert len(listening) == 2, listening
        assert all(line.split()[3].startswith("127.0.0.1:") for line in listening), listening
    finally:
        tunnel.terminate()
        tunnel.wait()
        run(["scancel", str(job)], env=cluster.env)
    cluster.wait(job)
    assert not list(Path("/tmp").glob(f"ide-{job}.*"))


# --------------------------------------------------------------------------
# Refusals.


def test_refused_outside_slurm(project):
    done = run(as_user(STUDENT, "bash", "slurm/ide.sh"), cwd=project, check=False)
    assert done.returncode == 1
    assert "sbatch slurm/ide.sh" in done.stderr and "not here" in done.stderr


def test_a_password_file_others_can_read_is_refused(project, student):
    """Checked before anything starts (here outside Slurm, as if in a job: SLURM_JOB_ID)."""
    file = Path(student.pw_dir) / "shared-password"
    file.write_text("s3cret-but-shared\n")
    run(["chown", f"{student.pw_uid}:{student.pw_gid}", file])
    file.chmod(0o644)
    try:
        env = ["SLURM_JOB_ID=999999", f"SLURM_SUBMIT_DIR={project}", f"IDE_PASSWORD_FILE={file}"]
        done = run(as_user(STUDENT, *env, "bash", "slurm/ide.sh"), cwd=project, check=False)
    finally:
        file.unlink()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "must be yours and readable by you alone" in done.stderr
    assert f"chmod 600 {file}" in done.stderr
    assert "s3cret" not in done.stdout + done.stderr
