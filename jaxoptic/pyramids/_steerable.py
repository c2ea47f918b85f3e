"""Steerable pyramid built in the frequency domain (plenoptic's ``SteerablePyramidFreq``).

All masks are built once, in numpy float64, when the pyramid is constructed. They are stored in the
*unshifted* FFT layout (DC at index ``[0, 0]``), so a forward pass is one ``fft2`` of the image, one
mask product and one ``ifft2`` per scale (all orientations and channels at once), and the
downsampling of the spectrum is a fixed selection of rows and columns done with slices.

The mask values are those of plenoptic 2.1.1 (and pyrtools): raised-cosine look-up tables of the
log-radius and angle of a centred frequency grid, interpolated with :func:`numpy.interp`.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._arrays import constant
from .._validation import check_image, check_image_shape

__all__ = ["SteerablePyramid"]

Scale = int | Literal["residual_lowpass", "residual_highpass"]

# ----------------------------------------------------------------------------------------------
# numpy mask construction (float64)
# ----------------------------------------------------------------------------------------------


def _raised_cosine_lut(width: float, position: float, values: tuple[float, float] = (0.0, 1.0)):
    """Look-up table of a raised-cosine step from ``values[0]`` to ``values[1]``.

    The step is centred on ``position`` and rises over ``width`` (same table as pyrtools'
    ``rcosFn`` with 256 samples, end values repeated for extrapolation).
    """
    n = 256
    x = np.pi * np.arange(-n - 1, 2) / (2 * n)
    y = values[0] + (values[1] - values[0]) * np.cos(x) ** 2
    y[0] = y[1]
    y[n + 2] = y[n + 1]
    x = position + (2 * width / np.pi) * (x + np.pi / 4)
    return x, y


def _lookup(points: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of the table ``(xp, fp)`` at ``points`` (any shape)."""
    return np.interp(points.ravel(), xp, fp).reshape(points.shape)


def _axis_selection(n_big: int, start: int, stop: int) -> np.ndarray:
    """Indices, in unshifted FFT layout, of the centred frequency window ``[start, stop)``.

    ``start``/``stop`` index the *centred* (``fftshift``-ed) spectrum of length ``n_big``. The result
    lists, in the unshifted order of the small spectrum, which entry of the big unshifted spectrum
    each small entry comes from.
    """
    to_big = np.fft.fftshift(np.arange(n_big))[start:stop]
    return to_big[np.fft.ifftshift(np.arange(stop - start))]


def _runs(idx: np.ndarray) -> tuple[tuple[int, int, int], ...]:
    """Split an index vector into contiguous runs ``(position_in_idx, start, stop)``."""
    runs = []
    begin = 0
    for k in range(1, len(idx) + 1):
        if k == len(idx) or idx[k] != idx[k - 1] + 1:
            runs.append((begin, int(idx[begin]), int(idx[k - 1]) + 1))
            begin = k
    return tuple(runs)


def _take(x: Array, runs: tuple[tuple[int, int, int], ...], n_big: int, axis: int) -> Array:
    """Select the entries listed by ``runs`` along ``axis`` (slices and one concatenation)."""
    if len(runs) == 1 and runs[0][1] == 0 and runs[0][2] == n_big:
        return x
    pieces = [jax.lax.slice_in_dim(x, a, b, axis=axis) for _, a, b in runs]
    return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=axis)


def _put(x: Array, runs: tuple[tuple[int, int, int], ...], n_big: int, axis: int) -> Array:
    """Inverse of :func:`_take`: place ``x`` at the listed entries of a zero array of size ``n_big``."""
    if len(runs) == 1 and runs[0][1] == 0 and runs[0][2] == n_big:
        return x
    pieces = []
    cursor = 0
    for pos, a, b in sorted(runs, key=lambda r: r[1]):
        if a > cursor:
            shape = list(x.shape)
            shape[axis] = a - cursor
            pieces.append(jnp.zeros(shape, x.dtype))
        pieces.append(jax.lax.slice_in_dim(x, pos, pos + (b - a), axis=axis))
        cursor = b
    if cursor < n_big:
        shape = list(x.shape)
        shape[axis] = n_big - cursor
        pieces.append(jnp.zeros(shape, x.dtype))
    return jnp.concatenate(pieces, axis=axis)


