"""Test configuration: float64 enabled everywhere, persistent compilation cache."""

import os
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
_cache = os.environ.get(
    "JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".jax_cache")
)
jax.config.update("jax_compilation_cache_dir", _cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

REFERENCE_DIR = Path(__file__).parent / "reference"
