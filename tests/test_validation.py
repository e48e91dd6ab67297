"""Every bad answer is rejected with a message naming the field, and nothing is left behind."""

import pytest
from cookiecutter.exceptions import FailedHookException

from helpers import bake

# (answers, the field the message must name). Covers every validated field and
# every cross-field rule (gpu vs partition, walltime vs partition, GPU totals).
BAD_ANSWERS = [
    ({"project_name": "   "}, "project_name"),
    ({"project_name": "two\nlines"}, "project_name"),
    ({"project": "My Project"}, "project"),
    ({"project": "2fast"}, "project"),
    ({"project": "trailing-"}, "project"),
    ({"package": "class"}, "package"),
    ({"package": "json"}, "package"),
    ({"package": "has-dash"}, "package"),
    ({"author": ""}, "author"),
    ({"netid": "ABC1234"}, "netid"),
    ({"netid": "ab12345"}, "netid"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "a;rm -rf ~@x.edu"}, "email"),
    ({"quest_account": "x12345"}, "quest_account"),
    ({"quest_account": "p123"}, "quest_account"),
    ({"partition": "gengpu", "gpu": "none"}, "gpu"),
    ({"partition": "short", "gpu": "a100"}, "gpu"),
    ({"gpus_per_node": "0"}, "gpus_per_node"),
    ({"gpus_per_node": "5"}, "gpus_per_node"),
    ({"gpus_per_node": "two"}, "gpus_per_node"),
    ({"gpus_per_node": "4", "nodes": "3"}, "gpus_per_node"),
    ({"nodes": "0"}, "nodes"),
    ({"walltime": "10 minutes"}, "walltime"),
    ({"walltime": "00:61:00"}, "walltime"),
    ({"walltime": "00:00:00"}, "walltime"),
    ({"partition": "short", "gpu": "none", "walltime": "04:00:01"}, "walltime"),
    ({"walltime": "3-00:00:00"}, "walltime"),
    ({"partition": "long", "gpu": "none", "walltime": "8-00:00:00"}, "walltime"),
    ({"mem": "20GB"}, "mem"),
    ({"mem": "0G"}, "mem"),
    ({"partition": "short", "gpu": "none", "mem": "500G"}, "mem"),
    ({"partition": "short", "gpu": "none", "mem": "238G"}, "mem"),  # Slurm: 1G = 1024M
    ({"mem": "490001M"}, "mem"),
    ({"tensorflow_version": "2.15.0"}, "tensorflow_version"),
    ({"tensorflow_version": "2.16.0"}, "tensorflow_version"),
    ({"tensorflow_version": "latest"}, "tensorflow_version"),
    ({"python_version": "3.13", "tensorflow_version": "2.19.0"}, "tensorflow_version"),
]


def bake_rejected(tmp_path, answers, capfd):
    with pytest.raises(FailedHookException):
        bake(tmp_path, **answers)
    assert list(tmp_path.iterdir()) == [], "a partial project was left behind"
    return capfd.readouterr().err


@pytest.mark.parametrize(("answers", "field"), BAD_ANSWERS, ids=lambda x: str(x))
def test_bad_answer_is_rejected(tmp_path, capfd, answers, field):
    message = bake_rejected(tmp_path, answers, capfd)
    assert f"  - {field}: " in message
    assert "for example:" in message
    assert "nothing was generated" in message


def test_all_problems_are_reported_at_once(tmp_path, capfd):
    answers = {"netid": "X", "quest_account": "Y", "mem": "lots", "walltime": "soon"}
    message = bake_rejected(tmp_path, answers, capfd)
    assert "4 answer(s) need fixing" in message
    for field in answers:
        assert f"  - {field}: " in message


@pytest.mark.parametrize(("key", "value"), [("partition", "gpu"), ("python_version", "3.9")])
def test_choice_outside_the_list_is_rejected_by_cookiecutter(tmp_path, key, value):
    with pytest.raises(ValueError, match=key):
        bake(tmp_path, **{key: value})
    assert list(tmp_path.iterdir()) == []


def test_hostile_answer_is_data_not_code(tmp_path, capfd):
    # Were the hook to paste answers into its code, this would print XXXY.
    evil = '"""; print("X" * 3 + "Y"); """'
    message = bake_rejected(tmp_path, {"netid": evil}, capfd)
    assert "XXXY" not in message
    assert f"  - netid: {evil!r} is not a Northwestern NetID" in message


@pytest.mark.parametrize(("partition", "mem"), [("short", "237G"), ("gengpu", "490000M")])
def test_largest_node_memory_is_accepted(tmp_path, partition, mem):
    gpu = "a100" if partition == "gengpu" else "none"
    assert bake(tmp_path, partition=partition, gpu=gpu, mem=mem).exists()


def test_gpus_per_node_may_be_zero_without_gpus(tmp_path):
    project = bake(tmp_path, partition="short", gpu="none", gpus_per_node="0")
    assert project.exists()
