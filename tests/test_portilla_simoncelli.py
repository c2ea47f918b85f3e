"""Tests of :class:`jaxoptic.models.PortillaSimoncelli`.

Parity with plenoptic 2.1.1 (float64) uses ``tests/reference/portilla_simoncelli.npz``, written by
``tests/reference/gen_portilla_simoncelli.py``. Compiled functions take the model as an argument, so
one compilation serves every model of the same configuration (and the persistent cache serves reruns).
"""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

import jaxoptic as jo
from jaxoptic.models import PortillaSimoncelli

REF = load_reference("portilla_simoncelli")
CASES = sorted({k.split("/")[0] for k in REF if k.endswith("/rep")})
GRAD_CASES = sorted({k.split("/")[0] for k in REF if k.endswith("/grad")})
DICT_CASES = sorted({k.split("/")[0] for k in REF if "/dict/" in k})

# small configuration shared by the transform tests (cheap to compile)
SMALL_SHAPE = (64, 64)
SMALL_ARGS = dict(n_scales=2, n_orientations=4, spatial_corr_width=7)
# tiny configuration for the eager and numerical-gradient tests (the cross-scale statistics, which
# need two scales, are covered by the gradient parity tests)
TINY_SHAPE = (32, 32)
TINY_ARGS = dict(n_scales=1, n_orientations=2, spatial_corr_width=3)


@jax.jit
def _forward(model, image):
    return model(image)


@jax.jit
def _weighted_grad(model, image, weights):
    return jax.grad(lambda x: jnp.sum(weights * model(x) ** 2))(image)


def _case(name):
    image = REF[f"input/{REF[f'{name}/input_key']}"]
    args = [int(a) for a in REF[f"{name}/args"]]
    return PortillaSimoncelli(image.shape[-2:], *args), image


def _parse_scales(names):
    return [int(s) if s.isdigit() else str(s) for s in names]


@pytest.fixture(scope="module")
def reps():
    """Float64 representation of each reference case, computed once."""
    cache = {}

    def get(name):
        if name not in cache:
            model, image = _case(name)
            cache[name] = np.asarray(_forward(model, jnp.asarray(image)))
        return cache[name]

    return get


@pytest.fixture(scope="module")
def small():
    """A small model and a few float64 test images for the transform tests."""
    model = PortillaSimoncelli(SMALL_SHAPE, **SMALL_ARGS)
    key = jax.random.key(0)
    images = jax.random.uniform(key, (2, 3, *SMALL_SHAPE), dtype=jnp.float64)
    # add some structure so that the statistics are far from degenerate
    images = images + jnp.asarray(REF["input/rgb64"])[None]
    return model, images


# ---------------------------------------------------------------------------------------------------------
# bookkeeping


@pytest.mark.parametrize(
    ("args", "expected"),
    [((4, 4, 7), 710), ((1, 4, 7), 167), ((4, 2, 5), 226), ((3, 4, 9), 785), ((4, 4, 6), 689)],
)
def test_number_of_statistics_matches_plenoptic(args, expected):
    model = PortillaSimoncelli((256, 256), *args)
    assert model.n_stats == expected
    assert len(model.representation_scales) == expected
    assert int(REF["counts/{}_{}_{}".format(*args)]) == expected


def test_default_per_scale_counts():
    counts = Counter(PortillaSimoncelli((256, 256)).representation_scales)
    assert counts == {
        0: 181,
        1: 181,
        2: 181,
        3: 133,
        "residual_lowpass": 27,
        "pixel_statistics": 6,
        "residual_highpass": 1,
    }


@pytest.mark.parametrize("name", CASES)
def test_representation_scales_match_plenoptic(name):
    model, _ = _case(name)
    labels = np.array([str(s) for s in model.representation_scales])
    np.testing.assert_array_equal(labels, REF[f"{name}/representation_scales"])


def test_scales_attribute():
    model = PortillaSimoncelli((128, 128), n_scales=3)
    assert model.scales == ("pixel_statistics", "residual_lowpass", 2, 1, 0, "residual_highpass")


def test_exported_from_models_namespace():
    assert jo.models.PortillaSimoncelli is PortillaSimoncelli


