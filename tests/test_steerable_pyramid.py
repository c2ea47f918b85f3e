"""SteerablePyramid: parity with plenoptic's SteerablePyramidFreq, reconstruction, transforms, errors."""

import json
import warnings
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

from jaxoptic.pyramids import SteerablePyramid

REF = load_reference("pyramids")
CASES = sorted({k.split("/")[0] for k in REF})
# cases whose partial reconstructions (levels / bands subsets) are checked; every case checks the
# full one. The others are in the npz too, but each reconstruction variant costs a compilation.
PARTIAL = ("h3_o1", "h3_o3_cplx", "nonsq_auto_cplx", "odd_h2_cplx")


def _key(name: str):
    return int(name) if name.isdigit() else name


def _build(shape, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # odd sizes warn (tested separately)
        return SteerablePyramid(shape, **kwargs)


# ---------------------------------------------------------------------------------------------
# parity with plenoptic (float64)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_matches_plenoptic(case):
    params = json.loads(str(REF[f"{case}/params"]))
    image = jnp.asarray(REF[f"{case}/input"])
    pyr = _build(image.shape[-2:], **params)
    prefix = f"{case}/recon/"
    requests = [k[len(prefix) :] for k in REF if k.startswith(prefix)]
    if case not in PARTIAL:
        requests = [r for r in requests if json.loads(r) == {"levels": "all", "bands": "all"}]

    def run(pyr, image):
        coeffs = pyr(image)
        return coeffs, [pyr.recon(coeffs, **json.loads(r)) for r in requests]

    coeffs, recons = jax.jit(run)(pyr, image)
    ref_keys = [_key(k.split("/")[-1]) for k in REF if k.startswith(f"{case}/out/")]
    assert list(coeffs.keys()) == ref_keys
    for key in ref_keys:
        ref = REF[f"{case}/out/{key}"]
        assert coeffs[key].dtype == ref.dtype, key
        assert_parity(coeffs[key], ref, f"{case} {key}")
    assert requests
    for request, ours in zip(requests, recons, strict=True):
        assert_parity(ours, REF[prefix + request], f"{case} recon {request}")


def test_scales_subset_matches_plenoptic():
    image = jnp.asarray(REF["default/input"])
    pyr = SteerablePyramid(image.shape[-2:])
    out = pyr(image, scales=[1, "residual_lowpass", 3])
    ref_keys = [_key(k.split("/")[-1]) for k in REF if k.startswith("default/scales_out/")]
    assert list(out.keys()) == ref_keys == [1, 3, "residual_lowpass"]
    for key in ref_keys:
        assert_parity(out[key], REF[f"default/scales_out/{key}"], f"scales {key}")


# ---------------------------------------------------------------------------------------------
# structure (shapes and dtypes through jax.eval_shape: no compilation needed)
# ---------------------------------------------------------------------------------------------

# One small complex configuration shared by the behaviour tests, so that it compiles once.
P16 = SteerablePyramid((16, 16), height=2, order=1, is_complex=True)


@pytest.fixture(scope="module")
def image16():
    return jax.random.uniform(jax.random.key(0), (2, 16, 16), dtype=jnp.float64)


@pytest.fixture(scope="module")
def coeffs_p16(image16):
    return P16(image16)


def test_default_structure():
    pyr = SteerablePyramid((256, 128))
    assert pyr.num_scales == pyr.n_scales == 5  # floor(log2(128)) - 2
    assert pyr.num_orientations == pyr.n_orientations == 4
    assert pyr.scales == ("residual_lowpass", 4, 3, 2, 1, 0, "residual_highpass")
    assert pyr.fft_norm == "backward"
    sizes = pyr.pyr_size
    assert list(sizes) == ["residual_highpass", 0, 1, 2, 3, 4, "residual_lowpass"]
    assert sizes[0] == (256, 128) and sizes[4] == (16, 8) and sizes["residual_lowpass"] == (8, 4)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("is_complex", [False, True])
def test_output_shapes_and_dtypes(dtype, is_complex):
    pyr = SteerablePyramid((32, 48), height=2, order=2, is_complex=is_complex)
    image = jax.ShapeDtypeStruct((3, 32, 48), dtype)
    coeffs = jax.eval_shape(pyr, image)
    assert isinstance(coeffs, OrderedDict)
    assert list(coeffs) == ["residual_highpass", 0, 1, "residual_lowpass"]
    band_dtype = jnp.result_type(dtype, jnp.complex64) if is_complex else dtype
    assert coeffs["residual_highpass"].shape == (3, 32, 48)
    assert coeffs["residual_highpass"].dtype == dtype
    assert coeffs[0].shape == (3, 3, 32, 48) and coeffs[0].dtype == band_dtype
    assert coeffs[1].shape == (3, 3, 16, 24) and coeffs[1].dtype == band_dtype
    assert coeffs["residual_lowpass"].shape == (3, 8, 12)
    assert coeffs["residual_lowpass"].dtype == dtype
    recon = jax.eval_shape(pyr.recon, coeffs)
    assert recon.shape == (3, 32, 48) and recon.dtype == dtype


def test_no_downsampling_keeps_full_size():
    pyr = SteerablePyramid((32, 32), height=3, downsample=False)
    coeffs = jax.eval_shape(pyr, jax.ShapeDtypeStruct((1, 32, 32), jnp.float32))
    assert all(coeffs[i].shape == (1, 4, 32, 32) for i in range(3))
    assert coeffs["residual_lowpass"].shape == (1, 32, 32)


def test_float32_close_to_float64(image16, coeffs_p16):
    c32 = P16(image16.astype(jnp.float32))
    for key in coeffs_p16:
        expected = jnp.complex64 if jnp.iscomplexobj(coeffs_p16[key]) else jnp.float32
        assert c32[key].dtype == expected
        np.testing.assert_allclose(c32[key], coeffs_p16[key], atol=2e-6)


def test_coefficients_are_a_pytree_and_recon_is_linear(coeffs_p16):
    doubled = jax.tree.map(lambda a: 2 * a, coeffs_p16)
    assert list(doubled) == list(coeffs_p16)
    np.testing.assert_allclose(P16.recon(doubled), 2 * P16.recon(coeffs_p16), atol=1e-12)


def test_recon_accepts_plain_dict(coeffs_p16):
    np.testing.assert_array_equal(P16.recon(dict(coeffs_p16)), P16.recon(coeffs_p16))


@pytest.mark.parametrize("split_complex", [False, True])
def test_tensor_conversion_layout_and_round_trip(split_complex, image16):
    pyr = SteerablePyramid((16, 16), height=1, order=1, is_complex=True, downsample=False)
    coeffs = pyr(image16)
    tensor, info = SteerablePyramid.convert_pyr_to_tensor(coeffs, split_complex=split_complex)
    # per image channel: highpass, scale-0 bands (real/imag pairs if split), lowpass (plenoptic's)
    per_channel = 6 if split_complex else 4
    assert tensor.shape == (2 * per_channel, 16, 16)
    assert tensor.dtype == (jnp.float64 if split_complex else jnp.complex128)
    np.testing.assert_array_equal(tensor[per_channel].real, coeffs["residual_highpass"][1])
    np.testing.assert_array_equal(tensor[per_channel - 1].real, coeffs["residual_lowpass"][0])
    if split_complex:
        np.testing.assert_array_equal(tensor[3], coeffs[0][0, 1].real)
        np.testing.assert_array_equal(tensor[4], coeffs[0][0, 1].imag)
    back = SteerablePyramid.convert_tensor_to_pyr(tensor, *info)
    assert list(back) == list(coeffs)
    for key in coeffs:
        assert back[key].dtype == coeffs[key].dtype
        np.testing.assert_array_equal(back[key], coeffs[key])


def test_tensor_conversion_errors(coeffs_p16):
    with pytest.raises(ValueError, match="downsample=False"):
        SteerablePyramid.convert_pyr_to_tensor(coeffs_p16)
    flat = SteerablePyramid((16, 16), height=1, downsample=False)
    real = jax.eval_shape(flat, jax.ShapeDtypeStruct((1, 16, 16), jnp.float32))
    real = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), real)
    with pytest.raises(ValueError, match="split_complex=True but the bands are real"):
        SteerablePyramid.convert_pyr_to_tensor(real, split_complex=True)


