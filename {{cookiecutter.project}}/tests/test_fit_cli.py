"""``python -m <package> fit``: output, bad input, and a fit that survives a kill."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package }}.cli import main

PACKAGE = "{{ cookiecutter.package }}"


def fit(capsys, *args):
    """Run ``fit`` in this process; return (exit code, stdout, stderr)."""
    code = main(["fit", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("model", "extra", "steps"),
    [
        ("gaussian", [], 20),
        ("gaussian", ["--closed-form"], 0),
        ("box", [], 0),  # always closed form
        ("gmm", ["--components", "4"], 20),
    ],
)
def test_json_and_plot(tmp_path, capsys, model, extra, steps):
    png = tmp_path / "plots" / "fit.png"
    args = ["--model", model, "--steps", "20", "--n", "500", "--json", "--plot", str(png)]
    code, out, _ = fit(capsys, *args, *extra)
    assert code == 0
    report = json.loads(out)  # stdout is exactly one JSON object
    assert report["model"] == model
    assert np.isfinite(report["nll"]) and report["n"] == 500
    assert report["steps"] == steps
    expected = {
        "gaussian": {"loc", "scale_tril"},
        "box": {"low", "high"},
        "gmm": {"mixture_weights", "loc", "scale_tril"},
    }[model]
    assert expected <= set(report["params"])
    if model == "gmm":
        assert len(report["params"]["mixture_weights"]) == 4
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_readable_report_and_own_data(tmp_path, capsys):
    points = np.random.default_rng(0).normal(size=(300, 3))
    csv = tmp_path / "points.csv"
    np.savetxt(csv, points, delimiter=",", header="a,b,c", comments="")
    code, out, _ = fit(capsys, "--model", "gaussian", "--data", str(csv), "--steps", "50")
    assert code == 0
    assert "300 points in 3-D" in out and "nats per point" in out

    npy = tmp_path / "points.npy"
    np.save(npy, points)
    code, out, _ = fit(capsys, "--model", "gaussian", "--data", str(npy), "--closed-form", "--json")
    assert code == 0
    expected = points.mean(axis=0)
    np.testing.assert_allclose(json.loads(out)["params"]["loc"], expected, atol=1e-5)


def npy_bytes(array, shape=None) -> bytes:
    """``array`` as numpy.save writes it; with ``shape``, a header that claims that shape."""
    file = io.BytesIO()
    if shape is None:
        np.save(file, array)
    else:
        header = {"descr": "<f8", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(file, header)
        file.write(np.asarray(array, dtype="<f8").tobytes())
    return file.getvalue()


BAD_FILES = {  # name: (bytes, a part of the message); every message names the file
    "nan.csv": (b"1,2\n3,nan\n", "line 2 contains NaN or infinity"),
    "ragged.csv": (b"x,y\n1,2\n3\n", "line 3 has 1 values, line 2 has 2"),
    "words.csv": (b"1,2\n3,x\n", "line 2 is not all numbers"),
    "semicolons.csv": (b"1;2\n3;4\n", "line 1 is not all numbers: '1;2'; separate values"),
    # A first row with a typo is data with an error, not a header to drop.
    "typo.csv": (b"1.2.3,4\n1,2\n3,5\n4,1\n", "line 1 is not all numbers: '1.2.3,4'"),
    "letter-o.csv": (b"O.5,4\n1,2\n3,5\n4,1\n", "line 1 is not all numbers: 'O.5,4'"),
    "complex.npy": (npy_bytes(np.ones((5, 2)) * (1 + 2j)), "holds complex numbers"),
    "text.npy": (npy_bytes(np.array([["1", "2"]])), "holds text, not real numbers"),
    # A damaged header claiming 10^12 rows: refused before any memory is set aside.
    "huge.npy": (npy_bytes(np.zeros((4, 2)), shape=(10**12, 2)), "the file is damaged"),
    "csv.npy": (b"1,2\n3,4\n", "not a .npy file (it is text, perhaps a CSV file"),
    "utf32.csv": ("x,y\n1,2\n".encode("utf-32"), "the file is UTF-32 text"),
    # float32 squares them into infinity: the file is named, not the learning rate.
    "huge-values.csv": (b"1e20,0\n0,1e20\n2e20,1\n1,3e20\n", "a fit takes values below 1e+18"),
    "exactly-1e30.csv": (b"1e30,0\n0,1\n2,3\n1,5\n", "a fit takes values below 1e+18"),
    "header-only.csv": (b"x,y\n", "no points"),
    "empty.csv": (b"", "the file is empty (0 bytes)"),
    "empty.npy": (b"", "the file is empty (0 bytes)"),
    "truncated.npy": (b"\x93NUMPY\x01\x00", "not a readable .npy array"),
    "latin1.csv": (
        "x,y\n1,2\n3,4 # caf\u00e9\n".encode("latin-1"),
        "line 3: byte 0xe9 is not UTF-8",
    ),
    "utf16.csv": ("x,y\n1,2\n".encode("utf-16"), "UTF-16"),
    "points.txt": (b"1,2\n", "use .npy or .csv"),
    # No maximum-likelihood estimate: refused before fitting, closed form or not.
    "constant.csv": (b"1,5\n2,5\n3,5\n", "same value on axis 1 (column 2, value 5)"),
    "line.csv": (b"1,2\n2,4\n3,6\n4,8\n", "lie on a line or plane"),
    "few.csv": (b"1,2\n3,5\n", "2 point(s) in 2-D"),
}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--components", "0"], "must be 1 or more"),
        (["--lr", "0"], "must be a finite number above 0"),
        (["--lr", "-0.1"], "must be a finite number above 0"),
        (["--lr", "nan"], "must be a finite number above 0"),
        (["--steps", "ten"], "is not a whole number"),
        (["--batch-size", "0"], "must be 1 or more"),
        (["--seed", "-3"], "must be between 0"),
        (["--model", "circle"], "invalid choice"),
    ],
)
def test_bad_options_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--model", "gmm", *args])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "box", "--components", "3"], "--components applies only to --model gmm"),
        (["--model", "gmm", "--closed-form"], "no closed-form MLE"),
        (["--model", "gmm", "--n", "2", "--components", "3"], "2 points cannot fit 3"),
        (["--model", "box", "--plot", "fit.nothing"], "ending in .png"),
        (["--model", "box", "--data", "missing.csv"], "no such file"),
        (["--model", "box", "--data", "x.csv", "--n", "10"], "cannot be used with --data"),
        *([["--model", "gaussian", "--data", name], f"{name}: "] for name in BAD_FILES),
        *(
            [["--model", "gaussian", "--data", name], message]
            for name, (_, message) in BAD_FILES.items()
        ),
        # Gradient descent too: without the check it "converges" to a width near 0.
        *(
            [["--model", model, "--data", "constant.csv", *extra], "no maximum-likelihood"]
            for model, extra in [
                ("gaussian", []),
                ("gaussian", ["--closed-form"]),
                ("box", []),
                ("gmm", ["--components", "2"]),
            ]
        ),
        (["--model", "gmm", "--data", "line.csv", "--components", "2"], "lie on a line"),
        (["--model", "gmm", "--data", "twice.csv", "--components", "3"], "3 distinct point"),
    ],
)
def test_bad_input_exits_2_with_the_reason(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    for name, (data, _) in BAD_FILES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "twice.csv").write_text("0,0\n1,0\n0,1\n" * 2)  # 3 points, each twice
    (tmp_path / "x.csv").write_text("1,2\n3,4\n")
    code, out, err = fit(capsys, *args)
    assert code == 2
    assert message in err and out == ""
    assert list(tmp_path.glob("*.png")) == []


def test_a_byte_order_mark_is_read_not_taken_for_a_header(tmp_path, capsys):
    """Excel's "CSV UTF-8" starts with a BOM: the first row is data, not a header."""
    points = np.random.default_rng(1).normal(size=(200, 2))
    csv = tmp_path / "excel.csv"
    text = "\r\n".join(",".join(f"{v:.6f}" for v in row) for row in points) + "\r\n"
    csv.write_bytes(b"\xef\xbb\xbf" + text.encode())
    code, out, _ = fit(capsys, "--model", "gaussian", "--data", str(csv), "--closed-form", "--json")
    assert code == 0
    assert json.loads(out)["n"] == 200  # all 200, the first row included


