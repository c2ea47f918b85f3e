"""Figures of synthesis runs: images, losses, representation errors, status panels and animations.

Every function takes a synthesis run as ``(method, state, history)``: the method (e.g.
:class:`jaxoptic.Metamer`), its state and the :class:`jaxoptic.History` returned by
:func:`jaxoptic.synthesize` (``history`` is optional where a figure does not need it). A *batch*
(method, state and history with a leading batch axis, e.g. from
:func:`jaxoptic.recipes.mad_competition_set`) needs ``lane=i`` to pick one synthesis.

Loss curves follow plenoptic's convention: the recorded losses of every step (the objective at the
image *before* the step) plus the loss of the current image, computed here, so that a run of ``n``
steps has ``n + 1`` points and the last one belongs to the image shown at ``iteration=n``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property

import equinox as eqx
import jax
import matplotlib.pyplot as plt
import numpy as np
from jaxtyping import Array, Float
from matplotlib import animation, ticker, transforms
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..synthesis import (
    Eigendistortion,
    EigendistortionState,
    Geodesic,
    GeodesicState,
    History,
    MADCompetition,
    MADCompetitionState,
    Metamer,
    MetamerCTF,
    MetamerState,
)
from ._display import histogram, imshow, plot_representation

__all__ = [
    "eigendistortion_convergence",
    "eigendistortion_imshow_all",
    "mad_imshow_all",
    "mad_loss_all",
    "metamer_representation_error",
    "plot_deviation_from_line",
    "synthesis_animate",
    "synthesis_histogram",
    "synthesis_imshow",
    "synthesis_loss",
    "synthesis_status",
]

_STATE_TYPES = {
    "metamer": MetamerState,
    "mad": MADCompetitionState,
    "eigendistortion": EigendistortionState,
    "geodesic": GeodesicState,
}

# the panels synthesis_status can draw for each method, and the default ones (plenoptic's)
_PANELS = {
    "metamer": (
        "synthesis_imshow",
        "synthesis_loss",
        "metamer_representation_error",
        "synthesis_histogram",
    ),
    "mad": ("synthesis_imshow", "synthesis_loss", "synthesis_histogram"),
    "eigendistortion": ("synthesis_imshow", "synthesis_histogram", "eigendistortion_convergence"),
    "geodesic": ("synthesis_imshow", "synthesis_loss", "deviation_from_line"),
}
_DEFAULT_PANELS = {
    "metamer": ("synthesis_imshow", "synthesis_loss", "metamer_representation_error"),
    "mad": ("synthesis_imshow", "synthesis_loss"),
    "eigendistortion": ("synthesis_imshow", "synthesis_histogram"),
    "geodesic": ("synthesis_imshow", "synthesis_loss", "deviation_from_line"),
}
_METHOD_NAMES = {
    "metamer": "Metamer",
    "mad": "MADCompetition",
    "eigendistortion": "Eigendistortion",
    "geodesic": "Geodesic",
}
_PANEL_INCHES = 4.0  # width and height of one status panel of width ratio 1


# ------------------------------------------------------------------------------------------------
# compiled helpers (one compilation per model / metric structure and image shape)
# ------------------------------------------------------------------------------------------------


def _model_output(model, image):
    """``model(image)``, compiled. The Metamer module compiles exactly this when it computes the
    target representation: sharing its cache, the plots recompile nothing after a synthesis."""
    from ..synthesis._metamer import _representation

    return _representation(model, image)


@eqx.filter_jit
def _call(fn, *args):
    """``fn(*args)`` compiled (a loss or penalty: op by op, some cost seconds)."""
    return fn(*args)


@eqx.filter_jit
def _geodesic_objective(method, sequence):
    return method.objective(sequence)


@eqx.filter_jit
def _geodesic_deviation(method, sequence):
    return method.deviation_from_line(sequence)


def _metric_value(metric, image_a, image_b) -> float:
    # the MAD module compiles its metrics once per metric and shape: reuse that cache
    from ..synthesis._mad_competition import _metric_at

    return float(_metric_at(metric, image_a, image_b))


def _scalar(value) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(()))


# ------------------------------------------------------------------------------------------------
# one synthesis run: method, state and history of one lane
# ------------------------------------------------------------------------------------------------


def _kind_of(method) -> str:
    if isinstance(method, Metamer):  # MetamerCTF included
        return "metamer"
    if isinstance(method, MADCompetition):
        return "mad"
    if isinstance(method, Eigendistortion):
        return "eigendistortion"
    if isinstance(method, Geodesic):
        return "geodesic"
    raise TypeError(
        "`method` must be a jaxoptic synthesis method (Metamer, MetamerCTF, MADCompetition, "
        f"Eigendistortion or Geodesic), got {type(method).__name__}."
    )


def _take(tree, lane: int):
    """Lane ``lane`` of a batched method or state (every array leaf has the batch axis first)."""
    return jax.tree.map(lambda x: x[lane] if eqx.is_array(x) and np.ndim(x) > 0 else x, tree)


def _history_lane(history: History, lane: int) -> History:
    """One lane of a batched history, without the slots the lane did not run."""
    its = np.asarray(history.iterations)[lane]
    ran = its >= 0
    records = {k: np.asarray(v)[lane][ran] for k, v in history.records.items()}
    saved = saved_its = None
    if history.saved_images is not None:
        s_its = np.asarray(history.saved_iterations)[lane]
        used = s_its >= 0
        saved = np.asarray(history.saved_images)[lane][used]
        saved_its = s_its[used]
    return History(its[ran], records, saved, saved_its)


def _check_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r}.")
    return int(value)


class _Run:
    """The method, state and (optional) history of one synthesis, with cached derived values."""

    def __init__(self, method, state, history, lane):
        kind = _kind_of(method)
        expected = _STATE_TYPES[kind]
        if not isinstance(state, expected):
            raise TypeError(
                f"`state` must be the {expected.__name__} of the {_METHOD_NAMES[kind]} (from "
                f"method.init or jaxoptic.synthesize), got {type(state).__name__}."
            )
        if history is not None and not isinstance(history, History):
            raise TypeError(
                "`history` must be the jaxoptic.History returned by jaxoptic.synthesize (or None), "
                f"got {type(history).__name__}."
            )
        batched = np.ndim(state.iteration) == 1
        if history is not None and history.batched != batched:
            raise ValueError(
                f"`history` is {'' if history.batched else 'not '}batched but `state` is "
                f"{'' if batched else 'not '}: pass the state and history of the same "
                "jaxoptic.synthesize call."
            )
        if batched:
            n = int(np.shape(state.iteration)[0])
            if lane is None:
                raise ValueError(
                    f"This is a batch of {n} syntheses: pass lane=i (0 <= i < {n}) to choose one."
                )
            lane = _check_int(lane, "lane")
            if not -n <= lane < n:
                raise ValueError(f"`lane` must be in [0, {n}) for this batch of {n}, got {lane}.")
            lane %= n
            if history is not None and np.shape(history.iterations)[0] != n:
                raise ValueError(
                    f"`history` has {np.shape(history.iterations)[0]} lanes but `state` has {n}."
                )
            method, state = _take(method, lane), _take(state, lane)
            history = None if history is None else _history_lane(history, lane)
        elif lane is not None:
            raise ValueError(
                "`lane` selects one synthesis of a batch, but this state is not batched; leave "
                "lane=None."
            )
        self.method, self.state, self.history = method, state, history
        self.kind, self.lane = kind, lane

    # -- iterations and images ------------------------------------------------------------------
    @property
    def current(self) -> int:
        return int(self.state.iteration)

    @property
    def image(self) -> np.ndarray:
        """The current synthesized image (a sequence for Geodesic)."""
        return np.asarray(self.state.image)

    def need_history(self, what: str) -> History:
        if self.history is None:
            raise ValueError(
                f"{what} needs the history of the run: `state, history = jaxoptic.synthesize(...)` "
                "and pass both."
            )
        return self.history

    def saved(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Iterations and images of every stored frame, the current image last (if not stored)."""
        its, images = [], []
        h = self.history
        if h is not None and h.saved_images is not None:
            its = [int(i) for i in np.asarray(h.saved_iterations)]
            images = list(np.asarray(h.saved_images))
        if not its or its[-1] != self.current:
            its.append(self.current)
            images.append(self.image)
        return np.asarray(its), images

    def resolve_iteration(self, iteration, *, warn: bool = True) -> int:
        """The iteration to show: the current one for None, else the nearest stored frame."""
        if self.kind == "eigendistortion":
            if iteration is not None:
                raise ValueError(
                    "Eigendistortion has no iterations to choose from; leave iteration=None."
                )
            return self.current
        if iteration is None:
            return self.current
        iteration = _check_int(iteration, "iteration")
        if iteration < 0:
            iteration += self.current + 1
        if iteration == self.current:
            return iteration
        h = self.history
        if h is None or h.saved_images is None or len(h.saved_iterations) == 0:
            raise ValueError(
                f"Iteration {iteration} was not stored: only the current image (iteration "
                f"{self.current}) is available. Run jaxoptic.synthesize(..., store_progress=True) "
                "(or store_progress=k to keep every k-th iteration) and pass its history."
            )
        its, _ = self.saved()
        if not its.min() <= iteration <= its.max():
            raise ValueError(
                f"`iteration` must be between {its.min()} and {its.max()} (the stored and current "
                f"iterations of this run), got {iteration}."
            )
        nearest = int(its[np.argmin(np.abs(its - iteration))])
        if nearest != iteration and warn:
            warnings.warn(
                f"Iteration {iteration} was not stored (store_progress keeps every k-th "
                f"iteration); showing iteration {nearest}, the nearest stored one.",
                UserWarning,
                stacklevel=3,
            )
        return nearest

    def image_at(self, iteration: int) -> np.ndarray:
        """The synthesized image (sequence) at a stored iteration (see :meth:`resolve_iteration`)."""
        if iteration == self.current:
            return self.image
        its, images = self.saved()
        return images[int(np.flatnonzero(its == iteration)[0])]

    # -- loss curves, with the value at the current image appended ------------------------------
    @cached_property
    def current_terms(self) -> dict[str, float]:
        m, x = self.method, self.state.image
        if self.kind == "metamer":
            rep = _model_output(m.model, x)
            return {
                "loss": _scalar(_call(m.loss_function, rep, m.target_representation)),
                "penalty": _scalar(_call(m.penalty_function, x)),
            }
        if self.kind == "mad":
            opt = int(m.optimized_index)
            return {
                "optimized_metric_loss": _metric_value(m.metrics[opt], m.image, x),
                "reference_metric_loss": _metric_value(m.metrics[1 - opt], m.image, x),
                "penalties": _scalar(_call(m.penalty_function, x)),
            }
        if self.kind == "geodesic":
            from .. import penalties

            return {
                "losses": _scalar(_geodesic_objective(m, x)),
                "penalties": _scalar(_call(penalties.range_penalty, x, m.allowed_range)),
            }
        raise ValueError("Eigendistortion has no loss curve.")

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(iterations, values)`` of a loss record, the current image's value appended."""
        h = self.need_history("A loss plot")
        x = np.asarray(h.iterations)
        records = h.records
        cur = self.current_terms
        if self.kind == "metamer":
            lam = _scalar(self.method.penalty_lambda)
            if name == "loss":  # plenoptic's metamer loss: the objective without the penalty term
                y = np.asarray(records["losses"], np.float64) - lam * np.asarray(
                    records["penalties"], np.float64
                )
                last = cur["loss"]
            else:
                y, last = np.asarray(records["penalties"], np.float64), cur["penalty"]
        else:
            y, last = np.asarray(records[name], np.float64), cur[name]
        if len(x) == 0 or x[-1] != self.current:
            x, y = np.append(x, self.current), np.append(y, last)
        return x, y


