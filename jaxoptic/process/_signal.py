"""Signal helpers: polar forms, Fourier resampling, autocorrelation, cropping, noise.

These follow plenoptic's ``process.signal`` (and the ``*_dict`` helpers of its
``process.non_linearities``). Arrays may have any leading axes; the last two are the spatial ones
(height, width). The output dtype follows the input: float32 stays float32, complex64 stays
complex64.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float, Inexact

from .._validation import check_image

__all__ = [
    "add_noise",
    "autocorrelation",
    "center_crop",
    "expand",
    "modulate_phase",
    "polar_to_rectangular",
    "polar_to_rectangular_dict",
    "rectangular_to_polar",
    "rectangular_to_polar_dict",
    "rescale",
    "shrink",
]


def _check_spatial(x, name: str = "x", *, allow_complex: bool = True) -> None:
    """Raise unless ``x`` is a float (or complex) array with at least two (spatial) axes."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        raise TypeError(f"`{name}` must be a JAX or NumPy array, got {type(x).__name__}.")
    ok = jnp.issubdtype(dtype, jnp.floating) or (
        allow_complex and jnp.issubdtype(dtype, jnp.complexfloating)
    )
    if not ok:
        kinds = "floating or complex" if allow_complex else "real floating"
        raise TypeError(
            f"`{name}` must have a {kinds} dtype, got {dtype}. Cast it, e.g. "
            f"{name}.astype(jnp.float32)."
        )
    if np.ndim(x) < 2:
        raise ValueError(
            f"`{name}` must have at least 2 dimensions (the last two are height and width), "
            f"got shape {tuple(np.shape(x))}."
        )


def _is_residual(key) -> bool:
    return isinstance(key, str) and key.startswith("residual")


# ----------------------------------------------------------------------------------------------
# polar forms
# ----------------------------------------------------------------------------------------------


