"""jaxoptic.optimizers.lbfgs: optax's L-BFGS steps, one objective evaluation per update."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
import pytest

import jaxoptic as jo


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def start(opt, f, x0):
    return otu.tree_set(opt.init(x0), value=f(x0), grad=jax.grad(f)(x0))


def run_ours(f, x0, n_updates, **kw):
    """Iterates accepted by jaxoptic's lbfgs within ``n_updates`` evaluations."""
    opt = jo.optimizers.lbfgs(**kw)

    @jax.jit
    def update(state, x):
        u, state = opt.update(state.grad, state, x, value=state.value, grad=state.grad, value_fn=f)
        return state, optax.apply_updates(x, u)

    state, x, accepted = start(opt, f, x0), x0, [x0]
    for _ in range(n_updates):
        state, x = update(state, x)
        if bool(state.needs_direction):
            accepted.append(x)
    return state, x, accepted


def run_optax(f, x0, n_steps, memory_size=10):
    opt = optax.lbfgs(memory_size=memory_size)
    state, x, iterates, ls_steps = opt.init(x0), x0, [x0], 0
    for _ in range(n_steps):
        v, g = jax.value_and_grad(f)(x)
        u, state = opt.update(g, state, x, value=v, grad=g, value_fn=f)
        x = optax.apply_updates(x, u)
        iterates.append(x)
        ls_steps += int(otu.tree_get(state, "num_linesearch_steps"))
    return iterates, ls_steps


def test_takes_the_same_steps_as_optax_lbfgs_with_one_evaluation_per_line_search_step():
    x0 = jnp.asarray(np.random.default_rng(0).normal(size=12), jnp.float64)
    ref, ls_steps = run_optax(rosenbrock, x0, 30)
    state, _, ours = run_ours(rosenbrock, x0, ls_steps)
    assert len(ours) == 31 and int(state.iterations) == 30 and int(state.evaluations) == ls_steps
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)


def test_update_calls_the_objective_exactly_once():
    calls = []

    def f(x):
        calls.append(1)
        return jnp.sum((x - 1.0) ** 2)

    opt = jo.optimizers.lbfgs()
    x = jnp.zeros(3)
    state = start(opt, lambda y: jnp.sum((y - 1.0) ** 2), x)
    opt.update(state.grad, state, x, value=state.value, grad=state.grad, value_fn=f)
    assert len(calls) == 1


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_minimizes_an_ill_conditioned_quadratic_and_keeps_dtype(dtype):
    scales = jnp.logspace(0, 3, 16, dtype=dtype)
    f = lambda x: jnp.sum(scales * (x - 2.0) ** 2)
    state, x, _ = run_ours(f, jnp.zeros(16, dtype), 80)
    assert x.dtype == dtype and state.value.dtype == dtype
    reduction = float(f(x) / f(jnp.zeros(16, dtype)))
    assert reduction < 1e-5
    assert float(state.learning_rate) > 0


def test_update_is_zero_until_the_line_search_accepts():
    f = lambda x: jnp.sum(100.0 * x**2 + x**4)  # the first unit-length step overshoots
    opt = jo.optimizers.lbfgs()
    x = jnp.full(4, 0.01, jnp.float64)
    state = start(opt, f, x)
    accepted = []
    for _ in range(10):
        u, state = opt.update(state.grad, state, x, value=state.value, grad=state.grad, value_fn=f)
        accepted.append(bool(state.needs_direction))
        if accepted[-1]:
            np.testing.assert_allclose(state.value, f(x + u), rtol=1e-12)
        else:
            assert float(jnp.abs(u).max()) == 0.0
        x = x + u
    assert not accepted[0]  # the first trial overshoots: no move
    assert 0 < int(state.iterations) == sum(accepted) < int(state.evaluations) == 10


def test_batch_lanes_equal_solo_runs():
    scales = jnp.stack([jnp.linspace(1.0, k, 8) for k in (2.0, 30.0, 500.0)])
    targets = jnp.stack([jnp.full(8, t) for t in (1.0, -2.0, 0.5)])

    def f(x, scale, target):
        return jnp.sum(scale * (x - target) ** 2 + 0.1 * (x - target) ** 4)

    opt = jo.optimizers.lbfgs(memory_size=5)

    def init(scale, target):
        x = jnp.zeros(8)
        obj = lambda y: f(y, scale, target)
        return x, otu.tree_set(opt.init(x), value=obj(x), grad=jax.grad(obj)(x))

    def step(carry, scale, target):
        x, s = carry
        u, s = opt.update(
            s.grad, s, x, value=s.value, grad=s.grad, value_fn=lambda y: f(y, scale, target)
        )
        return optax.apply_updates(x, u), s

    def run(scale, target):
        carry = init(scale, target)
        return jax.lax.fori_loop(0, 25, lambda i, c: step(c, scale, target), carry)

    xb, sb = jax.jit(jax.vmap(run))(scales, targets)
    for lane in range(3):
        x1, s1 = jax.jit(run)(scales[lane], targets[lane])
        np.testing.assert_allclose(xb[lane], x1, rtol=1e-12, atol=1e-12)
        assert int(sb.iterations[lane]) == int(s1.iterations)
    # lanes advance at their own pace
    assert len(set(np.asarray(sb.iterations).tolist())) > 1


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_an_update_told_not_to_commit_changes_nothing():
    """``commit=False`` (the synthesis methods' fault guard) returns a zero update and the state as
    it was, at every phase of the line search."""
    opt = jo.optimizers.lbfgs(memory_size=3)
    x = jnp.asarray(np.random.default_rng(1).normal(size=6), jnp.float64)
    state = start(opt, rosenbrock, x)
    for _ in range(12):
        kw = dict(value=state.value, grad=state.grad, value_fn=rosenbrock)
        u, same = opt.update(state.grad, state, x, commit=False, **kw)
        assert float(jnp.abs(u).max()) == 0.0
        _assert_trees_equal(same, state)
        u, state = opt.update(state.grad, state, x, **kw)
        x = optax.apply_updates(x, u)
    assert int(state.iterations) > 3  # the history has wrapped around


