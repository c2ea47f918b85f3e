"""``jaxoptic sweep``: many metamer runs described by one file, run one job (or one slice) at a time.

A sweep file is JSON or CSV. JSON is either a list of jobs (each a dict of ``metamer`` options) or a
grid ``{"images": [...], "models": [...], "seeds": [...], "settings": [{...}, ...]}`` whose
cartesian product (images, then models, then seeds, then settings) gives the jobs. CSV has one job
per row; its columns are ``metamer`` options (empty cells keep the default). Option names are
spelled as on the command line or with underscores (``max-iter``, ``max_iter``, ``--max-iter``).
Relative image paths are relative to the sweep file's directory.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

from ._common import (
    BUNDLED,
    ArgumentError,
    UsageError,
    image_name,
    initialize_distributed,
    one_line,
)

_GRID_KEYS = ("images", "models", "seeds", "settings")
# metamer options a sweep file cannot set (the job's directory and the progress bar are the sweep's)
_NOT_IN_FILE = ("out", "no_progress", "help")


@dataclasses.dataclass
class Job:
    index: int
    name: str
    options: dict
    args: object  # the parsed metamer arguments


def _normalize(key) -> str:
    return str(key).strip().lstrip("-").replace("-", "_")


def _grid_jobs(grid: dict, where: str) -> list[dict]:
    unknown = sorted(set(grid) - set(_GRID_KEYS))
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; a grid has "
            f"{', '.join(_GRID_KEYS)} (or give a list of jobs)"
        )

    def listed(key, default):
        value = grid.get(key, default)
        if not isinstance(value, list) or not value:
            raise UsageError(f"{where}: {key!r} must be a non-empty list, got {value!r}")
        return value

    if "images" not in grid:
        raise UsageError(f"{where}: a grid needs 'images' (a list of bundled names or files)")
    images = listed("images", None)
    models = listed("models", [None])
    seeds = listed("seeds", [0])
    settings = listed("settings", [{}])
    for s in settings:
        if not isinstance(s, dict):
            raise UsageError(f"{where}: every entry of 'settings' must be an object, got {s!r}")
        clash = {_normalize(k) for k in s} & {"image", "model", "seed"}
        if clash:
            raise UsageError(
                f"{where}: 'settings' cannot set {', '.join(sorted(clash))}; use the lists "
                "'images', 'models' and 'seeds'"
            )
    jobs = []
    for image in images:
        for model in models:
            for seed in seeds:
                for setting in settings:
                    job = {"image": image, "seed": seed}
                    if model is not None:
                        job["model"] = model
                    job.update(setting)
                    jobs.append(job)
    return jobs


def _file_jobs(path: Path) -> list[dict]:
    where = f"sweep file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{where} cannot be read ({one_line(err)})") from err
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as err:
            raise UsageError(f"{where} is not valid JSON ({one_line(err)})") from err
        if isinstance(data, dict):
            return _grid_jobs(data, where)
        if isinstance(data, list):
            for i, job in enumerate(data):
                if not isinstance(job, dict):
                    raise UsageError(f"{where}: job {i} must be an object of options, got {job!r}")
            return data
        raise UsageError(f"{where}: expected a list of jobs or a grid object")
    if suffix == ".csv":
        rows = list(csv.reader(text.splitlines()))
        rows = [r for r in rows if any(cell.strip() for cell in r)]
        if len(rows) < 2:
            raise UsageError(f"{where} needs a header row of option names and one row per job")
        header = [h.strip() for h in rows[0]]
        if "" in header:
            raise UsageError(f"{where}: the header row has an empty column name")
        jobs = []
        for n, row in enumerate(rows[1:]):
            if len(row) != len(header):
                raise UsageError(
                    f"{where}: row {n + 2} has {len(row)} cells but the header has {len(header)}"
                )
            jobs.append({h: c.strip() for h, c in zip(header, row, strict=True) if c.strip()})
        return jobs
    raise UsageError(f"{where}: the file name must end in .json or .csv")


def _as_argv(job: dict, metamer_parser, base: Path, where: str) -> list[str]:
    flags = {a.dest for a in metamer_parser._actions if a.nargs == 0}
    known = sorted(
        a.dest for a in metamer_parser._actions if a.dest not in _NOT_IN_FILE and a.option_strings
    )
    argv: list[str] = []
    for key, value in job.items():
        name = _normalize(key)
        if name not in known:
            raise UsageError(
                f"{where}: unknown option {key!r}; sweep jobs take the metamer options "
                f"{', '.join(known)}"
            )
        option = "--" + name.replace("_", "-")
        if name in flags:
            text = str(value).strip().lower()
            if value is True or text in ("true", "1", "yes"):
                argv.append(option)
            elif not (value is False or text in ("false", "0", "no", "")):
                raise UsageError(f"{where}: {key!r} must be true or false, got {value!r}")
            continue
        if isinstance(value, bool) or isinstance(value, list | dict) or value is None:
            raise UsageError(f"{where}: {key!r} must be a number or a string, got {value!r}")
        text = str(value)
        if name == "image" and text not in BUNDLED and not Path(text).expanduser().is_absolute():
            text = str(base / text)
        argv += [option, text]
    return argv


def read_jobs(path, metamer_parser) -> list[Job]:
    """The jobs of a sweep file, parsed and checked as ``metamer`` arguments."""
    path = Path(path)
    jobs = []
    for i, options in enumerate(_file_jobs(path)):
        where = f"sweep file {str(path)!r}, job {i}"
        argv = _as_argv(options, metamer_parser, path.resolve().parent, where)
        try:
            ns = metamer_parser.parse_args(argv)
        except ArgumentError as err:
            raise UsageError(f"{where}: {err.message}") from None
        ns.command = "metamer"
        name = f"{i:04d}_{image_name(ns.image)}_{ns.model}_seed{ns.seed}"
        jobs.append(Job(i, name, options, ns))
    if not jobs:
        raise UsageError(f"sweep file {str(path)!r} has no jobs")
    return jobs


def _selected(args, n_jobs: int) -> list[int]:
    if args.all:
        return list(range(n_jobs))
    index = args.index
    if index is None:
        env = os.environ.get("SLURM_ARRAY_TASK_ID")
        if env is None:
            raise UsageError(
                "sweep: give --index i (0 to "
                f"{n_jobs - 1}) or --all, or run it as a SLURM array job (SLURM_ARRAY_TASK_ID is "
                "not set); --list shows the jobs"
            )
        try:
            index = int(env)
        except ValueError:
            raise UsageError(f"sweep: SLURM_ARRAY_TASK_ID is {env!r}, not a whole number") from None
        source = "SLURM_ARRAY_TASK_ID"
    else:
        source = "--index"
    if not 0 <= index < n_jobs:
        raise UsageError(
            f"sweep: {source} {index} is out of range; the sweep has {n_jobs} jobs (0 to {n_jobs - 1})"
        )
    return [index]


def run_sweep(args, metamer_parser, command_line: str) -> int:
    jobs = read_jobs(args.file, metamer_parser)
    if args.list:
        print(f"{len(jobs)} jobs")
        for job in jobs:
            print(f"{job.index}\t{job.name}")
        return 0
    selected = _selected(args, len(jobs))
    if args.distributed:
        initialize_distributed()
        import jax

        count, index = jax.process_count(), jax.process_index()
        selected = [j for k, j in enumerate(selected) if k % count == index]
    from ._jobs import execute

    out = Path(args.out)
    code = 0
    for i in selected:
        job = jobs[i]
        ns = job.args
        ns.out = str(out / job.name)
        ns.no_progress = args.no_progress
        ns.sweep = {
            "file": str(Path(args.file).resolve()),
            "index": i,
            "jobs": len(jobs),
            "name": job.name,
        }
        print(f"sweep job {i} of {len(jobs)}: {job.name}")
        code = max(code, execute(ns, command_line))
    return code
