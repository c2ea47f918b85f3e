"""Check that a model can be used for synthesis (plenoptic's ``validate_model``, for JAX models)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["validate_model"]

# Relative tolerances (on max |output|) for jit-vs-eager and vmap-vs-loop comparisons.
_TOLERANCE = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}
_PRECISION = {
    np.dtype(np.float16): (np.dtype(np.float16),),
    np.dtype(np.float32): (np.dtype(np.float32), np.dtype(np.complex64)),
    np.dtype(np.float64): (np.dtype(np.float64), np.dtype(np.complex128)),
}

_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerArrayConversionError,
)


def _call(model, x):
    return model(x)


def _tracer_advice(err: Exception) -> str:
    if isinstance(err, jax.errors.TracerArrayConversionError):
        return (
            "it converts the traced image to a NumPy array (np.asarray, np.* functions, scipy). Use "
            "jax.numpy (jnp.*) for every computation on the image."
        )
    return (
        "it uses Python control flow or conversions on array values (if/while on an array, bool(), "
        "float(), int(), .item(), or shapes computed from values). Use jnp.where, jax.lax.cond, "
        "jax.lax.while_loop / fori_loop, and keep shape-defining values static (Python ints or "
        "equinox static fields)."
    )


def _max_abs(y) -> float:
    return float(jnp.max(jnp.abs(y))) if y.size else 0.0


def _check_close(ours, ref, tol: float, what: str, fix: str) -> None:
    if ours.shape != ref.shape:
        raise ValueError(
            f"model output has shape {ours.shape} {what} but {ref.shape} when called eagerly. {fix}"
        )
    scale = max(_max_abs(ref), 1.0)
    err = _max_abs(ours - ref)
    if not err <= tol * scale:
        raise ValueError(
            f"model output {what} differs from the eager output (max |difference| = {err:.3g}, "
            f"max |output| = {_max_abs(ref):.3g}). {fix}"
        )


def validate_model(
    model: Callable,
    image_shape: tuple[int, int, int] = (1, 16, 16),
    dtype=jnp.float32,
) -> tuple[int, ...]:
    """Check that ``model`` can be used by the synthesis methods; raise an error saying what to fix.

    The model is called on a random image (uniform in [0, 1), fixed seed) of shape ``image_shape``
    and dtype ``dtype``. The checks, in order:

    1. it runs and returns a JAX array (not a NumPy array, tuple or dict) (``TypeError``);
    2. the output keeps the input's precision: float32 -> float32 or complex64, float64 -> float64
       or complex128 (``TypeError``; an integer or boolean output cannot carry a gradient);
    3. the output is finite (``ValueError``);
    4. it is differentiable with respect to the image: the gradient of a random projection of the
       output (computed under :func:`jax.jit`) exists, is finite and is not zero everywhere
       (``ValueError``; zero gradients come from argmax, rounding, comparisons or ``stop_gradient``
       on the image; Python control flow on array values fails here);
    5. it works under :func:`jax.jit` (through :func:`equinox.filter_jit`) and gives the eager output
       (``ValueError``; typical causes: Python control flow on array values, hidden randomness);
    6. it works under :func:`jax.vmap` over a batch of 2 images and equals a Python loop
       (``ValueError``).

    Checks 5 and 6 are run together (one compilation of ``jit(vmap(model))``) and separately only to
    explain a failure.

    Unlike plenoptic there is no check for learnable parameters or training mode: JAX models are
    pure functions and the synthesis methods differentiate with respect to the image only.

    Parameters
    ----------
    model
        A callable taking one image ``(channels, height, width)``, e.g. an :class:`equinox.Module`.
    image_shape
        Shape ``(channels, height, width)`` of the test image. Models that need a given size (such as
        :class:`~jaxoptic.models.PortillaSimoncelli`) must be validated with that size.
    dtype
        Floating dtype of the test image (float16, float32 or float64; float64 needs
        ``jax.config.update("jax_enable_x64", True)``).

    Returns
    -------
    shape
        The shape of the model's output for one image.

    Raises
    ------
    TypeError
        If ``model`` is not callable, ``dtype`` is not a real floating dtype, the output is not a JAX
        array, or the output changes the precision.
    ValueError
        If ``image_shape`` is not ``(channels, height, width)``, or the model fails one of the checks
        above; the message says what to change.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> jo.models.validate_model(jo.models.OnOff((7, 7)))
    (2, 16, 16)

    A model that is not differentiable fails:

    >>> jo.models.validate_model(lambda x: jnp.round(x))
    Traceback (most recent call last):
    ...
    ValueError: The gradient of the model output with respect to the image is zero everywhere...
    """
    if not callable(model):
        raise TypeError(
            f"`model` must be callable (a function or an equinox.Module), got {type(model).__name__}."
        )
    try:
        image_shape = tuple(int(s) for s in image_shape)
    except TypeError as err:
        raise ValueError(
            f"`image_shape` must be a tuple (channels, height, width), got {image_shape!r}."
        ) from err
    if len(image_shape) != 3 or any(s < 1 for s in image_shape):
        raise ValueError(
            f"`image_shape` must be (channels, height, width) with positive sizes, got {image_shape!r}. "
            "Models take one image; batches are handled with jax.vmap."
        )
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(
            f"`dtype` must be a floating dtype such as jnp.float32, got {dtype!r}."
        ) from err
    if dtype not in _PRECISION:
        raise TypeError(f"`dtype` must be float16, float32 or float64, got {dtype}.")
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "Validating with dtype=float64 needs 64-bit mode: call "
            'jax.config.update("jax_enable_x64", True) at the start of your program.'
        )

    key1, key2 = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(key1, image_shape, dtype=dtype)
    name = getattr(model, "__name__", type(model).__name__)

    # 1. runs and returns a JAX array
    try:
        y = model(x)
    except _TRACER_ERRORS as err:  # pragma: no cover - eager calls rarely raise these
        raise ValueError(
            f"model {name} failed on an image of shape {image_shape}: {_tracer_advice(err)}"
        ) from err
    if isinstance(y, np.ndarray):
        raise TypeError(
            f"model {name} returns a NumPy array, not a JAX array: it computes with NumPy, which has no "
            "gradients and does not work under jit. Use jax.numpy (jnp.*) throughout."
        )
    if not isinstance(y, jax.Array):
        raise TypeError(
            f"model {name} returns a {type(y).__name__}; synthesis needs a single JAX array. Return an array "
            "(e.g. concatenate the pieces with jnp.concatenate, or flatten a dict with "
            "jax.flatten_util.ravel_pytree)."
        )

    # 2. precision
    allowed = _PRECISION[dtype]
    if y.dtype not in allowed:
        if not jnp.issubdtype(y.dtype, jnp.inexact):
            raise TypeError(
                f"model {name} returns dtype {y.dtype} for a {dtype} image: an integer or boolean output has "
                "no gradient with respect to the image. Return a continuous (float) quantity instead of "
                "argmax / comparisons / integer casts."
            )
        raise TypeError(
            f"model {name} changes the precision of its input: {dtype} image -> {y.dtype} output (allowed: "
            f"{', '.join(str(d) for d in allowed)}). Don't cast: build constants with the image's dtype, "
            "e.g. filt.astype(x.dtype), and avoid jnp.float32(...) / .astype(jnp.float32) on the image."
        )

    # 3. finite
    if not bool(jnp.all(jnp.isfinite(y))):
        raise ValueError(
            f"model {name} returns non-finite values (NaN or inf) for a random image in [0, 1) of shape "
            f"{image_shape}. Guard divisions, logs and square roots (add a small epsilon) and check the "
            "model's parameters."
        )

    # 4. differentiable with respect to the image
    # a random projection of the output (real and imaginary parts for a complex output)
    real_dtype = jnp.finfo(y.dtype).dtype
    key_re, key_im = jax.random.split(key2)
    ct = jax.random.normal(key_re, y.shape, dtype=real_dtype)
    if jnp.iscomplexobj(y):
        ct = jax.lax.complex(ct, jax.random.normal(key_im, y.shape, dtype=real_dtype))

    def projection(image):
        out = model(image)
        if jnp.iscomplexobj(out):
            return jnp.sum(jnp.real(out) * jnp.real(ct) + jnp.imag(out) * jnp.imag(ct))
        return jnp.sum(out * ct)

    try:
        grad = jax.jit(jax.grad(projection))(x)
    except _TRACER_ERRORS as err:
        raise ValueError(
            f"model {name} fails under jax.jit / jax.grad (it cannot be traced to differentiate it with "
            f"respect to the image): {_tracer_advice(err)}"
        ) from err
    if grad.dtype != x.dtype:  # pragma: no cover - jax.grad keeps the input's dtype
        raise TypeError(f"The gradient has dtype {grad.dtype} for a {dtype} image.")
    if not bool(jnp.all(jnp.isfinite(grad))):
        raise ValueError(
            f"The gradient of model {name} with respect to the image has NaN or inf values. Typical causes: "
            "jnp.sqrt or jnp.log at 0, division by zero, jnp.abs / norms of zero vectors. Add a small "
            "epsilon inside the function (e.g. jnp.sqrt(v + eps))."
        )
    if not bool(jnp.any(grad != 0)):
        raise ValueError(
            f"The gradient of the model output with respect to the image is zero everywhere for model {name}: "
            "the model is not differentiable, and synthesis could not change the image. Typical causes: "
            "argmax / argsort, rounding or floor, comparisons (x > t), integer casts, or "
            "jax.lax.stop_gradient applied to the image. Use smooth surrogates (softmax, sigmoid) instead."
        )

    # 5 and 6: jit and vmap. A model that passes needs one compilation (jit of vmap over 2 images,
    # compared with an eager loop); the separate checks below only run to explain a failure.
    tol = _TOLERANCE[dtype]
    xs = jnp.stack([x, jax.random.uniform(key2, image_shape, dtype=dtype)])
    loop = jnp.stack([y, model(xs[1])])
    try:
        ys = eqx.filter_jit(eqx.filter_vmap(_call, in_axes=(None, 0)))(model, xs)
        combined_error = None
        if not isinstance(ys, jax.Array):
            combined_error = f"returned a {type(ys).__name__}"
        elif ys.shape != loop.shape:
            combined_error = f"returned shape {ys.shape} instead of {loop.shape}"
        elif not _max_abs(ys - loop) <= tol * max(_max_abs(loop), 1.0):
            combined_error = "differs from the eager output"
    except Exception as err:  # diagnosed below
        combined_error = f"raised {type(err).__name__}: {err}"
    if combined_error is None:
        return tuple(y.shape)

    # 5. jit alone
    fix_jit = (
        "Make the model a pure function of the image: no randomness without an explicit key, no global "
        "state, no Python control flow on values."
    )
    try:
        y_jit = eqx.filter_jit(_call)(model, x)
    except _TRACER_ERRORS as err:
        raise ValueError(f"model {name} fails under jax.jit: {_tracer_advice(err)}") from err
    except Exception as err:
        raise ValueError(
            f"model {name} fails under jax.jit ({type(err).__name__}: {err}). {fix_jit}"
        ) from err
    _check_close(y_jit, y, tol, "under jax.jit", fix_jit)

    # 6. vmap alone
    fix_vmap = (
        "The model must take one image (channels, height, width) and process each image on its own (no "
        "values mixed across images, no dependence on a batch axis); batches are made with jax.vmap."
    )
    try:
        ys = eqx.filter_vmap(_call, in_axes=(None, 0))(model, xs)
    except _TRACER_ERRORS as err:
        raise ValueError(f"model {name} fails under jax.vmap: {_tracer_advice(err)}") from err
    except Exception as err:
        raise ValueError(
            f"model {name} fails under jax.vmap ({type(err).__name__}: {err}). {fix_vmap}"
        ) from err
    if not isinstance(ys, jax.Array) or ys.shape[:1] != (2,):
        raise ValueError(
            f"model {name} under jax.vmap does not return one output per image. {fix_vmap}"
        )
    _check_close(ys, loop, tol, "under jax.vmap", fix_vmap)
    raise ValueError(
        f"model {name} works under jax.jit and under jax.vmap separately, but jax.jit(jax.vmap(model)) "
        f"{combined_error}. {fix_jit}"
    )
