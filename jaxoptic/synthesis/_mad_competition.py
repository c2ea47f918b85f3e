"""Maximum differentiation (MAD) competition: extremize one metric while holding another fixed."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from jaxtyping import Array, Float, Int, PyTree

from .. import optimizers as _optimizers
from .. import penalties as _penalties
from .._validation import check_scalar, check_window
from ._common import (
    DEFAULT_WINDOW,
    check_finite_image,
    check_optimizer,
    converged_status,
    guarded_update,
    learning_rate_of,
    loss_converged,
    prepare_window_and_status,
    refuse_options,
    status_array,
    strong_types,
    uses_linesearch,
    window_push,
)
from ._status import Status

# A distance must be (about) 0 for two identical images. plenoptic's threshold is 5e-7, which refuses
# its own model metric (sqrt(mean + 1e-10) = 1e-5 for identical inputs); similarities such as SSIM
# (1 for identical images) are still refused by a wide margin.
IDENTITY_TOLERANCE = 1e-4

_MINMAX_SIGN = {"min": 1.0, "max": -1.0}


# -- the default optimizer: Adam with AMSGrad, in PyTorch's convention --------------------------------
@functools.cache
def _default_optimizer() -> optax.GradientTransformationExtraArgs:
    """One shared instance, so that MADCompetitions built with the default optimizer share compiled
    programs (the optimizer is a static field: a new instance would mean a new compilation)."""
    return check_optimizer(_optimizers.amsgrad(0.01))


# -- metric checks and the automatic trade-off ---------------------------------------------------------
def _as_scalar(value, dtype) -> Array:
    """A metric value as a 0-d array: per-channel values are averaged over channels."""
    return jnp.mean(jnp.asarray(value)).astype(dtype)


@eqx.filter_jit
def _metric_at(metric, image_a, image_b):
    """``metric(image_a, image_b)`` as a 0-d array, compiled once per metric and shape (not op by op)."""
    return _as_scalar(metric(image_a, image_b), image_a.dtype)


def _check_metric(metric, image, name: str) -> None:
    """``metric(image, image)`` must be a scalar or per-channel float array close to 0 (a distance)."""
    if not callable(metric):
        raise TypeError(
            f"`{name}` must be a callable metric(image_a, image_b) -> distance, got {type(metric).__name__}."
        )
    try:
        out = jax.eval_shape(metric, image, image)
    except TypeError as err:
        raise TypeError(
            f"`{name}` must accept two images shaped {tuple(image.shape)}: calling it raised {err}"
        ) from err
    n_channels = image.shape[0]
    ok = isinstance(out, jax.ShapeDtypeStruct) and out.shape in ((), (n_channels,))
    if not ok:
        shape = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        raise ValueError(
            f"`{name}` must return a scalar or one value per channel (shape () or ({n_channels},)) for "
            f"images shaped {tuple(image.shape)}, but it returned {shape}."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"`{name}` must return floating-point values, got dtype {out.dtype}.")
    if isinstance(image, jax.core.Tracer):
        return
    same = float(_metric_at(metric, image, image))
    if not np.isfinite(same) or abs(same) > IDENTITY_TOLERANCE:
        raise ValueError(
            f"`{name}` must be a distance (0 for identical images), but {name}(image, image) = {same:.4g}. "
            "A similarity such as jaxoptic.metrics.ssim must be turned into a distance first, e.g. "
            "`lambda a, b: 1 - jaxoptic.metrics.ssim(a, b)`."
        )


def _tradeoff_lambda(image, optimized_metric, reference_metric, other_image):
    """plenoptic's rule: ``10 ** round(log10(opt(image, other) / ref(image, other)))``.

    Returns a Python float for concrete inputs (an array under tracing)."""
    dtype = image.dtype
    ratio = _metric_at(optimized_metric, image, other_image) / _metric_at(
        reference_metric, image, other_image
    )
    exponent = jnp.round(jnp.log10(ratio))
    if isinstance(exponent, jax.core.Tracer):
        return jnp.asarray(10.0, dtype) ** exponent
    exponent = float(exponent)
    if not np.isfinite(exponent):
        raise ValueError(
            "Could not choose `metric_tradeoff_lambda` automatically: the metrics' ratio on `image` and a "
            f"random image is {float(ratio)!r}. Pass `metric_tradeoff_lambda` explicitly."
        )
    return float(10.0**exponent)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside jaxoptic and equinox."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level, frame = 1, sys._getframe(1)
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not (name.startswith(package) or f"{os.sep}equinox{os.sep}" in name):
            return level
        level, frame = level + 1, frame.f_back
    return 1


def _check_number(value, name: str, *, minimum: float | None = 0.0) -> None:
    check_scalar(value, name, minimum=minimum)


class MADCompetitionState(eqx.Module):
    """Everything that changes during MAD competition synthesis (a pytree; checkpoint it, vmap it).

    Attributes
    ----------
    image
        The current MAD image ``(C, H, W)``.
    opt_state
        The optax optimizer state.
    iteration
        Number of steps taken (0-d int32).
    loss, penalty, optimized_metric_loss, reference_metric_loss
        Records of the last step, at the image *before* the step: the objective (penalty included),
        the penalty, ``optimized_metric(image, mad_image)`` and ``reference_metric(image, mad_image)``.
        After ``init`` they describe the initial image.
    gradient_norm, pixel_change_norm, learning_rate
        The gradient norm at the image before the last step, the norm of the pixel change that step
        made and the optimizer's learning rate (NaN where not exposed; gradient and pixel change are
        NaN after ``init``).
    loss_window
        Ring buffer of the most recent losses, used by the stopping rule.
    status
        A :class:`jaxoptic.Status` as 0-d int32.
    previous_image
        The image before the last step (the state falls back to it if the objective becomes
        non-finite).
    initial_image
        The image synthesis started from (the reference image plus noise, by default).
    reference_metric_target
        ``reference_metric(image, initial_image)``: the value the objective holds the reference metric
        at.
    """

    image: Float[Array, "C H W"]
    opt_state: PyTree
    iteration: Int[Array, ""]
    loss: Float[Array, ""]
    penalty: Float[Array, ""]
    optimized_metric_loss: Float[Array, ""]
    reference_metric_loss: Float[Array, ""]
    gradient_norm: Float[Array, ""]
    pixel_change_norm: Float[Array, ""]
    learning_rate: Float[Array, ""]
    loss_window: Float[Array, " n"]
    status: Int[Array, ""]
    previous_image: Float[Array, "C H W"]
    initial_image: Float[Array, "C H W"]
    reference_metric_target: Float[Array, ""]


class MADCompetition(eqx.Module):
    r"""Maximum differentiation competition (Wang & Simoncelli 2008), plenoptic's ``MADCompetition``.

    Starting from ``image`` plus Gaussian noise, synthesis minimizes or maximizes
    ``optimized_metric(image, x)`` while holding ``reference_metric(image, x)`` at its initial value.
    The objective (minimized over ``x`` with an optax optimizer) is

    .. math::

        s\, d_1(I, x) + \lambda_1 \left(d_2(I, x_0) - d_2(I, x)\right)^2 + \lambda_2\, B(x),

    with :math:`s = 1` for ``minmax="min"`` and :math:`-1` for ``"max"``, :math:`d_1` the optimized
    and :math:`d_2` the reference metric, :math:`I` the reference ``image``, :math:`x_0` the initial
    image, :math:`\lambda_1` = ``metric_tradeoff_lambda``, :math:`B` the penalty and :math:`\lambda_2`
    = ``penalty_lambda``. A full MAD study synthesizes four images (each metric minimized and
    maximized while holding the other); :func:`jaxoptic.recipes.mad_competition_set` builds all four
    as one batch.

    The module holds configuration only; the changing quantities live in a
    :class:`MADCompetitionState` made by :meth:`init` and advanced by the pure :meth:`step`. Run many
    steps with :func:`jaxoptic.synthesize`; the history has ``losses``, ``penalties``,
    ``optimized_metric_loss``, ``reference_metric_loss``, ``gradient_norm``, ``pixel_change_norm`` and
    ``learning_rate``, each recorded at the image before the step (aligned with ``losses``, as in
    plenoptic 2.1.1; plenoptic's lists also end with the value at the final image, which
    :meth:`metric_values` and :meth:`objective` give here).

    Parameters
    ----------
    image
        The reference image ``(C, H, W)``, finite floats.
    optimized_metric, reference_metric
        Distances ``metric(image_a, image_b)``: 0 for identical images, larger for more different ones,
        returning a scalar or one value per channel ``(C,)`` (averaged over channels, e.g.
        :func:`jaxoptic.metrics.mse`). A similarity such as :func:`jaxoptic.metrics.ssim` must be turned
        into a distance: ``lambda a, b: 1 - jo.metrics.ssim(a, b)``. Checked at construction:
        ``metric(image, image)`` must be within ``1e-4`` of 0.
    minmax
        ``"min"`` or ``"max"``: minimize or maximize ``optimized_metric``.
    metric_tradeoff_lambda
        Weight of the term that holds the reference metric. ``None`` (default) chooses, as plenoptic,
        ``10 ** round(log10(optimized_metric(image, r) / reference_metric(image, r)))`` for a random
        image ``r`` uniform in [0, 1) drawn from ``key``, and warns with the value chosen (a starting
        point; adjust it).
    initial_noise
        Standard deviation of the Gaussian noise added to ``image`` to make the default initial image
        (default 0.1, as plenoptic; no clipping).
    penalty_function
        ``image -> scalar``; default :func:`jaxoptic.penalties.range_penalty` on [0, 1].
    penalty_lambda
        Non-negative weight of the penalty (default 0.1).
    optimizer
        Any optax ``GradientTransformation``. Default: Adam with AMSGrad, learning rate 0.01, in
        PyTorch's convention (plenoptic's default ``torch.optim.Adam(lr=0.01, amsgrad=True)``; it
        differs from ``optax.amsgrad``, which keeps the maximum of the bias-corrected second moment).
        L-BFGS (``optax.lbfgs``) and other line-search optimizers get the objective as ``value_fn``.
    key
        Only used when ``metric_tradeoff_lambda`` is None: the ``jax.random.key`` of the random image
        ``r`` (``jax.random.uniform(key, image.shape, image.dtype)``); default ``jax.random.key(0)``.

    Attributes
    ----------
    metrics
        ``(metric_0, metric_1)``; ``metrics[optimized_index]`` is optimized and the other is held.
        (The roles are arrays, not the order of the metrics, so that the four images of a MAD study
        can share one compiled batch.)
    optimized_index
        0-d int32 array, 0 or 1.
    sign
        0-d array: +1 to minimize, -1 to maximize.

    Raises
    ------
    ValueError
        For a non-finite or non-3-D ``image``, an unknown ``minmax``, a metric that does not return a
        scalar or per-channel array or is not 0 on identical images, or a negative or non-finite
        ``penalty_lambda``, ``metric_tradeoff_lambda`` or ``initial_noise``.
    TypeError
        For a metric or penalty that is not callable, or an optimizer that is not an optax
        ``GradientTransformation``.

    Examples
    --------
    >>> import jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :32, :32]
    >>> def ssim_distance(a, b):
    ...     return 1 - jo.metrics.ssim(a, b)
    >>> mad = jo.MADCompetition(img, jo.metrics.mse, ssim_distance, "max", metric_tradeoff_lambda=1.0)
    >>> state, history = jo.synthesize(mad, mad.init(key=jax.random.key(0)), max_iter=10, progress=False)
    >>> bool(history.optimized_metric_loss[-1] > history.optimized_metric_loss[0])
    True
    """

    image: Float[Array, "C H W"]
    metrics: tuple[Callable, Callable]
    optimized_index: Int[Array, ""]
    sign: Float[Array, ""]
    metric_tradeoff_lambda: Float[Array, ""]
    initial_noise: Float[Array, ""]
    penalty_function: Callable
    penalty_lambda: Float[Array, ""]
    optimizer: optax.GradientTransformationExtraArgs = eqx.field(static=True)

    # Identity hash and equality, so that bound methods can be given to jax.jit (as Metamer).
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __init__(
        self,
        image,
        optimized_metric: Callable,
        reference_metric: Callable,
        minmax: Literal["min", "max"],
        metric_tradeoff_lambda: float | None = None,
        initial_noise: float = 0.1,
        penalty_function: Callable = _penalties.range_penalty,
        penalty_lambda: float = 0.1,
        optimizer: optax.GradientTransformation | None = None,
        *,
        key=None,
    ):
        check_finite_image(image, "image")
        if not isinstance(minmax, str) or minmax not in _MINMAX_SIGN:
            raise ValueError(f"`minmax` must be 'min' or 'max', got {minmax!r}.")
        image = jnp.asarray(image)
        dtype = image.dtype
        _check_metric(optimized_metric, image, "optimized_metric")
        _check_metric(reference_metric, image, "reference_metric")
        if not callable(penalty_function):
            raise TypeError(
                f"`penalty_function` must be a callable image -> scalar, got {type(penalty_function).__name__}."
            )
        _check_number(penalty_lambda, "penalty_lambda")
        _check_number(initial_noise, "initial_noise")
        if metric_tradeoff_lambda is None:
            key = jax.random.key(0) if key is None else key
            other = jax.random.uniform(key, image.shape, dtype=dtype)
            metric_tradeoff_lambda = _tradeoff_lambda(
                image, optimized_metric, reference_metric, other
            )
            shown = (
                metric_tradeoff_lambda
                if isinstance(metric_tradeoff_lambda, float)
                else "a power of 10"
            )
            warnings.warn(
                f"Since metric_tradeoff_lambda was None, automatically set to {shown} to roughly "
                "balance the metrics.",
                UserWarning,
                stacklevel=_caller_stacklevel(),
            )
        else:
            _check_number(metric_tradeoff_lambda, "metric_tradeoff_lambda")
        self.optimizer = _default_optimizer() if optimizer is None else check_optimizer(optimizer)
        self.image = image
        self.metrics = (optimized_metric, reference_metric)
        self.optimized_index = jnp.asarray(0, jnp.int32)
        self.sign = jnp.asarray(_MINMAX_SIGN[minmax], dtype)
        self.metric_tradeoff_lambda = jnp.asarray(metric_tradeoff_lambda, dtype)
        self.initial_noise = jnp.asarray(initial_noise, dtype)
        self.penalty_function = penalty_function
        self.penalty_lambda = jnp.asarray(penalty_lambda, dtype)

    # -- host-side views of the roles (unbatched methods only) ---------------------------------------
    def _role(self) -> int:
        if self.optimized_index.ndim:
            raise ValueError(
                "This MADCompetition is a batch; index a lane first, e.g. "
                "jax.tree.map(lambda x: x[i] if eqx.is_array(x) else x, method)."
            )
        return int(self.optimized_index)

    @property
    def optimized_metric(self) -> Callable:
        """The metric being minimized or maximized."""
        return self.metrics[self._role()]

    @property
    def reference_metric(self) -> Callable:
        """The metric held at its initial value."""
        return self.metrics[1 - self._role()]

    @property
    def minmax(self) -> str:
        """``"min"`` or ``"max"``."""
        self._role()
        return "min" if float(self.sign) > 0 else "max"

    # -- objective -------------------------------------------------------------------------------
    def metric_values(self, mad_image) -> tuple[Array, Array]:
        """``(optimized_metric(image, mad_image), reference_metric(image, mad_image))`` as 0-d arrays."""
        dtype = self.image.dtype
        first = _as_scalar(self.metrics[0](self.image, mad_image), dtype)
        second = _as_scalar(self.metrics[1](self.image, mad_image), dtype)
        optimized_first = self.optimized_index == 0
        return (
            jnp.where(optimized_first, first, second),
            jnp.where(optimized_first, second, first),
        )

    def _terms(self, mad_image, reference_metric_target):
        optimized, reference = self.metric_values(mad_image)
        penalty = jnp.asarray(self.penalty_function(mad_image), mad_image.dtype).reshape(())
        value = (
            self.sign * optimized
            + self.metric_tradeoff_lambda * (reference_metric_target - reference) ** 2
            + self.penalty_lambda * penalty
        )
        return value, (optimized, reference, penalty)

    def objective(self, mad_image, reference_metric_target) -> Float[Array, ""]:
        """The objective at ``mad_image`` (what the optimizer minimizes), holding the reference metric
        at ``reference_metric_target`` (``state.reference_metric_target``)."""
        return self._terms(mad_image, reference_metric_target)[0]

    # -- init / step / terminate -----------------------------------------------------------------
    def init(
        self, *, key=None, initial_image=None, stop_iters_to_check: int = DEFAULT_WINDOW
    ) -> MADCompetitionState:
        """Initial state: ``image + initial_noise * N(0, 1)`` with the noise drawn from ``key``, or
        ``initial_image``.

        Parameters
        ----------
        key
            A ``jax.random.key`` for the noise of the default initial image.
        initial_image
            Start from this image instead (same shape as ``image``; cast to its dtype).
        stop_iters_to_check
            Size of the loss window of the stopping rule (``synthesize`` resizes it if needed).
        """
        dtype = self.image.dtype
        if initial_image is None:
            if key is None:
                raise ValueError(
                    "Give `key=jax.random.key(seed)` (for the noisy initial image) or `initial_image=`."
                )
            noise = jax.random.normal(key, self.image.shape, dtype=dtype)
            x0 = self.image + self.initial_noise * noise
        else:
            check_finite_image(initial_image, "initial_image")
            if tuple(initial_image.shape) != tuple(self.image.shape):
                raise ValueError(
                    f"`initial_image` has shape {tuple(initial_image.shape)} but `image` has shape "
                    f"{tuple(self.image.shape)}; they must match."
                )
            x0 = jnp.asarray(initial_image, dtype)
        return _initial_state(self, x0, check_window(stop_iters_to_check))

    def step(self, state: MADCompetitionState) -> MADCompetitionState:
        """One optimizer step (pure, jittable). A step on a non-finite objective changes nothing but the
        status (``NONFINITE``) and falls back to the previous image."""
        x = state.image
        target = state.reference_metric_target
        value_fn = lambda im: self.objective(im, target)
        if uses_linesearch(state.opt_state):
            value = otu.tree_get(state.opt_state, "value")
            grad = otu.tree_get(state.opt_state, "grad")
            _, (optimized, reference, penalty) = self._terms(x, target)
        else:
            (value, (optimized, reference, penalty)), grad = jax.value_and_grad(
                self._terms, has_aux=True
            )(x, target)
        value = jnp.asarray(value, x.dtype).reshape(())
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
        new_x, opt_state = guarded_update(
            self.optimizer, grad, state.opt_state, x, value=value, value_fn=value_fn, finite=finite
        )
        new_x = jnp.where(finite, new_x, state.previous_image)
        status = jnp.where(finite, state.status, status_array(Status.NONFINITE))
        return MADCompetitionState(
            image=new_x,
            opt_state=opt_state,
            iteration=state.iteration + finite.astype(jnp.int32),
            loss=value,
            penalty=penalty,
            optimized_metric_loss=optimized,
            reference_metric_loss=reference,
            gradient_norm=jnp.sqrt(jnp.sum(grad**2)).astype(x.dtype),
            pixel_change_norm=jnp.sqrt(jnp.sum((new_x - x) ** 2)).astype(x.dtype),
            learning_rate=learning_rate_of(opt_state, x.dtype),
            loss_window=jnp.where(
                finite, window_push(state.loss_window, state.iteration, value), state.loss_window
            ),
            status=status,
            previous_image=jnp.where(finite, x, state.previous_image),
            initial_image=state.initial_image,
            reference_metric_target=target,
        )

    def terminate(self, state: MADCompetitionState, stop_criterion) -> tuple[Array, Array]:
        """``(done, status)``: done when the loss changed by less than ``stop_criterion`` over the
        loss window (``stop_iters_to_check`` iterations), or when the status is no longer RUNNING."""
        converged = loss_converged(state.loss_window, state.iteration, stop_criterion)
        return converged_status(state.status, converged)

    def prepare(
        self,
        state: MADCompetitionState,
        *,
        stop_iters_to_check: int,
        stop_criterion: float,
        **options,
    ):
        """Host-side, before a :func:`jaxoptic.synthesize` call: size the loss window to
        ``stop_iters_to_check`` and restart a state that ended by budget or convergence."""
        refuse_options(self, options)
        return prepare_window_and_status(state, stop_iters_to_check)

    def records(self, state: MADCompetitionState) -> dict[str, Array]:
        """Per-iteration quantities the driver stores in the history (all 0-d arrays)."""
        return {
            "losses": state.loss,
            "penalties": state.penalty,
            "optimized_metric_loss": state.optimized_metric_loss,
            "reference_metric_loss": state.reference_metric_loss,
            "gradient_norm": state.gradient_norm,
            "pixel_change_norm": state.pixel_change_norm,
            "learning_rate": state.learning_rate,
        }


@eqx.filter_jit
def _initial_state(method: MADCompetition, x0, window: int) -> MADCompetitionState:
    """The state at ``x0`` (compiled once per method structure and shape, not op by op)."""
    dtype = x0.dtype
    _, target = method.metric_values(x0)
    opt_state = method.optimizer.init(x0)
    value, (optimized, reference, penalty) = method._terms(x0, target)
    if uses_linesearch(opt_state):
        grad = jax.grad(method.objective)(x0, target)
        opt_state = otu.tree_set(opt_state, value=value, grad=grad)
    nan = jnp.asarray(jnp.nan, dtype)
    return MADCompetitionState(
        image=x0,
        opt_state=strong_types(opt_state),
        iteration=jnp.asarray(0, jnp.int32),
        loss=value,
        penalty=penalty,
        optimized_metric_loss=optimized,
        reference_metric_loss=reference,
        gradient_norm=nan,
        pixel_change_norm=nan,
        learning_rate=learning_rate_of(opt_state, dtype),
        loss_window=jnp.full((window,), jnp.nan, dtype),
        status=status_array(Status.RUNNING),
        previous_image=x0,
        initial_image=x0,
        reference_metric_target=target,
    )
