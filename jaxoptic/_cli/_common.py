"""Pieces shared by the commands: the usage error, argument types, images, models, metrics, the
environment record, a compile-time clock and file writers."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
from importlib import metadata
from pathlib import Path

BUNDLED = ("camera", "brick", "grass", "gravel")

MODELS = (
    "portilla-simoncelli",
    "onoff",
    "luminance-gain-control",
    "luminance-contrast-gain-control",
    "linear-nonlinear",
    "center-surround",
    "gaussian",
    "linear",
    "identity",
)
# front-end models: built with the published (pretrained) parameters, fitted with 31 x 31 filters
_FRONTEND = {
    "onoff": "OnOff",
    "luminance-gain-control": "LuminanceGainControl",
    "luminance-contrast-gain-control": "LuminanceContrastGainControl",
    "linear-nonlinear": "LinearNonlinear",
}
_PRETRAINED_KERNEL = 31

METRICS = ("mse", "ssim", "ms-ssim", "nlpd")


class UsageError(Exception):
    """A problem with the command-line arguments (reported in one line, exit code 2)."""


class ArgumentError(SystemExit):
    """argparse refused the arguments: a ``SystemExit`` with code 2 (as argparse's own) whose
    ``message`` says why; :func:`jaxoptic.cli.main` prints it in one line."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message


def one_line(text) -> str:
    """``text`` on one line (line breaks and runs of spaces become single spaces)."""
    return " ".join(str(text).split())


# -- argument types (argparse turns ArgumentTypeError into "argument --x: <message>") -------------
def int_type(minimum: int = 0):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def float_type(minimum: float = 0.0, *, strict: bool = False):
    """An argparse type: a finite number >= ``minimum`` (> ``minimum`` when ``strict``)."""
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
        return value

    parse.__name__ = "float"
    return parse


def int_list(text: str) -> list[int]:
    """An argparse type: whole numbers >= 0 separated by commas, or inclusive ranges ``a-b``."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise argparse.ArgumentTypeError(
                f"expected whole numbers >= 0 separated by commas (or ranges such as 0-3), got {text!r}"
            )
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise argparse.ArgumentTypeError(f"the range {part!r} is empty")
        out.extend(range(lo, hi + 1))
    return out


def float_pair(text: str) -> list[float]:
    """An argparse type: two finite numbers > 0 separated by a comma."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected two numbers > 0 separated by a comma (e.g. 1,0.1), got {text!r}"
        )
    return values


def split_names(values: list[str]) -> list[str]:
    """Names given as several arguments and/or separated by commas."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


# -- images ---------------------------------------------------------------------------------------
def image_spec(spec: str, option: str = "--image") -> str:
    """A bundled image name, or the absolute path of an existing file (so that ``resume`` finds it
    again from another directory)."""
    if spec in BUNDLED:
        return spec
    path = Path(spec).expanduser()
    if not path.exists():
        raise UsageError(
            f"{option}: {spec!r} is neither a bundled image ({', '.join(BUNDLED)}) nor an existing file"
        )
    if path.is_dir():
        raise UsageError(f"{option}: {spec!r} is a directory; give an image file")
    return str(path.resolve())


def image_name(spec: str) -> str:
    """A short name for an image: the bundled name or the file's stem, safe in a file name."""
    name = spec if spec in BUNDLED else Path(spec).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "image"


def load_image(spec: str, float64: bool, option: str = "--image"):
    """The image ``(1, H, W)`` (grayscale, values in [0, 1]), float32 or float64."""
    import jax.numpy as jnp

    import jaxoptic as jo

    spec = image_spec(spec, option)
    if spec in BUNDLED:
        image = getattr(jo.data, spec)()
    else:
        try:
            image = jo.data.load_images(spec)[0]
        except (ValueError, OSError) as err:
            raise UsageError(f"{option}: {one_line(err)}") from err
    return image.astype(jnp.float64) if float64 else image


