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

With several workers every worker restores the same checkpoint, and every
worker takes part in a save (TensorFlow may need all of them), but only the
chief writes into the directory; the others write to a temporary directory.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ._tf import import_tensorflow

tf = import_tensorflow()

SETTINGS_FILE = "fit-settings.json"
#: Checkpoints kept: the newest and one before it, in case the newest is damaged.
KEEP = 2


def fingerprint(model, x: np.ndarray, **settings) -> dict:
    """What must match for a checkpoint to be resumed: model, data and hyper-parameters."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]
    return {
        "model": model.family,
        "components": getattr(model, "components", None),
        "data_shape": list(x.shape),
        "data_sha256": digest,
        **settings,
    }


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


class Checkpoints:
    """Saves ``model``, ``optimizer`` and ``step`` in ``directory`` every ``every`` steps;
    restores the newest intact checkpoint. With ``directory`` None it saves nothing.

    ``settings`` (see ``fingerprint``) are stored beside the checkpoints: resuming a
    fit with other data or hyper-parameters would silently mix two experiments, so
    it is refused.
    """

    def __init__(self, directory, every: int, settings: dict, *, model, optimizer, step, is_chief):
        self.every, self.is_chief, self.saved = every, is_chief, False
        #: Where the checkpoints go (for messages), or None.
        self.where = None if directory is None else str(directory)
        if directory is None:
            return
        self.directory = Path(directory)
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
        if is_chief:
            self.directory.mkdir(parents=True, exist_ok=True)
            for stale in self.directory.glob("*_temp"):  # left by a kill in the middle of a save
                shutil.rmtree(stale, ignore_errors=True)
        intact = self._intact()
        self.saved = bool(intact)
        self._check_settings(settings, restoring=bool(intact))
        if intact:
            newest = self.directory / f"ckpt-{intact[0]}"
            self.checkpoint.restore(str(newest)).assert_existing_objects_matched()
        if is_chief:
            # Rewrite TensorFlow's list of checkpoints (the file `checkpoint`) with the
            # intact ones only: the manager rotates those, never a damaged or unlisted file.
            state = self.directory / "checkpoint"
            names = [f"ckpt-{n}" for n in reversed(intact[:KEEP])]  # oldest first
            if names:
                tf.compat.v1.train.update_checkpoint_state(
                    str(self.directory), names[-1], all_model_checkpoint_paths=names
                )
            elif state.exists():
                state.unlink()  # it lists nothing intact (or is itself damaged)
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, str(self.directory), max_to_keep=KEEP
            )

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
                partial = path.with_suffix(".partial")  # written beside, then renamed:
                partial.write_text(json.dumps(settings, indent=2) + "\n")
                partial.replace(path)  # a reader or a kill never meets half a file
            return
        try:
            saved = json.loads(path.read_text()) if path.exists() else None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(
                f"{path} is damaged ({err}); it records which fit the checkpoints beside it "
                "belong to. Delete that directory to start over, or use another --checkpoint-dir"
            ) from None
        if saved != settings:
            different = sorted(k for k in settings if saved is None or saved.get(k) != settings[k])
            raise ValueError(
                f"{self.directory} holds checkpoints of a different fit (differs in: "
                f"{', '.join(different) or 'settings file'}); use another --checkpoint-dir, "
                "or delete that directory to start over"
            )

    def save(self, step: int) -> None:
        if self.where is None:
            return
        self.saved = True
        if self.is_chief:
            self.manager.save(checkpoint_number=step)
            return
        scratch = tempfile.mkdtemp(prefix="worker-checkpoint-")
        try:
            self.checkpoint.write(str(Path(scratch) / "ckpt"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def save_at_end(self, step: int, start: int) -> None:
        """The final state, unless it is already the newest checkpoint."""
        if not self.saved or start < step:
            self.save(step)
