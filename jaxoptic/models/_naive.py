"""Very simple models: identity, a small linear filter bank, a Gaussian blur and a difference of Gaussians.

These are plenoptic's "naive" models. They are useful on their own (as a pixel-space model, a blur) and
as the building blocks of the front-end models in :mod:`jaxoptic.models._frontend`.

Conventions shared by every model here:

- The input is one image ``(channels, height, width)``; use :func:`jax.vmap` for a batch.
- plenoptic's models take single-channel images. Here each input channel is processed independently and
  the outputs are stacked channel-major: with ``C`` input channels and a model with ``K`` filters, the
  output has ``C * K`` channels and output channel ``c * K + k`` is input channel ``c`` seen through
  filter ``k`` (the order of a grouped convolution in torch). With one input channel this is exactly
  plenoptic's output.
- Output has the input's dtype. Trainable parameters (standard deviations, weights) are stored in the
  default float dtype (float64 when ``jax_enable_x64`` is on, float32 otherwise) and cast to the image's
  dtype at call time; filters are rebuilt from them at every call (under :func:`jax.jit` that costs
  nothing; plenoptic's ``cache_filt`` option has no equivalent).
- "Same" padding as in plenoptic (:func:`jaxoptic.process.same_padding`): the output has the input's
  height and width, even kernel sizes get the extra padding pixel at the bottom / right.

Gaussian filtering is separable: a circular Gaussian is exactly the outer product of two normalised
1-D Gaussians, so a blur is ``A_y @ x @ A_x.T`` where ``A`` is the 1-D "same" correlation as an
``(n, n)`` matrix with the padding folded in (built at each call from the trainable std). This equals
plenoptic's 2-D correlation up to rounding; it is fast on CPU and GPU for the usual image sizes (two
matrix products per filter), compiles quickly, differentiates into matrix products, and keeps blurred
non-negative signals non-negative (FFT filtering adds rounding noise of both signs, which would turn
the square roots of pooled energies in :class:`~jaxoptic.models.LuminanceContrastGainControl` and
:class:`~jaxoptic.models.OnOff` into NaNs in flat image regions). The cost grows as ``H * W * (H + W)``
per filter, so it is meant for images up to about 512 x 512.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.dtypes
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validation import check_image, check_scalar
from ..process._conv import _check_pad_mode, _pad2d, depthwise_conv2d
from ..process._filters import _as_kernel_size, circular_gaussian2d

__all__ = ["CenterSurround", "Gaussian", "Identity", "Linear"]

# Full float32 precision for matmuls (GPUs would otherwise use TF32 for float32 inputs).
_HIGHEST = jax.lax.Precision.HIGHEST


# ----------------------------------------------------------------------------------------------------------
# helpers shared with the front-end models


def _param_dtype():
    """The default float dtype: float64 when x64 is enabled, float32 otherwise."""
    return jax.dtypes.canonicalize_dtype(np.float64)


def _as_param(value) -> Array:
    """A trainable parameter: a jnp array in the default float dtype."""
    return jnp.asarray(np.asarray(value, dtype=np.float64), dtype=_param_dtype())


def _check_out_channels(out_channels, name: str = "out_channels") -> int:
    if (
        isinstance(out_channels, bool)
        or not isinstance(out_channels, (int, np.integer))
        or out_channels < 1
    ):
        raise ValueError(f"`{name}` must be a positive int, got {out_channels!r}.")
    return int(out_channels)


def _check_std(std, out_channels, name: str = "std", out_channels_name: str = "out_channels"):
    """Validate a standard deviation argument; return ``(std (K,) float64 numpy, K)``."""
    try:
        values = np.asarray(std, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"`{name}` must be a positive number or a 1-D array of them, got {std!r}."
        ) from err
    if values.ndim > 1:
        raise ValueError(
            f"`{name}` must be a scalar or a 1-D array (one value per channel), got shape {values.shape}."
        )
    if out_channels is None:
        out_channels = values.shape[0] if values.ndim == 1 else 1
    out_channels = _check_out_channels(out_channels, out_channels_name)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"`{name}` must be positive, got {std!r}.")
    if values.ndim == 0:
        values = np.repeat(values, out_channels)
    if values.shape[0] != out_channels:
        raise ValueError(
            f"If non-scalar, len({name}) must equal {out_channels_name}, got len({name})={values.shape[0]} "
            f"and {out_channels_name}={out_channels}."
        )
    return values, out_channels


def _gaussian_taps(std: Array, n: int, dtype) -> Array:
    """1-D Gaussians ``(K, n)`` centred at ``(n + 1) / 2`` (1-based), each summing to 1."""
    shift = np.arange(1, n + 1) - (n + 1) / 2
    sq = jnp.asarray(shift**2, dtype=dtype)
    g = jnp.exp(sq[None, :] / (-2.0 * std[:, None] ** 2))
    return g / jnp.sum(g, axis=1, keepdims=True)


def _padding_matrix(n: int, k: int, pad_mode: str) -> np.ndarray:
    """``(n + k - 1, n)`` 0/1 matrix mapping a signal of length n to its "same"-padded version."""
    before = (k - 1) // 2
    # the padding helper validates the mode and the padding size (e.g. reflect needs pad < n)
    with jax.ensure_compile_time_eval():
        index = jnp.arange(1, n + 1)[None]
        padded = _pad2d(index, ((0, 0), (before, k - 1 - before)), pad_mode)
    source = np.asarray(padded)[0] - 1  # -1 where zero padded
    matrix = np.zeros((n + k - 1, n))
    rows = np.nonzero(source >= 0)[0]
    matrix[rows, source[rows]] = 1.0
    return matrix


def _filter_matrix(taps: Array, n: int, pad_mode: str) -> Array:
    """``(K, n, n)`` matrices of "same" correlation with the 1-D ``taps`` (K, k), padding included.

    Row ``i`` of the correlation of the padded signal reads padded samples ``i .. i + k - 1``; the
    padding matrix folds those back onto the original samples.
    """
    k = taps.shape[-1]
    diag = np.arange(n + k - 1)[None, :] - np.arange(n)[:, None]
    band = (diag >= 0) & (diag < k)
    toeplitz = jnp.where(band, taps[:, np.clip(diag, 0, k - 1)], 0)  # (K, n, n + k - 1)
    padding = jnp.asarray(_padding_matrix(n, k, pad_mode), dtype=taps.dtype)
    return jnp.einsum("kij,js->kis", toeplitz, padding, precision=_HIGHEST)


def _gaussian_blur(x: Array, std: Array, kernel_size: tuple[int, int], pad_mode: str) -> Array:
    """Blur ``x`` (..., K or 1, H, W) with circular Gaussians of std ``std`` (K,), "same" padding.

    A circular Gaussian is the outer product of two 1-D Gaussians, so the blur is ``A_y @ x @ A_x.T``
    with ``A`` the (padding-aware) 1-D filter matrices. A leading channel axis of size 1 in ``x`` is
    broadcast against the K filters; returns (..., K, H, W).
    """
    rows = _filter_matrix(_gaussian_taps(std, kernel_size[0], x.dtype), x.shape[-2], pad_mode)
    cols = _filter_matrix(_gaussian_taps(std, kernel_size[1], x.dtype), x.shape[-1], pad_mode)
    y = jnp.einsum("kih,...khw->...kiw", rows, x, precision=_HIGHEST)
    return jnp.einsum("...kiw,kjw->...kij", y, cols, precision=_HIGHEST)


def _call_forward(model, x):
    return model._forward(x)


# Every model's __call__ checks its input, then runs its computation through this jitted function: an
# eager call compiles once per model configuration and image shape (instead of dispatching dozens of
# small ops), and inside a user's jit / vmap / grad it is simply traced through.
_jit_forward = eqx.filter_jit(_call_forward)


def _each_channel(x: Array, fn) -> Array:
    """Apply ``fn`` ((1, H, W) -> (K, H, W)) to every channel of ``x`` and stack channel-major."""
    y = fn(x[:, None])  # (C, K, H, W) by broadcasting inside fn
    return y.reshape(-1, *y.shape[-2:])


# ----------------------------------------------------------------------------------------------------------
# models


class Identity(eqx.Module):
    """The identity model: returns the image unchanged.

    A "dummy model" for synthesis in pixel space (a metamer of the identity is the target image; MAD
    competition with the identity and an MSE loss is MAD against MSE).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.Identity()
    >>> img = jnp.ones((1, 8, 8))
    >>> bool((model(img) == img).all())
    True
    """

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels height width"]:
        """Return ``x`` (as a JAX array).

        Parameters
        ----------
        x
            One image ``(channels, height, width)``.

        Returns
        -------
        y
            The same image.
        """
        check_image(x)
        return jnp.asarray(x)


def _default_linear_filters(kernel_size: tuple[int, int]) -> np.ndarray:
    """Low-pass and band-pass filters ``(2, kh, kw)`` (float64), see :class:`Linear`."""
    # built in numpy float64 (same formula as circular_gaussian2d) whatever the x64 setting
    shift_y = np.arange(1, kernel_size[0] + 1) - (kernel_size[0] + 1) / 2
    shift_x = np.arange(1, kernel_size[1] + 1) - (kernel_size[1] + 1) / 2
    sq = shift_y[:, None] ** 2 + shift_x[None, :] ** 2

    def gauss(var):
        g = np.exp(-sq / (2.0 * var))
        return g / g.sum()

    lowpass = gauss(3.0)
    bandpass = gauss(1.0) - lowpass
    positive = bandpass[bandpass > 0].sum()
    if positive > 0:
        bandpass = bandpass / positive
    return np.stack([lowpass, bandpass])


class Linear(eqx.Module):
    """A small linear convolutional model: two trainable filters (a low-pass and a band-pass by default).

    Parameters
    ----------
    kernel_size
        Filter size, an int or ``(height, width)``.
    pad_mode
        ``"circular"`` (default), ``"reflect"``, ``"replicate"`` or ``"constant"`` (zeros).
    default_filters
        If True, ``weight[0]`` is a circular Gaussian with variance 3 (sums to 1) and ``weight[1]``
        the difference of Gaussians with variances 1 and 3, scaled so that its positive part sums to 1.
        If False, the weights are drawn uniformly in ``[-1/sqrt(kh kw), 1/sqrt(kh kw)]`` (torch's
        default initialisation of a convolution) from ``key``.
    key
        PRNG key for ``default_filters=False``; ``None`` means ``jax.random.key(0)``.

    Attributes
    ----------
    weight
        Trainable filters ``(2, kh, kw)``, applied by correlation (torch's ``conv2d`` convention).

    Notes
    -----
    plenoptic 2.1.1 divides the band-pass filter by its sum, which is zero up to rounding (each
    Gaussian sums to 1), so its default band-pass weights are rounding noise scaled by about 1e15 (or
    NaN/inf). jaxoptic normalises by the sum of the positive part instead; the low-pass filter is
    identical. With explicit weights (``eqx.tree_at(lambda m: m.weight, model, w)``) the outputs
    equal plenoptic's.

    Output channel ``2 c + k`` is input channel ``c`` filtered by ``weight[k]``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.Linear((5, 5))
    >>> model(jnp.ones((1, 16, 16))).shape
    (2, 16, 16)
    """

    weight: Array
    kernel_size: tuple[int, int] = eqx.field(static=True)
    pad_mode: str = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int | tuple[int, int] = (3, 3),
        pad_mode: str = "circular",
        default_filters: bool = True,
        *,
        key: PRNGKeyArray | None = None,
    ):
        self.kernel_size = _as_kernel_size(kernel_size)
        self.pad_mode = _check_pad_mode(pad_mode)
        if default_filters:
            self.weight = _as_param(_default_linear_filters(self.kernel_size))
        else:
            key = jax.random.key(0) if key is None else key
            bound = 1.0 / np.sqrt(self.kernel_size[0] * self.kernel_size[1])
            w = jax.random.uniform(
                key, (2, *self.kernel_size), dtype=jnp.float32, minval=-bound, maxval=bound
            )
            self.weight = w.astype(_param_dtype())

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels_x2 height width"]:
        """Correlate every channel with both filters ("same" padding).

        Parameters
        ----------
        x
            One image ``(channels, height, width)``.

        Returns
        -------
        y
            ``(2 * channels, height, width)``, dtype of ``x``.
        """
        check_image(x)
        return _jit_forward(self, x)

    def _forward(self, x: Array) -> Array:
        c = x.shape[0]
        xr = jnp.repeat(x, 2, axis=0)
        filt = jnp.tile(self.weight.astype(x.dtype), (c, 1, 1))
        return depthwise_conv2d(xr, filt, pad_mode=self.pad_mode)


class Gaussian(eqx.Module):
    """Isotropic Gaussian blur with trainable standard deviation(s).

    Each filter sums to 1. The filter is centred at ``(kernel_size + 1) / 2`` (1-based): on the middle
    pixel for odd sizes, between the two middle pixels for even sizes.

    Parameters
    ----------
    kernel_size
        Filter size, an int or ``(height, width)``.
    std
        Standard deviation in pixels: a positive number, or one per output channel.
    pad_mode
        ``"reflect"`` (default), ``"circular"``, ``"replicate"`` or ``"constant"`` (zeros).
    out_channels
        Number of filters; default ``len(std)`` (1 for a scalar ``std``).

    Attributes
    ----------
    std
        Trainable standard deviations ``(out_channels,)``. As in plenoptic, ``|std|`` is used, so a
        parameter that training pushed below 0 still gives a valid filter.

    Raises
    ------
    ValueError
        If ``kernel_size`` or ``out_channels`` is not positive, ``std`` is not positive, or
        ``len(std) != out_channels``, or ``pad_mode`` is unknown.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.Gaussian((11, 11), std=2.0)
    >>> y = model(jnp.ones((1, 32, 32)))
    >>> y.shape, bool(jnp.allclose(y, 1.0))
    ((1, 32, 32), True)
    >>> jo.models.Gaussian(7, std=[1.0, 3.0])(jnp.ones((1, 32, 32))).shape
    (2, 32, 32)
    """

    std: Array
    kernel_size: tuple[int, int] = eqx.field(static=True)
    pad_mode: str = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        std: float | ArrayLike = 3.0,
        pad_mode: str = "reflect",
        out_channels: int | None = None,
    ):
        self.kernel_size = _as_kernel_size(kernel_size)
        std, self.out_channels = _check_std(std, out_channels)
        self.std = _as_param(std)
        self.pad_mode = _check_pad_mode(pad_mode)

    @property
    def filt(self) -> Float[Array, "out_channels kh kw"]:
        """The Gaussian filters ``(out_channels, kh, kw)`` (in the parameters' dtype)."""
        return circular_gaussian2d(self.kernel_size, jnp.abs(self.std), self.out_channels)

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels_out height width"]:
        """Blur every channel with every filter ("same" padding).

        Parameters
        ----------
        x
            One image ``(channels, height, width)``.

        Returns
        -------
        y
            ``(channels * out_channels, height, width)``, dtype of ``x``.
        """
        check_image(x)
        return _jit_forward(self, x)

    def _forward(self, x: Array) -> Array:
        std = jnp.abs(self.std).astype(x.dtype)
        return _each_channel(x, lambda x1: _gaussian_blur(x1, std, self.kernel_size, self.pad_mode))

    def _blur_depthwise(self, x: Array) -> Array:
        """Blur channel ``c * K + k`` of ``x`` with filter ``k`` (torch ``groups=K``; used by OnOff)."""
        k = self.out_channels
        std = jnp.abs(self.std).astype(x.dtype)
        y = _gaussian_blur(x.reshape(-1, k, *x.shape[-2:]), std, self.kernel_size, self.pad_mode)
        return y.reshape(x.shape)


def _check_on_center(on_center) -> tuple[bool, ...]:
    values = np.asarray(on_center)
    if values.ndim > 1 or values.dtype != bool:
        raise ValueError(
            f"`on_center` must be a bool or a list of bools (one per channel), got {on_center!r}."
        )
    return tuple(bool(v) for v in np.atleast_1d(values))


def _check_amplitude_ratio(amplitude_ratio) -> float:
    if np.ndim(amplitude_ratio) != 0:
        raise ValueError(f"`amplitude_ratio` must be a scalar, got {amplitude_ratio!r}.")
    check_scalar(amplitude_ratio, "amplitude_ratio", minimum=None)  # a real number, not a string
    value = float(amplitude_ratio)
    if not 1.0 <= value < np.inf:  # inf would make the filters (and outputs) NaN
        raise ValueError(
            f"`amplitude_ratio` must be at least 1 (and finite), got {amplitude_ratio!r}."
        )
    return value


class CenterSurround(eqx.Module):
    """Difference-of-Gaussians (centre-surround) filters with trainable widths.

    The filter of channel ``k`` is ``amplitude_ratio * sign_k * (G(center_std[k]) - G(surround_std[k]))``
    with ``sign_k = +1`` for an on-centre and ``-1`` for an off-centre channel, where ``G(s)`` is a
    circular Gaussian summing to 1 (so the filter sums to 0).

    Parameters
    ----------
    kernel_size
        Filter size, an int or ``(height, width)``.
    on_center
        True for on-centre/off-surround, False for the opposite; or a list of bools, one per channel
        (which sets ``out_channels``).
    amplitude_ratio
        Overall gain of the filter, a scalar >= 1.
    center_std, surround_std
        Standard deviations (pixels) of the two Gaussians: positive numbers or one per channel.
    out_channels
        Number of filters; default from ``len(on_center)`` or ``len(center_std)`` (else 1).
    pad_mode
        ``"reflect"`` (default), ``"circular"``, ``"replicate"`` or ``"constant"`` (zeros).

    Attributes
    ----------
    center_std, surround_std
        Trainable standard deviations ``(out_channels,)``.

    Raises
    ------
    ValueError
        On non-positive sizes or stds, inconsistent numbers of channels, ``amplitude_ratio < 1`` or an
        unknown ``pad_mode``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.CenterSurround((31, 31))
    >>> model(jnp.ones((1, 64, 64))).shape
    (1, 64, 64)
    >>> jo.models.CenterSurround(9, on_center=[True, False])(jnp.ones((1, 32, 32))).shape
    (2, 32, 32)
    """

    center_std: Array
    surround_std: Array
    kernel_size: tuple[int, int] = eqx.field(static=True)
    on_center: tuple[bool, ...] = eqx.field(static=True)
    amplitude_ratio: float = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    pad_mode: str = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool | list[bool] = True,
        amplitude_ratio: float = 1.25,
        center_std: float | ArrayLike = 1.0,
        surround_std: float | ArrayLike = 4.0,
        out_channels: int | None = None,
        pad_mode: str = "reflect",
    ):
        self.kernel_size = _as_kernel_size(kernel_size)
        on_center = _check_on_center(on_center)
        if out_channels is None and len(on_center) != 1:
            out_channels = len(on_center)
        center_std, out_channels = _check_std(center_std, out_channels, "center_std")
        surround_std, _ = _check_std(surround_std, out_channels, "surround_std", "len(center_std)")
        if len(on_center) == 1:
            on_center = on_center * out_channels
        if len(on_center) != out_channels:
            raise ValueError(
                f"len(on_center) must equal out_channels, got {len(on_center)} and {out_channels}."
            )
        self.center_std = _as_param(center_std)
        self.surround_std = _as_param(surround_std)
        self.on_center = on_center
        self.amplitude_ratio = _check_amplitude_ratio(amplitude_ratio)
        self.out_channels = out_channels
        self.pad_mode = _check_pad_mode(pad_mode)

    @property
    def filt(self) -> Float[Array, "out_channels kh kw"]:
        """The centre-surround filters ``(out_channels, kh, kw)`` (in the parameters' dtype)."""
        center = circular_gaussian2d(self.kernel_size, jnp.abs(self.center_std), self.out_channels)
        surround = circular_gaussian2d(
            self.kernel_size, jnp.abs(self.surround_std), self.out_channels
        )
        sign = jnp.asarray([1.0 if on else -1.0 for on in self.on_center], dtype=center.dtype)
        return self.amplitude_ratio * (sign[:, None, None] * (center - surround))

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels_out height width"]:
        """Filter every channel with every centre-surround filter ("same" padding).

        Parameters
        ----------
        x
            One image ``(channels, height, width)``.

        Returns
        -------
        y
            ``(channels * out_channels, height, width)``, dtype of ``x``.
        """
        check_image(x)
        return _jit_forward(self, x)

    def _forward(self, x: Array) -> Array:
        return _each_channel(x, lambda x1: self._filter(x1))

    def _filter(self, x: Array) -> Array:
        """``x`` (..., 1 or K, H, W) -> (..., K, H, W); centre and surround blurs in one batch."""
        stds = jnp.concatenate([jnp.abs(self.center_std), jnp.abs(self.surround_std)]).astype(
            x.dtype
        )
        blurred = _gaussian_blur(x, stds, self.kernel_size, self.pad_mode)
        k = self.out_channels
        return self._combine(blurred[..., :k, :, :], blurred[..., k:, :, :])

    def _combine(self, center: Array, surround: Array) -> Array:
        """The filter output from the centre and surround blurs (..., K, H, W)."""
        gain = np.array([1.0 if on else -1.0 for on in self.on_center]) * self.amplitude_ratio
        return jnp.asarray(gain, dtype=center.dtype)[:, None, None] * (center - surround)
