"""Metamer synthesis and the synthesize driver: objective, stopping, progress, batches, faults."""

import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxoptic as jo
from jaxoptic.synthesis import _driver


class Pool(eqx.Module):
    """A small differentiable model: 2x2 average pooling and local energy (two output channels)."""

    def __call__(self, x):
        c, h, w = x.shape
        blocks = x.reshape(c, h // 2, 2, w // 2, 2)
        mean = blocks.mean(axis=(2, 4))
        energy = jnp.sqrt((blocks**2).mean(axis=(2, 4)) + 1e-2)
        return jnp.concatenate([mean, energy])


@pytest.fixture(scope="module")
def image():
    return jo.data.camera()[:, 96:112, 96:112]


@pytest.fixture(scope="module")
def adam_metamer(image):
    return jo.Metamer(image, Pool(), optimizer=optax.adam(0.05))


def test_losses_fall_and_state_records_the_step(adam_metamer):
    state = adam_metamer.init(key=jax.random.key(0))
    state, history = jo.synthesize(adam_metamer, state, max_iter=30, progress=False)
    assert int(state.iteration) == 30
    assert history.losses.shape == (30,)
    assert history.losses[-1] < 0.2 * history.losses[0]
    np.testing.assert_array_equal(history.iterations, np.arange(30))
    assert jo.Status(int(state.status)) is jo.Status.MAX_ITER
    assert np.all(history.gradient_norm > 0) and np.all(history.pixel_change_norm > 0)


def test_default_initial_image_is_uniform_noise_from_key(adam_metamer, image):
    a = adam_metamer.init(key=jax.random.key(3)).image
    b = adam_metamer.init(key=jax.random.key(3)).image
    c = adam_metamer.init(key=jax.random.key(4)).image
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == image.shape and a.dtype == image.dtype
    assert 0 <= float(a.min()) and float(a.max()) <= 1


def test_recorded_loss_is_the_objective_with_penalty(image):
    met = jo.Metamer(image, Pool(), penalty_lambda=0.3, optimizer=optax.adam(0.5))
    state = met.init(initial_image=image * 1.5 - 0.2)  # outside [0, 1], so the penalty counts
    x0 = state.image
    state = jax.jit(met.step)(state)
    loss, penalty = met.loss_and_penalty(x0)
    assert float(penalty) > 0
    np.testing.assert_allclose(state.loss, loss + 0.3 * penalty, rtol=1e-6)
    np.testing.assert_allclose(state.penalty, penalty, rtol=1e-6)
    np.testing.assert_allclose(met.objective(x0), state.loss, rtol=1e-6)


def test_step_is_pure_and_jit_equals_eager(adam_metamer):
    state = adam_metamer.init(key=jax.random.key(0))
    eager = adam_metamer.step(state)
    jitted = jax.jit(adam_metamer.step)(state)
    again = jax.jit(adam_metamer.step)(state)
    np.testing.assert_allclose(eager.image, jitted.image, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(jitted.image, again.image)


@pytest.mark.parametrize(
    "optimizer",
    [
        optax.lbfgs(),
        optax.chain(optax.adam(0.05), optax.contrib.reduce_on_plateau(factor=0.5, patience=3)),
        optax.adam(optax.exponential_decay(0.05, 10, 0.5)),
        optax.inject_hyperparams(optax.adam)(learning_rate=0.05),
        optax.sgd(0.5, momentum=0.9),
    ],
    ids=["lbfgs", "reduce_on_plateau", "schedule", "inject_hyperparams", "sgd"],
)
def test_any_optax_optimizer_works(image, optimizer):
    met = jo.Metamer(image, Pool(), optimizer=optimizer)
    _state, history = jo.synthesize(
        met, met.init(key=jax.random.key(1)), max_iter=15, progress=False
    )
    assert history.losses[-1] < history.losses[0]
    assert np.all(np.isfinite(history.losses))


def test_learning_rate_is_recorded_where_the_optimizer_exposes_it(image):
    met = jo.Metamer(
        image, Pool(), optimizer=optax.inject_hyperparams(optax.adam)(learning_rate=0.05)
    )
    _, history = jo.synthesize(met, met.init(key=jax.random.key(1)), max_iter=3, progress=False)
    np.testing.assert_allclose(history.learning_rate, 0.05)
    met = jo.Metamer(image, Pool(), optimizer=optax.adam(0.05))
    _, history = jo.synthesize(met, met.init(key=jax.random.key(1)), max_iter=3, progress=False)
    assert np.all(np.isnan(history.learning_rate))


def test_lbfgs_converges_and_records_its_step_size(image):
    met = jo.Metamer(image, Pool(), optimizer=optax.lbfgs())
    state, history = jo.synthesize(
        met,
        met.init(key=jax.random.key(0)),
        max_iter=300,
        progress=False,
        stop_criterion=1e-10,
        stop_iters_to_check=5,
    )
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    assert history.losses[-1] < 1e-6
    assert np.all(history.learning_rate > 0)


def test_stop_rule_fires_at_the_first_iteration_where_the_loss_change_is_small(adam_metamer):
    crit, n = 1e-3, 5
    state, history = jo.synthesize(
        adam_metamer,
        adam_metamer.init(key=jax.random.key(0)),
        max_iter=500,
        progress=False,
        stop_criterion=crit,
        stop_iters_to_check=n,
    )
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    losses = history.losses
    k = len(losses) - 1
    # plenoptic's rule: |loss[k - n + 1] - loss[k]| < crit, checked from k >= n on
    assert abs(losses[k - n + 1] - losses[k]) < crit
    for j in range(n, k):
        assert abs(losses[j - n + 1] - losses[j]) >= crit


def test_store_progress_keeps_every_kth_image(adam_metamer):
    state = adam_metamer.init(key=jax.random.key(0))
    state, history = jo.synthesize(
        adam_metamer, state, max_iter=23, store_progress=5, progress=False, chunk_size=7
    )
    np.testing.assert_array_equal(history.saved_iterations, [0, 5, 10, 15, 20])
    assert history.saved_images.shape == (5, *state.image.shape)
    np.testing.assert_array_equal(
        history.saved_images[0], adam_metamer.init(key=jax.random.key(0)).image
    )


@pytest.mark.parametrize("bad", [-1, 1.5, "yes"])
def test_bad_store_progress_is_refused(adam_metamer, bad):
    with pytest.raises(ValueError, match="store_progress"):
        jo.synthesize(
            adam_metamer, adam_metamer.init(key=jax.random.key(0)), max_iter=1, store_progress=bad
        )


def test_max_iter_must_be_non_negative(adam_metamer):
    with pytest.raises(ValueError, match="max_iter"):
        jo.synthesize(adam_metamer, adam_metamer.init(key=jax.random.key(0)), max_iter=-1)


def test_continuing_equals_one_long_run_and_histories_concatenate(adam_metamer):
    state0 = adam_metamer.init(key=jax.random.key(0))
    long_state, long_hist = jo.synthesize(
        adam_metamer, state0, max_iter=40, progress=False, stop_criterion=0.0
    )
    s1, h1 = jo.synthesize(adam_metamer, state0, max_iter=15, progress=False, stop_criterion=0.0)
    s2, h2 = jo.synthesize(adam_metamer, s1, max_iter=25, progress=False, stop_criterion=0.0)
    np.testing.assert_array_equal(s2.image, long_state.image)
    both = h1 + h2
    np.testing.assert_array_equal(both.losses, long_hist.losses)
    np.testing.assert_array_equal(both.iterations, np.arange(40))


def test_repeated_calls_do_not_recompile(adam_metamer, image):
    state = adam_metamer.init(key=jax.random.key(0))
    state, _ = jo.synthesize(adam_metamer, state, max_iter=3, progress=False)
    before = _driver.TRACE_COUNT
    state, _ = jo.synthesize(adam_metamer, state, max_iter=7, progress=False)
    # a new target of the same shape reuses the compiled program too
    other = jo.Metamer(image[:, ::-1], Pool(), optimizer=adam_metamer.optimizer)
    jo.synthesize(other, other.init(key=jax.random.key(2)), max_iter=2, progress=False)
    assert _driver.TRACE_COUNT == before


def test_new_metamers_with_default_or_recipe_optimizers_share_compiled_programs(image):
    # the optimizer is a static field: default and recipe optimizers are shared instances
    first = jo.Metamer(image, Pool())
    jo.synthesize(first, first.init(key=jax.random.key(0)), max_iter=2, progress=False)
    lbfgs = jo.Metamer(image, Pool(), optimizer=jo.optimizers.lbfgs(memory_size=3))
    jo.synthesize(lbfgs, lbfgs.init(key=jax.random.key(0)), max_iter=2, progress=False)
    before = _driver.TRACE_COUNT
    again = jo.Metamer(image[:, ::-1], Pool())
    jo.synthesize(again, again.init(key=jax.random.key(1)), max_iter=2, progress=False)
    lbfgs2 = jo.Metamer(image[:, ::-1], Pool(), optimizer=jo.optimizers.lbfgs(memory_size=3))
    jo.synthesize(lbfgs2, lbfgs2.init(key=jax.random.key(1)), max_iter=2, progress=False)
    assert _driver.TRACE_COUNT == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1e-4", True])
def test_bad_stop_criterion_is_refused(adam_metamer, bad):
    with pytest.raises(ValueError, match="stop_criterion"):
        jo.synthesize(
            adam_metamer, adam_metamer.init(key=jax.random.key(0)), max_iter=1, stop_criterion=bad
        )


def test_callback_sees_state_and_history_between_chunks(adam_metamer):
    seen = []
    jo.synthesize(
        adam_metamer,
        adam_metamer.init(key=jax.random.key(0)),
        max_iter=10,
        progress=False,
        chunk_size=4,
        callback=lambda s, h: seen.append((int(s.iteration), len(h))),
    )
    assert seen == [(4, 4), (8, 8), (10, 10)]


def test_float64_synthesis_keeps_dtype(image):
    img64 = image.astype(jnp.float64)
    met = jo.Metamer(img64, Pool(), optimizer=optax.lbfgs())
    state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=5, progress=False)
    assert state.image.dtype == jnp.float64 and history.losses.dtype == np.float64


def _batch(images, keys, optimizer):
    def build(im, k):
        met = jo.Metamer(im, Pool(), optimizer=optimizer)
        return met, met.init(key=k)

    return eqx.filter_vmap(build)(images, keys)


@pytest.fixture(scope="module")
def targets():
    return jnp.stack(
        [jo.data.camera()[:, :16, :16], jo.data.brick()[:, :16, :16], jo.data.grass()[:, :16, :16]]
    )


def test_batched_adam_lanes_equal_solo_runs(targets):
    keys = jax.random.split(jax.random.key(5), len(targets))
    opt = optax.adam(0.05)
    mets, states = _batch(targets, keys, opt)
    bstate, bhist = jo.synthesize(mets, states, max_iter=20, progress=False)
    assert bhist.losses.shape == (3, 20)
    for i in range(len(targets)):
        met = jo.Metamer(targets[i], Pool(), optimizer=opt)
        s, h = jo.synthesize(met, met.init(key=keys[i]), max_iter=20, progress=False)
        np.testing.assert_allclose(bhist.losses[i], h.losses, rtol=1e-5)
        np.testing.assert_allclose(bstate.image[i], s.image, rtol=1e-5, atol=1e-6)


def test_batched_lbfgs_lanes_stop_on_their_own(targets):
    keys = jax.random.split(jax.random.key(6), len(targets))
    mets, states = _batch(targets, keys, optax.lbfgs())
    bstate, bhist = jo.synthesize(
        mets, states, max_iter=200, progress=False, stop_criterion=1e-9, stop_iters_to_check=3
    )
    its = np.asarray(bstate.iteration)
    assert np.all(np.asarray(bstate.status) == int(jo.Status.CONVERGED))
    for i in range(len(targets)):
        # a lane that stopped has NaN records afterwards and kept its image
        assert np.all(np.isnan(bhist.losses[i, its[i] :]))
        met = jo.Metamer(targets[i], Pool(), optimizer=optax.lbfgs())
        _s, h = jo.synthesize(
            met,
            met.init(key=keys[i]),
            max_iter=200,
            progress=False,
            stop_criterion=1e-9,
            stop_iters_to_check=3,
        )
        assert abs(float(h.losses[-1]) - float(bhist.losses[i, its[i] - 1])) < 1e-6


@pytest.mark.parametrize(
    "optimizer", [jo.optimizers.lbfgs(memory_size=4), optax.adam(0.05)], ids=["lbfgs", "adam"]
)
def test_on_cpu_a_batch_runs_its_lanes_one_at_a_time_each_equal_to_a_solo_run(targets, optimizer):
    """``lanes_at_once="auto"`` is 1 on a CPU: each lane runs its own loop inside the batch's
    compiled call and ends where it ends alone (to rounding: XLA compiles the lane inside a map)."""
    keys = jax.random.split(jax.random.key(7), len(targets))
    mets, states = _batch(targets, keys, optimizer)
    bstate, bhist = jo.synthesize(mets, states, max_iter=12, progress=False)
    for i in range(len(targets)):
        met = jo.Metamer(targets[i], Pool(), optimizer=optimizer)
        s, h = jo.synthesize(met, met.init(key=keys[i]), max_iter=12, progress=False)
        np.testing.assert_allclose(bhist.losses[i], h.losses, rtol=1e-6)
        np.testing.assert_allclose(bstate.image[i], s.image, rtol=1e-6, atol=1e-7)
        assert int(bstate.iteration[i]) == int(s.iteration)


def test_a_synthesize_call_compiles_its_loop_and_nothing_else(targets, caplog):
    """The driver's host-side work (stop criterion, statuses, the step count) is done in NumPy: as
    eager JAX operations each would compile a small program of its own."""
    import logging

    met = jo.Metamer(targets[0], Pool(), optimizer=jo.optimizers.lbfgs(memory_size=4))
    state = met.init(key=jax.random.key(3))
    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        # a chunk size no other test uses: the loop is compiled here, once
        jo.synthesize(met, state, max_iter=3, chunk_size=11, progress=False)
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert len(compiled) == 1 and "_run_chunk" in compiled[0], compiled


@pytest.mark.parametrize("lanes_at_once", [None, 2])
def test_lanes_at_once_vectorizes_that_many_lanes_with_the_same_results(targets, lanes_at_once):
    keys = jax.random.split(jax.random.key(8), len(targets))
    mets, states = _batch(targets, keys, jo.optimizers.lbfgs(memory_size=4))
    one, h1 = jo.synthesize(mets, states, max_iter=10, progress=False, lanes_at_once=1)
    vec, hv = jo.synthesize(mets, states, max_iter=10, progress=False, lanes_at_once=lanes_at_once)
    np.testing.assert_allclose(hv.losses, h1.losses, rtol=1e-5)
    np.testing.assert_allclose(vec.image, one.image, rtol=1e-4, atol=1e-5)


def test_lanes_at_once_compiles_once_per_setting(targets):
    keys = jax.random.split(jax.random.key(9), len(targets))
    mets, states = _batch(targets, keys, jo.optimizers.lbfgs(memory_size=4))
    state, _ = jo.synthesize(mets, states, max_iter=3, progress=False, chunk_size=3)
    before = _driver.TRACE_COUNT
    jo.synthesize(mets, state, max_iter=3, progress=False, chunk_size=3)
    assert _driver.TRACE_COUNT == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "all"])
