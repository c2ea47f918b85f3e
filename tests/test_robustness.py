"""Robustness sweep (issue #5, section 4): every invalid input gets a clear Python exception.

Property-based tests (hypothesis) over image arrays, the scalar arguments of the constructors, the
arguments of :func:`jaxoptic.synthesize`, image files, checkpoints and the command line. The property
everywhere: a call either works, and then returns finite output of the input's dtype (for finite
inputs), or raises ``ValueError`` / ``TypeError`` / ``OSError`` (or jaxoptic's subclasses:
``CheckpointError`` is a ``ValueError``, ``CheckpointSaveError`` an ``OSError``) with a non-empty
message. Any other exception type (``AttributeError``, ``OverflowError``, ``KeyError``, ...) fails the
test with its traceback. Synthesis may also end with :class:`jaxoptic.NonFiniteLossError`, its
documented report of a non-finite objective, which must keep a finite image.

The table of errors, their causes and fixes is ``docs/errors.md``.

Speed: almost every invalid argument fails at validation, before any compilation, so examples are
cheap. Valid-path checks use one fixed image shape per function (each compiles once, in module-scoped
fixtures) and vary the *values* (noise, constants, spikes, tiny and large amplitudes, injected
NaN/Inf) or array leaves of the methods (penalty weights, targets), which do not recompile.

Section 10 keeps the reproducers of bugs the sweep found, now fixed, as regression tests. A new
known bug gets a ``pytest.mark.xfail(strict=True)`` reproducer there, which turns into a failure
(XPASS) once the bug is fixed, so that its marker gets removed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import jaxoptic as jo
from jaxoptic.cli import build_parser
from jaxoptic.cli import main as cli_main

# Exceptions a user may meet for bad input (CheckpointError is a ValueError, FileNotFoundError and
# CheckpointSaveError are OSErrors, UnicodeEncodeError is a ValueError).
ALLOWED = (ValueError, TypeError, OSError)

FAST = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FEW = settings(FAST, max_examples=12)

KEY = jax.random.key(0)
SHAPE = (2, 36, 36)  # big enough for nlpd (33), ms_ssim with 2 scales (21) and a 3-level pyramid
SMALL = (1, 16, 16)  # for synthesis


def call(f, *args, **kwargs):
    """``f(*args, **kwargs)``, or None when it raised one of ALLOWED with a non-empty message.

    Any other exception propagates and fails the test.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return f(*args, **kwargs)
        except ALLOWED as err:
            assert str(err).strip(), f"{type(err).__name__} raised with an empty message"
            return None


def leaves_of(out) -> list:
    if isinstance(out, dict):
        return list(out.values())
    if isinstance(out, (list, tuple)):
        return list(out)
    return [out]


def assert_finite_same_precision(out, dtype) -> None:
    """Every output array is finite and has the input's precision (complex for complex bands)."""
    complex_dtype = jnp.result_type(dtype, jnp.complex64)
    for leaf in leaves_of(out):
        assert leaf.dtype in (jnp.dtype(dtype), complex_dtype), (leaf.dtype, dtype)
        assert bool(jnp.all(jnp.isfinite(leaf))), "non-finite output for a finite input"


def l1(a, b):
    """A second distance for MAD competition (module level: one compiled program)."""
    return jnp.mean(jnp.abs(a - b))


# ---------------------------------------------------------------------------------------------------
# strategies

NONFINITE = st.sampled_from([math.nan, math.inf, -math.inf])

# Scalars that are wrong for most arguments: non-positive ints, non-finite and negative floats,
# non-integer floats, strings, None, bools, lists, complex numbers, arbitrary objects.
JUNK = st.one_of(
    st.integers(-(2**40), 0),
    NONFINITE,
    st.floats(-1e9, -1e-9),
    st.floats(0.01, 64.0).filter(lambda v: not float(v).is_integer()),
    st.text(max_size=6),
    st.none(),
    st.booleans(),
    st.lists(st.integers(-2, 2), max_size=3),
    st.complex_numbers(max_magnitude=4, allow_nan=False, allow_infinity=False).filter(
        lambda z: z.imag != 0
    ),
    st.builds(object),
)


@st.composite
def bad_images(draw):
    """``(image, kind)``: not one float image ``(C, H, W)``.

    kind "ndim": a float array with 0, 1, 2, 4 or 5 dimensions (ValueError);
    kind "dtype": a 3-D array of integers, bools or complex numbers (TypeError);
    kind "object": not an array at all (TypeError).
    """
    kind = draw(st.sampled_from(["ndim", "dtype", "object"]))
    if kind == "ndim":
        ndim = draw(st.sampled_from([0, 1, 2, 4, 5]))
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
        dtype = draw(st.sampled_from([np.float32, np.float64]))
        return np.zeros(shape, dtype), kind
    if kind == "dtype":
        dtype = draw(
            st.sampled_from([np.int8, np.int32, np.uint8, np.int64, np.bool_, np.complex64])
        )
        channels = draw(st.integers(1, 3))
        return np.zeros((channels, 16, 16), dtype), kind
    value = draw(
        st.one_of(
            st.none(),
            st.floats(allow_nan=True),
            st.text(max_size=4),
            st.lists(st.lists(st.floats(0, 1), max_size=3), max_size=3),
        )
    )
    return value, kind


