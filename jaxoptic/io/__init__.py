"""Checkpoints of synthesis runs: :func:`save` / :func:`load` a method's state and history.

A checkpoint is a directory: the state and history arrays, written by orbax-checkpoint, and a
``metadata.json`` describing the run (format and library versions, backend, the method's class and
configuration, a fingerprint of its target image(s) and model arrays, the iteration count, and the
dtype, shape and sha256 of every array). Nothing callable and nothing pickled is written; the user
builds the method again and :func:`load` checks it against the metadata. Saves are atomic. Under
``jax.distributed`` every process saves and loads its own checkpoint (orbax then runs in a child
process).

:func:`save_step` and :func:`latest` keep numbered checkpoints of a long run in one directory.
"""

from ._checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    CheckpointSaveError,
    LoadWarning,
    load,
    read_metadata,
    save,
)
from ._steps import all_steps, latest, save_step

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "CheckpointSaveError",
    "LoadWarning",
    "all_steps",
    "latest",
    "load",
    "read_metadata",
    "save",
    "save_step",
]
