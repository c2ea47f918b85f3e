"""Filters, padding, convolutions and local gain control (``jaxoptic.process``) against plenoptic 2.1.1.

Reference values: ``tests/reference/process.npz`` (written by ``tests/reference/gen_process.py``).
"""

from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _parity import assert_parity, load_reference
from jax.test_util import check_grads

import jaxoptic as jo
from jaxoptic.process import _conv

P = jo.process
REF = load_reference("process")
MODES = ["constant", "reflect", "replicate", "circular"]


def _img(name):
    return jnp.asarray(REF[f"img/{name}"])


def _keys(prefix):
    return sorted(k for k in REF if k.startswith(prefix))


def _odd(tag):  # "odd10" -> (1, 0)
    return int(tag[3]), int(tag[4])


def _evaluate(calls):
    """Run ``{key: (fn, args)}`` in one jitted program (one compilation, kept by the persistent cache)."""
    fns = {key: fn for key, (fn, _) in calls.items()}
    args = {key: tuple(jnp.asarray(a) for a in a_) for key, (_, a_) in calls.items()}
    return jax.jit(lambda args: {key: fns[key](*args[key]) for key in fns})(args)


def _rand(shape, dtype=jnp.float64, seed=0):
    return jnp.asarray(np.random.default_rng(seed).random(shape), dtype=dtype)


# ------------------------------------------------------------------------------------------------ Gaussians

GAUSS_CASES = sorted({k.split("/")[1] for k in _keys("gauss/")})


@pytest.mark.parametrize("case", GAUSS_CASES)
def test_circular_gaussian2d_matches_plenoptic(case):
    ks = REF[f"gauss/{case}/kernel_size"]
    oc = int(REF[f"gauss/{case}/out_channels"])
    kernel_size = int(ks) if ks.ndim == 0 else tuple(int(v) for v in ks)
    std = REF[f"gauss/{case}/std"]  # float64 array -> float64 filter
    filt = P.circular_gaussian2d(kernel_size, std, None if oc < 0 else oc)
    assert filt.dtype == jnp.float64
    assert_parity(filt, REF[f"gauss/{case}/filt"], case)


def test_circular_gaussian2d_channels_sum_to_one_and_even_kernels_are_centred():
    filt = P.circular_gaussian2d((6, 4), std=[1.0, 2.0], dtype=jnp.float64)
    assert filt.shape == (2, 6, 4)
    np.testing.assert_allclose(filt.sum(axis=(1, 2)), 1.0, rtol=1e-12)
    # centred between the two middle pixels: symmetric under flips of both axes
    np.testing.assert_allclose(filt, filt[:, ::-1, ::-1], rtol=1e-12)


@pytest.mark.parametrize(
    ("std", "dtype", "expected"),
    [
        (1.0, None, jnp.float32),
        ([1.0, 2.0], None, jnp.float32),
        (np.array([1.0, 2.0]), None, jnp.float64),
        (jnp.asarray(1.0, jnp.float32), None, jnp.float32),
        (1.0, jnp.float64, jnp.float64),
        (np.array(1.0), jnp.float32, jnp.float32),
    ],
)
def test_circular_gaussian2d_dtype_follows_std_or_dtype_argument(std, dtype, expected):
    assert P.circular_gaussian2d(5, std, dtype=dtype).dtype == expected


def test_circular_gaussian2d_is_differentiable_in_std_under_jit():
    def f(std):
        return (P.circular_gaussian2d(7, std) ** 2).sum()

    check_grads(jax.jit(f), (jnp.asarray([1.0, 2.5]),), order=1, modes=("rev",))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel_size": 0, "std": 1.0}, "kernel_size"),
        ({"kernel_size": 2.5, "std": 1.0}, "kernel_size"),
        ({"kernel_size": (3, 3, 3), "std": 1.0}, "kernel_size"),
        ({"kernel_size": 5, "std": 0.0}, "std"),
        ({"kernel_size": 5, "std": [1.0, -1.0]}, "std"),
        ({"kernel_size": 5, "std": [1.0, 2.0], "out_channels": 3}, "out_channels"),
        ({"kernel_size": 5, "std": 1.0, "out_channels": 0}, "out_channels"),
    ],
)
def test_circular_gaussian2d_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.circular_gaussian2d(**kwargs)