# ---------------------------------------------------------------------------------------------
# reconstruction and energy
# ---------------------------------------------------------------------------------------------

# All 8 (is_complex, downsample, tight_frame) combinations.
COMBOS = [(c, d, t) for c in (False, True) for d in (True, False) for t in (True, False)]


@pytest.mark.parametrize(("is_complex", "downsample", "tight_frame"), COMBOS)
def test_reconstruction_is_identity_and_tight_frames_keep_energy(
    image16, is_complex, downsample, tight_frame
):
    # Reconstruction is exact up to the raised-cosine look-up tables (plenoptic and pyrtools
    # interpolate sqrt-profiles linearly, so the squared masks sum to 1 only to ~1e-5).
    pyr = SteerablePyramid(
        (16, 16),
        height=2,
        order=2,
        is_complex=is_complex,
        downsample=downsample,
        tight_frame=tight_frame,
    )

    def run(pyr, x):
        coeffs = pyr(x)
        energy = sum(jnp.sum(jnp.abs(v) ** 2) for v in coeffs.values())
        return pyr.recon(coeffs), energy

    recon, energy = jax.jit(run)(pyr, image16)
    np.testing.assert_allclose(recon, image16, atol=1e-4 * float(jnp.max(jnp.abs(image16))))
    if tight_frame:
        np.testing.assert_allclose(energy, jnp.sum(image16**2), rtol=1e-4)