def test_lanes_at_once_refuses_bad_values(targets, bad):
    met = jo.Metamer(targets[0], Pool())
    with pytest.raises(ValueError, match="lanes_at_once"):
        jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=1, lanes_at_once=bad)


def test_batch_is_sharded_across_devices_with_the_same_result(tmp_path):
    script = textwrap.dedent(
        """
        import equinox as eqx, jax, jax.numpy as jnp, numpy as np, optax, sys
        import jaxoptic as jo
        sys.path.insert(0, %r)
        from test_metamer import Pool
        imgs = jnp.stack([jo.data.camera()[:, :16, :16], jo.data.brick()[:, :16, :16]])
        keys = jax.random.split(jax.random.key(0), 2)
        def build(im, k):
            met = jo.Metamer(im, Pool(), optimizer=optax.adam(0.05))
            return met, met.init(key=k)
        mets, states = eqx.filter_vmap(build)(imgs, keys)
        state, hist = jo.synthesize(mets, states, max_iter=10, progress=False)
        print(len(jax.devices()), len(state.image.sharding.device_set))
        np.save(%r, np.asarray(state.image))
        """
    )
    results = []
    for n in (1, 2):
        out = tmp_path / f"img{n}.npy"
        env = dict(
            os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}", JAX_PLATFORMS="cpu"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script % (os.path.dirname(__file__), str(out))],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[-2:] == [str(n), str(n)]
        results.append(np.load(out))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-7)