# ------------------------------------------------------------------------------------------------ padding


@pytest.mark.parametrize("mode", MODES)
def test_same_padding_matches_plenoptic(mode):
    keys = _keys(f"pad/r2_17x20/{mode}/")
    assert len(keys) == 12
    calls = {}
    for key in keys:
        _, _, _, k, s, d = key.split("/")
        ks, stride, dil = (tuple(int(v) for v in t[1:].split("x")) for t in (k, s, d))
        calls[key] = (
            lambda x, ks=ks, st=stride, dl=dil: P.same_padding(x, ks, st, dl, pad_mode=mode),
            (REF["img/r2_17x20"],),
        )
    for key, out in _evaluate(calls).items():
        assert_parity(out, REF[key], key)


def test_same_padding_pads_only_the_last_two_axes_and_keeps_dtype():
    x = jnp.ones((2, 3, 8, 9), jnp.float32)
    y = P.same_padding(x, (4, 3), pad_mode="reflect")
    assert y.shape == (2, 3, 11, 11) and y.dtype == jnp.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel_size": (3, 3), "pad_mode": "zeros"}, "pad_mode"),
        ({"kernel_size": (0, 3)}, "kernel_size"),
        ({"kernel_size": (3, 3), "stride": 0}, "stride"),
        ({"kernel_size": (3, 3), "dilation": (1, 0)}, "dilation"),
        ({"kernel_size": (21, 3), "pad_mode": "reflect"}, "reflect"),
        ({"kernel_size": (41, 3), "pad_mode": "circular"}, "circular"),
    ],
)
def test_same_padding_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        P.same_padding(jnp.ones((1, 10, 10)), **kwargs)


def test_same_padding_rejects_1d_input():
    with pytest.raises(ValueError, match="at least 2 axes"):
        P.same_padding(jnp.ones(10), 3)


# ------------------------------------------------------------------------------------------------ correlate / upsample


@pytest.mark.parametrize("mode", MODES)
def test_correlate_downsample_matches_plenoptic(mode):
    # two images (even, odd sizes) x four filters (odd, even, non-square, FFT-sized)
    keys = [k for k in _keys("cd/") if k.endswith(f"/{mode}")]
    assert len(keys) == 8
    calls = {}
    for key in keys:
        _, img, filt, _ = key.split("/")
        calls[key] = (
            lambda x, f: P.correlate_downsample(x, f, padding_mode=mode),
            (REF[f"img/{img}"], REF[f"filt/{filt}"]),
        )
    for key, out in _evaluate(calls).items():
        assert_parity(out, REF[key], key)


@pytest.mark.parametrize("mode", MODES)
def test_upsample_convolve_matches_plenoptic(mode):
    keys = [k for k in _keys("uc/") if f"/{mode}/" in k]
    assert keys
    calls = {}
    for key in keys:
        _, img, filt, _, odd = key.split("/")
        odd = _odd(odd)
        calls[key] = (
            lambda x, f, odd=odd: P.upsample_convolve(x, odd, f, padding_mode=mode),
            (REF[f"img/{img}"], REF[f"filt/{filt}"]),
        )
    for key, out in _evaluate(calls).items():
        assert_parity(out, REF[key], key)


