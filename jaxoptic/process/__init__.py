"""Signal-processing helpers: the building blocks of the models (plenoptic's ``process``).

These functions work on one image ``(channels, height, width)`` (or on a pyramid band) and follow the
input's dtype. They are pure and can be used under ``jax.jit``, ``jax.vmap`` and ``jax.grad``.
"""

from ._conv import (
    blur_downsample,
    conv2d,
    correlate_downsample,
    depthwise_conv2d,
    same_padding,
    upsample_blur,
    upsample_convolve,
)
from ._filters import circular_gaussian2d
from ._gain_control import (
    local_gain_control,
    local_gain_control_dict,
    local_gain_release,
    local_gain_release_dict,
)
from ._signal import (
    add_noise,
    autocorrelation,
    center_crop,
    expand,
    modulate_phase,
    polar_to_rectangular,
    polar_to_rectangular_dict,
    rectangular_to_polar,
    rectangular_to_polar_dict,
    rescale,
    shrink,
)
from ._stats import kurtosis, skew, variance