def test_npy_files_of_every_layout_load(tmp_path, capsys):
    """The header checks take every array numpy.save writes: Fortran order, whole numbers."""
    points = np.random.default_rng(2).normal(size=(100, 2))
    layouts = {"f.npy": np.asfortranarray(points), "i.npy": (points * 100).astype(int)}
    for name, array in layouts.items():
        np.save(tmp_path / name, array)
        code, out, _ = fit(capsys, "--model", "gaussian", "--data", str(tmp_path / name), "--json")
        assert code == 0
        np.testing.assert_allclose(json.loads(out)["params"]["loc"], array.mean(axis=0), rtol=0.1)


def test_unreadable_file_is_named_not_a_traceback(tmp_path):
    """Another user's file (no read permission): a message naming it, not a PermissionError."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # others may look in, not read the file
        data = Path(folder) / "theirs.csv"
        data.write_text("1,2\n3,5\n4,1\n")
        data.chmod(0)
        # Root reads every file: import as root, then become nobody (65534) to read it.
        drop = "os.setgid(65534); os.setuid(65534)" if os.geteuid() == 0 else ""
        read = f"load_points({str(data)!r})"
        code = f"import os\nfrom {PACKAGE}.points import load_points\n{drop}\n{read}"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert f"ValueError: {data}: cannot read the file (Permission denied)" in done.stderr


def test_checkpoint_of_another_fit_is_refused(tmp_path, capsys):
    common = ["--model", "gmm", "--steps", "20", "--checkpoint-dir", str(tmp_path / "ck")]
    assert fit(capsys, *common)[0] == 0
    code, _, err = fit(capsys, *common, "--lr", "0.01")
    assert code == 2 and "different fit (differs in: learning_rate)" in err
    assert (tmp_path / "ck" / "checkpoint").exists()  # nothing lost


# -- kill and resume: real signals ---------------------------------------------------
FIT = ["--model", "gmm", "--n", "1000", "--steps", "1600", "--batch-size", "64"]
FIT += ["--lr", "0.02", "--seed", "3", "--checkpoint-every", "400", "--json"]
FIRST_CHECKPOINT = "ckpt-400.index"


@pytest.fixture(scope="module")
def uninterrupted():
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["fit", "--no-progress", *FIT]) == 0
    return json.loads(out.getvalue())


def stopped_at(stderr: str, signal_name: str, checkpoints) -> int:
    """Check the message of an interrupted fit; return the step it stopped at."""
    line = stderr.strip().splitlines()[-1]
    assert f"{signal_name}: interrupted at step" in line
    assert f"checkpoint saved to {checkpoints}; rerun the same command to resume" in line
    step = int(line.split("interrupted at step ")[1].split(";")[0])
    assert 400 <= step < 1600  # signalled after the first checkpoint, before the end
    return step


def assert_resume_matches(capsys, checkpoints, step, uninterrupted):
    code, out, err = fit(capsys, *FIT, "--checkpoint-dir", str(checkpoints))
    assert code == 0, err
    resumed = json.loads(out)
    assert resumed["resumed_from_step"] == step
    assert resumed["steps"] == uninterrupted["steps"] == 1600
    for name, value in uninterrupted["params"].items():
        np.testing.assert_allclose(resumed["params"][name], value, rtol=1e-5, atol=1e-6)
    assert resumed["nll"] == pytest.approx(uninterrupted["nll"], abs=1e-6)


@pytest.mark.slow
def test_sigterm_stops_the_process_with_75_and_it_resumes(tmp_path, capsys, uninterrupted):
    checkpoints = tmp_path / "checkpoints"
    process = subprocess.Popen(
        [sys.executable, "-m", PACKAGE, "fit", *FIT, "--checkpoint-dir", str(checkpoints)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not (checkpoints / FIRST_CHECKPOINT).exists() and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate()
    assert process.returncode == 75, err
    assert out == ""  # no half-finished JSON
    step = stopped_at(err, "SIGTERM", checkpoints)
    assert_resume_matches(capsys, checkpoints, step, uninterrupted)


@pytest.mark.slow
def test_sigusr1_stops_the_fit_and_it_resumes(tmp_path, capsys, uninterrupted):
    """SIGUSR1 is what ``#SBATCH --signal=B:USR1@60`` sends before the time limit."""
    checkpoints = tmp_path / "checkpoints"
    finished = threading.Event()

    def signal_when_under_way():
        while not (checkpoints / FIRST_CHECKPOINT).exists():
            if finished.wait(0.01):
                return
        os.kill(os.getpid(), signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, lambda *_: None)  # a late signal is harmless
    try:
        watcher = threading.Thread(target=signal_when_under_way, daemon=True)
        watcher.start()
        code, out, err = fit(capsys, *FIT, "--checkpoint-dir", str(checkpoints))
        finished.set()
        watcher.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert code == 75 and out == ""
    step = stopped_at(err, "SIGUSR1", checkpoints)
    assert_resume_matches(capsys, checkpoints, step, uninterrupted)


def test_finished_fit_rerun_does_no_more_steps(tmp_path, capsys):
    args = ["--model", "gaussian", "--steps", "30", "--json", "--checkpoint-dir", str(tmp_path)]
    first = json.loads(fit(capsys, *args)[1])
    again = json.loads(fit(capsys, *args)[1])
    assert again["resumed_from_step"] == 30
    assert again["params"] == first["params"]


def test_help_has_no_restructuredtext_markup(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "--checkpoint-dir" in out and "``" not in out


def test_the_report_says_which_nll_the_progress_display_showed(capsys):
    args = ["--model", "gmm", "--n", "500", "--steps", "30", "--batch-size", "100"]
    code, out, _ = fit(capsys, *args)
    assert code == 0
    assert "nats per point (mean negative log-likelihood of all points, after the last step)" in out
    assert "on the last step's batch, before that step (the progress display's number)" in out