def _times_i_power(z: Array, k: int) -> Array:
    """Multiply a complex array by ``1j**k`` exactly (a swap of real/imaginary parts and signs)."""
    k %= 4
    if k == 0:
        return z
    if k == 2:
        return -z
    if k == 1:
        return jax.lax.complex(-z.imag, z.real)
    return jax.lax.complex(z.imag, -z.real)


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_image_shape_arg(image_shape) -> tuple[int, int]:
    try:
        shape = tuple(image_shape)
    except TypeError:
        raise ValueError(
            f"`image_shape` must be a pair of positive ints (height, width), got {image_shape!r}."
        ) from None
    if len(shape) != 2 or not all(_is_int(s) and s > 0 for s in shape):
        raise ValueError(
            f"`image_shape` must be a pair of positive ints (height, width), got {image_shape!r}. "
            "Pass e.g. image.shape[-2:]."
        )
    return int(shape[0]), int(shape[1])


# ----------------------------------------------------------------------------------------------
# the module
# ----------------------------------------------------------------------------------------------


class SteerablePyramid(eqx.Module):
    r"""Steerable pyramid computed in the Fourier domain (plenoptic's ``SteerablePyramidFreq``).

    The image is split into a highpass residual, ``height`` scales of ``order + 1`` oriented
    bandpass bands, and a lowpass residual. The squared radial masks tile the Fourier plane with
    raised-cosine transitions in log-frequency; the angular masks are
    :math:`\cos(\theta - \pi k / (o + 1))^o` for :math:`k = 0, \dots, o`. Boundary handling is
    circular, and reconstruction is exact (to rounding) for even image sizes.

    Parameters
    ----------
    image_shape
        ``(height, width)`` of the images this pyramid analyses.
    height
        Number of bandpass scales. ``"auto"`` uses the largest allowed,
        ``floor(log2(min(image_shape))) - 2``. ``0`` keeps only the residuals.
    order
        Order of the Gaussian-derivative angular filters, in ``[0, 15]``; there are ``order + 1``
        orientations.
    twidth
        Width of the radial raised-cosine transition, in octaves (a positive integer, as in
        plenoptic, which truncates it to an int).
    is_complex
        If True, the bands are complex (analytic): the real part has the symmetry set by ``order``
        and the imaginary part the opposite one. Needs ``order >= 1``.
    downsample
        If True, scale ``s`` has size about ``image_shape / 2**s``; if False every band keeps the
        full image size.
    tight_frame
        If True, use orthonormal FFTs (and divide complex bands by :math:`\sqrt 2`) so that the
        coefficients have the energy of the image (Parseval). False matches pyrtools / MATLAB.

    Attributes
    ----------
    num_scales : int
        Number of bandpass scales (``height``); ``n_scales`` is an alias.
    num_orientations : int
        ``order + 1``; ``n_orientations`` is an alias.
    scales : tuple
        All the scales, coarse to fine: ``("residual_lowpass", height - 1, ..., 0,
        "residual_highpass")``. Any subset can be passed to ``__call__``.
    fft_norm : str
        ``"ortho"`` for a tight frame, ``"backward"`` otherwise.

    Raises
    ------
    ValueError
        If ``image_shape`` is not a pair of positive ints, if ``height`` is out of range, if
        ``order`` is not in ``[0, 15]``, if ``is_complex`` is True with ``order=0``, or if
        ``twidth`` is not a positive integer.

    Warns
    -----
    UserWarning
        If a side of ``image_shape`` is odd: the transform works, but the reconstruction is not exact
        (the same as plenoptic).

    Notes
    -----
    Differences from plenoptic: one image ``(C, H, W)`` per call (use :func:`jax.vmap` for
    batches), :meth:`recon` instead of ``recon_pyr``, and invalid ``levels``/``bands`` raise
    ``ValueError`` (plenoptic uses assertions). The masks are float64 (plenoptic stores them as
    float32 buffers).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> pyr = jo.pyramids.SteerablePyramid((64, 64), height=3, order=3, is_complex=True)
    >>> coeffs = pyr(jnp.ones((1, 64, 64), dtype=jnp.float32))
    >>> list(coeffs.keys())
    ['residual_highpass', 0, 1, 2, 'residual_lowpass']
    >>> coeffs[1].shape, coeffs[1].dtype
    ((1, 4, 32, 32), dtype('complex64'))
    >>> pyr.recon(coeffs).shape
    (1, 64, 64)
    """

    image_shape: tuple[int, int] = eqx.field(static=True)
    num_scales: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    num_orientations: int = eqx.field(static=True)
    twidth: int = eqx.field(static=True)
    is_complex: bool = eqx.field(static=True)
    downsample: bool = eqx.field(static=True)
    tight_frame: bool = eqx.field(static=True)
    fft_norm: str = eqx.field(static=True)
    scales: tuple = eqx.field(static=True)
    _band_shapes: tuple = eqx.field(static=True)
    _selections: tuple = eqx.field(static=True)

    lo0mask: Float[Array, "H W"]
    hi0mask: Float[Array, "H W"]
    band_masks: tuple
    recon_band_masks: tuple
    lomasks: tuple

    def __init__(
        self,
        image_shape: tuple[int, int],
        height: Literal["auto"] | int = "auto",
        order: int = 3,
        twidth: int = 1,
        is_complex: bool = False,
        downsample: bool = True,
        tight_frame: bool = False,
    ):
        shape = _check_image_shape_arg(image_shape)
        max_height = int(np.floor(np.log2(min(shape)))) - 2
        if max_height < 0:
            raise ValueError(
                f"`image_shape` {shape} is too small for a steerable pyramid: both sides must be "
                "at least 4 pixels."
            )
        if isinstance(height, str):
            if height != "auto":
                raise ValueError(f"`height` must be 'auto' or an int, got {height!r}.")
            n_scales = max_height
        elif _is_int(height):
            if not 0 <= height <= max_height:
                raise ValueError(
                    f"`height` must be in [0, {max_height}] for image_shape {shape} "
                    f"(floor(log2(min(image_shape))) - 2), got {height}."
                )
            n_scales = int(height)
        else:
            raise ValueError(f"`height` must be 'auto' or an int, got {height!r}.")
        if not _is_int(order) or not 0 <= order <= 15:
            raise ValueError(f"`order` must be an int in [0, 15], got {order!r}.")
        order = int(order)
        if is_complex and order == 0:
            raise ValueError(
                "A complex pyramid cannot have order=0 (its reconstruction is not exact, see "
                "https://github.com/plenoptic-org/plenoptic/issues/326); use order >= 1 or "
                "is_complex=False."
            )
        if isinstance(twidth, (float, np.floating)) and float(twidth).is_integer():
            twidth = int(twidth)
        if not _is_int(twidth) or twidth <= 0:
            raise ValueError(f"`twidth` must be a positive integer (octaves), got {twidth!r}.")
        twidth = int(twidth)
        if shape[0] % 2 or shape[1] % 2:
            warnings.warn(
                f"image_shape {shape} has an odd side: the pyramid works, but its reconstruction "
                "is not exact (as in plenoptic). Crop or pad to even sizes for exact "
                "reconstruction.",
                UserWarning,
                stacklevel=2,
            )

        self.image_shape = shape
        self.num_scales = n_scales
        self.order = order
        self.num_orientations = order + 1
        self.twidth = twidth
        self.is_complex = bool(is_complex)
        self.downsample = bool(downsample)
        self.tight_frame = bool(tight_frame)
        self.fft_norm = "ortho" if self.tight_frame else "backward"
        self.scales = ("residual_lowpass", *range(n_scales - 1, -1, -1), "residual_highpass")

        masks = _build_masks(
            shape, n_scales, order, twidth, self.is_complex, self.downsample, self.tight_frame
        )
        self._band_shapes = masks["band_shapes"]
        self._selections = masks["selections"]
        self.lo0mask = constant(masks["lo0"])
        self.hi0mask = constant(masks["hi0"])
        self.band_masks = tuple(constant(m) for m in masks["band"])
        self.recon_band_masks = tuple(constant(m) for m in masks["recon_band"])
        self.lomasks = tuple(constant(m) for m in masks["lo"])

    # ------------------------------------------------------------------------------------------
    @property
    def n_scales(self) -> int:
        """Alias of :attr:`num_scales`."""
        return self.num_scales

    @property
    def n_orientations(self) -> int:
        """Alias of :attr:`num_orientations`."""
        return self.num_orientations

    @property
    def pyr_size(self) -> OrderedDict:
        """``(height, width)`` of each output, keyed like the coefficients (fine to coarse)."""
        sizes = OrderedDict([("residual_highpass", self.image_shape)])
        for i in range(self.num_scales):
            sizes[i] = self._band_shapes[i]
        sizes["residual_lowpass"] = self._band_shapes[self.num_scales]
        return sizes

    # ------------------------------------------------------------------------------------------
    def _check_scales(self, scales) -> tuple:
        if scales is None:
            return tuple(self.scales)
        if isinstance(scales, (str, int)) and not isinstance(scales, bool):
            scales = [scales]
        scales = list(scales)
        bad = [s for s in scales if isinstance(s, bool) or s not in self.scales]
        if bad:
            raise ValueError(
                f"`scales` must be a subset of this pyramid's scales {list(self.scales)}, "
                f"got invalid entries {bad}."
            )
        return tuple(scales)

    def __call__(
        self, image: Float[Array, "C H W"], scales: Sequence[Scale] | None = None
    ) -> OrderedDict:
        """Compute the pyramid coefficients of one image.

        Parameters
        ----------
        image
            One image ``(channels, height, width)`` with ``(height, width) == image_shape``;
            float32 or float64.
        scales
            Subset of :attr:`scales` to return (order does not matter). None returns all.

        Returns
        -------
        coeffs
            ``OrderedDict`` with keys, fine to coarse: ``"residual_highpass"`` -> ``(C, H, W)``;
            each scale ``s`` -> ``(C, num_orientations, h_s, w_s)`` (complex64/complex128 when
            ``is_complex``); ``"residual_lowpass"`` -> ``(C, h, w)``. Only requested keys appear.

        Raises
        ------
        ValueError
            If ``image`` is not 3-D, if its spatial shape differs from ``image_shape``, or if
            ``scales`` has an entry not in :attr:`scales`.
        TypeError
            If ``image`` does not have a real floating dtype.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> pyr = jo.pyramids.SteerablePyramid((32, 32), height=2)
        >>> coeffs = pyr(jnp.zeros((3, 32, 32)), scales=["residual_lowpass", 1])
        >>> list(coeffs.keys()), coeffs[1].shape
        ([1, 'residual_lowpass'], (3, 4, 16, 16))
        """
        check_image(image)
        check_image_shape(image, self.image_shape, owner="SteerablePyramid")
        return self._forward(image, self._check_scales(scales))

    @eqx.filter_jit
    def _forward(self, image, wanted: tuple) -> OrderedDict:
        dtype = image.dtype
        norm = self.fft_norm

        def mask(m):
            return jax.lax.stop_gradient(m).astype(dtype)

        out = OrderedDict()
        imdft = jnp.fft.fft2(image, norm=norm)
        if "residual_highpass" in wanted:
            out["residual_highpass"] = jnp.fft.ifft2(imdft * mask(self.hi0mask), norm=norm).real
        lodft = imdft * mask(self.lo0mask)
        # the forward constant (-1j)**order of the Gaussian-derivative filters
        k_forward = -self.order
        for i in range(self.num_scales):
            if i in wanted:
                # the constant goes on the (C, h, w) spectrum, before the per-band mask product
                banddft = _times_i_power(lodft, k_forward)[:, None] * mask(self.band_masks[i])
                band = jnp.fft.ifft2(banddft, norm=norm)
                out[i] = band if self.is_complex else band.real
            if self.downsample:
                (rows, n_rows), (cols, n_cols) = self._selections[i]
                lodft = _take(_take(lodft, rows, n_rows, axis=-2), cols, n_cols, axis=-1)
            lodft = lodft * mask(self.lomasks[i])
        if "residual_lowpass" in wanted:
            out["residual_lowpass"] = jnp.fft.ifft2(lodft, norm=norm).real
        return out

    # ------------------------------------------------------------------------------------------
    def _recon_levels(self, levels) -> frozenset:
        all_levels = ("residual_highpass", *range(self.num_scales), "residual_lowpass")
        if isinstance(levels, str):
            if levels != "all":
                raise TypeError(f"`levels` must be a list of levels or 'all', got {levels!r}.")
            return frozenset(all_levels)
        if isinstance(levels, int) or not hasattr(levels, "__iter__"):
            raise TypeError(f"`levels` must be a list of levels or 'all', got {levels!r}.")
        levels = list(levels)
        bad = [lv for lv in levels if isinstance(lv, bool) or lv not in all_levels]
        if bad:
            raise ValueError(
                f"`levels` entries must be ints in [0, {self.num_scales - 1}] or "
                f"'residual_highpass' / 'residual_lowpass', got invalid entries {bad}."
            )
        return frozenset(levels)

    def _recon_bands(self, bands):
        if isinstance(bands, str):
            if bands != "all":
                raise TypeError(f"`bands` must be a list of ints or 'all', got {bands!r}.")
            return None
        if isinstance(bands, int) or not hasattr(bands, "__iter__"):
            raise TypeError(f"`bands` must be a list of ints or 'all', got {bands!r}.")
        bands = list(bands)
        bad = [b for b in bands if not _is_int(b) or not 0 <= b < self.num_orientations]
        if bad:
            raise ValueError(
                f"`bands` entries must be ints in [0, {self.num_orientations - 1}], got invalid "
                f"entries {bad}."
            )
        return tuple(int(b) for b in bands)

    def recon(
        self,
        coeffs: dict,
        levels: Literal["all"] | Sequence[Scale] = "all",
        bands: Literal["all"] | Sequence[int] = "all",
    ) -> Float[Array, "C H W"]:
        """Reconstruct the image from its coefficients, optionally from a subset of them.

        Same semantics as plenoptic's ``recon_pyr``: the levels and bands left out count as zero.

        Parameters
        ----------
        coeffs
            Coefficients as returned by ``__call__`` with ``scales=None`` (every key present).
        levels
            ``"all"`` or a list drawn from ``0 .. num_scales - 1``, ``"residual_highpass"`` and
            ``"residual_lowpass"``.
        bands
            ``"all"`` or a list of orientations in ``0 .. num_orientations - 1`` (used at every
            included scale).

        Returns
        -------
        image
            The reconstruction ``(C, H, W)``, real, with the dtype of the residual coefficients.

        Raises
        ------
        ValueError
            If a key is missing from ``coeffs``, if a coefficient has the wrong shape, or if an
            entry of ``levels``/``bands`` is out of range.
        TypeError
            If ``levels`` or ``bands`` is neither a list nor ``"all"``.

        Examples
        --------
        >>> import jax
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> pyr = jo.pyramids.SteerablePyramid((32, 32), height=2)
        >>> img = jax.random.uniform(jax.random.key(0), (1, 32, 32), dtype=jnp.float32)
        >>> coeffs = pyr(img)
        >>> bool(jnp.allclose(pyr.recon(coeffs), img, atol=1e-5))
        True
        >>> pyr.recon(coeffs, levels=["residual_lowpass"]).shape
        (1, 32, 32)
        """
        missing = [s for s in self.scales if s not in coeffs]
        if missing:
            raise ValueError(
                f"`coeffs` is missing the scales {missing}: recon needs every scale, so compute "
                "the coefficients with scales=None."
            )
        n_channels = np.shape(coeffs["residual_highpass"])[0]
        expected = {"residual_highpass": (n_channels, *self.image_shape)}
        for i in range(self.num_scales):
            expected[i] = (n_channels, self.num_orientations, *self._band_shapes[i])
        expected["residual_lowpass"] = (n_channels, *self._band_shapes[self.num_scales])
        for key, shp in expected.items():
            if tuple(np.shape(coeffs[key])) != shp:
                raise ValueError(
                    f"`coeffs[{key!r}]` has shape {tuple(np.shape(coeffs[key]))}, expected {shp} "
                    "for this pyramid."
                )
        levels = self._recon_levels(levels)
        band_idx = self._recon_bands(bands)
        dtype = jnp.asarray(coeffs["residual_lowpass"]).dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"`coeffs['residual_lowpass']` must be real floating, got dtype {dtype}."
            )
        # a plain dict with int and str keys is not a valid pytree: pass an OrderedDict
        ordered = OrderedDict((k, coeffs[k]) for k in reversed(self.scales))
        return self._recon(ordered, levels, band_idx)

    @eqx.filter_jit
    def _recon(self, coeffs: OrderedDict, levels: frozenset, band_idx) -> Array:
        dtype = coeffs["residual_lowpass"].dtype
        norm = self.fft_norm

        def mask(m):
            return jax.lax.stop_gradient(m).astype(dtype)

        low = coeffs["residual_lowpass"]
        if "residual_lowpass" in levels:
            dft = jnp.fft.fft2(low, norm=norm)
        else:
            dft = jnp.zeros(low.shape, jnp.result_type(dtype, jnp.complex64))
        # without downsampling (and without a tight frame) the forward pass doubles the lowpass at
        # every scale (folded into the stored lowpass masks); the reconstruction halves it instead
        lo_factor = 0.25 if not (self.downsample or self.tight_frame) else None
        k_recon = self.order  # the reconstruction constant 1j**order
        for i in reversed(range(self.num_scales)):
            lomask = mask(self.lomasks[i])
            if lo_factor is not None:
                lomask = lomask * lo_factor
            dft = dft * lomask
            if self.downsample:
                (rows, n_rows), (cols, n_cols) = self._selections[i]
                dft = _put(_put(dft, rows, n_rows, axis=-2), cols, n_cols, axis=-1)
            if i in levels:
                band = coeffs[i]
                m = mask(self.recon_band_masks[i])
                if band_idx is not None:
                    idx = np.asarray(band_idx)
                    band = band[:, idx]
                    m = m[idx]
                orient = jnp.sum(jnp.fft.fft2(band, norm=norm) * m, axis=1)
                dft = dft + _times_i_power(orient, k_recon)
        out = dft * mask(self.lo0mask)
        if "residual_highpass" in levels:
            hi = jnp.fft.fft2(coeffs["residual_highpass"], norm=norm)
            out = out + hi * mask(self.hi0mask)
        return jnp.fft.ifft2(out, norm=norm).real.astype(dtype)

    # plenoptic's name
    def recon_pyr(self, coeffs: dict, levels="all", bands="all") -> Float[Array, "C H W"]:
        """Alias of :meth:`recon` (plenoptic's name).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> pyr = jo.pyramids.SteerablePyramid((16, 16), height=1)
        >>> pyr.recon_pyr(pyr(jnp.zeros((1, 16, 16)))).shape
        (1, 16, 16)
        """
        return self.recon(coeffs, levels=levels, bands=bands)

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def convert_pyr_to_tensor(coeffs: dict, split_complex: bool = False) -> tuple[Array, tuple]:
        """Stack the coefficients of a pyramid built with ``downsample=False`` into one array.

        Parameters
        ----------
        coeffs
            Output of ``__call__`` (any subset of keys) of a pyramid with ``downsample=False``, so
            every entry has the same height and width.
        split_complex
            If True, each complex band becomes two real channels (real part, then imaginary
            part), so the result is real; residuals stay one channel each.

        Returns
        -------
        tensor
            ``(C * n_channels_per_image, H, W)``: for each image channel, its residual highpass,
            then the bands of scale 0, 1, ... (orientation by orientation), then the residual
            lowpass (plenoptic's order). Complex unless ``split_complex`` or the pyramid is real.
        pyr_info
            ``(num_channels, keys, band_counts, split_complex)``, to pass (unpacked) to
            :meth:`convert_tensor_to_pyr`.

        Raises
        ------
        ValueError
            If the coefficients do not all have the same height and width, or if
            ``split_complex`` is True but the bands are real.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> pyr = jo.pyramids.SteerablePyramid((32, 32), height=2, downsample=False)
        >>> tensor, info = pyr.convert_pyr_to_tensor(pyr(jnp.zeros((1, 32, 32))))
        >>> tensor.shape
        (10, 32, 32)
        >>> list(pyr.convert_tensor_to_pyr(tensor, *info).keys())
        ['residual_highpass', 0, 1, 'residual_lowpass']
        """
        keys = tuple(coeffs.keys())
        values = [coeffs[k] if _is_int(k) else coeffs[k][:, None] for k in keys]
        sizes = {tuple(np.shape(v)[-2:]) for v in values}
        channels = {np.shape(v)[0] for v in values}
        if len(sizes) != 1 or len(channels) != 1:
            raise ValueError(
                "The coefficients cannot be stacked: they have different shapes "
                f"{sorted(sizes)}. Use a pyramid built with downsample=False."
            )
        counts = tuple(int(np.shape(v)[1]) for v in values)
        if split_complex and any(_is_int(k) for k in keys):
            if not any(jnp.iscomplexobj(coeffs[k]) for k in keys if _is_int(k)):
                raise ValueError(
                    "split_complex=True but the bands are real: set split_complex=False or use "
                    "a pyramid with is_complex=True."
                )
            values = [
                v
                if not _is_int(k)
                else jnp.stack([v.real, v.imag], axis=2).reshape(v.shape[0], -1, *v.shape[-2:])
                for k, v in zip(keys, values, strict=True)
            ]
        packed = jnp.concatenate(values, axis=1)
        n_channels = packed.shape[0]
        tensor = packed.reshape(-1, *packed.shape[-2:])
        return tensor, (n_channels, keys, counts, bool(split_complex))

    @staticmethod
    def convert_tensor_to_pyr(
        tensor: Array, num_channels: int, keys: tuple, band_counts: tuple, split_complex: bool
    ) -> OrderedDict:
        """Inverse of :meth:`convert_pyr_to_tensor`.

        Parameters
        ----------
        tensor
            ``(C * n, H, W)`` array from :meth:`convert_pyr_to_tensor`.
        num_channels, keys, band_counts, split_complex
            The entries of the ``pyr_info`` tuple returned by :meth:`convert_pyr_to_tensor`.

        Returns
        -------
        coeffs
            ``OrderedDict`` with the original keys and shapes; residuals are real.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> import jaxoptic as jo
        >>> pyr = jo.pyramids.SteerablePyramid((32, 32), height=1, downsample=False, is_complex=True)
        >>> coeffs = pyr(jnp.ones((2, 32, 32), dtype=jnp.float32))
        >>> tensor, info = pyr.convert_pyr_to_tensor(coeffs, split_complex=True)
        >>> tensor.shape, tensor.dtype
        ((20, 32, 32), dtype('float32'))
        >>> back = pyr.convert_tensor_to_pyr(tensor, *info)
        >>> bool(jnp.array_equal(back[0], coeffs[0]))
        True
        """
        tensor = jnp.asarray(tensor)
        per_image = tensor.reshape(num_channels, -1, *tensor.shape[-2:])
        out = OrderedDict()
        start = 0
        for key, count in zip(keys, band_counts, strict=True):
            width = 2 * count if (split_complex and _is_int(key)) else count
            block = per_image[:, start : start + width]
            start += width
            if _is_int(key):
                if split_complex:
                    pairs = block.reshape(num_channels, count, 2, *block.shape[-2:])
                    block = jax.lax.complex(pairs[:, :, 0], pairs[:, :, 1])
                out[key] = block
            else:
                out[key] = block[:, 0].real
        return out