@st.composite
def image_values(draw, shape=SHAPE, *, allow_nonfinite=True):
    """``(image (float64 numpy), finite)``: structured images that expose numerical edge cases.

    Constant images (zero variance), single spikes, steps, tiny (1e-30) and large (1e3) amplitudes,
    negative values and plain noise; optionally a few pixels set to NaN or +-Inf.
    """
    kind = draw(st.sampled_from(["noise", "constant", "step", "spike", "checker", "zeros"]))
    scale = draw(st.sampled_from([1.0, 1e-30, 1e-6, 1e3, -1.0]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if kind == "noise":
        x = rng.random(shape)
    elif kind == "constant":
        x = np.full(shape, draw(st.floats(0, 1)))
    elif kind == "step":
        x = np.zeros(shape)
        x[..., : shape[-1] // 2] = 1.0
    elif kind == "spike":
        x = np.zeros(shape)
        x[(0, *(int(i) for i in rng.integers(0, shape[-1], 2)))] = 1.0
    elif kind == "checker":
        x = (np.indices(shape).sum(axis=0) % 2).astype(np.float64)
    else:
        x = np.zeros(shape)
    x = x * scale
    finite = True
    if allow_nonfinite and draw(st.booleans()):
        n = draw(st.integers(1, 3))
        for _ in range(n):
            idx = tuple(int(rng.integers(0, s)) for s in shape)
            x[idx] = draw(NONFINITE)
        finite = False
    return x, finite


# ---------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def target():
    return jax.random.uniform(jax.random.key(7), SMALL, dtype=jnp.float64)


@pytest.fixture(scope="module")
def image_functions():
    """name -> function of one image, for every public model, pyramid and metric (fixed SHAPE)."""
    hw = SHAPE[1:]
    gauss = jo.models.Gaussian(5, std=1.5)
    models = {
        "Gaussian": gauss,
        "CenterSurround": jo.models.CenterSurround(5),
        "LinearNonlinear": jo.models.LinearNonlinear(7),
        "LuminanceGainControl": jo.models.LuminanceGainControl(7),
        "LuminanceContrastGainControl": jo.models.LuminanceContrastGainControl(7),
        "OnOff": jo.models.OnOff(7, apply_mask=True),
        "Linear": jo.models.Linear(),
        "Identity": jo.models.Identity(),
        "SteerablePyramid": jo.pyramids.SteerablePyramid(hw, height=2),
        "SteerablePyramid(complex)": jo.pyramids.SteerablePyramid(hw, height=2, is_complex=True),
        "LaplacianPyramid": jo.pyramids.LaplacianPyramid(n_scales=4),
    }
    metric = jo.metrics.model_metric(gauss)
    pairs = {
        "ssim": jo.metrics.ssim,
        "ssim_map": jo.metrics.ssim_map,
        "ms_ssim": lambda a, b: jo.metrics.ms_ssim(a, b, power_factors=[0.5, 0.5]),
        "nlpd": jo.metrics.nlpd,
        "mse": jo.metrics.mse,
        "model_metric": metric,
    }
    return models, pairs


@pytest.fixture(scope="module")
def metamer(target):
    met = jo.Metamer(target, jo.models.Gaussian(3))
    return met, met.init(key=KEY)


# ---------------------------------------------------------------------------------------------------
# 1. image arrays

IMAGE_TAKERS = [
    "Gaussian",
    "CenterSurround",
    "LinearNonlinear",
    "LuminanceGainControl",
    "LuminanceContrastGainControl",
    "OnOff",
    "Linear",
    "Identity",
    "SteerablePyramid",
    "LaplacianPyramid",
    "ssim",
    "ssim_map",
    "ms_ssim",
    "nlpd",
    "mse",
    "model_metric",
]


@FAST
@given(bad=bad_images(), name=st.sampled_from(IMAGE_TAKERS))
def test_models_and_metrics_refuse_anything_but_one_float_image(image_functions, bad, name):
    models, pairs = image_functions
    x, kind = bad
    expected = ValueError if kind == "ndim" else TypeError
    with pytest.raises(expected) as info:
        if name in models:
            models[name](x)
        else:
            pairs[name](x, x)
    message = str(info.value)
    assert (
        "3 dimensions" if kind == "ndim" else "array" if kind == "object" else "dtype"
    ) in message


SYNTHESIS_BUILDERS = {
    "Metamer": lambda x: jo.Metamer(x, jo.models.Gaussian(3)),
    "MetamerCTF": lambda x: jo.MetamerCTF(
        x, jo.models.PortillaSimoncelli((16, 16), n_scales=2, spatial_corr_width=3)
    ),
    "MADCompetition": lambda x: jo.MADCompetition(
        x, jo.metrics.mse, l1, "min", metric_tradeoff_lambda=1.0
    ),
    "Eigendistortion": lambda x: jo.Eigendistortion(x, jo.models.Gaussian(3)),
    "Geodesic": lambda x: jo.Geodesic(x, x, jo.models.Gaussian(3)),
    "recipes.metamer": lambda x: jo.recipes.metamer(x, jo.models.Gaussian(3), key=KEY),
    "recipes.portilla_simoncelli_metamer": lambda x: jo.recipes.portilla_simoncelli_metamer(
        x, key=KEY, n_scales=2, spatial_corr_width=3
    ),
    "recipes.mad_competition_set": lambda x: jo.recipes.mad_competition_set(
        x, jo.metrics.mse, l1, key=KEY, metric_tradeoff_lambda=(1.0, 1.0)
    ),
}


@FAST
@given(bad=bad_images(), name=st.sampled_from(sorted(SYNTHESIS_BUILDERS)))
def test_synthesis_methods_refuse_anything_but_one_float_image(bad, name):
    x, kind = bad
    expected = ValueError if kind == "ndim" else TypeError
    with pytest.raises(expected, match=r"\S"):
        SYNTHESIS_BUILDERS[name](x)


@FAST
@given(
    name=st.sampled_from(["Metamer", "MADCompetition", "Eigendistortion", "Geodesic"]),
    n_bad=st.integers(1, 4),
    bad_value=NONFINITE,
    seed=st.integers(0, 1000),
)
def test_synthesis_methods_refuse_non_finite_targets(target, name, n_bad, bad_value, seed):
    rng = np.random.default_rng(seed)
    x = np.array(target)
    for _ in range(n_bad):
        x[0, rng.integers(0, 16), rng.integers(0, 16)] = bad_value
    with pytest.raises(ValueError, match="NaN or Inf"):
        SYNTHESIS_BUILDERS[name](jnp.asarray(x))


FUNCTION_NAMES = [*IMAGE_TAKERS[:10], "SteerablePyramid(complex)", *IMAGE_TAKERS[10:]]
# float64 for every function; float32 too for a few (each dtype is one more compilation)
FLOAT32_TOO = ("Gaussian", "LuminanceContrastGainControl", "OnOff", "SteerablePyramid(complex)")
FLOAT32_TOO += ("ssim", "mse")
DTYPE_CASES = [(name, jnp.float64) for name in FUNCTION_NAMES]
DTYPE_CASES += [(name, jnp.float32) for name in FLOAT32_TOO]


@pytest.mark.parametrize(
    "name, dtype", DTYPE_CASES, ids=[f"{n}-{jnp.dtype(d).name}" for n, d in DTYPE_CASES]
)
@FEW
@given(data=st.data())
def test_finite_images_give_finite_outputs_of_the_same_precision(
    image_functions, name, dtype, data
):
    """Constant, sparse, tiny, large or negative images: finite in -> finite out, dtype kept;
    NaN/Inf pixels in -> no exception other than the documented ones."""
    models, pairs = image_functions
    x, finite = data.draw(image_values())
    x = jnp.asarray(x, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in models:
            out = models[name](x)
        else:
            y, _ = data.draw(image_values(allow_nonfinite=False))
            out = pairs[name](x, jnp.asarray(y, dtype))
    if finite:
        assert_finite_same_precision(out, dtype)
    else:
        for leaf in leaves_of(out):
            assert leaf.dtype in (jnp.dtype(dtype), jnp.result_type(dtype, jnp.complex64))


# ---------------------------------------------------------------------------------------------------
# 2. constructor arguments


def _filters_finite(model) -> bool:
    parts = [model]
    for attr in ("center_surround", "luminance", "contrast"):
        if hasattr(model, attr):
            parts.append(getattr(model, attr))
    filts = [p.filt for p in parts if hasattr(p, "filt")]
    return all(bool(jnp.all(jnp.isfinite(f))) for f in filts)


MODEL_ARGS = {
    jo.models.Gaussian: ("kernel_size", "std", "pad_mode", "out_channels"),
    jo.models.CenterSurround: (
        "kernel_size",
        "on_center",
        "amplitude_ratio",
        "center_std",
        "surround_std",
        "out_channels",
        "pad_mode",
    ),
    jo.models.LinearNonlinear: ("kernel_size", "amplitude_ratio", "pad_mode", "activation"),
    jo.models.LuminanceGainControl: ("kernel_size", "amplitude_ratio", "pad_mode", "activation"),
    jo.models.LuminanceContrastGainControl: (
        "kernel_size",
        "amplitude_ratio",
        "pad_mode",
        "activation",
    ),
    jo.models.OnOff: ("kernel_size", "amplitude_ratio", "pad_mode", "activation", "pretrained"),
    jo.models.Linear: ("kernel_size", "pad_mode"),
}
MODEL_CASES = [(cls, arg) for cls, args in MODEL_ARGS.items() for arg in args]


@FAST
@given(case=st.sampled_from(MODEL_CASES), value=JUNK)
def test_model_constructors_refuse_bad_arguments_or_build_finite_filters(case, value):
    cls, arg = case
    kwargs = {"kernel_size": 5}
    kwargs[arg] = value
    model = call(cls, **kwargs)
    if model is not None:
        assert _filters_finite(model)


@FAST
@given(
    arg=st.sampled_from(["image_shape", "height", "order", "twidth", "is_complex", "tight_frame"]),
    value=JUNK,
)
def test_steerable_pyramid_refuses_bad_arguments(arg, value):
    kwargs = {"image_shape": (16, 16), "height": 1}
    kwargs[arg] = value
    pyr = call(jo.pyramids.SteerablePyramid, **kwargs)
    if pyr is not None:
        assert all(bool(jnp.all(jnp.isfinite(m))) for m in pyr.band_masks)


@FAST
@given(arg=st.sampled_from(["n_scales", "scale_filter"]), value=JUNK)
def test_laplacian_pyramid_refuses_bad_arguments(arg, value):
    call(jo.pyramids.LaplacianPyramid, **{arg: value})


@FAST
@given(
    arg=st.sampled_from(["image_shape", "n_scales", "n_orientations", "spatial_corr_width"]),
    value=JUNK,
)
def test_portilla_simoncelli_refuses_bad_arguments(arg, value):
    kwargs = {"image_shape": (16, 16), "n_scales": 2, "n_orientations": 2, "spatial_corr_width": 3}
    kwargs[arg] = value
    ps = call(jo.models.PortillaSimoncelli, **kwargs)
    if ps is not None:
        assert ps.n_stats > 0


@FEW
@given(
    shape=st.one_of(
        st.tuples(st.integers(-4, 64), st.integers(-4, 64)),
        st.tuples(NONFINITE, st.just(16)),
        st.tuples(st.floats(1, 64), st.floats(1, 64)),
        JUNK,
    )
)
def test_image_shape_arguments_are_checked(shape):
    for build in (
        lambda: jo.models.PortillaSimoncelli(shape, n_scales=1, spatial_corr_width=1),
        lambda: jo.data.disk(shape),
        lambda: jo.data.polar_radius(shape),
        lambda: jo.data.polar_angle(shape),
    ):
        out = call(build)
        if isinstance(out, jo.models.PortillaSimoncelli):
            assert out.n_stats > 0
        elif out is not None:
            assert out.ndim == 2 and bool(jnp.all(jnp.isfinite(out)))


@FAST
@given(
    metric=st.sampled_from(["ssim.pad", "ssim.weighted", "ms_ssim.power_factors"]),
    value=st.one_of(JUNK, st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=6)),
)
def test_metric_options_are_checked(metric, value):
    x = jax.random.uniform(jax.random.key(1), (1, 24, 24), dtype=jnp.float64)
    y = jax.random.uniform(jax.random.key(2), (1, 24, 24), dtype=jnp.float64)
    if metric == "ssim.pad":
        out = call(jo.metrics.ssim, x, y, pad=value)
    elif metric == "ssim.weighted":
        out = call(jo.metrics.ssim, x, y, weighted=value)
    else:
        if isinstance(value, list) and value:
            value = [min(abs(v), 10.0) for v in value]  # finite exponents
        out = call(jo.metrics.ms_ssim, x, y, power_factors=value)
    if out is not None:
        assert bool(jnp.all(jnp.isfinite(out)))


PROCESS_CASES = {
    "center_crop.output_size": lambda v: jo.process.center_crop(jnp.ones((1, 8, 8)), v),
    "shrink.factor": lambda v: jo.process.shrink(jnp.ones((1, 8, 8)), v),
    "expand.factor": lambda v: jo.process.expand(jnp.ones((1, 8, 8)), v),
    "circular_gaussian2d.kernel_size": lambda v: jo.process.circular_gaussian2d(v, 1.0),
    "circular_gaussian2d.std": lambda v: jo.process.circular_gaussian2d(5, v),
    "blur_downsample.n_scales": lambda v: jo.process.blur_downsample(jnp.ones((1, 16, 16)), v),
    "blur_downsample.filtname": lambda v: jo.process.blur_downsample(
        jnp.ones((1, 16, 16)), filtname=v
    ),
}


@FAST
@given(case=st.sampled_from(sorted(PROCESS_CASES)), value=JUNK)
def test_process_helpers_refuse_bad_arguments(case, value):
    if case.startswith("expand") or case.startswith("shrink"):
        # valid factors compile a new FFT program each: keep to the invalid ones
        assume(not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1))
    out = call(PROCESS_CASES[case], value)
    if out is not None:
        assert bool(jnp.all(jnp.isfinite(out)))


# ---------------------------------------------------------------------------------------------------
# 3. synthesis methods: constructor and init arguments

METHOD_CASES = {
    "Metamer.penalty_lambda": lambda t, v: jo.Metamer(t, jo.models.Gaussian(3), penalty_lambda=v),
    "Metamer.optimizer": lambda t, v: jo.Metamer(t, jo.models.Gaussian(3), optimizer=v),
    "Metamer.model": lambda t, v: jo.Metamer(t, v),
    "Metamer.loss_function": lambda t, v: jo.Metamer(t, jo.models.Gaussian(3), loss_function=v),
    "Metamer.penalty_function": lambda t, v: jo.Metamer(
        t, jo.models.Gaussian(3), penalty_function=v
    ),
    "MetamerCTF.coarse_to_fine": lambda t, v: jo.MetamerCTF(
        t,
        jo.models.PortillaSimoncelli((16, 16), n_scales=2, spatial_corr_width=3),
        coarse_to_fine=v,
    ),
    "MetamerCTF.model": lambda t, v: jo.MetamerCTF(t, v),
    "MADCompetition.minmax": lambda t, v: jo.MADCompetition(
        t, jo.metrics.mse, l1, v, metric_tradeoff_lambda=1.0
    ),
    "MADCompetition.metric_tradeoff_lambda": lambda t, v: jo.MADCompetition(
        t, jo.metrics.mse, l1, "min", metric_tradeoff_lambda=v
    ),
    "MADCompetition.initial_noise": lambda t, v: jo.MADCompetition(
        t, jo.metrics.mse, l1, "min", metric_tradeoff_lambda=1.0, initial_noise=v
    ),
    "MADCompetition.penalty_lambda": lambda t, v: jo.MADCompetition(
        t, jo.metrics.mse, l1, "max", metric_tradeoff_lambda=1.0, penalty_lambda=v
    ),
    "MADCompetition.optimizer": lambda t, v: jo.MADCompetition(
        t, jo.metrics.mse, l1, "max", metric_tradeoff_lambda=1.0, optimizer=v
    ),
    "MADCompetition.reference_metric": lambda t, v: jo.MADCompetition(
        t, jo.metrics.mse, v, "max", metric_tradeoff_lambda=1.0
    ),
    "Eigendistortion.k": lambda t, v: jo.Eigendistortion(t, jo.models.Gaussian(3), k=v),
    "Eigendistortion.method": lambda t, v: jo.Eigendistortion(t, jo.models.Gaussian(3), method=v),
    "Eigendistortion.krylov_size": lambda t, v: jo.Eigendistortion(
        t, jo.models.Gaussian(3), krylov_size=v
    ),
    "Eigendistortion.model": lambda t, v: jo.Eigendistortion(t, v),
    "Geodesic.n_steps": lambda t, v: jo.Geodesic(t, 1 - t, jo.models.Gaussian(3), n_steps=v),
    "Geodesic.initial_sequence": lambda t, v: jo.Geodesic(
        t, 1 - t, jo.models.Gaussian(3), initial_sequence=v
    ),
    "Geodesic.range_penalty_lambda": lambda t, v: jo.Geodesic(
        t, 1 - t, jo.models.Gaussian(3), range_penalty_lambda=v
    ),
    "Geodesic.allowed_range": lambda t, v: jo.Geodesic(
        t, 1 - t, jo.models.Gaussian(3), allowed_range=v
    ),
    "Geodesic.stop_criterion": lambda t, v: jo.Geodesic(
        t, 1 - t, jo.models.Gaussian(3), stop_criterion=v
    ),
    "Geodesic.optimizer": lambda t, v: jo.Geodesic(t, 1 - t, jo.models.Gaussian(3), optimizer=v),
    "Geodesic.model": lambda t, v: jo.Geodesic(t, 1 - t, v),
}


@FAST
@given(
    case=st.sampled_from(sorted(METHOD_CASES)),
    value=st.one_of(JUNK, st.tuples(JUNK, JUNK), st.floats(0, 1e6)),
)
def test_synthesis_constructors_refuse_bad_arguments(target, case, value):
    if case == "MetamerCTF.coarse_to_fine":
        assume(value not in ("together", "separate"))  # valid values compile the PS model
    if case == "Geodesic.n_steps":
        assume(not (isinstance(value, int) and value >= 2))  # valid: a new program per value
    method = call(METHOD_CASES[case], target, value)
    if method is not None:
        assert isinstance(method, eqx.Module)


INIT_CASES = {
    "Metamer.init.key": lambda m, v: m.init(key=v),
    "Metamer.init.initial_image": lambda m, v: m.init(initial_image=v),
    "Metamer.init.stop_iters_to_check": lambda m, v: m.init(key=KEY, stop_iters_to_check=v),
}


@FAST
@given(
    case=st.sampled_from(sorted(INIT_CASES)),
    value=st.one_of(JUNK, bad_images().map(lambda b: b[0])),
)
def test_metamer_init_refuses_bad_arguments(metamer, case, value):
    met, _ = metamer
    state = call(INIT_CASES[case], met, value)
    if state is not None:
        assert bool(jnp.isfinite(state.loss)) and bool(jnp.all(jnp.isfinite(state.image)))


# ---------------------------------------------------------------------------------------------------
# 4. synthesize arguments

SYNTHESIZE_ARGS = [
    "max_iter",
    "store_progress",
    "stop_criterion",
    "stop_iters_to_check",
    "chunk_size",
    "checkpoint_every",
]


@FAST
@given(arg=st.sampled_from(SYNTHESIZE_ARGS), value=st.one_of(JUNK, st.floats(-1e300, 1e300)))
def test_synthesize_refuses_bad_arguments_before_running(metamer, arg, value):
    met, state = metamer
    kwargs = {"max_iter": 2, "progress": False}
    kwargs[arg] = value
    if arg == "checkpoint_every":
        kwargs["checkpoint_dir"] = None  # invalid either way: no directory to write to
    if arg == "store_progress":
        # valid values compile a new chunk program each (True and 1 are the same program)
        assume(not (isinstance(value, (int, np.integer)) and value > 1))
    if arg == "chunk_size":
        assume(value is not True)  # accepted as 1 (a bool elsewhere is refused), see the report
    out = call(jo.synthesize, met, state, **kwargs)
    if out is not None:
        new_state, history = out
        assert bool(jnp.all(jnp.isfinite(new_state.image)))
        assert np.all(np.isfinite(history.losses))


@FEW
@given(option=st.text(min_size=1, max_size=12).filter(str.isidentifier), value=JUNK)
def test_synthesize_refuses_options_the_method_does_not_take(metamer, option, value):
    met, state = metamer
    known = {"method", "state", "max_iter", "progress", "callback", "throw"}
    known |= {"checkpoint_dir", "checkpoint_keep"}
    assume(option not in known | set(SYNTHESIZE_ARGS))
    with pytest.raises(TypeError, match="does not take the synthesize option"):
        jo.synthesize(met, state, max_iter=1, progress=False, **{option: value})


# ---------------------------------------------------------------------------------------------------
# 5. synthesis with valid arguments on awkward targets: finite, or NonFiniteLossError


@FEW
@given(
    image=image_values(SMALL, allow_nonfinite=False),
    penalty_lambda=st.one_of(st.floats(0, 1e3), st.sampled_from([0.0, 1e12])),
)
def test_metamer_synthesis_is_finite_or_reports_non_finite(image, penalty_lambda):
    x, _ = image
    met = call(jo.Metamer, jnp.asarray(x), jo.models.Gaussian(3), penalty_lambda=penalty_lambda)
    if met is None:
        return
    try:
        state, history = jo.synthesize(met, met.init(key=KEY), max_iter=3, progress=False)
    except jo.NonFiniteLossError as err:
        state, history = err.state, err.history
    assert bool(jnp.all(jnp.isfinite(state.image)))
    if int(state.status) != int(jo.Status.NONFINITE):
        assert np.all(np.isfinite(history.losses))


@FEW
@given(
    image=image_values(SMALL, allow_nonfinite=False),
    minmax=st.sampled_from(["min", "max"]),
    tradeoff=st.floats(0, 1e4),
    noise=st.floats(0, 1),
)
def test_mad_competition_synthesis_is_finite_or_reports_non_finite(image, minmax, tradeoff, noise):
    x, _ = image
    mad = call(
        jo.MADCompetition,
        jnp.asarray(x),
        jo.metrics.mse,
        l1,
        minmax,
        metric_tradeoff_lambda=tradeoff,
        initial_noise=noise,
    )
    if mad is None:
        return
    try:
        state, _ = jo.synthesize(mad, mad.init(key=KEY), max_iter=3, progress=False)
    except jo.NonFiniteLossError as err:
        state = err.state
    assert bool(jnp.all(jnp.isfinite(state.image)))


# ---------------------------------------------------------------------------------------------------
# 6. optimizers and recipes

LBFGS_ARGS = [
    "memory_size",
    "max_linesearch_steps",
    "max_stepsize",
]


@FAST
@given(arg=st.sampled_from(LBFGS_ARGS), value=JUNK)
def test_lbfgs_refuses_bad_arguments(arg, value):
    call(jo.optimizers.lbfgs, **{arg: value})


@FAST
@given(arg=st.sampled_from(["learning_rate", "b1", "b2", "eps"]), value=JUNK)
def test_amsgrad_accepts_or_refuses_without_crashing(arg, value):
    """amsgrad builds or refuses its hyperparameters with a clear error, never crashes."""
    call(jo.optimizers.amsgrad, **{arg: value})


@FEW
@given(
    arg=st.sampled_from(["n_scales", "n_orientations", "spatial_corr_width"]),
    value=JUNK,
)
def test_portilla_simoncelli_recipe_refuses_bad_model_settings(target, arg, value):
    assume(not (isinstance(value, int) and not isinstance(value, bool) and value >= 1))
    with pytest.raises((ValueError, TypeError), match=arg):
        jo.recipes.portilla_simoncelli_metamer(target, key=KEY, **{arg: value})


def _valid_pair(value) -> bool:
    try:
        a, b = value
        return all(np.ndim(v) == 0 and np.isfinite(v) and v >= 0 for v in (a, b))
    except (TypeError, ValueError):
        return False


@FAST
@given(value=st.one_of(JUNK, st.tuples(JUNK), st.tuples(JUNK, JUNK, JUNK)))
def test_mad_competition_set_refuses_bad_tradeoffs(target, value):
    assume(value is not None)  # None chooses the trade-offs automatically (compiles the metrics)
    assume(not _valid_pair(value))  # a valid pair builds (and compiles) the four methods
    with pytest.raises((ValueError, TypeError)):
        jo.recipes.mad_competition_set(
            target, jo.metrics.mse, l1, key=KEY, metric_tradeoff_lambda=value
        )


@FAST
@given(keys=st.one_of(JUNK.filter(lambda v: not isinstance(v, list)), st.just([]), st.just(KEY)))
def test_geodesic_restarts_refuses_bad_keys(target, keys):
    with pytest.raises((ValueError, TypeError)):
        jo.recipes.geodesic_restarts(target, 1 - target, jo.models.Gaussian(3), keys=keys)


# ---------------------------------------------------------------------------------------------------
# 7. image files

MAGIC = {
    "": b"",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".gif": b"GIF89a",
    ".tif": b"II*\x00",
    ".jpg": b"\xff\xd8\xff\xe0",
    ".bmp": b"BM",
    ".pgm": b"P5\n4 4\n255\n",
    ".ppm": b"P6\n2 2\n255\n",
    ".webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
}


@FAST
@given(
    suffix=st.sampled_from(sorted(MAGIC)),
    with_magic=st.booleans(),
    payload=st.binary(max_size=300),
)
def test_load_images_refuses_damaged_files_with_their_name(suffix, with_magic, payload):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"damaged{suffix}"
        path.write_bytes((MAGIC[suffix] if with_magic else b"") + payload)
        try:
            images = jo.data.load_images(path)
        except ValueError as err:
            assert "damaged" in str(err)
            return
        # some random bytes after a header are a valid tiny image
        assert images.dtype == jnp.float32 and images.ndim == 4 and images.shape[1] == 1


@FAST
@given(name=st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s))
def test_load_images_refuses_missing_or_unusable_paths(name):
    with tempfile.TemporaryDirectory() as tmp:
        assume(name not in (".", ".."))
        with pytest.raises(ALLOWED, match=r"\S"):
            jo.data.load_images(os.path.join(tmp, "missing", name))
        with pytest.raises(ALLOWED, match=r"\S"):
            jo.data.load_images([os.path.join(tmp, "missing", name)])


@FEW
@given(value=st.one_of(JUNK.filter(lambda v: not isinstance(v, str)), st.just([])))
def test_load_images_refuses_non_paths(value):
    with pytest.raises((TypeError, ValueError)):
        jo.data.load_images(value)


def test_load_images_refuses_directories_in_a_list_and_empty_directories(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        jo.data.load_images([tmp_path])
    with pytest.raises(ValueError, match="contains no files"):
        jo.data.load_images(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="Skipping"), pytest.raises(ValueError, match="None of"):
        jo.data.load_images(tmp_path)


@FAST
@given(
    image=st.one_of(
        bad_images().map(lambda b: b[0]),
        image_values((1, 4, 4)).map(lambda v: v[0]),
        image_values((2, 4, 4)).map(lambda v: v[0]),
    ),
    bit_depth=st.one_of(st.sampled_from([8, 16]), JUNK),
    suffix=st.sampled_from([".png", ".tif", ".jpg", ".xyz", ""]),
)
def test_save_image_writes_or_refuses(image, bit_depth, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out{suffix}"
        written = call(jo.data.save_image, path, image, bit_depth=bit_depth)
        if written is not None:
            back = jo.data.load_images(written)
            assert back.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(back)))


# ---------------------------------------------------------------------------------------------------
# 8. checkpoints


@pytest.fixture(scope="module")
def checkpoint(metamer):
    met, state = metamer
    state, history = jo.synthesize(met, state, max_iter=2, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = jo.io.save(Path(tmp) / "ckpt", met, state, history)
        yield met, state, path


def _json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _json_paths(v, (*prefix, i))


JSON_JUNK = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-1000, 1000),
        st.integers(-(2**70), 2**70),
        st.floats(-1e3, 1e3),
        st.text(max_size=8),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(FAST, max_examples=20)
@given(data=st.data())
def test_load_refuses_damaged_metadata(checkpoint, data):
    met, state, path = checkpoint
    meta = json.loads((path / "metadata.json").read_text())
    paths = [p for p in _json_paths(meta) if p]
    where = data.draw(st.sampled_from(paths))
    delete = data.draw(st.booleans())
    value = None if delete else data.draw(JSON_JUNK)
    node = meta
    for k in where[:-1]:
        node = node[k]
    if delete and isinstance(node, dict):
        del node[where[-1]]
    else:
        node[where[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        damaged = Path(tmp) / "damaged"
        shutil.copytree(path, damaged)
        (damaged / "metadata.json").write_text(json.dumps(meta))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = jo.io.load(damaged, met)
        except jo.io.CheckpointError as err:
            assert str(err).strip()
            out = None
    if out is not None:  # a harmless change (the creation date, the versions, ...)
        loaded, _ = out
        assert bool(jnp.all(loaded.image == state.image))


@FEW
@given(payload=st.binary(max_size=200))
def test_load_refuses_metadata_that_is_not_json(checkpoint, payload):
    met, _, path = checkpoint
    with tempfile.TemporaryDirectory() as tmp:
        damaged = Path(tmp) / "damaged"
        shutil.copytree(path, damaged)
        (damaged / "metadata.json").write_bytes(payload)
        with pytest.raises(jo.io.CheckpointError):
            jo.io.load(damaged, met)


# ---------------------------------------------------------------------------------------------------
# 9. the command line


@FAST
@given(argv=st.lists(st.text(max_size=10), max_size=5))
def test_cli_arguments_parse_or_exit_with_code_2(argv):
    try:
        build_parser().parse_args(argv)
    except SystemExit as exit_:
        assert exit_.code in (0, 2)  # 0 for --help, 2 for anything argparse refuses


@FEW
@given(
    name=st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s),
    payload=st.binary(max_size=64),
)
def test_cli_bad_image_exits_with_code_2_before_any_work(name, payload):
    assume(name not in ("camera", "brick", "grass", "gravel", ".", ".."))
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, "missing", name)
        assert cli_main(["metamer", "--image", missing, "--no-progress"]) == 2
        damaged = Path(tmp) / "damaged.png"
        damaged.write_bytes(payload)
        assert cli_main(["metamer", "--image", str(damaged), "--no-progress"]) == 2


# ---------------------------------------------------------------------------------------------------
# 10. regressions: former known bugs (each was a strict-xfail reproducer until it was fixed)


@pytest.mark.parametrize("which", ["state", "method"])
def test_synthesize_refuses_a_non_state_or_method(metamer, which):
    met, state = metamer
    args = (met, None) if which == "state" else (None, state)
    with pytest.raises(TypeError):
        jo.synthesize(*args, max_iter=1, progress=False)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(callback=3), "callback"),
        (dict(checkpoint_every=25, checkpoint_dir=3), "checkpoint_dir"),
        (dict(checkpoint_every=25, checkpoint_dir="unused", checkpoint_keep=0), "checkpoint_keep"),
    ],
)
def test_synthesize_checks_callback_and_checkpoint_options_before_running(metamer, kwargs, name):
    met, state = metamer
    with pytest.raises((TypeError, ValueError), match=name):
        jo.synthesize(met, state, max_iter=1, progress=False, **kwargs)


