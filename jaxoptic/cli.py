"""The ``jaxoptic`` command line.

Currently one subcommand, the main job of the library::

    jaxoptic metamer --image brick --max-iter 200 --seed 0 --out out/brick

synthesizes a Portilla-Simoncelli texture metamer of a bundled image (``camera``, ``brick``,
``grass``, ``gravel``) or of an image file, and writes ``metamer.png``, ``comparison.png`` (target,
metamer, loss curve), a checkpoint directory (``checkpoint/``: orbax arrays plus ``metadata.json``,
nothing pickled) and ``summary.json`` (losses, statistics error, iterations, time, versions).

Bad arguments end with a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BUNDLED = ("camera", "brick", "grass", "gravel")


class UsageError(Exception):
    """A problem with the command-line arguments (reported in one line, exit code 2)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from err
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxoptic", description="Model-based synthesis of perceptual stimuli."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    met = sub.add_parser(
        "metamer",
        help="synthesize a Portilla-Simoncelli texture metamer",
        description="Synthesize a Portilla-Simoncelli texture metamer of an image.",
    )
    met.add_argument(
        "--image", default="brick", help=f"bundled image ({', '.join(BUNDLED)}) or an image file"
    )
    met.add_argument("--model", default="portilla-simoncelli", choices=["portilla-simoncelli"])
    met.add_argument(
        "--max-iter",
        type=_positive_int,
        default=200,
        help="iterations, each one objective evaluation of the L-BFGS recipe (default 200)",
    )
    met.add_argument(
        "--seed", type=_positive_int, default=0, help="seed of the initial noise image"
    )
    met.add_argument("--out", default="out", help="output directory (created)")
    met.add_argument("--n-scales", type=_positive_int, default=4)
    met.add_argument("--n-orientations", type=_positive_int, default=4)
    met.add_argument("--spatial-corr-width", type=_positive_int, default=7)
    met.add_argument("--float64", action="store_true", help="compute in float64")
    met.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _load_image(spec: str):
    import jaxoptic as jo

    if spec in BUNDLED:
        return getattr(jo.data, spec)()
    path = Path(spec)
    if not path.exists():
        raise UsageError(
            f"--image: {spec!r} is neither a bundled image ({', '.join(BUNDLED)}) nor an existing file"
        )
    try:
        return jo.data.load_images(path)[0]
    except (ValueError, OSError) as err:
        raise UsageError(f"--image: {err}") from err


def run_metamer(args) -> dict:
    import jax

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import jaxoptic as jo

    image = _load_image(args.image)
    if args.float64:
        image = image.astype(jnp.float64)
    try:
        met, state = jo.recipes.portilla_simoncelli_metamer(
            image,
            key=jax.random.key(args.seed),
            n_scales=args.n_scales,
            n_orientations=args.n_orientations,
            spatial_corr_width=args.spatial_corr_width,
        )
    except ValueError as err:
        raise UsageError(str(err)) from err
    x0 = state.image
    t0 = time.perf_counter()
    state, history = jo.synthesize(
        met, state, max_iter=args.max_iter, progress=not args.no_progress
    )
    elapsed = time.perf_counter() - t0
    x = state.image
    losses = [(int(i), float(v)) for i, v in zip(history.iterations, history.losses, strict=True)]
    loss_fn, target = met.objective, met.target_representation

    final_loss = float(loss_fn(x))
    losses.append((int(state.iteration), final_loss))  # the objective of the final image
    stats_mse = float(jnp.mean((met.model(x) - target) ** 2))
    return {
        "image": image,
        "metamer": x,
        "initial": x0,
        "losses": losses,
        "final_loss": final_loss,
        "stats_mse": stats_mse,
        "time_s": elapsed,
        "iterations": int(state.iteration),
        "status": jo.Status(int(state.status)).name.lower(),
        "model": met.model,
    }


def _write_outputs(args, result) -> None:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import optax
    import orbax.checkpoint as ocp

    import jaxoptic as jo

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jo.data.save_image(out / "metamer.png", np.clip(np.asarray(result["metamer"]), 0, 1))

    fig, axes = plt.subplots(1, 3, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for ax, img, title in (
        (axes[0], result["image"], "target"),
        (axes[1], result["metamer"], "metamer"),
    ):
        ax.imshow(np.asarray(img[0]), cmap="gray", vmin=0, vmax=1, interpolation="none")
        ax.set_title(title)
        ax.set_axis_off()
    its, losses = zip(*result["losses"], strict=True)
    axes[2].semilogy(its, losses, "o-")
    axes[2].set_xlabel("iteration")
    axes[2].set_ylabel("loss")
    axes[2].set_title("loss")
    fig.tight_layout()
    fig.savefig(out / "comparison.png", dpi=100)
    plt.close(fig)

    ckpt = out / "checkpoint"
    arrays = {
        "image": np.asarray(result["image"]),
        "metamer": np.asarray(result["metamer"]),
        "initial_image": np.asarray(result["initial"]),
        "losses": np.asarray(losses, dtype=np.float64),
    }
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(ckpt / "arrays", arrays, force=True)
    checkpointer.wait_until_finished()
    model = result["model"]
    summary = {
        "command": "metamer",
        "image": args.image,
        "model": "PortillaSimoncelli",
        "model_config": {
            "image_shape": list(model.image_shape),
            "n_scales": model.n_scales,
            "n_orientations": model.n_orientations,
            "spatial_corr_width": model.spatial_corr_width,
        },
        "seed": args.seed,
        "losses": [[int(i), float(v)] for i, v in result["losses"]],
        "iterations": result["iterations"],
        "status": result["status"],
        "final_loss": result["final_loss"],
        "statistics_mse": result["stats_mse"],
        "time_s": result["time_s"],
        "dtype": str(result["metamer"].dtype),
        "versions": {
            "jaxoptic": jo.__version__,
            "jax": jax.__version__,
            "optax": optax.__version__,
            "orbax-checkpoint": ocp.__version__ if hasattr(ocp, "__version__") else "unknown",
        },
        "backend": jax.default_backend(),
    }
    (ckpt / "metadata.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"wrote {out / 'metamer.png'}, {out / 'comparison.png'}, {ckpt}/ and {out / 'summary.json'}"
    )
    print(
        f"final loss {result['final_loss']:.4g}, statistics MSE {result['stats_mse']:.3g}, "
        f"{summary['iterations']} iterations in {result['time_s']:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jaxoptic`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "metamer":
            result = run_metamer(args)
            _write_outputs(args, result)
    except UsageError as err:
        print(f"jaxoptic: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
