"""Geodesic synthesis and the straightness helpers: parity with plenoptic 1.2, stopping, batches, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

import jaxoptic as jo
from jaxoptic.synthesis import _driver
from jaxoptic.synthesis._geodesic import GOLDEN_RATIO

N_STEPS = 5  # of the reference sequence


class Pool(eqx.Module):
    """A small nonlinear model: 2x2 average pooling and local energy (two output channels)."""

    def __call__(self, x):
        c, h, w = x.shape
        blocks = x.reshape(c, h // 2, 2, w // 2, 2)
        mean = blocks.mean(axis=(2, 4))
        energy = jnp.sqrt((blocks**2).mean(axis=(2, 4)) + 1e-2)
        return jnp.concatenate([mean, energy])


class Flat(eqx.Module):
    """A model with a 2-D representation (channels, features), like Portilla-Simoncelli's."""

    def __call__(self, x):
        return jnp.tanh(3 * x).reshape(x.shape[0], -1)


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ref():
    return load_reference("geodesic")


@pytest.fixture(scope="module")
def onoff_geodesic(ref):
    image_a = jnp.asarray(ref["image_a_u8"] / 255.0)
    image_b = jnp.asarray(ref["image_b_u8"] / 255.0)
    return jo.Geodesic(image_a, image_b, jo.models.OnOff((31, 31), pretrained=True), N_STEPS)


@pytest.fixture(scope="module")
def images():
    a = jo.data.camera()[:, 96:112, 96:112]
    b = jo.data.brick()[:, 96:112, 96:112]
    return a, b


@pytest.fixture(scope="module")
def pool_geodesic(images):
    a, b = images
    return jo.Geodesic(a, b, Pool(), n_steps=4)


@pytest.fixture(scope="module")
def pool_run(pool_geodesic):
    """20 steps from a Brownian bridge (float32), progress stored every 5 iterations."""
    state0 = pool_geodesic.init(initial_sequence="bridge", key=jax.random.key(0))
    state, history = jo.synthesize(
        pool_geodesic, state0, max_iter=20, store_progress=5, stop_criterion=0.0, progress=False
    )
    return state0, state, history


# -- parity with plenoptic 1.2 (float64) ------------------------------------------------------------
def test_straightness_helpers_match_plenoptic(ref):
    line = jo.synthesis.make_straight_line(ref["straight/start"], ref["straight/stop"], 3)
    assert_parity(line, ref["straight/line"], "make_straight_line")
    seq = jo.synthesis.translation_sequence(ref["translation/image"], 4)
    assert_parity(seq, ref["translation/sequence"], "translation_sequence")
    for normalize in (True, False):
        along, away = jo.synthesis.deviation_from_line(ref["deviation/sequence"], normalize)
        assert_parity(along, ref[f"deviation/{normalize}/along"], f"along, normalize={normalize}")
        assert_parity(away, ref[f"deviation/{normalize}/from"], f"from, normalize={normalize}")


@eqx.filter_jit
def _path_measures(geo, seq):
    """Everything plenoptic computes of one sequence, in one compiled call."""

    def objective_of_interior(x):
        return geo.objective(jnp.concatenate([seq[:1], x, seq[-1:]]))

    along, away = geo.deviation_from_line(seq)
    return {
        "representation": geo.representation(seq),
        "objective": geo.objective(seq),
        "gradient": jax.grad(objective_of_interior)(seq[1:-1]),
        "step_energy": geo.step_energy(seq),
        "dist_along_line": along,
        "dist_from_line": away,
        "jerkiness": geo.calculate_jerkiness(seq),
    }


def test_objective_gradient_and_path_measures_match_plenoptic(onoff_geodesic, ref):
    ours = _path_measures(onoff_geodesic, jnp.asarray(ref["sequence"]))
    for name, value in ours.items():
        assert_parity(value, ref[f"onoff/{name}"], name)
    assert_parity(
        onoff_geodesic.stop_criterion, ref["onoff/default_stop_criterion"], "stop_criterion"
    )


@pytest.fixture(scope="module")
def onoff_run(onoff_geodesic, ref):
    state0 = onoff_geodesic.init(initial_sequence=jnp.asarray(ref["sequence"]))
    return jo.synthesize(
        onoff_geodesic, state0, max_iter=8, store_progress=True, stop_criterion=0.0, progress=False
    )


