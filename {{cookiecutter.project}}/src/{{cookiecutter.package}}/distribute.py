"""Which ``tf.distribute`` strategy to train with, decided from Slurm's environment.

One program, three situations, no code changes:

* one process, at most one GPU   -> the default strategy (plain TensorFlow);
* one process, several GPUs      -> ``MirroredStrategy``: one model copy per GPU,
  each computes the gradient of its slice of the batch, the gradients are summed;
* several processes (``srun`` started N tasks, on one node or many)
  -> ``MultiWorkerMirroredStrategy``: the same idea across processes, which
  talk to each other over the network (gRPC) on ports chosen below.

For several processes TensorFlow needs ``TF_CONFIG``: the address of every
worker and which one *this* process is. Slurm tells each task where all tasks
run (``SLURM_STEP_NODELIST``, ``SLURM_STEP_TASKS_PER_NODE``) and its rank
(``SLURM_PROCID``); this module turns that into ``TF_CONFIG``. TensorFlow has a
``SlurmClusterResolver`` for this, but it divides by the number of GPUs on the
node and so fails on CPU-only nodes; the derivation is short enough to own.

The ports are derived from the job id, so two jobs sharing a node don't collide.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

#: Ports used: BASE_PORT + (job id % PORT_SLOTS) * TASKS_PER_SLOT + local task index.
BASE_PORT = 20000
PORT_SLOTS = 1000
TASKS_PER_SLOT = 32


class SlurmEnvError(ValueError):
    """A Slurm variable is missing or malformed (named in the message)."""


def _split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside [...]: 'a[1,2],b' -> ['a[1,2]', 'b']."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            raise SlurmEnvError(f"unbalanced ']' in node list {text!r}")
        current += char
    if depth != 0:
        raise SlurmEnvError(f"unbalanced '[' in node list {text!r}")
    return [*parts, current]


def _expand_ranges(ranges: str, nodelist: str) -> list[str]:
    """'01-03,7' -> ['01', '02', '03', '7'] (zero padding kept)."""
    numbers = []
    for part in ranges.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match or (match[2] is not None and int(match[2]) < int(match[1])):
            raise SlurmEnvError(f"bad range {part!r} in node list {nodelist!r}")
        first, last = match[1], match[2] or match[1]
        numbers += [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]
    return numbers


def expand_nodelist(nodelist: str) -> list[str]:
    """Slurm's compact host list -> host names: 'qgpu[01-03],qnode5' -> 4 names."""
    if not nodelist.strip():
        raise SlurmEnvError("empty node list")
    hosts = []
    for item in _split_top_level(nodelist.strip()):
        match = re.fullmatch(r"([^\[\]]*)\[([^\[\]]+)\](.*)", item)
        if match is None:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", item):
                raise SlurmEnvError(f"bad host name {item!r} in node list {nodelist!r}")
            hosts.append(item)
            continue
        prefix, ranges, rest = match.groups()
        for number in _expand_ranges(ranges, nodelist):
            hosts += expand_nodelist(prefix + number + rest)  # rest may hold more [...]
    return hosts


def expand_tasks_per_node(spec: str) -> list[int]:
    """Slurm's tasks-per-node list -> one count per node: '2(x3),1' -> [2, 2, 2, 1]."""
    counts = []
    for part in spec.split(","):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if not match or int(match[1]) < 1:
            raise SlurmEnvError(f"bad tasks-per-node entry {part!r} in {spec!r}")
        counts += [int(match[1])] * int(match[2] or 1)
    return counts


def _get(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        if env.get(name):
            return env[name]
    raise SlurmEnvError(f"{' or '.join(names)} is not set: run the workers with srun")


def _int(env: Mapping[str, str], *names: str) -> int:
    text = _get(env, *names)
    if not text.isdigit():
        raise SlurmEnvError(f"{names[0]}={text!r} is not a whole number")
    return int(text)


@dataclass(frozen=True)
class Cluster:
    """Where every worker listens, and which worker this process is."""

    workers: list[str]
    index: int

    @property
    def is_chief(self) -> bool:
        """Worker 0 writes checkpoints, plots and results; the others only compute."""
        return self.index == 0

    def tf_config(self) -> str:
        return json.dumps(
            {"cluster": {"worker": self.workers}, "task": {"type": "worker", "index": self.index}}
        )


def num_tasks(env: Mapping[str, str] = os.environ) -> int:
    """How many processes this srun step started (1 outside srun).

    Only a job *step* counts: in the batch script itself SLURM_NTASKS may say 2
    while just one process (the script) runs, and waiting for a second worker
    that never comes would hang the job.
    """
    return int(env.get("SLURM_STEP_NUM_TASKS") or 1)


def cluster_from_slurm(env: Mapping[str, str] = os.environ) -> Cluster:
    """Derive the workers' addresses and this task's index from an srun step's variables."""
    hosts = expand_nodelist(_get(env, "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST"))
    counts = expand_tasks_per_node(_get(env, "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"))
    if len(counts) != len(hosts):
        raise SlurmEnvError(
            f"{len(hosts)} nodes ({', '.join(hosts)}) but tasks per node for {len(counts)}"
        )
    if max(counts) > TASKS_PER_SLOT:
        raise SlurmEnvError(f"more than {TASKS_PER_SLOT} tasks on one node: {counts}")
    job_id, rank = _int(env, "SLURM_JOB_ID"), _int(env, "SLURM_PROCID")
    first_port = BASE_PORT + (job_id % PORT_SLOTS) * TASKS_PER_SLOT
    # Slurm's default (block) distribution: node 0 runs tasks 0..k0-1, node 1 the next k1, ...
    workers = [
        f"{host}:{first_port + local}"
        for host, count in zip(hosts, counts, strict=True)
        for local in range(count)
    ]
    if rank >= len(workers):
        raise SlurmEnvError(f"SLURM_PROCID={rank} but the step has only {len(workers)} tasks")
    return Cluster(workers=workers, index=rank)


def choose_strategy(tf, env: Mapping[str, str] = os.environ):
    """Return (strategy, is_chief) for this process; see the module docstring.

    Call it first thing: TensorFlow must not have run any operation before a
    MultiWorkerMirroredStrategy is created.
    """
    if num_tasks(env) > 1:
        cluster = cluster_from_slurm(env)
        os.environ["TF_CONFIG"] = cluster.tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy(), cluster.is_chief
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy(), True
    return tf.distribute.get_strategy(), True