def _np_upsample_convolve(x, odd, filt, mode):
    """Plenoptic's recipe with numpy: pre-pad, zero insertion, post-pad, correlate with the flipped filter."""
    np_mode = {
        "constant": "constant",
        "reflect": "reflect",
        "replicate": "edge",
        "circular": "wrap",
    }
    (pre_h, post_h), (pre_w, post_w) = (
        _conv._upsample_pads(k, o) for k, o in zip(filt.shape, odd, strict=True)
    )
    x = np.pad(np.asarray(x), ((0, 0), pre_h, pre_w), mode=np_mode[mode])
    up = np.zeros((x.shape[0], 2 * x.shape[1] - 1, 2 * x.shape[2] - 1))
    up[:, ::2, ::2] = x
    up = np.pad(up, ((0, 0), post_h, post_w))
    flipped = np.asarray(filt)[::-1, ::-1]
    kh, kw = flipped.shape
    out = np.zeros((x.shape[0], up.shape[1] - kh + 1, up.shape[2] - kw + 1))
    for a in range(kh):
        for b in range(kw):
            out += flipped[a, b] * up[:, a : a + out.shape[1], b : b + out.shape[2]]
    return out


@pytest.mark.parametrize("k", [(1, 1), (7, 2), (12, 12)])  # trivial, odd x even, FFT-sized phases
@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_upsample_convolve_matches_zero_insertion_recipe(k, mode):
    x = _rand((2, 13, 14), seed=5)
    filt = _rand(k, seed=6)
    for odd in [(0, 0), (1, 1)]:
        ours = jax.jit(lambda x, f, odd=odd: P.upsample_convolve(x, odd, f, padding_mode=mode))(
            x, filt
        )
        np.testing.assert_allclose(ours, _np_upsample_convolve(x, odd, filt, mode), atol=1e-12)


@pytest.mark.parametrize("path", ["matrix", "shifted_sums"])
def test_blur_downsample_matches_plenoptic(path, monkeypatch):
    keys = _keys("bd/")
    if path == "shifted_sums":  # force the large-image implementation on the small reference images
        monkeypatch.setattr(_conv, "_MATRIX_MAX_SIZE", 0)
        keys = [k for k in keys if "/n2/" in k]
    calls = {}
    for key in keys:
        _, img, ns, sf = key.split("/")
        calls[key] = (
            lambda x, n=int(ns[1:]), sf=bool(int(sf[2:])): P.blur_downsample(x, n, scale_filter=sf),
            (REF[f"img/{img}"],),
        )
    for key, out in _evaluate(calls).items():
        assert_parity(out, REF[key], key)


@pytest.mark.parametrize("path", ["matrix", "shifted_sums"])
def test_upsample_blur_matches_plenoptic(path, monkeypatch):
    keys = _keys("ub/")
    if path == "shifted_sums":
        monkeypatch.setattr(_conv, "_MATRIX_MAX_SIZE", 0)
        keys = [k for k in keys if "/n2/" in k]
    calls = {}
    for key in keys:
        _, img, ns, sf, odd = key.split("/")
        odd, ns, sf = _odd(odd), int(ns[1:]), bool(int(sf[2:]))
        calls[key] = (
            lambda x, o=odd, n=ns, sf=sf: P.upsample_blur(x, o, n, scale_filter=sf),
            (REF[f"img/{img}"],),
        )
    for key, out in _evaluate(calls).items():
        assert_parity(out, REF[key], key)


def test_blur_downsample_and_upsample_blur_keep_the_mean_with_scale_filter():
    img = _img("r2_64x48")
    down = P.blur_downsample(img, n_scales=2)
    up = P.upsample_blur(img, (0, 0))
    assert abs(float(down.mean() - img.mean())) < 1e-2
    assert abs(float(up.mean() - img.mean())) < 1e-2
    unscaled = P.blur_downsample(img, scale_filter=False)
    assert abs(float(unscaled.mean() / 2 - img.mean())) < 1e-2


def test_blur_downsample_and_upsample_blur_keep_a_delta_in_place():
    delta = jnp.zeros((1, 32, 32)).at[0, 10, 20].set(1.0)
    down = P.blur_downsample(delta)
    assert np.unravel_index(int(jnp.argmax(down)), down.shape) == (0, 5, 10)
    small = jnp.zeros((1, 16, 16)).at[0, 5, 10].set(1.0)
    up = P.upsample_blur(small, (0, 0))
    assert np.unravel_index(int(jnp.argmax(up)), up.shape) == (0, 10, 20)


