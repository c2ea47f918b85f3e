"""The ``jaxoptic`` command line.

::

    jaxoptic metamer --image brick --max-iter 200 --seed 0 --out out/brick
    jaxoptic resume out/brick --max-iter 100
    jaxoptic batch --images brick,grass,gravel --seeds 0-3 --out out/batch
    jaxoptic eigendistortion --image camera --model onoff --k 2 --out out/eig
    jaxoptic mad --image camera --metric1 mse --metric2 ssim --out out/mad
    jaxoptic sweep sweep.json --list
    jaxoptic sweep sweep.json --index 3 --out results      # or SLURM_ARRAY_TASK_ID=3

Images are a bundled name (``camera``, ``brick``, ``grass``, ``gravel``) or an image file (read as
grayscale). Every synthesis writes its pictures, a checkpoint directory (``checkpoint/``: orbax
arrays plus ``metadata.json``, nothing pickled; it holds the state and the whole history, so that
``resume`` continues bitwise as an uninterrupted run would) and ``summary.json`` (losses,
statistics error, iterations, times, versions, backend and the arguments). ``docs/cli.md``
describes the commands, their outputs and how to run them on a SLURM cluster or a multi-GPU node.

Bad arguments end with a one-line error on stderr and exit code 2 (no traceback); a run whose
objective became NaN or Inf writes its outputs and exits with code 1.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from ._cli._common import (
    BUNDLED,
    METRICS,
    MODELS,
    ArgumentError,
    UsageError,
    cpu_devices_type,
    float_pair,
    float_type,
    int_list,
    int_type,
)

__all__ = ["UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse whose errors raise ``SystemExit(2)`` carrying the message, which :func:`main`
    prints in one line (instead of argparse's usage text)."""

    def error(self, message):
        hint = f" (see `{self.prog} --help`)"
        raise ArgumentError(" ".join(message.split()) + hint)


def _model_options(parser, default: str) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=default,
        choices=MODELS,
        help=f"model to synthesize for (default {default})",
    )
    group.add_argument(
        "--n-scales", type=int_type(1), default=4, help="Portilla-Simoncelli scales (default 4)"
    )
    group.add_argument(
        "--n-orientations",
        type=int_type(1),
        default=4,
        help="Portilla-Simoncelli orientations (default 4)",
    )
    group.add_argument(
        "--spatial-corr-width",
        type=int_type(1),
        default=7,
        help="Portilla-Simoncelli autocorrelation width (default 7)",
    )
    group.add_argument(
        "--kernel-size",
        type=int_type(1),
        default=31,
        help="filter size of the front-end and filter models (default 31; the front-end models "
        "use their published parameters, which need 31)",
    )


def _run_options(parser, max_iter: int, *, optimizer: bool = False, seed: bool = True) -> None:
    group = parser.add_argument_group("run")
    group.add_argument(
        "--max-iter",
        type=int_type(0),
        default=max_iter,
        help=f"maximum number of iterations (default {max_iter})",
    )
    if seed:
        group.add_argument("--seed", type=int_type(0), default=0, help="random seed (default 0)")
    if optimizer:
        group.add_argument(
            "--optimizer",
            choices=("lbfgs", "adam"),
            default="lbfgs",
            help="L-BFGS (the recipes' default: one objective evaluation per iteration) or Adam",
        )
        group.add_argument(
            "--learning-rate",
            type=float_type(0.0, strict=True),
            default=0.01,
            help="Adam's learning rate (default 0.01)",
        )
        group.add_argument(
            "--penalty-lambda",
            type=float_type(0.0),
            default=0.1,
            help="weight of the [0, 1] range penalty (default 0.1)",
        )
    group.add_argument(
        "--stop-criterion",
        type=float_type(0.0, strict=True),
        default=None,
        help="stop when the loss changes less than this over --stop-iters-to-check iterations "
        "(default: the method's own, e.g. 1e-4)",
    )
    group.add_argument(
        "--stop-iters-to-check",
        type=int_type(1),
        default=50,
        help="window of the stopping rule (default 50)",
    )
    _output_options(group)
    group.add_argument("--float64", action="store_true", help="compute in float64")


