"""Penalties on the synthesized image: functions ``image -> scalar`` added to the objective.

The default penalty of Metamer and MADCompetition is :func:`range_penalty` on [0, 1] with weight
``penalty_lambda=0.1``, as in plenoptic. Any function ``image -> scalar`` can be used instead.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["RangePenalty", "range_penalty"]


def range_penalty(
    image: Float[Array, "C H W"], allowed_range: tuple[float, float] = (0.0, 1.0)
) -> Float[Array, ""]:
    """Sum of squared excursions of the pixels outside ``allowed_range`` (plenoptic's ``penalize_range``).

    Parameters
    ----------
    image
        The image.
    allowed_range
        ``(low, high)``; values inside cost nothing.

    Returns
    -------
    penalty
        ``sum(min(image - low, 0) ** 2) + sum(max(image - high, 0) ** 2)``, a scalar of the image's dtype.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> float(jo.penalties.range_penalty(jnp.array([[[-0.5, 0.5, 2.0]]])))
    1.25
    """
    lo, hi = allowed_range
    below = jnp.minimum(image - lo, 0.0)
    above = jnp.maximum(image - hi, 0.0)
    return jnp.sum(below**2) + jnp.sum(above**2)


class RangePenalty(eqx.Module):
    """:func:`range_penalty` with a configurable range, as a module (hashable, named in checkpoints).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> pen = jo.penalties.RangePenalty((-1.0, 1.0))
    >>> float(pen(jnp.array([[[-0.5, 0.5, 2.0]]])))
    1.0
    """

    allowed_range: tuple[float, float] = eqx.field(static=True, default=(0.0, 1.0))

    def __check_init__(self):
        lo, hi = self.allowed_range
        if not lo < hi:
            raise ValueError(
                f"allowed_range must be (low, high) with low < high, got {self.allowed_range}."
            )

    def __call__(self, image):
        return range_penalty(image, self.allowed_range)
