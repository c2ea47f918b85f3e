"""Signal and statistics helpers (``jaxoptic.process``): parity with plenoptic, dtypes, transforms, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

import jaxoptic as jo
from jaxoptic.process import (
    add_noise,
    autocorrelation,
    center_crop,
    expand,
    kurtosis,
    modulate_phase,
    polar_to_rectangular,
    polar_to_rectangular_dict,
    rectangular_to_polar,
    rectangular_to_polar_dict,
    rescale,
    shrink,
    skew,
    variance,
)

REF = load_reference("signal")
INPUTS = {k.split("/", 1)[1]: v for k, v in REF.items() if k.startswith("input/")}


def _ref_keys(prefix):
    return sorted(k for k in REF if k.startswith(prefix + "/"))


# ---------------------------------------------------------------------------------------------
# parity with plenoptic (float64)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", _ref_keys("expand") + _ref_keys("shrink"))
def test_expand_shrink_match_plenoptic(key):
    fn, case = key.split("/")
    name, factor = case.rsplit("_f", 1)
    factor = float(factor) if "." in factor else int(factor)
    ours = {"expand": expand, "shrink": shrink}[fn](jnp.asarray(INPUTS[name]), factor)
    assert ours.dtype == INPUTS[name].dtype
    assert_parity(ours, REF[key], key)


@pytest.mark.parametrize("key", _ref_keys("autocorrelation"))
def test_autocorrelation_matches_plenoptic(key):
    name = key.split("/")[1]
    assert_parity(autocorrelation(jnp.asarray(INPUTS[name])), REF[key], key)


@pytest.mark.parametrize("key", _ref_keys("center_crop"))
def test_center_crop_matches_plenoptic(key):
    name, n = key.split("/")[1].rsplit("_", 1)
    assert_parity(center_crop(jnp.asarray(INPUTS[name]), int(n)), REF[key], key)


@pytest.mark.parametrize("factor", [2, 0.5])
def test_modulate_phase_matches_plenoptic(factor):
    key = f"modulate_phase/cplx_{factor}"
    assert_parity(modulate_phase(jnp.asarray(INPUTS["cplx"]), factor), REF[key], key)


def test_polar_forms_match_plenoptic():
    amp, phase = rectangular_to_polar(jnp.asarray(INPUTS["cplx"]))
    assert_parity(amp, REF["rectangular_to_polar/cplx_amplitude"], "amplitude")
    assert_parity(phase, REF["rectangular_to_polar/cplx_phase"], "phase")
    z = polar_to_rectangular(jnp.asarray(INPUTS["positive"]), jnp.asarray(INPUTS["phase"]))
    assert_parity(z, REF["polar_to_rectangular/positive"], "polar_to_rectangular")


def test_rescale_matches_plenoptic():
    x = jnp.asarray(INPUTS["real"])
    assert_parity(rescale(x), REF["rescale/real"], "rescale")
    assert_parity(rescale(x, a=-1, b=2), REF["rescale/real_m1_2"], "rescale(-1, 2)")


@pytest.mark.parametrize("fn", [variance, skew, kurtosis], ids=lambda f: f.__name__)
def test_moments_match_plenoptic(fn):
    x = jnp.asarray(INPUTS["real"])
    name = fn.__name__
    assert_parity(fn(x), REF[f"{name}/all"], f"{name} all")
    assert_parity(fn(x, dim=[-2, -1]), REF[f"{name}/hw"], f"{name} hw")
    assert_parity(fn(x, dim=(-2, -1), keepdim=True), REF[f"{name}/hw_keep"], f"{name} keepdim")
    assert_parity(fn(x, mean=0, dim=[-2, -1]), REF[f"{name}/hw_mean0"], f"{name} mean=0")
    if fn is not variance:
        var0 = variance(x, mean=0, dim=[-2, -1])
        assert_parity(fn(x, mean=0, var=var0, dim=[-2, -1]), REF[f"{name}/hw_given"], name)


# ---------------------------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------------------------


def test_moments_accept_axis_alias():
    x = jnp.asarray(INPUTS["real"])
    np.testing.assert_array_equal(skew(x, axis=(-2, -1)), skew(x, dim=(-2, -1)))
    with pytest.raises(ValueError, match="`dim` or `axis`, not both"):
        kurtosis(x, dim=-1, axis=-1)


def test_gaussian_moments():
    # exact Gaussian quantiles: no random draws (whose compilation is slow)
    x = jax.scipy.special.ndtri((jnp.arange(200_000, dtype=jnp.float64) + 0.5) / 200_000)
    assert abs(float(variance(x)) - 1) < 1e-3
    assert abs(float(skew(x))) < 1e-8
    assert abs(float(kurtosis(x)) - 3) < 1e-2


def test_autocorrelation_centre_is_variance_of_zero_mean_signal():
    x = jnp.asarray(INPUTS["real"])
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    ac = autocorrelation(x)
    np.testing.assert_allclose(ac[:, 8, 8], variance(x, dim=(-2, -1)), rtol=1e-12)


def test_expand_then_shrink_keeps_band_limited_signals():
    # exact for signals without Nyquist content (the Nyquist row/column is split, then averaged)
    yy, xx = jnp.meshgrid(jnp.arange(16.0), jnp.arange(16.0), indexing="ij")
    x = (1.0 + jnp.cos(2 * jnp.pi * 3 * yy / 16) + jnp.sin(2 * jnp.pi * (yy + 2 * xx) / 16))[None]
    np.testing.assert_allclose(shrink(expand(x, 2), 2), x, atol=1e-12)
    np.testing.assert_allclose(expand(x, 4)[:, ::4, ::4], x, atol=1e-12)


def test_rescale_constant_maps_to_a_with_finite_gradient():
    x = jnp.full((3, 3), 2.0)
    np.testing.assert_array_equal(rescale(x, a=-1.0, b=1.0), -1.0)
    assert np.all(np.isfinite(jax.jit(jax.grad(lambda x: rescale(x).sum()))(x)))


def test_polar_dict_round_trip_on_pyramid():
    pyr = jo.pyramids.SteerablePyramid((16, 16), height=2, is_complex=True)
    coeffs = pyr(jnp.asarray(INPUTS["real"]))
    energy, state = rectangular_to_polar_dict(coeffs)
    assert list(energy) == [0, 1] and list(state) == [0, 1]
    energy, state = rectangular_to_polar_dict(coeffs, residuals=True)
    assert list(energy) == [0, 1, "residual_lowpass", "residual_highpass"]
    back = polar_to_rectangular_dict(energy, state)
    for k, v in coeffs.items():
        np.testing.assert_allclose(back[k], v, atol=1e-12)
    # OrderedDicts with mixed keys are valid pytrees
    assert len(jax.tree.leaves(back)) == 4


def test_add_noise_has_exact_mse():
    img = jnp.asarray(INPUTS["real"])
    noisy = add_noise(img, 0.05, key=jax.random.key(1))
    assert noisy.shape == img.shape and noisy.dtype == img.dtype
    np.testing.assert_allclose(jnp.mean((noisy - img) ** 2, axis=(-2, -1)), 0.05, rtol=1e-12)
    several = add_noise(img, [0.01, 0.1, 1.0], key=jax.random.key(1))
    assert several.shape == (3, *img.shape)
    np.testing.assert_allclose(
        jnp.mean((several - img) ** 2, axis=(-2, -1)),
        [[0.01] * 2, [0.1] * 2, [1.0] * 2],
        rtol=1e-12,
    )


def test_add_noise_float32_and_key_is_required():
    img = jnp.zeros((1, 8, 8), jnp.float32)
    noisy = jax.eval_shape(lambda i: add_noise(i, 0.1, key=jax.random.key(0)), img)
    assert noisy.dtype == jnp.float32
    with pytest.raises(TypeError):
        add_noise(img, 0.1)
    with pytest.raises(ValueError, match="3 dimensions"):
        add_noise(jnp.zeros((8, 8)), 0.1, key=jax.random.key(0))


# ---------------------------------------------------------------------------------------------
# dtypes, jit, vmap, grad
# ---------------------------------------------------------------------------------------------

REAL_FNS = {
    "expand2": lambda x: expand(x, 2),
    "shrink2": lambda x: shrink(x, 2),
    "autocorrelation": autocorrelation,
    "center_crop": lambda x: center_crop(x, 5),
    "rescale": rescale,
    "skew": lambda x: skew(x, dim=(-2, -1)),
    "kurtosis": lambda x: kurtosis(x, dim=(-2, -1)),
    "variance": lambda x: variance(x, dim=(-2, -1)),
}
COMPLEX_FNS = {
    "expand2": lambda x: expand(x, 2),
    "shrink4": lambda x: shrink(x, 4),
    "modulate_phase": modulate_phase,
    "amplitude": lambda x: rectangular_to_polar(x)[0],
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("name", list(REAL_FNS))
def test_real_helpers_keep_dtype(name, dtype):
    x = jnp.asarray(INPUTS["real"], dtype=dtype)
    assert REAL_FNS[name](x).dtype == dtype


@pytest.mark.parametrize("dtype", [jnp.complex64, jnp.complex128])
@pytest.mark.parametrize("name", list(COMPLEX_FNS))
def test_complex_helpers_keep_precision(name, dtype):
    out = COMPLEX_FNS[name](jnp.asarray(INPUTS["cplx"], dtype=dtype))
    assert out.dtype in (dtype, jnp.finfo(dtype).dtype)


@pytest.mark.parametrize("name", ["expand2", "autocorrelation", "skew"])
def test_jit_equals_eager(name):
    x = jnp.asarray(INPUTS["real"])
    np.testing.assert_allclose(
        jax.jit(REAL_FNS[name])(x), REAL_FNS[name](x), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("name", ["shrink2", "autocorrelation", "kurtosis"])
def test_vmap_equals_loop(name):
    xs = jnp.asarray(INPUTS["real"])[:, None]
    fn = REAL_FNS[name]
    np.testing.assert_allclose(
        jax.vmap(fn)(xs), jnp.stack([fn(x) for x in xs]), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("name", ["expand2", "shrink2", "autocorrelation", "skew", "kurtosis"])
def test_gradients_of_real_helpers(name):
    x = jnp.asarray(INPUTS["real"])[:1, :8, :8]
    check_grads(jax.jit(lambda x: jnp.sum(REAL_FNS[name](x) ** 2)), (x,), order=1, modes=("rev",))


def test_gradients_of_complex_helpers():
    z = jnp.asarray(INPUTS["cplx"])[:1, :8, :8]

    def f(re):
        x = jax.lax.complex(re, z.imag)
        return jnp.sum(jnp.real(modulate_phase(expand(x, 2))) ** 2)

    check_grads(jax.jit(f), (z.real,), order=1, modes=("rev",))


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [expand, shrink])
def test_resampling_factor_must_exceed_one(fn):
    with pytest.raises(ValueError, match="strictly greater than 1"):
        fn(jnp.zeros((1, 8, 8)), 1)


def test_resampling_sizes_must_be_integers():
    with pytest.raises(ValueError, match="must give integers"):
        expand(jnp.zeros((1, 5, 5)), 1.5)
    with pytest.raises(ValueError, match="must give integers"):
        shrink(jnp.zeros((1, 6, 6)), 4)


def test_resampling_refuses_int_and_1d_input():
    with pytest.raises(TypeError, match="floating or complex"):
        expand(jnp.zeros((4, 4), jnp.int32), 2)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        shrink(jnp.zeros(8), 2)


def test_center_crop_errors():
    x = jnp.zeros((1, 6, 8))
    with pytest.raises(TypeError, match="single int"):
        center_crop(x, [2, 2])
    with pytest.raises(TypeError, match="must be an int"):
        center_crop(x, 2.0)
    with pytest.raises(ValueError, match="bigger than"):
        center_crop(x, 7)
    with pytest.raises(ValueError, match="positive"):
        center_crop(x, 0)


def test_modulate_phase_needs_complex():
    with pytest.raises(TypeError, match="complex-valued"):
        modulate_phase(jnp.ones((2, 2)))


def test_polar_to_rectangular_refuses_negative_amplitude():
    with pytest.raises(ValueError, match="non-negative"):
        polar_to_rectangular(jnp.array([-1.0]), jnp.array([0.0]))


def test_autocorrelation_needs_real_input():
    with pytest.raises(TypeError, match="real floating"):
        autocorrelation(jnp.ones((4, 4), jnp.complex64))