def test_synthesis_with_default_optimizer_matches_plenoptic(onoff_run, ref):
    state, history = onoff_run
    for name in ("losses", "gradient_norm", "pixel_change_norm"):
        assert_parity(history.records[name], ref[f"onoff/run/{name}"], name)
    assert_parity(state.image, ref["onoff/run/geodesic"], "final geodesic")
    np.testing.assert_array_equal(state.image[0], ref["image_a_u8"] / 255.0)
    np.testing.assert_array_equal(state.image[-1], ref["image_b_u8"] / 255.0)


def test_saved_progress_gives_step_energy_and_deviation_of_each_saved_sequence(
    onoff_geodesic, onoff_run, ref
):
    _, history = onoff_run
    progress = onoff_geodesic.saved_progress(history)
    energy, dev = progress["step_energy"], progress["dev_from_line"]
    assert energy.shape == (8, N_STEPS, 2) and dev.shape == (8, N_STEPS + 1, 2)
    # plenoptic stored, at iteration i >= 1, the values cached by the objective call of step i - 1
    # (i.e. of the sequence at iteration i - 1); at iteration 0 those of the initial sequence. Ours
    # describe the saved sequence itself.
    ref_energy, ref_dev = ref["onoff/run/step_energy"], ref["onoff/run/dev_from_line"]
    assert_parity(energy[0], ref_energy[0], "step_energy at iteration 0")
    assert_parity(energy[:7], ref_energy[1:], "step_energy, iterations 0..6")
    assert_parity(dev[0], ref_dev[0], "dev_from_line at iteration 0")
    assert_parity(dev[:7], ref_dev[1:], "dev_from_line, iterations 0..6")


def test_stop_rule_matches_plenoptic(onoff_geodesic, ref):
    state0 = onoff_geodesic.init(initial_sequence=jnp.asarray(ref["sequence"]))
    crit = float(ref["onoff/stop/stop_criterion"])
    state, history = jo.synthesize(
        onoff_geodesic,
        state0,
        max_iter=30,
        store_progress=True,
        stop_criterion=crit,
        stop_iters_to_check=3,
        progress=False,
    )
    assert int(state.iteration) == int(ref["onoff/stop/n_iter"])
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    n = int(state.iteration)
    assert_parity(history.pixel_change_norm, ref["onoff/stop/pixel_change_norm"][:n], "pcn")


def test_default_optimizer_is_torch_adam_with_amsgrad(ref):
    params = jnp.asarray(ref["amsgrad/params0"])
    opt = jo.optimizers.amsgrad(0.001)
    opt_state = opt.init(params)
    ours = []
    for g in ref["amsgrad/grads"]:
        updates, opt_state = opt.update(jnp.asarray(g), opt_state)
        params = optax.apply_updates(params, updates)
        ours.append(params)
    assert_parity(np.stack(ours), ref["amsgrad/params"], "torch amsgrad")
    # optax.amsgrad takes the maximum of the bias-corrected second moment, which differs
    params = jnp.asarray(ref["amsgrad/params0"])
    opt = optax.amsgrad(0.001)
    opt_state = opt.init(params)
    for g in ref["amsgrad/grads"]:
        updates, opt_state = opt.update(jnp.asarray(g), opt_state)
        params = optax.apply_updates(params, updates)
    assert np.max(np.abs(params - ref["amsgrad/params"][-1])) > 1e-6