def test_nonfinite_objective_stops_with_status_and_keeps_last_finite_image(image):
    # log of the image: NaN once a pixel goes negative, which a large step makes happen
    met = jo.Metamer(
        image * 0.5 + 0.25, lambda x: jnp.log(x), penalty_lambda=0.0, optimizer=optax.sgd(200.0)
    )
    state0 = met.init(initial_image=jnp.full_like(image, 0.5))
    with pytest.raises(jo.NonFiniteLossError, match="NaN or Inf") as info:
        jo.synthesize(met, state0, max_iter=50, progress=False)
    state, history = info.value.state, info.value.history
    assert jo.Status(int(state.status)) is jo.Status.NONFINITE
    assert np.isfinite(float(met.objective(state.image)))
    assert len(history) >= 1 and np.isnan(history.losses[-1])
    assert np.all(np.isfinite(history.losses[:-1]))
    state2, _ = jo.synthesize(met, state0, max_iter=50, progress=False, throw=False)
    assert jo.Status(int(state2.status)) is jo.Status.NONFINITE


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf])
def test_non_finite_target_or_initial_image_is_refused(image, bad):
    broken = image.at[0, 0, 0].set(bad)
    with pytest.raises(ValueError, match="`image` contains NaN or Inf"):
        jo.Metamer(broken, Pool())
    met = jo.Metamer(image, Pool())
    with pytest.raises(ValueError, match="`initial_image` contains NaN or Inf"):
        met.init(initial_image=broken)


