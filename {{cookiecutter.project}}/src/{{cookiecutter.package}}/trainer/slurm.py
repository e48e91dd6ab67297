"""Slurm's environment -> where the workers of one fit listen (``TF_CONFIG``).

For several processes TensorFlow needs ``TF_CONFIG``: the address of every
worker and which one *this* process is. Slurm tells each task where all tasks
run (``SLURM_STEP_NODELIST``, ``SLURM_STEP_TASKS_PER_NODE``) and its rank
(``SLURM_PROCID``); this module turns that into ``TF_CONFIG``. TensorFlow has a
``SlurmClusterResolver`` for this, but it divides by the number of GPUs on the
node and so fails on CPU-only nodes; the derivation is short enough to own.

The ports are derived from the job id and the task's rank, so two jobs sharing
a node don't collide (nor two "nodes" that are one machine, as on mini-Quest).
Slurm names nodes; the address used is Slurm's own for the node (``NodeAddr``
in ``scontrol show node``), which on Quest is the node's name.

With several GPUs and several tasks on a node, each task keeps its share of the
GPUs (task 0 the first, task 1 the second, ...), so two workers never compute
on the same GPU. Pure Python: no TensorFlow here (``strategy.py`` uses it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

#: Ports used: BASE_PORT + (job id % PORT_SLOTS) * TASKS_PER_SLOT + the task's rank.
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


def node_address(node: str) -> str:
    """How to reach a Slurm node: Slurm's NodeAddr for it, or else its name.

    On Quest the two are the same; on mini-Quest the nodes' names are not host
    names. (Slurm is asked first: looking up an unknown name can take a minute.)
    """
    try:
        shown = subprocess.run(
            ["scontrol", "show", "node", "-o", node], capture_output=True, text=True, check=False
        ).stdout
    except OSError:  # no Slurm client here
        shown = ""
    found = re.search(r"\bNodeAddr=(\S+)", shown)
    return found[1] if found else node


def cluster_from_slurm(env: Mapping[str, str] = os.environ, resolve=lambda node: node) -> Cluster:
    """Derive the workers' addresses and this task's index from an srun step's variables.

    ``resolve`` turns a node name into an address (``node_address`` on a cluster).
    """
    hosts = expand_nodelist(_get(env, "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST"))
    counts = expand_tasks_per_node(_get(env, "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"))
    if len(counts) != len(hosts):
        raise SlurmEnvError(
            f"{len(hosts)} nodes ({', '.join(hosts)}) but tasks per node for {len(counts)}"
        )
    if sum(counts) > TASKS_PER_SLOT:
        raise SlurmEnvError(f"more than {TASKS_PER_SLOT} tasks in one step: {counts}")
    job_id, rank = _int(env, "SLURM_JOB_ID"), _int(env, "SLURM_PROCID")
    first_port = BASE_PORT + (job_id % PORT_SLOTS) * TASKS_PER_SLOT
    # Slurm's default (block) distribution: node 0 runs tasks 0..k0-1, node 1 the next k1, ...
    addresses = {host: resolve(host) for host in hosts}
    placed = [
        addresses[host] for host, count in zip(hosts, counts, strict=True) for _ in range(count)
    ]
    workers = [f"{address}:{first_port + task}" for task, address in enumerate(placed)]
    if rank >= len(workers):
        raise SlurmEnvError(f"SLURM_PROCID={rank} but the step has only {len(workers)} tasks")
    return Cluster(workers=workers, index=rank)


def share_gpus(tf, env: Mapping[str, str] = os.environ) -> None:
    """Several tasks on a node that all see its GPUs: give each task its own share."""
    gpus = tf.config.list_physical_devices("GPU")
    counts = expand_tasks_per_node(_get(env, "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"))
    here = counts[_int(env, "SLURM_NODEID")] if len(counts) > 1 else counts[0]
    if len(gpus) <= 1 or here <= 1:
        return  # one GPU (Slurm already gave each task its own), or one task per node
    if len(gpus) < here:
        raise SlurmEnvError(
            f"{here} tasks on this node share {len(gpus)} GPUs: ask for one GPU per task"
        )
    share = len(gpus) // here
    local = _int(env, "SLURM_LOCALID")
    tf.config.set_visible_devices(gpus[local * share : (local + 1) * share], "GPU")
