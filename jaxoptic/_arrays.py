"""Host constants to JAX arrays without compiling anything."""

from __future__ import annotations

import jax
import numpy as np


def constant(x) -> jax.Array:
    """``x`` (NumPy or nested lists) as a JAX array in its canonical dtype (float64 becomes float32
    unless x64 is enabled), placed on the default device.

    ``jnp.asarray`` of a NumPy array compiles a small conversion program for every new shape (a
    model built from a few dozen filters pays a few dozen compilations, time and memory);
    ``jax.device_put`` of an array already in the target dtype compiles nothing. The dtype cast
    happens in NumPy, with the same rounding.
    """
    x = np.asarray(x)
    return jax.device_put(x.astype(jax.dtypes.canonicalize_dtype(x.dtype), copy=False))