def _value_at(x: np.ndarray, y: np.ndarray, iteration: int) -> float:
    hit = np.flatnonzero(x == iteration)
    if hit.size == 0:
        raise ValueError(
            f"Iteration {iteration} is not in this run's history (it has iterations {x.min()} to "
            f"{x.max()})."
        )
    return float(y[hit[-1]])


def _loss_iteration(run: _Run, iteration) -> int:
    """The loss iteration to mark: any recorded iteration (not only stored images)."""
    if iteration is None:
        return run.current
    iteration = _check_int(iteration, "iteration")
    return iteration + run.current + 1 if iteration < 0 else iteration


# ------------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------------


def _pick_channel(image: np.ndarray, channel) -> np.ndarray:
    """``(C, H, W)`` -> the channel ``channel`` as ``(1, H, W)``, or the image if None (gray/RGB)."""
    n = image.shape[-3]
    if channel is None:
        if n not in (1, 3, 4):
            raise ValueError(
                f"The image has {n} channels: pass channel=i to show one of them (only 1 channel "
                "(gray) or 3/4 channels (RGB/RGBA) can be shown together)."
            )
        return image
    channel = _check_int(channel, "channel")
    if not -n <= channel < n:
        raise ValueError(
            f"`channel` must be in [0, {n}) for an image with {n} channels, got {channel}."
        )
    return image[..., [channel % n], :, :]


