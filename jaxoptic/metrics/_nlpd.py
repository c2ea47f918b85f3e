"""Normalized Laplacian pyramid distance (NLPD; Laparra, Ballé, Berardino & Simoncelli, 2016)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import check_image
from ..pyramids._laplacian import LaplacianPyramid
from ._common import check_pair

__all__ = ["nlpd", "normalized_laplacian_pyramid"]

_N_SCALES = 6
# The smallest image side the 6-level pyramid accepts: its fifth blur/downsample step reflect-pads by
# 2 pixels, so the image entering it (ceil(side / 16) pixels) must have at least 3.
_MIN_SIZE = 33

# Pre-optimised divisive-normalisation parameters of Laparra et al. (2016), from their MATLAB code
# (NLP_dist.m), as shipped by plenoptic in DN_filts.npy / DN_sigmas.npy: one 5x5 spatial pooling
# filter and one constant per pyramid level (finest first). Listed as the filters' nonzero entries
# (row, column, value); every other entry is 0. The decimal literals are exactly the float64 values
# of plenoptic's files (checked in tests/test_metrics.py).
_DN_FILTER_TAPS = (
    ((1, 2, 0.1011), (2, 1, 0.1493), (2, 3, 0.146), (2, 4, 0.0072), (3, 2, 0.1015)),
    ((1, 2, 0.0757), (2, 1, 0.1986), (2, 3, 0.1846), (3, 2, 0.0837)),
    ((1, 2, 0.0477), (2, 1, 0.2138), (2, 3, 0.2243), (3, 2, 0.0467)),
    ((2, 1, 0.2503), (2, 3, 0.2616)),
    ((2, 1, 0.2598), (2, 3, 0.2552)),
    ((2, 1, 0.2215), (2, 3, 0.0717)),
)
_DN_SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.022, 0.2782)
_DN_FILTER_SIZE = 5


def _dn_filters() -> np.ndarray:
    """The pooling filters as a dense float64 array ``(6, 5, 5)`` (plenoptic's ``DN_filts.npy``)."""
    filts = np.zeros((_N_SCALES, _DN_FILTER_SIZE, _DN_FILTER_SIZE))
    for level, taps in enumerate(_DN_FILTER_TAPS):
        for row, col, value in taps:
            filts[level, row, col] = value
    return filts


def _pool(x, taps):
    """Correlate each channel with a sparse 5x5 filter, zero padding 2 (same size), nonzero taps only."""
    h, w = x.shape[-2:]
    half = _DN_FILTER_SIZE // 2
    padded = jnp.pad(x, ((0, 0), (half, half), (half, half)))
    return sum(value * padded[:, row : row + h, col : col + w] for row, col, value in taps)


def _check_size(img, name: str = "img") -> None:
    height, width = np.shape(img)[-2:]
    if min(height, width) < _MIN_SIZE:
        raise ValueError(
            f"NLPD's 6-level Laplacian pyramid needs images of at least {_MIN_SIZE}x{_MIN_SIZE} pixels, "
            f"but `{name}` is {height}x{width}. Use a larger image."
        )


def _normalized_laplacian_pyramid(img):
    levels = LaplacianPyramid(n_scales=_N_SCALES, scale_filter=True)(img)
    return [
        level / (sigma + _pool(jnp.abs(level), taps))
        for level, sigma, taps in zip(levels, _DN_SIGMAS, _DN_FILTER_TAPS, strict=True)
    ]


def normalized_laplacian_pyramid(
    img: Float[Array, "channels height width"],
) -> list[Float[Array, "channels h w"]]:
    r"""Normalized Laplacian pyramid with the pre-optimised parameters of Laparra et al. (2016).

    The image is decomposed by a 6-level :class:`~jaxoptic.pyramids.LaplacianPyramid`
    (``scale_filter=True``). Each level :math:`L_b` is divided by a local estimate of its amplitude,

    .. math::

        y_b = \frac{L_b}{\sigma_b + P_b \star |L_b|},

    where :math:`P_b` is a fixed 5x5 pooling filter (zero padding) and :math:`\sigma_b` a constant,
    both taken from the authors' MATLAB code (plenoptic ships them as ``DN_filts.npy`` and
    ``DN_sigmas.npy``; jaxoptic stores the same float64 values). This is plenoptic's
    ``process.normalized_laplacian_pyramid``; :func:`nlpd` compares two images through it.

    Parameters
    ----------
    img
        One image ``(channels, height, width)``, values in [0, 1], at least 33x33 pixels. Channels
        are processed independently (the model was designed for grayscale images).

    Returns
    -------
    levels
        List of 6 arrays ``(channels, h_b, w_b)``, finest first, with ``h_{b+1} = ceil(h_b / 2)``.

    Raises
    ------
    ValueError
        If ``img`` is not 3-D or smaller than 33 pixels in height or width.
    TypeError
        If ``img`` is not floating point.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> levels = jo.metrics.normalized_laplacian_pyramid(jo.data.camera())
    >>> [level.shape for level in levels]
    [(1, 256, 256), (1, 128, 128), (1, 64, 64), (1, 32, 32), (1, 16, 16), (1, 8, 8)]
    """
    check_image(img, "img")
    _check_size(img)
    return _normalized_laplacian_pyramid_jit(img)


def nlpd(
    img1: Float[Array, "channels height width"],
    img2: Float[Array, "channels height width"],
    epsilon: float = 1e-10,
) -> Float[Array, " channels"]:
    r"""Normalized Laplacian pyramid distance (NLPD), per channel.

    Both images go through :func:`normalized_laplacian_pyramid` (6 levels :math:`y_b`); the
    distance is the average over levels of the root-mean-squared difference,

    .. math::

        \mathrm{NLPD}(x, y) = \frac{1}{6} \sum_{b=1}^{6}
            \sqrt{\frac{1}{n_b} \sum_i \left(y_b(x)_i - y_b(y)_i\right)^2 + \epsilon},

    with :math:`\epsilon` keeping the gradient finite at zero distance (so
    ``nlpd(x, x) = sqrt(epsilon)``). Same numbers as plenoptic's ``metric.nlpd``.

    Parameters
    ----------
    img1, img2
        Images ``(channels, height, width)`` with the same shape and floating dtype, values in
        [0, 1], at least 33x33 pixels. Each channel is compared separately.
    epsilon
        Added under each square root.

    Returns
    -------
    nlpd
        Array ``(channels,)`` in the images' dtype.

    Raises
    ------
    ValueError
        If an image is not 3-D, the shapes differ, or the images are smaller than 33x33.
    TypeError
        If an image is not floating point, or the dtypes differ.

    Notes
    -----
    plenoptic warns when images have several channels or values outside [0, 1]; jaxoptic does not
    (the value check cannot run under ``jit``).

    References
    ----------
    V. Laparra, J. Ballé, A. Berardino and E. P. Simoncelli, "Perceptual image quality assessment
    using a normalized Laplacian pyramid", Electronic Imaging 2016(16), 2016.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()
    >>> jo.metrics.nlpd(img, img)
    Array([1.e-05], dtype=float32)
    >>> jo.metrics.nlpd(img, jo.data.brick()).shape
    (1,)
    """
    check_pair(img1, img2)
    _check_size(img1, "img1")
    epsilon = jnp.asarray(epsilon, dtype=img1.dtype)
    return _nlpd(img1, img2, epsilon)


# Jitted once here, so that an eager call compiles one program rather than dispatching every
# operation of the pyramid (inside a user's jit they are simply inlined).
_normalized_laplacian_pyramid_jit = jax.jit(_normalized_laplacian_pyramid)


@jax.jit
def _nlpd(img1, img2, epsilon):
    # both images go through the pyramid together (channels are independent): one pyramid to compile
    n = img1.shape[0]
    levels = _normalized_laplacian_pyramid(jnp.concatenate([img1, img2], axis=0))
    dists = [
        jnp.sqrt(jnp.mean((level[:n] - level[n:]) ** 2, axis=(-2, -1)) + epsilon)
        for level in levels
    ]
    return sum(dists) / len(dists)