def _output_options(group) -> None:
    group.add_argument(
        "--checkpoint-every",
        type=int_type(1),
        default=None,
        help="also save the checkpoint every K iterations (default: at the end only)",
    )
    group.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; ``parser.subparsers`` maps each command to its own parser."""
    parser = _Parser(
        prog="jaxoptic",
        description="Model-based synthesis of perceptual stimuli (see docs/cli.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    image_help = f"bundled image ({', '.join(BUNDLED)}) or an image file"

    met = sub.add_parser(
        "metamer",
        help="synthesize a metamer (default: Portilla-Simoncelli texture metamer)",
        description="Synthesize a metamer of one image; writes metamer.png, comparison.png, "
        "status.png, metamer.npy, history.npz, checkpoint/ and summary.json into --out.",
    )
    met.add_argument("--image", default="brick", help=f"{image_help} (default brick)")
    met.add_argument("--out", default="out", help="output directory (default out)")
    _model_options(met, "portilla-simoncelli")
    _run_options(met, 200, optimizer=True)

    res = sub.add_parser(
        "resume",
        help="continue a run from its checkpoint",
        description="Continue a metamer, batch, eigendistortion or mad run from DIR/checkpoint "
        "for --max-iter more iterations and rewrite its outputs (the same result, bitwise, as "
        "one uninterrupted run on the same machine).",
    )
    res.add_argument("directory", metavar="DIR", help="output directory of the run")
    res.add_argument(
        "--max-iter", type=int_type(0), required=True, help="number of further iterations"
    )
    res_group = res.add_argument_group("run")
    _output_options(res_group)
    res_group.add_argument(
        "--distributed", action="store_true", help="as for batch (resume a distributed batch)"
    )
    res_group.add_argument(
        "--cpu-devices",
        type=cpu_devices_type,
        default="auto",
        metavar="N",
        help="as for batch",
    )

    bat = sub.add_parser(
        "batch",
        help="metamers of several images and seeds in one vmapped run",
        description="Synthesize metamers of every image x seed in one compiled, vmapped run "
        "(sharded across all local devices); writes DIR/<image>_seed<k>/ per lane and one "
        "batched checkpoint DIR/checkpoint/.",
    )
    bat.add_argument(
        "--images",
        nargs="+",
        required=True,
        metavar="IMAGE",
        help=f"images, separated by commas or spaces: each a {image_help}; all of one shape",
    )
    bat.add_argument(
        "--seeds",
        type=int_list,
        default=[0],
        help="seeds, e.g. 0,1,2 or 0-3 (default 0)",
    )
    bat.add_argument("--out", default="out", help="output directory (default out)")
    bat.add_argument(
        "--distributed",
        action="store_true",
        help="multi-process run: call jax.distributed.initialize() and split the lanes across "
        "all processes (launch one process per node with srun)",
    )
    bat.add_argument(
        "--cpu-devices",
        type=cpu_devices_type,
        default="auto",
        metavar="N",
        help="on a CPU, split the batch over N CPU devices, one core each (default auto: one per "
        "available core, at most one per lane; 1 under --distributed unless given)",
    )
    _model_options(bat, "portilla-simoncelli")
    _run_options(bat, 200, optimizer=True, seed=False)

    eig = sub.add_parser(
        "eigendistortion",
        help="eigendistortions of a model at an image",
        description="The top and bottom K eigendistortions (eigenvectors of the Fisher matrix) "
        "of a model at an image.",
    )
    eig.add_argument("--image", default="camera", help=f"{image_help} (default camera)")
    eig.add_argument("--out", default="out", help="output directory (default out)")
    eig.add_argument(
        "--k", type=int_type(1), default=1, help="number of top and of bottom eigendistortions"
    )
    eig.add_argument(
        "--method",
        choices=("lanczos", "power", "exact"),
        default="lanczos",
        help="solver (default lanczos; exact only for small images)",
    )
    _model_options(eig, "onoff")
    _run_options(eig, 1000)

    mad = sub.add_parser(
        "mad",
        help="MAD competition images of two metrics",
        description="The four images of a MAD competition: each metric minimized and maximized "
        "while the other is held fixed, in one batched run.",
    )
    mad.add_argument("--image", default="camera", help=f"{image_help} (default camera)")
    mad.add_argument("--out", default="out", help="output directory (default out)")
    mad.add_argument("--metric1", choices=METRICS, default="mse", help="first metric (default mse)")
    mad.add_argument(
        "--metric2", choices=METRICS, default="ssim", help="second metric (default ssim, as 1-SSIM)"
    )
    mad.add_argument(
        "--noise-level",
        type=float_type(0.0, strict=True),
        default=0.1,
        help="standard deviation of the noise of the initial image (default 0.1)",
    )
    mad.add_argument(
        "--tradeoff-lambda",
        type=float_pair,
        default=None,
        metavar="A,B",
        help="metric_tradeoff_lambda when metric1 / metric2 is optimized (default: plenoptic's rule)",
    )
    mad.add_argument(
        "--learning-rate",
        type=float_type(0.0, strict=True),
        default=None,
        help="learning rate of the Adam (AMSGrad) optimizer (default 0.01)",
    )
    _run_options(mad, 200)

    swp = sub.add_parser(
        "sweep",
        help="run one job (or all) of a sweep file of metamer runs",
        description="Run job --index (default: $SLURM_ARRAY_TASK_ID) of a sweep file: JSON (a "
        'list of metamer option objects, or a grid {"images": [...], "models": [...], "seeds": '
        '[...], "settings": [{...}]}) or CSV (one job per row, columns = metamer options). Each '
        "job writes OUT/<job name>/ as `jaxoptic metamer` does.",
    )
    swp.add_argument("file", metavar="FILE", help="sweep file (.json or .csv)")
    which = swp.add_mutually_exclusive_group()
    which.add_argument(
        "--index", type=int_type(0), default=None, help="job to run (default $SLURM_ARRAY_TASK_ID)"
    )
    which.add_argument("--all", action="store_true", help="run every job, one after another")
    which.add_argument(
        "--list", action="store_true", help="print the number of jobs and their directories"
    )
    swp.add_argument("--out", default="results", help="output directory (default results)")
    swp.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    swp.add_argument(
        "--distributed",
        action="store_true",
        help="multi-process: call jax.distributed.initialize(); process p of P runs every P-th "
        "selected job (with --all: the whole sweep spread over the processes)",
    )
    parser.subparsers = {
        "metamer": met,
        "resume": res,
        "batch": bat,
        "eigendistortion": eig,
        "mad": mad,
        "sweep": swp,
    }
    return parser


def _dispatch(parser, args, command_line: str) -> int:
    if args.command == "sweep":
        from ._cli._sweep import run_sweep

        return run_sweep(args, parser.subparsers["metamer"], command_line)
    if args.command == "resume":
        from ._cli._jobs import resume

        return resume(args, parser.subparsers, command_line)
    if getattr(args, "distributed", False):
        # before anything touches a JAX backend
        from ._cli._common import initialize_distributed

        initialize_distributed()
    if args.command == "batch":
        from ._cli._common import configure_cpu_devices, split_names

        if not args.distributed:
            lanes = len(split_names(args.images)) * len(dict.fromkeys(args.seeds))
            configure_cpu_devices(args.cpu_devices, lanes)
        elif args.cpu_devices != "auto":
            configure_cpu_devices(args.cpu_devices, 1)
    from ._cli._jobs import execute

    return execute(args, command_line)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jaxoptic`` command; returns the exit code (2 for bad arguments)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command_line = shlex.join(["jaxoptic", *argv])
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except ArgumentError as err:
            raise UsageError(err.message) from None
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        return _dispatch(parser, args, command_line)
    except UsageError as err:
        print(f"jaxoptic: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
