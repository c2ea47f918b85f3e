"""Structural similarity: SSIM (Wang et al. 2004), its weighted variant (Wang & Simoncelli 2008), MS-SSIM."""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..process._conv import same_padding
from ._common import check_pair

__all__ = ["ms_ssim", "ssim", "ssim_map"]

# Stabilising constants for a dynamic range of 1: C1 = (0.01 L)^2, C2 = (0.03 L)^2.
# Python floats, so that they do not promote float32 images to float64.
_C1 = 0.01**2
_C2 = 0.03**2
_WINDOW_SIZE = 11
_WINDOW_STD = 1.5
_PAD_MODES = ("constant", "reflect", "replicate", "circular")
_MS_SSIM_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _check_pad(pad):
    if pad is False or (isinstance(pad, str) and pad in _PAD_MODES):
        return pad
    raise ValueError(
        f"`pad` must be False (no padding: the SSIM map is smaller than the image) or one of "
        f"{_PAD_MODES} ('constant' pads with zeros), got {pad!r}."
    )


def _warn_small(height: int, width: int, what: str) -> None:
    # Shape-only check: runs once per trace, never on traced values.
    if min(height, width) < _WINDOW_SIZE:
        warnings.warn(
            f"{what} uses an 11x11 Gaussian window, but the image is {height}x{width}; the window is "
            f"shrunk to {min(height, width)}x{min(height, width)}, as in plenoptic.",
            UserWarning,
            stacklevel=3,
        )


@functools.cache
def _window_1d(size: int) -> tuple[float, ...]:
    """1-D factor of the normalised ``size x size`` circular Gaussian window (std 1.5), float64.

    The circular Gaussian is separable: plenoptic's 2-D window (``circular_gaussian2d(size, 1.5)``,
    centred at ``(size + 1) / 2``, summing to 1) is the outer product of this factor with itself.
    Returned as Python floats, so that multiplying an image keeps the image's dtype.
    """
    shift = np.arange(1, size + 1) - (size + 1) / 2
    g = np.exp(-(shift**2) / (2 * _WINDOW_STD**2))
    return tuple(float(v) for v in g / g.sum())


def _filter_valid_direct(x, f):
    """Valid correlation of the last two axes of ``x`` with ``outer(f, f)``, as sums of shifted slices."""
    k = len(f)
    h, w = x.shape[-2:]
    y = sum(f[i] * x[..., i : i + h - k + 1, :] for i in range(k))
    return sum(f[j] * y[..., :, j : j + w - k + 1] for j in range(k))