@pytest.mark.parametrize("image", [None, [[[0.5]]]])
def test_ps_recipe_refuses_a_non_array(image):
    with pytest.raises(TypeError):
        jo.recipes.portilla_simoncelli_metamer(image, key=KEY)


@pytest.mark.parametrize(
    "kwargs", [dict(b1=1.0), dict(b2=1.0), dict(learning_rate=-1.0), dict(eps=-1.0)]
)
def test_amsgrad_refuses_invalid_hyperparameters(kwargs):
    with pytest.raises(ValueError):
        jo.optimizers.amsgrad(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(increase_factor=math.nan),
        dict(increase_factor=0.5),
        dict(slope_rtol=-1.0),
        dict(curv_rtol=math.nan),
        dict(stepsize_precision=-1.0),
    ],
)
def test_lbfgs_refuses_invalid_line_search_settings(kwargs):
    with pytest.raises(ValueError):
        jo.optimizers.lbfgs(**kwargs)


def test_lbfgs_max_stepsize_message_names_the_argument():
    with pytest.raises(ValueError, match="max_stepsize"):
        jo.optimizers.lbfgs(max_stepsize="1")


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda t: jo.Metamer(t, jo.models.Gaussian(3), penalty_lambda="0.1"), "penalty_lambda"),
        (lambda t: jo.Metamer(t, jo.models.Gaussian(3), penalty_lambda=None), "penalty_lambda"),
        (
            lambda t: jo.MADCompetition(t, jo.metrics.mse, l1, "min", metric_tradeoff_lambda="1"),
            "metric_tradeoff_lambda",
        ),
        (
            lambda t: jo.Geodesic(t, 1 - t, jo.models.Gaussian(3), range_penalty_lambda=None),
            "range_penalty_lambda",
        ),
    ],
)
def test_number_messages_name_the_argument(target, build, name):
    with pytest.raises((TypeError, ValueError), match=name):
        build(target)


