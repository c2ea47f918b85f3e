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
from ._validation import check_image
from .models import PortillaSimoncelli
from .synthesis import Metamer, MetamerState

__all__ = ["geodesic_restarts", "mad_competition_set", "metamer", "portilla_simoncelli_metamer"]


@jax.jit
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
    memory_size: int = 50,
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
        L-BFGS history length. 50 was the only one of 5, 10, 20 and 50 that reached plenoptic's
        100-iteration quality from all three measured starts, and the fastest on average.
    initial_noise
        Width of the uniform noise around the mean in the initial image (slightly faster than
        plenoptic's uniform noise in [0, 1] in the measurements).
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
    check_image(image)
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


def mad_competition_set(
    image,
    metric_a: Callable,
    metric_b: Callable,
    *,
    key,
    metric_tradeoff_lambda: tuple[float, float] | None = None,
    initial_noise: float = 0.1,
    initial_image=None,
    penalty_function: Callable = _penalties.range_penalty,
    penalty_lambda: float = 0.1,
    optimizer: optax.GradientTransformation | None = None,
):
    """The four images of a MAD competition study, as one batch for :func:`jaxoptic.synthesize`.

    A full MAD competition (Wang & Simoncelli 2008) minimizes and maximizes each metric while holding
    the other fixed. This returns a :class:`jaxoptic.MADCompetition` and its state with a leading
    batch axis of 4, so that one compiled call synthesizes all four images. The lanes are:

    ====  =================  ==========  ==================
    lane  optimized metric   ``minmax``  held metric
    ====  =================  ==========  ==================
    0     ``metric_a``       ``"min"``   ``metric_b``
    1     ``metric_a``       ``"max"``   ``metric_b``
    2     ``metric_b``       ``"min"``   ``metric_a``
    3     ``metric_b``       ``"max"``   ``metric_a``
    ====  =================  ==========  ==================

    All four start from the same initial image, as in a MAD study. With ``noise_key, lambda_key =
    jax.random.split(key)``, lane ``i`` is the same synthesis as
    ``MADCompetition(image, optimized, held, minmax, key=lambda_key, ...).init(key=noise_key)``
    (to rounding).

    Parameters
    ----------
    image
        The reference image ``(C, H, W)``.
    metric_a, metric_b
        Distances ``metric(image_a, image_b)`` (0 for identical images; see
        :class:`jaxoptic.MADCompetition`), e.g. :func:`jaxoptic.metrics.mse` and
        ``lambda a, b: 1 - jaxoptic.metrics.ssim(a, b)``.
    key
        ``jax.random.key``: split into the key of the initial noise and the key of the random image
        used to choose ``metric_tradeoff_lambda`` when it is None.
    metric_tradeoff_lambda
        ``(lambda when metric_a is optimized, lambda when metric_b is optimized)``, or None to choose
        both with plenoptic's rule (see :class:`jaxoptic.MADCompetition`; warns with the values).
    initial_noise
        Standard deviation of the Gaussian noise added to ``image`` for the shared initial image.
    initial_image
        Start all four lanes from this image instead.
    penalty_function, penalty_lambda, optimizer
        As :class:`jaxoptic.MADCompetition` (default optimizer: Adam with AMSGrad, lr 0.01).

    Returns
    -------
    method, state
        Batched along a leading axis of 4, in the lane order above.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :32, :32]
    >>> def ssim_distance(a, b):
    ...     return 1 - jo.metrics.ssim(a, b)
    >>> mads, states = jo.recipes.mad_competition_set(
    ...     img, jo.metrics.mse, ssim_distance, key=jax.random.key(0), metric_tradeoff_lambda=(1.0, 1.0))
    >>> states, history = jo.synthesize(mads, states, max_iter=5, progress=False)
    >>> states.image.shape, history.optimized_metric_loss.shape
    ((4, 1, 32, 32), (4, 5))
    """
    import equinox as eqx

    from .synthesis import MADCompetition

    if metric_tradeoff_lambda is None:
        lambda_a = lambda_b = None
    else:
        try:
            lambda_a, lambda_b = metric_tradeoff_lambda
        except (TypeError, ValueError):
            raise ValueError(
                "`metric_tradeoff_lambda` must be None or a pair (lambda when metric_a is optimized, "
                f"lambda when metric_b is optimized), got {metric_tradeoff_lambda!r}."
            ) from None
    noise_key, lambda_key = jax.random.split(key)
    common = dict(
        initial_noise=initial_noise,
        penalty_function=penalty_function,
        penalty_lambda=penalty_lambda,
        optimizer=optimizer,
        key=lambda_key,
    )
    # Both constructions check the metrics and choose their lambda; the lanes are then copies of the
    # first (same metrics tuple, same optimizer) whose roles are set by array leaves.
    mad_a = MADCompetition(image, metric_a, metric_b, "min", lambda_a, **common)
    mad_b = MADCompetition(image, metric_b, metric_a, "min", lambda_b, **common)
    dtype = mad_a.image.dtype
    optimized_index = jnp.asarray([0, 0, 1, 1], jnp.int32)
    sign = jnp.asarray([1.0, -1.0, 1.0, -1.0], dtype)
    lambdas = jnp.stack([mad_a.metric_tradeoff_lambda] * 2 + [mad_b.metric_tradeoff_lambda] * 2)

    def lane(index, s, lam):
        return eqx.tree_at(
            lambda m: (m.optimized_index, m.sign, m.metric_tradeoff_lambda), mad_a, (index, s, lam)
        )

    methods = eqx.filter_vmap(lane)(optimized_index, sign, lambdas)
    states = eqx.filter_vmap(lambda m: m.init(key=noise_key, initial_image=initial_image))(methods)
    return methods, states


def geodesic_restarts(
    image_a,
    image_b,
    model: Callable,
    *,
    keys,
    n_steps: int = 10,
    max_iter: int = 1000,
    range_penalty_lambda: float = 0.1,
    allowed_range: tuple[float, float] = (0.0, 1.0),
    optimizer: optax.GradientTransformation | None = None,
    stop_criterion: float | None = None,
    stop_iters_to_check: int = 50,
    progress: bool = False,
    **synthesize_options,
):
    """Geodesics from random restarts: one Brownian-bridge start per key, run as one vmapped batch.

    Every lane is a :class:`jaxoptic.Geodesic` started from ``initial_sequence="bridge"`` with its own
    key; all lanes run in one compiled :func:`jaxoptic.synthesize` call and stop on their own. The
    spread of the final path energies shows how much the result depends on the start (geodesics need
    not be unique).

    Parameters
    ----------
    image_a, image_b, model, n_steps, range_penalty_lambda, allowed_range, optimizer, stop_criterion
        As :class:`jaxoptic.Geodesic` (``stop_criterion`` is the method's own threshold; ``None``
        gives plenoptic's data-dependent default).
    keys
        A batch of ``jax.random.key`` (e.g. ``jax.random.split(key, 8)``), one per restart.
    max_iter, stop_iters_to_check, progress, **synthesize_options
        Passed to :func:`jaxoptic.synthesize`.

    Returns
    -------
    geodesics, states, history, spread
        The batched methods and final states, the batched history, and a dict with the final path
        energy of every lane (``"path_energy"``, shape ``(n,)``), its ``"min"``, ``"median"`` and
        ``"max"``, and ``"best"``, the index of the lowest.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :16, :16]
    >>> keys = jax.random.split(jax.random.key(0), 3)
    >>> geos, states, history, spread = jo.recipes.geodesic_restarts(
    ...     img, img[:, ::-1], jo.models.Gaussian((5, 5), std=1.0), keys=keys, n_steps=4, max_iter=5
    ... )
    >>> states.image.shape, spread["path_energy"].shape
    ((3, 5, 1, 16, 16), (3,))
    >>> bool(spread["min"] <= spread["median"] <= spread["max"])
    True
    """
    import equinox as eqx
    import numpy as np

    from .synthesis import Geodesic, synthesize

    if np.ndim(keys) < 1 or len(keys) < 1:
        raise ValueError(
            "`keys` must be a non-empty batch of keys, e.g. jax.random.split(jax.random.key(0), 8)."
        )

    def build(key):
        geo = Geodesic(
            image_a,
            image_b,
            model,
            n_steps=n_steps,
            initial_sequence="bridge",
            range_penalty_lambda=range_penalty_lambda,
            allowed_range=allowed_range,
            optimizer=optimizer,
            stop_criterion=stop_criterion,
        )
        return geo, geo.init(key=key, stop_iters_to_check=stop_iters_to_check)

    geodesics, states = eqx.filter_vmap(build)(keys)
    states, history = synthesize(
        geodesics,
        states,
        max_iter=max_iter,
        stop_iters_to_check=stop_iters_to_check,
        progress=progress,
        **synthesize_options,
    )
    energy = np.asarray(eqx.filter_vmap(lambda g, s: g.path_energy(s.image))(geodesics, states))
    spread = {
        "path_energy": energy,
        "min": float(np.min(energy)),
        "median": float(np.median(energy)),
        "max": float(np.max(energy)),
        "best": int(np.argmin(energy)),
    }
    return geodesics, states, history, spread
