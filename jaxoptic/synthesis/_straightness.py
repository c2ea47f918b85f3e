"""Image sequences and their straightness: the companions of :class:`jaxoptic.Geodesic`.

These reproduce ``plenoptic.tools.straightness`` of plenoptic 1.2 (removed in 1.3 together with
``Geodesic``): a pixel-space straight line between two images, a Brownian bridge between them, a
horizontal translation sequence, and the deviation of a sequence (of images or of representations)
from the straight line joining its first and last frames.

Images are one image ``(C, H, W)``; sequences carry the frames on a leading axis ``(T, C, H, W)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_image, check_same_shape

__all__ = [
    "deviation_from_line",
    "make_straight_line",
    "sample_brownian_bridge",
    "translation_sequence",
]


def _check_n_steps(n_steps) -> int:
    if (
        isinstance(n_steps, (bool, np.bool_))
        or not isinstance(n_steps, (int, np.integer))
        or n_steps <= 0
    ):
        raise ValueError(f"`n_steps` must be a positive int, got {n_steps!r}.")
    return int(n_steps)


def _check_endpoints(start, stop) -> None:
    check_image(start, "start")
    check_image(stop, "stop")
    check_same_shape(start, stop, ("start", "stop"))


def make_straight_line(
    start: Float[Array, "C H W"], stop: Float[Array, "C H W"], n_steps: int
) -> Float[Array, "n_steps+1 C H W"]:
    """The pixel-space straight line from ``start`` to ``stop`` in ``n_steps`` equal steps.

    Frame ``t`` is ``(1 - t / n_steps) * start + (t / n_steps) * stop`` (plenoptic's
    ``make_straight_line``; the "pixelfade" of :class:`jaxoptic.Geodesic`).

    Parameters
    ----------
    start, stop
        The two end images ``(C, H, W)``, same shape and dtype.
    n_steps
        Number of transitions (a positive int); the sequence has ``n_steps + 1`` frames.

    Returns
    -------
    line
        ``(n_steps + 1, C, H, W)`` in the images' dtype, starting at ``start`` and ending at ``stop``.

    Raises
    ------
    ValueError
        If the images are not ``(C, H, W)`` or differ in shape, or ``n_steps`` is not a positive int.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> line = jo.synthesis.make_straight_line(jnp.zeros((1, 2, 2)), jnp.ones((1, 2, 2)), 4)
    >>> line.shape, line[:, 0, 0, 0].tolist()
    ((5, 1, 2, 2), [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    _check_endpoints(start, stop)
    n_steps = _check_n_steps(n_steps)
    start = jnp.asarray(start)
    stop = jnp.asarray(stop)
    tt = jnp.linspace(0, 1, n_steps + 1, dtype=start.dtype).reshape(-1, 1, 1, 1)
    return (1 - tt) * start[None] + tt * stop[None]


def sample_brownian_bridge(
    start: Float[Array, "C H W"],
    stop: Float[Array, "C H W"],
    n_steps: int,
    max_norm: float = 1.0,
    *,
    key: PRNGKeyArray,
) -> Float[Array, "n_steps+1 C H W"]:
    """A random path from ``start`` to ``stop``: a Brownian bridge of ``n_steps`` steps.

    A random walk ``W`` starting at ``start`` with Gaussian increments of standard deviation
    ``2 * max_norm * sqrt(1 / (n_steps * D))`` per pixel (``D = C * H * W``) is pinned to ``stop``:
    frame ``t`` is ``W_t - (t / n_steps) (W_{n_steps} - stop)`` (plenoptic's
    ``sample_brownian_bridge``). At the midpoint the path is about ``max_norm`` (in L2 norm) away
    from the straight line.

    Parameters
    ----------
    start, stop
        The two end images ``(C, H, W)``, same shape and dtype.
    n_steps
        Number of steps (a positive int); the bridge has ``n_steps + 1`` frames.
    max_norm
        Scale of the excursion from the straight line (>= 0; 0 gives the straight line).
    key
        A ``jax.random.key``.

    Returns
    -------
    bridge
        ``(n_steps + 1, C, H, W)`` in the images' dtype; its first and last frames are ``start`` and
        ``stop`` (to rounding).

    Raises
    ------
    ValueError
        As :func:`make_straight_line`, and for a negative ``max_norm``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> a, b = jnp.zeros((1, 8, 8)), jnp.ones((1, 8, 8))
    >>> bridge = jo.synthesis.sample_brownian_bridge(a, b, 10, key=jax.random.key(0))
    >>> bridge.shape
    (11, 1, 8, 8)
    >>> bool(jnp.allclose(bridge[0], a) and jnp.allclose(bridge[-1], b, atol=1e-6))
    True
    """
    _check_endpoints(start, stop)
    n_steps = _check_n_steps(n_steps)
    if not isinstance(max_norm, jax.core.Tracer):
        if np.ndim(max_norm) != 0 or not np.isfinite(max_norm) or max_norm < 0:
            raise ValueError(f"`max_norm` must be a finite number >= 0, got {max_norm!r}.")
    return _bridge(jnp.asarray(start), jnp.asarray(stop), n_steps, max_norm, key)


@functools.partial(jax.jit, static_argnums=2)
def _bridge(start, stop, n_steps: int, max_norm, key):
    dtype = start.dtype
    d = start.size
    sigma = jnp.sqrt(jnp.asarray(1.0 / n_steps, dtype) / d) * 2 * jnp.asarray(max_norm, dtype)
    dw = sigma * jax.random.normal(key, (n_steps + 1, d), dtype)
    dw = dw.at[0].set(start.reshape(-1))
    walk = jnp.cumsum(dw, axis=0)
    tt = jnp.linspace(0, 1, n_steps + 1, dtype=dtype)[:, None]
    bridge = walk - tt * (walk[-1:] - stop.reshape(1, -1))
    return bridge.reshape(n_steps + 1, *start.shape)


def deviation_from_line(
    sequence: Float[Array, "T ..."], normalize: bool = True
) -> tuple[Float[Array, " T"], Float[Array, " T"]]:
    """How far each frame of ``sequence`` lies along and away from the line through its end frames.

    Every frame (flattened) is projected onto the line through the first and the last frame. The
    distance of the projection from the first frame is ``dist_along_line``; the distance of the
    frame from its projection is ``dist_from_line`` (plenoptic's ``deviation_from_line``). A
    straight, evenly sampled path gives ``dist_along_line = t / (T - 1)`` and ``dist_from_line = 0``
    (normalized).

    Parameters
    ----------
    sequence
        ``(T, ...)``: ``T >= 2`` frames, e.g. images ``(T, C, H, W)`` or model representations.
    normalize
        Measure both distances in units of the distance between the first and last frames.

    Returns
    -------
    dist_along_line, dist_from_line
        Two ``(T,)`` arrays in the sequence's dtype.

    Raises
    ------
    ValueError
        If ``sequence`` has fewer than 2 dimensions or fewer than 2 frames.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> path = jnp.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    >>> along, away = jo.synthesis.deviation_from_line(path)
    >>> along.tolist(), away.tolist()
    ([0.0, 0.5, 1.0], [0.0, 0.5, 0.0])
    """
    shape = tuple(np.shape(sequence))
    if len(shape) < 2 or shape[0] < 2:
        raise ValueError(
            f"`sequence` must be (T, ...) with T >= 2 frames on the first axis, got shape {shape}."
        )
    y = jnp.asarray(sequence).reshape(shape[0], -1)
    y_centered = y - y[:1]
    line = y[-1] - y[0]
    line_length = jnp.sqrt(jnp.sum(line**2))
    line = line / line_length
    dist_along_line = y_centered @ line
    projection = dist_along_line[:, None] * line[None]
    dist_from_line = jnp.sqrt(jnp.sum((y_centered - projection) ** 2, axis=1))
    if normalize:
        dist_along_line = dist_along_line / line_length
        dist_from_line = dist_from_line / line_length
    return dist_along_line, dist_from_line


def translation_sequence(
    image: Float[Array, "C H W"], n_steps: int = 10
) -> Float[Array, "n_steps+1 C H W"]:
    """``image`` shifted circularly to the right by 0, 1, ..., ``n_steps`` pixels.

    Frame ``t`` is ``jnp.roll(image, t, axis=-1)`` (plenoptic's ``translation_sequence``): a simple
    "natural video" to compare a geodesic with.

    Parameters
    ----------
    image
        One image ``(C, H, W)``.
    n_steps
        Number of shifts (a positive int); the sequence has ``n_steps + 1`` frames.

    Returns
    -------
    sequence
        ``(n_steps + 1, C, H, W)``; the first frame is ``image``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> seq = jo.synthesis.translation_sequence(jnp.arange(4.0).reshape(1, 1, 4), n_steps=2)
    >>> seq[:, 0, 0].tolist()
    [[0.0, 1.0, 2.0, 3.0], [3.0, 0.0, 1.0, 2.0], [2.0, 3.0, 0.0, 1.0]]
    """
    check_image(image, "image")
    n_steps = _check_n_steps(n_steps)
    image = jnp.asarray(image)
    return jnp.stack([jnp.roll(image, shift, axis=-1) for shift in range(n_steps + 1)])
