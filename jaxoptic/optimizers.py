"""Optimizers built for synthesis: an L-BFGS whose every update costs exactly one evaluation, and
Adam with AMSGrad as PyTorch (hence plenoptic) computes it.

``optax.lbfgs`` runs a whole line search inside each ``update``: a ``while_loop`` whose body is a
``lax.cond`` between the interval search and the zoom, each branch evaluating the objective. Under
``jax.vmap`` (a batch of independent syntheses) a ``cond`` with a batched predicate runs *both*
branches and the ``while_loop`` runs until the slowest image of the batch has finished its line
search, so a batch does several times the work of the same images run one by one.

:func:`lbfgs` takes the same L-BFGS steps (optax's ``scale_by_lbfgs`` for the direction, the zoom
line search of Nocedal & Wright, Algorithms 3.5-3.6, with optax's criteria and defaults) but turns the
line search inside out: one ``update`` evaluates the objective once, at the current trial step, and
moves the line search state on with ``jnp.where`` logic, no ``cond`` on the evaluation. The
parameters change only when the line search accepts a step, otherwise the update is zero. Every
image of a batch therefore does useful work at every evaluation and advances at its own pace.

The price is the unit of counting: one ``update`` (one synthesis iteration) is one evaluation, not
one accepted L-BFGS step; ``state.iterations`` counts accepted steps and ``state.evaluations`` all
evaluations.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

__all__ = ["AMSGradState", "LBFGSState", "LineSearchState", "amsgrad", "lbfgs"]


class LineSearchState(NamedTuple):
    """The zoom line search between two evaluations (all 0-d arrays but ``safe_grad``)."""

    steps: Array  # evaluations spent on this line search
    value_init: Array  # objective and slope at the current iterate
    slope_init: Array
    prev_stepsize: Array  # last trial (interval search phase)
    prev_value: Array
    prev_slope: Array
    interval_found: Array
    low: Array  # bracketing interval (zoom phase); value(low) <= value(high)
    value_low: Array
    slope_low: Array
    high: Array
    value_high: Array
    slope_high: Array
    cubic_ref: Array
    value_cubic_ref: Array
    safe_stepsize: Array  # best step with sufficient decrease (used when the search fails)
    safe_value: Array
    safe_grad: Any
    decrease_error: Array
    curvature_error: Array


class LBFGSState(NamedTuple):
    """State of :func:`lbfgs`.

    ``value`` and ``grad`` are the objective and its gradient at the current parameters (the
    synthesis methods read them from here instead of evaluating again); ``learning_rate`` is the last
    accepted step size; ``iterations`` counts accepted L-BFGS steps and ``evaluations`` objective
    evaluations.
    """

    value: Array
    grad: Any
    learning_rate: Array
    direction: Any
    needs_direction: Array
    iterations: Array
    evaluations: Array
    last_linesearch_steps: Array
    lbfgs: optax.ScaleByLBFGSState
    linesearch: LineSearchState


def _vdot(a, b):
    return optax.tree.real(optax.tree.vdot(a, b))


def _cubicmin(a, fa, fpa, b, fb, c, fc):
    """Critical point of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a (NaN if none)."""
    db, dc = b - a, c - a
    denom = (db * dc) ** 2 * (db - dc)
    r1 = fb - fa - fpa * db
    r2 = fc - fa - fpa * dc
    big_a = (dc**2 * r1 - db**2 * r2) / denom
    big_b = (-(dc**3) * r1 + db**3 * r2) / denom
    radical = big_b * big_b - 3.0 * big_a * fpa
    return a + (-big_b + jnp.sqrt(radical)) / (3.0 * big_a)


def _quadmin(a, fa, fpa, b, fb):
    """Critical point of the quadratic through (a, fa), (b, fb) with slope fpa at a."""
    db = b - a
    curvature = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curvature)


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1, got {value!r}.")
    return int(value)


def _check_number(value, name, low, high=np.inf, *, open_low=False, open_high=False) -> float:
    """A real number in [low, high] (open ends where asked); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"`{name}` must be a number, got {value!r}.")
    v = float(value)
    above = v > low if open_low else v >= low
    below = v < high if open_high else v <= high
    if not (np.isfinite(v) and above and below):
        raise ValueError(
            f"`{name}` must be a finite number {_range_text(low, high, open_low, open_high)}, "
            f"got {value!r}."
        )
    return v


