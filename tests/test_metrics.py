"""Image-quality metrics: mse, ssim / ssim_map, ms_ssim, nlpd, normalized_laplacian_pyramid, model_metric.

Parity is against plenoptic 2.1.1 float64 outputs stored by ``tests/reference/gen_metrics.py`` (cases
``big`` (2, 161, 180), ``small`` (3, 37, 45) and ``tiny`` (2, 8, 9)). Compilation dominates the run time, so
each reference case is evaluated by one jitted function returning all its outputs, and the transform
tests (dtype, jit, vmap, gradients) reuse one jitted function per metric on the ``small`` images.
"""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

import jaxoptic as jo
from jaxoptic import metrics
from jaxoptic.metrics._nlpd import _DN_SIGMAS, _dn_filters

REF = load_reference("metrics")
CASES = ("big", "small", "tiny")
POWER_FACTORS = {
    "default": None,
    "custom3": [0.5, 0.25, 0.25],
    "equal5": [0.2] * 5,
    "2scales": [0.4, 0.6],
}


def tanh_sub(x):
    """The small nonlinear model of gen_metrics.py: its output shape is unrelated to the image's."""
    return jnp.tanh(2 * x - 1)[:, ::2, ::3]


GAUSSIAN = jo.models.Gaussian(5, std=1.0)
MODELS = {
    "identity": jo.models.Identity(),
    "tanh_sub": tanh_sub,
    "gaussian5_ch0": lambda x: GAUSSIAN(x[:1]),
}


def metric_for(name):
    """The jaxoptic function ``(img1, img2) -> output`` for a reference output name, e.g. 'ssim/w1/pad_reflect'."""
    kind, *rest = name.split("/")
    if kind == "ssim":
        weighted, pad = rest
        pad = False if pad == "pad_False" else pad[len("pad_") :]
        return functools.partial(metrics.ssim, weighted=weighted == "w1", pad=pad)
    if kind == "ms_ssim":
        return functools.partial(metrics.ms_ssim, power_factors=POWER_FACTORS[rest[0]])
    if kind == "nlpd":
        return functools.partial(metrics.nlpd, epsilon=1e-4) if rest else metrics.nlpd
    if kind == "nlp":
        return lambda img1, img2: metrics.normalized_laplacian_pyramid(img1)[int(rest[0])]
    if kind == "model_metric":
        return metrics.model_metric(MODELS[rest[0]])
    return {"ssim_map": metrics.ssim_map, "mse": metrics.mse}[kind]


def pair(case, dtype=jnp.float64):
    return tuple(jnp.asarray(REF[f"{case}/img{i}_u8"] / 255.0, dtype=dtype) for i in (1, 2))


def output_names(case):
    prefix = f"{case}/"
    return [
        k[len(prefix) :]
        for k in REF
        if k.startswith(prefix) and not k.endswith("_u8") and "/grad/" not in k
    ]


@functools.cache
def outputs(case):
    """Every reference output of one case, computed by a single compiled function."""
    names = output_names(case)

    def compute(img1, img2):
        return {name: metric_for(name)(img1, img2) for name in names}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the tiny case warns that the window shrinks
        return jax.device_get(jax.jit(compute)(*pair(case)))


@functools.cache
def jitted(name):
    """One jitted function per metric, shared by the tests on the ``small`` images."""
    return jax.jit(metric_for(name))


# ----------------------------------------------------------------------------------------------------------
# parity with plenoptic

PARITY_KEYS = [f"{case}/{name}" for case in CASES for name in output_names(case)]
GRAD_NAMES = [k[len("small/grad/") :] for k in REF if k.startswith("small/grad/")]


@pytest.mark.parametrize("key", PARITY_KEYS)
def test_outputs_match_plenoptic(key):
    case, name = key.split("/", 1)
    assert_parity(outputs(case)[name], REF[key], key)


@pytest.mark.parametrize("name", GRAD_NAMES)
def test_gradients_match_plenoptic(name):
    img1, img2 = pair("small")
    fn = metric_for(name)
    grad = jax.jit(jax.grad(lambda y: fn(img1, y).sum()))(img2)
    assert_parity(grad, REF[f"small/grad/{name}"], f"grad/{name}")


def test_dn_parameters_equal_plenoptics_data_files_exactly():
    np.testing.assert_array_equal(_dn_filters(), REF["dn_filts"])
    np.testing.assert_array_equal(np.asarray(_DN_SIGMAS), REF["dn_sigmas"])


# ----------------------------------------------------------------------------------------------------------
# defining properties


def test_identical_images_give_ssim_and_ms_ssim_one():
    img = pair("small")[0]
    np.testing.assert_array_equal(
        jitted("ssim_map")(img, img), 1.0
    )  # every local value is exactly 1
    for name in ("ssim/w0/pad_False", "ssim/w1/pad_reflect", "ms_ssim/2scales"):
        np.testing.assert_allclose(jitted(name)(img, img), 1.0, rtol=1e-15, err_msg=name)


