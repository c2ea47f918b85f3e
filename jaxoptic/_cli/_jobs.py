"""The synthesis commands (metamer, batch, eigendistortion, mad) and ``resume``.

Every command builds a method and its state, runs :func:`jaxoptic.synthesize` (resumably: the
checkpoint ``checkpoint/`` holds the state and the whole history) and writes its pictures and
``summary.json``. ``resume`` rebuilds the method from the ``arguments`` recorded in
``summary.json``, loads the checkpoint and continues.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from ._common import (
    CompileClock,
    UsageError,
    backend,
    build_model,
    configure_cpu_devices,
    history_lane,
    image_name,
    image_spec,
    initialize_distributed,
    load_image,
    metric,
    model_config,
    one_line,
    read_json,
    save_figure,
    save_history,
    save_png,
    save_signed_png,
    split_names,
    take_lane,
    use_agg,
    versions,
    write_json,
)

# Steps per compiled chunk when checkpointing every k steps: min(k, DEFAULT_CHUNK) (the driver's default).
DEFAULT_CHUNK = 25
CHECKPOINT = "checkpoint"
SUMMARY = "summary.json"


@dataclasses.dataclass
class Setup:
    """A built synthesis: the method, its state, what the writer needs, and the output root (where
    ``checkpoint/`` and ``summary.json`` go)."""

    method: object
    state: object
    info: dict
    root: Path


@dataclasses.dataclass(frozen=True)
class Command:
    build: Callable
    write: Callable


# -- metamers ---------------------------------------------------------------------------------------
@functools.cache
def _adam(learning_rate: float):
    # one instance per learning rate: the optimizer is a static field of the method, so a new
    # instance would compile the synthesis again
    import optax

    return optax.adam(learning_rate)


def _optimizer(args):
    """None (the recipe's L-BFGS) or Adam."""
    return _adam(args.learning_rate) if args.optimizer == "adam" else None


def _metamer_setup(args, image, key, model=None):
    """``(method, state)`` of one metamer: the Portilla-Simoncelli recipe, or the generic recipe with
    ``model`` (built from the arguments when None). Works under ``eqx.filter_vmap``."""
    import jaxoptic as jo

    try:
        if args.model == "portilla-simoncelli":
            return jo.recipes.portilla_simoncelli_metamer(
                image,
                key=key,
                n_scales=args.n_scales,
                n_orientations=args.n_orientations,
                spatial_corr_width=args.spatial_corr_width,
                penalty_lambda=args.penalty_lambda,
                optimizer=_optimizer(args),
            )
        if model is None:
            model = build_model(args, image.shape)
        return jo.recipes.metamer(
            image, model, key=key, penalty_lambda=args.penalty_lambda, optimizer=_optimizer(args)
        )
    except ValueError as err:
        raise UsageError(one_line(err)) from err


def _final_terms(method, image):
    """The objective at ``image`` and the statistics error: the unweighted mean squared difference
    between ``model(image)`` and the target's representation (all leaves together)."""
    import jax
    import jax.numpy as jnp

    rep = jax.tree.leaves(method.model(image))
    target = jax.tree.leaves(method.target_representation)
    diff = jnp.concatenate([jnp.ravel(a - b) for a, b in zip(rep, target, strict=True)])
    return method.objective(image), jnp.mean(jnp.abs(diff) ** 2)


@functools.cache
def _final_terms_compiled(batched: bool):
    import equinox as eqx

    return eqx.filter_jit(eqx.filter_vmap(_final_terms) if batched else _final_terms)


def build_metamer(args) -> Setup:
    import jax

    args.image = image_spec(args.image)
    image = load_image(args.image, args.float64)
    method, state = _metamer_setup(args, image, jax.random.key(args.seed))
    return Setup(method, state, {"image": image}, Path(args.out))


def _comparison_figure(target, metamer, losses):
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for ax, img, title in ((axes[0], target, "target"), (axes[1], metamer, "metamer")):
        ax.imshow(np.asarray(img[0]), cmap="gray", vmin=0, vmax=1, interpolation="none")
        ax.set_title(title)
        ax.set_axis_off()
    its, values = zip(*losses, strict=True)
    axes[2].semilogy(its, values, "o-" if len(its) < 50 else "-")
    axes[2].set_xlabel("iteration")
    axes[2].set_ylabel("loss")
    axes[2].set_title("loss")
    fig.tight_layout()
    return fig


def _status_figure(method, state, history):
    import jaxoptic as jo

    return jo.plot.synthesis_status(method, state, history)


def _write_metamer_dir(out: Path, args, method, state, history, terms, fields: dict, common: dict):
    """metamer.png, metamer.npy, comparison.png, status.png, history.npz and summary.json of one
    metamer into ``out``; returns the summary."""
    import numpy as np

    import jaxoptic as jo

    out.mkdir(parents=True, exist_ok=True)
    x = np.asarray(state.image)
    final_loss, stats_mse = (float(v) for v in terms)
    losses = [[int(i), float(v)] for i, v in zip(history.iterations, history.losses, strict=True)]
    losses.append([int(state.iteration), final_loss])  # the objective of the final image
    save_png(out / "metamer.png", x)
    np.save(out / "metamer.npy", x)
    save_history(out / "history.npz", history)
    save_figure(_comparison_figure(method.image, x, losses), out / "comparison.png")
    save_figure(_status_figure(method, state, history), out / "status.png")
    summary = {
        "command": args.command,
        **fields,
        "image_shape": list(x.shape),
        "model": type(method.model).__name__,
        "model_config": model_config(args, method.model),
        "optimizer": args.optimizer,
        "iterations": int(state.iteration),
        "status": jo.Status(int(state.status)).name.lower(),
        "final_loss": final_loss,
        "statistics_mse": stats_mse,
        "losses": losses,
        "dtype": str(x.dtype),
        "outputs": [
            "metamer.png",
            "metamer.npy",
            "comparison.png",
            "status.png",
            "history.npz",
            SUMMARY,
        ],
        **common,
    }
    write_json(out / SUMMARY, summary)
    return summary


def write_metamer(args, setup: Setup, state, history, common: dict) -> dict:
    terms = _final_terms_compiled(False)(setup.method, state.image)
    out = setup.root
    summary = _write_metamer_dir(
        out,
        args,
        setup.method,
        state,
        history,
        terms,
        {"image": args.image, "seed": args.seed, "checkpoint": CHECKPOINT},
        common,
    )
    summary["outputs"].append(CHECKPOINT + "/")
    write_json(out / SUMMARY, summary)
    print(f"wrote {out}: metamer.png, comparison.png, status.png, {CHECKPOINT}/, {SUMMARY}")
    print(
        f"final loss {summary['final_loss']:.4g}, statistics MSE {summary['statistics_mse']:.3g}, "
        f"{summary['iterations']} iterations in {common['time_s']:.1f} s "
        f"({common['compile_time_s']:.1f} s compiling), status {summary['status']}"
    )
    return summary


# -- batches of metamers --------------------------------------------------------------------------
def _lane_names(specs: list[str], seeds: list[int]) -> list[str]:
    """``<image>_seed<k>`` for every (image, seed), image-major; images with the same name get
    ``-<position>`` appended."""
    names = [image_name(s) for s in specs]
    unique = [n if names.count(n) == 1 else f"{n}-{i}" for i, n in enumerate(names)]
    return [f"{n}_seed{s}" for n in unique for s in seeds]


def process_lanes(n_lanes: int, n_processes: int, process: int) -> list[int]:
    """The lanes process ``process`` of ``n_processes`` runs: a contiguous block, the blocks'
    sizes differing by at most one (the first processes get the larger ones)."""
    import numpy as np

    return [int(j) for j in np.array_split(np.arange(n_lanes), n_processes)[process]]


def build_batch(args) -> Setup:
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    specs = [image_spec(s, "--images") for s in split_names(args.images)]
    if not specs:
        raise UsageError("--images: give at least one image")
    seeds = list(dict.fromkeys(args.seeds))
    if not seeds:
        raise UsageError("--seeds: give at least one seed")
    args.images, args.seeds = specs, seeds
    images = [load_image(s, args.float64, "--images") for s in specs]
    shapes = [tuple(int(d) for d in im.shape) for im in images]
    if len(set(shapes)) > 1:
        listing = ", ".join(
            f"{image_name(s)}: {'x'.join(map(str, sh))}"
            for s, sh in zip(specs, shapes, strict=True)
        )
        raise UsageError(
            f"--images: the images of a batch must have one shape, got {listing}; run images of "
            "different sizes as separate batches"
        )
    lanes = [(i, s) for i in range(len(specs)) for s in seeds]
    names = _lane_names(specs, seeds)
    n_proc, proc = jax.process_count(), jax.process_index()
    mine = process_lanes(len(lanes), n_proc, proc)
    root = _root_of(args)
    info = {"specs": specs, "lanes": [(lanes[j], names[j]) for j in mine]}
    info["process"] = {"index": proc, "count": n_proc, "lanes": [names[j] for j in mine]}
    if not mine:
        return Setup(None, None, info, root)
    # pad the batch to a multiple of the local devices (the driver then shards it across them)
    padding = getattr(args, "lane_padding", None)
    if padding is None:
        n_dev = jax.local_device_count()
        padding = (-len(mine)) % n_dev if n_dev > 1 else 0
    args.lane_padding = int(padding)
    rows = mine + [mine[-1]] * int(padding)
    targets = jnp.stack([images[lanes[j][0]] for j in rows])
    keys = jnp.stack([jax.random.key(lanes[j][1]) for j in rows])
    model = None if args.model == "portilla-simoncelli" else build_model(args, shapes[0])
    methods, states = eqx.filter_vmap(lambda im, k: _metamer_setup(args, im, k, model))(
        targets, keys
    )
    return Setup(methods, states, info, root)


def write_batch(args, setup: Setup, state, history, common: dict) -> dict:
    import numpy as np

    import jaxoptic as jo

    objective, stats = (
        np.asarray(v) for v in _final_terms_compiled(True)(setup.method, state.image)
    )
    out = Path(args.out)
    lanes = []
    for row, ((image_index, seed), name) in enumerate(setup.info["lanes"]):
        lane = _write_metamer_dir(
            out / name,
            args,
            take_lane(setup.method, row),
            take_lane(state, row),
            history_lane(history, row),
            (objective[row], stats[row]),
            {
                "image": setup.info["specs"][image_index],
                "seed": seed,
                "batch": {"directory": "..", "lane": name, "checkpoint": f"../{CHECKPOINT}"},
            },
            common,
        )
        lanes.append(
            {
                "name": name,
                "image": lane["image"],
                "seed": seed,
                "iterations": lane["iterations"],
                "status": lane["status"],
                "final_loss": lane["final_loss"],
                "statistics_mse": lane["statistics_mse"],
            }
        )
    status = np.atleast_1d(np.asarray(state.status))
    summary = {
        "command": "batch",
        "lanes": lanes,
        "process": setup.info["process"],
        "padding_lanes": int(args.lane_padding),
        "iterations": int(np.max(np.asarray(state.iteration))),
        "status": sorted({jo.Status(int(s)).name.lower() for s in status}),
        "checkpoint": CHECKPOINT,
        **common,
    }
    write_json(setup.root / SUMMARY, summary)
    print(f"wrote {len(lanes)} lanes into {out}: " + ", ".join(lane["name"] for lane in lanes))
    worst = max(lane["statistics_mse"] for lane in lanes)
    print(
        f"worst statistics MSE {worst:.3g}; {summary['iterations']} iterations in "
        f"{common['time_s']:.1f} s ({common['compile_time_s']:.1f} s compiling)"
    )
    return summary


# -- eigendistortions -------------------------------------------------------------------------------
def build_eigendistortion(args) -> Setup:
    import jax

    import jaxoptic as jo

    args.image = image_spec(args.image)
    image = load_image(args.image, args.float64)
    model = build_model(args, image.shape)
    try:
        method = jo.Eigendistortion(image, model, k=args.k, method=args.method)
    except ValueError as err:
        raise UsageError(one_line(err)) from err
    return Setup(method, method.init(key=jax.random.key(args.seed)), {}, Path(args.out))


def _eigendistortion_figure(method, state):
    import numpy as np

    import jaxoptic as jo

    index = [int(i) for i in np.asarray(state.eigenindex)]
    return jo.plot.eigendistortion_imshow_all(method, state, eigenindex=index)


def write_eigendistortion(args, setup: Setup, state, history, common: dict) -> dict:
    import numpy as np

    import jaxoptic as jo

    out = setup.root
    vectors = np.asarray(state.eigendistortions)
    k = vectors.shape[0] // 2
    names = [f"eigendistortion_top{j}.png" for j in range(k)]
    names += [f"eigendistortion_bottom{k - 1 - j}.png" for j in range(k)]
    for name, v in zip(names, vectors, strict=True):
        save_signed_png(out / name, v)
    np.save(out / "eigendistortions.npy", vectors)
    save_history(out / "history.npz", history)
    save_figure(_eigendistortion_figure(setup.method, state), out / "eigendistortions.png")
    summary = {
        "command": "eigendistortion",
        "image": args.image,
        "image_shape": list(np.shape(state.image)),
        "model": type(setup.method.model).__name__,
        "model_config": model_config(args, setup.method.model),
        "method": args.method,
        "k": args.k,
        "seed": args.seed,
        "eigenvalues": [float(v) for v in np.asarray(state.eigenvalues)],
        "eigenindex": [int(i) for i in np.asarray(state.eigenindex)],
        "residuals": [float(r) for r in np.asarray(state.residuals)],
        "pictures": names,
        "iterations": int(state.iteration),
        "status": jo.Status(int(state.status)).name.lower(),
        "dtype": str(vectors.dtype),
        "outputs": [*names, "eigendistortions.npy", "eigendistortions.png", "history.npz", SUMMARY],
        "checkpoint": CHECKPOINT,
        **common,
    }
    write_json(out / SUMMARY, summary)
    print(f"wrote {out}: {len(names)} eigendistortions, eigendistortions.png, {SUMMARY}")
    print(
        "eigenvalues "
        + ", ".join(f"{v:.4g}" for v in summary["eigenvalues"])
        + f"; largest relative residual {max(summary['residuals']):.2g} after "
        f"{summary['iterations']} iterations, status {summary['status']}"
    )
    return summary


# -- MAD competition --------------------------------------------------------------------------------
def build_mad(args) -> Setup:
    import jax

    import jaxoptic as jo

    if args.metric1 == args.metric2:
        raise UsageError("--metric1 and --metric2 must differ")
    args.image = image_spec(args.image)
    image = load_image(args.image, args.float64)
    optimizer = None
    if args.learning_rate is not None:
        optimizer = _amsgrad(args.learning_rate)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the chosen trade-off lambdas go to summary.json
            methods, states = jo.recipes.mad_competition_set(
                image,
                metric(args.metric1),
                metric(args.metric2),
                key=jax.random.key(args.seed),
                metric_tradeoff_lambda=args.tradeoff_lambda,
                initial_noise=args.noise_level,
                optimizer=optimizer,
            )
    except (ValueError, TypeError) as err:
        raise UsageError(one_line(err)) from err
    return Setup(methods, states, {"image": image}, Path(args.out))


@functools.cache
def _amsgrad(learning_rate: float):
    import jaxoptic as jo

    return jo.optimizers.amsgrad(learning_rate)


@functools.cache
def _metric_values(name: str):
    """``(image, images) -> metric(image, images[i])`` for a batch, channel-averaged, compiled."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    f = metric(name)
    return eqx.filter_jit(jax.vmap(lambda image, x: jnp.mean(f(image, x)), in_axes=(None, 0)))


def _mad_names(args) -> list[str]:
    return [
        f"{args.metric1}_min",
        f"{args.metric1}_max",
        f"{args.metric2}_min",
        f"{args.metric2}_max",
    ]


def _mad_figure(args, methods, state, history):
    import jaxoptic as jo

    return jo.plot.mad_imshow_all(
        (methods, state, history), metric1_name=args.metric1, metric2_name=args.metric2
    )


def write_mad(args, setup: Setup, state, history, common: dict) -> dict:
    import jax.numpy as jnp
    import numpy as np

    import jaxoptic as jo

    out = setup.root
    image = setup.info["image"]
    xs = np.asarray(state.image)
    initial = np.asarray(state.initial_image[0])
    names = _mad_names(args)
    for name, x in zip(names, xs, strict=True):
        save_png(out / f"{name}.png", x)
    save_png(out / "initial.png", initial)
    save_png(out / "image.png", image)
    np.save(out / "mad_images.npy", xs)
    values = {
        which: np.asarray(_metric_values(which)(image, state.image))
        for which in (args.metric1, args.metric2)
    }
    save_figure(_mad_figure(args, setup.method, state, history), out / "mad.png")
    lambdas = np.asarray(setup.method.metric_tradeoff_lambda)
    status = np.asarray(state.status)
    iterations = np.asarray(state.iteration)
    lanes = []
    for i, name in enumerate(names):
        lane_history = history_lane(history, i)
        save_history(out / f"history_{name}.npz", lane_history)
        lanes.append(
            {
                "name": name,
                "optimized_metric": args.metric1 if i < 2 else args.metric2,
                "minmax": "min" if i % 2 == 0 else "max",
                "metric_tradeoff_lambda": float(lambdas[i]),
                args.metric1: float(values[args.metric1][i]),
                args.metric2: float(values[args.metric2][i]),
                "iterations": int(iterations[i]),
                "status": jo.Status(int(status[i])).name.lower(),
                "final_loss": float(lane_history.losses[-1]) if len(lane_history) else None,
            }
        )
    initial_values = {
        which: float(_metric_values(which)(image, jnp.asarray(initial)[None])[0])
        for which in (args.metric1, args.metric2)
    }
    summary = {
        "command": "mad",
        "image": args.image,
        "image_shape": list(xs.shape[1:]),
        "metric1": args.metric1,
        "metric2": args.metric2,
        "noise_level": args.noise_level,
        "seed": args.seed,
        "initial": initial_values,
        "images": lanes,
        "iterations": int(np.max(iterations)),
        "status": sorted({lane["status"] for lane in lanes}),
        "dtype": str(xs.dtype),
        "outputs": [f"{n}.png" for n in names]
        + ["initial.png", "image.png", "mad_images.npy", "mad.png"]
        + [f"history_{n}.npz" for n in names]
        + [SUMMARY],
        "checkpoint": CHECKPOINT,
        **common,
    }
    write_json(out / SUMMARY, summary)
    print(f"wrote {out}: {', '.join(f'{n}.png' for n in names)}, mad.png, {SUMMARY}")
    for lane in lanes:
        print(
            f"{lane['name']}: {args.metric1} {lane[args.metric1]:.4g}, "
            f"{args.metric2} {lane[args.metric2]:.4g}"
        )
    return summary


COMMANDS = {
    "metamer": Command(build_metamer, write_metamer),
    "batch": Command(build_batch, write_batch),
    "eigendistortion": Command(build_eigendistortion, write_eigendistortion),
    "mad": Command(build_mad, write_mad),
}


# -- running --------------------------------------------------------------------------------------
def stored_arguments(args) -> dict:
    """Every parsed argument (what ``resume`` rebuilds the run from)."""
    return dict(sorted(vars(args).items()))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _run_synthesis(method, state, args, prior, checkpoint: Path, command_line: str):
    """``synthesize`` with the arguments' settings; every ``--checkpoint-every`` steps the state and
    the whole history so far are saved to ``checkpoint``."""
    import numpy as np

    import jaxoptic as jo

    options = {
        "max_iter": args.max_iter,
        "progress": not args.no_progress,
        "throw": False,
        "stop_iters_to_check": args.stop_iters_to_check,
    }
    if args.stop_criterion is not None:
        options["stop_criterion"] = args.stop_criterion
    every = args.checkpoint_every
    start = int(np.max(np.asarray(state.iteration)))
    if every:
        saved = [start]

        def save_every(st, hist):
            it = int(np.max(np.asarray(st.iteration)))
            if it - saved[0] >= every:
                jo.io.save(checkpoint, method, st, hist if prior is None else prior + hist)
                saved[0] = it

        options.update(callback=save_every, chunk_size=min(DEFAULT_CHUNK, every))
    with CompileClock() as clock:
        t0 = time.perf_counter()
        state, history = jo.synthesize(method, state, **options)
        elapsed = time.perf_counter() - t0
    run = {
        "command_line": command_line,
        "started_at_iteration": start,
        "max_iter": args.max_iter,
        "iterations": int(np.max(np.asarray(state.iteration))),
        "time_s": elapsed,
        "compile_time_s": clock.seconds,
        "run_time_s": max(elapsed - clock.seconds, 0.0),
        "finished": _now(),
    }
    return state, history, run


def _root_of(args) -> Path:
    """Where ``checkpoint/`` and ``summary.json`` go: ``--out``, or ``--out/process<p>`` for a
    batch of a multi-process run."""
    import jax

    if args.command == "batch" and jax.process_count() > 1:
        return Path(args.out) / f"process{jax.process_index()}"
    return Path(args.out)


def execute(args, command_line: str, previous: dict | None = None) -> int:
    """Run ``args.command`` (``previous``: the summary.json of the run to resume, if resuming)."""
    import jax
    import numpy as np

    import jaxoptic as jo

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    command = COMMANDS[args.command]
    if previous is not None and not (_root_of(args) / CHECKPOINT / "metadata.json").is_file():
        raise UsageError(
            f"resume: {str(_root_of(args))!r} has no checkpoint ({CHECKPOINT}/); the run stopped "
            "before its first checkpoint was written: start it again"
        )
    t_start = time.perf_counter()
    setup = command.build(args)
    setup_time = time.perf_counter() - t_start
    if setup.method is None:
        print(f"process {jax.process_index()} has no lanes of this batch; nothing to do")
        return 0
    root = setup.root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out: cannot create {str(root)!r} ({one_line(err)})") from err
    checkpoint = root / CHECKPOINT
    prior = None
    if previous is not None:
        try:
            setup.state, prior = jo.io.load(checkpoint, setup.method)
        except (jo.io.CheckpointError, FileNotFoundError) as err:
            raise UsageError(f"resume: {one_line(err)}") from err
        runs = list(previous.get("runs") or [])
        first_command_line = previous.get("command_line", command_line)
    else:
        runs = []
        first_command_line = command_line
        write_json(
            root / SUMMARY,
            {
                "command": args.command,
                "status": "running",
                "arguments": stored_arguments(args),
                "command_line": command_line,
                "started": _now(),
            },
        )
    state, history, run = _run_synthesis(
        setup.method, setup.state, args, prior, checkpoint, command_line
    )
    full = history if prior is None else prior + history
    jo.io.save(checkpoint, setup.method, state, full)
    runs.append(run)
    common = {
        "arguments": stored_arguments(args),
        "command_line": first_command_line,
        "runs": runs,
        "time_s": sum(r["time_s"] for r in runs),
        "compile_time_s": sum(r["compile_time_s"] for r in runs),
        "run_time_s": sum(r["run_time_s"] for r in runs),
        "setup_time_s": setup_time,
        "total_time_s": time.perf_counter() - t_start,
        "versions": versions(),
        "backend": backend(),
        "updated": _now(),
    }
    use_agg()
    command.write(args, setup, state, full, common)
    status = np.atleast_1d(np.asarray(state.status))
    if np.any(status == int(jo.Status.NONFINITE)):
        print(
            "jaxoptic: the objective became NaN or Inf; the outputs hold the last finite image. "
            "Try another seed, a smaller --learning-rate or --float64.",
            file=sys.stderr,
        )
        return 1
    return 0


def _cpu_devices_for_resume(directory: Path, args) -> None:
    """``--cpu-devices`` for a resumed batch (before JAX starts): its lanes, padding included, are
    read from the batch's summary. The resumed run is bitwise equal to an uninterrupted one only
    on the device count the checkpoint was written with (``io.load`` warns otherwise)."""
    summary = directory / SUMMARY
    try:
        previous = json.loads(summary.read_text())
        stored = previous["arguments"]
        if previous.get("command") != "batch":
            return
        lanes = len(stored["images"]) * len(stored["seeds"]) + int(stored.get("lane_padding", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return  # not a batch, or unreadable: the checks below say what is wrong
    configure_cpu_devices(args.cpu_devices, lanes)


def resume(args, subparsers: dict, command_line: str) -> int:
    """``jaxoptic resume DIR``: rebuild the run recorded in DIR/summary.json and continue it."""
    import argparse

    if args.distributed:
        initialize_distributed()
    directory = Path(args.directory)
    if not directory.is_dir():
        raise UsageError(f"resume: {str(directory)!r} is not a directory")
    if not args.distributed or args.cpu_devices != "auto":
        _cpu_devices_for_resume(directory, args)
    import jax

    root = directory
    if jax.process_count() > 1:
        root = directory / f"process{jax.process_index()}"
    if not (root / SUMMARY).is_file():
        raise UsageError(
            f"resume: {str(root)!r} has no {SUMMARY}; give the output directory of a jaxoptic "
            "metamer, batch, eigendistortion or mad run"
        )
    previous = read_json(root / SUMMARY, "resume")
    if "batch" in previous and isinstance(previous["batch"], dict):
        raise UsageError(
            f"resume: {str(directory)!r} is one lane of a batch; resume the whole batch: "
            f"jaxoptic resume {directory.resolve().parent}"
        )
    command = previous.get("command")
    stored = previous.get("arguments")
    if command not in COMMANDS or not isinstance(stored, dict):
        raise UsageError(
            f"resume: {str(root / SUMMARY)!r} does not describe a jaxoptic synthesis run"
        )
    defaults = {
        a.dest: a.default
        for a in subparsers[command]._actions
        if a.dest not in (argparse.SUPPRESS, "help")
    }
    ns = argparse.Namespace(**{**defaults, **stored})
    ns.command = command
    ns.out = str(directory)
    ns.max_iter = args.max_iter
    ns.no_progress = args.no_progress
    ns.distributed = args.distributed
    if args.checkpoint_every is not None:
        ns.checkpoint_every = args.checkpoint_every
    saved_processes = (previous.get("process") or {}).get("count", 1)
    if command == "batch" and saved_processes != jax.process_count():
        raise UsageError(
            f"resume: the batch ran on {saved_processes} process(es), this is "
            f"{jax.process_count()}; resume it with the same number of processes"
        )
    return execute(ns, command_line, previous)
