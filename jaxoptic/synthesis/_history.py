"""The host-side record of a synthesis run."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class History:
    """Per-iteration records of one :func:`jaxoptic.synthesize` call (numpy arrays on the host).

    For a batch, every array has a leading batch axis and the iterations a lane did not run (it had
    stopped) are NaN (``iterations`` is -1 there).

    Attributes
    ----------
    iterations
        ``(n,)`` index of each recorded step (the state's ``iteration`` before the step).
    records
        Name -> ``(n,)`` array, e.g. ``losses`` (objective at the image before each step, penalty
        included, as plenoptic's ``losses``), ``penalties``, ``gradient_norm``,
        ``pixel_change_norm``, ``learning_rate``, plus method-specific records.
    saved_images
        ``(n_saved, C, H, W)`` images kept every ``store_progress`` iterations (before the step).
    saved_iterations
        ``(n_saved,)`` iteration of each saved image (-1 for unused slots in a batch).

    Histories of consecutive calls concatenate with ``h1 + h2`` or :meth:`concatenate`.
    """

    iterations: np.ndarray
    records: dict[str, np.ndarray]
    saved_images: np.ndarray | None = None
    saved_iterations: np.ndarray | None = None

    def __getattr__(self, name):
        records = self.__dict__.get("records", {})
        if name in records:
            return records[name]
        raise AttributeError(f"History has no record {name!r}; it has {sorted(records)}.")

    def __len__(self) -> int:
        return int(self.iterations.shape[-1])

    @property
    def batched(self) -> bool:
        return self.iterations.ndim == 2

    def concatenate(self, other: History) -> History:
        """This history followed by ``other`` (e.g. of a second ``synthesize`` call on the returned state)."""
        if set(self.records) != set(other.records):
            raise ValueError(
                f"Cannot concatenate histories with records {sorted(self.records)} and {sorted(other.records)}."
            )
        axis = -1
        records = {
            k: np.concatenate([self.records[k], other.records[k]], axis=axis) for k in self.records
        }
        its = np.concatenate([self.iterations, other.iterations], axis=axis)
        if self.saved_images is None or other.saved_images is None:
            saved = self.saved_images if other.saved_images is None else other.saved_images
            saved_its = (
                self.saved_iterations if other.saved_iterations is None else other.saved_iterations
            )
        else:
            ax = 1 if self.batched else 0
            saved = np.concatenate([self.saved_images, other.saved_images], axis=ax)
            saved_its = np.concatenate([self.saved_iterations, other.saved_iterations], axis=ax)
        return History(its, records, saved, saved_its)

    __add__ = concatenate
