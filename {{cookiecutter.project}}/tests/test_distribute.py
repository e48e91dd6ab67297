"""The cluster of workers is derived correctly from Slurm's variables, GPUs or not."""

import json

import numpy as np
import pytest

from {{ cookiecutter.package }}.trainer import slurm as distribute
from {{ cookiecutter.package }}.trainer.slurm import SlurmEnvError


@pytest.mark.parametrize(
    ("nodelist", "hosts"),
    [
        ("qgpu01", ["qgpu01"]),
        ("qgpu[01-03]", ["qgpu01", "qgpu02", "qgpu03"]),
        ("qgpu[08-10],qnode5", ["qgpu08", "qgpu09", "qgpu10", "qnode5"]),
        ("q[1,3-4]", ["q1", "q3", "q4"]),
        ("rack[1-2]-n[01-02]", ["rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"]),
        ("a[9-10].ib", ["a9.ib", "a10.ib"]),
    ],
)
def test_expand_nodelist(nodelist, hosts):
    assert distribute.expand_nodelist(nodelist) == hosts


@pytest.mark.parametrize("nodelist", ["", "q[01-03", "q01]", "q[3-1]", "q[a-b]", "bad host"])
def test_bad_nodelist_is_an_error(nodelist):
    with pytest.raises(SlurmEnvError):
        distribute.expand_nodelist(nodelist)


@pytest.mark.parametrize(
    ("spec", "counts"),
    [("1", [1]), ("2(x3)", [2, 2, 2]), ("2(x3),1", [2, 2, 2, 1]), ("4,2(x2)", [4, 2, 2])],
)
def test_expand_tasks_per_node(spec, counts):
    assert distribute.expand_tasks_per_node(spec) == counts


@pytest.mark.parametrize("spec", ["", "0", "2(3)", "x", "2(x)"])
def test_bad_tasks_per_node_is_an_error(spec):
    with pytest.raises(SlurmEnvError):
        distribute.expand_tasks_per_node(spec)


def step_env(**overrides):
    env = {
        "SLURM_JOB_ID": "1234",
        "SLURM_PROCID": "3",
        "SLURM_STEP_NUM_TASKS": "4",
        "SLURM_STEP_NODELIST": "qgpu[01-02]",
        "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
    }
    return {**env, **overrides}


def test_cluster_from_slurm_lists_every_task_in_rank_order():
    cluster = distribute.cluster_from_slurm(step_env())
    port = distribute.BASE_PORT + 234 * distribute.TASKS_PER_SLOT
    assert cluster.workers == [
        f"qgpu01:{port}",
        f"qgpu01:{port + 1}",
        f"qgpu02:{port + 2}",
        f"qgpu02:{port + 3}",
    ]
    assert cluster.index == 3
    assert not cluster.is_chief
    config = json.loads(cluster.tf_config())
    assert config["task"] == {"type": "worker", "index": 3}
    assert config["cluster"]["worker"] == cluster.workers


def test_no_gpu_variables_are_needed():
    # SlurmClusterResolver needs GPU counts; this derivation must not.
    env = step_env(SLURM_PROCID="0")
    assert not any("GPU" in name for name in env)
    assert distribute.cluster_from_slurm(env).is_chief


def test_two_jobs_on_one_node_get_different_ports():
    first = distribute.cluster_from_slurm(step_env(SLURM_JOB_ID="100"))
    second = distribute.cluster_from_slurm(step_env(SLURM_JOB_ID="101"))
    assert not set(first.workers) & set(second.workers)


def test_job_variables_are_used_outside_a_step():
    env = step_env(SLURM_PROCID="1")
    del env["SLURM_STEP_NODELIST"], env["SLURM_STEP_TASKS_PER_NODE"]
    env.update(SLURM_JOB_NODELIST="qnode7", SLURM_TASKS_PER_NODE="2")
    assert len(distribute.cluster_from_slurm(env).workers) == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SLURM_JOB_ID": ""}, "SLURM_JOB_ID is not set"),
        ({"SLURM_PROCID": "x"}, "not a whole number"),
        ({"SLURM_PROCID": "4"}, "only 4 tasks"),
        ({"SLURM_STEP_TASKS_PER_NODE": "2"}, "2 nodes"),
    ],
)
def test_bad_slurm_variables_name_the_problem(overrides, message):
    with pytest.raises(SlurmEnvError, match=message):
        distribute.cluster_from_slurm(step_env(**overrides))


def test_one_task_means_no_multi_worker():
    assert distribute.num_tasks({}) == 1
    assert distribute.num_tasks({"SLURM_NTASKS": "2"}) == 1  # the batch script is one process
    assert distribute.num_tasks(step_env()) == 4


def test_single_process_gets_a_local_strategy():
    from {{ cookiecutter.package }}.trainer.strategy import choose, tf

    strategy, is_chief = choose(env={})
    assert is_chief
    assert not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def test_nodes_on_one_machine_get_different_ports():
    # mini-Quest's nodes are one machine: Slurm's NodeAddr is 127.0.0.1 for both.
    cluster = distribute.cluster_from_slurm(step_env(), resolve=lambda node: "127.0.0.1")
    assert len(set(cluster.workers)) == 4
    assert {w.split(":")[0] for w in cluster.workers} == {"127.0.0.1"}


def test_node_address_comes_from_slurm(tmp_path, monkeypatch):
    scontrol = tmp_path / "scontrol"
    scontrol.write_text("#!/bin/sh\necho NodeName=$4 NodeAddr=10.0.0.7 NodeHostName=$4\n")
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path), prepend=":")
    assert distribute.node_address("qgpu01") == "10.0.0.7"


def test_node_address_without_slurm_is_the_name(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert distribute.node_address("qgpu01") == "qgpu01"


class FakeConfig:
    """Just enough of tf.config to see which GPUs a task keeps."""

    def __init__(self, gpus):
        self.gpus, self.visible = gpus, None

    def list_physical_devices(self, kind):
        return list(self.gpus) if kind == "GPU" else []

    def set_visible_devices(self, devices, kind):
        self.visible = list(devices)


class FakeTF:
    def __init__(self, gpus):
        self.config = FakeConfig(gpus)


@pytest.mark.parametrize(
    ("gpus", "tasks", "local", "kept"),
    [
        (["g0", "g1"], "2", "1", ["g1"]),  # two tasks, two GPUs: one each
        (["g0", "g1", "g2", "g3"], "2", "1", ["g2", "g3"]),  # two each
        (["g0", "g1"], "1", "0", None),  # one task keeps all (MirroredStrategy inside it)
        (["g0"], "2", "1", None),  # Slurm already bound one GPU per task
        ([], "2", "1", None),  # CPU only
    ],
)
def test_each_task_on_a_node_gets_its_own_gpus(gpus, tasks, local, kept):
    tf = FakeTF(gpus)
    env = step_env(SLURM_STEP_TASKS_PER_NODE=tasks, SLURM_STEP_NODELIST="q1", SLURM_LOCALID=local)
    distribute.share_gpus(tf, env)
    assert tf.config.visible == kept


def test_more_tasks_than_gpus_is_an_error():
    env = step_env(SLURM_STEP_TASKS_PER_NODE="4", SLURM_STEP_NODELIST="q1", SLURM_LOCALID="0")
    with pytest.raises(SlurmEnvError, match="4 tasks on this node share 2 GPUs"):
        distribute.share_gpus(FakeTF(["g0", "g1"]), env)


@pytest.mark.slow
def test_two_local_workers_fit_like_one(tmp_path):
    """Two processes with srun's variables (no Slurm needed) train one model together:
    same parameters as one process, only the chief prints the result and checkpoints."""
    import os
    import subprocess
    import sys

    fit = ["fit", "--model", "gmm", "--n", "400", "--steps", "40", "--batch-size", "101"]
    fit += ["--json", "--no-progress", "--checkpoint-every", "20"]
    env = {
        **os.environ,
        **step_env(
            SLURM_JOB_ID=str(os.getpid()),
            SLURM_STEP_NUM_TASKS="2",
            SLURM_STEP_NODELIST="localhost",
            SLURM_STEP_TASKS_PER_NODE="2",
        ),
        "PATH": "/nonexistent:" + os.environ["PATH"],
    }
    command = [sys.executable, "-m", "{{ cookiecutter.package }}", *fit, "--checkpoint-dir"]

    def start(checkpoints, variables=None):
        return subprocess.Popen(
            [*command, checkpoints],
            env=variables,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # The single process and the two workers run at the same time (each loads TensorFlow).
    single = start("one")
    ranks = [{**env, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)} for r in (0, 1)]
    workers = [start("two", rank) for rank in ranks]
    (out0, err0), (out1, err1) = (w.communicate() for w in workers)
    one_out, one_err = single.communicate()
    assert single.returncode == 0, one_err
    assert [w.returncode for w in workers] == [0, 0], err0 + err1
    assert "worker 0 of 2 (MultiWorkerMirroredStrategy" in err0
    assert "worker 1 of 2 (MultiWorkerMirroredStrategy" in err1
    assert out1 == ""  # only the chief reports
    assert sorted(p.name for p in (tmp_path / "two").glob("ckpt-*.index")) == [
        "ckpt-20.index",
        "ckpt-40.index",
    ]
    alone, together = json.loads(one_out), json.loads(out0)
    assert (alone["workers"], alone["replicas"], alone["strategy"]) == (1, 1, "default")
    assert (together["workers"], together["replicas"]) == (2, 2)
    # Equal up to float32 rounding (sums in another order): 1e-4 relative (a covariance
    # of 1300 is stored only to about 1e-4 in absolute terms).
    for name, value in alone["params"].items():
        np.testing.assert_allclose(together["params"][name], value, rtol=1e-4, err_msg=name)