def test_identical_images_give_zero_mse_and_sqrt_epsilon_distances():
    img = pair("small")[0]
    np.testing.assert_array_equal(jitted("mse")(img, img), 0.0)
    np.testing.assert_allclose(jitted("nlpd")(img, img), 1e-5, rtol=1e-12)
    np.testing.assert_allclose(jitted("model_metric/tanh_sub")(img, img), 1e-5, rtol=1e-12)


def test_image_metrics_return_one_value_per_channel():
    out = outputs("big")
    for name in ("ssim/w0/pad_False", "ssim/w1/pad_reflect", "ms_ssim/default", "nlpd", "mse"):
        assert out[name].shape == (2,), name


def test_ssim_map_is_the_image_minus_the_window():
    assert outputs("big")["ssim_map"].shape == (2, 151, 170)
    assert outputs("small")["ssim_map"].shape == (3, 27, 35)
    assert outputs("tiny")["ssim_map"].shape == (2, 1, 2)  # 8x9 image: the window shrinks to 8x8


def test_ssim_is_the_mean_of_ssim_map():
    out = outputs("small")
    np.testing.assert_allclose(
        out["ssim/w0/pad_False"], out["ssim_map"].mean(axis=(-2, -1)), rtol=1e-13
    )


def test_ms_ssim_with_one_power_factor_is_ssim_to_that_power():
    img1, img2 = pair("small")
    one_scale = jax.jit(functools.partial(metrics.ms_ssim, power_factors=[0.5]))(img1, img2)
    np.testing.assert_allclose(
        one_scale, jitted("ssim/w0/pad_False")(img1, img2) ** 0.5, rtol=1e-13
    )


def test_power_factors_can_be_traced_and_differentiated():
    img1, img2 = pair("small")
    fn = jax.jit(lambda pf: metrics.ms_ssim(img1, img2, power_factors=pf))
    pf = jnp.asarray([0.4, 0.6])
    np.testing.assert_allclose(fn(pf), REF["small/ms_ssim/2scales"], rtol=1e-12)
    grad = jax.jacobian(fn)(pf)
    assert grad.shape == (3, 2) and np.all(np.isfinite(grad))


def test_model_metric_returns_a_scalar_over_all_output_elements():
    # deliberate: a model's output channels need not match the image's, so there is no (C,) axis
    img1, img2 = pair("small")
    value = jitted("model_metric/tanh_sub")(img1, img2)
    assert value.shape == ()
    expected = jnp.sqrt(jnp.mean((tanh_sub(img1) - tanh_sub(img2)) ** 2) + 1e-10)
    np.testing.assert_allclose(value, expected, rtol=1e-14)


def test_model_metric_averages_over_all_leaves_of_a_pytree_output():
    img1, img2 = pair("tiny")
    metric = metrics.model_metric(lambda x: {"a": x[:1], "b": [2 * x[1:]]})
    diff = jnp.concatenate([(img1 - img2)[:1].ravel(), 2 * (img1 - img2)[1:].ravel()])
    np.testing.assert_allclose(metric(img1, img2), jnp.sqrt(jnp.mean(diff**2) + 1e-10), rtol=1e-13)


def test_model_metric_uses_the_squared_modulus_of_complex_outputs():
    img1, img2 = pair("tiny")
    value = metrics.model_metric(lambda x: x * (1 + 1j))(img1, img2)
    assert value.dtype == jnp.float64
    np.testing.assert_allclose(
        value, jnp.sqrt(2 * jnp.mean((img1 - img2) ** 2) + 1e-10), rtol=1e-13
    )


def test_model_metric_of_an_equinox_model_exposes_the_models_arrays_as_leaves():
    metric = metrics.model_metric(GAUSSIAN)
    assert isinstance(metric, metrics.ModelMetric)
    assert any(leaf is GAUSSIAN.std for leaf in jax.tree_util.tree_leaves(metric))


# ----------------------------------------------------------------------------------------------------------
# dtypes and transforms, on the ``small`` images (MS-SSIM with two scales, which needs 21 x 21 pixels)