# -- straightness helpers ---------------------------------------------------------------------------
def test_brownian_bridge_midpoint_statistics():
    # plenoptic 1.2's test: in d = 2**14 dimensions with max_norm = sqrt(d), the midpoint of the
    # bridge lies half-way along the line and sqrt(2)/2 (line lengths) away from it.
    d, t = 2**14, 2**6
    ka, kb, kc = jax.random.split(jax.random.key(0), 3)
    start = jax.random.normal(ka, (1, 128, 128))
    stop = jax.random.normal(kb, (1, 128, 128))
    bridge = jo.synthesis.sample_brownian_bridge(start, stop, t, d**0.5, key=kc)
    along, away = jo.synthesis.deviation_from_line(bridge)
    assert abs(float(along[t // 2]) - 0.5) < 1e-2
    assert abs(float(away[t // 2]) - 2**0.5 / 2) < 1e-2


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_bridge_keeps_endpoints_and_dtype_and_zero_norm_is_the_line(dtype):
    a = jnp.zeros((3, 4, 5), dtype)
    b = jnp.ones((3, 4, 5), dtype)
    bridge = jo.synthesis.sample_brownian_bridge(a, b, 6, key=jax.random.key(1))
    assert bridge.shape == (7, 3, 4, 5) and bridge.dtype == dtype
    np.testing.assert_allclose(bridge[0], a, atol=1e-6)
    np.testing.assert_allclose(bridge[-1], b, atol=1e-6)
    flat = jo.synthesis.sample_brownian_bridge(a, b, 6, 0.0, key=jax.random.key(1))
    np.testing.assert_allclose(flat, jo.synthesis.make_straight_line(a, b, 6), atol=1e-6)
    other = jo.synthesis.sample_brownian_bridge(a, b, 6, key=jax.random.key(2))
    assert not np.allclose(bridge, other)


def test_translation_sequence_shifts_the_last_axis():
    img = jax.random.uniform(jax.random.key(0), (3, 6, 7))
    seq = jo.synthesis.translation_sequence(img, 3)
    assert seq.shape == (4, 3, 6, 7)
    np.testing.assert_array_equal(seq[0], img)
    np.testing.assert_array_equal(seq[1, :, :, 1], img[:, :, 0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda a: jo.synthesis.make_straight_line(a, a[:, :4], 3), "same shape"),
        (lambda a: jo.synthesis.make_straight_line(a, a, 0), "n_steps"),
        (lambda a: jo.synthesis.make_straight_line(a[None], a[None], 2), "3 dimensions"),
        (
            lambda a: jo.synthesis.sample_brownian_bridge(a, a, 2, -1.0, key=jax.random.key(0)),
            "max_norm",
        ),
        (lambda a: jo.synthesis.translation_sequence(a, 0), "n_steps"),
        (lambda a: jo.synthesis.deviation_from_line(a[0, 0]), "T >= 2"),
    ],
)
def test_straightness_helpers_refuse_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(jnp.zeros((1, 5, 5)))


# -- the method ---------------------------------------------------------------------------------------
def test_synthesis_keeps_endpoints_and_lowers_the_path_energy(pool_geodesic, pool_run, images):
    state0, state, history = pool_run
    a, b = images
    assert state.image.shape == (5, *a.shape) and state.image.dtype == a.dtype
    np.testing.assert_array_equal(state.image[0], a)
    np.testing.assert_array_equal(state.image[-1], b)
    assert not np.allclose(state.image[1:-1], state0.image[1:-1])
    assert history.path_energy[-1] < history.path_energy[0]
    assert history.losses.dtype == np.float32 and state.loss.dtype == jnp.float32
    assert int(state.iteration) == 20 and jo.Status(int(state.status)) is jo.Status.MAX_ITER
    assert set(history.records) == {
        "losses",
        "penalties",
        "path_energy",
        "max_dist_from_line",
        "gradient_norm",
        "pixel_change_norm",
        "learning_rate",
    }
    np.testing.assert_allclose(history.learning_rate, 0.001, rtol=1e-6)


def test_records_describe_the_sequence_before_each_step(pool_geodesic, pool_run):
    state0, _, history = pool_run
    geo = pool_geodesic
    seq = state0.image
    np.testing.assert_allclose(history.losses[0], geo.objective(seq), rtol=1e-5)
    np.testing.assert_allclose(history.path_energy[0], geo.path_energy(seq), rtol=1e-5)
    np.testing.assert_allclose(
        history.losses, history.path_energy + 0.1 * history.penalties, rtol=1e-5
    )
    np.testing.assert_allclose(
        history.max_dist_from_line[0], np.max(geo.deviation_from_line(seq)[1]), rtol=1e-5
    )
    np.testing.assert_allclose(state0.loss, history.losses[0], rtol=1e-6)
    # the interior frames of a bridge stick out of [0, 1] here, so the penalty counts
    assert history.penalties[0] > 0


def test_saved_sequences_are_whole_paths_every_k_iterations(pool_geodesic, pool_run):
    state0, _, history = pool_run
    assert history.saved_images.shape == (4, 5, 1, 16, 16)
    np.testing.assert_array_equal(history.saved_iterations, [0, 5, 10, 15])
    np.testing.assert_array_equal(history.saved_images[0], state0.image)
    progress = pool_geodesic.saved_progress(history)
    np.testing.assert_allclose(
        progress["step_energy"][2], pool_geodesic.step_energy(history.saved_images[2]), rtol=1e-6
    )


def test_continuing_equals_one_long_run_and_state_is_checkpointable(
    pool_geodesic, pool_run, tmp_path
):
    state0, long_state, long_hist = pool_run
    kw = dict(store_progress=5, stop_criterion=0.0, progress=False)
    s1, h1 = jo.synthesize(pool_geodesic, state0, max_iter=8, **kw)
    # the state is arrays only: save the leaves and rebuild it, as a checkpoint would
    leaves, treedef = jax.tree.flatten(s1)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    np.savez(tmp_path / "state.npz", *[np.asarray(leaf) for leaf in leaves])
    with np.load(tmp_path / "state.npz") as f:
        restored = jax.tree.unflatten(
            treedef, [jnp.asarray(f[f"arr_{i}"]) for i in range(len(leaves))]
        )
    s2, h2 = jo.synthesize(pool_geodesic, restored, max_iter=12, **kw)
    np.testing.assert_array_equal(s2.image, long_state.image)
    both = h1 + h2
    np.testing.assert_array_equal(both.losses, long_hist.losses)
    np.testing.assert_array_equal(both.iterations, np.arange(20))


def test_repeated_calls_and_new_geodesics_of_the_same_configuration_do_not_recompile(
    pool_geodesic, pool_run, images
):
    _, state, _ = pool_run
    kw = dict(store_progress=5, stop_criterion=0.0, progress=False)
    before = _driver.TRACE_COUNT
    jo.synthesize(pool_geodesic, state, max_iter=3, **kw)
    a, b = images
    other = jo.Geodesic(b, a, Pool(), n_steps=4)
    jo.synthesize(
        other, other.init(initial_sequence="bridge", key=jax.random.key(3)), max_iter=2, **kw
    )
    assert _driver.TRACE_COUNT == before


def test_float64_keeps_dtype_step_is_pure_and_gradient_is_checked():
    a = jax.random.uniform(jax.random.key(0), (1, 4, 4), jnp.float64)
    b = jax.random.uniform(jax.random.key(1), (1, 4, 4), jnp.float64)
    geo = jo.Geodesic(a, b, Pool(), n_steps=3)
    state = geo.init(initial_sequence="bridge", key=jax.random.key(2))
    assert state.image.dtype == jnp.float64 and state.loss.dtype == jnp.float64
    assert geo.stop_criterion.dtype == jnp.float64
    step = jax.jit(geo.step)
    first, again = step(state), step(state)
    for x, y in zip(jax.tree.leaves(first), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(x, y)
    assert first.image.dtype == jnp.float64 and first.gradient_norm.dtype == jnp.float64
    np.testing.assert_allclose(first.loss, geo.objective(state.image), rtol=1e-12)
    seq = first.image

    def objective(interior):
        return geo.objective(jnp.concatenate([seq[:1], interior, seq[-1:]]))

    check_grads(jax.jit(objective), (seq[1:-1],), order=1, modes=("rev",))


def test_default_stop_criterion_is_plenoptic_choice_and_an_explicit_one_wins(pool_geodesic):
    geo = pool_geodesic
    expected = np.linalg.norm(np.asarray(geo.pixelfade, np.float64)) / 1e4 * GOLDEN_RATIO
    np.testing.assert_allclose(geo.stop_criterion, expected, rtol=1e-6)
    # synthesize(stop_criterion=None), its default, uses the geodesic's own threshold
    assert geo.default_stop_criterion is geo.stop_criterion
    state = geo.init()
    n = state.pixel_change_window.shape[0]
    # every recent pixel change is half the geodesic's threshold
    state = eqx.tree_at(
        lambda s: (s.pixel_change_window, s.iteration),
        state,
        (jnp.full((n,), 0.5 * geo.stop_criterion), jnp.asarray(n + 1, jnp.int32)),
    )
    done_default, status = geo.terminate(state, geo.default_stop_criterion)
    assert bool(done_default) and jo.Status(int(status)) is jo.Status.CONVERGED
    done_small, _ = geo.terminate(state, jnp.asarray(0.1 * geo.stop_criterion, state.loss.dtype))
    assert not bool(done_small)
    own = jo.Geodesic(geo.image_a, geo.image_b, Pool(), n_steps=4, stop_criterion=1e-6)
    assert not bool(own.terminate(state, own.default_stop_criterion)[0])
    # through the driver: an explicit stop_criterion wins over the default
    _, hist = jo.synthesize(
        geo, geo.init(), max_iter=3, stop_criterion=1.0, stop_iters_to_check=1, progress=False
    )
    assert len(hist) == 2


def test_stop_rule_needs_more_than_stop_iters_to_check_steps(pool_geodesic):
    state = pool_geodesic.init()
    n = state.pixel_change_window.shape[0]
    small = eqx.tree_at(lambda s: s.pixel_change_window, state, jnp.zeros((n,), state.loss.dtype))
    at_n = eqx.tree_at(lambda s: s.iteration, small, jnp.asarray(n, jnp.int32))
    after = eqx.tree_at(lambda s: s.iteration, small, jnp.asarray(n + 1, jnp.int32))
    assert not bool(pool_geodesic.terminate(at_n, 1.0)[0])
    assert bool(pool_geodesic.terminate(after, 1.0)[0])
    one_large = eqx.tree_at(
        lambda s: s.pixel_change_window, after, small.pixel_change_window.at[3].set(2.0)
    )
    assert not bool(pool_geodesic.terminate(one_large, 1.0)[0])


def test_initial_sequences(pool_geodesic, images):
    a, b = images
    straight = pool_geodesic.init()
    np.testing.assert_allclose(straight.image, pool_geodesic.pixelfade, atol=1e-7)
    bridge = pool_geodesic.init(initial_sequence="bridge", key=jax.random.key(0))
    np.testing.assert_array_equal(bridge.image[0], a)
    np.testing.assert_array_equal(bridge.image[-1], b)
    assert not np.allclose(bridge.image[1:-1], straight.image[1:-1])
    given = pool_geodesic.init(initial_sequence=bridge.image.at[0].set(0.0))
    np.testing.assert_array_equal(
        given.image, bridge.image
    )  # the endpoints of a given sequence are ignored
    bridge_default = jo.Geodesic(a, b, Pool(), n_steps=4, initial_sequence="bridge")
    np.testing.assert_array_equal(bridge_default.init(key=jax.random.key(0)).image, bridge.image)


def test_jerkiness_and_step_energy_work_for_two_dimensional_representations(images):
    a, b = images
    geo = jo.Geodesic(a, b, Flat(), n_steps=3)
    seq = geo.init(initial_sequence="bridge", key=jax.random.key(0)).image

    @jax.jit
    def jerkiness_and_explicit(seq):
        # explicit: |J_t^T (a_t / |a_t|)|^2 per interior frame t, by jax.vjp of the model alone
        rep = geo.representation(seq)
        acc = rep[2:] - 2 * rep[1:-1] + rep[:-2]
        explicit = []
        for t in (1, 2):
            _, vjp = jax.vjp(Flat(), seq[t])
            explicit.append(jnp.sum(vjp(acc[t - 1] / jnp.linalg.norm(acc[t - 1]))[0] ** 2))
        return geo.calculate_jerkiness(seq), jnp.stack(explicit), geo.step_energy(seq)

    jerk, explicit, energy = jerkiness_and_explicit(seq)
    assert jerk.shape == (2,) and bool(jnp.all(jnp.isfinite(jerk)))
    np.testing.assert_allclose(jerk, explicit, rtol=1e-5)
    assert energy.shape == (3, 1)


def test_non_finite_objective_stops_the_run_and_keeps_the_last_finite_sequence(
    pool_geodesic, pool_run
):
    state0 = pool_run[0]
    bad = eqx.tree_at(lambda s: s.image, state0, state0.image.at[1, 0, 0, 0].set(jnp.inf))
    state, history = jo.synthesize(
        pool_geodesic,
        bad,
        max_iter=3,
        store_progress=5,
        stop_criterion=0.0,
        progress=False,
        throw=False,
    )
    assert jo.Status(int(state.status)) is jo.Status.NONFINITE
    np.testing.assert_array_equal(state.image, state0.previous_image)
    assert int(state.iteration) == 0 and not np.isfinite(history.losses[0])
    with pytest.raises(jo.NonFiniteLossError):
        jo.synthesize(pool_geodesic, bad, max_iter=3, store_progress=5, progress=False)


# -- random restarts ---------------------------------------------------------------------------------
def test_restarts_run_as_one_batch_whose_lanes_equal_solo_runs(images, pool_run):
    a, b = images
    keys = jax.random.split(jax.random.key(7), 3)
    _geos, states, history, spread = jo.recipes.geodesic_restarts(
        a, b, Pool(), keys=keys, n_steps=4, max_iter=12, stop_criterion=0.0
    )
    assert states.image.shape == (3, 5, 1, 16, 16) and history.losses.shape == (3, 12)
    energy = spread["path_energy"]
    assert energy.shape == (3,) and len(set(energy.tolist())) == 3
    assert spread["min"] == energy.min() and spread["max"] == energy.max()
    assert spread["median"] == np.median(energy) and spread["best"] == int(np.argmin(energy))
    for i in range(3):
        # (same configuration as pool_geodesic: reuses its compiled loop)
        geo = jo.Geodesic(a, b, Pool(), n_steps=4)
        s, h = jo.synthesize(
            geo,
            geo.init(initial_sequence="bridge", key=keys[i]),
            max_iter=12,
            store_progress=5,
            stop_criterion=0.0,
            progress=False,
        )
        np.testing.assert_allclose(history.losses[i], h.losses, rtol=1e-5)
        np.testing.assert_allclose(states.image[i], s.image, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(energy[i], geo.path_energy(s.image), rtol=1e-5)


# -- bad inputs ---------------------------------------------------------------------------------------
def test_images_of_different_shapes_are_refused(images):
    a, b = images
    with pytest.raises(ValueError, match="`image_a` and `image_b` must have the same shape"):
        jo.Geodesic(a, b[:, :8], Pool())


def test_unknown_initial_sequence_is_refused(images, pool_geodesic):
    a, b = images
    with pytest.raises(ValueError, match="`initial_sequence` must be 'straight' or 'bridge'"):
        jo.Geodesic(a, b, Pool(), initial_sequence="noise")
    with pytest.raises(ValueError, match="`initial_sequence` must be 'straight', 'bridge'"):
        pool_geodesic.init(initial_sequence="curved")
    with pytest.raises(ValueError, match="`initial_sequence` must have shape"):
        pool_geodesic.init(initial_sequence=jnp.zeros((3, 1, 16, 16)))


@pytest.mark.parametrize("which", ["image_a", "image_b"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_images_are_refused(images, which, bad):
    a, b = images
    poisoned = {"image_a": a, "image_b": b}
    poisoned[which] = poisoned[which].at[0, 3, 3].set(bad)
    with pytest.raises(ValueError, match=f"`{which}` contains NaN or Inf"):
        jo.Geodesic(poisoned["image_a"], poisoned["image_b"], Pool())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(n_steps=1), ValueError, "`n_steps` must be an int >= 2"),
        (dict(range_penalty_lambda=-0.1), ValueError, "`range_penalty_lambda`"),
        (dict(stop_criterion=np.nan), ValueError, "`stop_criterion`"),
        (dict(allowed_range=(1.0, 0.0)), ValueError, "`allowed_range`"),
        (dict(allowed_range=(0.0, 0.1)), ValueError, "`image_a` must lie within allowed_range"),
        (dict(model=lambda x: {"a": x}), TypeError, "one float array"),
        (dict(model="gaussian"), TypeError, "`model` must be callable"),
        (dict(optimizer="adam"), TypeError, "optax"),
    ],
)
def test_other_bad_arguments_are_refused(images, kwargs, error, match):
    a, b = images
    kwargs = {"model": Pool(), **kwargs}
    with pytest.raises(error, match=match):
        jo.Geodesic(a, b, **kwargs)


def test_bridge_needs_a_key_and_unknown_synthesize_options_are_refused(pool_geodesic):
    with pytest.raises(ValueError, match="key="):
        pool_geodesic.init(initial_sequence="bridge")
    with pytest.raises(TypeError, match="change_scale_criterion"):
        jo.synthesize(pool_geodesic, pool_geodesic.init(), max_iter=1, change_scale_criterion=0.1)


def test_saved_progress_needs_stored_sequences(pool_geodesic, pool_run):
    history = pool_run[2]
    bare = jo.History(history.iterations, history.records)
    with pytest.raises(ValueError, match="store_progress"):
        pool_geodesic.saved_progress(bare)
