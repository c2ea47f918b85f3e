"""Losses between a synthesized representation and a target representation.

Every loss takes ``(synth_rep, ref_rep)`` and returns a scalar. Representations may be arrays or
pytrees of arrays (e.g. a dict of statistic groups); the loss then runs over all leaves together, as
if they were concatenated. These are the losses of plenoptic's ``loss`` module.
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

__all__ = [
    "PortillaSimoncelliLoss",
    "combine_channel_losses",
    "l2_norm",
    "mse",
    "portilla_simoncelli_loss",
    "relative_sse",
]


def _leaves(tree) -> list[Array]:
    return jax.tree.leaves(tree)


def _sum_sq(tree) -> Array:
    return sum(jnp.sum(jnp.abs(leaf) ** 2) for leaf in _leaves(tree))


def _diff(a, b):
    return jax.tree.map(jnp.subtract, a, b)


def mse(
    synth_rep: PyTree[Float[Array, "..."]], ref_rep: PyTree[Float[Array, "..."]]
) -> Float[Array, ""]:
    """Mean squared error over every element of the representation.

    Parameters
    ----------
    synth_rep, ref_rep
        Representations of the synthesized and the reference image (arrays or pytrees with the
        same structure).

    Returns
    -------
    loss
        ``mean((synth_rep - ref_rep) ** 2)`` over all elements of all leaves.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> float(jo.losses.mse(jnp.array([2.0, 4, 6, 8, 10]), jnp.ones(5)))
    33.0
    """
    n = sum(leaf.size for leaf in _leaves(ref_rep))
    return _sum_sq(_diff(synth_rep, ref_rep)) / n


def l2_norm(
    synth_rep: PyTree[Float[Array, "..."]], ref_rep: PyTree[Float[Array, "..."]]
) -> Float[Array, ""]:
    """L2 norm of the difference, ``sqrt(sum((synth_rep - ref_rep) ** 2))`` over all elements.

    The square root has an infinite derivative at 0, so the gradient at an exact match is computed
    with a safe square root (0 instead of NaN).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> round(float(jo.losses.l2_norm(jnp.array([2.0, 4, 6, 8, 10]), jnp.ones(5))), 4)
    12.8452
    """
    sq = _sum_sq(_diff(synth_rep, ref_rep))
    safe = jnp.where(sq > 0, sq, 1.0)
    return jnp.where(sq > 0, jnp.sqrt(safe), 0.0)


def relative_sse(
    synth_rep: PyTree[Float[Array, "..."]], ref_rep: PyTree[Float[Array, "..."]]
) -> Float[Array, ""]:
    """Squared L2 norm of the difference relative to that of the reference, ``||r - s||² / ||r||²``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> float(jo.losses.relative_sse(jnp.array([2.0, 4, 6, 8, 10]), jnp.ones(5)))
    33.0
    """
    return _sum_sq(_diff(synth_rep, ref_rep)) / _sum_sq(ref_rep)


def combine_channel_losses(
    per_channel: Float[Array, " C"], temperature: float = 1.0
) -> Float[Array, ""]:
    """Combine per-channel losses into one scalar with a smooth maximum (logsumexp).

    ``temperature * logsumexp(per_channel / temperature) - temperature * log(C)``: it equals the loss
    when all channels agree, approaches ``max`` as ``temperature -> 0`` and the mean as it grows, so
    the optimizer works hardest on the worst channel without ignoring the others.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> float(jo.losses.combine_channel_losses(jnp.array([2.0, 2.0, 2.0])))
    2.0
    """
    per_channel = jnp.asarray(per_channel)
    n = per_channel.shape[-1]
    t = jnp.asarray(temperature, per_channel.dtype)
    return t * jax.nn.logsumexp(per_channel / t, axis=-1) - t * jnp.log(
        jnp.asarray(n, per_channel.dtype)
    )


class PortillaSimoncelliLoss(eqx.Module):
    """Weighted L2 norm for Portilla-Simoncelli statistics (plenoptic's ``portilla_simoncelli_loss_factory``).

    ``loss(x, y) = l2_norm(weights * x, weights * y)``. Build it with :func:`portilla_simoncelli_loss`.
    The weights are an array leaf, so one compiled synthesis serves every target.
    """

    weights: Array

    def __call__(self, synth_rep, ref_rep):
        return l2_norm(self.weights * synth_rep, self.weights * ref_rep)


def portilla_simoncelli_loss(
    model, image: Float[Array, "C H W"], reweighting_dict: Mapping[str, object] | None = None
) -> PortillaSimoncelliLoss:
    """The reweighted loss for Portilla-Simoncelli metamers (plenoptic's loss factory).

    By default the min and max of the pixel statistics get weight 0 (the range penalty handles
    them) and ``var_highpass_residual`` gets weight 100; everything else 1. ``reweighting_dict``
    maps statistic-group names to a number or an array of the group's shape and takes precedence.

    Parameters
    ----------
    model
        A :class:`jaxoptic.models.PortillaSimoncelli` (anything with ``to_dict``/``from_dict``).
    image
        The target image ``(C, H, W)`` (used for shapes).
    reweighting_dict
        Extra weights per statistic group.

    Returns
    -------
    loss
        A :class:`PortillaSimoncelliLoss`.

    Raises
    ------
    ValueError
        If ``reweighting_dict`` names a group the model does not have, or if the groups do not have
        the expected sizes and no explicit weight is given.

    Examples
    --------
    >>> import jaxoptic as jo
    >>> img = jo.data.brick()
    >>> ps = jo.models.PortillaSimoncelli(img.shape[-2:])
    >>> loss = jo.losses.portilla_simoncelli_loss(ps, img)
    >>> float(loss(ps(img), ps(img)))
    0.0
    """
    reweighting_dict = dict(reweighting_dict or {})
    rep = jax.eval_shape(model, image)
    # weights built in NumPy (no compilation): ones, with plenoptic's reweighting
    dtype = np.dtype(rep.dtype)
    weights = {k: np.asarray(v) for k, v in model.to_dict(np.ones(rep.shape, dtype)).items()}
    extra = set(reweighting_dict) - set(weights)
    if extra:
        raise ValueError(
            f"reweighting_dict has key(s) {sorted(extra)} that are not statistic groups of the model; "
            f"the groups are {list(weights)}."
        )
    if "pixel_statistics" in weights and "pixel_statistics" not in reweighting_dict:
        pix = weights["pixel_statistics"]
        if pix.shape[-1] != 6:
            raise ValueError(
                f"Expected 6 pixel statistics (the last two are min and max), got {pix.shape[-1]}; "
                "give reweighting_dict['pixel_statistics'] explicitly."
            )
        pix = pix.copy()
        pix[..., -2:] = 0.0
        reweighting_dict["pixel_statistics"] = pix
    if "var_highpass_residual" in weights and "var_highpass_residual" not in reweighting_dict:
        if weights["var_highpass_residual"].shape[-1] != 1:
            raise ValueError(
                "Expected one var_highpass_residual statistic; set its weight in reweighting_dict."
            )
        reweighting_dict["var_highpass_residual"] = 100.0
    for k in weights:
        if k in reweighting_dict:
            r = reweighting_dict[k]
            if isinstance(r, jax.Array):  # possibly traced: stay in JAX
                weights[k] = jnp.asarray(weights[k]) * jnp.asarray(r, dtype)
            else:
                weights[k] = weights[k] * np.asarray(r, dtype)
    return PortillaSimoncelliLoss(model.from_dict(weights))
