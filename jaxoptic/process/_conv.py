"""Padding, 2-D correlation and the blur/downsample, upsample/blur pair (plenoptic's ``convolutions``).

All functions work on one image ``(channels, height, width)``; channels are filtered independently
unless stated otherwise. Filtering follows torch's ``conv2d`` convention: it is a *correlation* (the
filter is not flipped).

Implementation: small filters (at most :data:`_DIRECT_MAX_TAPS` taps) are applied as a sum of shifted,
strided slices of the padded image. This is exact in the sense that a non-negative filter applied to
non-negative data stays non-negative (FFT filtering adds rounding noise of both signs, which breaks
``sqrt`` of blurred energies), only computes the outputs that a stride keeps, and avoids XLA:CPU's slow
single-channel float32 convolution. Larger filters use real FFTs of the padded image (a circular
correlation whose valid part equals the linear one).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_float_dtype, check_image
from ._filters import _as_kernel_size, _named_filter

__all__ = [
    "blur_downsample",
    "conv2d",
    "correlate_downsample",
    "depthwise_conv2d",
    "same_padding",
    "upsample_blur",
    "upsample_convolve",
]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")
_JNP_PAD_MODE = {
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
}
# Above this many taps per 2-D filter, correlation switches from shifted sums to FFTs. Measured on CPU
# (256x256, one channel): shifted sums win the forward pass up to ~9x9, but their gradient (one pad +
# add per tap) loses from 7x7 on (5x5: 1.5 ms both; 7x7: 4.7 vs 3.4 ms; 9x9: 15 vs 8 ms in float32), while
# XLA's own conv takes 20-30 ms in float32 at every size.
_DIRECT_MAX_TAPS = 25
# The named separable filters of blur_downsample / upsample_blur are applied as two small matrix products
# (padding, zero insertion, filtering and striding folded into constant float64 matrices) while both
# image sides are at most this long; beyond, as shifted sums (polyphase for upsampling). Matrices cost
# O(n) per pixel but compile much faster. Measured on a shared 2-core CPU (5-level Laplacian pyramid,
# float32, compile s / run ms): 64x64 fwd all-matrix 0.7 / 0.14, all-shifted 1.9 / 0.06; grad 1.0 / 0.23
# against 5.9 / 0.22. 256x256 grad with threshold 64: 5.2 / 1.4, 128: 2.9 / 2.4, shifted only: 10.4 / 3.3.
_MATRIX_MAX_SIZE = 64


# --------------------------------------------------------------------------------------------------------------
# argument helpers


def _as_pair(value, name: str, minimum: int = 1) -> tuple[int, int]:
    values = np.asarray(value)
    if values.ndim == 0:
        values = np.repeat(values, 2)
    if values.ndim != 1 or values.size != 2 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"`{name}` must be an int or a pair of ints, got {value!r}.")
    if np.any(values < minimum):
        raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}.")
    return int(values[0]), int(values[1])


def _check_pad_mode(pad_mode, name: str = "pad_mode") -> str:
    if pad_mode not in _PAD_MODES:
        raise ValueError(
            f"`{name}` must be one of {_PAD_MODES} ('constant' pads with zeros), got {pad_mode!r}."
        )
    return pad_mode


def _check_odd(odd) -> tuple[int, int]:
    try:
        values = np.asarray(odd)
    except Exception as err:  # a tracer: odd must be static (it sets the output shape)
        raise ValueError(
            "`odd` must be concrete (it sets the output shape): pass a tuple of Python ints such as "
            "(height % 2, width % 2), not a traced array."
        ) from err
    if values.shape != (2,) or not np.all(np.isin(values, (0, 1))):
        raise ValueError(
            f"`odd` must be a pair of 0/1 values (target height % 2, width % 2), got {odd!r}."
        )
    return int(values[0]), int(values[1])


def _check_n_scales(n_scales) -> int:
    if isinstance(n_scales, bool) or not isinstance(n_scales, (int, np.integer)) or n_scales < 1:
        raise ValueError(f"`n_scales` must be a positive int, got {n_scales!r}.")
    return int(n_scales)


def _filter_like(filt, x, name: str = "filt"):
    """Cast a filter to the dtype of ``x`` (filters never change the image's dtype)."""
    if isinstance(filt, np.ndarray) or np.isscalar(filt) or isinstance(filt, (list, tuple)):
        filt = np.asarray(filt)
        if not (np.issubdtype(filt.dtype, np.floating) or np.issubdtype(filt.dtype, np.integer)):
            raise TypeError(f"`{name}` must be a real array, got dtype {filt.dtype}.")
        return jnp.asarray(filt, dtype=x.dtype)
    check_float_dtype(filt, name)
    return filt.astype(x.dtype)


# --------------------------------------------------------------------------------------------------------------
# padding


def _pad2d(x, pads: tuple[tuple[int, int], tuple[int, int]], mode: str, xnp=jnp):
    """Pad the last two axes of ``x`` like ``torch.nn.functional.pad`` (pads are non-negative).

    ``xnp`` is ``jax.numpy`` (default) or ``numpy`` (to build constant matrices).
    """
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    h, w = x.shape[-2:]
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(
            f"pad_mode='reflect' needs each padding to be smaller than the image side, but padding "
            f"(top, bottom, left, right)={(top, bottom, left, right)} was asked for an image of height {h} and "
            f"width {w}. Use a smaller kernel, a larger image, or pad_mode 'replicate'/'constant'."
        )
    if mode == "circular" and (max(top, bottom) > h or max(left, right) > w):
        raise ValueError(
            f"pad_mode='circular' cannot wrap around more than once: padding (top, bottom, left, right)="
            f"{(top, bottom, left, right)} for an image of height {h} and width {w}. Use a smaller kernel."
        )
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return xnp.pad(x, widths, mode=_JNP_PAD_MODE[mode])


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow-style 'same' padding for one axis; an odd total puts the extra pixel at the end."""
    total = max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def same_padding(
    x: Float[Array, "... height width"],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = (1, 1),
    dilation: int | tuple[int, int] = (1, 1),
    pad_mode: str = "circular",
) -> Float[Array, "... padded_height padded_width"]:
    """Pad the last two axes so that a convolution returns ``ceil(size / stride)`` outputs per axis.

    The padding follows TensorFlow's "same" rule (as plenoptic does): in each axis the total padding
    is ``(ceil(n / stride) - 1) * stride + (kernel - 1) * dilation + 1 - n`` (at least 0), split in
    two with the extra pixel at the end (bottom / right). With stride 1 the image grows by
    ``(kernel - 1) * dilation`` pixels per axis.

    Parameters
    ----------
    x
        Array whose last two axes are height and width, e.g. one image ``(channels, height, width)``
        or pyramid bands ``(channels, n_bands, height, width)``. Leading axes are left alone.
    kernel_size
        Size of the kernel that will be applied, an int or ``(height, width)``.
    stride, dilation
        The stride and dilation of that convolution (ints or pairs).
    pad_mode
        ``"constant"`` (zeros), ``"reflect"`` (mirror without repeating the edge pixel),
        ``"replicate"`` (repeat the edge pixel) or ``"circular"`` (wrap around), as in
        ``torch.nn.functional.pad``.

    Returns
    -------
    padded
        The padded array, same dtype.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 axes, ``kernel_size``/``stride``/``dilation`` are not positive ints,
        ``pad_mode`` is unknown, or a 'reflect' / 'circular' padding is too large for the image.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.ones((1, 32, 32))
    >>> jo.process.same_padding(img, (5, 4), pad_mode="reflect").shape
    (1, 36, 35)
    """
    if np.ndim(x) < 2:
        raise ValueError(
            f"`x` must have at least 2 axes (..., height, width), got shape {np.shape(x)}."
        )
    kh, kw = _as_kernel_size(kernel_size)
    sh, sw = _as_pair(stride, "stride")
    dh, dw = _as_pair(dilation, "dilation")
    mode = _check_pad_mode(pad_mode)
    h, w = np.shape(x)[-2:]
    pads = (_same_pads(h, kh, sh, dh), _same_pads(w, kw, sw, dw))
    return _pad2d(jnp.asarray(x), pads, mode)


# --------------------------------------------------------------------------------------------------------------
# correlation cores


def _valid_size(padded: int, kernel: int, stride: int) -> int:
    return (padded - kernel) // stride + 1


def _contract(window, taps, kind: str, spatial: bool):
    """Combine an image window with one filter tap each (``spatial=False``) or two spectra (``True``).

    ``kind="depthwise"``: ``window`` (..., h, w) times ``taps`` (broadcast over space unless spatial).
    ``kind="dense"``: ``window`` (g, i, h, w), ``taps`` (g, o, i[, h, w]) summed over ``i``.
    """
    if kind == "depthwise":
        return window * (taps if spatial else taps[..., None, None])
    if spatial:
        return jnp.einsum("gihw,goihw->gohw", window, taps, precision=jax.lax.Precision.HIGHEST)
    return jnp.einsum("gihw,goi->gohw", window, taps, precision=jax.lax.Precision.HIGHEST)


def _correlate_direct(xp, filt, stride: tuple[int, int], kind: str):
    """Sum of shifted, strided slices: ``out = sum_ab xp[..., a::s, b::s] * filt[..., a, b]``."""
    kh, kw = filt.shape[-2:]
    sh, sw = stride
    hp, wp = xp.shape[-2:]
    ho, wo = _valid_size(hp, kh, sh), _valid_size(wp, kw, sw)
    out = None
    for a in range(kh):
        for b in range(kw):
            window = xp[..., a : a + sh * (ho - 1) + 1 : sh, b : b + sw * (wo - 1) + 1 : sw]
            term = _contract(window, filt[..., a, b], kind, spatial=False)
            out = term if out is None else out + term
    return out


def _correlate_fft(xp, filt, stride: tuple[int, int], kind: str):
    """Valid correlation through real FFTs of size ``xp.shape[-2:]`` (circular, then cropped)."""
    kh, kw = filt.shape[-2:]
    sh, sw = stride
    hp, wp = xp.shape[-2:]
    ho, wo = _valid_size(hp, kh, sh), _valid_size(wp, kw, sw)
    xf = jnp.fft.rfft2(xp, s=(hp, wp))
    ff = jnp.conj(jnp.fft.rfft2(filt, s=(hp, wp)))
    out = jnp.fft.irfft2(_contract(xf, ff, kind, spatial=True), s=(hp, wp))
    return out[..., : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw].astype(xp.dtype)


def _correlate(xp, filt, stride=(1, 1), kind: str = "depthwise"):
    """Valid correlation, by shifted sums for small filters and FFTs for large ones.

    ``kind="depthwise"``: ``xp`` (..., H, W) and ``filt`` (..., kh, kw) broadcast against each other.
    ``kind="dense"``: ``xp`` (g, i, H, W) and ``filt`` (g, o, i, kh, kw), summed over ``i``.
    """
    kh, kw = filt.shape[-2:]
    hp, wp = xp.shape[-2:]
    if kh > hp or kw > wp:
        raise ValueError(
            f"The filter ({kh}, {kw}) is larger than the (padded) image ({hp}, {wp}); no valid output exists."
        )
    if kh * kw <= _DIRECT_MAX_TAPS:
        return _correlate_direct(xp, filt, stride, kind)
    return _correlate_fft(xp, filt, stride, kind)


def _correlate_1d(x, f, axis: int, stride: int = 1):
    """Valid correlation of the last-two-axes array ``x`` with a 1-D constant kernel ``f`` along ``axis``."""
    n = f.shape[0]
    size = x.shape[axis]
    out_len = _valid_size(size, n, stride)
    out = None
    for a in range(n):
        idx = [slice(None)] * x.ndim
        idx[axis] = slice(a, a + stride * (out_len - 1) + 1, stride)
        term = x[tuple(idx)] * f[a]
        out = term if out is None else out + term
    return out


# --------------------------------------------------------------------------------------------------------------
# public correlations


def conv2d(
    x: Float[Array, "channels_in height width"],
    filt: Float[Array, "channels_out channels_per_group kh kw"],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
) -> Float[Array, "channels_out out_height out_width"]:
    """2-D cross-correlation of one image, with the semantics of ``torch.nn.functional.conv2d``.

    Output channel ``o`` (in group ``g``) is the sum over the input channels of group ``g`` of each
    channel correlated with ``filt[o, i]``. ``padding`` adds zeros on every side (use
    :func:`same_padding` first for other padding modes).

    Parameters
    ----------
    x
        One image ``(channels_in, height, width)``.
    filt
        Weights ``(channels_out, channels_in // groups, kh, kw)``; cast to ``x``'s dtype.
    stride
        Stride (int or pair).
    padding
        Zero padding added to both sides of each axis (int or pair ``(ph, pw)``).
    groups
        Number of channel groups; ``channels_in`` and ``channels_out`` must be divisible by it.

    Returns
    -------
    y
        ``(channels_out, (H + 2 ph - kh) // sh + 1, (W + 2 pw - kw) // sw + 1)``, dtype of ``x``.

    Raises
    ------
    ValueError
        On inconsistent shapes, ``groups``, ``stride`` or ``padding``.

    See Also
    --------
    depthwise_conv2d : one filter per channel (or one shared filter), with optional "same" padding.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.ones((1, 16, 16))
    >>> filt = jo.process.circular_gaussian2d(5, std=[1.0, 2.0])  # (2, 5, 5)
    >>> jo.process.conv2d(img, filt[:, None]).shape  # 1 channel in, 2 out
    (2, 12, 12)
    """
    check_image(x, "x")
    filt = _filter_like(filt, x)
    if filt.ndim != 4:
        raise ValueError(
            f"`filt` must have 4 axes (channels_out, channels_in // groups, kh, kw), got shape {filt.shape}. "
            "For one filter per channel use depthwise_conv2d."
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"`groups` must be a positive int, got {groups!r}.")
    c_in = x.shape[0]
    c_out, c_per_group = filt.shape[:2]
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"channels_in ({c_in}) and channels_out ({c_out}) must be divisible by groups ({groups})."
        )
    if c_per_group != c_in // groups:
        raise ValueError(
            f"`filt` has {c_per_group} input channels per group but x has {c_in} channels in {groups} group(s) "
            f"(expected filt.shape[1] == {c_in // groups})."
        )
    ph, pw = _as_pair(padding, "padding", minimum=0)
    stride = _as_pair(stride, "stride")
    xp = _pad2d(x, ((ph, ph), (pw, pw)), "constant")
    xg = xp.reshape(groups, c_in // groups, *xp.shape[-2:])
    fg = filt.reshape(groups, c_out // groups, c_per_group, *filt.shape[-2:])
    if c_per_group == 1:  # each output channel sees one input channel: a broadcast product
        out = _correlate(xg, fg[:, :, 0], stride, "depthwise")
    else:
        out = _correlate(xg, fg, stride, "dense")
    return out.reshape(c_out, *out.shape[-2:])


def depthwise_conv2d(
    x: Float[Array, "channels height width"],
    filt: Float[Array, "kh kw"] | Float[Array, "channels kh kw"],
    *,
    stride: int | tuple[int, int] = 1,
    pad_mode: str | None = None,
) -> Float[Array, "channels out_height out_width"]:
    """Correlate every channel of one image with its own 2-D filter (or one shared filter).

    Parameters
    ----------
    x
        One image ``(channels, height, width)``.
    filt
        ``(kh, kw)``: the same filter for every channel; or ``(channels, kh, kw)``: one per channel
        (a ``(1, kh, kw)`` filter, e.g. from :func:`circular_gaussian2d`, is shared). Cast to
        ``x``'s dtype.
    stride
        Stride (int or pair).
    pad_mode
        ``None`` (default): no padding, a "valid" correlation. Otherwise the image is first padded with
        :func:`same_padding` (``"constant"``, ``"reflect"``, ``"replicate"`` or ``"circular"``, for
        this kernel size and stride), so the output is ``ceil(H / sh) x ceil(W / sw)``.

    Returns
    -------
    y
        ``(channels, out_height, out_width)``, dtype of ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not 3-D, ``filt`` has the wrong shape, or ``pad_mode`` / ``stride`` are invalid.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.ones((3, 32, 32))
    >>> filt = jo.process.circular_gaussian2d(11, std=1.5)
    >>> jo.process.depthwise_conv2d(img, filt).shape  # valid
    (3, 22, 22)
    >>> y = jo.process.depthwise_conv2d(img, filt, pad_mode="reflect")  # same size
    >>> y.shape, bool(jnp.allclose(y, 1.0))
    ((3, 32, 32), True)
    """
    check_image(x, "x")
    filt = _filter_like(filt, x)
    c = x.shape[0]
    if filt.ndim == 3 and filt.shape[0] == 1:
        filt = filt[0]
    if filt.ndim not in (2, 3) or (filt.ndim == 3 and filt.shape[0] != c):
        raise ValueError(
            f"`filt` must be (kh, kw), (1, kh, kw) or (channels={c}, kh, kw), got shape {filt.shape}."
        )
    stride = _as_pair(stride, "stride")
    if pad_mode is not None:
        x = same_padding(x, filt.shape[-2:], stride=stride, pad_mode=pad_mode)
    return _correlate(x, filt, stride)


def _check_filt2d(filt, image):
    if np.ndim(filt) != 2:
        raise ValueError(f"`filt` must be 2-D (kh, kw), got shape {np.shape(filt)}.")
    return _filter_like(filt, image)


def correlate_downsample(
    image: Float[Array, "channels height width"],
    filt: Float[ArrayLike, "kh kw"],
    padding_mode: str = "reflect",
) -> Float[Array, "channels half_height half_width"]:
    """Correlate each channel with a 2-D filter and keep every other pixel (alias-resistant downsampling).

    The image is padded with :func:`same_padding` (stride 1, mode ``padding_mode``), correlated with
    ``filt`` and sampled at even positions, so the output is ``ceil(H / 2) x ceil(W / 2)``.

    Parameters
    ----------
    image
        One image ``(channels, height, width)``.
    filt
        2-D filter ``(kh, kw)``; cast to the image's dtype.
    padding_mode
        ``"reflect"`` (default), ``"constant"`` (zeros), ``"replicate"`` or ``"circular"``.

    Returns
    -------
    downsampled
        ``(channels, ceil(H / 2), ceil(W / 2))``.

    Raises
    ------
    ValueError
        If ``image`` is not 3-D, ``filt`` is not 2-D or ``padding_mode`` is unknown.

    See Also
    --------
    blur_downsample : the same with a named (binomial) filter, repeated over scales.
    upsample_convolve : the inverse operation.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.ones((1, 32, 31))
    >>> jo.process.correlate_downsample(img, jnp.ones((2, 2)) / 4).shape
    (1, 16, 16)
    """
    check_image(image)
    filt = _check_filt2d(filt, image)
    _check_pad_mode(padding_mode, "padding_mode")
    padded = same_padding(image, filt.shape, pad_mode=padding_mode)
    return _correlate(padded, filt, (2, 2))


def _upsample_pads(kernel: int, odd: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(pre-pad, post-pad) for one axis of :func:`upsample_convolve` (plenoptic's split)."""
    start = kernel // 2
    end = kernel - odd - start
    return (start // 2, end // 2), (start % 2, end % 2)


def _zero_insert(x: np.ndarray, axis: int) -> np.ndarray:
    """Place ``x`` at the even positions of an axis of length ``2 n - 1`` (zeros between); numpy only."""
    shape = list(x.shape)
    shape[axis] = 2 * x.shape[axis] - 1
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(None, None, 2)
    out = np.zeros(shape, x.dtype)
    out[tuple(idx)] = x
    return out


def _phase_taps(kernel: int, post_start: int, phase: int) -> tuple[int, list[int]]:
    """Polyphase split of "zero-insert, zero pad ``post_start`` in front, correlate with ``kernel`` taps".

    Output sample ``2 i + phase`` only meets the non-zero (even) samples ``u[i + d]`` through taps
    ``h[2 d + post_start - phase]``. Returns the first ``d`` and the tap indices, in order.
    """
    c = post_start - phase
    d_min = -(c // 2)
    d_max = (kernel - 1 - c) // 2
    return d_min, [2 * d + c for d in range(d_min, d_max + 1)]


def _interleave(y0, y1, axis: int, out_len: int):
    """Merge even-position samples ``y0`` and odd-position samples ``y1`` along ``axis``."""
    axis = axis % y0.ndim
    missing = y0.shape[axis] - y1.shape[axis]
    if missing:
        pads = [(0, 0)] * y1.ndim
        pads[axis] = (0, missing)
        y1 = jnp.pad(y1, pads)
    y = jnp.stack([y0, y1], axis=axis + 1)
    shape = list(y0.shape)
    shape[axis] *= 2
    return jax.lax.slice_in_dim(y.reshape(shape), 0, out_len, axis=axis)


def _upsample_correlate(u, h, post_starts: tuple[int, int], out_lens: tuple[int, int]):
    """Upsample ``u`` by 2 on the last two axes (zeros between samples), zero pad ``post_starts`` in
    front and correlate with the 2-D ``h``, keeping ``out_lens`` samples: computed per output phase
    with only the taps that meet non-zero samples (no zero insertion, a quarter of the work)."""
    kh, kw = h.shape[-2:]
    widths = [(0, 0)] * (u.ndim - 2) + [(kh, kh), (kw, kw)]
    upad = jnp.pad(u, widths)  # zeros where the upsampled signal is zero
    rows = []
    for r in (0, 1):
        n_r = (out_lens[0] - r + 1) // 2
        d_r, idx_r = _phase_taps(kh, post_starts[0], r)
        cols = []
        for s in (0, 1):
            n_s = (out_lens[1] - s + 1) // 2
            d_s, idx_s = _phase_taps(kw, post_starts[1], s)
            if not idx_r or not idx_s or n_r == 0 or n_s == 0:
                cols.append(jnp.zeros((*u.shape[:-2], n_r, n_s), u.dtype))
                continue
            g = h[np.ix_(idx_r, idx_s)]
            r0, c0 = d_r + kh, d_s + kw
            seg = upad[..., r0 : r0 + n_r + len(idx_r) - 1, c0 : c0 + n_s + len(idx_s) - 1]
            cols.append(_correlate(seg, g))
        rows.append(_interleave(cols[0], cols[1], -1, out_lens[1]))
    return _interleave(rows[0], rows[1], -2, out_lens[0])


def _upsample_correlate_1d(u, h, axis: int, post_start: int, out_len: int):
    """One-axis version of :func:`_upsample_correlate` with a 1-D ``h``."""
    k = h.shape[0]
    widths = [(0, 0)] * u.ndim
    widths[axis] = (k, k)
    upad = jnp.pad(u, widths)
    phases = []
    for r in (0, 1):
        n_r = (out_len - r + 1) // 2
        d_r, idx = _phase_taps(k, post_start, r)
        if not idx or n_r == 0:
            shape = list(u.shape)
            shape[axis] = n_r
            phases.append(jnp.zeros(shape, u.dtype))
            continue
        seg = jax.lax.slice_in_dim(upad, d_r + k, d_r + k + n_r + len(idx) - 1, axis=axis)
        phases.append(_correlate_1d(seg, h[np.asarray(idx)], axis=axis))
    return _interleave(phases[0], phases[1], axis, out_len)


def upsample_convolve(
    image: Float[Array, "channels height width"],
    odd: tuple[int, int],
    filt: Float[ArrayLike, "kh kw"],
    padding_mode: str = "reflect",
) -> Float[Array, "channels out_height out_width"]:
    """Upsample each channel by 2 (zeros between pixels) and convolve with a 2-D filter.

    This is the inverse of :func:`correlate_downsample`. The output is ``(2 H - odd[0], 2 W - odd[1])``:
    ``odd`` gives the parity of the size to return to (``(h % 2, w % 2)`` of the image before
    downsampling). The image is first padded (``padding_mode``) by about a quarter of the filter on
    each side, upsampled, zero padded to the exact size and convolved (the filter is flipped, a true
    convolution), exactly as plenoptic does.

    Parameters
    ----------
    image
        One image ``(channels, height, width)``.
    odd
        Pair of 0/1 ints: whether the output height / width is odd.
    filt
        2-D filter ``(kh, kw)``; cast to the image's dtype.
    padding_mode
        ``"reflect"`` (default), ``"constant"`` (zeros), ``"replicate"`` or ``"circular"``.

    Returns
    -------
    upsampled
        ``(channels, 2 H - odd[0], 2 W - odd[1])``.

    Raises
    ------
    ValueError
        If ``image`` is not 3-D, ``filt`` is not 2-D, ``odd`` is not a pair of 0/1 values or
        ``padding_mode`` is unknown.

    See Also
    --------
    upsample_blur : the same with a named (binomial) filter, repeated over scales.
    correlate_downsample : the inverse operation.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.ones((1, 16, 16))
    >>> jo.process.upsample_convolve(img, (1, 0), jnp.ones((2, 2)) / 4).shape
    (1, 31, 32)
    """
    check_image(image)
    filt = _check_filt2d(filt, image)
    odd = _check_odd(odd)
    _check_pad_mode(padding_mode, "padding_mode")
    (pre_h, post_h), (pre_w, post_w) = (
        _upsample_pads(k, o) for k, o in zip(filt.shape, odd, strict=True)
    )
    x = _pad2d(image, (pre_h, pre_w), padding_mode)
    out_lens = (2 * image.shape[-2] - odd[0], 2 * image.shape[-1] - odd[1])
    return _upsample_correlate(x, filt[::-1, ::-1], (post_h[0], post_w[0]), out_lens)


# --------------------------------------------------------------------------------------------------------------
# named-filter versions (separable, applied one axis at a time)


def _blur_kernel_1d(filtname: str, scale_filter: bool, up: bool) -> np.ndarray:
    """1-D factor of the 2-D named filter ``outer(f, f)`` (scaled by 1/2 down, 2 up, when ``scale_filter``)."""
    f = _named_filter(filtname)
    if scale_filter:
        f = f * (np.sqrt(2.0) if up else 1 / np.sqrt(2.0))
    return f


@functools.lru_cache(maxsize=512)
def _blur_down_matrix(n: int, taps: tuple[float, ...], mode: str) -> np.ndarray:
    """Matrix ``M`` (ceil(n / 2), n) such that ``M @ v`` pads ``v`` ('same', ``mode``), correlates with
    ``taps`` and keeps every other sample (one axis of :func:`correlate_downsample`), in float64."""
    f = np.asarray(taps)
    eye = _pad2d(np.eye(n), (_same_pads(n, len(f), 1, 1), (0, 0)), mode, xnp=np)
    matrix = _correlate_1d(eye, f, axis=-2, stride=2)
    matrix.setflags(write=False)
    return matrix


@functools.lru_cache(maxsize=512)
def _blur_up_matrix(n: int, taps: tuple[float, ...], odd: int, mode: str) -> np.ndarray:
    """Matrix ``M`` (2 n - odd, n) of one axis of :func:`upsample_convolve` with the 1-D ``taps``."""
    f = np.asarray(taps)
    pre, post = _upsample_pads(len(f), odd)
    x = _pad2d(np.eye(n), (pre, (0, 0)), mode, xnp=np)
    x = _pad2d(_zero_insert(x, -2), (post, (0, 0)), "constant", xnp=np)
    matrix = _correlate_1d(x, f[::-1], axis=-2)
    matrix.setflags(write=False)
    return matrix


def _apply_separable(x, mh: np.ndarray, mw: np.ndarray):
    """``mh @ x @ mw.T`` over the last two axes (full precision also where matmuls default to TF32)."""
    return jnp.einsum(
        "oh,...hw,pw->...op",
        jnp.asarray(mh, x.dtype),
        x,
        jnp.asarray(mw, x.dtype),
        precision=jax.lax.Precision.HIGHEST,
    )


def _blur_downsample_once(x, f: np.ndarray, mode: str):
    h, w = x.shape[-2:]
    n = f.shape[0]
    if max(h, w) <= _MATRIX_MAX_SIZE:
        taps = tuple(float(v) for v in f)
        return _apply_separable(
            x, _blur_down_matrix(h, taps, mode), _blur_down_matrix(w, taps, mode)
        )
    fx = jnp.asarray(f, x.dtype)
    x = same_padding(x, (n, n), pad_mode=mode)
    x = _correlate_1d(x, fx, axis=-2, stride=2)
    return _correlate_1d(x, fx, axis=-1, stride=2)


def _upsample_blur_once(x, f: np.ndarray, odd: tuple[int, int], mode: str):
    h, w = x.shape[-2:]
    n = f.shape[0]
    if max(h, w) <= _MATRIX_MAX_SIZE:
        taps = tuple(float(v) for v in f)
        mh = _blur_up_matrix(h, taps, odd[0], mode)
        mw = _blur_up_matrix(w, taps, odd[1], mode)
        return _apply_separable(x, mh, mw)
    f_flipped = jnp.asarray(f[::-1], x.dtype)
    for axis, o in ((-2, odd[0]), (-1, odd[1])):
        pre, post = _upsample_pads(n, o)
        pads = [(0, 0), (0, 0)]
        pads[axis] = pre
        out_len = 2 * x.shape[axis] - o
        x = _pad2d(x, tuple(pads), mode)
        x = _upsample_correlate_1d(x, f_flipped, axis, post[0], out_len)
    return x


def blur_downsample(
    image: Float[Array, "channels height width"],
    n_scales: int = 1,
    filtname: str = "binom5",
    scale_filter: bool = True,
) -> Float[Array, "channels out_height out_width"]:
    """Blur with a named separable filter and downsample by 2, ``n_scales`` times (reflect padding).

    The 2-D filter is ``outer(f, f)`` for the 1-D named filter ``f`` (pyrtools' conventions:
    ``"binom5"`` is ``[1, 4, 6, 4, 1] / 16 * sqrt(2)``, whose outer product sums to 2), divided by 2
    when ``scale_filter`` so that it sums to 1 and the image mean is (approximately) kept. Each step
    is :func:`correlate_downsample` with ``padding_mode="reflect"``.

    Parameters
    ----------
    image
        One image ``(channels, height, width)``.
    n_scales
        Number of blur-and-downsample steps (positive int).
    filtname
        ``"binomN"`` (N >= 2), ``"haar"``, ``"gauss3"``, ``"gauss5"``, ``"qmf5"``, ``"qmf8"``,
        ``"qmf9"``, ``"qmf12"``, ``"qmf13"``, ``"qmf16"``, ``"daub2"``, ``"daub3"`` or ``"daub4"``.
    scale_filter
        Whether to halve the filter (sum 1) rather than keep it (sum 2 for binomial filters).

    Returns
    -------
    downsampled
        Each axis ``n`` becomes ``ceil(n / 2)`` per step.

    Raises
    ------
    ValueError
        If ``image`` is not 3-D, ``n_scales`` is not a positive int or ``filtname`` is unknown.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.ones((1, 64, 64))
    >>> jo.process.blur_downsample(img, n_scales=2).shape
    (1, 16, 16)
    """
    check_image(image)
    n_scales = _check_n_scales(n_scales)
    f = _blur_kernel_1d(filtname, scale_filter, up=False)
    for _ in range(n_scales):
        image = _blur_downsample_once(image, f, "reflect")
    return image


def upsample_blur(
    image: Float[Array, "channels height width"],
    odd: tuple[int, int] | Sequence[int],
    n_scales: int = 1,
    filtname: str = "binom5",
    scale_filter: bool = True,
) -> Float[Array, "channels out_height out_width"]:
    """Upsample by 2 and blur with a named separable filter, ``n_scales`` times (inverse of :func:`blur_downsample`).

    Each step is :func:`upsample_convolve` with ``outer(f, f)`` (doubled when ``scale_filter``, so
    that interpolation keeps the mean) and ``padding_mode="reflect"``. As in plenoptic, the same
    ``odd`` is used at every step.

    Parameters
    ----------
    image
        One image ``(channels, height, width)``.
    odd
        Pair of 0/1 ints: whether each output height / width is odd.
    n_scales
        Number of upsample-and-blur steps (positive int).
    filtname
        Named 1-D filter, see :func:`blur_downsample`.
    scale_filter
        Whether to double the filter.

    Returns
    -------
    upsampled
        Each axis ``n`` becomes ``2 n - odd`` per step.

    Raises
    ------
    ValueError
        If ``image`` is not 3-D, ``odd`` is not a pair of 0/1 values, ``n_scales`` is not a positive
        int or ``filtname`` is unknown.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.ones((1, 16, 16))
    >>> jo.process.upsample_blur(img, odd=(0, 1)).shape
    (1, 32, 31)
    """
    check_image(image)
    odd = _check_odd(odd)
    n_scales = _check_n_scales(n_scales)
    f = _blur_kernel_1d(filtname, scale_filter, up=True)
    for _ in range(n_scales):
        image = _upsample_blur_once(image, f, odd, "reflect")
    return image
