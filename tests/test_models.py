"""Front-end and naive models (LinearNonlinear, LuminanceGainControl, LuminanceContrastGainControl, OnOff,
Identity, Linear, Gaussian, CenterSurround) and validate_model.

Parity cases come from ``tests/reference/models.npz`` (written by ``tests/reference/gen_models.py`` with
plenoptic 2.1.1 in float64); each case stores its constructor arguments and the reference's parameter
values, which are copied into our model with ``eqx.tree_at`` for non-pretrained cases.
"""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

import jaxoptic as jo
from jaxoptic.models import (
    CenterSurround,
    Gaussian,
    Identity,
    Linear,
    LinearNonlinear,
    LuminanceContrastGainControl,
    LuminanceGainControl,
    OnOff,
    validate_model,
)

REF = load_reference("models")
CASES = sorted({k.split("/")[0] for k in REF if k.endswith("/config")})


def _apply(model, x):
    return model(x)


_jit_apply = eqx.filter_jit(_apply)


@eqx.filter_jit
def _value_and_vjp(model, x, ct):
    y, vjp = jax.vjp(model, x)
    return y, vjp(ct)[0]


def _get(model, path: str):
    for part in path.split("."):
        model = getattr(model, part)
    return model


def _set(model, path: str, value):
    if path == "conv.weight":  # torch (2, 1, kh, kw) -> ours (2, kh, kw)
        return eqx.tree_at(lambda m: m.weight, model, jnp.asarray(value[:, 0]))
    return eqx.tree_at(lambda m: _get(m, path), model, jnp.asarray(value))


def _build_case(name: str):
    config = json.loads(str(REF[f"{name}/config"]))
    kwargs = dict(config["kwargs"])
    if isinstance(kwargs.get("kernel_size"), list):
        kwargs["kernel_size"] = tuple(kwargs["kernel_size"])
    model = getattr(jo.models, config["model"])(**kwargs)
    params = {k.split("/param/")[1]: v for k, v in REF.items() if k.startswith(f"{name}/param/")}
    if not kwargs.get("pretrained"):
        for path, value in params.items():
            model = _set(model, path, value)
    return model, params, bool(kwargs.get("pretrained"))


# ---------------------------------------------------------------------------------------------------------
# parity with plenoptic


@pytest.mark.parametrize("name", CASES)
def test_output_and_gradient_match_plenoptic(name):
    model, _, _ = _build_case(name)
    x = jnp.asarray(REF[f"{name}/input"])
    if f"{name}/grad" in REF:
        y, grad = _value_and_vjp(model, x, jnp.asarray(REF[f"{name}/cotangent"]))
        assert_parity(grad, REF[f"{name}/grad"], f"{name} gradient")
    else:
        y = _jit_apply(model, x)
    assert y.dtype == jnp.float64
    assert_parity(y, REF[f"{name}/out"], name)


@pytest.mark.parametrize("name", [c for c in CASES if "pretrained" in c])
def test_pretrained_parameters_are_the_published_values(name):
    model, params, pretrained = _build_case(name)
    assert pretrained
    for path, value in params.items():
        np.testing.assert_allclose(np.asarray(_get(model, path)), value, rtol=1e-7, err_msg=path)
    assert model.center_surround.amplitude_ratio == 1.25