def test_an_accepted_step_writes_one_row_of_the_history():
    opt = jo.optimizers.lbfgs(memory_size=4)
    x = jnp.asarray(np.random.default_rng(2).normal(size=6), jnp.float64)
    state = start(opt, rosenbrock, x)
    for _ in range(30):
        u, new = opt.update(
            state.grad, state, x, value=state.value, grad=state.grad, value_fn=rosenbrock
        )
        changed = np.flatnonzero(
            np.any(np.asarray(new.lbfgs.diff_params_memory != state.lbfgs.diff_params_memory), 1)
        )
        assert len(changed) <= 1
        if len(changed):  # the pair of the last accepted step, at the row optax writes
            assert (
                bool(state.needs_direction) and int(changed[0]) == (int(state.lbfgs.count) - 1) % 4
            )
        state, x = new, optax.apply_updates(x, u)


def test_a_non_finite_first_evaluation_is_not_kept():
    opt = jo.optimizers.lbfgs()
    x = jnp.zeros(3)
    state = opt.init(x)
    f = lambda y: jnp.sum(y) + jnp.nan
    u, after = opt.update(state.grad, state, x, value=state.value, grad=state.grad, value_fn=f)
    assert float(jnp.abs(u).max()) == 0.0
    _assert_trees_equal(after, state)  # still unset: the next update evaluates again


def test_steps_back_from_a_non_finite_trial_point():
    f = lambda x: jnp.sum(jnp.where(jnp.abs(x) < 1.0, -jnp.log1p(-(x**2)) + x, jnp.inf))
    state, x, _ = run_ours(f, jnp.full(3, 0.5, jnp.float64), 60)
    assert bool(jnp.all(jnp.isfinite(x))) and bool(jnp.isfinite(state.value))
    np.testing.assert_allclose(jax.grad(f)(x), 0.0, atol=1e-6)


def test_max_stepsize_bounds_every_step():
    f = lambda x: jnp.sum((x - 100.0) ** 2)
    state, _, accepted = run_ours(f, jnp.zeros(2, jnp.float64), 5, max_stepsize=0.5)
    assert float(state.learning_rate) <= 0.5
    assert len(accepted) > 1


def test_drives_a_metamer():
    img = jo.data.camera()[:, :32, :32].astype(jnp.float64)
    met = jo.Metamer(
        img, jo.models.Gaussian((5, 5), std=1.0), optimizer=jo.optimizers.lbfgs(memory_size=5)
    )
    state, history = jo.synthesize(
        met, met.init(key=jax.random.key(0)), max_iter=30, progress=False
    )
    assert history.losses[-1] < 0.05 * history.losses[0]
    accepted = np.asarray(history.records["pixel_change_norm"]) > 0
    assert accepted.sum() == int(otu.tree_get(state.opt_state, "iterations"))
    assert np.all(np.isfinite(history.records["learning_rate"]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"memory_size": 0}, "memory_size"),
        ({"memory_size": 2.5}, "memory_size"),
        ({"max_linesearch_steps": 0}, "max_linesearch_steps"),
        ({"max_stepsize": -1.0}, "max_stepsize"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jo.optimizers.lbfgs(**kwargs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: jo.optimizers.lbfgs(max_stepsize=-1.0),
            "`max_stepsize` must be a finite number > 0",
        ),
        (
            lambda: jo.optimizers.lbfgs(increase_factor=0.5),
            "`increase_factor` must be a finite number > 1",
        ),
        (
            lambda: jo.optimizers.lbfgs(stepsize_precision=-1.0),
            "`stepsize_precision` must be a finite number >= 0",
        ),
        (
            lambda: jo.optimizers.lbfgs(curv_rtol=1.0),
            "`curv_rtol` must be a finite number in (0, 1)",
        ),
        (lambda: jo.optimizers.amsgrad(b1=1.0), "`b1` must be a finite number in [0, 1)"),
        (lambda: jo.optimizers.amsgrad(eps=-1.0), "`eps` must be a finite number >= 0"),
    ],
)
def test_range_messages_state_the_bound_without_infinity(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value).startswith(message)
    assert "inf" not in str(info.value)
