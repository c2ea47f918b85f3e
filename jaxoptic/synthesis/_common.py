"""Pieces shared by the synthesis methods: argument checks, optimizer plumbing, the stopping window."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu

from .._arrays import constant
from .._validation import check_image
from ..optimizers import LBFGSState
from ._status import Status

DEFAULT_WINDOW = 50  # plenoptic's default stop_iters_to_check


def all_finite(tree) -> bool:
    """True when every array leaf of a concrete pytree is finite (checked on the host: as JAX ops,
    each new shape would compile two small programs)."""
    return all(
        bool(np.all(np.isfinite(np.asarray(leaf))))
        for leaf in jax.tree.leaves(tree)
        if eqx.is_array(leaf)
    )


def check_finite_image(x, name: str) -> None:
    """A concrete image must be a finite float array ``(C, H, W)`` (ValueError naming ``name`` otherwise)."""
    check_image(x, name)
    if not isinstance(x, jax.core.Tracer) and not all_finite(x):
        raise ValueError(f"`{name}` contains NaN or Inf values; synthesis needs a finite image.")


def check_optimizer(optimizer) -> optax.GradientTransformationExtraArgs:
    """Accept any optax GradientTransformation (TypeError otherwise) and give it extra-args support."""
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"`optimizer` must be an optax GradientTransformation (e.g. optax.adam(0.01) or optax.lbfgs()), "
            f"got {type(optimizer).__name__}."
        )
    return _with_extra_args(optimizer)


@functools.lru_cache(maxsize=256)
def _with_extra_args(optimizer) -> optax.GradientTransformationExtraArgs:
    # cached: the optimizer is a static field of a method, so the same optimizer must give the same
    # wrapper or every new method would compile again
    return optax.with_extra_args_support(optimizer)


@functools.cache
def default_adam() -> optax.GradientTransformationExtraArgs:
    """``optax.adam(0.01)``, one shared instance (methods built with it share compiled programs)."""
    return check_optimizer(optax.adam(0.01))


def uses_linesearch(opt_state) -> bool:
    """True for optimizers (optax.lbfgs & co.) that keep the value and gradient of the iterate in their state."""
    return (
        otu.tree_get(opt_state, "value", None) is not None
        and otu.tree_get(opt_state, "grad", None) is not None
    )


def strong_types(tree):
    """Drop weak types from every array leaf (weak-typed optimizer states make jit compile twice)."""
    return jax.tree.map(
        lambda a: jnp.asarray(a, dtype=a.dtype) if isinstance(a, jax.Array) else a, tree
    )


def learning_rate_of(opt_state, dtype) -> jax.Array:
    """The learning rate the optimizer exposes in its state (line-search step, injected hyperparameter
    times a plateau scale), or NaN."""
    lr = None
    for key in ("learning_rate",):
        try:
            lr = otu.tree_get(opt_state, key, None)
        except KeyError:  # several matches: ambiguous, do not guess
            lr = None
    scale = None
    try:
        scale = otu.tree_get(opt_state, "scale", None)
    except KeyError:
        scale = None
    if lr is None:
        return jnp.asarray(jnp.nan, dtype)
    lr = jnp.asarray(lr, dtype).reshape(())
    if scale is not None:
        lr = lr * jnp.asarray(scale, dtype).reshape(())
    return lr


def window_push(window: jax.Array, iteration: jax.Array, loss: jax.Array) -> jax.Array:
    """Write the loss of iteration ``iteration`` into the ring buffer of recent losses."""
    return window.at[iteration % window.shape[0]].set(loss.astype(window.dtype))


def loss_converged(window: jax.Array, iteration: jax.Array, stop_criterion) -> jax.Array:
    """plenoptic's rule: after ``n = len(window)`` iterations, stop when ``|loss[k - n + 1] - loss[k]| <
    stop_criterion`` where ``k = iteration - 1`` is the last recorded loss (two points, not a max)."""
    n = window.shape[0]
    k = iteration - 1
    latest = window[k % n]
    oldest = window[(k + 1) % n]
    return (k >= n) & (jnp.abs(oldest - latest) < stop_criterion)


def resize_window(window: np.ndarray, iteration: int, size: int) -> np.ndarray:
    """Host-side: a ring buffer of ``size`` slots holding the same most recent losses (NaN where unknown)."""
    window = np.asarray(window)
    old = window.shape[-1]
    new = np.full((*window.shape[:-1], size), np.nan, dtype=window.dtype)
    its = np.asarray(iteration)
    for idx in np.ndindex(its.shape):
        k = int(its[idx])
        for j in range(min(old, size, k)):
            it = k - 1 - j
            new[(*idx, it % size)] = window[(*idx, it % old)]
    return new


def status_array(status: Status) -> jax.Array:
    return jnp.asarray(int(status), jnp.int32)


def prepare_window_and_status(state, window: int, field: str = "loss_window"):
    """Resize a ring buffer of recent losses to ``window`` slots and restart lanes that ended by budget
    or convergence (host-side, between synthesize calls)."""
    ring = getattr(state, field)
    if ring.shape[-1] != window:
        new = resize_window(np.asarray(ring), np.asarray(state.iteration), window)
        state = eqx.tree_at(lambda s: getattr(s, field), state, constant(new.astype(ring.dtype)))
    # on the host: as JAX operations these would compile small programs
    status = np.asarray(state.status)
    restart = (status == int(Status.MAX_ITER)) | (status == int(Status.CONVERGED))
    return eqx.tree_at(
        lambda s: s.status, state, constant(np.where(restart, np.int32(Status.RUNNING), status))
    )


def guarded_update(optimizer, grad, opt_state, x, *, value, value_fn, finite):
    """One optimizer update, undone where ``finite`` is False: ``(new_x, new_opt_state)``.

    Every gradient-based method steps this way: a non-finite objective or gradient must leave the
    image and the optimizer state as they were (the driver then stops with ``NONFINITE``).
    :func:`jaxoptic.optimizers.lbfgs` is told (``commit=finite``) and leaves its state unchanged
    itself, touching one row of its history; other optimizers' states are selected whole."""
    if isinstance(opt_state, LBFGSState):
        updates, new_opt = optimizer.update(
            grad, opt_state, x, value=value, grad=grad, value_fn=value_fn, commit=finite
        )
        new_x = optax.apply_updates(x, updates).astype(x.dtype)
        return jnp.where(finite, new_x, x), new_opt
    updates, new_opt = optimizer.update(
        grad, opt_state, x, value=value, grad=grad, value_fn=value_fn
    )
    new_x = optax.apply_updates(x, updates).astype(x.dtype)
    return jax.tree.map(lambda a, b: jnp.where(finite, a, b), (new_x, new_opt), (x, opt_state))


def refuse_options(method, options: dict) -> None:
    """``prepare``'s check: TypeError naming the ``synthesize`` options ``method`` does not take."""
    if options:
        raise TypeError(
            f"{type(method).__name__} does not take the synthesize option(s) {sorted(options)}."
        )


def converged_status(status, converged) -> tuple[jax.Array, jax.Array]:
    """``terminate``'s result: a running lane whose rule fired becomes CONVERGED; ``(done, status)``."""
    running = status == int(Status.RUNNING)
    status = jnp.where(running & converged, status_array(Status.CONVERGED), status)
    return status != int(Status.RUNNING), status
