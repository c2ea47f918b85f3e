"""Spatially local gain control: split a real signal into a local energy (norm) and a direction.

This is the real-valued analogue of the amplitude / phase split of complex pyramid coefficients: the
norm is the square root of the blurred, downsampled squared signal, and the direction is the signal
divided by the upsampled norm (a local unit vector). Release multiplies them back together.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from jaxtyping import Array, Float

from .._validation import check_float_dtype
from ._conv import blur_downsample, upsample_blur

__all__ = [
    "local_gain_control",
    "local_gain_control_dict",
    "local_gain_release",
    "local_gain_release_dict",
]

_RESIDUAL_KEYS = ("residual_lowpass", "residual_highpass")


def _check_band(x, name: str) -> None:
    check_float_dtype(x, name)
    if np.ndim(x) not in (3, 4):
        raise ValueError(
            f"`{name}` must be one image (channels, height, width) or one pyramid band "
            f"(channels, n_bands, height, width), got shape {np.shape(x)}. For a batch use jax.vmap."
        )


def _as_images(x):
    """Merge a band axis into the channel axis: channels are filtered independently, so this is exact."""
    return x.reshape(-1, *x.shape[-2:])


def local_gain_control(
    x: Float[Array, "channels height width"] | Float[Array, "channels n_bands height width"],
    epsilon: float = 1e-8,
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """Compute the local energy (norm) and local direction of a real signal.

    ``norm = sqrt(blur_downsample(x ** 2))`` (binom5 filter, reflect padding, half resolution) and
    ``direction = x / (upsample_blur(norm) + epsilon)`` (full resolution). Pyramid bands with an
    orientation axis ``(channels, n_bands, h, w)`` are processed band by band, like plenoptic's 5-D case.

    Parameters
    ----------
    x
        ``(channels, height, width)`` or ``(channels, n_bands, height, width)``, float.
    epsilon
        Small constant added to the norm before dividing.

    Returns
    -------
    norm
        Same leading axes, spatial size halved (rounded up).
    direction
        Same shape as ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not 3-D or 4-D.
    TypeError
        If ``x`` is not a float array.

    See Also
    --------
    local_gain_release : the inverse.
    local_gain_control_dict : the same on every band of a pyramid dict.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> x = jnp.linspace(-1, 1, 2 * 32 * 32).reshape(2, 32, 32)
    >>> norm, direction = jo.process.local_gain_control(x)
    >>> norm.shape, direction.shape
    ((2, 16, 16), (2, 32, 32))
    >>> bool(jnp.allclose(jo.process.local_gain_release(norm, direction), x, atol=1e-6))
    True
    """
    _check_band(x, "x")
    images = _as_images(x)
    h, w = images.shape[-2:]
    norm = blur_downsample(abs(images**2)) ** 0.5
    direction = images / (upsample_blur(norm, (h % 2, w % 2)) + epsilon)
    return norm.reshape(*x.shape[:-2], *norm.shape[-2:]), direction.reshape(x.shape)


def local_gain_release(
    norm: Float[Array, "..."],
    direction: Float[Array, "..."],
    epsilon: float = 1e-8,
) -> Float[Array, "..."]:
    """Recombine a local norm and direction into a signal: ``direction * (upsample_blur(norm) + epsilon)``.

    Parameters
    ----------
    norm
        Local energy, ``(channels, h, w)`` or ``(channels, n_bands, h, w)`` at half resolution.
    direction
        Local direction, ``(channels, height, width)`` or ``(channels, n_bands, height, width)``.
    epsilon
        The constant used by :func:`local_gain_control`.

    Returns
    -------
    x
        Same shape as ``direction``.

    Raises
    ------
    ValueError
        If the inputs are not 3-D or 4-D, or their leading axes or sizes do not match.

    See Also
    --------
    local_gain_control : the forward operation.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> norm, direction = jo.process.local_gain_control(jnp.ones((1, 16, 15)))
    >>> jo.process.local_gain_release(norm, direction).shape
    (1, 16, 15)
    """
    _check_band(norm, "norm")
    _check_band(direction, "direction")
    h, w = direction.shape[-2:]
    expected = (*direction.shape[:-2], -(-h // 2), -(-w // 2))
    if tuple(norm.shape) != expected:
        raise ValueError(
            f"`norm` must have shape {expected} for a direction of shape {tuple(direction.shape)} "
            f"(same leading axes, half the spatial size rounded up), got {tuple(norm.shape)}."
        )
    up = upsample_blur(_as_images(norm).astype(direction.dtype), (h % 2, w % 2))
    return direction * (up.reshape(direction.shape) + epsilon)


def _is_residual(key) -> bool:
    return isinstance(key, str) and key.startswith("residual")


def local_gain_control_dict(
    coeff_dict: Mapping,
    residuals: bool = True,
) -> tuple[OrderedDict, OrderedDict]:
    """Apply :func:`local_gain_control` to every band of a pyramid dict.

    Keys that are strings starting with ``"residual"`` are not transformed; with ``residuals=True``
    ``"residual_lowpass"`` and ``"residual_highpass"`` (when present) are copied into ``energy``, after
    the bands, as plenoptic does.

    Parameters
    ----------
    coeff_dict
        Pyramid coefficients, e.g. from :class:`jaxoptic.pyramids.SteerablePyramid` (bands shaped
        ``(channels, n_bands, h, w)``).
    residuals
        Whether to carry the residuals in ``energy``.

    Returns
    -------
    energy, state
        ``OrderedDict``s with the norms and the directions of each band, keyed like the input.

    Raises
    ------
    ValueError
        If a band is not 3-D or 4-D.

    Examples
    --------
    >>> from collections import OrderedDict
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> coeffs = OrderedDict(residual_highpass=jnp.ones((1, 16, 16)), **{"0": jnp.ones((1, 4, 16, 16))})
    >>> coeffs["residual_lowpass"] = jnp.ones((1, 8, 8))
    >>> energy, state = jo.process.local_gain_control_dict(coeffs)
    >>> list(energy), energy["0"].shape
    (['0', 'residual_lowpass', 'residual_highpass'], (1, 4, 8, 8))
    """
    energy, state = OrderedDict(), OrderedDict()
    for key, band in coeff_dict.items():
        if not _is_residual(key):
            energy[key], state[key] = local_gain_control(band)
    if residuals:
        for key in _RESIDUAL_KEYS:
            if key in coeff_dict:
                energy[key] = coeff_dict[key]
    return energy, state


def local_gain_release_dict(
    energy: Mapping,
    state: Mapping,
    residuals: bool = True,
) -> OrderedDict:
    """Apply :func:`local_gain_release` to every band of a pair of dicts (inverse of :func:`local_gain_control_dict`).

    Parameters
    ----------
    energy
        Norms per band (and possibly the residuals), as returned by :func:`local_gain_control_dict`.
    state
        Directions per band.
    residuals
        Whether to copy ``"residual_lowpass"`` and ``"residual_highpass"`` from ``energy`` (when
        present) into the output.

    Returns
    -------
    coeff_dict
        ``OrderedDict`` of the released bands (then the residuals).

    Raises
    ------
    ValueError
        If ``state`` lacks a band of ``energy`` or shapes do not match.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> energy, state = jo.process.local_gain_control_dict({"0": jnp.ones((1, 2, 8, 8))}, residuals=False)
    >>> jo.process.local_gain_release_dict(energy, state, residuals=False)["0"].shape
    (1, 2, 8, 8)
    """
    coeff_dict = OrderedDict()
    for key, norm in energy.items():
        if _is_residual(key):
            continue
        if key not in state:
            raise ValueError(
                f"`state` has no entry for band {key!r} of `energy`; pass the state from the same call."
            )
        coeff_dict[key] = local_gain_release(norm, state[key])
    if residuals:
        for key in _RESIDUAL_KEYS:
            if key in energy:
                coeff_dict[key] = energy[key]
    return coeff_dict
