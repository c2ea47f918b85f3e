"""Front-end models of early vision: centre-surround filtering, gain control and a rectifying nonlinearity.

The architectures are those of Berardino et al. (2017), "Eigen-distortions of hierarchical
representations" (NeurIPS; https://arxiv.org/abs/1710.02266, models described at
https://www.cns.nyu.edu/~lcv/eigendistortions/ModelsIQA.html). The pretrained parameter values are the
ones fit to human distortion judgments, Table 2 (p. 149) of A. Berardino's PhD thesis (2018),
"Hierarchically normalized models of visual distortion sensitivity", as published in plenoptic 2.1.1.

Conventions (see also :mod:`jaxoptic.models._naive`):

- One image ``(channels, height, width)`` in, same height and width out, same dtype. Each input channel
  is processed independently: ``LinearNonlinear``, ``LuminanceGainControl`` and
  ``LuminanceContrastGainControl`` return ``channels`` channels, ``OnOff`` returns ``2 * channels``
  (channel ``2 c`` is the on-centre and ``2 c + 1`` the off-centre response to input channel ``c``).
  plenoptic's models only take one channel, where the outputs are identical.
- Trainable parameters (every standard deviation and gain scalar) are array leaves; use
  :func:`equinox.filter_grad` to fit them. Synthesis methods differentiate with respect to the image
  only, so the parameters need no freezing (plenoptic's ``remove_grad``).
- Filters are rebuilt from the parameters at every call (free under :func:`jax.jit`), so plenoptic's
  ``cache_filt`` option has no equivalent and is not needed.
- ``activation`` is a static field: models that differ only in their activation compile separately.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_image
from ..data import disk
from ..process._filters import _as_kernel_size
from ._naive import (
    CenterSurround,
    Gaussian,
    _as_param,
    _check_amplitude_ratio,
    _gaussian_blur,
    _jit_forward,
    _param_dtype,
)

__all__ = ["LinearNonlinear", "LuminanceContrastGainControl", "LuminanceGainControl", "OnOff"]

_PRETRAINED_SIZE = (31, 31)
_PRETRAINED_AMPLITUDE_RATIO = 1.25

# Berardino (2018), Table 2, as published in plenoptic 2.1.1 (``_pretrained_state_dict``); every
# pretrained model also has amplitude_ratio 1.25.
_PRETRAINED = {
    "LinearNonlinear": {"center_std": [0.5339], "surround_std": [6.148]},
    "LuminanceGainControl": {
        "luminance_scalar": [14.95],
        "center_std": [1.962],
        "surround_std": [4.235],
        "luminance_std": [4.235],
    },
    "LuminanceContrastGainControl": {
        "luminance_scalar": [2.94],
        "contrast_scalar": [34.03],
        "center_std": [0.7363],
        "surround_std": [48.37],
        "luminance_std": [170.99],
        "contrast_std": [2.658],
    },
    "OnOff": {
        "luminance_scalar": [3.2637, 14.3961],
        "contrast_scalar": [7.3405, 16.7423],
        "center_std": [1.237, 0.3233],
        "surround_std": [30.12, 2.184],
        "luminance_std": [76.4, 2.184],
        "contrast_std": [7.49, 2.43],
    },
}
# Initial values when not pretrained (plenoptic's CenterSurround and Gaussian defaults).
_DEFAULTS = {"center_std": 1.0, "surround_std": 4.0, "luminance_std": 3.0, "contrast_std": 3.0}


def _linear_and_luminance(cs: CenterSurround, luminance: Gaussian, x: Array) -> tuple[Array, Array]:
    """``cs(x)`` and ``luminance(x)``, each ``(C * K, H, W)``, computed with one batched blur.

    Both filter the input image with Gaussians of the same size and padding, so the centre, surround
    and luminance blurs share their padding and matrix products (fewer operations to compile and run).
    """
    k = cs.out_channels
    if (cs.kernel_size, cs.pad_mode, k) != (
        luminance.kernel_size,
        luminance.pad_mode,
        luminance.out_channels,
    ):
        return cs._forward(x), luminance._forward(x)
    stds = jnp.concatenate(
        [jnp.abs(cs.center_std), jnp.abs(cs.surround_std), jnp.abs(luminance.std)]
    )
    # (C, 3K, H, W): centre, surround and luminance blurs of every input channel
    blurred = _gaussian_blur(x[:, None], stds.astype(x.dtype), cs.kernel_size, cs.pad_mode)
    linear = cs._combine(blurred[:, :k], blurred[:, k : 2 * k])
    lum = blurred[:, 2 * k :]
    return linear.reshape(-1, *x.shape[-2:]), lum.reshape(-1, *x.shape[-2:])


@jax.custom_jvp
def _pooled_sqrt(energy: Array) -> Array:
    """``sqrt`` of a pooled (non-negative) energy, with derivative 0 where the energy is exactly 0.

    ``sqrt(G(l ** 2))`` is a local weighted norm of ``l``; at an all-zero window its derivative is
    bounded (0 is a subgradient), but the chain rule through ``sqrt`` gives ``inf * 0 = NaN``.
    Elsewhere this is exactly ``jnp.sqrt`` and its derivative.
    """
    return jnp.sqrt(energy)


@_pooled_sqrt.defjvp
def _pooled_sqrt_jvp(primals, tangents):
    (energy,), (d_energy,) = primals, tangents
    root = jnp.sqrt(energy)
    positive = root > 0
    return root, jnp.where(positive, d_energy / (2 * jnp.where(positive, root, 1)), 0)


def _check_pretrained(name: str, kernel_size, amplitude_ratio) -> float:
    """Check the arguments of a pretrained model; return the amplitude ratio to use."""
    if _as_kernel_size(kernel_size) != _PRETRAINED_SIZE:
        raise ValueError(
            f"{name}(pretrained=True) needs kernel_size=31 or (31, 31), the size its parameters were fit "
            f"with; got kernel_size={kernel_size!r}. Use pretrained=False for other sizes."
        )
    if _check_amplitude_ratio(amplitude_ratio) != _PRETRAINED_AMPLITUDE_RATIO:
        warnings.warn(
            f"{name}(pretrained=True) uses the published amplitude_ratio={_PRETRAINED_AMPLITUDE_RATIO}; "
            f"the amplitude_ratio={amplitude_ratio!r} passed is ignored (as in plenoptic).",
            UserWarning,
            stacklevel=3,
        )
    return _PRETRAINED_AMPLITUDE_RATIO


def _check_activation(activation) -> Callable:
    if not callable(activation):
        raise TypeError(
            f"`activation` must be a callable (e.g. jax.nn.softplus), got {activation!r}."
        )
    return activation


def _gain_scalars(key, n: int) -> tuple[Array, Array]:
    """Random initial gain scalars ``(n,)`` for luminance and contrast: uniform in [0, 10)."""
    key = jax.random.key(0) if key is None else key
    k_lum, k_con = jax.random.split(key)
    lum = jax.random.uniform(k_lum, (n,), dtype=jnp.float32) * 10
    con = jax.random.uniform(k_con, (n,), dtype=jnp.float32) * 10
    return lum.astype(_param_dtype()), con.astype(_param_dtype())


def _initial_values(name: str, pretrained: bool, key, n: int) -> dict:
    """Initial parameter values: the published ones, or the defaults and random gain scalars."""
    if pretrained:
        values = dict(_PRETRAINED[name])
        values["luminance_scalar"] = _as_param(values.get("luminance_scalar", [0.0] * n))
        values["contrast_scalar"] = _as_param(values.get("contrast_scalar", [0.0] * n))
        return values
    values = dict(_DEFAULTS)
    values["luminance_scalar"], values["contrast_scalar"] = _gain_scalars(key, n)
    return values


def _warn_off_center(on_center) -> None:
    if not on_center:
        warnings.warn(
            "The pretrained model had on_center=True, so on_center=False might not make sense.",
            UserWarning,
            stacklevel=3,
        )


class LinearNonlinear(eqx.Module):
    """Linear-nonlinear model ("LN" in Berardino et al. 2017): centre-surround filter, then activation.

    ``y = activation(CS(x))`` with ``CS`` a :class:`~jaxoptic.models.CenterSurround` filter.

    Parameters
    ----------
    kernel_size
        Filter size, an int or ``(height, width)``.
    on_center
        On-centre (True) or off-centre (False) filter.
    amplitude_ratio
        Gain of the centre-surround filter (>= 1).
    pad_mode
        ``"reflect"`` (default), ``"circular"``, ``"replicate"`` or ``"constant"`` (zeros).
    pretrained
        Use the parameters fit by Berardino (2018) (needs ``kernel_size`` 31; centre std 0.5339,
        surround std 6.148, amplitude ratio 1.25). Otherwise the stds are CenterSurround's defaults
        (1 and 4).
    activation
        Pointwise function applied last (default :func:`jax.nn.softplus`). Stored as a static field.
    key
        Unused (no random parameters); accepted for a uniform signature.

    Attributes
    ----------
    center_surround
        The :class:`~jaxoptic.models.CenterSurround` filter (trainable ``center_std``, ``surround_std``).

    Raises
    ------
    ValueError
        If ``pretrained`` and ``kernel_size`` is not 31, or on invalid filter arguments.

    Notes
    -----
    Each input channel is processed independently (output ``(channels, H, W)``); plenoptic's model
    takes one channel only.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.LinearNonlinear((31, 31), pretrained=True)
    >>> model(jnp.full((1, 64, 64), 0.5)).shape
    (1, 64, 64)
    """

    center_surround: CenterSurround
    activation: Callable = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool = True,
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Callable[[Array], Array] = jax.nn.softplus,
        *,
        key: PRNGKeyArray | None = None,
    ):
        if pretrained:
            amplitude_ratio = _check_pretrained("LinearNonlinear", kernel_size, amplitude_ratio)
            _warn_off_center(on_center)
        p = _initial_values("LinearNonlinear", pretrained, key, 1)
        self.center_surround = CenterSurround(
            kernel_size,
            on_center,
            amplitude_ratio,
            p["center_std"],
            p["surround_std"],
            pad_mode=pad_mode,
        )
        self.activation = _check_activation(activation)

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels height width"]:
        """Model response (same shape and dtype as ``x``).

        Parameters
        ----------
        x
            One image ``(channels, height, width)``.

        Returns
        -------
        y
            ``(channels, height, width)``.
        """
        check_image(x)
        return _jit_forward(self, x)

    def _forward(self, x: Array) -> Array:
        return self.activation(self.center_surround._forward(x))


class LuminanceGainControl(eqx.Module):
    """Centre-surround filter with luminance gain control ("LG" in Berardino et al. 2017).

    ``y = activation(CS(x) / (1 + luminance_scalar * G_lum(x)))``, with ``G_lum`` a Gaussian blur
    (local mean luminance).

    Parameters
    ----------
    kernel_size
        Filter size, an int or ``(height, width)``.
    on_center
        On-centre (True) or off-centre (False) filter.
    amplitude_ratio
        Gain of the centre-surround filter (>= 1).
    pad_mode
        ``"reflect"`` (default), ``"circular"``, ``"replicate"`` or ``"constant"`` (zeros).
    pretrained
        Use the parameters fit by Berardino (2018) (needs ``kernel_size`` 31): luminance_scalar 14.95,
        centre std 1.962, surround std 4.235, luminance std 4.235.
    activation
        Pointwise function applied last (default :func:`jax.nn.softplus`). Stored as a static field.
    key
        PRNG key for the initial ``luminance_scalar`` (uniform in [0, 10), as in plenoptic) when not
        pretrained. ``None`` means ``jax.random.key(0)``, so the default model is reproducible.

    Attributes
    ----------
    center_surround
        :class:`~jaxoptic.models.CenterSurround` filter.
    luminance
        :class:`~jaxoptic.models.Gaussian` filter for the local luminance (default std 3).
    luminance_scalar
        Trainable gain ``(1,)``.

    Raises
    ------
    ValueError
        If ``pretrained`` and ``kernel_size`` is not 31, or on invalid filter arguments.

    Notes
    -----
    Each input channel is processed independently (output ``(channels, H, W)``); plenoptic's model
    takes one channel only.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.LuminanceGainControl((31, 31))
    >>> model(jnp.full((1, 64, 64), 0.5)).shape
    (1, 64, 64)
    """

    center_surround: CenterSurround
    luminance: Gaussian
    luminance_scalar: Array
    activation: Callable = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool = True,
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Callable[[Array], Array] = jax.nn.softplus,
        *,
        key: PRNGKeyArray | None = None,
    ):
        if pretrained:
            amplitude_ratio = _check_pretrained(
                "LuminanceGainControl", kernel_size, amplitude_ratio
            )
            _warn_off_center(on_center)
        p = _initial_values("LuminanceGainControl", pretrained, key, 1)
        self.center_surround = CenterSurround(
            kernel_size,
            on_center,
            amplitude_ratio,
            p["center_std"],
            p["surround_std"],
            pad_mode=pad_mode,
        )
        self.luminance = Gaussian(kernel_size, p["luminance_std"], pad_mode=pad_mode)
        self.luminance_scalar = p["luminance_scalar"]
        self.activation = _check_activation(activation)

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels height width"]:
        """Model response (same shape and dtype as ``x``).

        Parameters
        ----------
        x
            One image ``(channels, height, width)``.

        Returns
        -------
        y
            ``(channels, height, width)``.
        """
        check_image(x)
        return _jit_forward(self, x)

    def _forward(self, x: Array) -> Array:
        linear, lum = _linear_and_luminance(self.center_surround, self.luminance, x)
        return self.activation(linear / (1 + self.luminance_scalar.astype(x.dtype) * lum))


class LuminanceContrastGainControl(eqx.Module):
    """Centre-surround filter with luminance then contrast gain control ("LGG" in Berardino et al. 2017).

    ``l = CS(x) / (1 + luminance_scalar * G_lum(x))``, ``c = sqrt(G_con(l ** 2)) + 1e-6`` and
    ``y = activation(l / (1 + contrast_scalar * c))``, with ``G_lum`` and ``G_con`` Gaussian blurs.

    Parameters
    ----------
    kernel_size
        Filter size, an int or ``(height, width)``.
    on_center
        On-centre (True) or off-centre (False) filter.
    amplitude_ratio
        Gain of the centre-surround filter (>= 1).
    pad_mode
        ``"reflect"`` (default), ``"circular"``, ``"replicate"`` or ``"constant"`` (zeros).
    pretrained
        Use the parameters fit by Berardino (2018) (needs ``kernel_size`` 31): luminance_scalar 2.94,
        contrast_scalar 34.03, centre std 0.7363, surround std 48.37, luminance std 170.99, contrast
        std 2.658.
    activation
        Pointwise function applied last (default :func:`jax.nn.softplus`). Stored as a static field.
    key
        PRNG key for the initial gain scalars (uniform in [0, 10), as in plenoptic) when not
        pretrained. ``None`` means ``jax.random.key(0)``.

    Attributes
    ----------
    center_surround
        :class:`~jaxoptic.models.CenterSurround` filter.
    luminance, contrast
        :class:`~jaxoptic.models.Gaussian` filters for local luminance and local contrast.
    luminance_scalar, contrast_scalar
        Trainable gains ``(1,)``.

    Raises
    ------
    ValueError
        If ``pretrained`` and ``kernel_size`` is not 31, or on invalid filter arguments.

    Notes
    -----
    Each input channel is processed independently (output ``(channels, H, W)``); plenoptic's model
    takes one channel only.

    The gradient of ``sqrt`` at a pooled energy of exactly 0 (an all-zero window of ``l``, e.g. a
    black image) is taken as 0, a valid subgradient of the local norm; plenoptic returns NaN there.
    Everywhere else the values and gradients are plenoptic's.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.LuminanceContrastGainControl((31, 31))
    >>> model(jnp.full((1, 64, 64), 0.5)).shape
    (1, 64, 64)
    """

    center_surround: CenterSurround
    luminance: Gaussian
    contrast: Gaussian
    luminance_scalar: Array
    contrast_scalar: Array
    activation: Callable = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool = True,
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Callable[[Array], Array] = jax.nn.softplus,
        *,
        key: PRNGKeyArray | None = None,
    ):
        if pretrained:
            amplitude_ratio = _check_pretrained(
                "LuminanceContrastGainControl", kernel_size, amplitude_ratio
            )
            _warn_off_center(on_center)
        p = _initial_values("LuminanceContrastGainControl", pretrained, key, 1)
        self.center_surround = CenterSurround(
            kernel_size,
            on_center,
            amplitude_ratio,
            p["center_std"],
            p["surround_std"],
            pad_mode=pad_mode,
        )
        self.luminance = Gaussian(kernel_size, p["luminance_std"], pad_mode=pad_mode)
        self.contrast = Gaussian(kernel_size, p["contrast_std"], pad_mode=pad_mode)
        self.luminance_scalar = p["luminance_scalar"]
        self.contrast_scalar = p["contrast_scalar"]
        self.activation = _check_activation(activation)

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels height width"]:
        """Model response (same shape and dtype as ``x``).

        Parameters
        ----------
        x
            One image ``(channels, height, width)``.

        Returns
        -------
        y
            ``(channels, height, width)``.
        """
        check_image(x)
        return _jit_forward(self, x)

    def _forward(self, x: Array) -> Array:
        linear, lum = _linear_and_luminance(self.center_surround, self.luminance, x)
        lum_normed = linear / (1 + self.luminance_scalar.astype(x.dtype) * lum)
        # local contrast; the constant avoids dividing by zero
        con = _pooled_sqrt(self.contrast._forward(lum_normed**2)) + 1e-6
        return self.activation(lum_normed / (1 + self.contrast_scalar.astype(x.dtype) * con))


class OnOff(eqx.Module):
    """On-centre and off-centre channels with luminance and contrast gain control ("OnOff", Berardino 2017).

    As :class:`LuminanceContrastGainControl` with two channels: an on-centre/off-surround and an
    off-centre/on-surround filter, each with its own luminance and contrast pooling widths and gains.
    The contrast of each channel is pooled within that channel.

    Parameters
    ----------
    kernel_size
        Filter size, an int or ``(height, width)``.
    amplitude_ratio
        Gain of the centre-surround filters (>= 1).
    pad_mode
        ``"reflect"`` (default), ``"circular"``, ``"replicate"`` or ``"constant"`` (zeros).
    pretrained
        Use the parameters fit by Berardino (2018) (needs ``kernel_size`` 31): luminance_scalar
        (3.2637, 14.3961), contrast_scalar (7.3405, 16.7423), centre stds (1.237, 0.3233), surround
        stds (30.12, 2.184), luminance stds (76.4, 2.184), contrast stds (7.49, 2.43).
    activation
        Pointwise function applied after gain control (default :func:`jax.nn.softplus`). Stored as a
        static field.
    apply_mask
        Multiply the output by a soft disk centred on the image (:func:`jaxoptic.data.disk` of the
        image's height and width), e.g. so that eigendistortions stay away from the borders.
    key
        PRNG key for the initial gain scalars (uniform in [0, 10), as in plenoptic) when not
        pretrained. ``None`` means ``jax.random.key(0)``.

    Attributes
    ----------
    center_surround
        Two-channel :class:`~jaxoptic.models.CenterSurround` (on, off).
    luminance, contrast
        Two-channel :class:`~jaxoptic.models.Gaussian` filters.
    luminance_scalar, contrast_scalar
        Trainable gains ``(2,)``.

    Raises
    ------
    ValueError
        If ``pretrained`` and ``kernel_size`` is not 31, or on invalid filter arguments.

    Notes
    -----
    The output is ``(2 * channels, H, W)``: each input channel is processed independently and gives
    an on (``2 c``) and an off (``2 c + 1``) channel. plenoptic's model takes one channel only.

    As in :class:`LuminanceContrastGainControl`, the gradient of the contrast ``sqrt`` at a pooled
    energy of exactly 0 is taken as 0 (plenoptic returns NaN, e.g. for a black image).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> model = jo.models.OnOff((31, 31), pretrained=True)
    >>> model(jnp.full((1, 64, 64), 0.5)).shape
    (2, 64, 64)
    """

    center_surround: CenterSurround
    luminance: Gaussian
    contrast: Gaussian
    luminance_scalar: Array
    contrast_scalar: Array
    activation: Callable = eqx.field(static=True)
    apply_mask: bool = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Callable[[Array], Array] = jax.nn.softplus,
        apply_mask: bool = False,
        *,
        key: PRNGKeyArray | None = None,
    ):
        if pretrained:
            amplitude_ratio = _check_pretrained("OnOff", kernel_size, amplitude_ratio)
        p = _initial_values("OnOff", pretrained, key, 2)
        self.center_surround = CenterSurround(
            kernel_size,
            [True, False],
            amplitude_ratio,
            p["center_std"],
            p["surround_std"],
            pad_mode=pad_mode,
        )
        self.luminance = Gaussian(
            kernel_size, p["luminance_std"], pad_mode=pad_mode, out_channels=2
        )
        self.contrast = Gaussian(kernel_size, p["contrast_std"], pad_mode=pad_mode, out_channels=2)
        self.luminance_scalar = p["luminance_scalar"]
        self.contrast_scalar = p["contrast_scalar"]
        self.activation = _check_activation(activation)
        self.apply_mask = bool(apply_mask)

    def __call__(
        self, x: Float[Array, "channels height width"]
    ) -> Float[Array, "channels_x2 height width"]:
        """Model response: on and off channels for each input channel.

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
        linear, lum = _linear_and_luminance(
            self.center_surround, self.luminance, x
        )  # (2C, H, W) each
        c = x.shape[0]
        lum_scalar = jnp.tile(self.luminance_scalar.astype(x.dtype), c)[:, None, None]
        con_scalar = jnp.tile(self.contrast_scalar.astype(x.dtype), c)[:, None, None]
        lum_normed = linear / (1 + lum_scalar * lum)
        # local contrast, pooled within each channel; the constant avoids dividing by zero
        con = _pooled_sqrt(self.contrast._blur_depthwise(lum_normed**2)) + 1e-6
        y = self.activation(lum_normed / (1 + con_scalar * con))
        if self.apply_mask:
            y = y * disk(x.shape[-2:], dtype=x.dtype)
        return y