# -- models and metrics ---------------------------------------------------------------------------
def build_model(args, image_shape):
    """The model ``args.model`` names, for images of ``image_shape`` ``(C, H, W)``."""
    import jaxoptic as jo

    name = args.model
    size = args.kernel_size
    try:
        if name == "portilla-simoncelli":
            return jo.models.PortillaSimoncelli(
                tuple(image_shape[-2:]),
                n_scales=args.n_scales,
                n_orientations=args.n_orientations,
                spatial_corr_width=args.spatial_corr_width,
            )
        if name in _FRONTEND:
            if size != _PRETRAINED_KERNEL:
                raise UsageError(
                    f"--kernel-size: the front-end models use the published parameters, fitted with "
                    f"{_PRETRAINED_KERNEL} x {_PRETRAINED_KERNEL} filters; got {size}"
                )
            return getattr(jo.models, _FRONTEND[name])((size, size), pretrained=True)
        if name == "center-surround":
            return jo.models.CenterSurround((size, size))
        if name == "gaussian":
            return jo.models.Gaussian((size, size))
        if name == "linear":
            return jo.models.Linear((size, size))
        if name == "identity":
            return jo.models.Identity()
    except ValueError as err:
        raise UsageError(f"--model {name}: {one_line(err)}") from err
    raise UsageError(f"--model: unknown model {name!r}; choose from {', '.join(MODELS)}")


def model_config(args, model) -> dict:
    """The model's settings as given on the command line (for summary.json)."""
    out = {"name": args.model, "class": type(model).__name__}
    if args.model == "portilla-simoncelli":
        out.update(
            image_shape=list(model.image_shape),
            n_scales=model.n_scales,
            n_orientations=model.n_orientations,
            spatial_corr_width=model.spatial_corr_width,
        )
    elif args.model != "identity":
        out["kernel_size"] = args.kernel_size
        out["pretrained"] = args.model in _FRONTEND
    return out


def ssim_distance(image_a, image_b):
    """``1 - SSIM``: a distance (0 for identical images)."""
    import jaxoptic as jo

    return 1 - jo.metrics.ssim(image_a, image_b)


def ms_ssim_distance(image_a, image_b):
    """``1 - MS-SSIM``: a distance (0 for identical images)."""
    import jaxoptic as jo

    return 1 - jo.metrics.ms_ssim(image_a, image_b)


def metric(name: str):
    """The distance a ``--metric1/--metric2`` name stands for."""
    import jaxoptic as jo

    return {
        "mse": jo.metrics.mse,
        "ssim": ssim_distance,
        "ms-ssim": ms_ssim_distance,
        "nlpd": jo.metrics.nlpd,
    }[name]


