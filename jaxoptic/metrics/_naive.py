"""Baseline metrics: mean-squared error, and the root-mean-squared distance in a model's output space."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._common import check_pair

__all__ = ["ModelMetric", "model_metric", "mse"]


def mse(
    img1: Float[Array, "channels height width"], img2: Float[Array, "channels height width"]
) -> Float[Array, " channels"]:
    r"""Mean-squared error between two images, per channel.

    For two images :math:`x` and :math:`y` with :math:`n` pixels per channel,

    .. math::

        MSE_c = \frac{1}{n} \sum_i (x_{c,i} - y_{c,i})^2 .

    This is a baseline, not a model of perception. It is plenoptic's ``metric.mse``
    (the average over height and width only), not :func:`jaxoptic.losses.mse`-style averaging over
    every element.

    Parameters
    ----------
    img1, img2
        Images shaped ``(channels, height, width)``, with the same shape and the same floating dtype.
        For batches use ``jax.vmap(mse)(imgs1, imgs2)``.

    Returns
    -------
    mse
        Array shaped ``(channels,)``, in the images' dtype.

    Raises
    ------
    ValueError
        If an image is not 3-D, or if the shapes differ.
    TypeError
        If an image is not floating point, or if the dtypes differ.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> img = jnp.zeros((1, 4, 4))
    >>> jo.metrics.mse(img, img + 0.5)
    Array([0.25], dtype=float32)
    """
    check_pair(img1, img2)
    diff = img1 - img2
    return jnp.mean(diff * diff, axis=(-2, -1))


def _squared_distance_mean(rep1, rep2):
    """Mean over every element of ``|rep1 - rep2|**2``, for arrays or matching pytrees of arrays."""
    leaves1, tree1 = jax.tree_util.tree_flatten(rep1)
    leaves2, tree2 = jax.tree_util.tree_flatten(rep2)
    if tree1 != tree2:
        raise ValueError(
            "The model returned outputs with different structures for img1 and img2: "
            f"{tree1} and {tree2}."
        )
    total = 0
    size = 0
    for a, b in zip(leaves1, leaves2, strict=True):
        a, b = jnp.asarray(a), jnp.asarray(b)
        if a.shape != b.shape:
            raise ValueError(
                f"The model returned outputs of different shapes for img1 and img2: {a.shape} and {b.shape}."
            )
        diff = a - b
        sq = jnp.real(diff * jnp.conj(diff)) if jnp.iscomplexobj(diff) else diff * diff
        total = total + jnp.sum(sq)
        size += diff.size
    if size == 0:
        raise ValueError("The model returned an empty output; cannot compute a distance.")
    return total / size


class ModelMetric(eqx.Module):
    r"""Root-mean-squared distance between two images in a model's output space.

    Built by :func:`model_metric`; see there. Calling it on two images returns a scalar:

    .. math::

        d(x, y) = \sqrt{\frac{1}{n} \sum_i (M(x)_i - M(y)_i)^2 + \epsilon},

    with :math:`\epsilon = 10^{-10}`.

    Attributes
    ----------
    model
        The model (any callable taking one image ``(C, H, W)``). When it is an ``equinox.Module``,
        its arrays are leaves of this module, so ``ModelMetric`` can be passed through ``jax.jit``
        and stored in synthesis objects like any other pytree.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> metric = jo.metrics.ModelMetric(lambda x: 2 * x)
    >>> metric(jnp.zeros((1, 2, 2)), jnp.ones((1, 2, 2)))
    Array(2., dtype=float32)
    """

    model: Callable

    def __call__(
        self,
        img1: Float[Array, "channels height width"],
        img2: Float[Array, "channels height width"],
    ) -> Float[Array, ""]:
        """Return the model-space distance between ``img1`` and ``img2`` (a 0-d array)."""
        check_pair(img1, img2)
        mean_sq = _squared_distance_mean(self.model(img1), self.model(img2))
        # epsilon keeps the gradient of sqrt finite when the two representations coincide
        return jnp.sqrt(mean_sq + 1e-10)


def model_metric(model: Callable) -> ModelMetric:
    r"""Turn a model into a metric: the root-mean-squared difference of its outputs.

    For two images :math:`x` and :math:`y` and a model :math:`M` whose output has :math:`n`
    elements, the metric is

    .. math::

        d(x, y) = \sqrt{\frac{1}{n} \sum_i (M(x)_i - M(y)_i)^2 + \epsilon}, \qquad
        \epsilon = 10^{-10},

    where :math:`\epsilon` keeps the gradient finite when the two outputs coincide (so
    ``d(x, x) = 1e-5``). This is plenoptic's ``metric.model_metric_factory``.

    **Output shape.** Unlike the image metrics (:func:`mse`, :func:`ssim`, :func:`ms_ssim`,
    :func:`nlpd`), which return one value per image channel ``(C,)``, the model metric returns a
    single value (a 0-d array), as plenoptic does: a model's output channels need not correspond to
    the image's channels (a model may mix them, or return a vector of statistics), so the average
    runs over every output element. For a per-channel model distance, vmap the metric over channels
    yourself, e.g. ``jax.vmap(metric)(x[:, None], y[:, None])`` for a model that takes one channel.

    Parameters
    ----------
    model
        A callable taking one image ``(C, H, W)`` and returning an array, or a pytree of arrays
        (e.g. a list of pyramid levels or a dict of coefficients; then the mean runs over all their
        elements together). Complex outputs use :math:`|M(x)_i - M(y)_i|^2`.

    Returns
    -------
    metric
        A :class:`ModelMetric`: ``metric(img1, img2)`` returns a 0-d array in the model output's real
        dtype. It is jittable, vmappable and differentiable when the model is.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> metric = jo.metrics.model_metric(lambda x: x[:, ::2, ::2])
    >>> x = jnp.zeros((1, 4, 4))
    >>> metric(x, x + 0.5)
    Array(0.5, dtype=float32)
    """
    if not callable(model):
        raise TypeError(
            f"`model` must be callable (a function of one image), got {type(model).__name__}."
        )
    return ModelMetric(model)
