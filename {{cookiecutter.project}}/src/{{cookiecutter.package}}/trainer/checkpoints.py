"""Checkpoints: save a fit every few steps, and resume it from the newest *intact* one.

A checkpoint (``tf.train.Checkpoint``) holds the model's parameters, Adam's
moment estimates and the step number: everything the loop needs to continue
as if it had never stopped. On disk, checkpoint N is two files,
``ckpt-N.index`` and ``ckpt-N.data-00000-of-00001``; the file ``checkpoint``
lists them, and ``fit-settings.json`` records the fit they belong to.

A job can be killed while it writes, and files get damaged or deleted. So
resuming trusts nothing: every ``ckpt-N`` is read back in full (TensorFlow
checks each tensor's checksum), the newest one that reads correctly is used,
and every damaged newer one is named with the reason it was skipped. Damaged
files are left where they are (for you to look at); intact ones are deleted
only by the usual rotation, *after* a newer checkpoint has been written.

A full disk (or quota) stops the fit with a message naming the folder: what the
failed write left is removed, the newest intact checkpoint stays, and a rerun with
room resumes from it. Only the final checkpoint of a finished fit is different: its
failure is a warning, since the fit's result is complete and is reported.

A folder is used by one fit at a time (a lock). With several workers every
worker restores the same checkpoint, and every worker takes part in a save
(TensorFlow may need all of them), but only the chief writes into the
directory; the others write to a temporary directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .._tf import import_tensorflow
from ..outputs import OutputError, is_full, why

tf = import_tensorflow()

SETTINGS_FILE = "fit-settings.json"
#: Checkpoints kept: the newest and one before it, in case the newest is damaged.
KEEP = 2
#: Another worker died during a save: not a write error (``command.py`` says so).
LOST_WORKER = (tf.errors.UnavailableError, tf.errors.AbortedError)


def fingerprint(model, data, batch_size: int | None, seed: int) -> dict:
    """What must match for a checkpoint to be resumed: model, data, optimizer, batches."""
    digest, leaves = hashlib.sha256(), tf.nest.flatten(data)
    for leaf in leaves:
        digest.update(np.ascontiguousarray(leaf))  # the array's memory itself: no copy
    optimizer = model.optimizer.get_config()
    optimizer.pop("loss_scale_factor", None)  # set by the trainer from the number of replicas
    optimizer.pop("name", None)  # "adam", "adam_1", ...: Keras counts the optimizers made
    settings = {
        "model": type(model).__name__,
        "weights": [f"{v.name} {list(v.shape)}" for v in model.weights],  # (paths hold counters)
        "data_shape": [list(np.shape(leaf)) for leaf in leaves],
        "data_sha256": digest.hexdigest()[:16],
        "batch_size": batch_size,
        "seed": seed,
        "optimizer": type(model.optimizer).__name__,
        **optimizer,  # learning_rate, beta_1, ...: each named if it differs
    }
    return json.loads(json.dumps(settings, default=str))  # as it reads back from the file


def damage(prefix: Path) -> str | None:
    """Why checkpoint ``prefix`` (".../ckpt-40") cannot be read back, or None if it is intact."""
    if not Path(f"{prefix}.index").exists():
        return "its .index file is missing"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)  # reads the data and checks its checksum
    except Exception as err:  # the reader turns TensorFlow's errors into many Python types
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return f"it cannot be read ({first_line[:160]})"
    return None


def numbered(directory: Path) -> list[int]:
    """The step numbers N of the files ``ckpt-N.*`` in ``directory``, newest first."""
    found = {
        int(m[1]) for p in directory.glob("ckpt-*") if (m := re.match(r"ckpt-(\d+)\.", p.name))
    }
    return sorted(found, reverse=True)


def lock(directory: Path):
    """Hold an exclusive lock on ``directory`` (one running fit per checkpoint folder).

    ``flock`` on the folder itself: no lock file to leave behind, and the kernel drops
    the lock when the process ends, however it ends. Returns the open descriptor.
    """
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(descriptor)
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            print(f"warning: cannot lock {directory} ({err.strerror})", file=sys.stderr)
            return None
        raise ValueError(
            f"the checkpoint folder {directory} is in use by another running fit; wait for "
            "it to finish, or give this fit a checkpoint folder of its own"
        ) from None
    return descriptor


def read_settings(path: Path) -> dict | None:
    """The settings recorded beside the checkpoints (None if there are none), or a clear error."""
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError(f"it holds {type(saved).__name__}, not the settings")
    except (OSError, ValueError) as err:  # JSON and Unicode errors are ValueErrors
        why = err.strerror if isinstance(err, OSError) else err
        raise ValueError(
            f"{path} is damaged ({why}); it records which fit the checkpoints beside it "
            "belong to. Delete that directory to start over, or use another --checkpoint-dir"
        ) from None
    return saved


def write_settings(path: Path, settings: dict) -> None:
    partial = path.with_suffix(".partial")  # written beside, then renamed:
    try:
        partial.write_text(json.dumps(settings, indent=2) + "\n")
        partial.replace(path)  # a reader or a kill never meets half a file
    except OSError as err:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)  # no half-written file left behind
        if is_full(err):
            raise OutputError(
                f"cannot write {path} ({why(err)}); nothing was saved yet: free some space "
                "and rerun"
            ) from None
        raise ValueError(f"cannot write {path} ({err.strerror}); fix or remove it") from None


class Checkpoints:
    """Saves ``model``, ``optimizer`` and ``step`` in ``directory`` every ``every`` steps;
    restores the newest intact checkpoint. With ``directory`` None it saves nothing.

    ``settings`` (see ``fingerprint``) are stored beside the checkpoints: resuming a
    fit with other data or hyper-parameters would silently mix two experiments, so
    it is refused. So is a folder that another running fit is using.
    """

    def __init__(self, directory, every: int, settings: dict, *, objects: dict, is_chief: bool):
        self.every, self.is_chief, self.saved, self._lock = every, is_chief, False, None
        #: The step of the newest checkpoint (resumed or saved); ``failed``: a final save did.
        self.newest, self.failed = None, False
        #: Where the checkpoints go (for messages), or None.
        self.where = None if directory is None else str(directory)
        if directory is None:
            return
        self.directory = Path(directory)
        self.checkpoint = tf.train.Checkpoint(**objects)
        if is_chief:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = lock(self.directory)
            self._remove_partial("*")  # left by a kill or a full disk in the middle of a save
        try:
            self._resume(settings)
        except BaseException:
            self.close()
            raise

    def _resume(self, settings: dict) -> None:
        intact = self._intact()
        self.saved, self.newest = bool(intact), (intact or [None])[0]
        self._check_settings(settings, restoring=bool(intact))
        if intact:
            newest = self.directory / f"ckpt-{intact[0]}"
            self.checkpoint.restore(str(newest)).assert_existing_objects_matched()
        if self.is_chief:
            self.manager = self._manager(intact)

    def _manager(self, intact: list[int]):
        """TensorFlow's manager, told of the intact checkpoints only (it rotates those,
        never a damaged or unlisted file): the file ``checkpoint`` is rewritten."""
        state = self.directory / "checkpoint"
        if state.is_dir():
            raise ValueError(
                f"{state} is a directory; TensorFlow keeps its list of checkpoints in a file "
                "of that name: move the directory away and rerun"
            )
        names = [f"ckpt-{n}" for n in reversed(intact)]  # oldest first
        if names:  # timestamps "now": the manager may rotate them (else they would leak)
            now = time.time()
            try:
                tf.compat.v1.train.update_checkpoint_state(
                    str(self.directory),
                    names[-1],
                    all_model_checkpoint_paths=names,
                    all_model_checkpoint_timestamps=[now] * len(names),
                    last_preserved_timestamp=now - 1,
                )
            except tf.errors.OpError as err:  # a full disk: stop before any step is lost
                raise self._write_failed(err, f"cannot write {state}") from None
        elif state.exists():
            state.unlink()  # it lists nothing intact (or is itself damaged)
        return tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=KEEP)

    def _intact(self) -> list[int]:
        """Step numbers of the intact checkpoints, newest first; report the damaged ones."""
        if not self.directory.is_dir():
            return []
        intact, skipped = [], []
        for number in numbered(self.directory):
            why = damage(self.directory / f"ckpt-{number}")
            if why is None:
                intact.append(number)
            elif not intact:  # only damaged ones newer than the one resumed matter
                skipped.append(f"ckpt-{number} ({why})")
        if skipped:
            resumed = f"resuming from ckpt-{intact[0]}" if intact else "starting from step 0"
            print(
                f"warning: in {self.directory}, skipped damaged checkpoint(s) "
                f"{'; '.join(skipped)}: {resumed}",
                file=sys.stderr,
                flush=True,
            )
        return intact

    def _check_settings(self, settings: dict, restoring: bool) -> None:
        path = self.directory / SETTINGS_FILE
        if not restoring:
            # A fresh start: nothing to compare with. The chief records the settings;
            # the other workers do not read them (the chief may be writing them now).
            if self.is_chief:
                write_settings(path, settings)
            return
        saved = read_settings(path)
        if saved is None:
            raise ValueError(
                f"{self.directory} holds checkpoints but no {SETTINGS_FILE}, so which fit "
                "they belong to is unknown; use another --checkpoint-dir, or delete that "
                "directory to start over"
            )
        if saved != settings:
            different = sorted(k for k in settings if saved.get(k) != settings[k])
            raise ValueError(
                f"{self.directory} holds checkpoints of a different fit (differs in: "
                f"{', '.join(different) or 'settings file'}); use another --checkpoint-dir, "
                "or delete that directory to start over"
            )

    def save(self, step: int, last: bool = False) -> None:
        """Checkpoint ``step``. ``last``: the fit's final step, whose failure only warns."""
        if self.where is None or self.failed:
            return
        self.saved, self.newest = True, step  # (every worker takes part in the same saves)
        if self.is_chief:
            try:
                self.manager.save(checkpoint_number=step)
            except (OSError, tf.errors.OpError) as err:
                if isinstance(err, LOST_WORKER):
                    raise
                doing = f"cannot save the checkpoint of step {step} in {self.directory}"
                error = self._write_failed(err, doing, step)
                if not last:
                    raise error from None
                self.failed = True  # the fit is done: report its result all the same
                print(f"warning: the fit is complete, but {error}", file=sys.stderr, flush=True)
            return
        scratch = tempfile.mkdtemp(prefix="worker-checkpoint-")
        try:
            self.checkpoint.write(str(Path(scratch) / "ckpt"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def save_at_end(self, step: int, start: int) -> None:
        """The final state, unless it is already the newest checkpoint."""
        if self.newest != step:
            self.save(step, last=True)

    def _write_failed(self, err: Exception, doing: str, step: int | None = None) -> OutputError:
        """Remove what the failed write left; the error, naming the checkpoint kept."""
        self._remove_partial(step)
        kept = next(
            (n for n in numbered(self.directory) if damage(self.directory / f"ckpt-{n}") is None),
            None,
        )
        if kept is None:
            then = "no checkpoint was saved yet: free some space and rerun"
        else:
            then = (
                f"the newest intact checkpoint, ckpt-{kept} (step {kept}), is kept: free "
                "some space and rerun the same command to resume from it"
            )
        return OutputError(f"{doing} ({why(err)}); {then}")

    def _remove_partial(self, step: int | str | None) -> None:
        """Delete what a save of ``step`` ("*": of any step) left half-written: its temporary
        folder, its files if they do not read back, TensorFlow's temporary list file."""
        stale = [*self.directory.glob("checkpoint.tmp*")]
        if step is not None:
            for temporary in self.directory.glob(f"ckpt-{step}_temp"):
                shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(step, int) and damage(self.directory / f"ckpt-{step}"):
            stale += self.directory.glob(f"ckpt-{step}.*")
        for path in stale:
            with contextlib.suppress(OSError):
                path.unlink()

    def close(self) -> None:
        """Let another fit use the folder."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