def test_linear_default_lowpass_matches_plenoptic_and_bandpass_is_normalised():
    weight = np.asarray(Linear(tuple(REF["linear_default/kernel_size"])).weight)
    np.testing.assert_allclose(weight[0], REF["linear_default/lowpass"], rtol=1e-12)
    bandpass = weight[1]
    assert abs(bandpass.sum()) < 1e-12  # a band-pass filter has no DC response
    np.testing.assert_allclose(bandpass[bandpass > 0].sum(), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------------
# construction


def test_call_forms_from_the_design_work():
    x = jnp.full((1, 32, 32), 0.5, dtype=jnp.float32)
    for model in (
        OnOff((31, 31), pretrained=True),
        Gaussian((11, 11), std=2.0),
        CenterSurround((31, 31)),
        LinearNonlinear((31, 31)),
        Identity(),
        LuminanceGainControl((31, 31)),
        LuminanceContrastGainControl((31, 31)),
    ):
        y = model(x)
        assert y.shape[1:] == (32, 32) and y.dtype == jnp.float32


@pytest.mark.parametrize("cls", [LuminanceGainControl, LuminanceContrastGainControl, OnOff])
def test_random_gain_scalars_are_reproducible_from_the_key(cls):
    a = cls(5, key=jax.random.key(3))
    b = cls(5, key=jax.random.key(3))
    c = cls(5, key=jax.random.key(4))
    default = cls(5)
    zero = cls(5, key=jax.random.key(0))
    assert jnp.array_equal(a.luminance_scalar, b.luminance_scalar)
    assert not jnp.array_equal(a.luminance_scalar, c.luminance_scalar)
    assert jnp.array_equal(default.luminance_scalar, zero.luminance_scalar)
    assert bool(jnp.all((a.luminance_scalar >= 0) & (a.luminance_scalar < 10)))
    n = 2 if cls is OnOff else 1
    assert a.luminance_scalar.shape == (n,)
    if cls is not LuminanceGainControl:
        assert a.contrast_scalar.shape == (n,)
        assert not jnp.array_equal(a.luminance_scalar, a.contrast_scalar)


def test_linear_random_filters_are_reproducible_and_bounded():
    a = Linear((4, 4), default_filters=False, key=jax.random.key(1))
    b = Linear((4, 4), default_filters=False, key=jax.random.key(1))
    c = Linear((4, 4), default_filters=False, key=jax.random.key(2))
    assert a.weight.shape == (2, 4, 4)
    assert jnp.array_equal(a.weight, b.weight) and not jnp.array_equal(a.weight, c.weight)
    assert bool(jnp.all(jnp.abs(a.weight) <= 1 / 4))


def test_parameters_are_array_leaves_and_hyperparameters_static():
    model = OnOff(7)
    leaves = jax.tree_util.tree_leaves(model)
    assert len(leaves) == 6 and all(isinstance(v, jax.Array) for v in leaves)
    assert model.center_surround.on_center == (True, False)
    assert model.center_surround.kernel_size == (7, 7)


def test_pretrained_model_warns_when_amplitude_ratio_is_overridden():
    with pytest.warns(UserWarning, match="amplitude_ratio"):
        model = LinearNonlinear(31, pretrained=True, amplitude_ratio=2.0)
    assert model.center_surround.amplitude_ratio == 1.25


def test_pretrained_off_center_warns():
    with pytest.warns(UserWarning, match="on_center"):
        LuminanceGainControl(31, on_center=False, pretrained=True)


# ---------------------------------------------------------------------------------------------------------
# behaviour on one image: dtype, jit, vmap, gradients

SMALL_MODELS = {
    "identity": Identity(),
    "linear": Linear((3, 3)),
    "gaussian": Gaussian(5, std=[1.0, 2.0]),
    "center_surround": CenterSurround((4, 5), on_center=[True, False]),
    "ln": LinearNonlinear(5, pad_mode="circular"),
    "lg": LuminanceGainControl(5, pad_mode="replicate"),
    "lgg": LuminanceContrastGainControl(6),
    "onoff": OnOff(5, apply_mask=True, pad_mode="constant"),
}
N_OUT = {"linear": 2, "gaussian": 2, "center_surround": 2, "onoff": 2}


def _image(shape=(1, 12, 12), dtype=jnp.float64, seed=0):
    return jax.random.uniform(jax.random.key(seed), shape, dtype=dtype)


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_output_dtype_follows_input_and_float32_agrees_with_float64(name):
    model = SMALL_MODELS[name]
    x = _image()
    y64 = model(x)
    y32 = model(x.astype(jnp.float32))
    assert y64.dtype == jnp.float64 and y32.dtype == jnp.float32
    assert y64.shape == y32.shape == (N_OUT.get(name, 1), 12, 12)
    np.testing.assert_allclose(y32, y64, atol=1e-5 * float(jnp.max(jnp.abs(y64))))


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_jit_of_vmap_equals_eager_loop(name):
    model = SMALL_MODELS[name]
    xs = jnp.stack([_image(seed=1), _image(seed=2), _image(seed=3)])
    loop = jnp.stack([model(x) for x in xs])
    batched = jax.jit(jax.vmap(model))(xs)
    np.testing.assert_allclose(batched, loop, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_gradient_with_respect_to_image_is_correct(name):
    check_grads(SMALL_MODELS[name], (_image(),), order=1, modes=("rev",))


@pytest.mark.parametrize(
    "name", ["linear", "gaussian", "center_surround", "ln", "lg", "lgg", "onoff"]
)
def test_trainable_parameters_receive_gradients(name):
    model = SMALL_MODELS[name]
    x = _image()

    @eqx.filter_jit
    @eqx.filter_grad
    def grads(m, image):
        return jnp.sum(m(image) ** 2)

    leaves = jax.tree_util.tree_leaves(eqx.filter(grads(model, x), eqx.is_inexact_array))
    assert leaves and all(bool(jnp.all(jnp.isfinite(g))) and bool(jnp.any(g != 0)) for g in leaves)


def test_channels_are_processed_independently():
    x = _image((3, 12, 12))
    for model, k in ((SMALL_MODELS["onoff"], 2), (SMALL_MODELS["linear"], 2)):
        y = model(x)
        assert y.shape == (3 * k, 12, 12)
        for c in range(3):
            np.testing.assert_allclose(
                y[c * k : (c + 1) * k], model(x[c : c + 1]), rtol=1e-12, atol=1e-15
            )


def test_gaussian_uses_absolute_std():
    model = Gaussian(5, std=2.0)
    negative = eqx.tree_at(lambda m: m.std, model, -model.std)
    x = _image()
    np.testing.assert_allclose(negative(x), model(x), rtol=1e-14)


def test_gaussian_preserves_a_constant_image_and_center_surround_removes_it():
    x = jnp.full((1, 12, 12), 0.7)
    np.testing.assert_allclose(Gaussian((4, 7), std=1.5)(x), 0.7, rtol=1e-12)
    np.testing.assert_allclose(CenterSurround(5)(x), 0.0, atol=1e-12)


def test_filter_properties_expose_the_filters():
    gaussian = Gaussian(5, std=[1.0, 2.0])
    assert gaussian.filt.shape == (2, 5, 5)
    np.testing.assert_allclose(gaussian.filt.sum(axis=(1, 2)), 1.0, rtol=1e-12)
    cs = CenterSurround(7, on_center=[True, False], amplitude_ratio=1.5)
    filt = cs.filt
    assert filt.shape == (2, 7, 7)
    np.testing.assert_allclose(filt.sum(axis=(1, 2)), 0.0, atol=1e-12)
    assert filt[0, 3, 3] > 0 > filt[1, 3, 3]


def test_mask_zeroes_the_corners():
    y = SMALL_MODELS["onoff"](_image())  # apply_mask=True
    assert bool(jnp.all(y[:, 0, 0] == 0)) and bool(jnp.all(y[:, 6, 6] > 0))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_contrast_gain_control_has_finite_gradients_on_flat_and_black_images(dtype):
    model = OnOff(31, pretrained=True)
    grad_fn = jax.jit(jax.grad(lambda im, m: jnp.sum(m(im))))
    for value in (0.0, 0.5):
        x = jnp.full((1, 32, 32), value, dtype=dtype)
        grad = grad_fn(x, model)
        assert grad.dtype == dtype and bool(jnp.all(jnp.isfinite(grad)))


def test_activation_is_configurable():
    x = _image()
    relu = LinearNonlinear(5, activation=jax.nn.relu)
    assert bool(jnp.all(relu(x) >= 0))
    np.testing.assert_allclose(relu(x), jax.nn.relu(relu.center_surround(x)))


# ---------------------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("shape", [(12, 12), (2, 1, 12, 12)])
def test_image_must_be_three_dimensional(shape):
    with pytest.raises(ValueError, match=r"\(channels, height, width\).*vmap"):
        OnOff(5)(jnp.zeros(shape))


def test_integer_images_are_refused():
    with pytest.raises(TypeError, match="floating dtype"):
        Gaussian(5)(jnp.zeros((1, 12, 12), dtype=jnp.int32))


@pytest.mark.parametrize(
    "cls", [LinearNonlinear, LuminanceGainControl, LuminanceContrastGainControl, OnOff]
)
def test_pretrained_needs_kernel_size_31(cls):
    with pytest.raises(ValueError, match=r"kernel_size=31 or \(31, 31\)"):
        cls((15, 15), pretrained=True)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: CenterSurround(5, amplitude_ratio=0.5), "amplitude_ratio` must be at least 1"),
        (lambda: LinearNonlinear(5, amplitude_ratio=0.9), "amplitude_ratio` must be at least 1"),
        (
            lambda: CenterSurround(5, amplitude_ratio=[1.0, 2.0]),
            "amplitude_ratio` must be a scalar",
        ),
        (lambda: Gaussian(5, pad_mode="mirror"), "pad_mode"),
        (lambda: OnOff(5, pad_mode="zeros"), "pad_mode"),
        (lambda: Gaussian(5, std=0.0), "std` must be positive"),
        (
            lambda: Gaussian(5, std=[1.0, 2.0], out_channels=3),
            r"len\(std\) must equal out_channels",
        ),
        (lambda: Gaussian(0), "kernel_size"),
        (lambda: Gaussian(2.5), "kernel_size"),
        (lambda: CenterSurround(5, center_std=[1.0, 2.0], surround_std=[3.0]), "len"),
        (lambda: CenterSurround(5, on_center=[True, False], out_channels=3), "on_center"),
        (lambda: Linear(pad_mode="wrap"), "pad_mode"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_activation_must_be_callable():
    with pytest.raises(TypeError, match="activation"):
        LinearNonlinear(5, activation="softplus")


def test_reflect_padding_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="reflect"):
        Gaussian(31)(jnp.zeros((1, 10, 10)))


# ---------------------------------------------------------------------------------------------------------
# validate_model


@pytest.mark.parametrize("name", list(SMALL_MODELS))
def test_validate_model_accepts_every_model(name):
    model = SMALL_MODELS[name]
    assert validate_model(model, image_shape=(1, 12, 12), dtype=jnp.float64) == (
        N_OUT.get(name, 1),
        12,
        12,
    )


def test_validate_model_default_test_image_is_float32_1x16x16():
    assert validate_model(Gaussian((11, 11), std=2.0)) == (1, 16, 16)


def _python_control_flow(x):
    if x.mean() > 0.5:
        return x
    return -x


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (lambda x: x.astype(jnp.float32), TypeError, "changes the precision"),
        (lambda x: x * jnp.nan, ValueError, "non-finite"),
        (lambda x: x / (x - x), ValueError, "non-finite"),
        (jnp.round, ValueError, "zero everywhere"),
        (lambda x: (x == x.max()).astype(x.dtype), ValueError, "zero everywhere"),
        (lambda x: jax.lax.stop_gradient(x) ** 2, ValueError, "zero everywhere"),
        (jnp.argmax, TypeError, "integer or boolean output"),
        (lambda x: jnp.sqrt(x - x), ValueError, "gradient .* NaN or inf"),
        (_python_control_flow, ValueError, "fails under jax.jit.*control flow"),
        (lambda x: np.asarray(x) * 2, TypeError, "NumPy array"),
        (lambda x: jnp.asarray(np.sin(np.asarray(x))), ValueError, "NumPy"),
        (lambda x: {"out": x}, TypeError, "returns a dict"),
        (lambda x: x * np.random.default_rng().uniform(), ValueError, "jax.jit differs"),
        (lambda x: x[None] if isinstance(x, jax.core.Tracer) else x, ValueError, "jit"),
    ],
)
def test_validate_model_explains_what_to_fix(model, error, match):
    with pytest.raises(error, match=match):
        validate_model(model, dtype=jnp.float64)


def test_validate_model_checks_its_arguments():
    with pytest.raises(TypeError, match="callable"):
        validate_model("not a model")
    with pytest.raises(ValueError, match="image_shape"):
        validate_model(Identity(), image_shape=(16, 16))
    with pytest.raises(TypeError, match="dtype"):
        validate_model(Identity(), dtype=jnp.int32)


def test_validate_model_accepts_complex_outputs_of_matching_precision():
    fourier = jax.jit(jnp.fft.fft2)
    assert validate_model(fourier, dtype=jnp.float64) == (1, 16, 16)
    with pytest.raises(TypeError, match="complex128"):
        validate_model(jax.jit(lambda x: jnp.fft.fft2(x).astype(jnp.complex64)), dtype=jnp.float64)