def test_wrong_ndim_and_shape_are_refused(image):
    with pytest.raises(ValueError, match=r"\(channels, height, width\)"):
        jo.Metamer(image[0], Pool())
    met = jo.Metamer(image, Pool())
    with pytest.raises(ValueError, match="initial_image.*shape"):
        met.init(initial_image=jnp.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="key="):
        met.init()


def test_model_with_non_finite_output_is_refused(image):
    with pytest.raises(ValueError, match="NaN or Inf"):
        jo.Metamer(image, lambda x: jnp.log(x - 2.0))


def test_optimizer_must_be_optax(image):
    with pytest.raises(TypeError, match="optax"):
        jo.Metamer(image, Pool(), optimizer="adam")


def test_penalty_lambda_must_be_non_negative(image):
    with pytest.raises(ValueError, match="penalty_lambda"):
        jo.Metamer(image, Pool(), penalty_lambda=-1.0)


def test_losses_work_on_pytrees():
    a = {"x": jnp.array([1.0, 2.0]), "y": jnp.array([[3.0]])}
    b = {"x": jnp.array([0.0, 2.0]), "y": jnp.array([[1.0]])}
    np.testing.assert_allclose(jo.losses.mse(a, b), 5.0 / 3)
    np.testing.assert_allclose(jo.losses.l2_norm(a, b), np.sqrt(5.0))
    np.testing.assert_allclose(jo.losses.relative_sse(a, b), 5.0 / 5.0)
    g = jax.grad(lambda v: jo.losses.l2_norm(v, v))(jnp.ones(3))
    assert np.all(np.isfinite(g))


