"""Laplacian pyramid (``jaxoptic.pyramids.LaplacianPyramid``) against plenoptic 2.1.1.

Reference values: ``tests/reference/process.npz`` (``lap/...`` keys, written by
``tests/reference/gen_process.py``).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

import jaxoptic as jo
from jaxoptic.process import _conv

REF = load_reference("process")
CASES = [
    (img, n_scales, scale_filter)
    for img in ["r2_64x48", "r1_45x37", "cam_64x64"]
    for n_scales in [3, 5]
    for scale_filter in [False, True]
]


def _rand(shape, dtype=jnp.float64, seed=0):
    return jnp.asarray(np.random.default_rng(seed).random(shape), dtype=dtype)


@pytest.mark.parametrize(("img", "n_scales", "scale_filter"), CASES)
def test_levels_match_plenoptic(img, n_scales, scale_filter):
    lap = jo.pyramids.LaplacianPyramid(n_scales, scale_filter)
    coeffs = jax.jit(lap)(jnp.asarray(REF[f"img/{img}"]))
    assert len(coeffs) == n_scales
    for i, level in enumerate(coeffs):
        key = f"lap/{img}/n{n_scales}/sf{int(scale_filter)}/{i}"
        assert_parity(level, REF[key], key)


@pytest.mark.parametrize(("img", "scale_filter"), [(img, sf) for img, n, sf in CASES if n == 5])
def test_recon_of_reference_levels_matches_plenoptic(img, scale_filter):
    lap = jo.pyramids.LaplacianPyramid(5, scale_filter)
    prefix = f"lap/{img}/n5/sf{int(scale_filter)}"
    levels = [jnp.asarray(REF[f"{prefix}/{i}"]) for i in range(5)]
    assert_parity(jax.jit(lap.recon)(levels), REF[f"{prefix}/recon"], prefix)


def test_large_image_path_matches_small_image_path(monkeypatch):
    """Sides above ``_MATRIX_MAX_SIZE`` use shifted sums; both implementations agree."""
    img = jnp.asarray(REF["img/r1_45x37"])
    lap = jo.pyramids.LaplacianPyramid(4)
    matrix = jax.jit(lap)(img)
    monkeypatch.setattr(_conv, "_MATRIX_MAX_SIZE", 0)
    shifted = jax.jit(lambda x: lap(x))(img)
    for a, b in zip(matrix, shifted, strict=True):
        assert_parity(b, a)


@pytest.mark.parametrize("scale_filter", [False, True])
@pytest.mark.parametrize("shape", [(2, 64, 48), (1, 45, 37), (1, 130, 20)])
def test_reconstruction_is_perfect(shape, scale_filter):
    lap = jo.pyramids.LaplacianPyramid(5, scale_filter)
    x = _rand(shape)
    back = jax.jit(lambda x: lap.recon(lap(x)))(x)
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-12)


def test_level_shapes_halve_rounding_up():
    coeffs = jo.pyramids.LaplacianPyramid(4)(jnp.zeros((3, 45, 37)))
    assert [c.shape for c in coeffs] == [(3, 45, 37), (3, 23, 19), (3, 12, 10), (3, 6, 5)]


def test_scale_filter_keeps_the_mean_in_the_lowpass():
    x = _rand((1, 64, 64), seed=3)
    low = jo.pyramids.LaplacianPyramid(3, scale_filter=True)(x)[-1]
    assert abs(float(low.mean() - x.mean())) < 1e-2
    low_unscaled = jo.pyramids.LaplacianPyramid(3, scale_filter=False)(x)[-1]
    assert abs(float(low_unscaled.mean() / 4 - x.mean())) < 1e-2  # the filter sums to 2 per level


def test_single_scale_is_the_image():
    x = _rand((1, 8, 8))
    (only,) = jo.pyramids.LaplacianPyramid(1)(x)
    np.testing.assert_array_equal(only, x)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_is_kept(dtype):
    lap = jo.pyramids.LaplacianPyramid(3)
    coeffs = jax.jit(lap)(_rand((1, 32, 32), dtype))
    assert all(c.dtype == dtype for c in coeffs)
    assert jax.jit(lap.recon)(coeffs).dtype == dtype


def test_jit_equals_eager():
    lap = jo.pyramids.LaplacianPyramid(3)
    x = _rand((2, 33, 32), jnp.float32)
    for a, b in zip(jax.jit(lap)(x), lap(x), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_vmap_equals_loop():
    lap = jo.pyramids.LaplacianPyramid(3)
    xs = _rand((3, 1, 32, 30))
    batched = jax.jit(jax.vmap(lap))(xs)
    single = jax.jit(lap)
    for i in range(xs.shape[0]):
        for level_b, level in zip(batched, single(xs[i]), strict=True):
            np.testing.assert_allclose(level_b[i], level, rtol=1e-12, atol=1e-14)


def test_gradients():
    lap = jo.pyramids.LaplacianPyramid(3)

    def loss(x):
        coeffs = lap(x)
        return sum(jnp.sum(c**2) for c in coeffs) + jnp.sum(jnp.sin(lap.recon(coeffs)))

    check_grads(jax.jit(loss), (_rand((1, 12, 11)),), order=1, modes=("rev",))


def test_is_an_equinox_module_without_array_leaves():
    lap = jo.pyramids.LaplacianPyramid(4, scale_filter=True)
    assert isinstance(lap, eqx.Module)
    assert jax.tree.leaves(lap) == []
    assert hash(lap) == hash(jo.pyramids.LaplacianPyramid(4, scale_filter=True))
    out = eqx.filter_jit(lambda m, x: m(x))(lap, jnp.ones((1, 16, 16)))
    assert len(out) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_scales": 0}, "n_scales"),
        ({"n_scales": 2.0}, "n_scales"),
        ({"scale_filter": "yes"}, "scale_filter"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jo.pyramids.LaplacianPyramid(**kwargs)


@pytest.mark.parametrize("shape", [(32, 32), (1, 1, 32, 32)])
def test_refuses_non_3d_images(shape):
    with pytest.raises(ValueError, match=r"\(channels, height, width\)"):
        jo.pyramids.LaplacianPyramid(3)(jnp.ones(shape))


def test_refuses_integer_images():
    with pytest.raises(TypeError, match="floating"):
        jo.pyramids.LaplacianPyramid(3)(jnp.ones((1, 32, 32), jnp.int32))


def test_recon_refuses_wrong_number_of_levels():
    lap = jo.pyramids.LaplacianPyramid(3)
    with pytest.raises(ValueError, match="n_scales=3"):
        lap.recon(lap(jnp.ones((1, 16, 16)))[:2])


def test_too_many_scales_for_the_image_raise_a_clear_error():
    with pytest.raises(ValueError, match="reflect"):
        jo.pyramids.LaplacianPyramid(6)(jnp.ones((1, 16, 16)))
