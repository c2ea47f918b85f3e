"""Display functions: images, videos, pyramid coefficients, stem plots, representations, histograms.

Images are drawn without interpolation: with ``zoom`` set, one image pixel covers ``zoom`` screen
pixels (at the figure's dpi), because the figure is sized and the axes placed in pixel units.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation

from ._image import _check_vrange_string, _is_pair, default_cmap, resolve_vrange, show_image

__all__ = [
    "animshow",
    "histogram",
    "imshow",
    "plot_representation",
    "pyrshow",
    "save_animation",
    "stem_plot",
]

_COMPLEX_MODES = ("rectangular", "polar", "logpolar")

# layout constants, in screen pixels
_MARGIN = 6
_TITLE_PX = 22
_LABEL_PX = 16
_CHAR_PX = 7
_LABEL_CHAR_PX = 6  # the size / range labels under the panels are smaller (8 points)


class _Panel(NamedTuple):
    data: np.ndarray  # (H, W) values or (H, W, 3|4) RGB(A) in [0, 1]
    rgb: bool
    index: str = ""  # which image/channel, e.g. "[1, c=0]" ("" when there is only one)
    part: str = ""  # which part of a complex image ("real", "phase", ...) or ""

    @property
    def label(self) -> str:
        return " ".join(s for s in (self.index, self.part) if s)


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------


def _as_numeric(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise TypeError(f"`{name}` must be a numeric JAX or NumPy array, got dtype {arr.dtype}.")
    return arr


def _complex_parts(arr: np.ndarray, plot_complex: str) -> list[tuple[str, np.ndarray]]:
    """Split a complex array into the two real arrays named by ``plot_complex``."""
    if plot_complex == "rectangular":
        return [("real", arr.real), ("imag", arr.imag)]
    amplitude = np.abs(arr)
    if plot_complex == "polar":
        return [("amplitude", amplitude), ("phase", np.angle(arr))]
    return [("log(1+amplitude)", np.log1p(amplitude)), ("phase", np.angle(arr))]


def _check_plot_complex(plot_complex: str) -> None:
    if plot_complex not in _COMPLEX_MODES:
        raise ValueError(
            f"`plot_complex` must be one of {', '.join(map(repr, _COMPLEX_MODES))}, "
            f"got {plot_complex!r}."
        )


def _rgb_panel(arr: np.ndarray, where: str) -> np.ndarray:
    """(C, H, W) with C in (3, 4) -> (H, W, C) clipped to [0, 1] (warning when clipping)."""
    if arr.shape[0] not in (3, 4):
        raise ValueError(
            f"`as_rgb=True` needs 3 (RGB) or 4 (RGBA) channels, but {where} has {arr.shape[0]} "
            f"(shape {arr.shape})."
        )
    if np.iscomplexobj(arr):
        raise TypeError(f"`as_rgb=True` cannot show complex values ({where}).")
    rgb = np.moveaxis(arr.astype(np.float64), 0, -1)
    if np.nanmin(rgb) < 0 or np.nanmax(rgb) > 1:
        warnings.warn(
            f"RGB values of {where} lie outside [0, 1]; clipping them for display "
            "(rescale the image first to see the full range).",
            stacklevel=4,
        )
        rgb = np.clip(rgb, 0, 1)
    return rgb


def _label(parts: list[str]) -> str:
    return f"[{', '.join(parts)}]" if parts else ""


def _collect_panels(images, as_rgb: bool, plot_complex: str, name: str = "images") -> list[_Panel]:
    """Turn the ``images`` argument of :func:`imshow` into one entry per panel."""
    is_list = isinstance(images, (list, tuple))
    items = list(images) if is_list else [images]
    if not items:
        raise ValueError(f"`{name}` is empty: give an array or a non-empty list of arrays.")
    panels = []
    for i, item in enumerate(items):
        where = f"{name}[{i}]" if is_list else name
        arr = _as_numeric(item, where)
        if arr.ndim == 2:
            arr = arr[None, None]
            batched = False
        elif arr.ndim == 3:
            arr = arr[None]
            batched = False
        elif arr.ndim == 4:
            batched = True
        else:
            raise ValueError(
                f"`{where}` must be shaped (height, width), (channels, height, width) or "
                f"(batch, channels, height, width), got shape {arr.shape}."
            )
        n_batch, n_channels = arr.shape[:2]
        for n in range(n_batch):
            index = [str(i)] if is_list and len(items) > 1 else []
            if batched:
                index.append(str(n))
            if as_rgb:
                panels.append(_Panel(_rgb_panel(arr[n], where), True, _label(index)))
                continue
            for c in range(n_channels):
                idx = index + ([f"c={c}"] if n_channels > 1 else [])
                band = arr[n, c]
                if np.iscomplexobj(band):
                    for part, values in _complex_parts(band, plot_complex):
                        panels.append(_Panel(values, False, _label(idx), part))
                else:
                    panels.append(_Panel(band, False, _label(idx)))
    return panels


def _panel_titles(title, panels: list[_Panel]) -> list[str | None]:
    n = len(panels)
    if title is None:
        # complex parts are always named, otherwise the panels would be ambiguous
        return [p.part or None for p in panels]
    if isinstance(title, str):
        if n == 1:
            return [title]
        return [f"{title} {p.label}".strip() if p.label else title for p in panels]
    if isinstance(title, Sequence) and all(isinstance(t, str) or t is None for t in title):
        if len(title) != n:
            raise ValueError(
                f"`title` is a list of {len(title)} strings but there are {n} panels (one per image "
                "and channel, two per complex image); give one title per panel or a single string."
            )
        return list(title)
    raise TypeError(f"`title` must be a string, a list of strings or None, got {title!r}.")


def _panel_vranges(panels: list[_Panel], vrange) -> list[tuple[float, float]]:
    """(vmin, vmax) of every panel; RGB panels get (0, 1) and do not enter the pooled ranges."""
    if isinstance(vrange, str):
        _check_vrange_string(vrange)
    gray = [p.data for p in panels if not p.rgb]
    if not isinstance(vrange, str) and not _is_pair(vrange) and isinstance(vrange, Sequence):
        pairs = resolve_vrange([p.data for p in panels], vrange) if panels else []
        return [(0.0, 1.0) if p.rgb else r for p, r in zip(panels, pairs, strict=True)]
    ranges = iter(resolve_vrange(gray, vrange))
    return [(0.0, 1.0) if p.rgb else next(ranges) for p in panels]


def _check_zoom(zoom) -> None:
    if zoom is None:
        return
    if isinstance(zoom, bool) or not np.isscalar(zoom) or not np.isrealobj(zoom):
        raise TypeError(f"`zoom` must be a positive number or None, got {zoom!r}.")
    if not zoom > 0:
        raise ValueError(f"`zoom` must be positive, got {zoom}.")
    if zoom >= 1 and not math.isclose(zoom, round(zoom)):
        raise ValueError(
            f"`zoom` above 1 must be an integer (each image pixel covers zoom x zoom screen pixels), "
            f"got {zoom}."
        )
    if zoom < 1 and not math.isclose(1 / zoom, round(1 / zoom)):
        raise ValueError(
            f"`zoom` below 1 must be 1/d for an integer d (e.g. 0.5, 0.25), got {zoom}; other "
            "values would interpolate."
        )


def _auto_zoom(max_side: int) -> float:
    """Integer zoom bringing small images to about 256 screen pixels; 1/d for very large ones."""
    if max_side <= 256:
        return float(max(1, 256 // max_side))
    if max_side <= 1024:
        return 1.0
    return 1.0 / math.ceil(max_side / 1024)


def _check_col_wrap(col_wrap) -> None:
    if col_wrap is None:
        return
    if isinstance(col_wrap, bool) or not isinstance(col_wrap, (int, np.integer)) or col_wrap < 1:
        raise ValueError(f"`col_wrap` must be a positive int or None, got {col_wrap!r}.")


def _grid_figure(
    n_panels: int,
    n_cols: int,
    panel_px: tuple[float, float],
    titles: list[str | None],
    labels: list[str] | None,
):
    """A figure whose axes are ``panel_px = (height, width)`` screen pixels each, in a grid, with
    room for the titles above and the ``labels`` (or none) below every panel."""
    n_rows = math.ceil(n_panels / n_cols)
    dpi = plt.rcParams["figure.dpi"]
    h, w = panel_px
    title_px = _TITLE_PX if any(titles) else 0
    label_px = _LABEL_PX if labels else 0
    longest = max(
        max((len(t) * _CHAR_PX for t in titles if t), default=0),
        max((len(t) * _LABEL_CHAR_PX for t in labels or ()), default=0),
    )
    # whole screen pixels everywhere: an axis starting between two pixels would have its first
    # row/column of image pixels cut and blended with the next
    cell_w = math.ceil(max(w, longest)) + 2 * _MARGIN
    cell_h = math.ceil(h) + title_px + label_px + 2 * _MARGIN
    fig_w, fig_h = n_cols * cell_w, n_rows * cell_h
    fig = plt.figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    axes = []
    for k in range(n_panels):
        row, col = divmod(k, n_cols)
        left = col * cell_w + math.floor((cell_w - w) / 2)
        top = row * cell_h + _MARGIN + title_px
        rect = (left / fig_w, 1 - (top + h) / fig_h, w / fig_w, h / fig_h)
        axes.append(fig.add_axes(rect))
    return fig, axes


def _resize_axis(ax, panel_px: tuple[float, float]) -> None:
    """Shrink or grow ``ax`` about its centre to ``panel_px = (height, width)`` screen pixels."""
    fig = ax.figure
    fig_w, fig_h = fig.get_size_inches() * fig.dpi
    box = ax.get_position()
    h, w = panel_px[0] / fig_h, panel_px[1] / fig_w
    cx, cy = box.x0 + box.width / 2, box.y0 + box.height / 2
    # the corner on a whole screen pixel (see _grid_figure)
    x0 = round((cx - w / 2) * fig_w) / fig_w
    y0 = round((cy - h / 2) * fig_h) / fig_h
    ax.set_position((x0, y0, w, h))


def _range_label(panel: _Panel, vr: tuple[float, float]) -> str:
    """The x-label of a panel: its size and colour range."""
    shape = "x".join(str(s) for s in panel.data.shape[:2])
    return f"{shape}, range [0, 1]" if panel.rgb else f"{shape}, range [{vr[0]:.3g}, {vr[1]:.3g}]"


def _draw_panel(ax, panel: _Panel, vr: tuple[float, float], cmap, title, range_label: bool):
    if panel.rgb:
        artist = ax.imshow(panel.data, interpolation="nearest", vmin=0, vmax=1)
    else:
        artist = ax.imshow(panel.data, cmap=cmap, vmin=vr[0], vmax=vr[1], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if range_label:
        ax.set_xlabel(_range_label(panel, vr), fontsize=8, labelpad=2)
    return artist


def _layout_panels(panels, vranges, titles, *, zoom, col_wrap, ax, cmap, vrange, range_label=True):
    """Create (or take) the axes and draw every panel; returns (figure, artists)."""
    if cmap is None:
        cmap = default_cmap(vrange)
    max_h = max(p.data.shape[0] for p in panels)
    max_w = max(p.data.shape[1] for p in panels)
    if ax is not None:
        if len(panels) != 1:
            raise ValueError(
                f"`ax` was given but there are {len(panels)} panels to draw; pass ax=None to get a "
                "new figure, or select a single image and channel."
            )
        if zoom is not None:
            _resize_axis(ax, (max_h * zoom, max_w * zoom))
        artist = _draw_panel(ax, panels[0], vranges[0], cmap, titles[0], False)
        return ax.figure, [artist]
    if zoom is None:
        zoom = _auto_zoom(max(max_h, max_w))
    n_cols = len(panels) if col_wrap is None else min(col_wrap, len(panels))
    labels = (
        [_range_label(p, vr) for p, vr in zip(panels, vranges, strict=True)]
        if range_label
        else None
    )
    fig, axes = _grid_figure(len(panels), n_cols, (max_h * zoom, max_w * zoom), titles, labels)
    artists = [
        _draw_panel(a, p, vr, cmap, t, range_label)
        for a, p, vr, t in zip(axes, panels, vranges, titles, strict=True)
    ]
    return fig, artists


# --------------------------------------------------------------------------------------------
# imshow / animshow
# --------------------------------------------------------------------------------------------


def imshow(
    images,
    *,
    vrange="indep1",
    zoom=None,
    title=None,
    col_wrap=None,
    ax=None,
    cmap=None,
    as_rgb=False,
    plot_complex="rectangular",
):
    """Show images without interpolation, one panel per image and channel.

    Parameters
    ----------
    images : array or list of arrays
        JAX or NumPy arrays: one image ``(channels, height, width)``, a batch ``(batch, channels,
        height, width)``, a 2-D ``(height, width)`` array, or a list of those (sizes may differ:
        every panel is drawn at the size of the largest image). Every image x channel is its own
        grayscale panel unless ``as_rgb``.
    vrange : str, tuple or list of tuples
        ``(vmin, vmax)``, one pair per panel, or ``"indep0"``-``"indep3"`` (per panel) /
        ``"auto0"``-``"auto3"`` (shared by all panels); see :func:`resolve_vrange`. RGB panels
        always use [0, 1].
    zoom : float, optional
        Screen pixels per image pixel: an integer, or ``1/d`` for an integer ``d`` (the figure is
        sized so that this holds at ``fig.dpi``). ``None`` picks an integer zoom that brings small
        images to about 256 pixels (1 for images up to 1024 pixels; ``1/d`` above).
    title : str or list of str, optional
        One string for every panel (suffixed with the panel's index, e.g. ``"noise [1]"``, when there
        are several) or one string per panel. ``None`` shows no titles, except the names of complex
        parts.
    col_wrap : int, optional
        Number of panels per row (default: all in one row).
    ax : matplotlib.axes.Axes, optional
        Draw into this axis (only one panel allowed); with ``zoom`` the axis is resized about its
        centre.
    cmap : str or matplotlib.colors.Colormap, optional
        Colormap of grayscale panels; ``None`` means ``"gray"``, or ``"RdBu_r"`` for the zero-centred
        ``"indep0"``/``"auto0"`` ranges.
    as_rgb : bool
        Show 3 or 4 channels as one RGB(A) panel; values outside [0, 1] are clipped with a warning.
    plot_complex : {"rectangular", "polar", "logpolar"}
        Complex images become two panels: real and imaginary parts, amplitude and phase, or
        ``log(1 + amplitude)`` and phase.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; each panel's axis holds one ``AxesImage``. When the figure is created here, each
        panel's x-label gives the image size and colour range.

    Raises
    ------
    ValueError
        For arrays that are not 2-, 3- or 4-D, ``as_rgb`` without 3 or 4 channels, an unknown
        ``vrange`` or ``plot_complex``, a bad ``zoom``/``col_wrap``, a title list of the wrong length,
        or several panels with ``ax``.
    TypeError
        For non-numeric arrays or titles that are not strings.

    Examples
    --------
    >>> import numpy as np
    >>> import jaxoptic as jo
    >>> batch = np.random.default_rng(0).random((2, 1, 16, 16))
    >>> fig = jo.plot.imshow(batch, title="noise", vrange="auto1")
    >>> [a.get_title() for a in fig.axes]
    ['noise [0]', 'noise [1]']
    >>> fig = jo.plot.imshow(np.fft.fft2(batch[0, 0]), plot_complex="polar")
    >>> [a.get_title() for a in fig.axes]
    ['amplitude', 'phase']
    """
    _check_plot_complex(plot_complex)
    _check_zoom(zoom)
    _check_col_wrap(col_wrap)
    panels = _collect_panels(images, bool(as_rgb), plot_complex)
    titles = _panel_titles(title, panels)
    vranges = _panel_vranges(panels, vrange)
    fig, _ = _layout_panels(
        panels, vranges, titles, zoom=zoom, col_wrap=col_wrap, ax=ax, cmap=cmap, vrange=vrange
    )
    return fig


def _collect_videos(video, as_rgb: bool) -> tuple[list[np.ndarray], list[bool], list[str]]:
    """Videos as (T, H, W) or (T, H, W, 3|4) arrays, with RGB flags and labels."""
    is_list = isinstance(video, (list, tuple))
    items = list(video) if is_list else [video]
    if not items:
        raise ValueError("`video` is empty: give an array or a non-empty list of arrays.")
    movies, rgb, labels = [], [], []
    for i, item in enumerate(items):
        where = f"video[{i}]" if is_list else "video"
        arr = _as_numeric(item, where)
        if np.iscomplexobj(arr):
            raise TypeError(
                f"`{where}` is complex; animate a real view of it (e.g. jnp.abs or .real)."
            )
        if arr.ndim == 3:
            arr = arr[:, None]
        elif arr.ndim != 4:
            raise ValueError(
                f"`{where}` must be one movie shaped (time, channels, height, width) or (time, height, "
                f"width), got shape {arr.shape}; pass several movies as a list."
            )
        index = [str(i)] if is_list and len(items) > 1 else []
        if as_rgb:
            if arr.shape[1] not in (3, 4):
                raise ValueError(
                    f"`as_rgb=True` needs 3 (RGB) or 4 (RGBA) channels, but {where} has "
                    f"{arr.shape[1]} (shape {arr.shape})."
                )
            frames = np.moveaxis(arr.astype(np.float64), 1, -1)
            if np.nanmin(frames) < 0 or np.nanmax(frames) > 1:
                warnings.warn(
                    f"RGB values of {where} lie outside [0, 1]; clipping them for display.",
                    stacklevel=3,
                )
                frames = np.clip(frames, 0, 1)
            movies.append(frames)
            rgb.append(True)
            labels.append(_label(index))
            continue
        for c in range(arr.shape[1]):
            movies.append(arr[:, c])
            rgb.append(False)
            labels.append(_label(index + ([f"c={c}"] if arr.shape[1] > 1 else [])))
    n_frames = {m.shape[0] for m in movies}
    if len(n_frames) > 1:
        raise ValueError(f"All videos must have the same number of frames, got {sorted(n_frames)}.")
    return movies, rgb, labels


def animshow(
    video,
    *,
    framerate=2.0,
    repeat=False,
    vrange="auto1",
    zoom=None,
    title=None,
    as_rgb=False,
    cmap=None,
):
    """Animate a movie (or several side by side) without interpolation.

    Parameters
    ----------
    video : array or list of arrays
        One movie ``(time, channels, height, width)`` or ``(time, height, width)`` (no batch axis),
        or a list of movies with the same number of frames, shown side by side. Each channel is its
        own panel unless ``as_rgb``.
    framerate : float
        Frames per second.
    repeat : bool
        Loop the animation.
    vrange : str or tuple
        As in :func:`imshow`, but a range is computed over all frames: ``"auto*"`` shares one range
        among all panels and frames, ``"indep*"`` gives each panel one range over its frames. The
        range never changes during the animation.
    zoom : float, optional
        Screen pixels per image pixel, as in :func:`imshow`.
    title : str or list of str, optional
        As in :func:`imshow` (one per panel).
    as_rgb : bool
        Show 3 or 4 channels as colour; values outside [0, 1] are clipped with a warning.
    cmap : str or matplotlib.colors.Colormap, optional
        Colormap of grayscale panels (default as in :func:`imshow`).

    Returns
    -------
    matplotlib.animation.FuncAnimation
        The animation (``anim._fig`` is its figure). Display it in a notebook with
        ``IPython.display.HTML(anim.to_jshtml())`` or save it with :func:`save_animation`.

    Raises
    ------
    ValueError
        For bad shapes, videos of different lengths, or bad ``vrange``/``zoom``/``framerate``.
    TypeError
        For complex or non-numeric videos.

    Examples
    --------
    >>> import numpy as np
    >>> import jaxoptic as jo
    >>> movie = np.random.default_rng(0).random((5, 1, 8, 8))
    >>> anim = jo.plot.animshow(movie, framerate=5)
    >>> len(list(anim.new_frame_seq()))
    5
    >>> html = anim.to_jshtml()  # in a notebook: IPython.display.HTML(html)
    """
    _check_zoom(zoom)
    if isinstance(framerate, bool) or not np.isscalar(framerate) or not framerate > 0:
        raise ValueError(
            f"`framerate` must be a positive number of frames per second, got {framerate!r}."
        )
    movies, rgb, labels = _collect_videos(video, bool(as_rgb))
    n_frames = movies[0].shape[0]
    # ranges over all frames of each movie (pooled over movies for "auto*")
    whole = [_Panel(m, r, lab) for m, r, lab in zip(movies, rgb, labels, strict=True)]
    vranges = _panel_vranges(whole, vrange)
    first = [_Panel(m[0], r, lab) for m, r, lab in zip(movies, rgb, labels, strict=True)]
    titles = _panel_titles(title, first)
    fig, artists = _layout_panels(
        first, vranges, titles, zoom=zoom, col_wrap=None, ax=None, cmap=cmap, vrange=vrange
    )

    def update(k):
        for artist, movie in zip(artists, movies, strict=True):
            artist.set_data(movie[k])
        return artists

    anim = animation.FuncAnimation(
        fig, update, frames=n_frames, interval=1000.0 / framerate, repeat=repeat, blit=False
    )
    anim.framerate = float(framerate)
    return anim


def save_animation(anim, path) -> Path:
    """Write an animation to an MP4 (with ffmpeg) or GIF file.

    Parameters
    ----------
    anim : matplotlib.animation.Animation
        E.g. from :func:`animshow`; its frame rate is kept.
    path : str or path-like
        Destination ending in ``.mp4`` or ``.gif``. For ``.mp4`` without ffmpeg
        (``matplotlib.animation.writers.is_available("ffmpeg")`` false), a GIF is written next to it
        (same name, ``.gif``) with a warning.

    Returns
    -------
    pathlib.Path
        The file actually written.

    Raises
    ------
    ValueError
        If the suffix is neither ``.mp4`` nor ``.gif``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import jaxoptic as jo
    >>> anim = jo.plot.animshow(np.zeros((2, 4, 4)))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     written = jo.plot.save_animation(anim, f"{d}/movie.gif")
    ...     written.name
    'movie.gif'
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"`path` must end with .mp4 or .gif, got {str(path)!r}.")
    framerate = getattr(anim, "framerate", None)
    if framerate is None:
        framerate = 1000.0 / getattr(anim, "_interval", 500)
    if suffix == ".mp4":
        if animation.writers.is_available("ffmpeg"):
            anim.save(path, writer=animation.FFMpegWriter(fps=framerate))
            return path
        warnings.warn(
            f"ffmpeg is not available, so {path.name} cannot be written; writing a GIF instead.",
            stacklevel=2,
        )
        path = path.with_suffix(".gif")
    anim.save(path, writer=animation.PillowWriter(fps=framerate))
    return path