def test_range_penalty_matches_plenoptic_definition():
    x = jnp.array([[[-0.5, 0.2, 1.5]]])
    np.testing.assert_allclose(jo.penalties.range_penalty(x), 0.25 + 0.25)
    np.testing.assert_allclose(jo.penalties.RangePenalty((0.0, 2.0))(x), 0.25)
    with pytest.raises(ValueError, match="allowed_range"):
        jo.penalties.RangePenalty((1.0, 0.0))


def test_jaxoptic_lbfgs_first_update_evaluates_an_unset_state():
    """A fresh ``jo.optimizers.lbfgs`` state (value never set) spends its first update evaluating
    the objective at the parameters; after that it takes the same steps as a state set by hand."""
    f = lambda x: jnp.sum((x - 3.0) ** 2 * jnp.arange(1.0, 5.0))
    opt = jo.optimizers.lbfgs()
    x = jnp.zeros(4)
    state = opt.init(x)
    updates, lazy = opt.update(state.grad, state, x, value=state.value, grad=state.grad, value_fn=f)
    np.testing.assert_array_equal(updates, jnp.zeros(4))
    assert float(lazy.value) == float(f(x)) and int(lazy.evaluations) == 1
    np.testing.assert_allclose(lazy.grad, jax.grad(f)(x), rtol=1e-6)
    eager = optax.tree_utils.tree_set(opt.init(x), value=f(x), grad=jax.grad(f)(x))
    xa, xb = x, x
    for _ in range(6):
        ua, lazy = opt.update(lazy.grad, lazy, xa, value=lazy.value, grad=lazy.grad, value_fn=f)
        ub, eager = opt.update(
            eager.grad, eager, xb, value=eager.value, grad=eager.grad, value_fn=f
        )
        xa, xb = optax.apply_updates(xa, ua), optax.apply_updates(xb, ub)
    np.testing.assert_allclose(xa, xb, rtol=1e-6)