def _range_text(low, high, open_low: bool, open_high: bool) -> str:
    """``in [0, 1)``, or ``> 1`` / ``>= 0`` for a range without an upper bound."""
    if np.isinf(high):
        return f"{'>' if open_low else '>='} {low:g}"
    lo, hi = ("(" if open_low else "["), (")" if open_high else "]")
    return f"in {lo}{low:g}, {high:g}{hi}"


def lbfgs(
    memory_size: int = 10,
    *,
    max_linesearch_steps: int = 20,
    max_stepsize: float | None = None,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: float | None = 1e-6,
    stepsize_precision: float = 1e-5,
    scale_init_precond: bool = True,
) -> optax.GradientTransformationExtraArgs:
    r"""L-BFGS with a zoom line search, one objective evaluation per ``update``.

    The steps are those of ``optax.lbfgs(memory_size=memory_size)`` with its default zoom line search
    (strong Wolfe conditions, initial step 1): the direction comes from ``optax.scale_by_lbfgs``, and
    the line search reproduces optax's interval search and zoom (cubic, quadratic or bisection
    interpolation, the approximate-Wolfe decrease criterion of Hager & Zhang, and the fall-back to
    the best step with sufficient decrease when the search runs out of steps). What differs is the
    schedule: each ``update`` makes one evaluation, at the current trial step, so the optimizer never
    runs a loop or a ``lax.cond`` around the objective. Batches of independent problems under
    ``jax.vmap`` then cost one batched evaluation per update, with no wasted branches and no waiting
    for the slowest line search.

    The returned update is zero until the line search accepts a step; then it moves the parameters
    to the accepted point. The objective and gradient at the current parameters are kept in the
    state as ``value`` and ``grad``; ``update`` must receive ``value_fn`` (the objective). Either
    set them after ``init`` with ``optax.tree_utils.tree_set``, or leave them unset: then the first
    ``update`` evaluates the objective at the parameters, stores value and gradient and returns a
    zero update (:class:`jaxoptic.Metamer` does this, so that the objective's gradient is compiled
    once, inside the synthesis loop, and not a second time for the initial image).

    Calls with the same settings return the same object, so that synthesis methods built with it
    (where the optimizer is a static field) share one compiled program.

    Parameters
    ----------
    memory_size
        Number of curvature pairs kept (``optax.scale_by_lbfgs``).
    max_linesearch_steps
        Evaluations after which a line search gives up and takes its best step with sufficient
        decrease (optax's fall-back).
    max_stepsize
        Upper bound on the step size (``None``: unbounded).
    increase_factor, slope_rtol, curv_rtol, approx_dec_rtol, stepsize_precision
        The zoom line search's settings, as in ``optax.scale_by_zoom_linesearch``.
    scale_init_precond
        Scale the initial inverse-Hessian estimate (``optax.scale_by_lbfgs``).

    Returns
    -------
    optax.GradientTransformationExtraArgs
        ``init(params)`` and ``update(updates, state, params, *, value, grad, value_fn,
        commit=True, **kw)``; extra keyword arguments are passed on to ``value_fn``. With
        ``commit=False`` (a traced boolean) the update is zero and the state comes back unchanged:
        the synthesis methods' guard against a non-finite objective. The guard is applied inside,
        so that the curvature history (``memory_size`` pairs of parameter-sized arrays) is written
        one row per accepted step and never selected or copied whole, also under ``jax.vmap``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, optax
    >>> import optax.tree_utils as otu
    >>> import jaxoptic as jo
    >>> f = lambda x: jnp.sum((x - 3.0) ** 2 * jnp.arange(1.0, 5.0))
    >>> opt = jo.optimizers.lbfgs()
    >>> x = jnp.zeros(4)
    >>> state = otu.tree_set(opt.init(x), value=f(x), grad=jax.grad(f)(x))
    >>> for _ in range(12):
    ...     v, g = otu.tree_get(state, "value"), otu.tree_get(state, "grad")
    ...     updates, state = opt.update(g, state, x, value=v, grad=g, value_fn=f)
    ...     x = optax.apply_updates(x, updates)
    >>> bool(jnp.allclose(x, 3.0, atol=1e-3)), int(state.evaluations)
    (True, 12)
    """
    return _lbfgs(
        _check_positive_int(memory_size, "memory_size"),
        max_linesearch_steps=_check_positive_int(max_linesearch_steps, "max_linesearch_steps"),
        max_stepsize=None
        if max_stepsize is None
        else _check_number(max_stepsize, "max_stepsize", 0.0, open_low=True),
        increase_factor=_check_number(increase_factor, "increase_factor", 1.0, open_low=True),
        slope_rtol=_check_number(slope_rtol, "slope_rtol", 0.0, 1.0, open_low=True, open_high=True),
        curv_rtol=_check_number(curv_rtol, "curv_rtol", 0.0, 1.0, open_low=True, open_high=True),
        approx_dec_rtol=None
        if approx_dec_rtol is None
        else _check_number(approx_dec_rtol, "approx_dec_rtol", 0.0),
        stepsize_precision=_check_number(stepsize_precision, "stepsize_precision", 0.0),
        scale_init_precond=bool(scale_init_precond),
    )