def test_blur_functions_accept_other_named_filters():
    img = _rand((1, 16, 16))
    for name in ["binom3", "haar", "qmf9", "daub2"]:
        assert P.blur_downsample(img, filtname=name).shape == (1, 8, 8)
        assert P.upsample_blur(img, (1, 1), filtname=name).shape == (1, 31, 31)


# ------------------------------------------------------------------------------------------------ conv2d / depthwise


def _np_conv2d(x, w, stride=(1, 1), padding=(0, 0), groups=1):
    """Plain loops: torch.nn.functional.conv2d for one image."""
    x = np.pad(np.asarray(x), ((0, 0), (padding[0],) * 2, (padding[1],) * 2))
    w = np.asarray(w)
    c_out, c_pg, kh, kw = w.shape
    ho = (x.shape[1] - kh) // stride[0] + 1
    wo = (x.shape[2] - kw) // stride[1] + 1
    out = np.zeros((c_out, ho, wo))
    per_out = c_out // groups
    for o in range(c_out):
        g = o // per_out
        for i in range(c_pg):
            for a in range(ho):
                for b in range(wo):
                    patch = x[
                        g * c_pg + i,
                        a * stride[0] : a * stride[0] + kh,
                        b * stride[1] : b * stride[1] + kw,
                    ]
                    out[o, a, b] += (patch * w[o, i]).sum()
    return out


