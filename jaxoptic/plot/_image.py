"""One image into one matplotlib axis, and the colour ranges (``vrange``) shared by the display functions.

The ``vrange`` strings follow pyrtools/plenoptic:

* ``"auto0"`` / ``"indep0"``: symmetric about zero, ``(-m, m)`` with ``m`` the largest absolute value;
* ``"auto1"`` / ``"indep1"``: minimum and maximum;
* ``"auto2"`` / ``"indep2"``: mean minus / plus two standard deviations;
* ``"auto3"`` / ``"indep3"``: the 10th and 90th percentiles, each pushed out by an eighth of their
  difference (so that they map to the 10th and 90th percentiles of the display range).

``"auto*"`` computes one range over all the images of a figure, ``"indep*"`` one range per image.
NaN and infinite values are ignored; an image with no finite value gets ``(0, 1)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["resolve_vrange", "show_image"]

_VRANGE_MODES = ("auto0", "auto1", "auto2", "auto3", "indep0", "indep1", "indep2", "indep3")


def _check_vrange_string(vrange: str) -> str:
    mode = "auto1" if vrange == "auto" else vrange
    if mode not in _VRANGE_MODES:
        raise ValueError(
            f"`vrange` must be a (vmin, vmax) pair or one of {', '.join(map(repr, _VRANGE_MODES))}, "
            f"got {vrange!r}."
        )
    return mode


def _is_pair(value) -> bool:
    """True for a (lo, hi) pair of real numbers."""
    if isinstance(value, str):
        return False
    try:
        items = list(value)
    except TypeError:
        return False
    return len(items) == 2 and all(np.ndim(v) == 0 and np.isrealobj(v) for v in items)


def _as_pair(value, name: str = "vrange") -> tuple[float, float]:
    if not _is_pair(value):
        raise ValueError(f"`{name}` must be a (vmin, vmax) pair of numbers, got {value!r}.")
    lo, hi = (float(v) for v in value)
    if not lo <= hi:
        raise ValueError(f"`{name}` must satisfy vmin <= vmax, got ({lo}, {hi}).")
    return lo, hi


def _range_of(values: np.ndarray, level: int) -> tuple[float, float]:
    """The (vmin, vmax) of the finite entries of ``values`` by rule ``level`` (0-3)."""
    finite = np.asarray(values, dtype=np.float64).ravel()
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    if level == 0:
        m = float(np.max(np.abs(finite)))
        return -m, m
    if level == 1:
        return float(finite.min()), float(finite.max())
    if level == 2:
        mean, std = float(finite.mean()), float(finite.std())
        return mean - 2 * std, mean + 2 * std
    p10, p90 = (float(p) for p in np.percentile(finite, [10, 90]))
    return p10 - (p90 - p10) / 8, p90 + (p90 - p10) / 8


def resolve_vrange(images: list[np.ndarray], vrange) -> list[tuple[float, float]]:
    """Colour range (vmin, vmax) of each image for a ``vrange`` argument.

    Parameters
    ----------
    images
        Arrays of real values (any shape; all entries count).
    vrange
        A ``(vmin, vmax)`` pair (used for every image), a list of such pairs (one per image), or one of
        ``"auto0"``-``"auto3"`` (one range computed over all images together) or ``"indep0"``-
        ``"indep3"`` (one range per image); see the module docstring for the four rules. ``"auto"`` is
        ``"auto1"``.

    Returns
    -------
    list of tuple of float
        One ``(vmin, vmax)`` per image.

    Raises
    ------
    ValueError
        For an unknown string, a malformed pair, or a list of pairs whose length differs from the number
        of images.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxoptic.plot import resolve_vrange
    >>> a, b = np.array([0.0, 1.0]), np.array([-3.0, 2.0])
    >>> resolve_vrange([a, b], "indep1")
    [(0.0, 1.0), (-3.0, 2.0)]
    >>> resolve_vrange([a, b], "auto0")
    [(-3.0, 3.0), (-3.0, 3.0)]
    """
    arrays = [np.asarray(im) for im in images]
    for im in arrays:
        if np.iscomplexobj(im):
            raise TypeError(
                "`vrange` rules need real values; show complex arrays with jaxoptic.plot.imshow "
                "(plot_complex='rectangular', 'polar' or 'logpolar')."
            )
    if isinstance(vrange, str):
        mode = _check_vrange_string(vrange)
        level = int(mode[-1])
        if mode.startswith("indep"):
            return [_range_of(im, level) for im in arrays]
        if not arrays:
            return []
        pooled = np.concatenate([np.asarray(im, dtype=np.float64).ravel() for im in arrays])
        return [_range_of(pooled, level)] * len(arrays)
    if _is_pair(vrange):
        return [_as_pair(vrange)] * len(arrays)
    if isinstance(vrange, Sequence) and all(_is_pair(v) for v in vrange) and len(vrange) > 0:
        if len(vrange) != len(arrays):
            raise ValueError(
                f"`vrange` is a list of {len(vrange)} (vmin, vmax) pairs but there are {len(arrays)} "
                "images; give one pair per image, a single pair, or a string such as 'indep1'."
            )
        return [_as_pair(v) for v in vrange]
    raise ValueError(
        "`vrange` must be a (vmin, vmax) pair, a list of pairs (one per image) or one of "
        f"{', '.join(map(repr, _VRANGE_MODES))}, got {vrange!r}."
    )


def default_cmap(vrange) -> str:
    """``"RdBu_r"`` for the zero-centred ranges (``"auto0"``, ``"indep0"``), ``"gray"`` otherwise.

    This is plenoptic's (and pyrtools') rule for ``cmap=None``.
    """
    if isinstance(vrange, str) and vrange.endswith("0"):
        return "RdBu_r"
    return "gray"


def _to_display(image, as_rgb) -> tuple[np.ndarray, bool]:
    """Check ``image`` and return the 2-D (gray) or (H, W, C) (RGB) array to draw."""
    arr = np.asarray(image)
    if np.iscomplexobj(arr):
        raise TypeError(
            "show_image takes real images; for complex arrays use jaxoptic.plot.imshow, whose "
            "`plot_complex` option shows real/imaginary or amplitude/phase panels."
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"`image` must be a real numeric array, got dtype {arr.dtype}.")
    if arr.ndim == 2:
        if as_rgb:
            raise ValueError(
                f"`as_rgb=True` needs an image shaped (3 or 4, height, width), got shape {arr.shape}."
            )
        return arr, False
    if arr.ndim != 3:
        raise ValueError(
            f"`image` must be shaped (height, width) or (channels, height, width), got shape {arr.shape}. "
            "For a batch of images use jaxoptic.plot.imshow, which draws one panel per image."
        )
    n_channels = arr.shape[0]
    if as_rgb is None:
        as_rgb = n_channels in (3, 4)
    if as_rgb:
        if n_channels not in (3, 4):
            raise ValueError(
                f"`as_rgb=True` needs 3 (RGB) or 4 (RGBA) channels, got {n_channels} "
                f"(image shape {arr.shape})."
            )
        rgb = np.moveaxis(arr.astype(np.float64), 0, -1)
        if np.nanmin(rgb) < 0 or np.nanmax(rgb) > 1:
            warnings.warn(
                "RGB image has values outside [0, 1]; clipping them for display.", stacklevel=3
            )
            rgb = np.clip(rgb, 0, 1)
        return rgb, True
    if n_channels != 1:
        raise ValueError(
            f"show_image draws one image; got {n_channels} channels (shape {arr.shape}) and "
            "as_rgb=False. Use jaxoptic.plot.imshow to show each channel as its own panel, or pass "
            "as_rgb=True for 3 or 4 colour channels."
        )
    return arr[0], False


def show_image(ax, image, *, vrange="indep1", title=None, cmap=None, as_rgb=None):
    """Draw one image into ``ax`` without interpolation, ticks or smoothing.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axis to draw into.
    image : array
        JAX or NumPy array shaped ``(height, width)`` or ``(channels, height, width)`` with one channel
        (grayscale) or 3/4 channels (RGB/RGBA, see ``as_rgb``).
    vrange : str or tuple of float
        ``(vmin, vmax)`` or one of ``"indep0"``-``"indep3"`` / ``"auto0"``-``"auto3"`` (for a single
        image the ``auto`` rules equal the ``indep`` ones; see :func:`resolve_vrange`). Ignored for RGB
        images, which are shown on [0, 1].
    title : str, optional
        Axis title.
    cmap : str or matplotlib.colors.Colormap, optional
        Colormap for grayscale images. ``None`` means ``"gray"``, or ``"RdBu_r"`` for the zero-centred
        ranges ``"indep0"``/``"auto0"`` (plenoptic's rule).
    as_rgb : bool, optional
        Treat 3 or 4 channels as RGB(A). ``None`` (default) decides from the channel count. RGB values
        outside [0, 1] are clipped with a warning.

    Returns
    -------
    matplotlib.image.AxesImage
        The drawn image (``.get_array()`` is the displayed data, ``.get_clim()`` the range).

    Raises
    ------
    ValueError
        For other shapes, several channels that are not RGB, or a bad ``vrange``.
    TypeError
        For complex or non-numeric arrays (complex arrays go through :func:`imshow`).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from jaxoptic.plot import show_image
    >>> fig, ax = plt.subplots()
    >>> im = show_image(ax, np.arange(12.0).reshape(1, 3, 4), title="ramp")
    >>> im.get_clim()
    (0.0, 11.0)
    >>> plt.close(fig)
    """
    arr, is_rgb = _to_display(image, as_rgb)
    if is_rgb:
        if not isinstance(vrange, str):
            _as_pair(vrange)
        else:
            _check_vrange_string(vrange)
        artist = ax.imshow(arr, interpolation="nearest", vmin=0, vmax=1)
    else:
        ((lo, hi),) = resolve_vrange([arr], vrange)
        if cmap is None:
            cmap = default_cmap(vrange)
        artist = ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return artist
