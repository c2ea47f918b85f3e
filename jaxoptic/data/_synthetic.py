"""Synthetic images: radial ramps, polar angle and soft-edged disks (plenoptic's ``data`` helpers).

They are computed in float64 with numpy at call time (they are constants, not traced) and returned as
2-D arrays ``(height, width)`` like the reference; add a channel axis with ``x[None]`` to use one as an
image.
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import as_shape2d

__all__ = ["disk", "polar_angle", "polar_radius"]


def _ramps(size, origin) -> tuple[np.ndarray, np.ndarray]:
    h, w = as_shape2d(size, "size")
    if origin is None:
        origin = ((h + 1) / 2.0, (w + 1) / 2.0)
    elif np.ndim(origin) == 0:
        origin = (float(origin), float(origin))
    elif len(origin) != 2:
        raise ValueError(f"`origin` must be a number or a pair (row, column), got {origin!r}.")
    x = np.arange(1, w + 1, dtype=np.float64) - origin[1]
    y = np.arange(1, h + 1, dtype=np.float64) - origin[0]
    xramp, yramp = np.meshgrid(x, y, indexing="xy")
    return xramp, yramp


def polar_radius(
    size: int | tuple[int, int],
    exponent: float = 1.0,
    origin: float | tuple[float, float] | None = None,
    *,
    dtype=jnp.float32,
) -> Float[Array, "H W"]:
    """Distance of each pixel from ``origin``, raised to ``exponent``.

    Parameters
    ----------
    size
        ``(height, width)``, or an int for a square.
    exponent
        Power applied to the distance. For ``exponent <= 0`` the origin pixel (distance 0) is 0.
    origin
        ``(row, column)`` of the centre, counting pixels from 1 as the reference does; default
        ``((height + 1) / 2, (width + 1) / 2)``, the centre of the image.
    dtype
        Output dtype.

    Returns
    -------
    radius
        Array ``(height, width)``.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> r = jo.data.polar_radius(5)
    >>> float(r[2, 2]), float(r[2, 4])
    (0.0, 2.0)
    """
    xramp, yramp = _ramps(size, origin)
    r2 = xramp**2 + yramp**2
    if exponent <= 0:
        radius = np.zeros_like(r2)
        np.power(r2, exponent / 2.0, out=radius, where=r2 != 0)
    else:
        radius = r2 ** (exponent / 2.0)
    return jnp.asarray(radius, dtype=dtype)


def polar_angle(
    size: int | tuple[int, int],
    phase: float = 0.0,
    origin: float | tuple[float, float] | None = None,
    direction: Literal["clockwise", "counter-clockwise"] = "clockwise",
    *,
    dtype=jnp.float32,
) -> Float[Array, "H W"]:
    """Polar angle of each pixel around ``origin``, in radians in [-pi, pi).

    Parameters
    ----------
    size
        ``(height, width)``, or an int for a square.
    phase
        Angle (radians) subtracted from the result, i.e. where the angle is zero.
    origin
        ``(row, column)`` of the centre, counting pixels from 1; default the image centre.
    direction
        ``"clockwise"`` (default, rows grow downwards as in an image) or ``"counter-clockwise"``.
    dtype
        Output dtype.

    Returns
    -------
    angle
        Array ``(height, width)``.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> a = jo.data.polar_angle(5)
    >>> float(a[2, 4]), round(float(a[4, 2]), 4)
    (0.0, 1.5708)
    """
    if direction not in ("clockwise", "counter-clockwise"):
        raise ValueError(
            f"`direction` must be 'clockwise' or 'counter-clockwise', got {direction!r}."
        )
    xramp, yramp = _ramps(size, origin)
    if direction == "counter-clockwise":
        yramp = yramp[::-1]
    angle = np.arctan2(yramp, xramp)
    angle = np.mod(angle + (np.pi - phase), 2 * np.pi) - np.pi
    return jnp.asarray(angle, dtype=dtype)


def disk(
    img_size: int | tuple[int, int],
    outer_radius: float | None = None,
    inner_radius: float | None = None,
    *,
    dtype=jnp.float32,
) -> Float[Array, "H W"]:
    """A disk with a raised-cosine edge: 1 inside ``inner_radius``, falling to 0 at ``outer_radius``.

    Parameters
    ----------
    img_size
        ``(height, width)``, or an int for a square.
    outer_radius
        Radius where the mask reaches 0; default ``(min(height, width) - 1) / 2``.
    inner_radius
        Radius up to which the mask is 1; default ``outer_radius / 2``.
    dtype
        Output dtype.

    Returns
    -------
    mask
        Array ``(height, width)`` with values in [0, 1].

    Examples
    --------
    >>> import jaxoptic as jo
    >>> m = jo.data.disk(64)
    >>> float(m[32, 32]), float(m[0, 0])
    (1.0, 0.0)
    >>> masked = jo.data.camera() * jo.data.disk(256)  # broadcasts over the channel axis
    """
    h, w = as_shape2d(img_size, "img_size")
    if outer_radius is None:
        outer_radius = (min(h, w) - 1) / 2
    if inner_radius is None:
        inner_radius = outer_radius / 2
    if not 0 <= inner_radius < outer_radius:
        raise ValueError(
            f"Need 0 <= inner_radius < outer_radius, got inner_radius={inner_radius}, "
            f"outer_radius={outer_radius}."
        )
    i = np.arange(h, dtype=np.float64)[:, None] - (h - 1) / 2
    j = np.arange(w, dtype=np.float64)[None, :] - (w - 1) / 2
    r = np.sqrt(i**2 + j**2)
    decay = (r - inner_radius) / (outer_radius - inner_radius)
    mask = np.where(
        r > outer_radius, 0.0, np.where(r < inner_radius, 1.0, (1 + np.cos(np.pi * decay)) / 2)
    )
    return jnp.asarray(mask, dtype=dtype)