@functools.lru_cache(maxsize=64)
def _lbfgs(
    memory_size: int = 10,
    *,
    max_linesearch_steps: int = 20,
    max_stepsize: float | None = None,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: float | None = 1e-6,
    stepsize_precision: float = 1e-5,
    scale_init_precond: bool = True,
) -> optax.GradientTransformationExtraArgs:
    """The cached implementation of :func:`lbfgs` (arguments already checked)."""
    inner = optax.scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond)

    def remember(lb: optax.ScaleByLBFGSState, grad, params, write):
        """Step 1-2 of ``optax.scale_by_lbfgs``'s update (the curvature pair of the last accepted
        step and the scale of the initial inverse Hessian), with the same arithmetic, but the pair is
        written into one row of the history only where ``write`` holds: the other rows are not
        touched, so a batch or a guarded step never copies or selects the whole history (26 MB at
        256x256 with 50 pairs)."""
        prev = (lb.count - 1) % memory_size
        diff_params = optax.tree.sub(params, lb.params)
        diff_updates = optax.tree.sub(grad, lb.updates)
        curvature = optax.tree.real(optax.tree.vdot(diff_updates, diff_params))
        weight = jnp.where(curvature == 0.0, 0.0, 1.0 / curvature)
        diff_params, diff_updates, weight = jax.tree.map(
            lambda x: jnp.where(lb.count > 0, x, jnp.zeros_like(x)),
            (diff_params, diff_updates, weight),
        )

        def put(memory, row):
            row = jnp.asarray(row, memory.dtype)
            return memory.at[prev].set(jnp.where(write, row, memory[prev]))

        diff_params_memory, diff_updates_memory, weights_memory = jax.tree.map(
            put,
            (lb.diff_params_memory, lb.diff_updates_memory, lb.weights_memory),
            (diff_params, diff_updates, weight),
        )
        if scale_init_precond:
            numerator = optax.tree.real(optax.tree.vdot(diff_updates, diff_params))
            denominator = optax.tree.norm(diff_updates, squared=True)
            identity_scale = jnp.where(denominator > 0.0, numerator / denominator, 1.0)
            capped_inv_norm = jnp.minimum(1.0, 1.0 / optax.tree.norm(grad))
            identity_scale = jnp.where(lb.count > 0, identity_scale, capped_inv_norm)
        else:
            identity_scale = 1.0
        new = optax.ScaleByLBFGSState(
            count=jnp.where(write, optax.safe_increment(lb.count), lb.count),
            params=optax.tree.where(write, params, lb.params),
            updates=optax.tree.where(write, grad, lb.updates),
            diff_params_memory=diff_params_memory,
            diff_updates_memory=diff_updates_memory,
            weights_memory=weights_memory,
        )
        return new, identity_scale

    def precondition(grad, lb: optax.ScaleByLBFGSState, identity_scale, memory_idx):
        """The two-loop recursion of ``optax.scale_by_lbfgs`` (Nocedal & Wright, Algorithm 7.4),
        same operations in the same order: ``P grad`` for the history ``lb``."""
        rhos = lb.weights_memory
        indices = (memory_idx + jnp.arange(memory_size)) % memory_size

        def row(idx):
            return jax.tree.map(lambda x: x[idx], (lb.diff_params_memory, lb.diff_updates_memory))

        def right_product(vec, idx):
            dwi, dui = row(idx)
            alpha = rhos[idx] * optax.tree.real(optax.tree.vdot(dwi, vec))
            return optax.tree.cast_like(optax.tree.add_scale(vec, -alpha, dui), vec), alpha

        vec, alphas = jax.lax.scan(right_product, grad, indices, reverse=True)
        vec = optax.tree.scale(identity_scale, vec)

        def left_product(vec, idx_alpha):
            idx, alpha = idx_alpha
            dwi, dui = row(idx)
            beta = rhos[idx] * optax.tree.real(optax.tree.vdot(dui, vec))
            return optax.tree.cast_like(optax.tree.add_scale(vec, alpha - beta, dwi), vec), beta

        vec, _ = jax.lax.scan(left_product, vec, (indices, alphas))
        return vec

    def decrease_error(stepsize, value, slope, value_init, slope_init):
        err = value - value_init - slope_rtol * stepsize * slope_init
        if approx_dec_rtol is not None:
            approx = slope - (2 * slope_rtol - 1.0) * slope_init
            approx = jnp.maximum(approx, value - value_init - approx_dec_rtol * jnp.abs(value_init))
            err = jnp.minimum(approx, err)
        err = jnp.maximum(err, 0.0)
        return jnp.where(jnp.isnan(err), jnp.inf, err)

    def curvature_error(slope, slope_init):
        err = jnp.maximum(jnp.abs(slope) - curv_rtol * jnp.abs(slope_init), 0.0)
        return jnp.where(jnp.isnan(err), jnp.inf, err)

    def fresh_linesearch(value, slope, grad) -> LineSearchState:
        dt = jnp.asarray(value).dtype
        zero = jnp.zeros((), dt)
        inf = jnp.asarray(jnp.inf, dt)
        value = jnp.asarray(value, dt)
        slope = jnp.asarray(slope, dt)
        return LineSearchState(
            steps=jnp.asarray(0, jnp.int32),
            value_init=value,
            slope_init=slope,
            prev_stepsize=zero,
            prev_value=value,
            prev_slope=slope,
            interval_found=jnp.asarray(False),
            low=zero,
            value_low=value,
            slope_low=slope,
            high=zero,
            value_high=value,
            slope_high=slope,
            cubic_ref=zero,
            value_cubic_ref=value,
            safe_stepsize=zero,
            safe_value=value,
            safe_grad=grad,
            decrease_error=inf,
            curvature_error=inf,
        )

    def trial_stepsize(ls: LineSearchState):
        """The next step size to evaluate: interval search (grow) or zoom (interpolate)."""
        # interval search: 1 first, then grow
        search = jnp.where(ls.steps == 0, jnp.ones_like(ls.low), increase_factor * ls.prev_stepsize)
        if max_stepsize is not None:
            search = jnp.minimum(search, max_stepsize)
        # zoom: cubic, else quadratic, else bisection
        low, high = ls.low, ls.high
        delta = jnp.abs(high - low)
        left, right = jnp.minimum(high, low), jnp.maximum(high, low)
        cubic = _cubicmin(
            low, ls.value_low, ls.slope_low, high, ls.value_high, ls.cubic_ref, ls.value_cubic_ref
        )
        use_cubic = (cubic > left + 0.2 * delta) & (cubic < right - 0.2 * delta)
        quad = _quadmin(low, ls.value_low, ls.slope_low, high, ls.value_high)
        use_quad = ~use_cubic & (quad > left + 0.1 * delta) & (quad < right - 0.1 * delta)
        middle = jnp.where(use_cubic, cubic, ls.cubic_ref)
        middle = jnp.where(use_quad, quad, middle)
        middle = jnp.where(~use_cubic & ~use_quad, (low + high) / 2.0, middle)
        return jnp.where(ls.interval_found, middle, search).astype(ls.low.dtype)

    def absorb(ls: LineSearchState, t, value, grad, slope):
        """Move the line search on with the evaluation at step ``t``: (state, done, failed)."""
        where = optax.tree.where
        dec = decrease_error(t, value, slope, ls.value_init, ls.slope_init)
        curv = curvature_error(slope, ls.slope_init)
        good = jnp.maximum(dec, curv) <= 0.0
        last = ls.steps + 1 >= max_linesearch_steps

        # -- interval search (Algorithm 3.5) --
        s_safe = dec <= 0.0
        s_safe_t, s_safe_v, s_safe_g = where(
            s_safe, [t, value, grad], [ls.safe_stepsize, ls.safe_value, ls.safe_grad]
        )
        set_high = (dec > 0.0) | ((value >= ls.prev_value) & (ls.steps > 0))
        set_low = (slope >= 0.0) & ~set_high
        s_low, s_vlow, s_slow, s_high, s_vhigh, s_shigh = where(
            set_low,
            [t, value, slope, ls.prev_stepsize, ls.prev_value, ls.prev_slope],
            [ls.prev_stepsize, ls.prev_value, ls.prev_slope, t, value, slope],
        )
        found = set_high | set_low | good
        if max_stepsize is not None:
            at_max = t >= max_stepsize
        else:
            at_max = jnp.asarray(False)
        s_done = good | (at_max & ~found)
        search = dict(
            interval_found=found,
            low=s_low,
            value_low=s_vlow,
            slope_low=s_slow,
            high=s_high,
            value_high=s_vhigh,
            slope_high=s_shigh,
            cubic_ref=s_low,
            value_cubic_ref=s_vlow,
            safe_stepsize=s_safe_t,
            safe_value=s_safe_v,
            safe_grad=s_safe_g,
        )
        s_failed = last & ~s_done

        # -- zoom (Algorithm 3.6) --
        z_update_safe = (dec <= 0.0) & (value < ls.safe_value)
        z_safe_t, z_safe_v, z_safe_g = where(
            z_update_safe, [t, value, grad], [ls.safe_stepsize, ls.safe_value, ls.safe_grad]
        )
        high_to_mid = (dec > 0.0) | (value >= ls.value_low)
        high_to_low = (slope * (ls.high - ls.low) >= 0.0) & ~high_to_mid
        low_to_mid = ~high_to_mid
        nh, nvh, nsh = where(
            high_to_mid, [t, value, slope], [ls.high, ls.value_high, ls.slope_high]
        )
        nh, nvh, nsh = where(high_to_low, [ls.low, ls.value_low, ls.slope_low], [nh, nvh, nsh])
        nl, nvl, nsl = where(low_to_mid, [t, value, slope], [ls.low, ls.value_low, ls.slope_low])
        ncr, nvcr = where(
            high_to_mid | high_to_low, [ls.high, ls.value_high], [ls.low, ls.value_low]
        )
        too_small = jnp.abs(ls.high - ls.low) <= stepsize_precision
        z_failed = (last | (too_small & (z_safe_t > 0.0))) & ~good
        zoom = dict(
            interval_found=ls.interval_found,
            low=nl,
            value_low=nvl,
            slope_low=nsl,
            high=nh,
            value_high=nvh,
            slope_high=nsh,
            cubic_ref=ncr,
            value_cubic_ref=nvcr,
            safe_stepsize=z_safe_t,
            safe_value=z_safe_v,
            safe_grad=z_safe_g,
        )

        in_zoom = ls.interval_found
        merged = {k: where(in_zoom, zoom[k], search[k]) for k in search}
        done = jnp.where(in_zoom, good, s_done)
        failed = jnp.where(in_zoom, z_failed, s_failed)
        new = ls._replace(
            steps=ls.steps + 1,
            prev_stepsize=t,
            prev_value=value,
            prev_slope=slope,
            decrease_error=dec,
            curvature_error=curv,
            **merged,
        )
        return new, done, failed

    def init_fn(params) -> LBFGSState:
        dt = jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype
        zeros = optax.tree.zeros_like(params)
        value = jnp.asarray(jnp.inf, dt)
        return LBFGSState(
            value=value,
            grad=zeros,
            learning_rate=jnp.asarray(1.0, dt),
            direction=zeros,
            needs_direction=jnp.asarray(True),
            iterations=jnp.asarray(0, jnp.int32),
            evaluations=jnp.asarray(0, jnp.int32),
            last_linesearch_steps=jnp.asarray(0, jnp.int32),
            lbfgs=inner.init(params),
            linesearch=fresh_linesearch(value, jnp.zeros((), dt), zeros),
        )

    def update_fn(
        updates, state: LBFGSState, params, *, value, grad, value_fn, commit=True, **extra_args
    ):
        del updates  # the gradient at the iterate is `grad`
        value = jnp.asarray(value, state.value.dtype)
        commit = jnp.asarray(commit, bool)
        # A state straight from `init` whose value was never set (+inf, no evaluation yet): this
        # update only evaluates the objective at the parameters and stores value and gradient.
        pending = (state.evaluations == 0) & (state.value == jnp.inf)

        # a new line search from the current iterate: curvature pair, L-BFGS direction, fresh bracket
        start = state.needs_direction & ~pending
        lb, identity_scale = remember(state.lbfgs, grad, params, start & commit)

        def new_direction(_):
            precond = precondition(grad, lb, identity_scale, state.lbfgs.count % memory_size)
            return optax.tree.cast_like(optax.tree.scale(-1.0, precond), params)

        direction = jax.lax.cond(start, new_direction, lambda _: state.direction, None)
        slope = _vdot(grad, direction).astype(value.dtype)
        ls = optax.tree.where(start, fresh_linesearch(value, slope, grad), state.linesearch)

        t = jnp.where(pending, jnp.zeros_like(ls.low), trial_stepsize(ls))
        trial = optax.tree.cast_like(optax.tree.add_scale(params, t, direction), params)
        v, g = jax.value_and_grad(value_fn)(trial, **extra_args)
        v = jnp.asarray(v, value.dtype)
        slope = _vdot(g, direction).astype(value.dtype)
        ls, done, failed = absorb(ls, t, v, g, slope)
        # a first evaluation that is not finite is not kept: the state stays as it was, unset
        finite_trial = functools.reduce(
            jnp.logical_and, [jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(g)], jnp.isfinite(v)
        )
        commit = commit & (finite_trial | ~pending)

        # a failed search falls back on its best step with sufficient decrease (optax's rule)
        outside = jnp.isinf(ls.decrease_error)
        use_safe = failed & ((ls.safe_stepsize > 0.0) | outside)
        t_acc, v_acc, g_acc = optax.tree.where(
            use_safe, [ls.safe_stepsize, ls.safe_value, ls.safe_grad], [t, v, g]
        )
        accept = (done | failed) & ~pending & commit
        step = jnp.where(accept, t_acc, jnp.zeros_like(t_acc))
        new_updates = optax.tree.cast_like(optax.tree.scale(step, direction), params)
        new_value, new_grad = optax.tree.where(accept, [v_acc, g_acc], [value, grad])
        new_value, new_grad = optax.tree.where(pending, [v, g], [new_value, new_grad])
        new_state = LBFGSState(
            value=new_value,
            grad=new_grad,
            learning_rate=jnp.where(accept, t_acc, state.learning_rate).astype(
                state.learning_rate.dtype
            ),
            direction=direction,
            needs_direction=accept | pending,
            iterations=state.iterations + accept.astype(jnp.int32),
            evaluations=state.evaluations + 1,
            last_linesearch_steps=jnp.where(accept, ls.steps, state.last_linesearch_steps),
            lbfgs=lb,
            linesearch=optax.tree.where(pending, state.linesearch, ls),
        )
        # nothing changes where `commit` is False (the history rows are guarded in `remember`:
        # a `where` over the whole state would read and write every row at every update)
        small = lambda s: s._replace(lbfgs=None)
        new_state = optax.tree.where(commit, small(new_state), small(state))._replace(lbfgs=lb)
        return new_updates, optax.tree.cast_like(new_state, other_tree=state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class AMSGradState(NamedTuple):
    """State of :func:`amsgrad`: step count, moments, running maximum of the raw second moment, and
    the learning rate (in the parameters' dtype, so that synthesis records it)."""

    count: Array
    mu: Any
    nu: Any
    nu_max: Any
    learning_rate: Array


def amsgrad(
    learning_rate: float = 0.01, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformationExtraArgs:
    r"""Adam with AMSGrad exactly as ``torch.optim.Adam(amsgrad=True)`` computes it.

    This is plenoptic's default optimizer for MAD competition and geodesics. ``optax.amsgrad`` keeps
    the running maximum of the *bias-corrected* second moment; PyTorch keeps the maximum of the *raw*
    second moment and divides it by the current bias correction. The two differ from the second step
    on wherever a gradient shrinks, so this transformation follows PyTorch:

    .. math::

        m_t = m_{t-1} + (1 - b_1)(g_t - m_{t-1}),\quad v_t = b_2 v_{t-1} + (1 - b_2) g_t^2,\quad
        \hat v_t = \max(\hat v_{t-1}, v_t),

        x_{t} = x_{t-1} - \frac{\eta}{1 - b_1^t}\,
        \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - b_2^t} + \epsilon}.

    Calls with the same settings return the same object (methods built with it share compiled
    programs).

    Parameters
    ----------
    learning_rate, b1, b2, eps
        PyTorch's ``lr``, ``betas`` and ``eps``.

    Examples
    --------
    >>> import jax.numpy as jnp, optax
    >>> import jaxoptic as jo
    >>> opt = jo.optimizers.amsgrad(0.1)
    >>> x = jnp.asarray([1.0, -2.0])
    >>> state = opt.init(x)
    >>> updates, state = opt.update(2 * x, state)
    >>> x = optax.apply_updates(x, updates)
    >>> [round(float(v), 4) for v in x]  # the first step moves every coordinate by the learning rate
    [0.9, -1.9]
    """

    return _amsgrad(
        _check_number(learning_rate, "learning_rate", 0.0),
        _check_number(b1, "b1", 0.0, 1.0, open_high=True),
        _check_number(b2, "b2", 0.0, 1.0, open_high=True),
        _check_number(eps, "eps", 0.0),
    )


@functools.lru_cache(maxsize=64)
def _amsgrad(learning_rate: float, b1: float, b2: float, eps: float):
    """The cached implementation of :func:`amsgrad` (arguments already checked)."""

    def init(params):
        leaves = jax.tree.leaves(params)
        dtype = leaves[0].dtype if leaves else jnp.float32
        zeros = optax.tree.zeros_like(params)
        return AMSGradState(
            count=jnp.zeros((), jnp.int32),
            mu=zeros,
            nu=zeros,
            nu_max=zeros,
            learning_rate=jnp.asarray(learning_rate, dtype),
        )

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        count = state.count + 1
        # torch: exp_avg.lerp_(grad, 1 - b1); exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        mu = jax.tree.map(lambda m, g: m + (1 - b1) * (g - m), state.mu, updates)
        nu = jax.tree.map(lambda v, g: v * b2 + (1 - b2) * (g * g), state.nu, updates)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)

        def direction(m, v_max):
            t = count.astype(m.dtype)
            correction1 = 1 - jnp.asarray(b1, m.dtype) ** t
            correction2 = 1 - jnp.asarray(b2, m.dtype) ** t
            denom = jnp.sqrt(v_max) / jnp.sqrt(correction2) + eps
            return -(state.learning_rate.astype(m.dtype) / correction1) * (m / denom)

        new_updates = jax.tree.map(direction, mu, nu_max)
        return new_updates, AMSGradState(count, mu, nu, nu_max, state.learning_rate)

    return optax.GradientTransformationExtraArgs(init, update)