# ---------------------------------------------------------------------------------------------------------
# parity with plenoptic (float64)


@pytest.mark.parametrize("name", CASES)
def test_representation_matches_plenoptic(reps, name):
    assert_parity(reps(name), REF[f"{name}/rep"], what=name)


@pytest.mark.parametrize("name", CASES)
def test_scale_subsets_match_plenoptic(reps, name):
    model, _ = _case(name)
    i = 0
    while f"{name}/scales{i}" in REF:
        scales = _parse_scales(REF[f"{name}/scales{i}"])
        ours = model.remove_scales(reps(name), scales)
        assert_parity(ours, REF[f"{name}/rep_scales{i}"], what=f"{name} scales={scales}")
        i += 1
    assert i > 0


def test_scales_argument_matches_plenoptic():
    model, image = _case("rgb")
    scales = _parse_scales(REF["rgb/scales0"])
    ours = jax.jit(lambda m, x: m(x, scales=scales))(model, jnp.asarray(image))
    assert_parity(ours, REF["rgb/rep_scales0"], what=f"rgb scales={scales}")


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradient_matches_plenoptic(name):
    model, image = _case(name)
    ours = _weighted_grad(model, jnp.asarray(image), jnp.asarray(REF[f"{name}/grad_weights"]))
    assert_parity(ours, REF[f"{name}/grad"], what=f"{name} gradient")


@pytest.mark.parametrize("name", DICT_CASES)
def test_to_dict_matches_plenoptic(reps, name):
    model, _ = _case(name)
    groups = model.to_dict(reps(name))
    keys = [k.split("/")[-1] for k in REF if k.startswith(f"{name}/dict/")]
    assert list(groups) == keys
    for key, value in groups.items():
        ref = REF[f"{name}/dict/{key}"]
        value = np.asarray(value)
        assert value.shape == ref.shape, key
        np.testing.assert_array_equal(np.isnan(value), np.isnan(ref), err_msg=key)
        if ref.size and not np.all(np.isnan(ref)):
            assert_parity(np.nan_to_num(value), np.nan_to_num(ref), what=f"{name} {key}")


# ---------------------------------------------------------------------------------------------------------
# dictionary conversion


def test_to_dict_from_dict_round_trip_is_exact(small):
    model, images = small
    rep = _forward(model, images[0])
    groups = model.to_dict(rep)
    n_nan = sum(int(jnp.sum(jnp.isnan(v))) for v in groups.values())
    n_full = sum(int(np.prod(v.shape)) for v in groups.values())
    assert n_full - n_nan == rep.size
    back = model.from_dict(groups)
    assert back.dtype == rep.dtype
    np.testing.assert_array_equal(np.asarray(back), np.asarray(rep))
    np.testing.assert_array_equal(
        np.asarray(model.convert_to_tensor(model.convert_to_dict(rep))), rep
    )


def test_to_dict_shapes_and_redundant_entries():
    model = PortillaSimoncelli((256, 256))
    groups = model.to_dict(jnp.zeros((3, 710)))
    shapes = {k: v.shape for k, v in groups.items()}
    assert shapes == {
        "pixel_statistics": (3, 6),
        "auto_correlation_magnitude": (3, 7, 7, 4, 4),
        "skew_reconstructed": (3, 5),
        "kurtosis_reconstructed": (3, 5),
        "auto_correlation_reconstructed": (3, 7, 7, 5),
        "std_reconstructed": (3, 5),
        "cross_orientation_correlation_magnitude": (3, 4, 4, 4),
        "magnitude_std": (3, 4, 4),
        "cross_scale_correlation_magnitude": (3, 4, 4, 3),
        "cross_scale_correlation_real": (3, 4, 8, 3),
        "var_highpass_residual": (3, 1),
    }
    ac = np.asarray(groups["auto_correlation_magnitude"][0, :, :, 0, 0])
    # lower triangle kept, except the diagonal from the centre on (24 of 49)
    assert np.sum(~np.isnan(ac)) == 24
    assert np.isnan(ac[3, 3]) and np.isnan(ac[6, 6]) and not np.isnan(ac[2, 2])
    cross = np.asarray(groups["cross_orientation_correlation_magnitude"][0, :, :, 0])
    np.testing.assert_array_equal(~np.isnan(cross), np.tril(np.ones((4, 4), bool), -1))


