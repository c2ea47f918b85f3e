"""MADCompetition: objective, default lambda and optimizer parity with plenoptic 2.1.1, the four-image
batch, transforms, stopping, faults and bad inputs."""

import warnings

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
from jaxoptic.synthesis._mad_competition import _default_optimizer, _tradeoff_lambda


def ssim_distance(a, b):
    """``1 - SSIM``: SSIM is a similarity, MAD needs distances."""
    return 1 - jo.metrics.ssim(a, b)


def blur_mse(a, b):
    """A cheap second distance: the MSE of 2x2 block means (blind to fine detail)."""
    c, h, w = a.shape
    pool = lambda x: x.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    return jo.metrics.mse(pool(a), pool(b))


METRICS = {"mse": jo.metrics.mse, "ssim": ssim_distance}
CASES = ["mse_ssim_min", "mse_ssim_max", "ssim_mse_min", "ssim_mse_max"]


@eqx.filter_jit
def value_and_grad(mad, x, target):
    return jax.value_and_grad(mad.objective)(x, target)


@pytest.fixture(scope="module")
def ref():
    return load_reference("mad_competition")


@pytest.fixture(scope="module")
def camera64(ref):
    return jnp.asarray(ref["image_u8"].astype(np.float64) / 255)


def _reference_mad(camera64, ref, case):
    opt, held, minmax = case.split("_")
    lam = float(ref[f"{case}/metric_tradeoff_lambda"])
    return jo.MADCompetition(camera64, METRICS[opt], METRICS[held], minmax, lam)


@pytest.fixture(scope="module")
def small():
    return jo.data.camera()[:, 96:112, 96:112].astype(jnp.float64)


@pytest.fixture(scope="module")
def cheap_mad(small):
    return jo.MADCompetition(small, jo.metrics.mse, blur_mse, "max", metric_tradeoff_lambda=1e3)


# -- parity with plenoptic -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_objective_and_gradient_match_plenoptic(camera64, ref, case):
    mad = _reference_mad(camera64, ref, case)
    state = mad.init(initial_image=jnp.asarray(ref["initial_image"]))
    value, grad = value_and_grad(mad, state.image, state.reference_metric_target)
    assert_parity(value, ref[f"{case}/objective"], f"{case} objective")
    assert_parity(state.loss, ref[f"{case}/objective"], f"{case} initial loss")
    assert_parity(grad, ref[f"{case}/gradient"], f"{case} gradient")


@pytest.mark.parametrize("case", ["mse_ssim_min", "ssim_mse_min"])
def test_default_metric_tradeoff_lambda_follows_plenoptic_rule(camera64, ref, case):
    opt, held, _ = case.split("_")
    lam = _tradeoff_lambda(camera64, METRICS[opt], METRICS[held], jnp.asarray(ref["rand"]))
    assert lam == float(ref[f"{case}/metric_tradeoff_lambda"])


@pytest.mark.parametrize("case", CASES)
def test_adam_run_matches_plenoptic(camera64, ref, case):
    mad = _reference_mad(camera64, ref, case)
    state = mad.init(initial_image=jnp.asarray(ref["initial_image"]))
    state, history = jo.synthesize(mad, state, max_iter=10, progress=False, stop_criterion=0.0)
    # plenoptic's length-11 records end with the value at the final image
    final_opt, final_ref = mad.metric_values(state.image)
    final_loss = mad.objective(state.image, state.reference_metric_target)
    final_penalty = jo.penalties.range_penalty(state.image)
    ours = {
        "losses": np.append(history.losses, final_loss),
        "optimized_metric_loss": np.append(history.optimized_metric_loss, final_opt),
        "reference_metric_loss": np.append(history.reference_metric_loss, final_ref),
        "penalties": np.append(history.penalties, final_penalty),
        "gradient_norm": history.gradient_norm,
        "pixel_change_norm": history.pixel_change_norm,
        "final_image": state.image,
    }
    for name, value in ours.items():
        assert_parity(value, ref[f"{case}/{name}"], f"{case} {name}")
    np.testing.assert_allclose(history.learning_rate, 0.01)