def _montage(frames: np.ndarray) -> np.ndarray:
    """``(T, C, H, W)`` frames side by side as one ``(C, H, T W + gaps)`` image (NaN / white gaps)."""
    n_frames, n_channels, h, w = frames.shape
    gap = max(1, w // 16)
    fill = 1.0 if n_channels in (3, 4) else np.nan
    out = np.full((n_channels, h, n_frames * w + (n_frames - 1) * gap), fill, np.float64)
    for t in range(n_frames):
        out[:, :, t * (w + gap) : t * (w + gap) + w] = frames[t]
    return out


def _eigen_row(state, eigenindex) -> tuple[int, int]:
    """(row in ``state.eigendistortions``, position in the spectrum) of a spectrum index."""
    eigenindex = _check_int(eigenindex, "eigenindex")
    n = int(np.prod(np.shape(state.image)))
    position = eigenindex + n if eigenindex < 0 else eigenindex
    available = np.asarray(state.eigenindex)
    rows = np.flatnonzero(available == position)
    if rows.size == 0:
        raise ValueError(
            f"Eigendistortion {eigenindex} was not computed; this run has eigenindex "
            f"{available.tolist()} (negative values count from the end, e.g. -1 for the last)."
        )
    return int(rows[0]), position


def _title_prefix(run: _Run) -> str:
    name = {"metamer": "Metamer", "mad": "MAD image", "geodesic": "Geodesic"}[run.kind]
    return name if run.lane is None else f"{name}[{run.lane}]"


def _synthesis_title(run: _Run, iteration: int) -> str:
    return f"{_title_prefix(run)} [iteration={iteration}]"


def _display_image(run: _Run, iteration: int, channel, eigenindex, distortion_scale):
    """(image to draw, default title) for synthesis_imshow."""
    if run.kind == "eigendistortion":
        row, position = _eigen_row(run.state, 0 if eigenindex is None else eigenindex)
        dist = np.asarray(run.state.eigendistortions)[row]
        image = run.image + distortion_scale * dist
        return _pick_channel(
            image, channel
        ), f"Image + {distortion_scale:g} * Eigendistortion[{position}]"
    image = run.image_at(iteration)
    title = _synthesis_title(run, iteration)
    if run.kind == "geodesic":
        return _montage(_pick_channel(image, channel)), title
    return _pick_channel(image, channel), title


def _draw_image(ax, image: np.ndarray, title, vrange, zoom) -> Axes:
    rgb = image.shape[0] in (3, 4)
    fig = imshow(image, ax=ax, zoom=zoom, title=title, vrange=vrange, as_rgb=rgb)
    return ax if ax is not None else fig.axes[0]


def _check_scale_arg(run: _Run, distortion_scale, eigenindex) -> None:
    if run.kind != "eigendistortion":
        if distortion_scale != 5.0:
            raise ValueError("`distortion_scale` only applies to an Eigendistortion.")
        if eigenindex is not None:
            raise ValueError("`eigenindex` only applies to an Eigendistortion.")


def synthesis_imshow(
    method,
    state,
    history: History | None = None,
    *,
    iteration: int | None = None,
    lane: int | None = None,
    channel: int | None = None,
    eigenindex: int | None = None,
    zoom: float | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    distortion_scale: float = 5.0,
    vrange="indep1",
) -> Axes:
    """Show the synthesized image of a run.

    - :class:`~jaxoptic.Metamer` / :class:`~jaxoptic.MetamerCTF` / :class:`~jaxoptic.MADCompetition`:
      the current image, or the image stored at ``iteration``, titled ``"Metamer [iteration=k]"`` or
      ``"MAD image [iteration=k]"``;
    - :class:`~jaxoptic.Eigendistortion`: ``image + distortion_scale * eigendistortion``;
    - :class:`~jaxoptic.Geodesic`: the frames of the sequence side by side.

    Parameters
    ----------
    method, state, history
        The run (``history`` is only needed for ``iteration``).
    iteration
        Show the image stored at this iteration (negative: counted back from the current one). It
        must have been stored (``jaxoptic.synthesize(..., store_progress=...)``); the nearest stored
        iteration is used, with a warning, when it was not. ``None``: the current image.
    lane
        Which synthesis of a batch (required for a batch, refused otherwise).
    channel
        Show only this channel. ``None`` shows the whole image: gray (1 channel) or RGB(A) (3 or 4).
    eigenindex
        Eigendistortion only: which eigendistortion, as a position in the spectrum (0: largest
        eigenvalue, -1: smallest); default 0.
    zoom
        Screen pixels per image pixel (see :func:`jaxoptic.plot.imshow`); with ``ax`` the axis is
        resized, without it a figure of that size is made (``None``: an automatic zoom).
    ax
        Axis to draw into; a new figure if None.
    title
        Replace the default title.
    distortion_scale
        Eigendistortion only: the scale of the distortion added to the image.
    vrange
        Colour range of gray images (see :func:`jaxoptic.plot.resolve_vrange`).

    Returns
    -------
    matplotlib.axes.Axes
        The axis, holding one ``AxesImage``.

    Raises
    ------
    ValueError
        For an ``iteration`` that was not stored (pass ``store_progress``) or is out of range, a
        missing or unneeded ``lane``, a bad ``channel`` or ``eigenindex``, or ``distortion_scale`` /
        ``eigenindex`` for a method other than Eigendistortion.
    TypeError
        If ``method`` is not a synthesis method or ``state`` is not its state.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> met = jo.Metamer(img, jo.models.Gaussian((3, 3), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=4,
    ...                                store_progress=2, progress=False)
    >>> jo.plot.synthesis_imshow(met, state, history, iteration=2).get_title()
    'Metamer [iteration=2]'
    """
    run = _Run(method, state, history, lane)
    _check_scale_arg(run, distortion_scale, eigenindex)
    it = run.resolve_iteration(iteration)
    image, default = _display_image(run, it, channel, eigenindex, distortion_scale)
    return _draw_image(ax, image, default if title is None else title, vrange, zoom)


# ------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------


def _mad_names(plot_penalties: bool) -> list[str]:
    names = ["reference_metric_loss", "optimized_metric_loss"]
    return [*names, "penalties"] if plot_penalties else names


def _split_axis(ax: Axes, n: int) -> list[Axes]:
    """Replace ``ax`` by ``n`` axes side by side in its place."""
    fig = ax.figure
    gs = ax.get_subplotspec().subgridspec(1, n)
    ax.remove()  # a hidden axis would still take room in a constrained layout
    return [fig.add_subplot(gs[0, i]) for i in range(n)]


class _PlainLogFormatter(ticker.LogFormatter):
    """Log-axis labels as plain numbers (``0.6``, ``2``) rather than ``6e-01`` or ``6 x 10^-1``."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.3g}"


def _plain_log_labels(ax: Axes, values: np.ndarray) -> None:
    """On a log axis spanning less than two decades, label (some) minor ticks with plain numbers:
    matplotlib would otherwise show few labels, in scientific notation."""
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size and positive.max() < 100 * positive.min():
        ax.yaxis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(
            _PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5))
        )


def _scale_starts(run: _Run) -> list[tuple[int, object]]:
    """``(iteration, scale)`` of every coarse-to-fine stage that has started, first stage included
    (MetamerCTF only; empty otherwise): from that iteration on, the steps optimise ``scale``."""
    if not isinstance(run.method, MetamerCTF):
        return []
    starts = np.asarray(run.state.scales_timing)[:, 0]
    return [
        (int(start), scale)
        for start, scale in zip(starts, run.method.scales, strict=True)
        if start >= 0
    ]


def _mark_scale_changes(run: _Run, ax: Axes, x: np.ndarray) -> None:
    """For a MetamerCTF: a dotted vertical line at each change of stage and, at the top of the axis,
    the scale optimised from each stage's start on (the first stage's too, without a line). Lines
    and labels have the gid ``"scale_change"``; stages outside the plotted iterations ``x`` (e.g.
    before a resumed run's history) are left out."""
    for k, (start, scale) in enumerate(_scale_starts(run)):
        if not x[0] <= start <= x[-1]:
            continue
        if k > 0:
            ax.axvline(
                start, color="0.45", linestyle=":", linewidth=1, zorder=0, gid="scale_change"
            )
        ax.text(
            start,
            0.98,
            str(scale),
            transform=transforms.offset_copy(
                ax.get_xaxis_transform(), ax.figure, x=2, units="points"
            ),
            rotation=90,
            ha="left",
            va="top",
            fontsize=8,
            color="0.3",
            zorder=1,  # under the loss curve, over the grid
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1},
            gid="scale_change",
        )


def _draw_losses(run: _Run, iteration, plot_penalties: bool, ax, style=None, dots=True):
    """Draw the loss curve(s); returns ({name: axis}, [(dot, x, y), ...])."""
    style = {} if style is None else style
    it = _loss_iteration(run, iteration)
    dots_out = []
    if run.kind == "eigendistortion":
        raise ValueError(
            "synthesis_loss does not apply to an Eigendistortion (it has no loss to minimise); "
            "its convergence (relative residual and eigenvalue estimates per iteration) is drawn "
            "by jaxoptic.plot.eigendistortion_convergence."
        )
    if run.kind in ("metamer", "geodesic"):
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4), layout="constrained")
        if not isinstance(ax, Axes):
            raise ValueError(f"For a {_METHOD_NAMES[run.kind]}, `ax` must be one Axes.")
        main = "loss" if run.kind == "metamer" else "losses"
        x, y = run.series(main)
        label = "metamer loss" if run.kind == "metamer" else "loss"
        ax.plot(x, y, label=label, **style)
        if dots:
            dots_out.append((ax.scatter([it], [_value_at(x, y, it)], c="r", zorder=3), x, y))
        if plot_penalties:
            px, py = run.series("penalty" if run.kind == "metamer" else "penalties")
            ax.plot(px, py, label="penalty", **style)
            ax.legend()
        ax.set(xlabel="Synthesis iteration", ylabel="Loss", yscale="log")
        _plain_log_labels(ax, y)
        _mark_scale_changes(run, ax, x)
        return {"loss": ax}, dots_out
    names = _mad_names(plot_penalties)
    if ax is None:
        _, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6), layout="constrained")
        axes = list(axes)
    elif isinstance(ax, Axes):
        axes = _split_axis(ax, len(names))
    else:
        axes = list(ax)
        if len(axes) != len(names):
            raise ValueError(
                f"`ax` must be one Axes or a list of {len(names)} ({', '.join(names)}), got "
                f"{len(axes)}."
            )
    out = {}
    for a, name in zip(axes, names, strict=True):
        x, y = run.series(name)
        a.plot(x, y, **style)
        if dots:
            dots_out.append((a.scatter([it], [_value_at(x, y, it)], c="r", zorder=3), x, y))
        a.set(xlabel="Synthesis iteration", ylabel=name.capitalize().replace("_", " "))
        out[name] = a
    return out, dots_out


def synthesis_loss(
    method,
    state,
    history: History,
    *,
    iteration: int | None = None,
    lane: int | None = None,
    plot_penalties: bool = False,
    ax: Axes | Sequence[Axes] | None = None,
) -> dict[str, Axes]:
    """Plot the loss over iterations, with a red dot at ``iteration``.

    - :class:`~jaxoptic.Metamer` / :class:`~jaxoptic.MetamerCTF`: the representation loss, i.e.
      ``losses - penalty_lambda * penalties`` (plenoptic's metamer loss), on a log scale. For a
      MetamerCTF, a dotted grey vertical line marks each change of coarse-to-fine stage, at the
      iteration where the new stage started (``method.scales_timing(state)``), and each stage is
      labelled at the top with the scale it optimises (``pixel_statistics`` from iteration 0, then
      ``residual_lowpass``, ``1``, ``0``, ..., ``all``); lines and labels have the gid
      ``"scale_change"``;
    - :class:`~jaxoptic.MADCompetition`: two panels, ``reference_metric_loss`` and
      ``optimized_metric_loss`` (a third, ``penalties``, with ``plot_penalties``);
    - :class:`~jaxoptic.Geodesic`: the objective on a log scale.

    Every curve ends with the value at the current image (computed here), at iteration
    ``state.iteration``.

    Parameters
    ----------
    method, state, history
        The run.
    iteration
        Where to put the red dot (negative: counted back from the current one); default the
        current iteration.
    lane
        Which synthesis of a batch (required for a batch).
    plot_penalties
        Also plot the penalty (Metamer, Geodesic: same axis; MAD: a third panel).
    ax
        An axis (split into the panels for MAD), for MAD also a list of 2 (or 3) axes; a new figure
        if None.

    Returns
    -------
    dict
        Plot name -> axis: ``{"loss": ax}``, or for MAD ``{"reference_metric_loss": ...,
        "optimized_metric_loss": ...[, "penalties": ...]}``.

    Raises
    ------
    ValueError
        For an Eigendistortion (use :func:`eigendistortion_convergence`), an ``iteration`` not in
        the history, a missing history or ``lane``, or a list of axes of the wrong length.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> met = jo.Metamer(img, jo.models.Gaussian((3, 3), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=4,
    ...                                store_progress=2, progress=False)
    >>> axes = jo.plot.synthesis_loss(met, state, history)
    >>> axes["loss"].lines[0].get_xdata().tolist()  # 4 steps, then the current image
    [0, 1, 2, 3, 4]
    """
    run = _Run(method, state, history, lane)
    run.need_history("synthesis_loss")
    axes, _ = _draw_losses(run, iteration, plot_penalties, ax)
    return axes


# ------------------------------------------------------------------------------------------------
# histograms and representation errors
# ------------------------------------------------------------------------------------------------


def _draw_histogram(run: _Run, iteration: int, channel, eigenindex, ax) -> Axes:
    if run.kind == "eigendistortion":
        dists = np.asarray(run.state.eigendistortions)
        positions = np.asarray(run.state.eigenindex)
        rows = (
            range(len(positions)) if eigenindex is None else [_eigen_row(run.state, eigenindex)[0]]
        )
        data = [_channel_values(dists[r], channel) for r in rows]
        labels = [f"Eigendistortion[{positions[r]}]" for r in rows]
    elif run.kind == "geodesic":
        raise ValueError("synthesis_histogram does not apply to a Geodesic.")
    else:
        reference = "Target image" if run.kind == "metamer" else "Reference image"
        data = [
            _channel_values(run.image_at(iteration), channel),
            _channel_values(np.asarray(run.method.image), channel),
        ]
        labels = [_synthesis_title(run, iteration), reference]
    return histogram(data, labels=labels, ax=ax, title="Pixel values")


def _channel_values(image: np.ndarray, channel) -> np.ndarray:
    if channel is None:
        return image
    n = image.shape[0]
    channel = _check_int(channel, "channel")
    if not -n <= channel < n:
        raise ValueError(
            f"`channel` must be in [0, {n}) for an image with {n} channels, got {channel}."
        )
    return image[channel]


def synthesis_histogram(
    method,
    state,
    history: History | None = None,
    *,
    iteration: int | None = None,
    lane: int | None = None,
    channel: int | None = None,
    eigenindex: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of pixel values: synthesized and reference images, or the eigendistortions.

    For a Metamer or MAD run the synthesized image (at ``iteration``) and the target/reference image
    are overlaid; for an Eigendistortion, the eigendistortions alone (all, or ``eigenindex``).

    Parameters
    ----------
    method, state, history
        The run (``history`` is only needed for ``iteration``).
    iteration
        Use the image stored at this iteration (see :func:`synthesis_imshow`).
    lane
        Which synthesis of a batch.
    channel
        Only this channel's values (default: all channels).
    eigenindex
        Eigendistortion only: one eigendistortion (position in the spectrum) instead of all.
    ax
        Axis to draw into; a new figure if None.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        For a Geodesic, or as :func:`synthesis_imshow`.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> met = jo.Metamer(img, jo.models.Gaussian((3, 3), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=4,
    ...                                store_progress=2, progress=False)
    >>> ax = jo.plot.synthesis_histogram(met, state)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['Metamer [iteration=4]', 'Target image']
    """
    run = _Run(method, state, history, lane)
    if run.kind != "eigendistortion" and eigenindex is not None:
        raise ValueError("`eigenindex` only applies to an Eigendistortion.")
    it = run.resolve_iteration(iteration)
    return _draw_histogram(run, it, channel, eigenindex, ax)


def _representation_error(run: _Run, image) -> object:
    m = run.method
    rep = _model_output(m.model, image)
    return jax.tree.map(
        lambda a, b: np.asarray(a, np.float64) - np.asarray(b, np.float64),
        rep,
        m.target_representation,
    )


def _short_panels(error, model):
    """Name the panels of an array representation ``"channel c"`` (one panel: ``"Representation
    error"``) rather than ``"Representation error_00"``, ...: long titles collide in a status figure.
    Models that draw their representation themselves (Portilla-Simoncelli) get the array."""
    from ..models import PortillaSimoncelli

    if isinstance(model, PortillaSimoncelli) or hasattr(model, "plot_representation"):
        return error, "Representation error"
    if not isinstance(error, np.ndarray) or error.ndim not in (1, 2, 3):
        return error, "Representation error"
    if error.ndim == 1:
        return {"Representation error": error}, ""
    if error.shape[0] == 1:  # one channel: (1, features) -> a stem plot, (1, H, W) -> an image
        return {"Representation error": error[0] if error.ndim == 2 else error}, ""
    rows = [error[c] if error.ndim == 2 else error[c : c + 1] for c in range(error.shape[0])]
    return {f"channel {c}": v for c, v in enumerate(rows)}, "Representation error"


def _draw_representation_error(run: _Run, iteration: int, ax, ylim) -> list[Axes]:
    error = _representation_error(run, run.image_at(iteration))
    data, title = _short_panels(error, run.method.model)
    _, axes = plot_representation(data, model=run.method.model, ax=ax, ylim=ylim, title=title)
    return axes


def metamer_representation_error(
    method,
    state,
    history: History | None = None,
    *,
    iteration: int | None = None,
    lane: int | None = None,
    ax: Axes | None = None,
    ylim=None,
) -> list[Axes]:
    """Plot ``model(metamer) - target_representation``, how far the metamer is from its target.

    Drawn with :func:`jaxoptic.plot.plot_representation` (the Portilla-Simoncelli summary for a
    :class:`~jaxoptic.models.PortillaSimoncelli` model; stem plots or images otherwise).

    Parameters
    ----------
    method, state, history
        A Metamer or MetamerCTF run (``history`` is only needed for ``iteration``).
    iteration
        Use the metamer stored at this iteration (see :func:`synthesis_imshow`).
    lane
        Which synthesis of a batch.
    ax
        Axis to subdivide into the representation's panels; a new figure if None.
    ylim
        y-limits of the stem panels (see :func:`jaxoptic.plot.plot_representation`).

    Returns
    -------
    list of matplotlib.axes.Axes
        The panels.

    Raises
    ------
    ValueError
        For a method other than Metamer/MetamerCTF, or as :func:`synthesis_imshow`.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> met = jo.Metamer(img, jo.models.Gaussian((3, 3), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=4,
    ...                                store_progress=2, progress=False)
    >>> axes = jo.plot.metamer_representation_error(met, state, history, iteration=2)
    >>> len(axes)  # one panel per channel of the representation
    1
    """
    run = _Run(method, state, history, lane)
    if run.kind != "metamer":
        raise ValueError(
            "metamer_representation_error needs a Metamer or MetamerCTF run, got a "
            f"{_METHOD_NAMES[run.kind]}."
        )
    it = run.resolve_iteration(iteration)
    return _draw_representation_error(run, it, ax, ylim)


# ------------------------------------------------------------------------------------------------
# geodesic: deviation from the straight line
# ------------------------------------------------------------------------------------------------


def _draw_deviation(run: _Run, sequence, ax, natural_video=None) -> Axes:
    m = run.method
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    curves = [(m.pixelfade, "g-o", "pixelfade"), (sequence, "r-o", "geodesic")]
    if natural_video is not None:
        video = np.asarray(natural_video)
        if video.ndim != 4 or video.shape[1:] != tuple(m.image_a.shape) or video.shape[0] < 2:
            raise ValueError(
                f"`natural_video` must be frames (T, *{tuple(m.image_a.shape)}) with T >= 2, got "
                f"shape {video.shape}."
            )
        curves.append((video.astype(np.asarray(m.image_a).dtype), "b-o", "natural video"))
    for seq, fmt, label in curves:
        along, away = _geodesic_deviation(m, seq)
        ax.plot(np.asarray(along), np.asarray(away), fmt, label=label)
    ax.set(
        xlabel="Distance along representation line",
        ylabel="Distance from representation line",
        title="Deviation from the straight line",
    )
    ax.legend(loc=1)
    return ax


def plot_deviation_from_line(
    method,
    state,
    *,
    natural_video: Float[Array, "T C H W"] | None = None,
    ax: Axes | None = None,
    lane: int | None = None,
) -> Axes:
    """How far the geodesic's representation path strays from the straight line (plenoptic 1.2).

    Each frame's representation is located relative to the line through the representations of the
    two end images (:meth:`jaxoptic.Geodesic.deviation_from_line`, in units of their distance): x is
    the distance along the line, y the distance from it. Plotted for the pixel-space line
    (``"pixelfade"``, green), the current geodesic (red) and optionally a natural video (blue). If
    the model straightens the transformation, the geodesic and the natural video deviate about as
    much, and the pixelfade much more.

    Parameters
    ----------
    method, state
        A Geodesic and its state.
    natural_video
        Optional frames ``(T, C, H, W)`` of the same size, e.g.
        :func:`jaxoptic.synthesis.translation_sequence`.
    ax
        Axis to draw into; a new figure if None.
    lane
        Which geodesic of a batch (e.g. from :func:`jaxoptic.recipes.geodesic_restarts`).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        For a ``natural_video`` of the wrong shape, or a missing or unneeded ``lane``.
    TypeError
        If ``method`` is not a Geodesic.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:108, 100:108]
    >>> geo = jo.Geodesic(img, img[:, :, ::-1], jo.models.Gaussian((3, 3), std=1.0), n_steps=4)
    >>> state = geo.init()  # or the state after jaxoptic.synthesize
    >>> ax = jo.plot.plot_deviation_from_line(geo, state)
    >>> [line.get_label() for line in ax.get_lines()]
    ['pixelfade', 'geodesic']
    """
    if not isinstance(method, Geodesic):
        raise TypeError(f"`method` must be a jaxoptic.Geodesic, got {type(method).__name__}.")
    run = _Run(method, state, None, lane)
    return _draw_deviation(run, run.state.image, ax, natural_video)


# ------------------------------------------------------------------------------------------------
# status figure and animation
# ------------------------------------------------------------------------------------------------


def _check_panels(run: _Run, included_plots, width_ratios) -> tuple[list[str], dict]:
    allowed = _PANELS[run.kind]
    if included_plots is None:
        panels = list(_DEFAULT_PANELS[run.kind])
    else:
        if isinstance(included_plots, str):
            raise TypeError(
                f"`included_plots` must be a list of plot names, e.g. [{included_plots!r}]."
            )
        panels = list(included_plots)
        unknown = [p for p in panels if p not in allowed]
        if unknown or not panels or len(set(panels)) != len(panels):
            what = f"unknown or inapplicable {unknown}" if unknown else f"{panels}"
            raise ValueError(
                f"`included_plots` has {what}; for a {_METHOD_NAMES[run.kind]} choose distinct "
                f"names among {list(allowed)}."
            )
    ratios = {p: 1.0 for p in panels}
    if run.kind == "mad" and "synthesis_loss" in panels:
        ratios["synthesis_loss"] = 2.0
    if run.kind == "metamer" and "metamer_representation_error" in panels:
        from ..models import PortillaSimoncelli

        if isinstance(run.method.model, PortillaSimoncelli):
            ratios["metamer_representation_error"] = 2.75  # a 3 x 3 grid of stem plots
    if width_ratios is not None:
        if not isinstance(width_ratios, Mapping):
            raise TypeError("`width_ratios` must be a dict {plot name: relative width}.")
        extra = [k for k in width_ratios if k not in panels]
        if extra:
            raise ValueError(
                f"`width_ratios` has {extra}, which are not among the included plots {panels}."
            )
        for k, v in width_ratios.items():
            if not np.isscalar(v) or not float(v) > 0:
                raise ValueError(f"`width_ratios[{k!r}]` must be a positive number, got {v!r}.")
            ratios[k] = float(v)
    return panels, ratios


def _status_layout(run: _Run, panels, ratios, fig, figsize):
    """Create the figure and one subfigure per panel; returns (fig, {panel: subfigure})."""
    geodesic_top = run.kind == "geodesic" and "synthesis_imshow" in panels and len(panels) > 1
    row = [p for p in panels if not (geodesic_top and p == "synthesis_imshow")]
    widths = [ratios[p] for p in row]
    row_w = _PANEL_INCHES * sum(widths)
    top_h = 0.0
    if geodesic_top:
        frames = run.image
        montage_aspect = frames.shape[-2] / (frames.shape[0] * frames.shape[-1] * 1.07)
        top_h = min(max(row_w * montage_aspect, 1.2), 4.0) + 0.5
    row_h = _PANEL_INCHES
    if ratios.get("metamer_representation_error", 1.0) > 2:  # room for the PS summary's three rows
        row_h += 1.0
    if figsize is None:
        figsize = (row_w, row_h + top_h)
    if fig is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
    else:
        if not isinstance(fig, Figure):
            raise TypeError(f"`fig` must be a matplotlib Figure or None, got {type(fig).__name__}.")
        fig.clear()
        fig.set_layout_engine("constrained")
    slots = {}
    if geodesic_top:
        top, bottom = fig.subfigures(2, 1, height_ratios=[top_h, row_h])
        slots["synthesis_imshow"] = top
        parent = bottom
    else:
        parent = fig
    subs = parent.subfigures(1, len(row), width_ratios=widths, squeeze=False)[0]
    for p, sf in zip(row, subs, strict=True):
        slots[p] = sf
    return fig, slots


class _Status:
    """The panels of a status figure, redrawable at another iteration (for the animation)."""

    def __init__(self, run, panels, slots, channel, iteration, loss_iteration, ylim):
        self.run, self.panels, self.slots = run, panels, slots
        self.channel, self.ylim = channel, ylim
        self.dots = []
        self.axes: dict[str, object] = {}
        for p in panels:
            sf = slots[p]
            if p == "synthesis_loss":
                n = len(_mad_names(False)) if run.kind == "mad" else 1
                ax = list(sf.subplots(1, n)) if n > 1 else sf.add_subplot()
                self.axes[p], self.dots = _draw_losses(run, loss_iteration, False, ax)
            else:
                self._draw(p, iteration)

    def _draw(self, p: str, iteration: int) -> None:
        run, sf = self.run, self.slots[p]
        sf.clear()
        ax = sf.add_subplot()
        if p == "synthesis_imshow":
            image, title = _display_image(run, iteration, self.channel, None, 5.0)
            self.axes[p] = _draw_image(ax, image, title, "indep1", None)
        elif p == "synthesis_histogram":
            self.axes[p] = _draw_histogram(run, iteration, self.channel, None, ax)
        elif p == "metamer_representation_error":
            self.axes[p] = _draw_representation_error(run, iteration, ax, self.ylim)
        elif p == "deviation_from_line":
            self.axes[p] = _draw_deviation(run, run.image_at(iteration), ax)
        elif p == "eigendistortion_convergence":
            self.axes[p] = _draw_convergence(run, _convergence_axes(ax))

    def update(self, iteration: int) -> None:
        for p in self.panels:
            if p != "synthesis_loss":
                self._draw(p, iteration)
        for dot, x, y in self.dots:
            dot.set_offsets([[iteration, _value_at(x, y, iteration)]])


def _status(run, iteration, included_plots, fig, figsize, width_ratios, channel, ylim=None):
    panels, ratios = _check_panels(run, included_plots, width_ratios)
    for p in ("synthesis_loss", "eigendistortion_convergence"):
        if p in panels:
            run.need_history(f"The {p} panel")
    it = run.resolve_iteration(iteration)
    fig, slots = _status_layout(run, panels, ratios, fig, figsize)
    return fig, _Status(run, panels, slots, channel, it, it, ylim)


def synthesis_status(
    method,
    state,
    history: History | None = None,
    *,
    iteration: int | None = None,
    lane: int | None = None,
    channel: int | None = None,
    included_plots: Sequence[str] | None = None,
    fig: Figure | None = None,
    figsize: tuple[float, float] | None = None,
    width_ratios: Mapping[str, float] | None = None,
) -> Figure:
    """A figure summarising a synthesis run at one iteration, one panel per plot.

    Default panels (plenoptic's, plus the Geodesic's):

    ==================== ==================================================================
    method               ``included_plots`` (default first; others allowed)
    ==================== ==================================================================
    Metamer, MetamerCTF  ``synthesis_imshow``, ``synthesis_loss``,
                         ``metamer_representation_error``; also ``synthesis_histogram``
    MADCompetition       ``synthesis_imshow``, ``synthesis_loss``; also ``synthesis_histogram``
    Eigendistortion      ``synthesis_imshow``, ``synthesis_histogram``; also
                         ``eigendistortion_convergence``
    Geodesic             ``synthesis_imshow`` (the frames, on a row of their own),
                         ``synthesis_loss``, ``deviation_from_line``
    ==================== ==================================================================

    Each panel is the function of the same name (``deviation_from_line``:
    :func:`plot_deviation_from_line` of the sequence at ``iteration``), drawn in its own
    matplotlib subfigure. The image, the red loss dot, the representation error, the histogram and
    the deviation all describe the same iteration. For a MetamerCTF the loss panel marks where each
    coarse-to-fine stage started (see :func:`synthesis_loss`).

    Parameters
    ----------
    method, state, history
        The run (``history`` is needed for ``synthesis_loss``, ``eigendistortion_convergence``
        and for ``iteration``).
    iteration
        The iteration to show (a stored one, see :func:`synthesis_imshow`); default the current.
    lane
        Which synthesis of a batch (required for a batch).
    channel
        Show only this channel in the image and histogram panels.
    included_plots
        Plot names, in order (see the table).
    fig
        Draw into this figure (it is cleared) instead of a new one.
    figsize
        Figure size in inches; default about 4 x 4 inches per unit of width ratio.
    width_ratios
        ``{plot name: relative width}``; defaults 1, except 2 for MAD's ``synthesis_loss`` (two
        panels) and 2.75 for the Portilla-Simoncelli representation error (then the figure is also
        taller).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; ``fig.subfigs`` holds one subfigure per panel (for a Geodesic with images, the
        frames on top and the other panels below).

    Raises
    ------
    ValueError
        For unknown or inapplicable plot names (the message lists the valid ones), ``width_ratios``
        for plots not included, a missing history for ``synthesis_loss``, or as
        :func:`synthesis_imshow`.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> met = jo.Metamer(img, jo.models.Gaussian((3, 3), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=4,
    ...                                store_progress=2, progress=False)
    >>> fig = jo.plot.synthesis_status(met, state, history)
    >>> fig.axes[0].get_title(), len(fig.subfigs)
    ('Metamer [iteration=4]', 3)
    """
    run = _Run(method, state, history, lane)
    fig, _ = _status(run, iteration, included_plots, fig, figsize, width_ratios, channel)
    return fig


def synthesis_animate(
    method,
    state,
    history: History,
    *,
    framerate: float = 10,
    lane: int | None = None,
    channel: int | None = None,
    included_plots: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
    width_ratios: Mapping[str, float] | None = None,
    ylim=None,
) -> animation.FuncAnimation:
    """Animate :func:`synthesis_status` over the images stored during synthesis.

    Frame ``k`` shows the status at ``history.saved_iterations[k]`` (the last frame: the current
    image): the image, the red dot moving along the loss curve, and the representation error,
    histogram or deviation from the line at that iteration. Save it with
    :func:`jaxoptic.plot.save_animation` (MP4 with ffmpeg, GIF otherwise).

    Parameters
    ----------
    method, state, history
        A Metamer, MetamerCTF, MADCompetition or Geodesic run made with
        ``jaxoptic.synthesize(..., store_progress=True)`` (or ``store_progress=k``).
    framerate
        Frames per second.
    lane
        Which synthesis of a batch.
    channel, included_plots, figsize, width_ratios
        As :func:`synthesis_status`.
    ylim
        y-limits of the representation-error stem plots (``None``: fitted to each frame).

    Returns
    -------
    matplotlib.animation.FuncAnimation
        The animation (its figure is closed, so it is not shown twice in notebooks); one frame per
        stored image.

    Raises
    ------
    ValueError
        If the run stored no images (pass ``store_progress`` to :func:`jaxoptic.synthesize`), for an
        Eigendistortion, a bad ``framerate``, or as :func:`synthesis_status`.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> met = jo.Metamer(img, jo.models.Gaussian((3, 3), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=4,
    ...                                store_progress=2, progress=False)
    >>> anim = jo.plot.synthesis_animate(met, state, history)
    >>> anim.frame_iterations  # stored at 0 and 2, then the current image
    [0, 2, 4]
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     jo.plot.save_animation(anim, f"{d}/synthesis.gif").name
    'synthesis.gif'
    """
    run = _Run(method, state, history, lane)
    if run.kind == "eigendistortion":
        raise ValueError(
            "synthesis_animate needs an iterative image synthesis (Metamer, MADCompetition or "
            "Geodesic); use synthesis_status, eigendistortion_imshow_all or "
            "eigendistortion_convergence for an Eigendistortion."
        )
    h = run.need_history("synthesis_animate")
    if h.saved_images is None or len(h.saved_iterations) == 0:
        raise ValueError(
            "synthesis_animate needs the images stored during synthesis: run "
            "jaxoptic.synthesize(..., store_progress=True) (or store_progress=k to keep every k-th "
            "iteration) and pass its history."
        )
    if isinstance(framerate, bool) or not np.isscalar(framerate) or not float(framerate) > 0:
        raise ValueError(f"`framerate` must be a positive number, got {framerate!r}.")
    its, _ = run.saved()
    its = [int(i) for i in its]
    fig, status = _status(
        run, its[0], included_plots, None, figsize, width_ratios, channel, ylim=ylim
    )

    def update(k):
        status.update(its[k])
        return []

    anim = animation.FuncAnimation(
        fig, update, frames=len(its), interval=1000.0 / float(framerate), repeat=False, blit=False
    )
    anim.framerate = float(framerate)
    anim.frame_iterations = its
    anim.status_axes = status.axes
    plt.close(fig)
    return anim


# ------------------------------------------------------------------------------------------------
# MAD competition: the four images together
# ------------------------------------------------------------------------------------------------


def _metric_name(metric, default: str) -> str:
    name = getattr(metric, "__name__", None)
    return default if not name or name == "<lambda>" else name


def _same_metric(f, g) -> bool:
    """The same function, or equal metric modules (lanes of a batch hold copies of them)."""
    if f is g:
        return True
    if isinstance(f, eqx.Module) and isinstance(g, eqx.Module):
        return bool(eqx.tree_equal(f, g))
    return False


def _mad_runs(mads, need_history: bool) -> tuple[list[_Run], tuple, tuple]:
    """Four unbatched runs ordered (metric 1 min, metric 1 max, metric 2 min, metric 2 max)."""
    if isinstance(mads, tuple) and mads and isinstance(mads[0], MADCompetition):
        method, state, *rest = mads
        if len(rest) > 1:
            raise ValueError("Give (method, state) or (method, state, history).")
        history = rest[0] if rest else None
        if np.ndim(state.iteration) != 1 or np.shape(state.iteration)[0] != 4:
            raise ValueError(
                "A single (method, state[, history]) must be the batch of 4 MAD syntheses from "
                "jaxoptic.recipes.mad_competition_set; otherwise give a list of four "
                "(method, state[, history]) tuples."
            )
        runs = [_Run(method, state, history, lane) for lane in range(4)]
    else:
        items = list(mads)
        if len(items) != 4:
            raise ValueError(
                "Give the batch of 4 from jaxoptic.recipes.mad_competition_set as (method, state"
                "[, history]), or a list of four (method, state[, history]) tuples; got "
                f"{len(items)} items."
            )
        runs = []
        for item in items:
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                raise ValueError("Each MAD synthesis must be a (method, state[, history]) tuple.")
            method, state, *rest = item
            if not isinstance(method, MADCompetition):
                raise TypeError(
                    f"Each method must be a jaxoptic.MADCompetition, got {type(method).__name__}."
                )
            runs.append(_Run(method, state, rest[0] if rest else None, None))
    if need_history:
        for r in runs:
            r.need_history("mad_loss_all")
    for r in runs[1:]:
        a, b = np.asarray(runs[0].method.image), np.asarray(r.method.image)
        if a.shape != b.shape or not np.allclose(a, b):
            raise ValueError("All four MAD syntheses must have the same reference image.")
    # roles: optimized metric (by identity, else by name) and min/max
    keys = []
    for r in runs:
        m = r.method
        keys.append((m.metrics[int(m.optimized_index)], "min" if float(m.sign) > 0 else "max"))
    metrics = []
    for fn, _ in keys:
        if not any(_same_metric(fn, f) for f in metrics):
            metrics.append(fn)
    if len(metrics) != 2:
        names = [_metric_name(f, "?") for f, _ in keys]
        by_name = list(dict.fromkeys(names))
        if len(by_name) != 2 or "?" in by_name:
            raise ValueError(
                "The four MAD syntheses must optimize two metrics, each minimized and maximized "
                f"once; found optimized metrics {names}."
            )
        metrics = [next(f for f, _ in keys if _metric_name(f, "?") == n) for n in by_name]
        role = lambda f: by_name.index(_metric_name(f, "?"))
    else:
        role = lambda f: next(i for i, g in enumerate(metrics) if _same_metric(f, g))
    order = {}
    for r, (fn, mm) in zip(runs, keys, strict=True):
        slot = (role(fn), mm)
        if slot in order:
            raise ValueError(
                "The four MAD syntheses must minimize and maximize each of two metrics once; "
                f"metric {role(fn) + 1} is {mm}imized twice."
            )
        order[slot] = r
    ordered = [order[(0, "min")], order[(0, "max")], order[(1, "min")], order[(1, "max")]]
    return (
        ordered,
        tuple(metrics),
        tuple(_metric_name(f, f"metric {i + 1}") for i, f in enumerate(metrics)),
    )


def mad_imshow_all(
    mads,
    *,
    metric1_name: str | None = None,
    metric2_name: str | None = None,
    zoom: float | None = None,
    channel: int | None = None,
    vrange="indep1",
) -> Figure:
    """The images of a full MAD competition study on a 3 x 2 grid.

    Rows: the reference and initial (noisy) images; the images that minimize and maximize metric 1;
    those that minimize and maximize metric 2 (plenoptic's ``mad_imshow_all``).

    Parameters
    ----------
    mads
        The batch of four from :func:`jaxoptic.recipes.mad_competition_set` after
        :func:`jaxoptic.synthesize`, as ``(methods, states)`` or ``(methods, states, history)``; or a
        list of four ``(method, state[, history])`` tuples in any order (roles are read from each
        method: which metric it optimizes, and whether it minimizes or maximizes). Metric 1 is the
        metric optimized by the first synthesis given.
    metric1_name, metric2_name
        Names for the titles; default the metric functions' ``__name__`` (``"metric 1"`` /
        ``"metric 2"`` for lambdas).
    zoom
        Screen pixels per image pixel (see :func:`jaxoptic.plot.imshow`); None: automatic.
    channel
        Show only this channel (default: gray or RGB).
    vrange
        Colour range of gray images (see :func:`jaxoptic.plot.resolve_vrange`).

    Returns
    -------
    matplotlib.figure.Figure
        Six axes, row by row: reference, initial, min 1, max 1, min 2, max 2.

    Raises
    ------
    ValueError
        If the syntheses do not share the reference image, or do not minimize and maximize each of
        two metrics once.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> model_distance = jo.metrics.model_metric(jo.models.Gaussian((3, 3), std=1.0))
    >>> mads, states = jo.recipes.mad_competition_set(
    ...     img, jo.metrics.mse, model_distance, key=jax.random.key(0),
    ...     metric_tradeoff_lambda=(1.0, 1.0))
    >>> states, history = jo.synthesize(mads, states, max_iter=3, progress=False)
    >>> fig = jo.plot.mad_imshow_all((mads, states, history), metric2_name="model")
    >>> [ax.get_title() for ax in fig.axes]  # doctest: +NORMALIZE_WHITESPACE
    ['Reference image', 'Initial (noisy) image', 'Minimize mse', 'Maximize mse',
     'Minimize model', 'Maximize model']
    """
    runs, _, names = _mad_runs(mads, need_history=False)
    n1 = names[0] if metric1_name is None else metric1_name
    n2 = names[1] if metric2_name is None else metric2_name
    images = [np.asarray(runs[0].method.image), np.asarray(runs[0].state.initial_image)]
    images += [r.image for r in runs]
    images = [_pick_channel(im, channel) for im in images]
    titles = [
        "Reference image",
        "Initial (noisy) image",
        f"Minimize {n1}",
        f"Maximize {n1}",
        f"Minimize {n2}",
        f"Maximize {n2}",
    ]
    rgb = images[0].shape[0] in (3, 4)
    return imshow(images, title=titles, col_wrap=2, zoom=zoom, vrange=vrange, as_rgb=rgb)


def mad_loss_all(
    mads,
    *,
    metric1_name: str | None = None,
    metric2_name: str | None = None,
    figsize: tuple[float, float] = (10, 4.5),
) -> Figure:
    """Both metrics over iterations for the four syntheses of a MAD competition study.

    Left panel: metric 2; right panel: metric 1 (plenoptic's layout), each for all four runs.
    Runs that optimize metric 1 are blue (``C0``), those that optimize metric 2 orange (``C1``);
    minimization is dashed, maximization solid.

    Parameters
    ----------
    mads
        As :func:`mad_imshow_all`, with histories.
    metric1_name, metric2_name
        Names for titles and legend (default: the metrics' ``__name__``).
    figsize
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes (metric 2, metric 1) with four lines each, and a legend.

    Raises
    ------
    ValueError
        Without histories, or as :func:`mad_imshow_all`.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:116, 100:116]
    >>> model_distance = jo.metrics.model_metric(jo.models.Gaussian((3, 3), std=1.0))
    >>> mads, states = jo.recipes.mad_competition_set(
    ...     img, jo.metrics.mse, model_distance, key=jax.random.key(0),
    ...     metric_tradeoff_lambda=(1.0, 1.0))
    >>> states, history = jo.synthesize(mads, states, max_iter=3, progress=False)
    >>> fig = jo.plot.mad_loss_all((mads, states, history), metric2_name="model")
    >>> [ax.get_title() for ax in fig.axes], [len(ax.get_lines()) for ax in fig.axes]
    (['model', 'mse'], [4, 4])
    """
    runs, _, names = _mad_runs(mads, need_history=True)
    n1 = names[0] if metric1_name is None else metric1_name
    n2 = names[1] if metric2_name is None else metric2_name
    fig, axes = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    labels = [f"Minimize {n1}", f"Maximize {n1}", f"Minimize {n2}", f"Maximize {n2}"]
    for i, (r, label) in enumerate(zip(runs, labels, strict=True)):
        style = {
            "c": "C0" if i < 2 else "C1",
            "linestyle": "--" if i % 2 == 0 else "-",
            "label": label,
        }
        # metric-1 runs: reference (metric 2) left, optimized (metric 1) right; metric-2 runs reversed
        pair = list(axes) if i < 2 else list(axes[::-1])
        _draw_losses(r, None, False, pair, style=style, dots=False)
    axes[0].set(ylabel="Loss", title=n2)
    axes[1].set(ylabel="Loss", title=n1)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.05, 0.5))
    return fig


# ------------------------------------------------------------------------------------------------
# eigendistortions
# ------------------------------------------------------------------------------------------------


def eigendistortion_imshow_all(
    method,
    state,
    *,
    eigenindex: int | Sequence[int] = (0, -1),
    lane: int | None = None,
    channel: int | None = None,
    distortion_scale: float | Sequence[float] = 5.0,
    suptitle: str = "Eigendistortions",
    zoom: float | None = None,
    vrange="indep1",
) -> Figure:
    """The eigendistortions alone (top row) and added to the image (bottom row).

    The bottom row starts with the original image, followed by ``image + distortion_scale *
    eigendistortion`` for each ``eigenindex``; the top row shows each eigendistortion above it
    (plus 0.5 for RGB images, which are displayed on [0, 1]), titled with its position in the
    spectrum and its eigenvalue.

    Parameters
    ----------
    method, state
        An Eigendistortion and its state after :func:`jaxoptic.synthesize`.
    eigenindex
        Positions in the spectrum (0: largest eigenvalue; -1: smallest) of the eigendistortions to
        show; they must have been computed (see ``state.eigenindex``).
    lane
        Which synthesis of a batch.
    channel
        Show only this channel (default: gray or RGB).
    distortion_scale
        Scale of each distortion in the bottom row: one number, or one per ``eigenindex``.
    suptitle
        Figure title.
    zoom
        Screen pixels per image pixel (see :func:`jaxoptic.plot.imshow`); None: automatic.
    vrange
        Colour range of gray images (see :func:`jaxoptic.plot.resolve_vrange`).

    Returns
    -------
    matplotlib.figure.Figure
        ``2 * (len(eigenindex) + 1)`` axes, row by row; the top-left one is hidden.

    Raises
    ------
    ValueError
        For an ``eigenindex`` that was not computed, or a list of ``distortion_scale`` whose length
        differs from ``eigenindex``.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 100:108, 100:108]
    >>> eig = jo.Eigendistortion(img, jo.models.Gaussian((3, 3), std=1.0), method="exact")
    >>> state, _ = jo.synthesize(eig, eig.init(), max_iter=1, progress=False)
    >>> fig = jo.plot.eigendistortion_imshow_all(eig, state)
    >>> [ax.get_title() for ax in fig.axes][3:]
    ['Original image', 'Image + 5 * Eigendistortion[0]', 'Image + 5 * Eigendistortion[63]']
    """
    run = _Run(method, state, None, lane)
    if run.kind != "eigendistortion":
        raise TypeError(
            f"`method` must be a jaxoptic.Eigendistortion, got {type(method).__name__}."
        )
    indices = [eigenindex] if np.isscalar(eigenindex) else list(eigenindex)
    if not indices:
        raise ValueError("`eigenindex` must name at least one eigendistortion.")
    scales = (
        [distortion_scale] * len(indices)
        if np.isscalar(distortion_scale)
        else list(distortion_scale)
    )
    if len(scales) != len(indices):
        raise ValueError(
            f"`distortion_scale` has {len(scales)} values but `eigenindex` has {len(indices)}; give "
            "one scale or one per eigendistortion."
        )
    image = run.image
    rgb = channel is None and image.shape[0] in (3, 4)
    dists = np.asarray(run.state.eigendistortions)
    values = np.asarray(run.state.eigenvalues)
    top, bottom = [np.ones_like(_pick_channel(image, channel))], [_pick_channel(image, channel)]
    top_titles, bottom_titles = [None], ["Original image"]
    for idx, scale in zip(indices, scales, strict=True):
        row, position = _eigen_row(run.state, idx)
        d = dists[row]
        top.append(_pick_channel(d + 0.5 if rgb else d, channel))
        plus = " + 0.5" if rgb else ""
        top_titles.append(f"Eigendistortion[{position}]{plus}, λ={values[row]:.3g}")
        bottom.append(_pick_channel(image + scale * d, channel))
        bottom_titles.append(f"Image + {scale:g} * Eigendistortion[{position}]")
    fig = imshow(
        top + bottom,
        title=top_titles + bottom_titles,
        col_wrap=len(top),
        zoom=zoom,
        vrange=vrange,
        as_rgb=rgb,
    )
    fig.axes[0].set_visible(False)
    _add_suptitle(fig, suptitle)
    return fig


def _convergence_axes(ax) -> tuple[Axes, Axes]:
    """(residual axis, eigenvalue axis): a new figure, ``ax`` split in two rows, or two axes."""
    if ax is None:
        _, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(5, 6), layout="constrained")
        return top, bottom
    if isinstance(ax, Axes):
        fig = ax.figure
        gs = ax.get_subplotspec().subgridspec(2, 1)
        ax.remove()
        top = fig.add_subplot(gs[0, 0])
        top.tick_params(labelbottom=False)  # the x axis is the eigenvalue panel's, below
        return top, fig.add_subplot(gs[1, 0], sharex=top)
    axes = list(ax)
    if len(axes) != 2 or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(
            "`ax` must be None, one Axes (split in two rows) or a list of two Axes (residual, "
            f"eigenvalues), got {len(axes)} items."
        )
    return axes[0], axes[1]


def _log_if_positive(ax: Axes, *series: np.ndarray) -> None:
    """A log y axis when every finite value is positive (NaN/inf points are left out), else linear."""
    values = np.concatenate([np.ravel(v) for v in series])
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0:
        ax.set_yscale("log")


def _draw_convergence(run: _Run, axes: tuple[Axes, Axes]) -> dict[str, Axes]:
    h = run.need_history("eigendistortion_convergence")
    res_ax, val_ax = axes
    # records describe the state *after* each step: step i (from iteration i) ends at i + 1
    x = np.asarray(h.iterations) + 1
    residual = np.asarray(h.records["losses"], np.float64)
    top = np.asarray(h.records["top_eigenvalue"], np.float64)
    bottom = np.asarray(h.records["bottom_eigenvalue"], np.float64)
    style = {"marker": "o", "markersize": 3} if len(x) < 30 else {}
    finite = np.isfinite(residual)  # inf until the first pairs are computed
    res_ax.plot(x[finite], residual[finite], "C0-", label="largest relative residual", **style)
    if run.method.method != "exact":  # "exact" stops after its one step, whatever the residual
        tol = _scalar(run.state.tolerance)
        res_ax.axhline(
            tol, color="r", linestyle="--", linewidth=1, label=f"stop_criterion = {tol:g}"
        )
    _log_if_positive(res_ax, residual[finite])
    res_ax.set(ylabel="Relative residual", title="Eigendistortion convergence")
    res_ax.legend(fontsize=8)
    last = int(np.asarray(run.state.eigenindex)[-1])
    val_ax.plot(x, top, "C1-", label="top eigenvalue λ[0]", **style)
    val_ax.plot(x, bottom, "C2-", label=f"bottom eigenvalue λ[{last}]", **style)
    _log_if_positive(val_ax, top, bottom)
    val_ax.set(xlabel="Iteration", ylabel="Eigenvalue")
    val_ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    if len(x):
        val_ax.set_xlim(left=x[0] - 1)  # from the state before the first recorded step
    val_ax.legend(fontsize=8)
    return {"residual": res_ax, "eigenvalues": val_ax}


def eigendistortion_convergence(
    method,
    state,
    history: History,
    *,
    lane: int | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> dict[str, Axes]:
    """How an Eigendistortion run converged: its residual and eigenvalue estimates per iteration.

    Top panel: the largest relative residual ``‖F v - λ v‖ / λ_max`` of the requested eigenpairs
    (the ``losses`` record, on a log scale), with the run's ``stop_criterion`` as a dashed red line
    (``"lanczos"`` and ``"power"``, which stop when every residual is below it; ``"exact"`` stops
    after its one step, so no line is drawn). Bottom panel: the top and bottom eigenvalue estimates
    (``top_eigenvalue`` and ``bottom_eigenvalue`` records; log scale when they are all positive).

    The records describe the state after each step, so they are drawn at ``iteration + 1``: the last
    point is the current state (``state.iteration``). Steps before the first pairs are computed
    (infinite residual) are left out of the top panel.

    Parameters
    ----------
    method, state, history
        An :class:`~jaxoptic.Eigendistortion` run from :func:`jaxoptic.synthesize`. The stop
        criterion is read from the state (that of the last ``synthesize`` call).
    lane
        Which synthesis of a batch (required for a batch, refused otherwise).
    ax
        None (a new figure), one axis (split into the two panels, stacked and sharing the x axis) or
        a list of two axes (residual, eigenvalues).

    Returns
    -------
    dict
        ``{"residual": axis, "eigenvalues": axis}``.

    Raises
    ------
    TypeError
        If ``method`` is not an Eigendistortion.
    ValueError
        Without the history, for a missing or unneeded ``lane``, or a list of axes of the wrong
        length.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, 96:112, 96:112]
    >>> eig = jo.Eigendistortion(img, jo.models.Gaussian((5, 5), std=1.0))
    >>> state, history = jo.synthesize(eig, eig.init(key=jax.random.key(0)), max_iter=500,
    ...                                progress=False)
    >>> axes = jo.plot.eigendistortion_convergence(eig, state, history)
    >>> [line.get_label() for line in axes["residual"].get_lines()]
    ['largest relative residual', 'stop_criterion = 0.0001']
    >>> int(axes["eigenvalues"].get_lines()[0].get_xdata()[-1]) == int(state.iteration)
    True
    """
    run = _Run(method, state, history, lane)
    if run.kind != "eigendistortion":
        raise TypeError(
            f"`method` must be a jaxoptic.Eigendistortion, got {type(method).__name__}; the losses "
            "of the other methods are drawn by jaxoptic.plot.synthesis_loss."
        )
    run.need_history("eigendistortion_convergence")
    return _draw_convergence(run, _convergence_axes(ax))


def _add_suptitle(fig: Figure, text: str, pixels: float = 30.0) -> None:
    """Grow the figure at the top by ``pixels`` and put ``text`` there, keeping every axis's size."""
    if not text:
        return
    dpi = fig.dpi
    w_in, h_in = fig.get_size_inches()
    h_px = h_in * dpi
    boxes = [(ax, ax.get_position().bounds) for ax in fig.axes]
    new_h = h_px + pixels
    fig.set_size_inches(w_in, new_h / dpi)
    for ax, (x0, y0, w, h) in boxes:
        ax.set_position((x0, y0 * h_px / new_h, w, h * h_px / new_h))
    fig.suptitle(text, y=1 - 6 / new_h, va="top")
