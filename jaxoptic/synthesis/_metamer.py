"""Metamer synthesis: find an image whose model representation matches the target's."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from jaxtyping import Array, Float, Int, PyTree

from .. import losses as _losses
from .. import penalties as _penalties
from .._arrays import constant
from .._validation import check_scalar, check_window
from ..optimizers import LBFGSState
from ._common import (
    DEFAULT_WINDOW,
    all_finite,
    check_finite_image,
    check_optimizer,
    converged_status,
    default_adam,
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


@eqx.filter_jit
def _initial_gradient(method, x0):
    """The objective's gradient at the initial image, compiled (op by op, a model like
    Portilla-Simoncelli costs seconds and over a GB of memory). Only optimizers that need it before
    their first update (``optax.lbfgs``) pay this compilation."""
    return jax.grad(method.objective)(x0)


@eqx.filter_jit
def _compiled_representation(model, image):
    return model(image)


def _representation(model, image):
    """``model(image)`` compiled once per model structure and image shape (not once per Metamer).
    A model whose call is compiled already (``_compiled_call``, e.g. PortillaSimoncelli) is called
    directly, so that a user's ``model(image)`` and the synthesis share one program."""
    if getattr(model, "_compiled_call", False):
        return model(image)
    return _compiled_representation(model, image)


@eqx.filter_jit
def _initial_optimizer_state(optimizer, x0):
    """``optimizer.init(x0)`` with strong types, compiled (op by op, every zeros array of the state
    would compile a small program of its own)."""
    return strong_types(optimizer.init(x0))


@eqx.filter_jit
def _loss_and_penalty_of(method, representation, image):
    """Loss of a representation against the method's target, and the penalty of ``image``."""
    loss = method.loss_function(representation, method.target_representation)
    penalty = method.penalty_function(image)
    dtype = image.dtype
    return jnp.asarray(loss, dtype).reshape(()), jnp.asarray(penalty, dtype).reshape(())


class MetamerState(eqx.Module):
    """Everything that changes during metamer synthesis (a pytree; checkpoint it, vmap it).

    Attributes
    ----------
    image
        The current metamer ``(C, H, W)``.
    opt_state
        The optax optimizer state.
    iteration
        Number of steps taken (0-d int32).
    loss, penalty, gradient_norm, pixel_change_norm, learning_rate
        Records of the last step: the objective and penalty at the image *before* the step, the
        gradient norm there, the norm of the pixel change the step made, and the optimizer's
        learning rate (NaN when the optimizer does not expose one). After ``init`` they describe the
        initial image (gradient and pixel change NaN).
    loss_window
        Ring buffer of the most recent losses, used by the stopping rule.
    status
        A :class:`jaxoptic.Status` as 0-d int32.
    previous_image
        The image before the last step (the state falls back to it if the objective becomes non-finite).
    """

    image: Float[Array, "C H W"]
    opt_state: PyTree
    iteration: Int[Array, ""]
    loss: Float[Array, ""]
    penalty: Float[Array, ""]
    gradient_norm: Float[Array, ""]
    pixel_change_norm: Float[Array, ""]
    learning_rate: Float[Array, ""]
    loss_window: Float[Array, " n"]
    status: Int[Array, ""]
    previous_image: Float[Array, "C H W"]