# -- environment ----------------------------------------------------------------------------------
def versions() -> dict:
    out = {}
    for dist in ("jaxoptic", "jax", "jaxlib", "optax", "equinox", "orbax-checkpoint", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    if out["jaxoptic"] is None:
        import jaxoptic

        out["jaxoptic"] = jaxoptic.__version__
    out["python"] = platform.python_version()
    return out


def backend() -> dict:
    import jax
    import numpy as np

    devices = jax.devices()
    return {
        "platform": jax.default_backend(),
        "device_kind": getattr(devices[0], "device_kind", None),
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
        "process_count": jax.process_count(),
        "process_index": jax.process_index(),
        "x64": jax.dtypes.canonicalize_dtype(np.float64) == np.dtype(np.float64),
    }


def initialize_distributed() -> None:
    """``jax.distributed.initialize()`` (cluster auto-detection), with a one-line error on failure."""
    import jax

    try:
        jax.distributed.initialize()
    except Exception as err:
        raise UsageError(
            f"--distributed: jax.distributed.initialize() failed ({type(err).__name__}: "
            f"{one_line(err)}). Launch one process per node or GPU with srun inside a SLURM "
            "allocation (or with mpirun, or on Kubernetes or Cloud TPU, which JAX detects); "
            "on a single machine leave out --distributed: all its devices are used anyway"
        ) from err


def cpu_devices_type(text: str):
    """``--cpu-devices``: ``auto`` or an int >= 1."""
    if text == "auto":
        return text
    return int_type(1)(text)


def configure_cpu_devices(value, lanes: int) -> int | None:
    """Before JAX starts: give the CPU backend several devices, so that a batch on a CPU runs its
    lanes on several cores at once (``synthesize`` shards a batch over the local devices; each CPU
    device computes its lanes one after another on one core).

    ``value`` is ``"auto"`` (one device per core this process may use, and no more devices than
    it takes rounds of lanes: 8 lanes on 6 cores give 2 rounds of 4, hence 4 devices and no padding
    lane) or a number. Nothing is changed where the user chose already (``JAX_NUM_CPU_DEVICES`` or
    ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``), nor once JAX has started (the
    command called from a program that used JAX). Returns the number set, or None. On a GPU
    machine the extra CPU devices are unused: batches run on the GPUs."""
    import os

    import jax

    if "JAX_NUM_CPU_DEVICES" in os.environ or "xla_force_host_platform_device_count" in (
        os.environ.get("XLA_FLAGS", "")
    ):
        return None
    if value == "auto":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        rounds = -(-max(lanes, 1) // max(cores, 1))
        value = -(-max(lanes, 1) // rounds)
    value = int(value)
    if value <= 1:
        return None
    try:
        jax.config.update("jax_num_cpu_devices", value)
    except RuntimeError:  # JAX started already (``main`` called in a running program): keep it
        return None
    return value


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class CompileClock:
    """Context manager summing the seconds JAX spends tracing, lowering and compiling (or reading
    compiled programs from the persistent cache) while it is open."""

    def __init__(self):
        self.seconds = 0.0
        self._open = False

    def _listen(self, event, duration, **kwargs):
        if self._open and event in _COMPILE_EVENTS:
            self.seconds += float(duration)

    def __enter__(self):
        import jax

        self._open = True
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc):
        import jax

        self._open = False
        unregister = getattr(jax.monitoring, "unregister_event_duration_listener", None)
        if unregister is not None:  # older jax versions cannot unregister: the listener idles
            unregister(self._listen)
        return False


# -- files ----------------------------------------------------------------------------------------
def write_json(path: Path, obj) -> None:
    """Write JSON through a temporary file and a rename (a reader never sees half a file)."""
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(obj, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    os.replace(part, path)


def read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what}: {str(path)!r} does not exist") from None
    except (OSError, ValueError) as err:
        raise UsageError(f"{what}: cannot read {str(path)!r} ({one_line(err)})") from err


def save_png(path: Path, image) -> None:
    """An image in [0, 1] as an 8-bit PNG (values clipped)."""
    import numpy as np

    import jaxoptic as jo

    jo.data.save_image(path, np.clip(np.nan_to_num(np.asarray(image, np.float64)), 0.0, 1.0))


def save_signed_png(path: Path, image) -> None:
    """A signed image (an eigendistortion) as an 8-bit PNG: 0 is mid-gray, ``max |x|`` is white."""
    import numpy as np

    x = np.asarray(image, np.float64)
    scale = float(np.max(np.abs(x))) or 1.0
    save_png(path, 0.5 + 0.5 * x / scale)


def save_history(path: Path, history) -> None:
    """The records of a (single-run) History as ``history.npz``: ``iterations`` and one array per
    record (``losses``, ``gradient_norm``, ...)."""
    import numpy as np

    arrays = {"iterations": np.asarray(history.iterations)}
    arrays.update({k: np.asarray(v) for k, v in history.records.items()})
    np.savez(path, **arrays)


def save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)


def use_agg() -> None:
    """Use matplotlib's file-only backend (no display needed on a cluster node)."""
    import matplotlib

    matplotlib.use("Agg")


# -- batches --------------------------------------------------------------------------------------
def take_lane(tree, i: int):
    """Lane ``i`` of a batched method or state (every array leaf indexed along its first axis)."""
    import equinox as eqx
    import jax

    return jax.tree.map(lambda x: x[i] if eqx.is_array(x) and x.ndim > 0 else x, tree)


def history_lane(history, i: int):
    """Lane ``i`` of a batched History, without the steps the lane did not run."""
    import numpy as np

    from jaxoptic import History

    iterations = np.asarray(history.iterations)[i]
    ran = iterations >= 0
    return History(iterations[ran], {k: np.asarray(v)[i][ran] for k, v in history.records.items()})