# --------------------------------------------------------------------------------------------
# pyrshow
# --------------------------------------------------------------------------------------------


def _select_channel(arr: np.ndarray, channel: int, key) -> np.ndarray:
    n_channels = arr.shape[0]
    if not -n_channels <= channel < n_channels:
        raise ValueError(
            f"`channel`={channel} is out of range for coefficient {key!r} with {n_channels} channels."
        )
    return arr[channel]


def _pyramid_rows(coeffs, channel: int, show_residuals: bool):
    """Rows of (title, 2-D band) lists: highpass, scales fine to coarse, lowpass."""
    if isinstance(coeffs, Mapping):
        items = list(coeffs.items())
    elif isinstance(coeffs, (list, tuple)):
        # a Laplacian pyramid: band-pass levels, then the lowpass residual
        if not coeffs:
            raise ValueError("`coeffs` is empty.")
        items = [(i, c) for i, c in enumerate(coeffs[:-1])]
        items.append(("residual_lowpass", coeffs[-1]))
    else:
        raise TypeError(
            "`coeffs` must be the dict returned by a jaxoptic steerable pyramid or the list returned "
            f"by a Laplacian pyramid, got {type(coeffs).__name__}."
        )
    residuals, scales = {}, {}
    for key, value in items:
        arr = _as_numeric(value, f"coeffs[{key!r}]")
        if isinstance(key, str):
            if key not in ("residual_highpass", "residual_lowpass"):
                raise ValueError(
                    f"Unknown key {key!r} in `coeffs`: expected 'residual_highpass', "
                    "'residual_lowpass', scale ints or (scale, orientation) tuples."
                )
            if arr.ndim != 3:
                raise ValueError(
                    f"`coeffs[{key!r}]` must be shaped (channels, height, width), got {arr.shape}."
                )
            residuals[key] = _select_channel(arr, channel, key)
        elif isinstance(key, tuple) and len(key) == 2:
            scale, ori = (int(k) for k in key)
            if arr.ndim != 3:
                raise ValueError(
                    f"`coeffs[{key!r}]` must be shaped (channels, height, width), got {arr.shape}."
                )
            scales.setdefault(scale, {})[ori] = _select_channel(arr, channel, key)
        elif isinstance(key, (int, np.integer)):
            if arr.ndim == 3:
                arr = arr[:, None]
            if arr.ndim != 4:
                raise ValueError(
                    f"`coeffs[{key!r}]` must be shaped (channels, orientations, height, width) or "
                    f"(channels, height, width), got {arr.shape}."
                )
            bands = _select_channel(arr, channel, key)
            for ori in range(bands.shape[0]):
                scales.setdefault(int(key), {})[ori] = bands[ori]
        else:
            raise ValueError(f"Unknown key {key!r} in `coeffs`.")
    rows = []
    if show_residuals and "residual_highpass" in residuals:
        rows.append([("residual highpass", residuals["residual_highpass"])])
    for scale in sorted(scales):
        bands = scales[scale]
        single = len(bands) == 1
        rows.append(
            [
                (f"scale {scale}" if single else f"scale {scale}, ori {ori}", bands[ori])
                for ori in sorted(bands)
            ]
        )
    if show_residuals and "residual_lowpass" in residuals:
        rows.append([("residual lowpass", residuals["residual_lowpass"])])
    if not rows:
        raise ValueError("`coeffs` holds no band to show.")
    return rows


