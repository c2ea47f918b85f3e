"""Filter constructors: circular Gaussians and the classic named 1-D kernels.

The Gaussian filters are built with ``jax.numpy`` so that their standard deviations can be traced
(for example trained as model parameters); the named 1-D kernels are fixed numpy float64 constants.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

__all__ = ["circular_gaussian2d"]


def _as_kernel_size(kernel_size, name: str = "kernel_size") -> tuple[int, int]:
    """Normalise an int or a pair of ints to a ``(height, width)`` tuple of positive Python ints."""
    values = np.asarray(kernel_size)
    if values.ndim == 0:
        values = np.repeat(values, 2)
    if values.ndim != 1 or values.size != 2:
        raise ValueError(
            f"`{name}` must be an int or a pair of ints (height, width), got {kernel_size!r}."
        )
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
        raise ValueError(f"`{name}` must be integer-valued, got {kernel_size!r}.")
    if np.any(values < 1):
        raise ValueError(f"`{name}` must be positive, got {kernel_size!r}.")
    return int(values[0]), int(values[1])


def _is_concrete(x) -> bool:
    """True when ``x`` holds actual values (not a tracer inside jit/vmap/grad)."""
    try:
        np.asarray(x)
    except Exception:  # jax raises TracerArrayConversionError (and friends) for tracers
        return False
    return True


def _gaussian_dtype(std, dtype):
    if dtype is not None:
        return jnp.dtype(dtype)
    std_dtype = getattr(std, "dtype", None)
    if std_dtype is not None and jnp.issubdtype(std_dtype, jnp.floating):
        return jnp.dtype(std_dtype)
    return jnp.dtype(jnp.float32)


def circular_gaussian2d(
    kernel_size: int | tuple[int, int],
    std: float | ArrayLike,
    out_channels: int | None = None,
    *,
    dtype=None,
) -> Float[Array, "out_channels kh kw"]:
    """Build normalized circular 2-D Gaussian filters, one per output channel.

    The Gaussian is centred at ``(kernel_size + 1) / 2`` in 1-based pixel coordinates, as in
    plenoptic: an odd kernel is centred on its middle pixel, an even kernel between the two middle
    pixels. Each channel's filter sums to 1.

    Parameters
    ----------
    kernel_size
        Filter size, an int (square) or ``(height, width)``.
    std
        Standard deviation in pixels: a scalar (the same for every channel) or a 1-D array of
        ``out_channels`` values. It may be a traced JAX value (e.g. a trainable parameter): the
        filter is differentiable with respect to it.
    out_channels
        Number of filters. Defaults to ``len(std)`` for a 1-D ``std`` and 1 for a scalar.
    dtype
        Output dtype. By default the dtype of ``std`` when it is a floating array (so a float64
        ``std`` gives a float64 filter), else float32.

    Returns
    -------
    filt
        Array shaped ``(out_channels, kh, kw)``. plenoptic returns ``(out_channels, 1, kh, kw)``
        (a torch conv weight); jaxoptic drops the singleton input-channel axis to match its
        channel-first, no-batch convention (use ``filt[:, None]`` for :func:`conv2d`'s 4-D
        weights).

    Raises
    ------
    ValueError
        If ``kernel_size`` is not a positive int or pair of ints, ``out_channels`` is not a positive
        int, ``std`` is not positive, or ``len(std) != out_channels``.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> filt = jo.process.circular_gaussian2d((5, 5), std=1.0)
    >>> filt.shape
    (1, 5, 5)
    >>> round(float(filt.sum()), 6)
    1.0
    >>> jo.process.circular_gaussian2d(7, std=[1.0, 2.0]).shape
    (2, 7, 7)
    """
    kh, kw = _as_kernel_size(kernel_size)
    dtype = _gaussian_dtype(std, dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"`dtype` must be a floating dtype, got {dtype}.")
    std_ndim = np.ndim(std)
    if std_ndim > 1:
        raise ValueError(
            f"`std` must be a scalar or a 1-D array (one value per channel), got ndim {std_ndim}."
        )
    if out_channels is None:
        out_channels = np.shape(std)[0] if std_ndim == 1 else 1
    if (
        isinstance(out_channels, bool)
        or not isinstance(out_channels, (int, np.integer))
        or out_channels < 1
    ):
        raise ValueError(f"`out_channels` must be a positive int, got {out_channels!r}.")
    out_channels = int(out_channels)
    if std_ndim == 1 and np.shape(std)[0] != out_channels:
        raise ValueError(
            f"If non-scalar, len(std) must equal out_channels, got len(std)={np.shape(std)[0]} and "
            f"out_channels={out_channels}."
        )
    if _is_concrete(std) and not np.all(np.asarray(std) > 0):  # also refuses NaN
        raise ValueError(f"`std` must be positive, got {np.asarray(std)!r}.")

    std = jnp.broadcast_to(jnp.asarray(std, dtype=dtype), (out_channels,))
    shift_y = np.arange(1, kh + 1) - (kh + 1) / 2
    shift_x = np.arange(1, kw + 1) - (kw + 1) / 2
    sq_radius = jnp.asarray(shift_y[:, None] ** 2 + shift_x[None, :] ** 2, dtype=dtype)
    log_filt = sq_radius[None] / (-2.0 * std[:, None, None] ** 2)
    filt = jnp.exp(log_filt)
    return filt / jnp.sum(filt, axis=(1, 2), keepdims=True)


# Published 1-D kernels (pyrtools' ``named_filter`` names). Values are the standard coefficients
# (Johnston / Simoncelli QMFs, Daubechies wavelets); the binomial family is generated.
_FIXED_FILTERS = {
    "haar": np.array([1.0, 1.0]) / math.sqrt(2),
    "gauss3": math.sqrt(2) * np.array([0.25, 0.5, 0.25]),
    "gauss5": math.sqrt(2) * np.array([0.0625, 0.25, 0.375, 0.25, 0.0625]),
    "qmf5": np.array([-0.076103, 0.3535534, 0.8593118, 0.3535534, -0.076103]),
    "qmf9": np.array(
        [
            0.02807382,
            -0.060944743,
            -0.073386624,
            0.41472545,
            0.7973934,
            0.41472545,
            -0.073386624,
            -0.060944743,
            0.02807382,
        ]
    ),
    "qmf13": np.array(
        [
            -0.014556438,
            0.021651438,
            0.039045125,
            -0.09800052,
            -0.057827797,
            0.42995453,
            0.7737113,
            0.42995453,
            -0.057827797,
            -0.09800052,
            0.039045125,
            0.021651438,
            -0.014556438,
        ]
    ),
    "qmf8": math.sqrt(2)
    * np.array(
        [
            0.00938715,
            -0.07065183,
            0.06942827,
            0.4899808,
            0.4899808,
            0.06942827,
            -0.07065183,
            0.00938715,
        ]
    ),
    "qmf12": math.sqrt(2)
    * np.array(
        [
            -0.003809699,
            0.01885659,
            -0.002710326,
            -0.08469594,
            0.08846992,
            0.4843894,
            0.4843894,
            0.08846992,
            -0.08469594,
            -0.002710326,
            0.01885659,
            -0.003809699,
        ]
    ),
    "qmf16": math.sqrt(2)
    * np.array(
        [
            0.001050167,
            -0.005054526,
            -0.002589756,
            0.0276414,
            -0.009666376,
            -0.09039223,
            0.09779817,
            0.4810284,
            0.4810284,
            0.09779817,
            -0.09039223,
            -0.009666376,
            0.0276414,
            -0.002589756,
            -0.005054526,
            0.001050167,
        ]
    ),
    "daub2": np.array([0.482962913145, 0.836516303738, 0.224143868042, -0.129409522551]),
    "daub3": np.array(
        [
            0.332670552950,
            0.806891509311,
            0.459877502118,
            -0.135011020010,
            -0.085441273882,
            0.035226291882,
        ]
    ),
    "daub4": np.array(
        [
            0.230377813309,
            0.714846570553,
            0.630880767930,
            -0.027983769417,
            -0.187034811719,
            0.030841381836,
            0.032883011667,
            -0.010597401785,
        ]
    ),
}


def _binomial(n_taps: int) -> np.ndarray:
    """Binomial coefficients of order ``n_taps - 1``, normalised to sum to 1 (float64)."""
    kernel = np.array([0.5, 0.5])
    for _ in range(n_taps - 2):
        kernel = np.convolve(kernel, [0.5, 0.5])
    return kernel


def _named_filter(name: str) -> np.ndarray:
    """Return a named 1-D kernel as a float64 numpy vector (pyrtools' ``named_filter`` conventions).

    ``"binomN"`` (N >= 2) is the binomial kernel with N taps scaled by sqrt(2) (so it sums to sqrt(2)
    and its 2-D outer product sums to 2); the other names (``haar``, ``gauss3``, ``gauss5``, ``qmf5``,
    ``qmf8``, ``qmf9``, ``qmf12``, ``qmf13``, ``qmf16``, ``daub2``, ``daub3``, ``daub4``) are the
    classic wavelet / QMF kernels.
    """
    if not isinstance(name, str):
        raise ValueError(f"`filtname` must be a string, got {name!r}.")
    if name.startswith("binom"):
        suffix = name[len("binom") :]
        if not suffix.isdigit() or int(suffix) < 2:
            raise ValueError(
                f"`filtname` {name!r}: binomial filters are named 'binomN' with N >= 2 (e.g. 'binom5')."
            )
        return math.sqrt(2) * _binomial(int(suffix))
    if name not in _FIXED_FILTERS:
        known = ", ".join(["binomN", *sorted(_FIXED_FILTERS)])
        raise ValueError(f"Unknown `filtname` {name!r}; known names: {known}.")
    return _FIXED_FILTERS[name].copy()
