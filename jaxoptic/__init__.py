"""jaxoptic: model-based synthesis of perceptual stimuli in JAX.

Subpackages
-----------
data
    Bundled CC0 sample images, image loading and synthetic images.
pyramids
    Steerable and Laplacian pyramids.
process
    Signal-processing helpers (filters, convolutions, statistics, polar forms, gain control).
models
    Models of visual processing: Portilla-Simoncelli texture statistics, front-end and naive models.
metrics
    Image-quality metrics: MSE, SSIM, MS-SSIM, NLPD and model-based metrics.
"""

from importlib.metadata import PackageNotFoundError, version

from . import data, metrics, models, process, pyramids

try:
    __version__ = version("jaxoptic")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "data", "metrics", "models", "process", "pyramids"]