def test_amplitude_ratio_message_names_the_argument():
    with pytest.raises(ValueError, match="amplitude_ratio"):
        jo.models.CenterSurround(5, amplitude_ratio="big")


@pytest.mark.parametrize("value", [0, 1.5, -1])
def test_metamer_init_checks_stop_iters_to_check(metamer, value):
    met, _ = metamer
    with pytest.raises(ValueError, match="stop_iters_to_check"):
        met.init(key=KEY, stop_iters_to_check=value)


@pytest.mark.parametrize("shape", ["64", (16.5, 16.0)])
def test_image_shape_refuses_strings_and_fractions(shape):
    with pytest.raises(ValueError, match="size"):
        jo.data.disk(shape)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize(("a", "b"), [(0.5, 0.25), (0.5, 0.5), (0.0, 0.0), (1.0, 0.0)])
def test_weighted_ssim_of_constant_images_is_the_plain_ssim(a, b, dtype):
    # every weight is 0 (a 0/0 average), but the SSIM map is constant, so each weighted average of
    # it is its plain mean: (2ab + C1) / (a^2 + b^2 + C1). plenoptic gives the same value to
    # rounding (its variances keep rounding noise), or NaN where that noise is exactly 0 (all zeros)
    x, y = jnp.full((1, 16, 16), a, dtype), jnp.full((1, 16, 16), b, dtype)
    out = jo.metrics.ssim(x, y, weighted=True)
    assert out.dtype == dtype
    expected = (2 * a * b + 0.01**2) / (a * a + b * b + 0.01**2)
    np.testing.assert_allclose(out, [expected], rtol=1e-5 if dtype == jnp.float32 else 1e-12)
    np.testing.assert_array_equal(out, jo.metrics.ssim(x, y))
    grad = jax.grad(lambda z: jo.metrics.ssim(z, y, weighted=True)[0])(x)
    assert bool(jnp.all(jnp.isfinite(grad)))


