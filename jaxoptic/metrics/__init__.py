"""Image-quality metrics on two single images ``(channels, height, width)`` -> per-channel ``(C,)``.

:func:`mse`, :func:`ssim`, :func:`ms_ssim` and :func:`nlpd` compare two images of the same shape and
floating dtype and return one value per channel (channels are treated independently, as plenoptic
does for its channel axis); :func:`ssim_map` returns the local SSIM values. :func:`model_metric`
turns a model into a metric (the root-mean-squared difference of its outputs), which returns a
single value: a model's output channels need not correspond to the image's.
:func:`normalized_laplacian_pyramid` is the representation NLPD compares (plenoptic has it in
``process``). For batches use ``jax.vmap``. Unlike plenoptic, nothing warns about several channels
or values outside [0, 1] (that check would need concrete values under ``jit``); the constants of
SSIM and NLPD assume images in [0, 1].
"""

from ._naive import ModelMetric, model_metric, mse
from ._nlpd import nlpd, normalized_laplacian_pyramid
from ._ssim import ms_ssim, ssim, ssim_map