def _build_masks(shape, n_scales, order, twidth, is_complex, downsample, tight_frame) -> dict:
    """All masks of the pyramid, float64, in unshifted FFT layout, plus the crop selections."""
    dims = np.array(shape)
    ctr = np.ceil((dims + 0.5) / 2).astype(int)
    xramp, yramp = np.meshgrid(
        np.linspace(-1, 1, dims[1] + 1)[:-1], np.linspace(-1, 1, dims[0] + 1)[:-1], indexing="xy"
    )
    angle = np.arctan2(yramp, xramp)
    log_rad = np.sqrt(xramp**2 + yramp**2)
    log_rad[ctr[0] - 1, ctr[1] - 1] = log_rad[ctr[0] - 1, ctr[1] - 2]
    log_rad = np.log2(log_rad)

    x_rcos, y_rcos = _raised_cosine_lut(twidth, -twidth / 2.0, (0.0, 1.0))
    y_rcos = np.sqrt(y_rcos)
    yi_rcos = np.sqrt(1.0 - y_rcos**2)

    lutsize = 1024
    x_cosn = np.pi * np.arange(-(2 * lutsize + 1), lutsize + 2) / lutsize
    alpha = (x_cosn + np.pi) % (2 * np.pi) - np.pi
    n_ori = order + 1
    const = (
        (2 ** (2 * order)) * (math.factorial(order) ** 2) / float(n_ori * math.factorial(2 * order))
    )
    if is_complex:
        y_cosn_fwd = (
            2.0
            * np.sqrt(const)
            * (np.cos(x_cosn) ** order)
            * (np.abs(alpha) < np.pi / 2.0).astype(int)
        )
        y_cosn_rec = np.sqrt(const) * np.cos(x_cosn) ** order
    else:
        y_cosn_fwd = np.sqrt(const) * np.cos(x_cosn) ** order
        y_cosn_rec = y_cosn_fwd

    def unshift(m):
        return np.ascontiguousarray(np.fft.ifftshift(m, axes=(-2, -1)))

    out = {
        "lo0": unshift(_lookup(log_rad, x_rcos, yi_rcos)),
        "hi0": unshift(_lookup(log_rad, x_rcos, y_rcos)),
        "band": [],
        "recon_band": [],
        "lo": [],
        "selections": [],
    }
    band_shapes = []
    for _ in range(n_scales):
        x_rcos = x_rcos - np.log2(2)
        himask = _lookup(log_rad, x_rcos, y_rcos)
        fwd = np.stack(
            [_lookup(angle, x_cosn + np.pi * b / n_ori, y_cosn_fwd) for b in range(n_ori)]
        )
        rec = np.stack(
            [_lookup(angle, x_cosn + np.pi * b / n_ori, y_cosn_rec) for b in range(n_ori)]
        )
        fwd = fwd * himask
        rec = rec * himask
        if is_complex and tight_frame:
            # plenoptic divides complex bands by sqrt(2) (and multiplies them back in recon)
            fwd = fwd / np.sqrt(2)
            rec = rec * np.sqrt(2)
        out["band"].append(unshift(fwd))
        out["recon_band"].append(unshift(rec))
        band_shapes.append(tuple(int(s) for s in log_rad.shape))
        cur = np.array(log_rad.shape)
        if downsample:
            c = np.ceil((cur + 0.5) / 2).astype(int)
            lodims = np.ceil((cur - 0.5) / 2).astype(int)
            loctr = np.ceil((lodims + 0.5) / 2).astype(int)
            lostart = c - loctr
            loend = lostart + lodims
            sel = tuple(
                (_runs(_axis_selection(int(cur[a]), int(lostart[a]), int(loend[a]))), int(cur[a]))
                for a in range(2)
            )
            out["selections"].append(sel)
            log_rad = log_rad[lostart[0] : loend[0], lostart[1] : loend[1]]
            angle = angle[lostart[0] : loend[0], lostart[1] : loend[1]]
            lomask = _lookup(log_rad, x_rcos, yi_rcos)
        else:
            out["selections"].append(None)
            lomask = _lookup(log_rad, x_rcos, yi_rcos)
            if not tight_frame:
                # keep the band energies of the downsampled pyramid (plenoptic's factor 2)
                lomask = 2 * lomask
        out["lo"].append(unshift(lomask))
    band_shapes.append(tuple(int(s) for s in log_rad.shape))
    out["band_shapes"] = tuple(band_shapes)
    out["selections"] = tuple(out["selections"])
    return out