def test_to_dict_rejects_wrong_length(small):
    model, images = small
    partial = model.remove_scales(_forward(model, images[0]), [0])
    with pytest.raises(ValueError, match=r"wrong|statistics on its last axis.*scales="):
        model.to_dict(partial)


def test_from_dict_rejects_missing_and_misshapen_groups():
    model = PortillaSimoncelli((64, 64), **SMALL_ARGS)
    groups = model.to_dict(jnp.zeros((1, model.n_stats)))
    missing = dict(groups)
    del missing["magnitude_std"]
    with pytest.raises(ValueError, match="missing.*magnitude_std"):
        model.from_dict(missing)
    extra = dict(groups, other=jnp.zeros(1))
    with pytest.raises(ValueError, match="unknown.*other"):
        model.from_dict(extra)
    bad = dict(groups, magnitude_std=jnp.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="magnitude_std.*expected"):
        model.from_dict(bad)


# ---------------------------------------------------------------------------------------------------------
# behaviour and transforms


def test_scales_argument_equals_remove_scales(small):
    model, images = small
    full = _forward(model, images[0])
    for scales in ([0], ["pixel_statistics", "residual_lowpass", "residual_highpass"]):
        sub = jax.jit(lambda m, x, s=tuple(scales): m(x, scales=list(s)))(model, images[0])
        np.testing.assert_array_equal(
            np.asarray(sub), np.asarray(model.remove_scales(full, scales))
        )
        labels = [lab for lab in model.representation_scales if lab in scales]
        assert sub.shape == (3, len(labels))


def test_channels_are_independent(small):
    model, images = small
    together = _forward(model, images[0])
    for c in range(3):
        alone = _forward(model, images[0, c : c + 1])
        np.testing.assert_allclose(
            np.asarray(together[c]), np.asarray(alone[0]), rtol=1e-12, atol=1e-14
        )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_is_kept(small, dtype):
    model, images = small
    out = _forward(model, images[0].astype(dtype))
    assert out.dtype == dtype
    assert model.to_dict(out)["pixel_statistics"].dtype == dtype
    if dtype == jnp.float32:
        ref = _forward(model, images[0])
        np.testing.assert_allclose(
            np.asarray(out), np.asarray(ref), rtol=0, atol=1e-4 * np.abs(ref).max()
        )


@pytest.fixture(scope="module")
def tiny():
    model = PortillaSimoncelli(TINY_SHAPE, **TINY_ARGS)
    image = jax.random.uniform(jax.random.key(1), (1, *TINY_SHAPE), dtype=jnp.float64)
    image = image + jnp.asarray(REF["input/rgb64"][:1, 16:48, 8:40])
    # a clear minimum and maximum: the min / max statistics are then smooth around the image (finite
    # differences would otherwise swap nearly tied pixels)
    return model, image.at[0, 3, 5].set(-0.5).at[0, 20, 9].set(2.5)


def test_jit_equals_eager(tiny):
    model, image = tiny
    np.testing.assert_allclose(
        np.asarray(model(image)), np.asarray(_forward(model, image)), rtol=1e-10, atol=1e-12
    )


def test_vmap_equals_loop(small):
    model, images = small
    batched = jax.jit(jax.vmap(lambda x: model(x)))(images)
    for i in range(images.shape[0]):
        np.testing.assert_allclose(
            np.asarray(batched[i]), np.asarray(_forward(model, images[i])), rtol=1e-10, atol=1e-12
        )


def test_gradients_are_correct(tiny):
    model, image = tiny
    weights = jnp.linspace(0.5, 1.5, model.n_stats)
    f = jax.jit(lambda x: jnp.sum(weights * jnp.sin(model(x))))
    check_grads(f, (image,), order=1, modes=("rev",))