@pytest.mark.parametrize(
    ("c_in", "c_out", "groups", "k", "stride", "padding"),
    [
        (1, 2, 1, (3, 3), 1, 0),  # one channel in, two out (Gaussian / OnOff models)
        (2, 2, 2, (5, 4), 1, 1),  # depthwise pairs
        (3, 4, 1, (3, 2), 2, (1, 2)),  # dense, strided
        (4, 2, 2, (7, 7), 1, 3),  # grouped, FFT-sized filter
        (2, 3, 1, (6, 6), (2, 1), 0),  # dense FFT path with stride
    ],
)
def test_conv2d_matches_torch_semantics(c_in, c_out, groups, k, stride, padding):
    x = _rand((c_in, 11, 12), seed=1)
    w = _rand((c_out, c_in // groups, *k), seed=2) - 0.5
    out = jax.jit(lambda x, w: P.conv2d(x, w, stride=stride, padding=padding, groups=groups))(x, w)
    stride, padding = (v if isinstance(v, tuple) else (v, v) for v in (stride, padding))
    expected = _np_conv2d(x, w, stride=stride, padding=padding, groups=groups)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [3, 9])  # shifted sums and FFT
@pytest.mark.parametrize("shared", [True, False])
def test_depthwise_conv2d_equals_grouped_conv2d(k, shared):
    x = _rand((3, 14, 13), seed=3)
    filt = _rand((k, k) if shared else (3, k, k), seed=4)
    weights = jnp.broadcast_to(filt, (3, k, k))[:, None]
    ours = jax.jit(lambda x, f: P.depthwise_conv2d(x, f, stride=2))(x, filt)
    grouped = jax.jit(lambda x, w: P.conv2d(x, w, stride=2, groups=3))(x, weights)
    np.testing.assert_allclose(ours, grouped, rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_depthwise_conv2d_same_padding_keeps_size_and_constant_images(mode):
    x = jnp.full((2, 15, 16), 0.5)
    filt = P.circular_gaussian2d((5, 4), std=1.0, dtype=jnp.float64)
    y = jax.jit(lambda x: P.depthwise_conv2d(x, filt, pad_mode=mode))(x)
    assert y.shape == x.shape
    if mode != "constant":
        np.testing.assert_allclose(y, 0.5, rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: P.conv2d(x, jnp.ones((2, 3, 3))), "4 axes"),
        (lambda x: P.conv2d(x, jnp.ones((2, 3, 3, 3))), "input channels"),
        (lambda x: P.conv2d(x, jnp.ones((3, 1, 3, 3)), groups=2), "divisible"),
        (lambda x: P.depthwise_conv2d(x, jnp.ones((3, 3, 3))), "filt"),
        (lambda x: P.depthwise_conv2d(x, jnp.ones((3, 3)), pad_mode="mirror"), "pad_mode"),
        (lambda x: P.correlate_downsample(x, jnp.ones((1, 3, 3))), "filt"),
        (
            lambda x: P.correlate_downsample(x, jnp.ones((3, 3)), padding_mode="edge"),
            "padding_mode",
        ),
        (lambda x: P.upsample_convolve(x, (2, 0), jnp.ones((3, 3))), "odd"),
        (lambda x: P.upsample_convolve(x, (0,), jnp.ones((3, 3))), "odd"),
        (lambda x: P.blur_downsample(x, n_scales=0), "n_scales"),
        (lambda x: P.blur_downsample(x, filtname="binom1"), "filtname"),
        (lambda x: P.upsample_blur(x, (0, 0), filtname="sp3_filters"), "filtname"),
        (lambda x: P.upsample_blur(x, (0, 0), n_scales=1.5), "n_scales"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call(jnp.ones((2, 16, 16)))


IMAGE_FUNCTIONS = {
    "conv2d": lambda x: P.conv2d(x, jnp.ones((2 * x.shape[0], 1, 3, 3)) / 9, groups=x.shape[0]),
    "depthwise_conv2d": lambda x: P.depthwise_conv2d(x, jnp.ones((3, 3)) / 9, pad_mode="reflect"),
    "correlate_downsample": lambda x: P.correlate_downsample(x, jnp.ones((3, 3)) / 9),
    "upsample_convolve": lambda x: P.upsample_convolve(x, (1, 0), jnp.ones((3, 3)) / 9),
    "blur_downsample": lambda x: P.blur_downsample(x, n_scales=2),
    "upsample_blur": lambda x: P.upsample_blur(x, (0, 1)),
    "local_gain_control": lambda x: P.local_gain_control(x),
}


@pytest.mark.parametrize("name", IMAGE_FUNCTIONS)
@pytest.mark.parametrize("shape", [(16, 16), (2, 1, 16, 16)])
def test_image_functions_refuse_non_3d_input(name, shape):
    if name == "local_gain_control" and len(shape) == 4:
        shape = (16,)  # 4-D is a pyramid band for gain control
    with pytest.raises(ValueError, match="(channels, height, width)"):
        IMAGE_FUNCTIONS[name](jnp.ones(shape))


@pytest.mark.parametrize("name", IMAGE_FUNCTIONS)
def test_image_functions_refuse_integer_images(name):
    with pytest.raises(TypeError, match="floating"):
        IMAGE_FUNCTIONS[name](jnp.ones((1, 16, 16), jnp.int32))


@pytest.mark.parametrize("name", IMAGE_FUNCTIONS)
def test_image_functions_jit_equals_eager_and_keep_float32(name):
    x = _rand((2, 17, 16), jnp.float32)
    f = IMAGE_FUNCTIONS[name]
    for a, b in zip(jax.tree.leaves(jax.jit(f)(x)), jax.tree.leaves(f(x)), strict=True):
        assert a.dtype == b.dtype == jnp.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", IMAGE_FUNCTIONS)
def test_image_functions_vmap_equals_loop_and_keep_float64(name):
    xs = _rand((3, 2, 16, 15))
    f = jax.jit(IMAGE_FUNCTIONS[name])
    batched = jax.jit(jax.vmap(f))(xs)
    for i in range(xs.shape[0]):
        for a, b in zip(
            jax.tree.leaves(jax.tree.map(lambda v, i=i: v[i], batched)),
            jax.tree.leaves(f(xs[i])),
            strict=True,
        ):
            assert a.dtype == b.dtype == jnp.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", IMAGE_FUNCTIONS)
def test_image_functions_gradients(name):
    f = IMAGE_FUNCTIONS[name]

    def loss(x):
        return sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(f(x)))

    check_grads(jax.jit(loss), (_rand((1, 9, 8)) + 0.1,), order=1, modes=("rev",))


@pytest.mark.parametrize("mode", MODES)
def test_padding_modes_gradients(mode):
    def loss(x):
        padded = P.same_padding(x, (4, 3), (2, 2), pad_mode=mode)
        upsampled = P.upsample_convolve(x, (0, 1), jnp.ones((4, 3)), padding_mode=mode)
        return jnp.sum(padded**2) + jnp.sum(upsampled**2)

    check_grads(jax.jit(loss), (_rand((1, 7, 6)),), order=1, modes=("rev",))


# ------------------------------------------------------------------------------------------------ gain control


@pytest.mark.parametrize("img", ["r2_32x40", "r1_33x47"])
def test_local_gain_control_and_release_match_plenoptic(img):
    norm, direction = P.local_gain_control(_img(img))
    assert_parity(norm, REF[f"lgc/{img}/norm"], "norm")
    assert_parity(direction, REF[f"lgc/{img}/direction"], "direction")
    released = P.local_gain_release(
        jnp.asarray(REF[f"lgc/{img}/norm"]), jnp.asarray(REF[f"lgc/{img}/direction"])
    )
    assert_parity(released, REF[f"lgc/{img}/release"], "release")
    np.testing.assert_allclose(P.local_gain_release(norm, direction), _img(img), rtol=1e-10)


def _spyr_coeffs():
    def key(s):
        return int(s) if s.isdigit() else s

    return OrderedDict((key(s), jnp.asarray(REF[f"spyr/in/{s}"])) for s in REF["spyr/in_keys"])


def test_local_gain_control_dict_matches_plenoptic_on_steerable_bands():
    energy, state = jax.jit(P.local_gain_control_dict)(_spyr_coeffs())
    assert isinstance(energy, OrderedDict) and isinstance(state, OrderedDict)
    assert [str(k) for k in energy] == list(REF["spyr/energy_keys"])
    assert list(state) == [0, 1]
    for key, val in energy.items():
        assert_parity(val, REF[f"spyr/energy/{key}"], f"energy {key}")
    for key, val in state.items():
        assert_parity(val, REF[f"spyr/state/{key}"], f"state {key}")


def test_local_gain_control_dict_without_residuals():
    energy, _ = jax.jit(lambda c: P.local_gain_control_dict(c, residuals=False))(_spyr_coeffs())
    assert list(energy) == [0, 1]
    for key, val in energy.items():
        assert_parity(val, REF[f"spyr/energy_nores/{key}"], f"energy {key}")


def test_local_gain_release_dict_matches_plenoptic_and_inverts():
    coeffs = _spyr_coeffs()
    energy, state = jax.jit(P.local_gain_control_dict)(coeffs)
    released = jax.jit(P.local_gain_release_dict)(energy, state)
    assert isinstance(released, OrderedDict)
    assert [str(k) for k in released] == list(REF["spyr/release_keys"])
    for key, val in released.items():
        assert_parity(val, REF[f"spyr/release/{key}"], f"release {key}")
        np.testing.assert_allclose(val, coeffs[key], rtol=1e-9, atol=1e-12)


def test_local_gain_control_on_bands_equals_band_by_band():
    bands = _rand((2, 3, 16, 14))
    gain_control = jax.jit(P.local_gain_control)
    norm, direction = gain_control(bands)
    for b in range(3):
        n_b, d_b = gain_control(bands[:, b])
        np.testing.assert_allclose(norm[:, b], n_b, rtol=1e-14)
        np.testing.assert_allclose(direction[:, b], d_b, rtol=1e-14)


def test_local_gain_release_rejects_mismatched_shapes_and_missing_bands():
    norm, direction = P.local_gain_control(jnp.ones((1, 16, 16)))
    with pytest.raises(ValueError, match="norm"):
        P.local_gain_release(norm[:, :4], direction)
    with pytest.raises(ValueError, match="state"):
        P.local_gain_release_dict({0: norm}, {1: direction})
    with pytest.raises(ValueError, match="pyramid band"):
        P.local_gain_control(jnp.ones((1, 1, 1, 16, 16)))