class Metamer(eqx.Module):
    """Metamer synthesis (Portilla & Simoncelli 2000; Freeman & Simoncelli 2011): an image whose
    representation under ``model`` matches that of ``image``.

    The objective is ``loss_function(model(x), model(image)) + penalty_lambda * penalty_function(x)``,
    minimised over ``x`` with an optax optimizer. The module holds configuration only; the changing
    quantities live in a :class:`MetamerState` made by :meth:`init` and advanced by the pure
    :meth:`step`. Run many steps with :func:`jaxoptic.synthesize`.

    Parameters
    ----------
    image
        Target image ``(C, H, W)``, finite floats.
    model
        Callable ``image -> representation`` (array or pytree), e.g. a :mod:`jaxoptic.models` module.
    loss_function
        ``(synth_rep, target_rep) -> scalar``; default :func:`jaxoptic.losses.mse`.
    penalty_function
        ``image -> scalar``; default :func:`jaxoptic.penalties.range_penalty` on [0, 1].
    penalty_lambda
        Non-negative weight of the penalty (default 0.1).
    optimizer
        Any optax ``GradientTransformation``; default ``optax.adam(0.01)``. L-BFGS (``optax.lbfgs``)
        and other line-search optimizers get the objective as ``value_fn``; ``reduce_on_plateau``
        gets ``value``.

    Examples
    --------
    >>> import jax, optax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :32, :32]
    >>> met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0), optimizer=optax.adam(0.05))
    >>> state = met.init(key=jax.random.key(0))
    >>> state = jax.jit(met.step)(state)
    >>> int(state.iteration)
    1
    """

    image: Float[Array, "C H W"]
    model: Callable
    target_representation: PyTree
    loss_function: Callable
    penalty_function: Callable
    penalty_lambda: Float[Array, ""]
    optimizer: optax.GradientTransformationExtraArgs = eqx.field(static=True)

    # With :func:`jaxoptic.optimizers.lbfgs`, ``init`` leaves the optimizer's value and gradient
    # unset and the first step evaluates them (one compiled gradient, inside the loop).
    _defer_first_evaluation: ClassVar[bool] = True

    # Identity hash and equality, so that bound methods can be given to jax.jit
    # (``jax.jit(met.step)``): JAX hashes the function, and a module holding arrays has no value hash.
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __init__(
        self,
        image,
        model,
        loss_function: Callable = _losses.mse,
        penalty_function: Callable = _penalties.range_penalty,
        penalty_lambda: float = 0.1,
        optimizer: optax.GradientTransformation | None = None,
    ):
        check_finite_image(image, "image")
        if not callable(model):
            raise TypeError(
                f"`model` must be callable (image -> representation), got {type(model).__name__}."
            )
        if not callable(loss_function) or not callable(penalty_function):
            raise TypeError("`loss_function` and `penalty_function` must be callables.")
        check_scalar(penalty_lambda, "penalty_lambda", minimum=0.0)
        self.optimizer = default_adam() if optimizer is None else check_optimizer(optimizer)
        self.image = jnp.asarray(image)
        self.model = model
        self.loss_function = loss_function
        self.penalty_function = penalty_function
        self.penalty_lambda = jnp.asarray(penalty_lambda, self.image.dtype)
        target = _representation(model, self.image)
        if not isinstance(self.image, jax.core.Tracer):
            if not all_finite(target):
                raise ValueError(
                    "The model's representation of `image` contains NaN or Inf; check the model and the image."
                )
        self.target_representation = target

    # -- objective -------------------------------------------------------------------------------
    def _initial_loss_and_penalty(self, x0) -> tuple[Array, Array]:
        """Loss and penalty of the initial image, through the compiled ``model(image)`` the target
        representation already used: only the loss on representations and the penalty compile."""
        return _loss_and_penalty_of(self, _representation(self.model, x0), x0)

    def loss_and_penalty(self, image) -> tuple[Array, Array]:
        """The representation loss and the penalty of ``image`` (before weighting)."""
        loss = self.loss_function(self.model(image), self.target_representation)
        penalty = self.penalty_function(image)
        return jnp.asarray(loss, image.dtype).reshape(()), jnp.asarray(
            penalty, image.dtype
        ).reshape(())

    def objective(self, image) -> Float[Array, ""]:
        """``loss + penalty_lambda * penalty`` at ``image`` (what the optimizer minimises)."""
        loss, penalty = self.loss_and_penalty(image)
        return loss + self.penalty_lambda * penalty

    # -- init / step / terminate -----------------------------------------------------------------
    def init(
        self, *, key=None, initial_image=None, stop_iters_to_check: int = DEFAULT_WINDOW
    ) -> MetamerState:
        """Initial state: ``initial_image``, or uniform noise in [0, 1] drawn from ``key``.

        Parameters
        ----------
        key
            A ``jax.random.key`` for the default initial image.
        initial_image
            Start from this image instead (same shape and dtype as the target).
        stop_iters_to_check
            Size of the loss window of the stopping rule (``synthesize`` resizes it if needed).
        """
        stop_iters_to_check = check_window(stop_iters_to_check)
        if initial_image is None:
            if key is None:
                raise ValueError(
                    "Give `key=jax.random.key(seed)` (for a uniform-noise start) or `initial_image=`."
                )
            x0 = jax.random.uniform(key, self.image.shape, dtype=self.image.dtype)
        else:
            check_finite_image(initial_image, "initial_image")
            if tuple(initial_image.shape) != tuple(self.image.shape):
                raise ValueError(
                    f"`initial_image` has shape {tuple(initial_image.shape)} but the target image has shape "
                    f"{tuple(self.image.shape)}; they must match."
                )
            x0 = jnp.asarray(initial_image, self.image.dtype)
        opt_state = _initial_optimizer_state(self.optimizer, x0)
        loss, penalty = self._initial_loss_and_penalty(x0)
        value = loss + self.penalty_lambda * penalty
        deferred = self._defer_first_evaluation and isinstance(opt_state, LBFGSState)
        if uses_linesearch(opt_state) and not deferred:
            opt_state = otu.tree_set(opt_state, value=value, grad=_initial_gradient(self, x0))
        dtype = np.dtype(self.image.dtype)
        nan = constant(np.asarray(np.nan, dtype))
        return MetamerState(
            image=x0,
            opt_state=strong_types(opt_state),
            iteration=constant(np.int32(0)),
            loss=value,
            penalty=penalty,
            gradient_norm=nan,
            pixel_change_norm=nan,
            learning_rate=learning_rate_of(opt_state, dtype),
            loss_window=constant(np.full((int(stop_iters_to_check),), np.nan, dtype)),
            status=constant(np.int32(Status.RUNNING)),
            previous_image=x0,
        )

    def step(self, state: MetamerState) -> MetamerState:
        """One optimizer step (pure, jittable). A step on a non-finite objective changes nothing but the
        status (``NONFINITE``) and falls back to the previous image."""
        x = state.image
        penalty = self.penalty_function(x)
        linesearch = uses_linesearch(state.opt_state)
        pending = jnp.asarray(False)
        if linesearch:
            value = otu.tree_get(state.opt_state, "value")
            grad = otu.tree_get(state.opt_state, "grad")
            if isinstance(state.opt_state, LBFGSState):
                # value and gradient not evaluated yet: this step's update evaluates them at x
                pending = (state.opt_state.evaluations == 0) & (state.opt_state.value == jnp.inf)
        else:
            value, grad = jax.value_and_grad(self.objective)(x)
        value = jnp.asarray(value, x.dtype).reshape(())
        penalty = jnp.asarray(penalty, x.dtype).reshape(())
        finite = pending | (jnp.isfinite(value) & jnp.all(jnp.isfinite(grad)))
        new_x, opt_state = guarded_update(
            self.optimizer,
            grad,
            state.opt_state,
            x,
            value=value,
            value_fn=self.objective,
            finite=finite,
        )
        if isinstance(state.opt_state, LBFGSState):
            # The evaluation a pending step made is the record of this step (image unchanged). The
            # optimizer does not keep a non-finite one: its state is then still unset.
            unset = pending & (opt_state.evaluations == 0)
            value = jnp.where(pending, opt_state.value, value)
            value = jnp.where(unset, jnp.nan, value).astype(x.dtype)
            grad = jnp.where(pending, opt_state.grad, grad)
            grad = jnp.where(unset, jnp.nan, grad)
            finite = finite & ~unset
        new_x = jnp.where(finite, new_x, state.previous_image)
        status = jnp.where(finite, state.status, status_array(Status.NONFINITE))
        return MetamerState(
            image=new_x,
            opt_state=opt_state,
            iteration=state.iteration + finite.astype(jnp.int32),
            loss=value,
            penalty=penalty,
            gradient_norm=jnp.sqrt(jnp.sum(grad**2)).astype(x.dtype),
            pixel_change_norm=jnp.sqrt(jnp.sum((new_x - x) ** 2)).astype(x.dtype),
            learning_rate=learning_rate_of(opt_state, x.dtype),
            loss_window=jnp.where(
                finite, window_push(state.loss_window, state.iteration, value), state.loss_window
            ),
            status=status,
            previous_image=jnp.where(finite, x, state.previous_image),
        )

    def terminate(self, state: MetamerState, stop_criterion) -> tuple[Array, Array]:
        """``(done, status)``: done when the loss changed by less than ``stop_criterion`` over the
        loss window (``stop_iters_to_check`` iterations), or when the status is no longer RUNNING."""
        converged = loss_converged(state.loss_window, state.iteration, stop_criterion)
        return converged_status(state.status, converged)

    def prepare(
        self, state: MetamerState, *, stop_iters_to_check: int, stop_criterion: float, **options
    ):
        """Host-side, before a :func:`jaxoptic.synthesize` call: size the loss window to
        ``stop_iters_to_check`` and restart a state that ended by budget or convergence."""
        refuse_options(self, options)
        return prepare_window_and_status(state, stop_iters_to_check)

    def records(self, state: MetamerState) -> dict[str, Array]:
        """Per-iteration quantities the driver stores in the history (all 0-d arrays)."""
        return {
            "losses": state.loss,
            "penalties": state.penalty,
            "gradient_norm": state.gradient_norm,
            "pixel_change_norm": state.pixel_change_norm,
            "learning_rate": state.learning_rate,
        }