def rectangular_to_polar(
    x: Inexact[Array, "..."],
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """Split a complex array into amplitude (modulus) and phase (angle).

    Parameters
    ----------
    x
        Complex (or real) array of any shape.

    Returns
    -------
    amplitude
        ``|x|``, real, same shape.
    phase
        ``angle(x)`` in ``(-pi, pi]``, real, same shape.

    See Also
    --------
    polar_to_rectangular : The inverse.
    rectangular_to_polar_dict : The same on each band of a pyramid.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import rectangular_to_polar
    >>> amplitude, phase = rectangular_to_polar(jnp.array([1 + 1j, 1 - 1j]))
    >>> amplitude
    Array([1.4142135, 1.4142135], dtype=float32)
    >>> phase
    Array([ 0.7853982, -0.7853982], dtype=float32)
    """
    x = jnp.asarray(x)
    return jnp.abs(x), jnp.angle(x)


def polar_to_rectangular(
    amplitude: Float[ArrayLike, "..."], phase: Float[ArrayLike, "..."]
) -> Complex[Array, "..."]:
    """Combine amplitude and phase into a complex array: ``amplitude * exp(1j * phase)``.

    Parameters
    ----------
    amplitude
        Non-negative real array.
    phase
        Real array (radians), broadcastable with ``amplitude``.

    Returns
    -------
    z
        Complex array (complex64 for float32 inputs, complex128 for float64).

    Raises
    ------
    ValueError
        If ``amplitude`` has a negative entry. The check needs concrete values, so it runs only
        outside ``jit``/``vmap``/``grad`` tracing.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import polar_to_rectangular
    >>> z = polar_to_rectangular(jnp.array([2.0]), jnp.array([jnp.pi / 2]))
    >>> abs(round(float(z.real[0]), 6)), float(z.imag[0])
    (0.0, 2.0)
    """
    amplitude = jnp.asarray(amplitude)
    phase = jnp.asarray(phase)
    if not isinstance(amplitude, jax.core.Tracer) and bool(jnp.any(amplitude < 0)):
        raise ValueError("`amplitude` must be non-negative.")
    return jax.lax.complex(amplitude * jnp.cos(phase), amplitude * jnp.sin(phase))


def rectangular_to_polar_dict(
    coeff_dict: dict, residuals: bool = False
) -> tuple[OrderedDict, OrderedDict]:
    """Amplitude and phase of every band of a pyramid (dict of coefficients).

    Parameters
    ----------
    coeff_dict
        Pyramid coefficients, e.g. the output of a complex
        :class:`~jaxoptic.pyramids.SteerablePyramid`. Keys starting with ``"residual"`` are
        residuals and are not transformed.
    residuals
        If True, copy ``"residual_lowpass"`` and ``"residual_highpass"`` into ``energy`` unchanged
        (both must be present).

    Returns
    -------
    energy
        ``OrderedDict`` of amplitudes, same (non-residual) keys and order.
    state
        ``OrderedDict`` of phases, same (non-residual) keys.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> pyr = jo.pyramids.SteerablePyramid((32, 32), height=2, is_complex=True)
    >>> energy, state = jo.process.rectangular_to_polar_dict(pyr(jnp.ones((1, 32, 32))))
    >>> list(energy.keys())
    [0, 1]
    """
    energy, state = OrderedDict(), OrderedDict()
    for key, value in coeff_dict.items():
        if not _is_residual(key):
            energy[key], state[key] = rectangular_to_polar(value)
    if residuals:
        energy["residual_lowpass"] = coeff_dict["residual_lowpass"]
        energy["residual_highpass"] = coeff_dict["residual_highpass"]
    return energy, state


def polar_to_rectangular_dict(energy: dict, state: dict) -> OrderedDict:
    """Inverse of :func:`rectangular_to_polar_dict`: complex bands from amplitudes and phases.

    Parameters
    ----------
    energy
        Amplitudes per band; may also hold ``"residual_lowpass"``/``"residual_highpass"``, which
        are copied unchanged (both must be present if one is).
    state
        Phases per band (same non-residual keys as ``energy``).

    Returns
    -------
    coeff_dict
        ``OrderedDict`` of complex bands (and residuals, if present in ``energy``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> pyr = jo.pyramids.SteerablePyramid((32, 32), height=2, is_complex=True)
    >>> coeffs = pyr(jnp.ones((1, 32, 32)))
    >>> energy, state = jo.process.rectangular_to_polar_dict(coeffs, residuals=True)
    >>> back = jo.process.polar_to_rectangular_dict(energy, state)
    >>> bool(jnp.allclose(back[1], coeffs[1], atol=1e-6))
    True
    """
    coeff_dict = OrderedDict()
    for key, value in energy.items():
        if not _is_residual(key):
            coeff_dict[key] = polar_to_rectangular(value, state[key])
    if "residual_lowpass" in energy:
        coeff_dict["residual_lowpass"] = energy["residual_lowpass"]
        coeff_dict["residual_highpass"] = energy["residual_highpass"]
    return coeff_dict


def modulate_phase(x: Complex[Array, "..."], phase_factor: float = 2.0) -> Complex[Array, "..."]:
    """Multiply the phase of a complex array by ``phase_factor`` (amplitude unchanged).

    Doubling the phase of a band lets it be correlated with the band of the next finer scale
    (as in the Portilla-Simoncelli statistics).

    Parameters
    ----------
    x
        Complex array.
    phase_factor
        Factor applied to the phase.

    Returns
    -------
    x_mod
        ``|x| * exp(1j * phase_factor * angle(x))``, same shape and dtype.

    Raises
    ------
    TypeError
        If ``x`` is not complex.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import modulate_phase
    >>> z = modulate_phase(jnp.array([1j]), 2.0)
    >>> float(z.real[0]), abs(round(float(z.imag[0]), 6))
    (-1.0, 0.0)
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"`x` must be complex-valued, got dtype {x.dtype}.")
    angle = jnp.arctan2(x.imag, x.real)
    amp = jnp.abs(x)
    return jax.lax.complex(amp * jnp.cos(phase_factor * angle), amp * jnp.sin(phase_factor * angle))


# ----------------------------------------------------------------------------------------------
# spatial helpers
# ----------------------------------------------------------------------------------------------


def rescale(x: Float[ArrayLike, "..."], a: float = 0.0, b: float = 1.0) -> Float[Array, "..."]:
    """Linearly map the range of ``x`` (global min and max) onto ``[a, b]``.

    A constant array maps to ``a``.

    Parameters
    ----------
    x
        Real array.
    a, b
        Output minimum and maximum.

    Returns
    -------
    rescaled
        Same shape and dtype as ``x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import rescale
    >>> rescale(jnp.array([2.0, 4.0, 6.0, 8.0]))
    Array([0.        , 0.33333334, 0.6666667 , 1.        ], dtype=float32)
    """
    x = jnp.asarray(x)
    lo = jnp.min(x)
    span = jnp.max(x) - lo
    g = x - lo
    g = jnp.where(span > 0, g / jnp.where(span > 0, span, 1), g)
    return a + g * (b - a)


def autocorrelation(x: Float[Array, "... H W"]) -> Float[Array, "... H W"]:
    """Circular autocorrelation over the last two axes, centred, divided by ``H * W``.

    Computed as ``irfft2(|rfft2(x)|**2)``, ``fftshift``-ed so that zero shift is at index
    ``(H // 2, W // 2)``; for a zero-mean ``x`` that centre value is the variance.

    Parameters
    ----------
    x
        Real array; the last two axes are height and width.

    Returns
    -------
    ac
        Same shape as ``x`` (see Notes for odd widths) and dtype.

    Notes
    -----
    As in plenoptic (which calls ``irfft2`` without a size), an odd width ``W`` gives an output of
    width ``W - 1``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import autocorrelation, center_crop
    >>> x = jnp.array([[1.0, -1.0], [-1.0, 1.0]])
    >>> autocorrelation(x)
    Array([[ 1., -1.],
           [-1.,  1.]], dtype=float32)
    >>> center_crop(autocorrelation(jnp.ones((1, 8, 8))), 3).shape
    (1, 3, 3)
    """
    _check_spatial(x, allow_complex=False)
    x = jnp.asarray(x)
    h, w = x.shape[-2:]
    spec = jnp.fft.rfft2(x)
    power = spec.real**2 + spec.imag**2
    ac = jnp.fft.irfft2(power)
    return jnp.fft.fftshift(ac, axes=(-2, -1)) / (h * w)


def center_crop(x: Inexact[Array, "... H W"], output_size: int) -> Inexact[Array, "... n n"]:
    """Crop the centre ``output_size x output_size`` window of the last two axes.

    The window starts at ``H // 2 - output_size // 2`` (and likewise for the width), so the centre
    pixel ``(H // 2, W // 2)`` of an even size (the zero shift of :func:`autocorrelation`) stays
    in the centre of an odd crop.

    Parameters
    ----------
    x
        Array whose last two axes are height and width.
    output_size
        Positive int, at most ``min(H, W)``.

    Returns
    -------
    cropped
        ``x[..., rows, cols]`` with ``output_size`` rows and columns.

    Raises
    ------
    TypeError
        If ``output_size`` is not a single int.
    ValueError
        If ``output_size`` is not positive or is larger than the height or width.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import center_crop
    >>> center_crop(jnp.arange(25.0).reshape(5, 5), 3)
    Array([[ 6.,  7.,  8.],
           [11., 12., 13.],
           [16., 17., 18.]], dtype=float32)
    """
    if np.ndim(x) < 2:
        raise ValueError(
            f"`x` must have at least 2 dimensions (height, width), got shape {np.shape(x)}."
        )
    if isinstance(output_size, (bool, np.bool_)) or np.ndim(output_size) != 0:
        raise TypeError(f"`output_size` must be a single int, got {output_size!r}.")
    if not np.issubdtype(np.asarray(output_size).dtype, np.integer):
        raise TypeError(f"`output_size` must be an int, got {output_size!r}.")
    n = int(output_size)
    h, w = np.shape(x)[-2:]
    if n > h or n > w:
        raise ValueError(f"`output_size` ({n}) is bigger than the height/width of `x` ({h}, {w}).")
    if n <= 0:
        raise ValueError(f"`output_size` must be positive, got {n}.")
    r0, c0 = h // 2 - n // 2, w // 2 - n // 2
    return x[..., r0 : r0 + n, c0 : c0 + n]


def _resample_size(n: int, factor: float, op: str) -> int:
    m = n * factor if op == "expand" else n / factor
    if int(m) != m:
        what = "factor * x.shape" if op == "expand" else "x.shape / factor"
        raise ValueError(
            f"{what} must give integers, got {m} for a side of {n} and factor {factor}."
        )
    return int(m)


def _check_factor(factor) -> None:
    if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, (int, float, np.number)):
        raise TypeError(f"`factor` must be a number greater than 1, got {factor!r}.")
    if factor <= 1:
        raise ValueError(f"`factor` must be strictly greater than 1, got {factor!r}.")


def _as_complex(x):
    return x if jnp.iscomplexobj(x) else x.astype(jnp.result_type(x.dtype, jnp.complex64))


def _centred_spectrum(x):
    return jnp.fft.fftshift(jnp.fft.fft2(_as_complex(x)), axes=(-2, -1))


def _from_centred_spectrum(spec, like):
    out = jnp.fft.ifft2(jnp.fft.ifftshift(spec, axes=(-2, -1)))
    return out if jnp.iscomplexobj(like) else out.real


def _edges(n: int, m: int) -> tuple[int, int]:
    """plenoptic's window ``[i1, i2)`` in the larger centred spectrum (sizes ``n`` and ``m``)."""
    big, small = max(n, m), min(n, m)
    return int(np.ceil(big / 2 + 1 - small / 2)), int(np.ceil(big / 2 + small / 2))


def _check_fits(n: int, m: int, factor) -> None:
    i1, i2 = _edges(n, m)
    if i1 < 1 or i2 >= max(n, m):
        raise ValueError(
            f"`factor` {factor} is too close to 1 for a side of {n}: the spectrum and its Nyquist "
            "edges do not fit. Use a larger factor or image."
        )


@partial(jax.jit, static_argnums=(1, 2, 3))
def _expand(x, factor, my, mx):
    im_y, im_x = x.shape[-2:]
    y1, y2 = _edges(im_y, my)
    x1, x2 = _edges(im_x, mx)
    f = factor**2 * _centred_spectrum(x)
    # the (im_y + 1, im_x + 1) block that lands on rows y1-1..y2 and columns x1-1..x2 of the big
    # spectrum: the Nyquist row and column of ``f`` are split in halves between opposite edges
    corner = f[..., :1, :1] / 4
    row = f[..., :1, 1:] / 2
    col = f[..., 1:, :1] / 2
    top = jnp.concatenate([corner, row, corner], axis=-1)
    middle = jnp.concatenate([col, f[..., 1:, 1:], jnp.flip(col, -2)], axis=-1)
    bottom = jnp.concatenate([corner, jnp.flip(row, -1), corner], axis=-1)
    block = jnp.concatenate([top, middle, bottom], axis=-2)
    pad = [(0, 0)] * (x.ndim - 2) + [(y1 - 1, my - y2 - 1), (x1 - 1, mx - x2 - 1)]
    return _from_centred_spectrum(jnp.pad(block, pad), x)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _shrink(x, factor, my, mx):
    im_y, im_x = x.shape[-2:]
    y1, y2 = _edges(im_y, my)
    x1, x2 = _edges(im_x, mx)
    f = 1 / factor**2 * _centred_spectrum(x)
    # frequencies on the window's edges are averaged into the small spectrum's Nyquist row/column
    row = (f[..., y1 - 1 : y1, x1:x2] + f[..., y2 : y2 + 1, x1:x2]) / 2
    col = (f[..., y1:y2, x1 - 1 : x1] + f[..., y1:y2, x2 : x2 + 1]) / 2
    corner = (
        f[..., y1 - 1 : y1, x1 - 1 : x1]
        + f[..., y1 - 1 : y1, x2 : x2 + 1]
        + f[..., y2 : y2 + 1, x1 - 1 : x1]
        + f[..., y2 : y2 + 1, x2 : x2 + 1]
    ) / 4
    top = jnp.concatenate([corner, row], axis=-1)
    rest = jnp.concatenate([col, f[..., y1:y2, x1:x2]], axis=-1)
    return _from_centred_spectrum(jnp.concatenate([top, rest], axis=-2), x)


def expand(x: Inexact[Array, "... H W"], factor: float) -> Inexact[Array, "... h w"]:
    """Upsample the last two axes by ``factor`` in the Fourier domain (zero-padding the spectrum).

    The centred spectrum is pasted in the middle of a larger zero spectrum and multiplied by
    ``factor**2`` (so values keep their scale); the Nyquist row and column are split in half
    between both edges. Real input gives real output.

    Parameters
    ----------
    x
        Real or complex array; the last two axes are height and width.
    factor
        Greater than 1, with ``factor * H`` and ``factor * W`` integers.

    Returns
    -------
    expanded
        Shape ``(..., factor * H, factor * W)``, same dtype as ``x``.

    Raises
    ------
    ValueError
        If ``factor <= 1`` or ``factor`` times the height or width is not an integer.

    See Also
    --------
    shrink : The inverse (up to the information lost by shrinking).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import expand
    >>> expand(jnp.ones((1, 4, 4)), 2).shape
    (1, 8, 8)
    >>> bool(jnp.allclose(expand(jnp.ones((4, 4)), 2), 1.0))
    True
    """
    _check_factor(factor)
    _check_spatial(x)
    x = jnp.asarray(x)
    im_y, im_x = x.shape[-2:]
    my = _resample_size(im_y, factor, "expand")
    mx = _resample_size(im_x, factor, "expand")
    _check_fits(im_y, my, factor)
    _check_fits(im_x, mx, factor)
    return _expand(x, factor, my, mx)


def shrink(x: Inexact[Array, "... H W"], factor: int) -> Inexact[Array, "... h w"]:
    """Downsample the last two axes by ``factor`` in the Fourier domain (cropping the spectrum).

    The centre of the spectrum is cut out and divided by ``factor**2``; the frequencies on the
    crop's edges are averaged into its Nyquist row and column. Real input gives real output.

    Parameters
    ----------
    x
        Real or complex array; the last two axes are height and width.
    factor
        Greater than 1, with ``H / factor`` and ``W / factor`` integers.

    Returns
    -------
    shrunk
        Shape ``(..., H / factor, W / factor)``, same dtype as ``x``.

    Raises
    ------
    ValueError
        If ``factor <= 1`` or the height or width divided by ``factor`` is not an integer.

    See Also
    --------
    expand : The (approximate) inverse.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import shrink
    >>> shrink(jnp.ones((1, 8, 8)), 2).shape
    (1, 4, 4)
    """
    _check_factor(factor)
    _check_spatial(x)
    x = jnp.asarray(x)
    im_y, im_x = x.shape[-2:]
    my = _resample_size(im_y, factor, "shrink")
    mx = _resample_size(im_x, factor, "shrink")
    _check_fits(im_y, my, factor)
    _check_fits(im_x, mx, factor)
    return _shrink(x, factor, my, mx)


def add_noise(
    img: Float[Array, "C H W"], noise_mse: float | Sequence[float] | ArrayLike, *, key: Array
) -> Float[Array, "C H W"] | Float[Array, "n C H W"]:
    """Add Gaussian noise whose mean squared value is exactly ``noise_mse`` in every channel.

    The noise is drawn, its global mean removed, then each channel is scaled so that the mean of
    its squared values is ``noise_mse`` (so ``mse(img + noise, img) == noise_mse``).

    Parameters
    ----------
    img
        One image ``(channels, height, width)``, float32 or float64.
    noise_mse
        Target MSE: a scalar, or a sequence of ``n`` values (one noisy copy per value).
    key
        JAX random key (keyword only).

    Returns
    -------
    noisy
        ``(C, H, W)`` for a scalar ``noise_mse``, ``(n, C, H, W)`` for a sequence; dtype of
        ``img``.

    Examples
    --------
    >>> import jax
    >>> import jax.numpy as jnp
    >>> from jaxoptic.process import add_noise
    >>> img = jnp.zeros((1, 16, 16))
    >>> noisy = add_noise(img, 0.1, key=jax.random.key(0))
    >>> bool(jnp.allclose(jnp.mean((noisy - img) ** 2), 0.1))
    True
    >>> add_noise(img, [0.01, 0.1], key=jax.random.key(0)).shape
    (2, 1, 16, 16)
    """
    check_image(img, "img")
    scalar = np.ndim(noise_mse) == 0
    mse = jnp.asarray(noise_mse, dtype=img.dtype).reshape(-1, 1, 1, 1)
    out = _add_noise(img, mse, key)
    return out[0] if scalar else out


@jax.jit
def _add_noise(img, mse, key):
    noise = jax.random.normal(key, (mse.shape[0], *img.shape), dtype=img.dtype)
    noise = noise - jnp.mean(noise)
    power = jnp.mean(noise**2, axis=(-2, -1), keepdims=True)
    return img + noise * jnp.sqrt(mse / power)