def test_metamer_with_jaxoptic_lbfgs_evaluates_the_initial_image_in_its_first_step(image):
    """``init`` leaves L-BFGS's value unset (no gradient compiled outside the loop); step 0 records
    the objective and gradient at the initial image and leaves the image where it is."""
    met = jo.Metamer(image, Pool(), optimizer=jo.optimizers.lbfgs(memory_size=3))
    state = met.init(key=jax.random.key(0))
    assert float(state.opt_state.value) == np.inf
    x0 = state.image
    np.testing.assert_allclose(state.loss, met.objective(x0), rtol=1e-6)
    state1, history = jo.synthesize(met, state, max_iter=1, progress=False)
    np.testing.assert_array_equal(state1.image, x0)
    np.testing.assert_allclose(history.losses[0], met.objective(x0), rtol=1e-6)
    grad = jax.grad(met.objective)(x0)
    np.testing.assert_allclose(history.gradient_norm[0], jnp.sqrt(jnp.sum(grad**2)), rtol=1e-5)
    assert history.pixel_change_norm[0] == 0
    state20, history20 = jo.synthesize(met, state1, max_iter=20, progress=False)
    assert history20.losses[-1] < 0.5 * history.losses[0]
    assert int(state20.opt_state.evaluations) == 21


def test_metamer_with_jaxoptic_lbfgs_stops_nonfinite_on_a_nan_initial_objective(image):
    met = jo.Metamer(
        image,
        Pool(),
        penalty_function=lambda x: jnp.nan * jnp.sum(x),
        penalty_lambda=1.0,
        optimizer=jo.optimizers.lbfgs(memory_size=3),
    )
    state = met.init(key=jax.random.key(0))
    state, _ = jo.synthesize(met, state, max_iter=3, progress=False, throw=False)
    assert jo.Status(int(state.status)) is jo.Status.NONFINITE
    assert int(state.iteration) == 0 and float(state.opt_state.value) == np.inf