def _filter_valid_fft(x, f):
    """The same correlation through real FFTs (circular correlation of the image size, then cropped)."""
    k = len(f)
    h, w = x.shape[-2:]
    filt = jnp.asarray(np.outer(f, f), dtype=x.dtype)
    spectrum = jnp.conj(jnp.fft.rfft2(filt, s=(h, w)))
    out = jnp.fft.irfft2(jnp.fft.rfft2(x) * spectrum, s=(h, w))
    return out[..., : h - k + 1, : w - k + 1].astype(x.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _filter_valid(x, f):
    """Valid separable Gaussian filtering of ``x`` (..., H, W) with ``outer(f, f)``.

    Values are computed by shifted slices (exact: identical images give exactly identical local
    moments, and no FFT rounding noise of either sign). The filter is linear, so its derivative is
    the filter itself; derivatives go through the FFT version, because XLA transposes a sum of
    slices into a sum of full-size pads, which is several times slower than FFTs on CPU. This
    supports forward and reverse mode alike.
    """
    return _filter_valid_direct(x, f)


@_filter_valid.defjvp
def _filter_valid_jvp(f, primals, tangents):
    (x,), (t,) = primals, tangents
    return _filter_valid_direct(x, f), _filter_valid_fft(t, f)


def _ssim_parts(img1, img2, pad=False):
    """Return ``(ssim_map, contrast_structure_map, weight)``, each ``(C, h, w)``."""
    height, width = img1.shape[-2:]
    size = min(_WINDOW_SIZE, height, width)
    window = _window_1d(size)
    # Local moments are taken about each channel's global mean c: the local (co)variances do not
    # depend on c (E[(x-c)^2] - E[x-c]^2 = E[x^2] - E[x]^2), but centring reduces the cancellation
    # in that difference, which dominates SSIM's rounding error in float32. c is a constant for
    # differentiation (the result does not depend on it).
    c1 = jax.lax.stop_gradient(jnp.mean(img1, axis=(-2, -1), keepdims=True))
    c2 = jax.lax.stop_gradient(jnp.mean(img2, axis=(-2, -1), keepdims=True))
    if pad is not False:
        img1 = same_padding(img1, (size, size), pad_mode=pad)
        img2 = same_padding(img2, (size, size), pad_mode=pad)
    d1 = img1 - c1
    d2 = img2 - c2
    n = img1.shape[0]
    # one pass of the window over the five local moments
    stacked = jnp.concatenate([d1, d2, d1 * d1, d2 * d2, d1 * d2], axis=0)
    local = _filter_valid(stacked, window)
    m1, m2, e11, e22, e12 = (local[i * n : (i + 1) * n] for i in range(5))
    sigma1_sq = e11 - m1 * m1
    sigma2_sq = e22 - m2 * m2
    sigma12 = e12 - m1 * m2
    mu1 = m1 + c1
    mu2 = m2 + c2
    mu1_sq = mu1 * mu1
    mu2_sq = mu2 * mu2
    mu1_mu2 = mu1 * mu2
    luminance = (2 * mu1_mu2 + _C1) / (mu1_sq + mu2_sq + _C1)
    contrast_structure = (2 * sigma12 + _C2) / (sigma1_sq + sigma2_sq + _C2)
    weight = jnp.log((1 + sigma1_sq / _C2) * (1 + sigma2_sq / _C2))
    return luminance * contrast_structure, contrast_structure, weight


def ssim(
    img1: Float[Array, "channels height width"],
    img2: Float[Array, "channels height width"],
    weighted: bool = False,
    pad: Literal[False, "constant", "reflect", "replicate", "circular"] = False,
) -> Float[Array, " channels"]:
    r"""Structural similarity index (SSIM), per channel.

    SSIM (Wang et al., 2004) compares two images through local luminance, contrast and structure,
    computed under an 11x11 Gaussian window (standard deviation 1.5 pixels). With local means
    :math:`\mu`, variances :math:`\sigma^2` and covariance :math:`\sigma_{12}`,

    .. math::

        \mathrm{SSIM}(x, y) = \frac{2\mu_1\mu_2 + C_1}{\mu_1^2 + \mu_2^2 + C_1}
                              \cdot \frac{2\sigma_{12} + C_2}{\sigma_1^2 + \sigma_2^2 + C_2},
        \qquad C_1 = 0.01^2, \; C_2 = 0.03^2,

    and this function returns the average of that map over the image (see :func:`ssim_map`).
    ``weighted=True`` uses the weighted average of Wang & Simoncelli (2008),
    :math:`\sum_i w_i \mathrm{SSIM}_i / \sum_i w_i` with
    :math:`w = \log((1 + \sigma_1^2 / C_2)(1 + \sigma_2^2 / C_2))`.

    SSIM is a similarity: 1 for identical images, smaller for different ones (it can be negative).
    The constants assume values in [0, 1]. Same numbers as plenoptic's ``metric.ssim``.

    Parameters
    ----------
    img1, img2
        Images ``(channels, height, width)`` with the same shape and floating dtype, values in
        [0, 1]. Each channel is compared separately (SSIM was designed for grayscale images).
        For batches use ``jax.vmap``.
    weighted
        Whether to use the weighted average (Wang & Simoncelli, 2008) instead of the plain mean.
    pad
        ``False`` (default): the window only visits positions inside the image, so the map is
        ``(H - 10) x (W - 10)``. Otherwise the padding mode used to keep the map at the image size:
        ``"constant"`` (zeros), ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Returns
    -------
    mssim
        Array ``(channels,)`` in the images' dtype.

    Raises
    ------
    ValueError
        If an image is not 3-D, the shapes differ, or ``pad`` is not one of the options.
    TypeError
        If an image is not floating point, or the dtypes differ.

    Warns
    -----
    UserWarning
        If the image is smaller than 11 pixels in height or width: the window then shrinks to
        ``min(H, W)`` (as in plenoptic). This is decided from the shape, when the function is traced.

    Notes
    -----
    plenoptic also warns when images have several channels or values outside [0, 1]. jaxoptic does
    not: the value check would need concrete values (it cannot run under ``jit``), and channels are
    simply computed independently.

    *Constant images with* ``weighted=True``. The weights :math:`w` vanish where both images are
    locally constant, so for two constant images (constant after padding) the weighted average is
    0/0. The SSIM map is then constant as well, every weighted average of it is that constant, and
    this function returns the plain mean (e.g. 1 for two equal constant images). plenoptic computes
    the local variances as :math:`E[x^2] - E[x]^2`, whose rounding usually leaves tiny non-zero
    weights: it returns the same value to rounding (0.80006397952652 for constants 0.5 and 0.25 in
    float64, as here), except when the rounding is exactly zero (e.g. two all-zero images), where
    plenoptic returns NaN and this function 1. jaxoptic centres the moments, so its variances of
    constant images are exactly 0.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment: from error
    visibility to structural similarity", IEEE Trans. Image Processing 13(4), 2004.
    Z. Wang and E. P. Simoncelli, "Maximum differentiation (MAD) competition: a methodology for
    comparing computational models of perceptual quantities", Journal of Vision 8(12), 2008.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :64, :64]
    >>> noisy = img + 0.1 * jax.random.normal(jax.random.key(0), img.shape, img.dtype)
    >>> jo.metrics.ssim(img, img)
    Array([1.], dtype=float32)
    >>> jo.metrics.ssim(img, noisy).shape
    (1,)
    """
    check_pair(img1, img2)
    pad = _check_pad(pad)
    _warn_small(*img1.shape[-2:], "SSIM")
    return _ssim(img1, img2, weighted=bool(weighted), pad=pad)


# The computations are jitted once here, so that an eager call compiles one program rather than
# dispatching every operation (inside a user's jit they are simply inlined). Input checks and the
# shape warning stay outside, in the public functions.
@functools.partial(jax.jit, static_argnames=("weighted", "pad"))
def _ssim(img1, img2, weighted, pad):
    map_ssim, _, weight = _ssim_parts(img1, img2, pad)
    mean = jnp.mean(map_ssim, axis=(-2, -1))
    if weighted:
        # All weights are 0 only where both (padded) images are constant; the SSIM map is then
        # constant too, and any weighted average of it equals the plain mean (see ssim's Notes).
        total = jnp.sum(weight, axis=(-2, -1))
        flat = total == 0
        weighted_mean = jnp.sum(map_ssim * weight, axis=(-2, -1)) / jnp.where(flat, 1, total)
        return jnp.where(flat, mean, weighted_mean)
    return mean


def ssim_map(
    img1: Float[Array, "channels height width"], img2: Float[Array, "channels height width"]
) -> Float[Array, "channels map_height map_width"]:
    """Map of local SSIM values (no padding), per channel.

    The quantity averaged by :func:`ssim` (see there for the formula), at every position where the
    11x11 window fits inside the image: ``(channels, H - 10, W - 10)`` (for images smaller than 11
    pixels the window shrinks to ``k = min(H, W)`` and the map is ``(H - k + 1, W - k + 1)``).
    plenoptic exposes this as ``process.ssim_map``.

    Parameters
    ----------
    img1, img2
        Images ``(channels, height, width)`` with the same shape and floating dtype, values in
        [0, 1].

    Returns
    -------
    map
        Array ``(channels, H - 10, W - 10)`` in the images' dtype.

    Raises
    ------
    ValueError
        If an image is not 3-D or the shapes differ.
    TypeError
        If an image is not floating point, or the dtypes differ.

    Warns
    -----
    UserWarning
        If the image is smaller than 11 pixels in height or width.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()
    >>> jo.metrics.ssim_map(img, img).shape
    (1, 246, 246)
    """
    check_pair(img1, img2)
    _warn_small(*img1.shape[-2:], "SSIM")
    return _ssim_map(img1, img2)


@jax.jit
def _ssim_map(img1, img2):
    return _ssim_parts(img1, img2)[0]


def _downsample2(x):
    """Average 2x2 blocks, after repeating the last row / column of odd-sized images."""
    h, w = x.shape[-2:]
    x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    h2, w2 = x.shape[-2] // 2, x.shape[-1] // 2
    blocks = x.reshape(x.shape[0], h2, 2, w2, 2)
    return jnp.mean(blocks, axis=(2, 4))


def _ms_ssim_min_size(n_scales: int) -> int:
    """Smallest image side for which the coarsest of ``n_scales`` scales is at least 11 pixels."""
    return (_WINDOW_SIZE - 1) * 2 ** (n_scales - 1) + 1


def ms_ssim(
    img1: Float[Array, "channels height width"],
    img2: Float[Array, "channels height width"],
    power_factors: Float[ArrayLike, " n_scales"] | None = None,
) -> Float[Array, " channels"]:
    r"""Multi-scale structural similarity (MS-SSIM), per channel.

    MS-SSIM (Wang, Simoncelli & Bovik, 2003) evaluates SSIM's terms on a sequence of scales, each
    obtained from the previous one by averaging 2x2 blocks (odd sizes first repeat their last row /
    column). With :math:`M` scales,

    .. math::

        \mathrm{MS\text{-}SSIM} = \mathrm{SSIM}_M^{a_M} \prod_{i=1}^{M-1} \mathrm{CS}_i^{a_i},

    where :math:`\mathrm{CS}_i` is the mean contrast-structure map (SSIM without its luminance
    term) at scale :math:`i` (finest first) and :math:`\mathrm{SSIM}_M` the mean SSIM map at the
    coarsest scale. Negative means are clipped to 0 (so MS-SSIM is 0 when any of them is negative).
    Same numbers as plenoptic's ``metric.ms_ssim``.

    Parameters
    ----------
    img1, img2
        Images ``(channels, height, width)`` with the same shape and floating dtype, values in
        [0, 1]. Each side must be at least ``10 * 2**(M - 1) + 1`` pixels (161 for the default 5
        scales) so that the 11x11 window fits at the coarsest scale.
    power_factors
        Exponents :math:`a_i`, finest scale first; their number sets the number of scales :math:`M`.
        Default ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``, the values fitted in the paper. May be a
        traced array (the number of scales is its static length).

    Returns
    -------
    msssim
        Array ``(channels,)`` in the images' dtype.

    Raises
    ------
    ValueError
        If an image is not 3-D, the shapes differ, ``power_factors`` is not a non-empty 1-D sequence,
        or the images are too small for the number of scales.
    TypeError
        If an image is not floating point, or the dtypes differ.

    Notes
    -----
    plenoptic accepts smaller images (it shrinks the window at coarse scales and warns); jaxoptic
    raises instead, because the result is then no longer MS-SSIM as defined. Use fewer
    ``power_factors`` (each one fewer halves the minimum size) or :func:`ssim` for small images.
    As for :func:`ssim`, there is no warning for several channels or values outside [0, 1].

    References
    ----------
    Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multiscale structural similarity for image quality
    assessment", 37th Asilomar Conference on Signals, Systems and Computers, 2003.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()
    >>> jo.metrics.ms_ssim(img, img)
    Array([1.], dtype=float32)
    >>> jo.metrics.ms_ssim(img, jo.data.brick(), power_factors=[0.5, 0.5]).shape
    (1,)
    """
    check_pair(img1, img2)
    if power_factors is None:
        power_factors = _MS_SSIM_POWER_FACTORS
    power_factors = jnp.asarray(power_factors, dtype=img1.dtype)
    if power_factors.ndim != 1 or power_factors.shape[0] < 1:
        raise ValueError(
            "`power_factors` must be a non-empty 1-D sequence of exponents (one per scale, finest first), "
            f"got shape {power_factors.shape}."
        )
    n_scales = power_factors.shape[0]
    height, width = img1.shape[-2:]
    min_size = _ms_ssim_min_size(n_scales)
    if min(height, width) < min_size:
        raise ValueError(
            f"ms_ssim with {n_scales} scales needs images of at least {min_size}x{min_size} pixels (the "
            f"coarsest scale, {2 ** (n_scales - 1)} times smaller, must fit the 11x11 SSIM window), but the "
            f"images are {height}x{width}. Use larger images, fewer `power_factors` (each one fewer halves "
            "the minimum size), or ssim."
        )
    return _ms_ssim(img1, img2, power_factors)


@jax.jit
def _ms_ssim(img1, img2, power_factors):
    n_scales = power_factors.shape[0]
    result = jnp.ones(img1.shape[:1], img1.dtype)
    for i in range(n_scales - 1):
        _, contrast_structure, _ = _ssim_parts(img1, img2)
        result = (
            result * jax.nn.relu(jnp.mean(contrast_structure, axis=(-2, -1))) ** power_factors[i]
        )
        img1 = _downsample2(img1)
        img2 = _downsample2(img2)
    map_ssim, _, _ = _ssim_parts(img1, img2)
    return result * jax.nn.relu(jnp.mean(map_ssim, axis=(-2, -1))) ** power_factors[-1]
