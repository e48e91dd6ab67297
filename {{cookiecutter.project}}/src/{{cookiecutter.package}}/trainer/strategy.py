"""Which ``tf.distribute`` strategy trains, and how its workers agree.

One program, three situations, no code changes:

* one process, at most one GPU   -> the default strategy (plain TensorFlow);
* one process, several GPUs      -> ``MirroredStrategy``: one model copy per GPU,
  each computes the gradient of its slice of the batch, the gradients are summed;
* several processes (``srun`` started N tasks, on one node or many)
  -> ``MultiWorkerMirroredStrategy``: the same idea across processes, which
  talk to each other over the network (gRPC); ``slurm.py`` says where.

During a fit the workers must make every choice *together* (``Team.agree``):
after each compiled call they vote (one small all-reduce) on whether to stop,
so a signal seen by any worker stops all of them at the same step; a worker
that went on alone would wait forever for the others in the next step.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .._tf import import_tensorflow
from . import slurm

tf = import_tensorflow()

_CHOSEN = []  # the strategy of this process, once chosen (TensorFlow allows one)


def choose_strategy():
    """Return (strategy, is_chief) for this process, chosen once from Slurm's variables.

    The first call must come before any other TensorFlow work: TensorFlow must not
    have run an operation before a MultiWorkerMirroredStrategy is created.
    """
    if not _CHOSEN:
        _CHOSEN.append(choose(os.environ))
        _announce(*_CHOSEN[0])
    return _CHOSEN[0]


def chosen():
    """The strategy chosen so far in this process, or None."""
    return _CHOSEN[0][0] if _CHOSEN else None


def choose(env):
    """(strategy, is_chief) for the Slurm variables ``env`` (see the module docstring)."""
    if slurm.num_tasks(env) > 1:
        cluster = slurm.cluster_from_slurm(env, resolve=slurm.node_address)
        slurm.share_gpus(tf, env)
        os.environ["TF_CONFIG"] = cluster.tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy(), cluster.is_chief
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy(), True
    return tf.distribute.get_strategy(), True


def _announce(strategy, is_chief) -> None:
    rank, workers = rank_and_workers(strategy)
    if workers > 1:
        print(
            f"worker {rank} of {workers} ({strategy_name(strategy)}, "
            f"{strategy.num_replicas_in_sync} replicas in sync)"
            + ("; the chief: writes checkpoints and results" if is_chief else ""),
            file=sys.stderr,
            flush=True,
        )


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


class Team:
    """The workers of one fit: how many, and how they agree (one worker: trivially)."""

    FLAGS = 3  # signalled, slow, stop

    def __init__(self, strategy, max_values: int):
        self.strategy, self.max_values = strategy, max_values
        self.workers = rank_and_workers(strategy)[1]

        @tf.function
        def all_reduce(votes):
            per_replica = strategy.run(lambda: tf.identity(votes))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self._all_reduce = all_reduce

    def agree(self, values: np.ndarray, *flags: bool) -> tuple[np.ndarray, list[bool]]:
        """Average this call's logged values over the workers; a flag raised by any is raised."""
        if self.workers == 1:
            return values, list(flags)
        votes = self._all_reduce(self._votes(values, flags)).numpy()
        n = len(flags)
        mean = votes[n : n + values.size].reshape(values.shape) / self.workers
        return mean, [bool(v > 0) for v in votes[:n]]

    def _votes(self, values, flags) -> np.ndarray:
        # Padded to one length, so the all-reduce is compiled once; each local replica
        # adds the votes once, so the values are divided by their number first.
        local = self.strategy.num_replicas_in_sync // self.workers
        flat = np.asarray(values, np.float32).ravel()
        self.max_values = max(self.max_values, flat.size)  # more values: compiled once more
        votes = np.zeros(self.FLAGS + self.max_values, np.float32)
        votes[: len(flags)] = flags
        votes[self.FLAGS : self.FLAGS + flat.size] = flat / local
        return votes

    def wait_for_all(self) -> None:
        """Return when every worker has called this (all have saved before any exits)."""
        if self.workers > 1:
            self._all_reduce(self._votes(np.zeros(0), ()))


def barrier(strategy) -> None:
    """Return when every worker has called this (an all-reduce of one number)."""
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.ones([])), axis=None)