def test_default_optimizer_is_torch_adam_with_amsgrad(ref):
    params = jnp.asarray(ref["amsgrad/params0"])
    opt = _default_optimizer()
    opt_state = opt.init(params)
    trajectory = []
    for g in ref["amsgrad/grads"]:
        updates, opt_state = opt.update(jnp.asarray(g), opt_state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append(params)
    assert_parity(np.stack(trajectory), ref["amsgrad/params"], "torch amsgrad trajectory")


def test_optax_amsgrad_differs_from_torch_once_gradients_shrink(ref):
    # optax keeps the maximum of the bias-corrected second moment, torch of the raw one: the
    # trajectories part as soon as a gradient shrinks (here from step 6 on)
    params = jnp.asarray(ref["amsgrad/params0"])
    opt = optax.amsgrad(0.01)
    opt_state = opt.init(params)
    trajectory = []
    for g in ref["amsgrad/grads"]:
        updates, opt_state = opt.update(jnp.asarray(g), opt_state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append(params)
    trajectory = np.stack(trajectory)
    np.testing.assert_allclose(trajectory[0], ref["amsgrad/params"][0], rtol=1e-12)
    assert not np.allclose(trajectory[-1], ref["amsgrad/params"][-1], rtol=1e-6, atol=0)


# -- the four-image batch ------------------------------------------------------------------------------
def test_mad_competition_set_lanes_equal_solo_runs(camera64):
    key = jax.random.key(3)
    with pytest.warns(UserWarning, match="metric_tradeoff_lambda"):
        mads, states = jo.recipes.mad_competition_set(
            camera64, jo.metrics.mse, ssim_distance, key=key
        )
    np.testing.assert_array_equal(mads.optimized_index, [0, 0, 1, 1])
    np.testing.assert_array_equal(mads.sign, [1, -1, 1, -1])
    for i in range(1, 4):  # one shared initial image
        np.testing.assert_array_equal(states.initial_image[i], states.initial_image[0])
    bstate, bhist = jo.synthesize(mads, states, max_iter=10, progress=False, stop_criterion=0.0)
    assert bhist.losses.shape == (4, 10)
    noise_key, lambda_key = jax.random.split(key)
    lanes = [
        (jo.metrics.mse, ssim_distance, "min"),
        (jo.metrics.mse, ssim_distance, "max"),
        (ssim_distance, jo.metrics.mse, "min"),
        (ssim_distance, jo.metrics.mse, "max"),
    ]
    for i, (opt, held, minmax) in enumerate(lanes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            mad = jo.MADCompetition(camera64, opt, held, minmax, key=lambda_key)
        assert float(mad.metric_tradeoff_lambda) == float(mads.metric_tradeoff_lambda[i])
        state, hist = jo.synthesize(
            mad, mad.init(key=noise_key), max_iter=10, progress=False, stop_criterion=0.0
        )
        for name in ["losses", "optimized_metric_loss", "reference_metric_loss"]:
            np.testing.assert_allclose(bhist.records[name][i], hist.records[name], rtol=1e-10)
        np.testing.assert_allclose(bstate.image[i], state.image, rtol=1e-10, atol=1e-12)
    # each lane moved its optimized metric the right way
    opt_loss = bhist.optimized_metric_loss
    assert opt_loss[0, -1] < opt_loss[0, 0] and opt_loss[1, -1] > opt_loss[1, 0]
    assert opt_loss[2, -1] < opt_loss[2, 0] and opt_loss[3, -1] > opt_loss[3, 0]


def test_batch_over_targets_built_with_filter_vmap_equals_solo_runs(cheap_mad):
    images = jnp.stack([jo.data.camera()[:, :16, :16], jo.data.brick()[:, :16, :16]])
    images = images.astype(jnp.float64)
    keys = jax.random.split(jax.random.key(4), 2)

    def build(im, k):
        mad = jo.MADCompetition(im, jo.metrics.mse, blur_mse, "max", 1e3)
        return mad, mad.init(key=k)

    mads, states = eqx.filter_vmap(build)(images, keys)
    bstate, bhist = jo.synthesize(mads, states, max_iter=8, progress=False)
    for i in range(2):
        mad, state = build(images[i], keys[i])
        state, hist = jo.synthesize(mad, state, max_iter=8, progress=False)
        np.testing.assert_allclose(bhist.losses[i], hist.losses, rtol=1e-10)
        np.testing.assert_allclose(bstate.image[i], state.image, rtol=1e-10, atol=1e-12)


def test_mad_competition_set_takes_a_pair_of_lambdas(small):
    mads, _ = jo.recipes.mad_competition_set(
        small, jo.metrics.mse, blur_mse, key=jax.random.key(0), metric_tradeoff_lambda=(2.0, 3.0)
    )
    np.testing.assert_array_equal(mads.metric_tradeoff_lambda, [2.0, 2.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="metric_tradeoff_lambda.*pair"):
        jo.recipes.mad_competition_set(
            small, jo.metrics.mse, blur_mse, key=jax.random.key(0), metric_tradeoff_lambda=1.0
        )


def test_roles_of_a_batch_are_arrays_and_properties_need_one_lane(small):
    mads, _ = jo.recipes.mad_competition_set(
        small, jo.metrics.mse, blur_mse, key=jax.random.key(0), metric_tradeoff_lambda=(1.0, 1.0)
    )
    with pytest.raises(ValueError, match="batch"):
        _ = mads.minmax
    lane3 = jax.tree.map(lambda x: x[3] if eqx.is_array(x) else x, mads)
    assert lane3.minmax == "max"
    assert lane3.optimized_metric is blur_mse and lane3.reference_metric is jo.metrics.mse


# -- behaviour -----------------------------------------------------------------------------------------
def test_constructor_chooses_lambda_from_key_and_warns_at_the_caller(small):
    key = jax.random.key(7)
    with pytest.warns(UserWarning, match="metric_tradeoff_lambda was None") as record:
        mad = jo.MADCompetition(small, jo.metrics.mse, blur_mse, "min", key=key)
    assert record[0].filename == __file__
    other = jax.random.uniform(key, small.shape, dtype=small.dtype)
    assert float(mad.metric_tradeoff_lambda) == _tradeoff_lambda(
        small, jo.metrics.mse, blur_mse, other
    )


def test_attributes_report_the_roles(cheap_mad):
    assert cheap_mad.minmax == "max"
    assert cheap_mad.optimized_metric is jo.metrics.mse
    assert cheap_mad.reference_metric is blur_mse
    assert float(cheap_mad.metric_tradeoff_lambda) == 1e3


def test_default_initial_image_is_image_plus_gaussian_noise(small):
    mad = jo.MADCompetition(small, jo.metrics.mse, blur_mse, "min", 1.0, initial_noise=0.2)
    key = jax.random.key(1)
    state = mad.init(key=key)
    expected = small + 0.2 * jax.random.normal(key, small.shape, dtype=small.dtype)
    np.testing.assert_allclose(state.image, expected, rtol=1e-12)
    assert float(state.image.min()) < 0  # not clipped
    np.testing.assert_array_equal(state.initial_image, state.image)
    np.testing.assert_allclose(state.reference_metric_target, blur_mse(small, state.image)[0])


@pytest.mark.parametrize("minmax", ["min", "max"])
def test_optimized_metric_moves_while_reference_metric_is_held(small, minmax):
    mad = jo.MADCompetition(small, jo.metrics.mse, blur_mse, minmax, 1e5)
    state, history = jo.synthesize(
        mad, mad.init(key=jax.random.key(0)), max_iter=40, progress=False
    )
    opt = history.optimized_metric_loss
    assert (opt[-1] < 0.7 * opt[0]) if minmax == "min" else (opt[-1] > 1.3 * opt[0])
    target = float(state.reference_metric_target)
    # Adam's first steps move every pixel by about the learning rate; the hold then pulls back
    assert np.max(np.abs(history.reference_metric_loss - target)) < 0.2 * target


def test_records_are_aligned_with_losses(cheap_mad, small):
    state0 = cheap_mad.init(key=jax.random.key(0))
    state, history = jo.synthesize(cheap_mad, state0, max_iter=6, progress=False, store_progress=1)
    target = float(state.reference_metric_target)
    for i, x in enumerate(history.saved_images):
        opt, ref = jo.metrics.mse(small, x)[0], blur_mse(small, x)[0]
        penalty = jo.penalties.range_penalty(x)
        np.testing.assert_allclose(history.optimized_metric_loss[i], opt, rtol=1e-12)
        np.testing.assert_allclose(history.reference_metric_loss[i], ref, rtol=1e-12)
        np.testing.assert_allclose(history.penalties[i], penalty, rtol=1e-12)
        loss = -opt + 1e3 * (target - ref) ** 2 + 0.1 * penalty
        np.testing.assert_allclose(history.losses[i], loss, rtol=1e-12)
    assert np.isnan(state0.gradient_norm) and np.all(history.gradient_norm > 0)


def test_per_channel_metrics_are_averaged_over_channels():
    img = jnp.stack([jo.data.camera()[0, :16, :16], jo.data.brick()[0, :16, :16]]).astype(
        jnp.float64
    )
    mad = jo.MADCompetition(img, jo.metrics.mse, blur_mse, "min", 1.0)
    x = img + 0.1
    opt, ref = mad.metric_values(x)
    np.testing.assert_allclose(opt, jnp.mean(jo.metrics.mse(img, x)), rtol=1e-12)
    np.testing.assert_allclose(ref, jnp.mean(blur_mse(img, x)), rtol=1e-12)
    scalar = jo.MADCompetition(img, lambda a, b: jnp.mean((a - b) ** 2), blur_mse, "min", 1.0)
    np.testing.assert_allclose(scalar.metric_values(x)[0], opt, rtol=1e-12)


def test_objective_gradient_is_correct(cheap_mad):
    state = cheap_mad.init(key=jax.random.key(2))
    f = lambda x: cheap_mad.objective(x, state.reference_metric_target)
    check_grads(jax.jit(f), (state.image,), order=1, modes=("rev",))


def test_step_is_pure_and_jit_equals_eager(cheap_mad):
    state = cheap_mad.init(key=jax.random.key(0))
    eager = cheap_mad.step(state)
    jitted = jax.jit(cheap_mad.step)(state)
    np.testing.assert_allclose(eager.image, jitted.image, rtol=1e-12)
    np.testing.assert_array_equal(jax.jit(cheap_mad.step)(state).image, jitted.image)
    assert int(state.iteration) == 0 and int(jitted.iteration) == 1


def test_repeated_calls_and_new_methods_of_the_same_structure_do_not_recompile(cheap_mad, small):
    state, _ = jo.synthesize(
        cheap_mad, cheap_mad.init(key=jax.random.key(0)), max_iter=3, progress=False
    )
    before = _driver.TRACE_COUNT
    jo.synthesize(cheap_mad, state, max_iter=4, progress=False)
    # another target, minmax and lambda, same metrics and default optimizer: same compiled program
    other = jo.MADCompetition(small[:, ::-1], jo.metrics.mse, blur_mse, "min", 5.0)
    jo.synthesize(other, other.init(key=jax.random.key(1)), max_iter=2, progress=False)
    assert _driver.TRACE_COUNT == before


def test_state_holds_only_arrays_and_a_resumed_run_is_bitwise_equal(cheap_mad):
    state0 = cheap_mad.init(key=jax.random.key(0))
    leaves = jax.tree.leaves(state0)
    assert leaves and all(isinstance(x, jax.Array) for x in leaves)
    full, full_hist = jo.synthesize(
        cheap_mad, state0, max_iter=12, progress=False, stop_criterion=0.0
    )
    half, h1 = jo.synthesize(cheap_mad, state0, max_iter=5, progress=False, stop_criterion=0.0)
    restored = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), half)  # as a checkpoint would
    resumed, h2 = jo.synthesize(cheap_mad, restored, max_iter=7, progress=False, stop_criterion=0.0)
    np.testing.assert_array_equal(resumed.image, full.image)
    np.testing.assert_array_equal((h1 + h2).losses, full_hist.losses)


def test_stop_rule_fires(cheap_mad):
    state, history = jo.synthesize(
        cheap_mad,
        cheap_mad.init(key=jax.random.key(0)),
        max_iter=200,
        progress=False,
        stop_criterion=1e-2,
        stop_iters_to_check=3,
    )
    assert jo.Status(int(state.status)) is jo.Status.CONVERGED
    assert len(history) < 200 and abs(history.losses[-3] - history.losses[-1]) < 1e-2


def test_float32_keeps_dtype(small):
    img = small.astype(jnp.float32)
    mad = jo.MADCompetition(img, jo.metrics.mse, blur_mse, "max", 1e3)
    state, history = jo.synthesize(mad, mad.init(key=jax.random.key(0)), max_iter=3, progress=False)
    floats = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert all(x.dtype == jnp.float32 for x in floats)
    assert all(v.dtype == np.float32 for v in history.records.values())


def test_line_search_optimizer_works(small):
    mad = jo.MADCompetition(small, jo.metrics.mse, blur_mse, "min", 1e3, optimizer=optax.lbfgs())
    _, history = jo.synthesize(mad, mad.init(key=jax.random.key(0)), max_iter=10, progress=False)
    assert np.all(np.isfinite(history.losses)) and history.losses[-1] < history.losses[0]
    assert np.all(history.learning_rate > 0)


def test_nonfinite_objective_stops_with_status_and_keeps_last_finite_image(small):
    img = small * 0.5 + 0.25

    def log_metric(a, b):  # NaN once a pixel of b goes negative
        return jnp.mean((a - b) ** 2) + 0.0 * jnp.sum(jnp.log(b))

    mad = jo.MADCompetition(img, log_metric, blur_mse, "max", 0.0, optimizer=optax.sgd(1e4))
    state0 = mad.init(initial_image=img + 0.01)
    with pytest.raises(jo.NonFiniteLossError, match="NaN or Inf") as info:
        jo.synthesize(mad, state0, max_iter=50, progress=False)
    state = info.value.state
    assert jo.Status(int(state.status)) is jo.Status.NONFINITE
    assert np.isfinite(float(mad.objective(state.image, state.reference_metric_target)))


def test_unknown_synthesize_option_is_refused(cheap_mad):
    with pytest.raises(TypeError, match="ctf_iters_to_check"):
        jo.synthesize(
            cheap_mad, cheap_mad.init(key=jax.random.key(0)), max_iter=1, ctf_iters_to_check=3
        )


# -- bad inputs ----------------------------------------------------------------------------------------
def test_initial_image_of_a_different_shape_is_refused(cheap_mad):
    with pytest.raises(ValueError, match="`initial_image` has shape .* must match"):
        cheap_mad.init(initial_image=jnp.zeros((1, 8, 8)))


def test_init_needs_a_key_or_an_initial_image(cheap_mad):
    with pytest.raises(ValueError, match="key="):
        cheap_mad.init()


@pytest.mark.parametrize("minmax", ["maximum", "MIN", None])
def test_unknown_minmax_is_refused(small, minmax):
    with pytest.raises(ValueError, match="`minmax` must be 'min' or 'max'"):
        jo.MADCompetition(small, jo.metrics.mse, blur_mse, minmax, 1.0)


@pytest.mark.parametrize("which", ["optimized_metric", "reference_metric"])
@pytest.mark.parametrize(
    "bad",
    [lambda a, b: (a - b) ** 2, lambda a, b: jnp.zeros(5), lambda a, b: (jnp.sum(a - b),) * 2],
    ids=["per_pixel", "wrong_length", "tuple"],
)
def test_metric_that_is_not_scalar_or_per_channel_is_refused(small, which, bad):
    metrics = {"optimized_metric": jo.metrics.mse, "reference_metric": blur_mse, which: bad}
    with pytest.raises(
        ValueError, match=f"`{which}` must return a scalar or one value per channel"
    ):
        jo.MADCompetition(
            small, metrics["optimized_metric"], metrics["reference_metric"], "min", 1.0
        )


@pytest.mark.parametrize("which", ["optimized_metric", "reference_metric"])
def test_similarity_instead_of_distance_is_refused(small, which):
    metrics = {"optimized_metric": jo.metrics.mse, "reference_metric": blur_mse}
    metrics[which] = lambda a, b: jnp.mean(a * b) + 1.0
    with pytest.raises(
        ValueError, match=f"`{which}` must be a distance.*1 - jaxoptic.metrics.ssim"
    ):
        jo.MADCompetition(
            small, metrics["optimized_metric"], metrics["reference_metric"], "min", 1.0
        )


def test_non_callable_metric_is_refused(small):
    with pytest.raises(TypeError, match="`reference_metric` must be a callable"):
        jo.MADCompetition(small, jo.metrics.mse, "mse", "min", 1.0)


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf])
def test_non_finite_image_or_initial_image_is_refused(small, cheap_mad, bad):
    broken = small.at[0, 0, 0].set(bad)
    with pytest.raises(ValueError, match="`image` contains NaN or Inf"):
        jo.MADCompetition(broken, jo.metrics.mse, blur_mse, "min", 1.0)
    with pytest.raises(ValueError, match="`initial_image` contains NaN or Inf"):
        cheap_mad.init(initial_image=broken)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("penalty_lambda", {"penalty_lambda": -1.0}),
        ("metric_tradeoff_lambda", {"metric_tradeoff_lambda": np.nan}),
        ("initial_noise", {"initial_noise": -0.1}),
    ],
)
def test_bad_weights_are_refused(small, name, kwargs):
    with pytest.raises(ValueError, match=f"`{name}` must be a finite number"):
        jo.MADCompetition(small, jo.metrics.mse, blur_mse, "min", **kwargs)


def test_optimizer_must_be_optax(small):
    with pytest.raises(TypeError, match="optax"):
        jo.MADCompetition(small, jo.metrics.mse, blur_mse, "min", 1.0, optimizer="adam")