TRANSFORM_NAMES = [
    "mse",
    "ssim/w0/pad_False",
    "ssim/w1/pad_reflect",
    "ssim_map",
    "ms_ssim/2scales",
    "nlpd",
    "model_metric/tanh_sub",
]


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_output_dtype_follows_input_dtype(name, dtype):
    assert jitted(name)(*pair("small", dtype)).dtype == dtype


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
def test_float32_matches_float64(name):
    out32 = jitted(name)(*pair("small", jnp.float32))
    out64 = jitted(name)(*pair("small", jnp.float64))
    np.testing.assert_allclose(np.asarray(out32, np.float64), out64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
def test_jit_equals_eager(name):
    img1, img2 = pair("small")
    np.testing.assert_allclose(
        jitted(name)(img1, img2), metric_for(name)(img1, img2), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
def test_vmap_equals_loop(name):
    img1, img2 = pair("small")
    imgs1, imgs2 = jnp.stack([img1, img2]), jnp.stack([img2, img1])
    batched = jax.jit(jax.vmap(metric_for(name)))(imgs1, imgs2)
    looped = jnp.stack([jitted(name)(a, b) for a, b in zip(imgs1, imgs2, strict=True)])
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
def test_reverse_mode_gradients_match_finite_differences(name):
    img1, img2 = pair("small")
    fn = jitted(name)
    # a small step: NLPD's |coefficient| has kinks that the default 1e-4 step can straddle
    check_grads(lambda y: fn(img1, y), (img2,), order=1, modes=("rev",), eps=1e-6)


@pytest.mark.parametrize("name", ["ssim/w0/pad_False", "ssim/w1/pad_reflect", "ms_ssim/2scales"])
def test_ssim_supports_forward_mode_differentiation(name):
    img1, img2 = pair("small")
    fn = jitted(name)
    check_grads(lambda y: fn(img1, y), (img2,), order=1, modes=("fwd",), eps=1e-6)


# ----------------------------------------------------------------------------------------------------------
# bad inputs

ALL_METRICS = {
    "mse": metrics.mse,
    "ssim": metrics.ssim,
    "ssim_map": metrics.ssim_map,
    "ms_ssim": metrics.ms_ssim,
    "nlpd": metrics.nlpd,
    "model_metric": metrics.model_metric(lambda x: x),
}


@pytest.mark.parametrize("name", ALL_METRICS)
def test_two_dimensional_input_is_refused_with_the_image_convention(name):
    img = jnp.zeros((40, 40))
    with pytest.raises(ValueError, match=r"3 dimensions \(channels, height, width\).*x\[None\]"):
        ALL_METRICS[name](img, img)


@pytest.mark.parametrize("name", ALL_METRICS)
def test_four_dimensional_input_points_to_vmap(name):
    img = jnp.zeros((2, 1, 40, 40))
    with pytest.raises(ValueError, match=r"3 dimensions \(channels, height, width\).*jax\.vmap"):
        ALL_METRICS[name](img, img)


@pytest.mark.parametrize("name", ALL_METRICS)
def test_different_shapes_are_refused_naming_both(name):
    with pytest.raises(ValueError, match=r"same shape, got \(1, 40, 40\) and \(1, 40, 41\)"):
        ALL_METRICS[name](jnp.zeros((1, 40, 40)), jnp.zeros((1, 40, 41)))


@pytest.mark.parametrize("name", ALL_METRICS)
def test_different_dtypes_are_refused(name):
    with pytest.raises(TypeError, match=r"same dtype, got float32 and float64"):
        ALL_METRICS[name](jnp.zeros((1, 40, 40), jnp.float32), jnp.zeros((1, 40, 40), jnp.float64))


@pytest.mark.parametrize("name", ALL_METRICS)
def test_integer_images_are_refused(name):
    img = jnp.zeros((1, 40, 40), jnp.uint8)
    with pytest.raises(TypeError, match=r"real floating dtype.*astype\(jnp.float32\) / 255"):
        ALL_METRICS[name](img, img)


def test_ms_ssim_refuses_images_too_small_for_its_scales():
    img = jnp.zeros((1, 160, 200))
    with pytest.raises(
        ValueError, match=r"5 scales needs images of at least 161x161 pixels.*160x200"
    ):
        metrics.ms_ssim(img, img)
    with pytest.raises(ValueError, match=r"3 scales needs images of at least 41x41"):
        metrics.ms_ssim(img[:, :40, :40], img[:, :40, :40], power_factors=[0.3, 0.3, 0.4])


@pytest.mark.parametrize("power_factors", [[], [[0.5, 0.5]]])
def test_ms_ssim_refuses_power_factors_that_are_not_a_nonempty_vector(power_factors):
    img = jnp.zeros((1, 200, 200))
    with pytest.raises(ValueError, match="`power_factors` must be a non-empty 1-D sequence"):
        metrics.ms_ssim(img, img, power_factors=power_factors)


@pytest.mark.parametrize("fn", [metrics.nlpd, lambda a, b: metrics.normalized_laplacian_pyramid(a)])
def test_nlpd_refuses_images_smaller_than_33_pixels(fn):
    img = jnp.zeros((1, 32, 64))
    with pytest.raises(ValueError, match=r"at least 33x33 pixels.*32x64"):
        fn(img, img)


@pytest.mark.parametrize("pad", [True, "zeros", None])
def test_ssim_refuses_unknown_padding(pad):
    img = jnp.zeros((1, 16, 16))
    with pytest.raises(ValueError, match=r"`pad` must be False"):
        metrics.ssim(img, img, pad=pad)


@pytest.mark.parametrize("fn", [metrics.ssim, metrics.ssim_map])
def test_ssim_warns_when_the_image_is_smaller_than_the_window(fn):
    img = jax.ShapeDtypeStruct((1, 8, 9), jnp.float32)  # the warning depends on the shape only
    with pytest.warns(UserWarning, match=r"11x11 Gaussian window.*8x9.*8x8"):
        jax.eval_shape(fn, img, img)


def test_model_metric_refuses_a_non_callable():
    with pytest.raises(TypeError, match="`model` must be callable"):
        metrics.model_metric(jnp.zeros(3))
