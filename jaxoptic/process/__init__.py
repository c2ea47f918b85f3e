"""Signal-processing helpers: the building blocks of the models (plenoptic's ``process``).

These functions work on one image ``(channels, height, width)`` (or on a pyramid band) and follow the
input's dtype. They are pure and can be used under ``jax.jit``, ``jax.vmap`` and ``jax.grad``.
"""