def test_partial_reconstructions_add_up(coeffs_p16):
    levels = ("residual_highpass", 0, 1, "residual_lowpass")

    def parts(pyr, coeffs):
        by_level = [pyr.recon(coeffs, levels=[lv]) for lv in levels]
        by_band = [pyr.recon(coeffs, levels=[0], bands=[b]) for b in range(2)]
        return pyr.recon(coeffs), by_level, by_band

    full, by_level, by_band = jax.jit(parts)(P16, coeffs_p16)
    np.testing.assert_allclose(sum(by_level), full, atol=1e-12)
    np.testing.assert_allclose(sum(by_band), by_level[1], atol=1e-12)


# ---------------------------------------------------------------------------------------------
# transforms
# ---------------------------------------------------------------------------------------------


def test_jit_equals_op_by_op(image16, coeffs_p16):
    with jax.disable_jit():
        eager = P16(image16)
    for key in eager:
        np.testing.assert_allclose(coeffs_p16[key], eager[key], rtol=1e-12, atol=1e-14)


def test_vmap_equals_loop(image16, coeffs_p16):
    xs = jnp.stack([image16[:1], image16[1:]])
    batched = jax.vmap(P16)(xs)
    for key in batched:
        np.testing.assert_allclose(batched[key][:, 0], coeffs_p16[key], rtol=1e-12, atol=1e-14)
    recons = jax.vmap(P16.recon)(batched)
    np.testing.assert_allclose(recons[:, 0], P16.recon(coeffs_p16), atol=1e-14)


def test_gradients_through_forward_and_recon(image16):
    x = image16[:1]

    def loss(x):
        coeffs = P16(x)
        stats = sum(jnp.sum(jnp.abs(v) ** 3) for v in coeffs.values())
        recon = P16.recon(coeffs, levels=[1, "residual_lowpass"])
        return stats + jnp.sum(jnp.sin(recon))

    check_grads(jax.jit(loss), (x,), order=1, modes=("rev",))


def test_equal_configurations_share_one_compilation():
    traces = []

    def forward(pyr, x):
        traces.append(1)
        return pyr(x)

    forward = jax.jit(forward)
    forward(SteerablePyramid((16, 16), height=1), jnp.zeros((1, 16, 16)))
    forward(SteerablePyramid((16, 16), height=1), jnp.ones((1, 16, 16)))
    assert len(traces) == 1