def pyrshow(
    coeffs,
    *,
    vrange="indep1",
    zoom=1,
    show_residuals=True,
    channel=0,
    title=None,
    plot_complex="rectangular",
    cmap=None,
):
    """Show pyramid coefficients: one row per scale, one column per orientation.

    Bands keep their relative sizes (coarser scales are smaller): every band is drawn at ``zoom``
    screen pixels per coefficient.

    Parameters
    ----------
    coeffs : dict or list
        The ``OrderedDict`` of a :class:`~jaxoptic.pyramids.SteerablePyramid` (``"residual_highpass"``
        and ``"residual_lowpass"`` -> ``(C, H, W)``, scale ``s`` -> ``(C, orientations, h, w)``), a
        dict keyed by ``(scale, orientation)`` tuples with ``(C, h, w)`` values, or the list of a
        :class:`~jaxoptic.pyramids.LaplacianPyramid` (levels, then the lowpass residual).
    vrange : str or tuple
        As in :func:`imshow`; ``"auto*"`` shares one range over all bands shown.
    zoom : float
        Screen pixels per coefficient (integer or ``1/d``).
    show_residuals : bool
        Include the highpass and lowpass residuals (each in its own row).
    channel : int
        Which channel of the coefficients to show.
    title : str, optional
        Figure title (suptitle).
    plot_complex : {"rectangular", "polar", "logpolar"}
        For complex bands, each orientation becomes two panels (real/imaginary, amplitude/phase, or
        ``log(1 + amplitude)``/phase), side by side.
    cmap : str or matplotlib.colors.Colormap, optional
        As in :func:`imshow`.

    Returns
    -------
    matplotlib.figure.Figure
        One axis per band (and residual), titled e.g. ``"scale 0, ori 1"``.

    Raises
    ------
    ValueError
        For unknown keys, badly shaped coefficients, a channel out of range or a bad option.
    TypeError
        If ``coeffs`` is neither a dict nor a list.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> pyr = jo.pyramids.SteerablePyramid((32, 32), height=2, order=1)
    >>> fig = jo.plot.pyrshow(pyr(jnp.ones((1, 32, 32))), zoom=2)
    >>> len(fig.axes)  # highpass, 2 scales x 2 orientations, lowpass
    6
    """
    _check_plot_complex(plot_complex)
    _check_zoom(zoom)
    if zoom is None:
        zoom = 1
    rows = _pyramid_rows(coeffs, channel, show_residuals)
    # expand complex bands into parts
    panel_rows = []
    for row in rows:
        out = []
        for name, band in row:
            if np.iscomplexobj(band):
                out.extend(
                    (f"{name} {part}", values)
                    for part, values in _complex_parts(band, plot_complex)
                )
            else:
                out.append((name, band))
        panel_rows.append(out)
    flat = [_Panel(b, False, n) for row in panel_rows for n, b in row]
    vranges = iter(_panel_vranges(flat, vrange))
    if cmap is None:
        cmap = default_cmap(vrange)

    dpi = plt.rcParams["figure.dpi"]
    n_cols = max(len(r) for r in panel_rows)
    longest = max(len(p.label) for p in flat)
    fontsize = 9
    col_w = math.ceil(max(max(p.data.shape[1] for p in flat) * zoom, longest * 6)) + 2 * _MARGIN
    row_hs = [
        math.ceil(max(b.shape[0] for _, b in row) * zoom) + _TITLE_PX + 2 * _MARGIN
        for row in panel_rows
    ]
    top_px = 30 if title else 0
    fig_w, fig_h = n_cols * col_w, sum(row_hs) + top_px
    fig = plt.figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    y = top_px
    for row, row_h in zip(panel_rows, row_hs, strict=True):
        for col, (name, band) in enumerate(row):
            h, w = band.shape[0] * zoom, band.shape[1] * zoom
            left = col * col_w + math.floor((col_w - w) / 2)
            top = y + _MARGIN + _TITLE_PX
            ax = fig.add_axes((left / fig_w, 1 - (top + h) / fig_h, w / fig_w, h / fig_h))
            vr = next(vranges)
            ax.imshow(band, cmap=cmap, vmin=vr[0], vmax=vr[1], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=fontsize)
        y += row_h
    if title:
        fig.suptitle(title, y=1 - 4 / fig_h, va="top")
    return fig


