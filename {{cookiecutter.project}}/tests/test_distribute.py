"""The cluster of workers is derived correctly from Slurm's variables, GPUs or not."""

import json

import pytest

from {{ cookiecutter.package }} import distribute
from {{ cookiecutter.package }}.distribute import SlurmEnvError


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
        f"qgpu02:{port}",
        f"qgpu02:{port + 1}",
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
    from {{ cookiecutter.package }}._tf import import_tensorflow

    tf = import_tensorflow()
    strategy, is_chief = distribute.choose_strategy(tf, env={})
    assert is_chief
    assert not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