def test_masks_are_not_trained(image16):
    grads = jax.jit(jax.grad(lambda p, x: jnp.sum(jnp.abs(p(x)[0]) ** 2)))(P16, image16)
    assert all(float(jnp.max(jnp.abs(g))) == 0 for g in jax.tree.leaves(grads))


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 32, 1), (32.0, 32), (0, 32), "32x32", 32, (32, True)])
def test_bad_image_shape(shape):
    with pytest.raises(ValueError, match="`image_shape` must be a pair of positive ints"):
        SteerablePyramid(shape)


def test_image_too_small():
    with pytest.raises(ValueError, match="too small"):
        SteerablePyramid((2, 8))


@pytest.mark.parametrize("height", [6, -1])
def test_height_out_of_range(height):
    with pytest.raises(ValueError, match=r"`height` must be in \[0, 4\]"):
        SteerablePyramid((64, 96), height=height)


@pytest.mark.parametrize("height", ["max", 2.0, None])
def test_height_must_be_auto_or_int(height):
    with pytest.raises(ValueError, match="`height` must be 'auto' or an int"):
        SteerablePyramid((64, 64), height=height)


@pytest.mark.parametrize("order", [-1, 16, 1.0])
def test_order_out_of_range(order):
    with pytest.raises(ValueError, match=r"`order` must be an int in \[0, 15\]"):
        SteerablePyramid((64, 64), order=order)


def test_complex_needs_order_above_zero():
    with pytest.raises(ValueError, match="complex pyramid cannot have order=0"):
        SteerablePyramid((64, 64), order=0, is_complex=True)


@pytest.mark.parametrize("twidth", [0, -1, 0.5])
def test_twidth_must_be_positive_integer(twidth):
    with pytest.raises(ValueError, match="`twidth` must be a positive integer"):
        SteerablePyramid((64, 64), twidth=twidth)


def test_odd_shape_warns():
    with pytest.warns(UserWarning, match="reconstruction is not exact"):
        SteerablePyramid((33, 32), height=1)


@pytest.fixture(scope="module")
def pyr16():
    return P16


def test_call_rejects_2d_image(pyr16):
    with pytest.raises(ValueError, match=r"3 dimensions .*x\[None\]"):
        pyr16(jnp.zeros((16, 16)))


def test_call_rejects_batch_and_points_to_vmap(pyr16):
    with pytest.raises(ValueError, match="jax.vmap"):
        pyr16(jnp.zeros((2, 1, 16, 16)))


def test_call_rejects_wrong_spatial_shape(pyr16):
    with pytest.raises(ValueError, match=r"\(16, 8\).*\(16, 16\)"):
        pyr16(jnp.zeros((1, 16, 8)))


def test_call_rejects_integer_image(pyr16):
    with pytest.raises(TypeError, match="floating"):
        pyr16(jnp.zeros((1, 16, 16), jnp.int32))


def test_call_rejects_unknown_scale(pyr16):
    with pytest.raises(ValueError, match=r"subset of this pyramid's scales.*\[3\]"):
        pyr16(jnp.zeros((1, 16, 16)), scales=[0, 3])


def test_recon_needs_every_scale(coeffs_p16):
    partial = OrderedDict((k, v) for k, v in coeffs_p16.items() if k != "residual_highpass")
    with pytest.raises(ValueError, match=r"missing the scales \['residual_highpass'\]"):
        P16.recon(partial)


def test_recon_checks_coefficient_shapes(coeffs_p16):
    bad = OrderedDict(coeffs_p16)
    bad[0] = bad[0][:, :1]
    with pytest.raises(ValueError, match=r"`coeffs\[0\]` has shape \(2, 1, 16, 16\), expected"):
        P16.recon(bad)


def test_recon_level_and_band_errors(coeffs_p16):
    with pytest.raises(TypeError, match="`levels` must be a list"):
        P16.recon(coeffs_p16, levels="some")
    with pytest.raises(ValueError, match=r"`levels` entries must be ints in \[0, 1\]"):
        P16.recon(coeffs_p16, levels=[2])
    with pytest.raises(TypeError, match="`bands` must be a list"):
        P16.recon(coeffs_p16, bands=2)
    with pytest.raises(ValueError, match=r"`bands` entries must be ints in \[0, 1\]"):
        P16.recon(coeffs_p16, bands=[2])
