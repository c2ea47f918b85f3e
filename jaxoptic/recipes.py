"""Ready-made synthesis set-ups: a method and its initial state in one call.

Each recipe returns ``(method, state)`` for :func:`jaxoptic.synthesize`. They are plain functions of
arrays, so a batch of set-ups is one ``equinox.filter_vmap`` away::

    mets, states = eqx.filter_vmap(
        lambda im, k: jaxoptic.recipes.portilla_simoncelli_metamer(im, key=k)
    )(images, keys)
    states, history = jaxoptic.synthesize(mets, states, max_iter=100)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from . import losses as _losses
from . import optimizers as _optimizers
from . import penalties as _penalties
from .models import PortillaSimoncelli
from .synthesis import Metamer, MetamerState

__all__ = ["metamer", "portilla_simoncelli_metamer"]


def _initial_image(image, key, initial_noise: float):
    """``mean(image) + initial_noise * (u - 0.5)`` with ``u`` uniform in [0, 1), per channel."""
    u = jax.random.uniform(key, image.shape, dtype=image.dtype)
    mean = jnp.mean(image, axis=(-2, -1), keepdims=True)
    return mean + jnp.asarray(initial_noise, image.dtype) * (u - 0.5)


def metamer(
    image,
    model: Callable,
    *,
    key,
    loss_function: Callable = _losses.mse,
    penalty_lambda: float = 0.1,
    optimizer: optax.GradientTransformation | None = None,
    initial_image=None,
) -> tuple[Metamer, MetamerState]:
    """A metamer set-up for any model: L-BFGS on the loss plus the [0, 1] range penalty.

    Parameters
    ----------
    image
        Target image ``(C, H, W)``.
    model
        The model (``image -> representation``).
    key
        ``jax.random.key`` for the initial uniform-noise image.
    loss_function, penalty_lambda
        As :class:`jaxoptic.Metamer`.
    optimizer
        Default :func:`jaxoptic.optimizers.lbfgs` (optax's L-BFGS steps and zoom line search, one
        objective evaluation per iteration, so ``max_iter`` counts evaluations).
    initial_image
        Start here instead of uniform noise in [0, 1].

    Returns
    -------
    method, state

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :32, :32]
    >>> met, state = jo.recipes.metamer(img, jo.models.Gaussian((5, 5), std=1.0), key=jax.random.key(0))
    >>> state, hist = jo.synthesize(met, state, max_iter=10, progress=False)
    >>> bool(hist.losses[-1] < hist.losses[0])
    True
    """
    met = Metamer(
        image,
        model,
        loss_function=loss_function,
        penalty_lambda=penalty_lambda,
        optimizer=_optimizers.lbfgs() if optimizer is None else optimizer,
    )
    return met, met.init(key=key, initial_image=initial_image)


def portilla_simoncelli_metamer(
    image,
    *,
    key,
    n_scales: int = 4,
    n_orientations: int = 4,
    spatial_corr_width: int = 7,
    reweighting_dict: Mapping[str, object] | None = None,
    penalty_lambda: float = 0.1,
    memory_size: int = 20,
    initial_noise: float = 0.2,
    initial_image=None,
    optimizer: optax.GradientTransformation | None = None,
) -> tuple[Metamer, MetamerState]:
    """The tuned texture-metamer set-up for the Portilla-Simoncelli statistics.

    - model: :class:`jaxoptic.models.PortillaSimoncelli` for the image's shape;
    - loss: :func:`jaxoptic.losses.portilla_simoncelli_loss` (plenoptic's reweighting: pixel min/max
      dropped, highpass variance x100), plus the [0, 1] range penalty with weight ``penalty_lambda``;
    - optimizer: :func:`jaxoptic.optimizers.lbfgs` with ``memory_size`` curvature pairs: optax's
      L-BFGS steps and zoom (strong Wolfe) line search, made of one objective evaluation per
      iteration, so that batches do no wasted work (``max_iter`` counts evaluations);
    - initial image: the target's mean plus uniform noise of width ``initial_noise``.

    ``benchmarks/README.md`` records the measurements behind these defaults.

    Parameters
    ----------
    image
        Target texture ``(C, H, W)``; its height and width must be divisible by ``2 ** n_scales``.
    key
        ``jax.random.key`` for the initial image.
    n_scales, n_orientations, spatial_corr_width
        Model settings.
    reweighting_dict
        Extra weights per statistic group (see :func:`jaxoptic.losses.portilla_simoncelli_loss`).
    penalty_lambda
        Weight of the range penalty.
    memory_size
        L-BFGS history length.
    initial_noise
        Width of the uniform noise around the mean in the initial image.
    initial_image
        Start here instead.
    optimizer
        Replace the L-BFGS optimizer.

    Returns
    -------
    method, state

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.brick()[:, :64, :64]
    >>> met, state = jo.recipes.portilla_simoncelli_metamer(img, key=jax.random.key(0), n_scales=2,
    ...                                                      spatial_corr_width=5)
    >>> state, hist = jo.synthesize(met, state, max_iter=5, progress=False)
    >>> bool(hist.losses[-1] < hist.losses[0])
    True
    """
    model = PortillaSimoncelli(
        image.shape[-2:],
        n_scales=n_scales,
        n_orientations=n_orientations,
        spatial_corr_width=spatial_corr_width,
    )
    loss = _losses.portilla_simoncelli_loss(model, image, reweighting_dict)
    met = Metamer(
        image,
        model,
        loss_function=loss,
        penalty_function=_penalties.range_penalty,
        penalty_lambda=penalty_lambda,
        optimizer=_optimizers.lbfgs(memory_size=memory_size) if optimizer is None else optimizer,
    )
    if initial_image is None:
        initial_image = _initial_image(met.image, key, initial_noise)
    return met, met.init(initial_image=initial_image)