def test_negligible_lowpass_variance_gives_default_skew_and_kurtosis(small):
    # a checkerboard lives entirely in the highpass residual: every reconstructed lowpass image is
    # zero, and plenoptic then reports skew 0 and kurtosis 3
    model, _ = small
    checker = jnp.asarray((np.indices(SMALL_SHAPE).sum(0) % 2) * 2.0 - 1.0)[None]
    groups = model.to_dict(_forward(model, checker))
    np.testing.assert_array_equal(np.asarray(groups["skew_reconstructed"]), 0.0)
    np.testing.assert_array_equal(np.asarray(groups["kurtosis_reconstructed"]), 3.0)
    np.testing.assert_allclose(np.asarray(groups["var_highpass_residual"]), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(image_shape=(100, 100), n_scales=3), r"divisible by 2\*\*n_scales = 8.*\(96, 96\)"),
        (
            dict(image_shape=(64, 64), n_scales=4),
            r"spatial_corr_width`=7 is too large.*\(4, 4\).*<= 4",
        ),
        (
            dict(image_shape=(80, 80), n_scales=4, spatial_corr_width=5),
            r"\(5, 5\).*<= 4 \(one less than its width, which is odd\)",
        ),
        (
            dict(image_shape=(256, 256), spatial_corr_width=0),
            "spatial_corr_width` must be at least 1",
        ),
        (dict(image_shape=(256, 256), n_scales=0), "n_scales` must be at least 1"),
        (dict(image_shape=(256, 256), n_scales=7), r"too large.*at most .* = 6 scales"),
        (dict(image_shape=(256, 256), n_orientations=1), "n_orientations` must be at least 2"),
        (dict(image_shape=(256, 256), n_orientations=17), "at most 16"),
        (dict(image_shape=(256, 256, 3)), "image_shape"),
        (dict(image_shape=(0, 256)), "image_shape"),
    ],
)
def test_construction_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PortillaSimoncelli(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [dict(n_scales=2.0), dict(n_orientations="4"), dict(spatial_corr_width=True)]
)
def test_non_integer_arguments_raise_type_error(kwargs):
    with pytest.raises(TypeError, match="must be an int"):
        PortillaSimoncelli((64, 64), **{"spatial_corr_width": 5, **kwargs})


def test_bad_images_raise():
    model = PortillaSimoncelli((64, 64), **SMALL_ARGS)
    with pytest.raises(ValueError, match=r"3 dimensions.*add a channel axis"):
        model(jnp.zeros((64, 64)))
    with pytest.raises(ValueError, match=r"3 dimensions.*jax.vmap"):
        model(jnp.zeros((2, 1, 64, 64)))
    with pytest.raises(ValueError, match=r"\(32, 64\).*\(64, 64\)"):
        model(jnp.zeros((1, 32, 64)))
    with pytest.raises(TypeError, match="floating"):
        model(jnp.zeros((1, 64, 64), dtype=jnp.int32))


def test_bad_scales_raise():
    model = PortillaSimoncelli((64, 64), **SMALL_ARGS)
    with pytest.raises(ValueError, match=r"invalid entries \[5\]"):
        model(jnp.zeros((1, 64, 64)), scales=[0, 5])
    with pytest.raises(ValueError, match="invalid entries"):
        model.remove_scales(jnp.zeros((1, model.n_stats)), ["lowpass"])


def test_building_the_model_and_its_loss_compiles_nothing(caplog):
    """Filters and weights are built in NumPy and put on the device as they are: no small program is
    compiled per array (each one cost time and memory before the synthesis had even started)."""
    import logging

    # a size no other test uses, so nothing is compiled already
    img = np.random.default_rng(0).random((1, 72, 72)).astype(np.float32)
    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        ps = jo.models.PortillaSimoncelli((72, 72), n_scales=3, spatial_corr_width=5)
        jo.pyramids.SteerablePyramid((72, 72), height=3)
        jo.losses.portilla_simoncelli_loss(ps, img)
    assert [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()] == []


def test_metamer_and_a_direct_call_share_one_compiled_forward(caplog):
    """Metamer computes the target statistics through the model's own compiled call, so a later
    ``ps(x)`` in the user's script compiles nothing new."""
    import logging

    img = jo.data.brick()[:, :40, :40]  # a size no other test uses
    ps = jo.models.PortillaSimoncelli((40, 40), n_scales=1, spatial_corr_width=3)
    jo.Metamer(img, ps)
    other = jax.block_until_ready(img[:, ::-1])
    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        ps(other)
    assert [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()] == []
