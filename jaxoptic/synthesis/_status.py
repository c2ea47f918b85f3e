"""Run status of a synthesis, stored in the state as a 0-d int32 array."""

import enum


class Status(enum.IntEnum):
    """Why a synthesis is (not) running.

    ``RUNNING``: still iterating. ``CONVERGED``: the stopping rule fired. ``MAX_ITER``: the iteration
    budget of the last :func:`jaxoptic.synthesize` call ran out (calling it again continues).
    ``NONFINITE``: the objective or its gradient became NaN/Inf; the state keeps the last image whose
    objective was finite.
    """

    RUNNING = 0
    CONVERGED = 1
    MAX_ITER = 2
    NONFINITE = 3
