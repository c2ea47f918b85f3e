"""Laplacian pyramid (Burt & Adelson), with plenoptic's binomial filter and reflect padding."""

from __future__ import annotations

import equinox as eqx
import numpy as np
from jaxtyping import Array, Float

from .._validation import check_image
from ..process._conv import blur_downsample, upsample_blur

__all__ = ["LaplacianPyramid"]


def _odd(x) -> tuple[int, int]:
    h, w = np.shape(x)[-2:]
    return h % 2, w % 2


class LaplacianPyramid(eqx.Module):
    """Laplacian pyramid: band-pass differences between successive blurred, downsampled images.

    Level ``s`` (for ``s < n_scales - 1``) is ``x_s - upsample_blur(blur_downsample(x_s))`` with
    ``x_0`` the image and ``x_{s+1} = blur_downsample(x_s)``; the last level is the low-pass
    ``x_{n_scales-1}``. Filtering uses the 5-tap binomial filter with reflect padding (see
    :func:`jaxoptic.process.blur_downsample`). The decomposition is exactly invertible with
    :meth:`recon`. The module has no parameters.

    Parameters
    ----------
    n_scales
        Number of levels (band-pass levels plus the low-pass), a positive int.
    scale_filter
        Passed to ``blur_downsample`` / ``upsample_blur``: if True the down-sampling filter sums to 1
        (the low-pass keeps the image mean); if False (plenoptic's default) it sums to 2.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxoptic as jo
    >>> lap = jo.pyramids.LaplacianPyramid(n_scales=3)
    >>> img = jnp.linspace(0, 1, 64 * 64).reshape(1, 64, 64)
    >>> coeffs = lap(img)
    >>> [c.shape for c in coeffs]
    [(1, 64, 64), (1, 32, 32), (1, 16, 16)]
    >>> bool(jnp.allclose(lap.recon(coeffs), img, atol=1e-5))
    True
    """

    n_scales: int = eqx.field(static=True)
    scale_filter: bool = eqx.field(static=True)

    def __init__(self, n_scales: int = 5, scale_filter: bool = False):
        if (
            isinstance(n_scales, bool)
            or not isinstance(n_scales, (int, np.integer))
            or n_scales < 1
        ):
            raise ValueError(f"`n_scales` must be a positive int, got {n_scales!r}.")
        if not isinstance(scale_filter, (bool, np.bool_)):
            raise ValueError(f"`scale_filter` must be a bool, got {scale_filter!r}.")
        self.n_scales = int(n_scales)
        self.scale_filter = bool(scale_filter)

    def __call__(
        self, image: Float[Array, "channels height width"]
    ) -> list[Float[Array, "channels h w"]]:
        """Decompose one image into ``n_scales`` levels, finest first.

        Parameters
        ----------
        image
            One image ``(channels, height, width)``; channels are independent.

        Returns
        -------
        coeffs
            List of ``n_scales`` arrays ``(channels, h_s, w_s)`` with ``h_{s+1} = ceil(h_s / 2)``:
            the band-pass levels, then the low-pass residual.
        """
        check_image(image)
        coeffs = []
        x = image
        for _ in range(self.n_scales - 1):
            x_down = blur_downsample(x, scale_filter=self.scale_filter)
            x_up = upsample_blur(x_down, _odd(x), scale_filter=self.scale_filter)
            coeffs.append(x - x_up)
            x = x_down
        coeffs.append(x)
        return coeffs

    def recon(
        self, coeffs: list[Float[Array, "channels h w"]]
    ) -> Float[Array, "channels height width"]:
        """Reconstruct the image from its levels (exact inverse of ``__call__``).

        Parameters
        ----------
        coeffs
            List of ``n_scales`` arrays as returned by ``__call__``.

        Returns
        -------
        image
            ``(channels, height, width)``, the shape of the finest level.
        """
        if len(coeffs) != self.n_scales:
            raise ValueError(
                f"`coeffs` must hold n_scales={self.n_scales} levels, got {len(coeffs)}."
            )
        for level in coeffs:
            check_image(level, "coeffs level")
        x = coeffs[-1]
        for finer in reversed(coeffs[:-1]):
            x = finer + upsample_blur(x, _odd(finer), scale_filter=self.scale_filter)
        return x

    # plenoptic's name for the inverse
    recon_pyr = recon
