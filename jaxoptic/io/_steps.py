"""Numbered checkpoints in one directory (``step_000123/``): the building block of periodic
checkpointing during a run."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from ._checkpoint import METADATA_FILE, save

__all__ = ["all_steps", "latest", "save_step"]

_STEP = re.compile(r"^step_(\d+)$")
_LEFTOVER = re.compile(r"^\.step_\d+\.(tmp|previous)-[0-9a-f]+$")


def _step_dirs(directory: Path) -> dict[int, Path]:
    """``{step: path}`` of the complete checkpoints in ``directory``."""
    out = {}
    if not directory.is_dir():
        return out
    for p in directory.iterdir():
        m = _STEP.match(p.name)
        if m and (p / METADATA_FILE).is_file():
            out[int(m.group(1))] = p
    return out


def all_steps(directory) -> list[int]:
    """The steps of the complete checkpoints in ``directory``, in increasing order.

    Examples
    --------
    >>> import tempfile
    >>> import jaxoptic as jo
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     jo.io.all_steps(tmp)
    []
    """
    return sorted(_step_dirs(Path(os.fspath(directory))))


def latest(directory) -> Path | None:
    """The newest complete checkpoint in ``directory`` (highest step), or None.

    Directories of interrupted saves are never returned: a checkpoint is complete once its
    ``metadata.json`` exists, and that file is written last, into a temporary directory that is
    renamed into place.

    Examples
    --------
    >>> import tempfile
    >>> import jaxoptic as jo
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(jo.io.latest(tmp))
    None
    """
    steps = _step_dirs(Path(os.fspath(directory)))
    return steps[max(steps)] if steps else None


def save_step(
    directory, method, state, history=None, *, step: int | None = None, keep: int | None = 3
) -> Path:
    """Save a checkpoint as ``directory/step_<step>/`` (atomically, with :func:`jaxoptic.io.save`)
    and delete all but the ``keep`` newest.

    Parameters
    ----------
    directory
        Directory of the run's checkpoints (created if needed).
    method, state, history
        As :func:`jaxoptic.io.save`.
    step
        The step number of the directory name; default: the state's iteration (the largest lane's
        for a batch). An existing checkpoint of the same step is replaced.
    keep
        Number of newest checkpoints to keep (default 3); None keeps all. Leftovers of interrupted
        saves are removed too.

    Returns
    -------
    Path
        The new checkpoint's directory; :func:`latest` returns it from now on.

    Examples
    --------
    >>> import tempfile, jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :16, :16]
    >>> met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0))
    >>> state = met.init(key=jax.random.key(0))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for _ in range(3):
    ...         state, history = jo.synthesize(met, state, max_iter=2, progress=False)
    ...         _ = jo.io.save_step(tmp, met, state, history, keep=2)
    ...     print(jo.io.all_steps(tmp), jo.io.latest(tmp).name)
    [4, 6] step_000006
    """
    directory = Path(os.fspath(directory))
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ValueError(f"`keep` must be an int >= 1 or None, got {keep!r}.")
    if step is None:
        step = int(np.max(np.asarray(state.iteration)))
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"`step` must be an int >= 0, got {step!r}.")
    directory.mkdir(parents=True, exist_ok=True)
    path = save(directory / f"step_{int(step):06d}", method, state, history)
    if keep is not None:
        steps = _step_dirs(directory)
        for s in sorted(steps)[:-keep]:
            if steps[s] != path:
                shutil.rmtree(steps[s], ignore_errors=True)
    for p in directory.iterdir():
        if _LEFTOVER.match(p.name):
            shutil.rmtree(p, ignore_errors=True)
    return path
