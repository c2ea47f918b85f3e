"""Population moments (plenoptic's ``process.stats``): variance, skew and kurtosis.

All use ``1 / N`` normalisation (no bias correction), and the kurtosis is not the excess kurtosis
(a Gaussian gives 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

__all__ = ["kurtosis", "skew", "variance"]

Axes = int | Sequence[int] | None


def _axes(x, dim, axis):
    if dim is not None and axis is not None:
        raise ValueError("Pass the reduced axes as `dim` or `axis`, not both.")
    dim = axis if dim is None else dim
    if dim is None:
        return tuple(range(jnp.ndim(x)))
    if isinstance(dim, int):
        return (dim,)
    return tuple(int(d) for d in dim)


def variance(
    x: Float[ArrayLike, "..."],
    mean: float | ArrayLike | None = None,
    dim: Axes = None,
    keepdim: bool = False,
    *,
    axis: Axes = None,
) -> Float[Array, "..."]:
    """Population variance: mean of ``(x - mean)**2`` over ``dim``.

    Parameters
    ----------
    x
        Real array.
    mean
        Precomputed mean (broadcastable against ``x``, i.e. computed with kept dimensions), or
        None to compute it over ``dim``.
    dim
        Axis or axes to reduce; None reduces all. ``axis`` is an alias (give only one).
    keepdim
        Keep the reduced axes with size 1.

    Returns
    -------
    var
        The variance, same dtype as ``x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import variance
    >>> variance(jnp.array([1.0, 2.0, 3.0, 4.0]))
    Array(1.25, dtype=float32)
    >>> variance(jnp.ones((2, 3, 3)), dim=(-2, -1)).shape
    (2,)
    """
    x = jnp.asarray(x)
    dims = _axes(x, dim, axis)
    if mean is None:
        mean = jnp.mean(x, axis=dims, keepdims=True)
    return jnp.mean((x - mean) ** 2, axis=dims, keepdims=keepdim)


def skew(
    x: Float[ArrayLike, "..."],
    mean: float | ArrayLike | None = None,
    var: float | ArrayLike | None = None,
    dim: Axes = None,
    keepdim: bool = False,
    *,
    axis: Axes = None,
) -> Float[Array, "..."]:
    """Sample skewness: ``mean((x - mean)**3) / var**1.5`` over ``dim`` (0 for a Gaussian).

    Parameters
    ----------
    x
        Real array.
    mean
        Precomputed mean (broadcastable against ``x``), or None.
    var
        Precomputed variance (shaped like the output), or None.
    dim
        Axis or axes to reduce; None reduces all. ``axis`` is an alias.
    keepdim
        Keep the reduced axes with size 1.

    Returns
    -------
    skew
        Same dtype as ``x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import skew
    >>> round(float(skew(jnp.array([0.0, 0.0, 0.0, 1.0]))), 4)
    1.1547
    """
    x = jnp.asarray(x)
    dims = _axes(x, dim, axis)
    if mean is None:
        mean = jnp.mean(x, axis=dims, keepdims=True)
    if var is None:
        var = variance(x, mean=mean, dim=dims, keepdim=keepdim)
    return jnp.mean((x - mean) ** 3, axis=dims, keepdims=keepdim) / var**1.5


def kurtosis(
    x: Float[ArrayLike, "..."],
    mean: float | ArrayLike | None = None,
    var: float | ArrayLike | None = None,
    dim: Axes = None,
    keepdim: bool = False,
    *,
    axis: Axes = None,
) -> Float[Array, "..."]:
    """Sample kurtosis: ``mean((x - mean)**4) / var**2`` over ``dim`` (3 for a Gaussian).

    Parameters
    ----------
    x
        Real array.
    mean
        Precomputed mean (broadcastable against ``x``), or None.
    var
        Precomputed variance (shaped like the output), or None.
    dim
        Axis or axes to reduce; None reduces all. ``axis`` is an alias.
    keepdim
        Keep the reduced axes with size 1.

    Returns
    -------
    kurtosis
        Same dtype as ``x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import kurtosis
    >>> kurtosis(jnp.array([-1.0, 1.0, -1.0, 1.0]))
    Array(1., dtype=float32)
    """
    x = jnp.asarray(x)
    dims = _axes(x, dim, axis)
    if mean is None:
        mean = jnp.mean(x, axis=dims, keepdims=True)
    if var is None:
        var = variance(x, mean=mean, dim=dims, keepdim=keepdim)
    return jnp.mean(jnp.abs(x - mean) ** 4, axis=dims, keepdims=keepdim) / var**2
