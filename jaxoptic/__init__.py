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
losses, penalties
    Objective terms for synthesis.
optimizers
    An L-BFGS that makes one objective evaluation per update (efficient in batches), and PyTorch's
    AMSGrad.
plot
    Figures of images, pyramids, representations and synthesis runs (matplotlib; loaded lazily).
io
    Checkpoints of synthesis runs: save, load, save_step, latest.
synthesis
    Metamer, MetamerCTF, MADCompetition, Eigendistortion, Geodesic and the :func:`synthesize` driver
    (also exported at the top level).
"""

from importlib.metadata import PackageNotFoundError, version

from . import data, io, losses, metrics, models, optimizers, penalties, process, pyramids, recipes
from .synthesis import (
    Eigendistortion,
    EigendistortionState,
    Geodesic,
    GeodesicState,
    History,
    MADCompetition,
    MADCompetitionState,
    Metamer,
    MetamerCTF,
    MetamerCTFState,
    MetamerState,
    NonFiniteLossError,
    Status,
    synthesize,
)


def __getattr__(name):
    # `jaxoptic.plot` imports matplotlib; load it on first use so `import jaxoptic` stays light.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'jaxoptic' has no attribute {name!r}")


try:
    __version__ = version("jaxoptic")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "Eigendistortion",
    "EigendistortionState",
    "Geodesic",
    "GeodesicState",
    "History",
    "MADCompetition",
    "MADCompetitionState",
    "Metamer",
    "MetamerCTF",
    "MetamerCTFState",
    "MetamerState",
    "NonFiniteLossError",
    "Status",
    "__version__",
    "data",
    "io",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "penalties",
    "plot",
    "process",
    "pyramids",
    "recipes",
    "synthesize",
]
