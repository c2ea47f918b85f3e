"""Input checks shared by models, metrics and pyramids.

Every public function that takes an image runs these checks first. They only look at shapes and dtypes,
so they work on traced arrays too (inside ``jit``/``vmap``) and cost nothing at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

_CONVENTION = (
    "jaxoptic works on one image at a time, shaped (channels, height, width); "
    "for a batch of images use jax.vmap (e.g. jax.vmap(model)(images) for images shaped "
    "(batch, channels, height, width))"
)


def check_float_dtype(x, name: str = "image") -> None:
    """Raise ``TypeError`` unless ``x`` has a real floating dtype.

    Integer images are refused rather than converted silently, because the scale is ambiguous (an
    8-bit image in [0, 255] and a label map are both integers). Convert explicitly, e.g.
    ``image.astype(jnp.float32) / 255``.
    """
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        raise TypeError(
            f"`{name}` must be a JAX or NumPy array, got {type(x).__name__}. "
            "Wrap it with jnp.asarray(..., dtype=jnp.float32)."
        )
    if not jnp.issubdtype(dtype, jnp.floating):
        hint = ""
        if jnp.issubdtype(dtype, jnp.integer):
            hint = (
                f" For an 8-bit image use `{name}.astype(jnp.float32) / 255` "
                "(or jaxoptic.data.load_images, which returns float32 in [0, 1])."
            )
        raise TypeError(
            f"`{name}` must have a real floating dtype (float32 or float64), got {dtype}.{hint}"
        )


def check_image(x, name: str = "image", *, allow_any_dtype: bool = False) -> None:
    """Check that ``x`` is one float image shaped ``(channels, height, width)``.

    Raises
    ------
    TypeError
        If ``x`` is not an array with a real floating dtype.
    ValueError
        If ``x`` does not have exactly three dimensions. The message explains the
        ``(channels, height, width)`` convention and points to ``jax.vmap`` for batches.
    """
    if not allow_any_dtype:
        check_float_dtype(x, name)
    shape = tuple(np.shape(x))
    if len(shape) != 3:
        if len(shape) == 4:
            fix = (
                f" `{name}` has 4 dimensions {shape}: if the first axis is a batch, call the function "
                "under jax.vmap; if it is a single image, index it (x[0])."
            )
        elif len(shape) == 2:
            fix = f" `{name}` has 2 dimensions {shape}: add a channel axis with x[None]."
        else:
            fix = f" `{name}` has shape {shape}."
        raise ValueError(
            f"`{name}` must have 3 dimensions (channels, height, width). {_CONVENTION}.{fix}"
        )


def check_image_shape(
    x, expected_hw: Sequence[int], name: str = "image", owner: str = "model"
) -> None:
    """Check that the spatial shape of ``x`` is ``expected_hw`` (after :func:`check_image`)."""
    hw = tuple(np.shape(x))[-2:]
    if hw != tuple(expected_hw):
        raise ValueError(
            f"`{name}` has spatial shape {hw} but this {owner} was built for image_shape "
            f"{tuple(expected_hw)}. Build the {owner} with image_shape={hw}, or resize/crop the image."
        )


def check_same_shape(a, b, names: tuple[str, str] = ("img1", "img2")) -> None:
    """Check that two images have the same shape (after :func:`check_image`)."""
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    if sa != sb:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same shape, got {sa} and {sb}."
        )
    if a.dtype != b.dtype:
        raise TypeError(
            f"`{names[0]}` and `{names[1]}` must have the same dtype, got {a.dtype} and {b.dtype}. "
            "Cast one of them, e.g. img2.astype(img1.dtype)."
        )


def _is_whole(s) -> bool:
    """An int (not a bool), or a float with an integral finite value."""
    if isinstance(s, (bool, np.bool_)):
        return False
    if isinstance(s, (int, np.integer)):
        return True
    return isinstance(s, (float, np.floating)) and bool(np.isfinite(s)) and float(s).is_integer()


def as_shape2d(shape, name: str = "image_shape") -> tuple[int, int]:
    """Normalise an int or a pair of ints to a ``(height, width)`` tuple of positive Python ints."""
    if _is_whole(shape):
        shape = (int(shape), int(shape))
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list, np.ndarray)):
        raise ValueError(f"`{name}` must be an int or a pair of ints, got {shape!r}.")
    if not all(_is_whole(s) for s in np.asarray(shape, dtype=object).reshape(-1)):
        raise ValueError(f"`{name}` must be an int or a pair of ints, got {shape!r}.")
    shape = tuple(int(s) for s in np.asarray(shape, dtype=object).reshape(-1))
    if len(shape) != 2 or any(s <= 0 for s in shape):
        raise ValueError(
            f"`{name}` must be a pair of positive ints (height, width), got {shape!r}."
        )
    return shape


def check_scalar(value, name: str, *, minimum: float | None = 0.0) -> None:
    """A finite real number (Python or NumPy scalar, or a 0-d array; not a bool) ``>= minimum``;
    ValueError naming ``name`` otherwise. Tracers pass (they are checked where they were made)."""
    if isinstance(value, jax.core.Tracer):
        return
    bound = f" >= {minimum:g}" if minimum is not None else ""
    message = f"`{name}` must be a finite number{bound}, got {value!r}."
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise ValueError(message)
    arr = np.asarray(value)
    if arr.ndim != 0 or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(message)
    v = float(arr)
    if not np.isfinite(v) or (minimum is not None and v < minimum):
        raise ValueError(message)


def check_window(value, name: str = "stop_iters_to_check") -> int:
    """An int >= 1 (the length of a stopping window); ValueError naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1, got {value!r}.")
    return int(value)