def _damaged_copy(checkpoint, tmp, change):
    met, _, path = checkpoint
    meta = json.loads((path / "metadata.json").read_text())
    change(meta)
    damaged = Path(tmp) / "damaged"
    shutil.copytree(path, damaged)
    (damaged / "metadata.json").write_text(json.dumps(meta))
    return damaged, met


def _set(meta, where, value):
    node = meta
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda m: _set(m, ("backend",), 3), id="backend-not-a-dict"),
        pytest.param(lambda m: _set(m, ("versions",), [1]), id="versions-not-a-dict"),
        pytest.param(lambda m: _set(m, ("state",), "x"), id="state-not-a-dict"),
        pytest.param(lambda m: m["state"]["leaves"][0].pop("key"), id="leaf-without-key"),
        pytest.param(lambda m: m["history"]["arrays"][0].pop("kind"), id="history-without-kind"),
        pytest.param(lambda m: _set(m, ("history", "arrays", 0, "kind"), 1), id="history-kind"),
        pytest.param(lambda m: _set(m, ("history", "arrays", 1, "shape", 0), 2**40), id="huge"),
        pytest.param(lambda m: _set(m, ("history", "length"), 10**400), id="huge-length"),
        pytest.param(
            lambda m: _set(m, ("state", "leaves", 0, "shape"), [2**62] * 3), id="overflow"
        ),
    ],
)
def test_load_refuses_hand_edited_metadata(checkpoint, change, tmp_path):
    damaged, met = _damaged_copy(checkpoint, tmp_path, change)
    with pytest.raises(jo.io.CheckpointError, match="edited by hand"):
        jo.io.load(damaged, met)


@pytest.mark.parametrize(
    "model",
    [lambda x: (x > 0.5).astype(jnp.int32), lambda x: x > 0.5],
    ids=["int32", "bool"],
)
def test_eigendistortion_refuses_a_model_with_integer_output(target, model):
    with pytest.raises(
        TypeError, match=r"needs a model with a float output.*returns dtype (int32|bool)"
    ):
        jo.Eigendistortion(target, model)
