"""Portilla-Simoncelli texture statistics (plenoptic's ``PortillaSimoncelli``).

The statistics (Portilla and Simoncelli, 2000) are computed from a complex steerable pyramid: pixel
moments, autocorrelations and moments of the lowpass images reconstructed at each scale,
autocorrelations and cross-orientation correlations of the coefficient magnitudes, cross-scale
correlations of magnitudes and of real parts (after doubling the phase of the coarser scale), and the
variance of the highpass residual. The statistics, their order and their values are plenoptic 2.1.1's.

Implementation
--------------
Everything is computed in the Fourier domain with the masks of
:class:`~jaxoptic.pyramids.SteerablePyramid` (unshifted FFT layout, DC at ``[0, 0]``), sharing work that
plenoptic repeats:

- The band spectra are kept: the upsampled, phase-doubled coarser bands are built from them (plenoptic
  takes the FFT of each band again in ``expand``), and the lowpass reconstructions use them directly
  (plenoptic's ``recon_pyr`` takes the FFT of every band again, once per scale). The
  reconstruction at scale ``j`` (residual lowpass plus bands ``j .. n_scales-1``) is accumulated
  coarse to fine at the resolution of scale ``j``: plenoptic reconstructs each at full resolution and
  then shrinks it (``shrink(., 2**j) * 4**j``), and that crop is exactly the spectrum we keep, with the
  boundary-row weights of ``shrink`` folded into a fixed mask.
- Autocorrelations use the power spectrum (``rfft2``) and evaluate the inverse transform only at the
  ``spatial_corr_width**2`` central shifts, as two small matrix products.
- The variance of the highpass residual comes from its spectrum (Parseval), with no inverse FFT.

These are exact rewrites (parity with plenoptic is checked to 1e-6 relative in float64).

The code is also shaped for a small compiled program: XLA:CPU spends about the same time compiling
each kernel (fusion) whatever its size, and the value and gradient of these statistics are hundreds
of kernels. So the per-scale work is kept to what needs each scale's size (FFTs, products,
reductions) and the normalisations of all scales are done together after the loop; a half-size crop
of a spectrum is one strided slice (its gradient one pad); and the masks, which multiply complex
spectra, are stored complex (a real mask would be promoted, and its complex copy materialised, in
every compiled program). The value and gradient of the defaults compile to about 200 kernels.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._arrays import constant
from .._validation import as_shape2d, check_image, check_image_shape
from ..pyramids._steerable import SteerablePyramid

__all__ = ["PortillaSimoncelli"]

# ----------------------------------------------------------------------------------------------------------
# bookkeeping: group shapes, scale labels, redundancy masks (numpy, cached per configuration)


class _Layout:
    """Shapes, scale labels and redundancy masks of the statistics for one configuration."""

    def __init__(self, n_scales: int, n_orientations: int, width: int):
        s, o, k = n_scales, n_orientations, width
        scales = list(range(s))
        with_lowpass = [*scales, "residual_lowpass"]

        def labelled(shape, labels_last_axis):
            lab = np.empty(shape, dtype=object)
            for i, name in enumerate(labels_last_axis):
                lab[..., i] = name
            return lab

        labels = OrderedDict()
        labels["pixel_statistics"] = np.array(6 * ["pixel_statistics"], dtype=object)
        labels["auto_correlation_magnitude"] = labelled((k, k, o, s), scales)
        labels["skew_reconstructed"] = labelled((s + 1,), with_lowpass)
        labels["kurtosis_reconstructed"] = labelled((s + 1,), with_lowpass)
        labels["auto_correlation_reconstructed"] = labelled((k, k, s + 1), with_lowpass)
        labels["std_reconstructed"] = labelled((s + 1,), with_lowpass)
        labels["cross_orientation_correlation_magnitude"] = labelled((o, o, s), scales)
        labels["magnitude_std"] = labelled((o, s), scales)
        labels["cross_scale_correlation_magnitude"] = labelled((o, o, s - 1), scales[:-1])
        labels["cross_scale_correlation_real"] = labelled((o, 2 * o, s - 1), scales[:-1])
        labels["var_highpass_residual"] = np.array(["residual_highpass"], dtype=object)

        # autocorrelations are symmetric (M[i, j] == M[-i-1, -j-1] about the centre): keep the lower
        # triangle, plus row 0 for even widths (it has no partner), minus the diagonal from the centre
        # on (the centre is 1 after normalisation, the rest of that half-diagonal repeats the first half)
        ac = np.tril(np.ones((k, k), dtype=bool))
        if k % 2 == 0:
            ac[0] = True
        centre = np.arange(k // 2, k)
        ac[centre, centre] = False
        # cross-orientation correlations are symmetric with unit diagonal: strict lower triangle
        cross = np.tril(np.ones((o, o), dtype=bool), -1)

        masks = OrderedDict()
        for name, lab in labels.items():
            if name in ("auto_correlation_magnitude", "auto_correlation_reconstructed"):
                m = np.broadcast_to(ac.reshape(k, k, *([1] * (lab.ndim - 2))), lab.shape)
            elif name == "cross_orientation_correlation_magnitude":
                m = np.broadcast_to(cross[:, :, None], lab.shape)
            else:
                m = np.ones(lab.shape, dtype=bool)
            masks[name] = np.array(m, dtype=bool)

        self.shapes = OrderedDict((name, lab.shape) for name, lab in labels.items())
        self.masks = masks
        flat_mask = np.concatenate([m.ravel() for m in masks.values()])
        flat_labels = np.concatenate([lab.ravel() for lab in labels.values()])
        self.n_full = flat_mask.size
        self.kept = np.flatnonzero(flat_mask)
        self.labels = tuple(flat_labels[self.kept].tolist())
        self.n_stats = self.kept.size
        # positions (in the full, unmasked vector) of each group
        sizes = [int(np.prod(sh)) for sh in self.shapes.values()]
        self.offsets = OrderedDict(
            zip(self.shapes, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True)
        )

    def select(self, scales) -> np.ndarray:
        """Indices (into the kept statistics) of the statistics of ``scales``."""
        wanted = set(scales)
        return np.array([i for i, lab in enumerate(self.labels) if lab in wanted], dtype=np.int64)


# full float32 precision for the matrix products (GPUs would otherwise use TF32 for float32)
_HIGHEST = jax.lax.Precision.HIGHEST


@functools.lru_cache(maxsize=64)
def _get_layout(n_scales: int, n_orientations: int, width: int) -> _Layout:
    return _Layout(n_scales, n_orientations, width)


# ----------------------------------------------------------------------------------------------------------
# numpy helpers (construction time)


def _crop_np(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centred low-frequency window of an unshifted spectrum (the pyramid's downsampling)."""
    for axis, m in zip((-2, -1), shape, strict=True):
        n = x.shape[axis]
        lo = np.take(x, np.arange(0, (m + 1) // 2), axis=axis)
        hi = np.take(x, np.arange(n - m // 2, n), axis=axis)
        x = np.concatenate([lo, hi], axis=axis)
    return x


def _mirror_np(x: np.ndarray) -> np.ndarray:
    """``x[-f]`` for an unshifted spectrum (frequency negation on both axes)."""
    return np.roll(np.flip(x, (-2, -1)), 1, axis=(-2, -1))


def _shrink_weights(shape: tuple[int, int]) -> np.ndarray:
    """Effective boundary weights of plenoptic's ``shrink`` on a band-limited, real image.

    ``shrink`` folds the two boundary rows (and columns) of the centred window into one with weight
    1/2 each. For the reconstructions, whose spectrum lies inside the window, this leaves the window
    times 1/2 on its first row and column (1/4 at the corner); the real part taken at the end
    symmetrises those weights. Returned in unshifted layout.
    """
    h, w = shape
    wr = np.ones(h)
    wr[0] = 0.5
    wc = np.ones(w)
    wc[0] = 0.5
    weights = np.fft.ifftshift(np.outer(wr, wc))
    return 0.5 * (weights + _mirror_np(weights))


def _autocorr_length(w: int) -> int:
    """Length of the last axis of plenoptic's autocorrelation of a signal of width ``w``.

    plenoptic calls ``irfft2`` without ``s``, so the inverse has width ``2 * (w // 2)``: ``w`` when it
    is even, ``w - 1`` when it is odd (only the residual lowpass can be odd).
    """
    return 2 * (w // 2)


def _autocorr_matrices(shape: tuple[int, int], width: int) -> tuple[np.ndarray, ...]:
    """Matrices evaluating plenoptic's autocorrelation of a power spectrum at the central shifts.

    For a power spectrum ``p`` (``rfft2`` layout, ``(h, w // 2 + 1)``), the circular autocorrelation
    at shifts ``d = -(width // 2) .. (width + 1) // 2 - 1`` times ``h * w'`` (``w'`` from
    :func:`_autocorr_length`) is ``c1.T @ p @ c2 - s1.T @ p @ s2``, which is ``irfft2(p)`` at those
    shifts. Returns ``(stack([c1, -s1], axis=1), concatenate([c2, s2], axis=1))``: the first is
    ``(h, 2, width)``, the layout in which the product contracts it (no transposed copy).
    """
    h, w = shape
    wlen = _autocorr_length(w)
    shifts = np.arange(-(width // 2), (width + 1) // 2)
    k1 = np.arange(h)
    k2 = np.arange(w // 2 + 1)
    # exact phases: reduce k * d modulo the length in integers before scaling
    ph1 = 2 * np.pi * (np.outer(k1, shifts) % h) / h
    ph2 = 2 * np.pi * (np.outer(k2, shifts) % wlen) / wlen
    # Hermitian weights of the half spectrum; the last entry is the Nyquist term of length wlen
    weight = np.full(k2.size, 2.0)
    weight[0] = 1.0
    weight[-1] = 1.0
    c1, s1 = np.cos(ph1), np.sin(ph1)
    c2, s2 = weight[:, None] * np.cos(ph2), weight[:, None] * np.sin(ph2)
    return np.stack([c1, -s1], axis=1), np.concatenate([c2, s2], axis=1)


# ----------------------------------------------------------------------------------------------------------
# jax helpers (call time)


def _halving(big: tuple[int, ...], small: tuple[int, ...]) -> bool:
    """True when every ``small`` size is even and half the ``big`` one (the pyramid's downsampling,
    but for an odd coarsest band)."""
    return all(n == 2 * m and m % 2 == 0 for n, m in zip(big, small, strict=True))


def _crop(x: Array, shape: tuple[int, int]) -> Array:
    """Centred low-frequency window of an unshifted spectrum (last two axes)."""
    (n0, n1), (m0, m1) = x.shape[-2:], shape
    if _halving((n0, n1), (m0, m1)):
        # a window of half the size is the first and last quarters of each axis: one strided slice
        # of the quarters (a single operation, and a single `pad` in the gradient)
        lead = x.shape[:-2]
        quarters = x.reshape(*lead, 4, m0 // 2, 4, m1 // 2)
        return quarters[..., ::3, :, ::3, :].reshape(*lead, m0, m1)
    for axis, m in zip((-2, -1), shape, strict=True):
        n = x.shape[axis]
        x = jnp.concatenate(
            [
                jax.lax.slice_in_dim(x, 0, (m + 1) // 2, axis=axis % x.ndim),
                jax.lax.slice_in_dim(x, n - m // 2, n, axis=axis % x.ndim),
            ],
            axis=axis,
        )
    return x


def _put(x: Array, shape: tuple[int, int]) -> Array:
    """Inverse of :func:`_crop`: place a small unshifted spectrum in a zero spectrum of ``shape``."""
    (m0, m1), (n0, n1) = x.shape[-2:], shape
    if _halving((n0, n1), (m0, m1)):
        # the halves of each axis become its first and last quarters: one interior `pad`
        lead = x.shape[:-2]
        halves = x.reshape(*lead, 2, m0 // 2, 2, m1 // 2)
        pads = [(0, 0, 0)] * len(lead) + [(0, 0, 2), (0, 0, 0), (0, 0, 2), (0, 0, 0)]
        return jax.lax.pad(halves, jnp.zeros((), x.dtype), pads).reshape(*lead, n0, n1)
    for axis, n in zip((-2, -1), shape, strict=True):
        m = x.shape[axis]
        ax = axis % x.ndim
        zshape = list(x.shape)
        zshape[ax] = n - m
        x = jnp.concatenate(
            [
                jax.lax.slice_in_dim(x, 0, (m + 1) // 2, axis=ax),
                jnp.zeros(zshape, x.dtype),
                jax.lax.slice_in_dim(x, (m + 1) // 2, m, axis=ax),
            ],
            axis=axis,
        )
    return x


def _times_i_power(z: Array, k: int) -> Array:
    """``1j**k * z``, exactly (a swap of the real and imaginary parts and signs)."""
    k %= 4
    if k == 0:
        return z
    if k == 2:
        return -z
    if k == 1:
        return jax.lax.complex(-z.imag, z.real)
    return jax.lax.complex(z.imag, -z.real)


def _abs2(z: Array) -> Array:
    return z.real * z.real + z.imag * z.imag


def _centre_autocorr(power: Array, mats: tuple[Array, Array], width: int) -> Array:
    """Unnormalised central autocorrelation ``(..., width, width)`` from an ``rfft2`` power spectrum."""
    left, right = mats
    q = jnp.einsum("...hk,kd->...hd", power, right, precision=_HIGHEST)
    q = q.reshape(*q.shape[:-1], 2, width)
    return jnp.einsum("hta,...htb->...ab", left, q, precision=_HIGHEST)


def _covariance(a: Array, b: Array) -> Array:
    """``sum(a_i * b_j)`` over the last two axes, ``(..., i, j)`` (divide by the size for the mean)."""
    return jnp.einsum("...ihw,...jhw->...ij", a, b, precision=_HIGHEST)


# ----------------------------------------------------------------------------------------------------------
# argument checks


def _is_traced(x) -> bool:
    """True for abstract values inside ``jit``/``vmap``/``grad`` (numpy is used otherwise)."""
    return isinstance(x, jax.core.Tracer)


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value}.")
    return int(value)


class PortillaSimoncelli(eqx.Module):
    r"""Portilla-Simoncelli texture statistics of one image.

    The statistics of Portilla and Simoncelli (2000), computed from a complex steerable pyramid
    (:class:`~jaxoptic.pyramids.SteerablePyramid` with ``height=n_scales``,
    ``order=n_orientations - 1``, ``is_complex=True``). They are the same statistics, in the same
    order and with the same values as plenoptic 2.1.1's ``PortillaSimoncelli``; redundant entries
    (symmetric halves of autocorrelation and cross-orientation matrices, unit diagonals) are left
    out. Groups, in output order (``S = n_scales``, ``O = n_orientations``,
    ``k = spatial_corr_width``; shapes as given by :meth:`to_dict`, per channel):

    =========================================== ================== =================================
    group                                       shape              definition
    =========================================== ================== =================================
    ``pixel_statistics``                        ``(6,)``           mean, unbiased variance, skew,
                                                                   kurtosis, min and max of the
                                                                   image
    ``auto_correlation_magnitude``              ``(k, k, O, S)``   central autocorrelation of each
                                                                   band's demeaned magnitude,
                                                                   divided by its variance
    ``skew_reconstructed``                      ``(S + 1,)``       skew of the lowpass image
                                                                   reconstructed at each scale
                                                                   (last: residual lowpass)
    ``kurtosis_reconstructed``                  ``(S + 1,)``       kurtosis of the same images
    ``auto_correlation_reconstructed``          ``(k, k, S + 1)``  their normalised central
                                                                   autocorrelations
    ``std_reconstructed``                       ``(S + 1,)``       their standard deviations
    ``cross_orientation_correlation_magnitude`` ``(O, O, S)``      correlations of the magnitudes
                                                                   across orientations
    ``magnitude_std``                           ``(O, S)``         standard deviations of the
                                                                   magnitudes
    ``cross_scale_correlation_magnitude``       ``(O, O, S - 1)``  correlations of the magnitudes
                                                                   with those of the phase-doubled
                                                                   next coarser scale
    ``cross_scale_correlation_real``            ``(O, 2O, S - 1)`` correlations of the real parts
                                                                   with the real and imaginary parts
                                                                   of the phase-doubled next coarser
                                                                   scale
    ``var_highpass_residual``                   ``(1,)``           mean square of the highpass
                                                                   residual
    =========================================== ================== =================================

    The defaults on a 256x256 image give 710 statistics.

    Parameters
    ----------
    image_shape
        ``(height, width)`` of the images (an int means a square image). Both must be divisible by
        ``2**n_scales``.
    n_scales
        Number of pyramid scales, at least 1 and at most ``floor(log2(min(image_shape))) - 2``.
    n_orientations
        Number of orientations, in ``[2, 16]``.
    spatial_corr_width
        Width of the central autocorrelation windows, at least 1 and at most the size of the coarsest
        (residual lowpass) band, ``min(image_shape) / 2**n_scales``.

    Attributes
    ----------
    scales : tuple
        The scales, coarse to fine as used by coarse-to-fine synthesis: ``("pixel_statistics",
        "residual_lowpass", n_scales - 1, ..., 0, "residual_highpass")``.
    representation_scales : tuple
        The scale label of each statistic of the output (an entry of :attr:`scales`).
    n_stats : int
        Number of statistics per channel.

    Raises
    ------
    ValueError
        If ``image_shape`` is not divisible by ``2**n_scales``, if ``spatial_corr_width`` is larger
        than the coarsest band, or if an argument is out of range.
    TypeError
        If ``n_scales``, ``n_orientations`` or ``spatial_corr_width`` is not an int.

    Notes
    -----
    Channels are independent: an image ``(C, H, W)`` gives ``(C, n_stats)``. For a batch use
    :func:`jax.vmap`. The statistics are continuous functions of the image, except for the skew and
    kurtosis of a reconstructed image whose variance is below ``finfo(dtype).resolution`` times the
    pixel variance: they are then set to 0 and 3, as in plenoptic.

    Two plenoptic behaviours are reproduced on purpose: the autocorrelation of a residual lowpass of
    odd width is computed by an inverse FFT one column narrower (plenoptic calls ``irfft2`` without
    the signal size), which also bounds ``spatial_corr_width`` by that narrower width; and
    ``cross_scale_correlation_real`` uses plenoptic's phase-doubling sign convention (opposite to the
    original MATLAB code for the first ``n_orientations`` columns).

    plenoptic's float64 model multiplies by float32-rounded pyramid masks and rounds parts of its
    reconstruction to complex64; jaxoptic uses float64 throughout, so float64 results differ from
    plenoptic's by about 1e-8 relative.

    References
    ----------
    J Portilla and E P Simoncelli. A Parametric Texture Model based on Joint Statistics of Complex
    Wavelet Coefficients. Int'l Journal of Computer Vision. 40(1):49-71, October, 2000.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> img = jo.data.brick()
    >>> ps = jo.models.PortillaSimoncelli(img.shape[-2:])
    >>> rep = ps(img)
    >>> rep.shape
    (1, 710)
    >>> ps(img, scales=[0]).shape
    (1, 181)
    >>> ps.to_dict(rep)["auto_correlation_magnitude"].shape
    (1, 7, 7, 4, 4)
    """

    image_shape: tuple[int, int] = eqx.field(static=True)
    n_scales: int = eqx.field(static=True)
    n_orientations: int = eqx.field(static=True)
    spatial_corr_width: int = eqx.field(static=True)
    scales: tuple = eqx.field(static=True)

    _lo0: Array
    _hi0: Array
    _band_masks: tuple
    _lomasks: tuple
    _recon_lomasks: tuple
    _recon_gains: tuple
    _recon_windows: tuple
    _autocorr_mats: tuple

    def __init__(
        self,
        image_shape: tuple[int, int] | int,
        n_scales: int = 4,
        n_orientations: int = 4,
        spatial_corr_width: int = 7,
    ):
        shape = as_shape2d(image_shape)
        n_scales = _check_int(n_scales, "n_scales", 1)
        n_orientations = _check_int(n_orientations, "n_orientations", 2)
        if n_orientations > 16:
            raise ValueError(
                f"`n_orientations` must be at most 16 (pyramid order at most 15), got {n_orientations}."
            )
        width = _check_int(spatial_corr_width, "spatial_corr_width", 1)
        max_scales = int(np.floor(np.log2(min(shape)))) - 2
        if n_scales > max_scales:
            raise ValueError(
                f"`n_scales`={n_scales} is too large for image_shape {shape}: the steerable pyramid "
                f"allows at most floor(log2(min(image_shape))) - 2 = {max_scales} scales."
            )
        factor = 2**n_scales
        if shape[0] % factor or shape[1] % factor:
            fix = (shape[0] - shape[0] % factor, shape[1] - shape[1] % factor)
            raise ValueError(
                f"image_shape {shape} must be divisible by 2**n_scales = {factor} (each scale halves "
                f"the image); crop the image to e.g. {fix} or use fewer scales."
            )
        coarsest = (shape[0] // factor, shape[1] // factor)
        # plenoptic's autocorrelation of an odd-width lowpass is one column narrower
        max_width = min(coarsest[0], _autocorr_length(coarsest[1]))
        if width > max_width:
            odd = " (one less than its width, which is odd)" if coarsest[1] % 2 else ""
            raise ValueError(
                f"`spatial_corr_width`={width} is too large: the coarsest band (residual lowpass) "
                f"of image_shape {shape} with n_scales={n_scales} is {coarsest}, which allows "
                f"spatial_corr_width <= {max_width}{odd}. Use a smaller spatial_corr_width, fewer "
                "scales or a larger image."
            )
        self.image_shape = shape
        self.n_scales = n_scales
        self.n_orientations = n_orientations
        self.spatial_corr_width = width
        self.scales = (
            "pixel_statistics",
            "residual_lowpass",
            *range(n_scales - 1, -1, -1),
            "residual_highpass",
        )

        pyr = SteerablePyramid(
            shape, height=n_scales, order=n_orientations - 1, is_complex=True, tight_frame=False
        )
        lo0 = np.asarray(pyr.lo0mask, dtype=np.float64)
        band = [np.asarray(m, dtype=np.float64) for m in pyr.band_masks]
        recon = [np.asarray(m, dtype=np.float64) for m in pyr.recon_band_masks]
        lomasks = [np.asarray(m, dtype=np.float64) for m in pyr.lomasks]
        sizes = [tuple(b.shape[-2:]) for b in band] + [tuple(lomasks[-1].shape)]

        # Reconstruction gain of each scale's bands: forward mask times reconstruction mask, summed
        # over orientations (the complex constants (-1j)**order and 1j**order cancel). Only the real
        # part of the reconstruction is used, and the lowpass spectra are Hermitian (real images,
        # symmetric radial masks that vanish on each scale's Nyquist row and column), so the gain
        # can be symmetrised: the accumulated spectra are then Hermitian too.
        gains = [np.sum(b * r, axis=0) for b, r in zip(band, recon, strict=True)]
        gains = [0.5 * (g + _mirror_np(g)) for g in gains]
        # The residual lowpass is demeaned: zero its DC where it enters the reconstruction.
        recon_lomasks = [*lomasks[:-1], lomasks[-1].copy()]
        recon_lomasks[-1][0, 0] = 0.0
        # Masks between the spectrum accumulated at scale j and the shrunk reconstruction at scale
        # j: the lowpass masks of the finer scales cropped to scale j (the first is lo0), times the
        # boundary weights of plenoptic's shrink.
        windows = [lo0]
        for j in range(1, n_scales + 1):
            windows.append(_crop_np(windows[-1], sizes[j]) * lomasks[j - 1])
        windows = [windows[0]] + [
            w * _shrink_weights(sz) for w, sz in zip(windows[1:], sizes[1:], strict=True)
        ]
        windows[-1][0, 0] = 0.0

        # The masks multiply complex spectra: stored complex, else every compiled program would
        # materialise a complex copy of each (about 25 more kernels to compile for the defaults).
        def cconstant(a):
            return constant(np.asarray(a, dtype=np.complex128))

        self._lo0 = cconstant(lo0)
        self._hi0 = cconstant(np.asarray(pyr.hi0mask, dtype=np.float64))
        self._band_masks = tuple(cconstant(b) for b in band)
        self._lomasks = tuple(cconstant(m) for m in lomasks)
        self._recon_lomasks = tuple(cconstant(m) for m in recon_lomasks)
        self._recon_gains = tuple(cconstant(g) for g in gains)
        self._recon_windows = tuple(cconstant(w) for w in windows)
        self._autocorr_mats = tuple(
            tuple(constant(a) for a in _autocorr_matrices(sz, width)) for sz in sizes
        )

    # ------------------------------------------------------------------------------------------------------
    # __call__ runs the compiled `_forward`: callers need not wrap it in a jit of their own
    _compiled_call: ClassVar[bool] = True

    @property
    def _layout(self) -> _Layout:
        return _get_layout(self.n_scales, self.n_orientations, self.spatial_corr_width)

    @property
    def representation_scales(self) -> tuple:
        """Scale label of each statistic of the output (entries of :attr:`scales`)."""
        return self._layout.labels

    @property
    def n_stats(self) -> int:
        """Number of statistics per channel."""
        return self._layout.n_stats

    def _scale_indices(self, scales) -> np.ndarray:
        if isinstance(scales, (str, int, np.integer)):
            scales = [scales]
        try:
            scales = [int(s) if isinstance(s, np.integer) else s for s in scales]
        except TypeError:
            raise ValueError(
                f"`scales` must be a list of entries of this model's scales {list(self.scales)}, "
                f"got {scales!r}."
            ) from None
        bad = [s for s in scales if isinstance(s, bool) or s not in self.scales]
        if bad:
            raise ValueError(
                f"`scales` entries must be in this model's scales {list(self.scales)}, got invalid "
                f"entries {bad}."
            )
        return self._layout.select(scales)

    # ------------------------------------------------------------------------------------------------------
    def __call__(
        self, image: Float[Array, "C H W"], scales: Sequence | None = None
    ) -> Float[Array, "C n_stats"]:
        """Compute the texture statistics of one image.

        Parameters
        ----------
        image
            One image ``(channels, height, width)`` with ``(height, width) == image_shape``, float32
            or float64. Channels are analysed independently.
        scales
            If given, a subset of :attr:`scales`: only the statistics of those scales are returned
            (in their usual order). None returns all.

        Returns
        -------
        representation
            ``(channels, n_stats)`` (fewer columns with ``scales``), with the image's dtype.

        Raises
        ------
        ValueError
            If ``image`` is not 3-D or has the wrong spatial shape, or if ``scales`` has an entry not
            in :attr:`scales`.
        TypeError
            If ``image`` does not have a real floating dtype.

        Examples
        --------
        >>> import jax
        >>> import jaxoptic as jo
        >>> ps = jo.models.PortillaSimoncelli((64, 64), n_scales=2)
        >>> img = jax.random.uniform(jax.random.key(0), (1, 64, 64))
        >>> ps(img).shape, ps(img, scales=["residual_lowpass", 1]).shape
        ((1, 348), (1, 160))
        """
        check_image(image)
        check_image_shape(image, self.image_shape, owner="PortillaSimoncelli model")
        index = None if scales is None else tuple(int(i) for i in self._scale_indices(scales))
        return _forward(self, jnp.asarray(image), index)

    def _full_representation(self, x: Array) -> Array:
        """All statistics (redundant ones included), flattened in plenoptic's order, ``(C, n_full)``."""
        dtype = x.dtype
        n_sc, n_ori, width = self.n_scales, self.n_orientations, self.spatial_corr_width
        order = n_ori - 1
        n_chan = x.shape[0]
        n_pix = x.shape[-1] * x.shape[-2]

        def const(a):
            return jax.lax.stop_gradient(a).astype(dtype)

        cdtype = jnp.result_type(dtype, jnp.complex64)

        def cmask(a):
            return jax.lax.stop_gradient(a).astype(cdtype)

        # pixel statistics (plenoptic: unbiased variance, also used for skew and kurtosis)
        mean = jnp.mean(x, axis=(-2, -1))
        centred = x - mean[:, None, None]
        var = jnp.sum(centred**2, axis=(-2, -1)) / (n_pix - 1)
        skew = jnp.mean(centred**3, axis=(-2, -1)) / var**1.5
        kurt = jnp.mean(centred**4, axis=(-2, -1)) / var**2
        pixel = jnp.stack(
            [mean, var, skew, kurt, jnp.min(x, axis=(-2, -1)), jnp.max(x, axis=(-2, -1))], axis=-1
        )

        # pyramid: spectra of the lowpass input of each scale, band spectra, complex bands
        imdft = jnp.fft.fft2(x)
        # mean square of the (real) highpass residual, by Parseval
        var_highpass = jnp.sum(_abs2(imdft * cmask(self._hi0)), axis=(-2, -1)) / float(n_pix) ** 2
        lodft = imdft * cmask(self._lo0)
        lodfts, band_dfts = [], []
        for s in range(n_sc):
            lodfts.append(lodft)
            band_dfts.append(lodft[:, None] * cmask(self._band_masks[s]))
            lodft = _crop(lodft, self._lomasks[s].shape) * cmask(self._lomasks[s])

        # spectra of the lowpass images reconstructed at each scale, accumulated coarse to fine
        # (Hermitian: see __init__); the residual lowpass is demeaned by the masks
        spec = lodft
        recon_specs = [None] * (n_sc + 1)
        recon_specs[n_sc] = spec * cmask(self._recon_windows[n_sc])
        for j in range(n_sc - 1, -1, -1):
            spec = _put(spec * cmask(self._recon_lomasks[j]), lodfts[j].shape[-2:])
            spec = spec + lodfts[j] * cmask(self._recon_gains[j])
            recon_specs[j] = spec * cmask(self._recon_windows[j])

        # Per scale: the unnormalised autocorrelations of the magnitudes and of the reconstruction
        # (and the divisor turning their centres into variances), moments of the reconstruction,
        # and the raw covariances. The normalisations are done once for all scales after the loop
        # (the same arithmetic per statistic; a compiled program has far fewer small operations).
        raw_acs, centre_divisors, rec_m3, rec_m4 = [], [], [], []
        covs, cov_sizes, up_mag_vars, real_vars, sep_vars = [], [], [], [], []
        last_cov = None
        next_band = _times_i_power(jnp.fft.ifft2(band_dfts[0]), -order)
        for j in range(n_sc + 1):
            # reconstructed lowpass image at scale j: moments, and power spectrum
            h, w = recon_specs[j].shape[-2:]
            half = recon_specs[j][..., : w // 2 + 1]
            img = jnp.fft.irfft2(half, s=(h, w))
            rec_m3.append(jnp.mean(img**3, axis=(-2, -1)))
            rec_m4.append(jnp.mean(img**4, axis=(-2, -1)))
            power = _abs2(half)[:, None]
            if j < n_sc:
                band = next_band
                mag = jnp.abs(band)
                mag = mag - jnp.mean(mag, axis=(-2, -1), keepdims=True)
                # autocorrelations of the magnitudes and of the reconstruction, together
                power = jnp.concatenate([_abs2(jnp.fft.rfft2(mag)), power], axis=1)
                centre_divisors += [float(h * w) ** 2] * n_ori  # bands have even sizes
            centre_divisors.append(float(h * w * h * _autocorr_length(w)))
            raw_acs.append(
                _centre_autocorr(power, tuple(const(a) for a in self._autocorr_mats[j]), width)
            )
            if j == n_sc:
                break
            if j == n_sc - 1:
                last_cov = _covariance(mag, mag) / float(h * w)
                continue
            # next coarser scale, upsampled (plenoptic's expand(band, 2) / 4: the band spectra vanish
            # on their Nyquist row and column, so this zero-pads the spectrum) and phase-doubled;
            # the constant (-1j)**order is applied to the band and squared for the doubled phase
            next_band = _times_i_power(jnp.fft.ifft2(band_dfts[j + 1]), -order)
            up = jnp.fft.ifft2(_put(band_dfts[j + 1], (h, w)))
            up_re, up_im = up.real, up.imag
            up_abs = jnp.abs(up)
            # doubled phase: up**2 / |up| (plenoptic's modulate_phase), in real arithmetic
            nonzero = up_abs > 0
            inv_abs = jnp.where(nonzero, 1 / jnp.where(nonzero, up_abs, 1), 0)
            sign = -1 if order % 2 else 1  # ((-1j)**order)**2
            sep = jnp.concatenate(
                [
                    (sign * (up_re * up_re - up_im * up_im)) * inv_abs,
                    (sign * 2 * up_re * up_im) * inv_abs,
                ],
                axis=1,
            )
            up_mag = up_abs - jnp.mean(up_abs, axis=(-2, -1), keepdims=True)
            up_mag_vars.append(jnp.mean(up_mag**2, axis=(-2, -1)))
            real = band.real
            real_vars.append(jnp.mean(real**2, axis=(-2, -1)))
            sep_vars.append(jnp.mean(sep**2, axis=(-2, -1)))
            # cross-orientation and cross-scale magnitude covariances together, and those of the
            # real parts: (C, 2, O, 2O)
            covs.append(
                jnp.stack(
                    [
                        _covariance(mag, jnp.concatenate([mag, up_mag], axis=1)),
                        _covariance(real, sep),
                    ],
                    axis=1,
                )
            )
            cov_sizes.append(float(h * w))

        # autocorrelations normalised by their centres; the centres give the variances
        acs = jnp.concatenate(raw_acs, axis=1)  # (C, S * (O + 1) + 1, k, k)
        centres = acs[..., width // 2, width // 2]
        acs = acs / centres[..., None, None]
        variances = centres / np.asarray(centre_divisors, dtype)
        per_scale = n_sc * (n_ori + 1)
        scale_acs = acs[:, :per_scale].reshape(n_chan, n_sc, n_ori + 1, width, width)
        mag_acs = scale_acs[:, :, :n_ori]  # (C, S, O, k, k)
        rec_acs = jnp.concatenate([scale_acs[:, :, n_ori], acs[:, per_scale:]], axis=1)
        scale_vars = variances[:, :per_scale].reshape(n_chan, n_sc, n_ori + 1)
        mag_vars = scale_vars[:, :, :n_ori]  # (C, S, O)
        rec_vars = jnp.concatenate([scale_vars[:, :, n_ori], variances[:, per_scale:]], axis=1)

        # correlations: covariances over the square roots of the products of the variances
        last_var = mag_vars[:, -1]
        cross_last = last_cov / jnp.sqrt(last_var[..., :, None] * last_var[..., None, :])
        if n_sc > 1:
            cov = jnp.stack(covs, axis=-1)  # (C, 2, O, 2O, S - 1)
            var_a = jnp.stack(
                [mag_vars[:, :-1].transpose(0, 2, 1), jnp.stack(real_vars, axis=-1)], axis=1
            )  # (C, 2, O, S - 1)
            var_b = jnp.stack(
                [
                    jnp.concatenate(
                        [mag_vars[:, :-1].transpose(0, 2, 1), jnp.stack(up_mag_vars, axis=-1)],
                        axis=1,
                    ),
                    jnp.stack(sep_vars, axis=-1),
                ],
                axis=1,
            )  # (C, 2, 2O, S - 1)
            corr = (cov / np.asarray(cov_sizes, dtype)) / jnp.sqrt(
                var_a[:, :, :, None] * var_b[:, :, None]
            )
            cross_ori = jnp.concatenate([corr[:, 0, :, :n_ori], cross_last[..., None]], axis=-1)
            cross_mag = corr[:, 0, :, n_ori:]  # (C, O, O, S - 1)
            cross_real = corr[:, 1]  # (C, O, 2O, S - 1)
        else:
            cross_ori = cross_last[..., None]

        m3 = jnp.stack(rec_m3, axis=-1)
        m4 = jnp.stack(rec_m4, axis=-1)
        # plenoptic: skew 0 and kurtosis 3 where the variance is negligible relative to the pixel's
        unstable = rec_vars / var[:, None] < jnp.finfo(dtype).resolution
        safe_var = jnp.where(unstable, jnp.ones_like(rec_vars), rec_vars)
        skew_rec = jnp.where(unstable, jnp.zeros_like(m3), m3 / safe_var**1.5)
        kurt_rec = jnp.where(unstable, jnp.full_like(m4, 3), m4 / safe_var**2)

        groups = [
            pixel,
            mag_acs.transpose(0, 3, 4, 2, 1),  # (C, k, k, O, S)
            skew_rec,
            kurt_rec,
            rec_acs.transpose(0, 2, 3, 1),  # (C, k, k, S+1)
            jnp.sqrt(rec_vars),
            cross_ori,  # (C, O, O, S)
            jnp.sqrt(mag_vars).transpose(0, 2, 1),  # (C, O, S)
        ]
        if n_sc > 1:
            groups.append(cross_mag)  # (C, O, O, S-1)
            groups.append(cross_real)  # (C, O, 2O, S-1)
        groups.append(var_highpass[:, None])
        return jnp.concatenate([g.reshape(n_chan, -1) for g in groups], axis=-1)

    # ------------------------------------------------------------------------------------------------------
    def remove_scales(self, representation: Array, scales_to_keep: Sequence) -> Array:
        """Keep only the statistics of ``scales_to_keep`` (plenoptic's ``remove_scales``).

        Parameters
        ----------
        representation
            Full output of ``__call__``, ``(..., n_stats)``.
        scales_to_keep
            Subset of :attr:`scales`.

        Returns
        -------
        representation
            ``(..., n_kept)``: the same as ``model(image, scales=scales_to_keep)``.

        Raises
        ------
        ValueError
            If ``representation`` does not have ``n_stats`` entries on its last axis, or if
            ``scales_to_keep`` has an entry not in :attr:`scales`.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> ps = jo.models.PortillaSimoncelli((64, 64), n_scales=2)
        >>> rep = ps(jnp.ones((1, 64, 64)) + jnp.eye(64))
        >>> ps.remove_scales(rep, [1]).shape
        (1, 133)
        """
        self._check_length(representation)
        index = self._scale_indices(scales_to_keep)
        if _is_traced(representation):
            return jnp.take(representation, jnp.asarray(index), axis=-1)
        return jnp.asarray(np.asarray(representation)[..., index])

    def _check_length(self, representation) -> None:
        n = np.shape(representation)[-1] if np.ndim(representation) else None
        if n != self.n_stats:
            raise ValueError(
                f"representation has {n} statistics on its last axis, but this model has "
                f"{self.n_stats}. Was it computed with `scales=` or by another model "
                "configuration? Only full representations can be converted."
            )

    def to_dict(self, representation: Float[Array, "... n_stats"]) -> OrderedDict:
        """Split a representation into its named statistic groups (plenoptic's ``convert_to_dict``).

        Parameters
        ----------
        representation
            Output of ``__call__`` (without ``scales``), ``(..., n_stats)``: any leading axes (channel,
            batch) are kept.

        Returns
        -------
        groups
            ``OrderedDict`` from group name to an array ``(..., *group_shape)`` (shapes in the class
            docstring), with NaN at the redundant entries that the representation leaves out.

        Raises
        ------
        ValueError
            If the last axis does not have ``n_stats`` entries (e.g. computed with ``scales=``).

        Examples
        --------
        >>> import jaxoptic as jo
        >>> ps = jo.models.PortillaSimoncelli((256, 256))
        >>> groups = ps.to_dict(ps(jo.data.brick()))
        >>> groups["cross_scale_correlation_real"].shape
        (1, 4, 8, 3)
        """
        self._check_length(representation)
        layout = self._layout
        traced = _is_traced(representation)
        xp = jnp if traced else np
        rep = representation if traced else np.asarray(representation)
        lead = rep.shape[:-1]
        dtype = rep.dtype if jnp.issubdtype(rep.dtype, jnp.inexact) else jnp.result_type(float)
        if traced:
            full = jnp.full((*lead, layout.n_full), jnp.nan, dtype=dtype)
            full = full.at[..., jnp.asarray(layout.kept)].set(rep.astype(dtype))
        else:
            full = np.full((*lead, layout.n_full), np.nan, dtype=dtype)
            full[..., layout.kept] = rep
        out = OrderedDict()
        for name, shape in layout.shapes.items():
            start = layout.offsets[name]
            size = int(np.prod(shape))
            group = xp.reshape(full[..., start : start + size], (*lead, *shape))
            out[name] = group if traced else constant(group)
        return out

    def from_dict(self, groups: dict) -> Float[Array, "... n_stats"]:
        """Inverse of :meth:`to_dict` (plenoptic's ``convert_to_tensor``).

        Parameters
        ----------
        groups
            Mapping from every group name to an array ``(..., *group_shape)``; the entries at
            redundant positions are ignored.

        Returns
        -------
        representation
            ``(..., n_stats)``.

        Raises
        ------
        ValueError
            If a group is missing or unknown, or has the wrong shape.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> ps = jo.models.PortillaSimoncelli((64, 64), n_scales=2)
        >>> rep = ps(jnp.ones((1, 64, 64)) + jnp.eye(64))
        >>> bool(jnp.array_equal(ps.from_dict(ps.to_dict(rep)), rep))
        True
        """
        layout = self._layout
        missing = [k for k in layout.shapes if k not in groups]
        extra = [k for k in groups if k not in layout.shapes]
        if missing or extra:
            raise ValueError(
                f"`groups` must have exactly the keys {list(layout.shapes)}; missing {missing}, "
                f"unknown {extra}."
            )
        traced = any(_is_traced(v) for v in groups.values())
        xp = jnp if traced else np
        first = next(iter(layout.shapes))
        lead = np.shape(groups[first])[: np.ndim(groups[first]) - 1]
        flat = []
        for name, shape in layout.shapes.items():
            value = groups[name] if traced else np.asarray(groups[name])
            if tuple(np.shape(value)) != (*lead, *shape):
                raise ValueError(
                    f"`groups[{name!r}]` has shape {tuple(np.shape(value))}, expected "
                    f"{(*lead, *shape)}."
                )
            flat.append(xp.reshape(value, (*lead, -1)))
        full = xp.concatenate(flat, axis=-1)
        if traced:
            return jnp.take(full, jnp.asarray(layout.kept), axis=-1)
        return constant(full[..., layout.kept])

    # plenoptic's names
    def convert_to_dict(self, representation: Float[Array, "... n_stats"]) -> OrderedDict:
        """Alias of :meth:`to_dict` (plenoptic's name).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> ps = jo.models.PortillaSimoncelli((64, 64), n_scales=2)
        >>> list(ps.convert_to_dict(jnp.zeros((1, ps.n_stats))))[:2]
        ['pixel_statistics', 'auto_correlation_magnitude']
        """
        return self.to_dict(representation)

    def convert_to_tensor(self, groups: dict) -> Float[Array, "... n_stats"]:
        """Alias of :meth:`from_dict` (plenoptic's name).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> ps = jo.models.PortillaSimoncelli((64, 64), n_scales=2)
        >>> ps.convert_to_tensor(ps.to_dict(jnp.zeros((1, ps.n_stats)))).shape
        (1, 348)
        """
        return self.from_dict(groups)


@eqx.filter_jit
def _forward(model: PortillaSimoncelli, x, index: tuple[int, ...] | None):
    """The statistics, compiled once per model structure, image shape and scale subset (called op by
    op, the model costs seconds and hundreds of MB; inside a caller's jit this simply inlines)."""
    # half-precision images are analysed in float32 (there are no float16 FFTs)
    full = model._full_representation(x.astype(jnp.promote_types(x.dtype, jnp.float32)))
    kept = model._layout.kept if index is None else model._layout.kept[np.asarray(index, int)]
    return jnp.take(full, jnp.asarray(kept), axis=-1).astype(x.dtype)
