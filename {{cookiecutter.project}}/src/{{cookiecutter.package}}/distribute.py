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

The ports are derived from the job id and the task's rank, so two jobs sharing
a node don't collide (nor two "nodes" that are one machine, as on mini-Quest).
Slurm names nodes; the address used is Slurm's own for the node (``NodeAddr``
in ``scontrol show node``), which on Quest is the node's name.

With several GPUs and several tasks on a node, each task keeps its share of the
GPUs (task 0 the first, task 1 the second, ...), so two workers never compute
on the same GPU.

During a fit this module also owns what the workers must do *together*:

* ``shard_dataset``: every step's *global* batch is the same as on one worker;
  replica r of R takes rows [r*B/R, (r+1)*B/R) of it, so 2 workers follow the
  same path as 1. Each replica's loss is its sum / B and the optimizer adds the
  replicas' gradients (an all-reduce): exactly the gradient of the global mean.
* ``Team.agree``: after each compiled call the workers vote (one small
  all-reduce) on whether to stop, so a signal seen by any worker stops all of
  them at the same step; a worker that went on alone would wait forever for
  the others in the next step's all-reduce.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

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


def rank_and_workers(strategy) -> tuple[int, int]:
    """(this worker's index, how many workers) of a strategy: (0, 1) unless multi-worker."""
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = resolver.cluster_spec().as_dict().get("worker", []) if resolver else []
    if len(workers) < 2:
        return 0, 1
    return int(resolver.task_id), len(workers)


def strategy_name(strategy) -> str:
    """A readable name: "default", "MirroredStrategy" or "MultiWorkerMirroredStrategy"."""
    if rank_and_workers(strategy)[1] > 1:
        return "MultiWorkerMirroredStrategy"  # its class is called CollectiveAllReduceStrategy
    name = type(strategy).__name__
    return "default" if name.startswith("_Default") else name


def choose_strategy(tf, env: Mapping[str, str] = os.environ):
    """Return (strategy, is_chief) for this process; see the module docstring.

    Call it first thing: TensorFlow must not have run any operation before a
    MultiWorkerMirroredStrategy is created.
    """
    if num_tasks(env) > 1:
        cluster = cluster_from_slurm(env, resolve=node_address)
        share_gpus(tf, env)
        os.environ["TF_CONFIG"] = cluster.tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy(), cluster.is_chief
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy(), True
    return tf.distribute.get_strategy(), True


# -- during a fit ------------------------------------------------------------------------
def check_scope(model, strategy=None):
    """The strategy to train with (default: the current one); the model must live in it."""
    from ._tf import import_tensorflow

    strategy = strategy or import_tensorflow().distribute.get_strategy()
    in_scope = strategy.extended.variable_created_in_scope
    outside = [v.name for v in model.variables if not in_scope(v)]
    if outside:
        raise ValueError(
            f"the model's variables ({', '.join(outside)}) were made outside the strategy's "
            "scope: create the model inside `with strategy.scope():`"
        )
    return strategy


def shard_dataset(x: np.ndarray, batch_size: int | None, seed: int, start_step: int, context):
    """This worker's part of every global batch, for ``distribute_datasets_from_function``.

    Every worker builds the same global batch sequence (``batches.make_dataset``)
    and keeps its replicas' rows: replica r of R gets rows [r*B//R, (r+1)*B//R).
    A worker with several local replicas (GPUs) yields their pieces in turn,
    which is how ``tf.distribute`` hands per-replica batches to local replicas.
    """
    from ._tf import import_tensorflow
    from .batches import make_dataset

    tf = import_tensorflow()
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    first = context.input_pipeline_id * local
    global_batch = x.shape[0] if batch_size is None else min(batch_size, x.shape[0])
    bounds = [global_batch * r // replicas for r in range(replicas + 1)]

    def pieces(batch):
        parts = None
        for r in range(first, first + local):
            part = tf.data.Dataset.from_tensors(batch[bounds[r] : bounds[r + 1]])
            parts = part if parts is None else parts.concatenate(part)
        return parts

    if batch_size is None or batch_size >= x.shape[0]:
        return pieces(tf.constant(x)).repeat()  # full batch: slice once, repeat
    return make_dataset(x, batch_size, seed, start_step).flat_map(pieces).prefetch(2)


class Team:
    """The workers of one fit: how many, and how they agree (one worker: trivially)."""

    FLAGS = 3  # signalled, slow, stop

    def __init__(self, strategy, max_losses: int):
        from ._tf import import_tensorflow

        tf = import_tensorflow()
        self.strategy, self.max_losses = strategy, max_losses
        self.workers = rank_and_workers(strategy)[1]
        self.local_replicas = strategy.num_replicas_in_sync // self.workers

        @tf.function
        def all_reduce(votes):
            per_replica = strategy.run(lambda: tf.identity(votes))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self._all_reduce = all_reduce

    def agree(self, losses: np.ndarray, *flags: bool) -> tuple[np.ndarray, list[bool]]:
        """Sum this call's per-step losses over the workers; a flag raised by any is raised."""
        if self.workers == 1:
            return losses, list(flags)
        votes = self._all_reduce(self._votes(losses, flags)).numpy()
        n = len(flags)
        return votes[n : n + len(losses)], [bool(v > 0) for v in votes[:n]]

    def _votes(self, losses, flags) -> np.ndarray:
        # Padded to one length, so the all-reduce is compiled once; each local replica
        # adds the votes once, so the losses are divided by their number first.
        votes = np.zeros(self.FLAGS + self.max_losses, np.float32)
        votes[: len(flags)] = flags
        votes[self.FLAGS : self.FLAGS + len(losses)] = np.asarray(losses) / self.local_replicas
        return votes

    def wait_for_all(self) -> None:
        """Return when every worker has called this (all have saved before any exits)."""
        if self.workers > 1:
            self._all_reduce(self._votes([], ()))


def barrier(strategy) -> None:
    """Return when every worker has called this (an all-reduce of one number)."""
    from ._tf import import_tensorflow

    tf = import_tensorflow()
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.ones([])), axis=None)