# --------------------------------------------------------------------------------------------
# stem plots, representations, histograms
# --------------------------------------------------------------------------------------------


def _auto_ylim(values: np.ndarray) -> tuple[float, float] | None:
    """Limits from just below 0 for non-negative data, symmetric otherwise (None if no finite value)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    top = float(np.max(np.abs(finite)))
    if top == 0:
        top = 1.0
    top *= 1.08
    # a little room below 0 keeps the baseline (and its breaks) visible
    return (-0.04 * top, top) if finite.min() >= 0 else (-top, top)


def stem_plot(data, *, ax=None, title="", ylim=None, xvals=None):
    """A clean stem plot of a 1-D array: small markers, no baseline clutter, no x axis.

    Parameters
    ----------
    data : array
        1-D values (JAX or NumPy; other shapes are flattened).
    ax : matplotlib.axes.Axes, optional
        Axis to draw into; a new figure is created if None.
    title : str
        Axis title ("" for none).
    ylim : tuple, None or False
        y-limits. ``None``: from just below 0 to just above the maximum for non-negative data,
        symmetric about 0 otherwise. ``False``: leave matplotlib's limits.
    xvals : tuple of two sequences, optional
        ``(starts, stops)`` x positions: a baseline segment is drawn under each group
        ``starts[i]..stops[i]`` (e.g. one per scale) instead of a faint line at 0.

    Returns
    -------
    matplotlib.axes.Axes
        The axis; ``ax.containers[-1]`` is the ``StemContainer``.

    Examples
    --------
    >>> import numpy as np
    >>> import jaxoptic as jo
    >>> ax = jo.plot.stem_plot(np.array([1.0, -2.0, 0.5]), title="stats")
    >>> ax.containers[-1].markerline.get_ydata().tolist()
    [1.0, -2.0, 0.5]
    """
    values = np.asarray(data)
    if np.iscomplexobj(values):
        raise TypeError("`data` must be real for a stem plot (take .real or abs first).")
    values = values.astype(np.float64).ravel()
    if ax is None:
        _, ax = plt.subplots()
    if xvals is not None:
        starts, stops = xvals
        ax.hlines(np.zeros(len(starts)), starts, stops, colors="0.45", linewidth=1.2, zorder=0)
    else:
        ax.axhline(0, color="0.8", linewidth=0.8, zorder=0)
    container = ax.stem(values, basefmt=" ")
    container.markerline.set_markersize(3)
    container.stemlines.set_linewidth(1)
    # keep the first and last markers off the axis edges
    ax.set_xlim(-0.75, max(len(values), 1) - 0.25)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.xaxis.set_visible(False)
    if ylim is None:
        ylim = _auto_ylim(values)
    if ylim is not None and ylim is not False:
        ax.set_ylim(ylim)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _hide_axis(ax) -> None:
    ax.set_axis_off()


def _subgrid(fig, ax, n_rows, n_cols):
    """Gridspec over the whole figure (ax None) or inside ``ax`` (which is then hidden)."""
    if ax is None:
        return fig.add_gridspec(n_rows, n_cols)
    _hide_axis(ax)
    return ax.get_subplotspec().subgridspec(n_rows, n_cols)


def plot_representation(data, *, model=None, ax=None, figsize=None, ylim=None, title=""):
    """Plot a model's representation: stem plots for vectors, images for maps.

    Parameters
    ----------
    data : array or dict
        The representation. Dispatch: a ``model`` with a ``plot_representation`` method draws it
        itself; a :class:`~jaxoptic.models.PortillaSimoncelli` model gives the summary of plenoptic's
        ``PortillaSimoncelli.plot_representation`` (``data`` the model output or its
        :meth:`~jaxoptic.models.PortillaSimoncelli.to_dict`); otherwise a dict gets one panel per key
        (titled by the key) and an array is split by channel: 1-D -> one stem plot, 2-D ``(channels,
        features)`` -> one stem plot per channel, 3-D ``(channels, height, width)`` -> one image per
        channel (zero-centred range, given under the image). In a dict, 2-D values draw all channels
        into one stem panel (one colour each) and 3-D values with several channels show their
        channel mean.
    model : object, optional
        The model that produced ``data`` (see above).
    ax : matplotlib.axes.Axes, optional
        Axis to subdivide into the panels (it is hidden); a new figure otherwise.
    figsize : tuple, optional
        Size of the new figure (not allowed with ``ax``).
    ylim : tuple, None or False
        y-limits of the stem panels. ``None``: one shared range, from 0 (non-negative data) or
        symmetric about 0, fitting all stem data; ``False``: matplotlib's.
    title : str
        Title: the figure's suptitle for a dict or the PS summary; the panel title prefix
        (``"title_00"``, ...) for an array (``"Representation"`` if empty).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
        One per panel (up to 4 per row).

    Raises
    ------
    ValueError
        For ``figsize`` together with ``ax``, or data with more than 3 dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> import jaxoptic as jo
    >>> fig, axes = jo.plot.plot_representation({"mean": np.ones(3), "map": np.zeros((1, 4, 4))})
    >>> [a.get_title() for a in axes]
    ['mean', 'map']
    """
    if ax is not None and figsize is not None:
        raise ValueError("`figsize` cannot be set together with `ax` (the figure already exists).")
    if model is not None and hasattr(model, "plot_representation"):
        return model.plot_representation(data, ax=ax, figsize=figsize, ylim=ylim, title=title)
    if model is not None:
        from ..models import PortillaSimoncelli

        if isinstance(model, PortillaSimoncelli):
            from ._portilla_simoncelli import _plot_ps_representation

            return _plot_ps_representation(
                model, data, ax=ax, figsize=figsize, ylim=ylim, title=title or None
            )

    # panels: (title, "stem", rows of values) or (title, "image", 2-D map)
    if isinstance(data, Mapping):
        panels = []
        for k, v in data.items():
            v = np.asarray(v)
            if v.ndim <= 2:
                panels.append((str(k), "stem", v.reshape(-1, v.shape[-1] if v.ndim else 1)))
            elif v.ndim == 3:
                several = v.shape[0] > 1
                key = f"{k} (channel mean)" if several else str(k)
                panels.append((key, "image", v.mean(0) if several else v[0]))
            else:
                raise ValueError(
                    f"Don't know how to plot {k!r} with shape {v.shape}: values must be 1-D, 2-D "
                    "(channels, features) or 3-D (channels, height, width)."
                )
        suptitle = title or None
    else:
        arr = np.asarray(data)
        name = title or "Representation"
        if arr.ndim == 1:
            panels = [(name, "stem", arr[None])]
        elif arr.ndim in (2, 3):
            kind = "stem" if arr.ndim == 2 else "image"
            panels = [
                (f"{name}_{i:02d}", kind, arr[i : i + 1] if kind == "stem" else arr[i])
                for i in range(arr.shape[0])
            ]
        else:
            raise ValueError(
                "`data` must be 1-D (features), 2-D (channels, features) or 3-D (channels, height, "
                f"width), got shape {arr.shape}; for a batch, plot one element at a time."
            )
        suptitle = None
    if not panels:
        raise ValueError("`data` is empty.")

    n_cols = min(4, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    if ax is None:
        fig = plt.figure(
            figsize=figsize or (3.2 * n_cols, 2.6 * n_rows + (0.4 if suptitle else 0)),
            layout="constrained",
        )
    else:
        fig = ax.figure
    gs = _subgrid(fig, ax, n_rows, n_cols)
    axes, stem_axes, stem_values = [], [], []
    for i, (key, kind, v) in enumerate(panels):
        sub = fig.add_subplot(gs[i // n_cols, i % n_cols])
        if kind == "image":
            # signed maps (errors, band-pass responses) centred on 0; one-signed maps on their range
            finite = np.asarray(v)[np.isfinite(np.asarray(v))]
            signed = finite.size > 0 and finite.min() < 0 < finite.max()
            artist = show_image(sub, v, vrange="indep0" if signed else "indep1", title=key)
            lo, hi = artist.get_clim()
            sub.set_xlabel(f"range [{lo:.3g}, {hi:.3g}]", fontsize=8, labelpad=2)
        else:
            for j, row in enumerate(v):
                stem_plot(row, ax=sub, title=key, ylim=False)
                if len(v) > 1:  # tell overlaid channels apart
                    container = sub.containers[-1]
                    container.markerline.set_color(f"C{j % 10}")
                    container.stemlines.set_color(f"C{j % 10}")
            stem_axes.append(sub)
            stem_values.append(np.asarray(v, dtype=np.float64).ravel())
        axes.append(sub)
    if stem_axes:
        if ylim is None:
            shared = _auto_ylim(np.concatenate(stem_values))
            if shared is not None:
                for a in stem_axes:
                    a.set_ylim(shared)
        elif ylim is not False:
            for a in stem_axes:
                a.set_ylim(ylim)
    if suptitle:
        fig.suptitle(suptitle)
    return fig, axes


def _freedman_diaconis_bins(values: np.ndarray) -> int:
    """Number of bins of width ``2 * IQR / n**(1/3)`` (sqrt(n) bins when the IQR is 0)."""
    n = values.size
    if n < 2:
        return 1
    q25, q75 = np.percentile(values, [25, 75])
    width = 2 * (q75 - q25) / n ** (1 / 3)
    if width == 0:
        return max(1, int(np.sqrt(n)))
    return max(1, int(np.ceil((values.max() - values.min()) / width)))


def histogram(
    data,
    *,
    labels=None,
    ylim=None,
    xlim="range",
    xlabel="Values",
    ax=None,
    title="Histogram of values",
    alpha=0.4,
    bins=None,
):
    """Histogram of the values of one or several arrays, overlaid.

    Parameters
    ----------
    data : array or list of arrays
        Values (all entries count; NaN and infinite values are left out).
    labels : str or list of str, optional
        One label per array; adds a legend.
    ylim : tuple, optional
        y-limits.
    xlim : "range", tuple or None
        ``"range"``: from the smallest to the largest value over all arrays; None: matplotlib's.
    xlabel : str
        x-axis label.
    ax : matplotlib.axes.Axes, optional
        Axis to draw into; a new figure is created if None.
    title : str
        Axis title.
    alpha : float
        Bar transparency.
    bins : int, optional
        Number of bins per array; default ``min(Freedman-Diaconis, 50)``.

    Returns
    -------
    matplotlib.axes.Axes
        The axis; ``ax.containers`` holds one ``BarContainer`` per array.

    Raises
    ------
    ValueError
        If ``labels`` does not have one entry per array, or an array has no finite value.

    Examples
    --------
    >>> import numpy as np
    >>> import jaxoptic as jo
    >>> x = np.random.default_rng(0).normal(size=500)
    >>> ax = jo.plot.histogram([x, x + 2], labels=["x", "x + 2"])
    >>> int(sum(p.get_height() for p in ax.containers[0]))
    500
    """
    arrays = list(data) if isinstance(data, (list, tuple)) else [data]
    if not arrays:
        raise ValueError("`data` is empty.")
    values = []
    for i, d in enumerate(arrays):
        v = np.asarray(d)
        if np.iscomplexobj(v):
            raise TypeError(f"`data[{i}]` is complex; take .real or abs first.")
        v = v.astype(np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            raise ValueError(f"`data[{i}]` has no finite value to histogram.")
        values.append(v)
    if labels is not None:
        labels = [labels] if isinstance(labels, str) else list(labels)
        if len(labels) != len(values):
            raise ValueError(
                f"`labels` has {len(labels)} entries but `data` has {len(values)} arrays."
            )
    if ax is None:
        _, ax = plt.subplots()
    for i, v in enumerate(values):
        n_bins = bins if bins is not None else min(_freedman_diaconis_bins(v), 50)
        ax.hist(v, bins=n_bins, alpha=alpha, label=None if labels is None else labels[i])
    if labels is not None:
        ax.legend()
    if ylim is not None:
        ax.set_ylim(ylim)
    if isinstance(xlim, str):
        if xlim != "range":
            raise ValueError(f"`xlim` must be 'range', a (min, max) pair or None, got {xlim!r}.")
        all_values = np.concatenate(values)
        lo, hi = float(all_values.min()), float(all_values.max())
        if lo < hi:
            ax.set_xlim(lo, hi)
    elif xlim is not None and xlim is not False:
        ax.set_xlim(xlim)
    if xlabel:
        ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax
