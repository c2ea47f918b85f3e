"""Summary figure of Portilla-Simoncelli statistics (plenoptic's ``PortillaSimoncelli.plot_representation``).

Lives in :mod:`jaxoptic.plot` so that the model module never imports matplotlib;
:func:`jaxoptic.plot.plot_representation` dispatches here for a
:class:`~jaxoptic.models.PortillaSimoncelli` model.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from ._display import _auto_ylim, _subgrid, stem_plot

# groups summarised by the Euclidean norm over their two leading (spatial or orientation) axes,
# in plenoptic's plotting order
_NORM_GROUPS = (
    "auto_correlation_reconstructed",
    "auto_correlation_magnitude",
    "cross_orientation_correlation_magnitude",
    "cross_scale_correlation_magnitude",
    "cross_scale_correlation_real",
)


def _channel_mean_groups(model, data) -> OrderedDict:
    """``data`` (output ``(..., n_stats)`` or ``to_dict`` of it) -> groups averaged over leading axes."""
    template = model.to_dict(np.zeros(model.n_stats))
    shapes = OrderedDict((k, np.shape(v)) for k, v in template.items())
    if isinstance(data, Mapping):
        missing = [k for k in shapes if k not in data]
        extra = [k for k in data if k not in shapes]
        if extra:
            raise ValueError(
                f"`data` has keys that are not Portilla-Simoncelli statistic groups: {extra}."
            )
        if missing:
            raise KeyError(f"`data` is missing the statistic groups {missing}.")
        groups = OrderedDict()
        for k, shape in shapes.items():
            v = np.asarray(data[k], dtype=np.float64)
            if v.shape[v.ndim - len(shape) :] != shape:
                raise ValueError(
                    f"`data[{k!r}]` must end with shape {shape} (as from model.to_dict), got {v.shape}."
                )
            lead = tuple(range(v.ndim - len(shape)))
            groups[k] = v.mean(axis=lead) if lead else v
        return groups
    rep = np.asarray(data, dtype=np.float64)
    if rep.ndim == 0 or rep.shape[-1] != model.n_stats:
        raise ValueError(
            f"`data` must be the model output shaped (..., {model.n_stats}) (computed without "
            f"`scales=`), or its to_dict; got shape {rep.shape}."
        )
    if rep.ndim > 1:
        rep = rep.reshape(-1, model.n_stats).mean(axis=0)
    return OrderedDict((k, np.asarray(v, dtype=np.float64)) for k, v in model.to_dict(rep).items())


def ps_summary(model, data) -> OrderedDict:
    """The 1-D summaries plotted by :func:`_plot_ps_representation`, in plotting order.

    Channels (and any other leading axes) are averaged. ``"pixels+var_highpass"`` and
    ``"std+skew+kurtosis recon"`` concatenate groups; ``magnitude_std`` is flattened; the
    auto-/cross-correlation groups become the Euclidean norm over their two leading axes (NaN
    redundant entries left out), one value per remaining entry. Cross-scale groups are absent when
    ``n_scales == 1``.
    """
    g = _channel_mean_groups(model, data)
    out = OrderedDict()
    out["pixels+var_highpass"] = np.concatenate([g["pixel_statistics"], g["var_highpass_residual"]])
    out["std+skew+kurtosis recon"] = np.concatenate(
        [g["std_reconstructed"], g["skew_reconstructed"], g["kurtosis_reconstructed"]]
    )
    out["magnitude_std"] = g["magnitude_std"].ravel()
    for k in _NORM_GROUPS:
        if k.startswith("cross_scale") and model.n_scales == 1:
            continue
        out[k] = np.sqrt(np.nansum(g[k] ** 2, axis=(0, 1))).ravel()
    return out


def _group_sizes(model) -> dict[str, list[int]]:
    """Lengths of the runs of related entries in each summary (drawn as baseline segments)."""
    s, o = model.n_scales, model.n_orientations
    return {
        "pixels+var_highpass": [6, 1],
        "std+skew+kurtosis recon": [s + 1] * 3,
        "magnitude_std": [s] * o,
        "auto_correlation_reconstructed": [s + 1],
        "auto_correlation_magnitude": [s] * o,
        "cross_orientation_correlation_magnitude": [s],
        "cross_scale_correlation_magnitude": [s - 1],
        "cross_scale_correlation_real": [s - 1],
    }


def _plot_ps_representation(model, data, *, ax=None, figsize=None, ylim=None, title=None):
    """Stem plots summarising Portilla-Simoncelli statistics, as plenoptic's model method.

    Panels (channel-averaged): ``pixels+var_highpass`` (mean, variance, skew, kurtosis, min, max of
    the pixels, then the highpass residual variance), ``std+skew+kurtosis recon`` (of the lowpass
    image reconstructed at each scale), ``magnitude_std`` and, summarised by their Euclidean norm over
    the two leading axes, ``auto_correlation_reconstructed``, ``auto_correlation_magnitude``,
    ``cross_orientation_correlation_magnitude`` and (``n_scales > 1``) the two ``cross_scale`` groups.
    Laid out on 3 rows (2 when ``n_scales == 1``); the baseline is broken between runs of related
    entries (pixel statistics | highpass variance; std | skew | kurtosis; one run per orientation). ``ylim=None`` fits each panel (from 0 for
    non-negative values, symmetric otherwise); ``False`` leaves matplotlib's limits.
    """
    if ax is not None and figsize is not None:
        raise ValueError("`figsize` cannot be set together with `ax` (the figure already exists).")
    summary = ps_summary(model, data)
    n_rows = 3 if model.n_scales > 1 else 2
    n_cols = math.ceil(len(summary) / n_rows)
    if ax is None:
        fig = plt.figure(figsize=figsize or (12, 7), layout="constrained")
    else:
        fig = ax.figure
    gs = _subgrid(fig, ax, n_rows, n_cols)
    axes = []
    groups = _group_sizes(model)
    for i, (k, v) in enumerate(summary.items()):
        sub = fig.add_subplot(gs[i // n_cols, i % n_cols])
        starts = np.cumsum([0, *groups[k][:-1]])
        stops = starts + np.asarray(groups[k]) - 1
        stem_plot(
            v,
            ax=sub,
            title=k,
            ylim=_auto_ylim(v) if ylim is None else ylim,
            xvals=(starts - 0.3, stops + 0.3),
        )
        axes.append(sub)
    if title:
        fig.suptitle(title)
    return fig, axes
