"""Checkpoints of synthesis runs: state and history arrays through orbax, a JSON description of the
method, checks on load, atomic writes."""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import platform
import shutil
import uuid
import warnings
from importlib import metadata as _metadata
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..synthesis._history import History
from . import _isolated, _schema
from ._describe import (
    array_sha256,
    compare_configs,
    describe_method,
    describe_structure,
    dtype_name,
    is_key,
    method_fingerprint,
    public_name,
)

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "CheckpointSaveError",
    "LoadWarning",
    "load",
    "read_metadata",
    "save",
]

FORMAT = "jaxoptic.checkpoint"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
ARRAYS_DIR = "arrays"

# Old format versions this version can read, each with a function that brings its metadata to the
# next version (none yet: version 1 is the first).
_MIGRATIONS: dict[int, object] = {}


class LoadWarning(UserWarning):
    """A checkpoint was loaded although something differs from when it was saved (a configuration
    mismatch with ``raise_on_checks=False``, other library versions, another backend or, for a
    batch, another device count)."""


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded as asked: the method does not match it, or its files are
    damaged, or it was written by an unknown format version.

    The message names each field that differs, its value in the checkpoint and in the method, and
    the fix. ``mismatches`` holds ``(field, saved value, current value)`` tuples; ``field`` is the
    first one's field (None when the error is not about a field).
    """

    def __init__(self, message: str, mismatches: list | tuple = ()):
        super().__init__(message)
        self.mismatches = list(mismatches)
        self.field = self.mismatches[0][0] if self.mismatches else None


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (disk full, permission denied, ...). Any previous
    checkpoint at the same path is left as it was."""


# -- helpers ---------------------------------------------------------------------------------------
def _versions() -> dict:
    out = {}
    for dist in ("jaxoptic", "jax", "jaxlib", "optax", "equinox", "orbax-checkpoint", "numpy"):
        try:
            out[dist] = _metadata.version(dist)
        except _metadata.PackageNotFoundError:
            out[dist] = None
    if out["jaxoptic"] is None:
        from .. import __version__

        out["jaxoptic"] = __version__
    out["python"] = platform.python_version()
    return out


def _x64() -> bool:
    return jax.dtypes.canonicalize_dtype(np.float64) == np.dtype(np.float64)


def _backend() -> dict:
    device = jax.devices()[0]
    return {
        "platform": jax.default_backend(),
        "device_kind": getattr(device, "device_kind", None),
        "n_devices": jax.device_count(),
        "x64": _x64(),
    }


def _is_batched(state) -> bool:
    iteration = getattr(state, "iteration", None)
    if iteration is None or not hasattr(iteration, "ndim"):
        raise TypeError(
            "`state` must be a synthesis state with an `iteration` array (from method.init or "
            f"jaxoptic.synthesize), got {type(state).__name__}."
        )
    return iteration.ndim == 1


def _state_leaves(state) -> list[tuple[str, object]]:
    """``(path, array)`` for every leaf of ``state``; anything but arrays is refused."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        name = jax.tree_util.keystr(path)
        if not isinstance(leaf, (jax.Array, np.ndarray)):
            raise TypeError(
                f"The state leaf `{name}` is a {type(leaf).__name__}; a synthesis state must hold "
                "arrays only (checkpoints store arrays, never Python objects)."
            )
        out.append((name, leaf))
    return out


def _leaf_record(name: str, key: str | None, leaf) -> dict:
    return {
        "path": name,
        "key": key,
        "dtype": dtype_name(leaf),
        "shape": [int(s) for s in leaf.shape],
        "sha256": array_sha256(leaf),
    }


def _history_arrays(history: History) -> list[tuple[str, str | None, np.ndarray]]:
    """``(kind, record name, array)`` for the arrays of a History."""
    out = [("iterations", None, np.asarray(history.iterations))]
    out += [("record", name, np.asarray(v)) for name, v in history.records.items()]
    if history.saved_images is not None:
        out.append(("saved_images", None, np.asarray(history.saved_images)))
    if history.saved_iterations is not None:
        out.append(("saved_iterations", None, np.asarray(history.saved_iterations)))
    return out


def _optimizer_description(state) -> str | None:
    opt_state = getattr(state, "opt_state", None)
    return None if opt_state is None else describe_structure(opt_state)


def _describe_run(method, state) -> dict:
    """The parts of the metadata that describe the method (compared on load)."""
    config = describe_method(method)
    optimizer = _optimizer_description(state)
    if optimizer is not None:
        config["optimizer"] = optimizer
    return {
        "class": public_name(type(method)),
        "config": config,
        "fingerprint": method_fingerprint(method),
    }


def _summary(method, config: dict, optimizer) -> dict:
    """Human-readable headline of the configuration (the full description is ``method.config``)."""
    out = {"method": public_name(type(method))}
    for field in ("model", "loss_function", "penalty_function", "metrics[0]", "metrics[1]"):
        if field in config:
            out[field] = config[field]
    if optimizer is not None:
        out["optimizer"] = optimizer
    return out


# -- writing ---------------------------------------------------------------------------------------
def _write_arrays(directory: Path, arrays: dict) -> None:
    """Write ``{key: array}`` with orbax into ``directory`` (which must not exist); under
    ``jax.distributed``, in a child process (see ``_isolated``)."""
    if _isolated.needed():
        return _isolated.write(directory, arrays)
    import orbax.checkpoint as ocp

    checkpointer = ocp.Checkpointer(ocp.StandardCheckpointHandler())
    try:
        checkpointer.save(directory, args=ocp.args.StandardSave(arrays))
    finally:
        checkpointer.close()


def _write_json(path: Path, obj: dict) -> None:
    """Write JSON durably: a temporary file, fsync, then rename over ``path``."""
    part = path.with_name(path.name + ".part")
    with open(part, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. some network filesystems)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _siblings(path: Path, tag: str) -> list[Path]:
    """Leftovers of interrupted saves of ``path``: ``.<name>.<tag>-<id>`` next to it."""
    prefix = f".{path.name}.{tag}-"
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(prefix))


def _is_checkpoint(path: Path) -> bool:
    return (path / METADATA_FILE).is_file()


def _recover(path: Path) -> None:
    """Finish an interrupted replacement: if ``path`` is missing but the previous checkpoint was
    moved aside, move it back; remove leftovers that are no longer needed."""
    previous = [p for p in _siblings(path, "previous") if _is_checkpoint(p)]
    if not path.exists() and previous:
        os.replace(previous[-1], path)
    for p in _siblings(path, "previous") + _siblings(path, "tmp"):
        shutil.rmtree(p, ignore_errors=True)


def _save_error(path: Path, err: BaseException) -> CheckpointSaveError:
    code = getattr(err, "errno", None)
    text = str(err)
    if code is None:
        if "No space left" in text:
            code = errno.ENOSPC
        elif "Permission denied" in text:
            code = errno.EACCES
    if code == errno.ENOSPC:
        hint = "The disk is full: free some space or save to another disk."
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = f"Permission denied: choose a directory you can write to, or fix the permissions of {path.parent}."
    else:
        hint = "Check that the parent directory exists and is writable."
    message = (
        f"Could not write the checkpoint {path}: {text or type(err).__name__}. {hint} "
        f"Any previous checkpoint at {path} is unchanged."
    )
    out = CheckpointSaveError(code or 0, message)
    out.filename = str(path)
    return out


def save(path, method, state, history: History | None = None, *, overwrite: bool = True) -> Path:
    """Save a synthesis run: ``state`` (and ``history``) of ``method`` into the directory ``path``.

    The directory holds the arrays, written by orbax-checkpoint under ``arrays/``, and
    ``metadata.json``: the format version, the versions of jaxoptic, jax, optax, equinox and orbax,
    the backend, the method's class and configuration (model class and options, loss, penalty and
    metric names, the optimizer's state structure, scalar weights), a sha256 fingerprint of the
    method's arrays (target image(s), model arrays), the iteration count, and the path, dtype, shape
    and sha256 of every saved array. Nothing callable and nothing pickled is written: the method
    itself is not saved; :func:`load` takes it, built again by the user, and checks it against the
    metadata.

    The save is atomic: everything is written into a hidden temporary directory next to ``path``,
    which then replaces ``path``. An interrupted save leaves the previous checkpoint at ``path`` (if
    any) intact and nothing at ``path`` that loads half-written.

    In a multi-process JAX program (``jax.distributed``, e.g. ``jaxoptic batch --distributed``)
    each process saves its own checkpoint. orbax would treat the save as one checkpoint shared by
    all processes, so it then runs in a child Python process on CPU, which is not part of the
    distributed job (about 2 s more per save); the files are those of a single-process save.

    Parameters
    ----------
    path
        Directory to write (created, with its parents).
    method
        The synthesis method (e.g. a :class:`jaxoptic.Metamer`), single or a batch.
    state
        Its state (from ``method.init`` or :func:`jaxoptic.synthesize`).
    history
        Optional :class:`jaxoptic.History` to save with it.
    overwrite
        Replace an existing checkpoint at ``path`` (default). A directory at ``path`` that is not a
        checkpoint is never replaced.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    CheckpointSaveError
        (an ``OSError``) when the checkpoint cannot be written: disk full, permission denied, a
        parent that is not a directory. The previous checkpoint, if any, is unchanged.
    FileExistsError
        If ``path`` exists and is not a checkpoint, or is one and ``overwrite=False``.
    TypeError
        If ``state`` is not a synthesis state of arrays.

    Examples
    --------
    >>> import tempfile, jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :16, :16]
    >>> met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=3, progress=False)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = jo.io.save(f"{tmp}/run", met, state, history)
    ...     sorted(p.name for p in path.iterdir())
    ['arrays', 'metadata.json']
    """
    path = Path(os.fspath(path)).absolute()
    batched = _is_batched(state)
    leaves = _state_leaves(state)
    if history is not None and not isinstance(history, History):
        raise TypeError(
            f"`history` must be a jaxoptic.History or None, got {type(history).__name__}."
        )

    # -- describe everything first (host copies, checksums) --------------------------------------
    arrays: dict = {}
    state_records = []
    for i, (name, leaf) in enumerate(leaves):
        key = f"state_{i:04d}" if leaf.size else None
        if key is not None:
            arrays[key] = leaf
        state_records.append(_leaf_record(name, key, leaf))
    history_meta = None
    if history is not None:
        entries = []
        for i, (kind, name, arr) in enumerate(_history_arrays(history)):
            key = f"history_{i:04d}" if arr.size else None
            if key is not None:
                arrays[key] = arr
            rec = _leaf_record(kind if name is None else f"records[{name}]", key, arr)
            rec["kind"], rec["name"] = kind, name
            entries.append(rec)
        history_meta = {"length": len(history), "arrays": entries}
    run = _describe_run(method, state)
    iteration = np.asarray(state.iteration)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "backend": _backend(),
        "summary": _summary(method, run["config"], run["config"].get("optimizer")),
        "method": run,
        "batch_size": int(iteration.shape[0]) if batched else None,
        "iteration": iteration.tolist(),
        "state": {"class": public_name(type(state)), "leaves": state_records},
        "history": history_meta,
    }

    # -- write into a temporary sibling, then swap it in ------------------------------------------
    if path.exists() and not _is_checkpoint(path):
        raise FileExistsError(
            f"{path} exists and is not a jaxoptic checkpoint (no {METADATA_FILE}); refusing to replace "
            "it. Choose another path."
        )
    if path.exists() and not overwrite:
        raise FileExistsError(f"A checkpoint exists at {path}; pass overwrite=True to replace it.")
    token = uuid.uuid4().hex[:12]
    tmp = path.parent / f".{path.name}.tmp-{token}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _recover(path)
        os.mkdir(tmp)
        _write_arrays(tmp / ARRAYS_DIR, arrays)
        _write_json(tmp / METADATA_FILE, meta)
        _fsync_dir(tmp)
        if path.exists():
            aside = path.parent / f".{path.name}.previous-{token}"
            os.replace(path, aside)
            os.replace(tmp, path)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if (
            isinstance(err, OSError)
            or "No space left" in str(err)
            or "Permission denied" in str(err)
        ):
            raise _save_error(path, err) from err
        raise
    return path


# -- reading ---------------------------------------------------------------------------------------
def read_metadata(path) -> dict:
    """The metadata of the checkpoint at ``path`` (a dict, as written to ``metadata.json``), after
    checking its format version and the type and range of every field :func:`load` uses (no arrays
    are read).

    Raises
    ------
    CheckpointError
        If ``metadata.json`` is missing, not JSON, of an unknown format version, or has a missing
        or malformed field (damaged, or edited by hand): the message and ``err.field`` name it.
    FileNotFoundError
        If there is nothing at ``path``.

    Examples
    --------
    >>> import tempfile, jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :16, :16]
    >>> met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     meta = jo.io.read_metadata(jo.io.save(f"{tmp}/run", met, met.init(key=jax.random.key(0))))
    >>> meta["summary"]["model"], meta["summary"]["loss_function"], meta["iteration"]
    ('jaxoptic.models.Gaussian', 'jaxoptic.losses.mse', 0)
    """
    path = Path(os.fspath(path))
    file = path / METADATA_FILE
    if not file.is_file():
        if not path.exists():
            raise FileNotFoundError(f"No checkpoint at {path}: the path does not exist.")
        raise CheckpointError(
            f"{path} is not a complete jaxoptic checkpoint: {METADATA_FILE} is missing (an interrupted "
            "save never leaves one; was this directory written by jaxoptic.io.save?)."
        )
    size = file.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise _damaged(
            file, METADATA_FILE, f"is {size} bytes long; jaxoptic writes a few kilobytes", size
        )
    try:
        with open(file, encoding="utf-8") as f:
            meta = json.load(f)
    except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError, huge ints
        text = str(err) if len(str(err)) <= 200 else str(err)[:197] + "..."
        raise CheckpointError(
            f"{file} is corrupted (not valid JSON: {type(err).__name__}: {text}). {_DAMAGED_FIX}",
            [("metadata", None, None)],
        ) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = type(meta).__name__ if not isinstance(meta, dict) else repr(meta.get("format"))
        raise CheckpointError(
            f"{file} does not describe a jaxoptic checkpoint (its `format` must be {FORMAT!r}, found "
            f"{found}). {_DAMAGED_FIX}",
            [("format", None if not isinstance(meta, dict) else meta.get("format"), FORMAT)],
        )
    meta = _migrate(meta, path)
    try:
        _schema.validate(meta)
    except _schema.SchemaError as err:
        raise _damaged(file, err.field, err.problem, err.value) from None
    return meta


_DAMAGED_FIX = (
    "Fix: metadata.json is written by jaxoptic.io.save and must not be edited; restore the "
    "original file, load an earlier checkpoint (jaxoptic.io.all_steps lists them), or run and save "
    "again."
)

# metadata.json is a few kilobytes (the configuration, one record per array); anything this large
# is not one
MAX_METADATA_BYTES = 64 * 2**20


def _damaged(file: Path, field: str, problem: str, value=None) -> CheckpointError:
    """A malformed field of metadata.json: CheckpointError naming it, with the fix."""
    return CheckpointError(
        f"{file} is corrupted (damaged, or edited by hand): `{field}` {problem}. {_DAMAGED_FIX}",
        [(field, value, None)],
    )


def _migrate(meta: dict, path: Path) -> dict:
    version = meta.get("format_version")
    versions = meta.get("versions")
    written_by = versions.get("jaxoptic") if isinstance(versions, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(
            f"The checkpoint {path} has an invalid format version {_schema.show(version)} "
            f"(`format_version` must be a positive integer). {_DAMAGED_FIX}",
            [("format_version", version, FORMAT_VERSION)],
        )
    if version > FORMAT_VERSION:
        from .. import __version__

        raise CheckpointError(
            f"The checkpoint {path} has format version {version}, written by jaxoptic {written_by}; this "
            f"jaxoptic ({__version__}) reads format versions up to {FORMAT_VERSION}. To migrate: upgrade "
            f"jaxoptic (pip install -U jaxoptic) to {written_by} or later and load it there. To use it "
            f"with this version instead, load it with jaxoptic {written_by} and take the images out "
            "(state.image), then start a new run here from them (method.init(initial_image=...)).",
            [("format_version", version, FORMAT_VERSION)],
        )
    while version < FORMAT_VERSION:
        if version not in _MIGRATIONS:
            raise CheckpointError(
                f"The checkpoint {path} has format version {version}, which this jaxoptic cannot read "
                f"(it reads {FORMAT_VERSION}). To migrate: load it with jaxoptic {written_by} and save "
                "the images (state.image), then start a new run from them (method.init(initial_image=...)).",
                [("format_version", version, FORMAT_VERSION)],
            )
        meta = _MIGRATIONS[version](meta)
        version = meta["format_version"]
    return meta


def _template(method, batch_size: int | None, like):
    """The abstract state the method makes: ``jax.eval_shape`` of ``method.init(key=...)``
    (vmapped over the batch), or of ``like``."""
    if like is not None:
        return jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if eqx.is_array(x) else x, like
        )

    def build():
        if batch_size is None:
            return method.init(key=jax.random.key(0))
        keys = jax.random.split(jax.random.key(0), batch_size)
        return eqx.filter_vmap(lambda m, k: m.init(key=k))(method, keys)

    try:
        return jax.eval_shape(build)
    except Exception as err:
        where = (
            f"a batch of {batch_size} (vmapped over the leading axis of the method's arrays)"
            if batch_size is not None
            else "one method (not a batch)"
        )
        raise CheckpointError(
            f"Could not derive the state structure from the method ({type(err).__name__}: {err}). The "
            f"checkpoint holds {where}; build the method the same way, or pass `like=` a state of the "
            "right structure (e.g. from method.init)."
        ) from err


def _resizable(path: str) -> bool:
    """Ring buffers of recent losses (``*_window`` fields), which synthesize resizes to
    ``stop_iters_to_check``: only their last axis may differ from a fresh ``init``."""
    return path.split(".")[-1].split("[")[0].endswith("_window")


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _mismatch_line(field: str, saved, current, fix: str) -> str:
    return f"  - `{field}`: checkpoint {_short(saved)}, method {_short(current)}. Fix: {fix}"


def _config_fix(field: str) -> str:
    if field == "fingerprint":
        return "build the method from the same target image(s) and model as when saving."
    if field == "class":
        return "build the same synthesis method class as when saving."
    if field == "optimizer":
        return "build the method with the same optimizer as when saving."
    return f"build the method with the same `{field}` as when saving."


def _few(names: list, n: int = 5) -> str:
    shown = ", ".join(names[:n])
    return f"[{shown}{f', ... ({len(names) - n} more)' if len(names) > n else ''}]"


def _check_leaves(saved: list[dict], template, saved_x64: bool) -> tuple[list, list]:
    """Compare the saved state leaves with the method's abstract state; returns ``(hard
    mismatches, messages)``."""
    flat, _ = jax.tree_util.tree_flatten_with_path(template)
    names = [jax.tree_util.keystr(p) for p, _ in flat]
    saved_names = [rec["path"] for rec in saved]
    mismatches, lines = [], []
    if names != saved_names:
        missing = [n for n in saved_names if n not in names]
        extra = [n for n in names if n not in saved_names]
        detail = (
            f"only in the checkpoint: {_few(missing)}; only in the method's state: {_few(extra)}"
        )
        mismatches.append(("state structure", saved_names, names))
        lines.append(
            f"  - `state structure` differs ({detail}). Fix: build the same method class with the same "
            "optimizer as when saving (the optimizer state is part of the state)."
        )
        return mismatches, lines
    x64_hint = (
        " The checkpoint was written with jax_enable_x64="
        f"{saved_x64}; enable or disable it the same way before building the method."
        if saved_x64 != _x64()
        else ""
    )
    for rec, (_, leaf) in zip(saved, flat, strict=True):
        field = f"state{rec['path']}"
        if rec["dtype"] != dtype_name(leaf):
            mismatches.append((field, rec["dtype"], dtype_name(leaf)))
            lines.append(
                _mismatch_line(
                    f"{field} dtype",
                    rec["dtype"],
                    dtype_name(leaf),
                    "build the method with the dtype of the saved run (e.g. the target image's "
                    f"dtype).{x64_hint}",
                )
            )
            continue
        shape, want = tuple(rec["shape"]), tuple(leaf.shape)
        same = shape == want or (
            _resizable(rec["path"]) and len(shape) == len(want) and shape[:-1] == want[:-1]
        )
        if not same:
            mismatches.append((field, list(shape), list(want)))
            lines.append(
                _mismatch_line(
                    f"{field} shape",
                    list(shape),
                    list(want),
                    "build the method with the image size, batch size and options of the saved run.",
                )
            )
    return mismatches, lines


def _stored_metadata(directory: Path) -> dict:
    """``{key: (shape, dtype)}`` as orbax recorded them (empty if orbax cannot tell); under
    ``jax.distributed``, asked in a child process (see ``_isolated``)."""
    if _isolated.needed():
        return _isolated.stored_metadata(directory)
    import orbax.checkpoint as ocp

    checkpointer = ocp.Checkpointer(ocp.StandardCheckpointHandler())
    try:
        tree = checkpointer.metadata(directory).item_metadata.tree
        return {k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in tree.items()}
    except Exception:  # an orbax without this metadata API: the checksums still guard the data
        return {}
    finally:
        checkpointer.close()


def _read_arrays(directory: Path, abstract: dict) -> dict:
    """Read ``{key: array}`` with orbax against ``abstract`` (``{key: ShapeDtypeStruct or numpy
    array}``); under ``jax.distributed``, in a child process (see ``_isolated``)."""
    if _isolated.needed():
        return _isolated.read(directory, abstract)
    import orbax.checkpoint as ocp

    checkpointer = ocp.Checkpointer(ocp.StandardCheckpointHandler())
    try:
        return checkpointer.restore(directory, args=ocp.args.StandardRestore(abstract))
    finally:
        checkpointer.close()


def _on_disk(shape, dtype) -> tuple[tuple, np.dtype]:
    """Shape and dtype of an array as orbax stores it (typed keys as their key data)."""
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        out = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(shape, dtype))
        return tuple(out.shape), np.dtype(out.dtype)
    return tuple(shape), np.dtype(dtype)


def _corrupted(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"The checkpoint {path} is corrupted: {what}. Its files were changed or damaged after "
        "saving; load an earlier checkpoint (jaxoptic.io.latest lists complete ones) or run again.",
        [("checksum", None, None)],
    )


def load(path, method, raise_on_checks: bool = True, *, like=None):
    """Load a run saved by :func:`save`: returns ``(state, history)`` for ``method``.

    As with plenoptic, the method is built again by the user (nothing callable is stored) and
    checked against the checkpoint's metadata:

    - ``metadata.json`` itself, first: every field ``load`` uses must be present and well-formed
      (types, dtype names, non-negative sizes of a plausible total, unique array keys, a history
      whose arrays agree with its length). A damaged or hand-edited field raises
      :class:`CheckpointError` naming it (``err.field``, e.g. ``state.leaves[0].shape``). Sizes are
      then checked against the array files before anything is read: nothing is allocated from the
      numbers in ``metadata.json``;
    - configuration: the method class, the model class and its options, the loss, penalty and
      metric names, scalar weights, the optimizer's state structure, and the fingerprint of the
      target image(s) and model arrays. A mismatch raises :class:`CheckpointError` naming the field,
      both values and the fix; with ``raise_on_checks=False`` it is a :class:`LoadWarning` instead;
    - state structure, shapes and dtypes: always an error (the arrays could not be used);
    - every array's sha256, after reading: always an error (orbax casts dtypes silently and reads
      damaged bytes without complaint; these checks catch both);
    - other versions of jaxoptic, jax, optax, equinox or orbax, another backend, or (for a batch)
      another device count: a :class:`LoadWarning` (the run continues, but may not be bitwise equal
      to an uninterrupted one; see ``docs/reproducibility.md``).

    The state's structure comes from ``jax.eval_shape`` of ``method.init(key=...)`` (vmapped over the
    batch for a batched checkpoint), so optimizer states (optax NamedTuples) are restored as they
    were, bitwise. Ring buffers whose field name ends in ``_window`` keep their saved size.

    In a multi-process JAX program (``jax.distributed``) each process loads its own checkpoint;
    orbax then runs in child Python processes on CPU, as for :func:`save` (about 3 s more).

    Parameters
    ----------
    path
        The checkpoint directory.
    method
        The method, built again as when saving (a batch for a batched checkpoint).
    raise_on_checks
        Raise on configuration mismatches (default) or only warn.
    like
        A state with the saved structure, for methods whose ``init`` cannot be called with only
        ``key=``.

    Returns
    -------
    state, history
        The restored state (jax arrays on the default device) and :class:`jaxoptic.History`
        (None if none was saved).

    Raises
    ------
    CheckpointError
        (a ``ValueError``) for a mismatch, a damaged checkpoint, or an unknown format version.
    FileNotFoundError
        If there is no checkpoint at ``path``.

    Examples
    --------
    >>> import tempfile, jax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :16, :16]
    >>> met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=3, progress=False)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = jo.io.save(f"{tmp}/run", met, state, history)
    ...     same = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0))
    ...     loaded, loaded_history = jo.io.load(f"{tmp}/run", same)
    ...     other = jo.Metamer(img, jo.models.Gaussian((5, 5), std=2.0))
    ...     try:
    ...         jo.io.load(f"{tmp}/run", other)
    ...     except jo.io.CheckpointError as err:
    ...         print(err.field)
    model.std
    >>> int(loaded.iteration), bool((loaded.image == state.image).all()), len(loaded_history)
    (3, True, 3)
    """
    path = Path(os.fspath(path)).absolute()
    if not path.exists():
        previous = [p for p in _siblings(path, "previous") if _is_checkpoint(p)]
        if previous:
            warnings.warn(
                f"No checkpoint at {path}, but a save of it was interrupted while replacing the "
                f"previous checkpoint; loading that one ({previous[-1].name}).",
                LoadWarning,
                stacklevel=2,
            )
            path = previous[-1]
    meta = read_metadata(path)
    batch_size = meta.get("batch_size")
    template = _template(method, batch_size, like)

    # -- configuration (warnable) ----------------------------------------------------------------
    saved_run = meta["method"]
    current = _describe_run(method, template)
    config_mismatches = []
    if saved_run["class"] != current["class"]:
        config_mismatches.append(("class", saved_run["class"], current["class"]))
    config_mismatches += compare_configs(saved_run["config"], current["config"])
    if saved_run["fingerprint"] != current["fingerprint"] and not any(
        isinstance(a, dict) or isinstance(b, dict) for _, a, b in config_mismatches
    ):
        # the per-array entries above name the array that changed; this catches anything else
        config_mismatches.append(("fingerprint", saved_run["fingerprint"], current["fingerprint"]))

    # -- structure, dtypes, shapes (always errors) ------------------------------------------------
    saved_x64 = bool((meta.get("backend") or {}).get("x64", _x64()))
    hard, hard_lines = _check_leaves(meta["state"]["leaves"], template, saved_x64)
    environment = _environment_differences(meta)
    if hard:
        config_lines = [_mismatch_line(f, a, b, _config_fix(f)) for f, a, b in config_mismatches]
        more = (
            "\nThe configuration differs too:\n" + "\n".join(config_lines) if config_lines else ""
        )
        if environment:
            versions = ", ".join(environment)
            more += (
                f"\nThe checkpoint was written with other library versions ({versions}). If the "
                "state's structure changed between them, migrate by loading the checkpoint with the "
                "versions that wrote it (see metadata.json), taking the images out (state.image) and "
                "starting a new run from them here (method.init(initial_image=...))."
            )
        raise CheckpointError(
            f"The checkpoint {path} does not fit the method's state (this cannot be overridden with "
            "raise_on_checks=False):\n" + "\n".join(hard_lines) + more,
            hard + config_mismatches,
        )
    if config_mismatches:
        lines = [_mismatch_line(f, a, b, _config_fix(f)) for f, a, b in config_mismatches]
        if raise_on_checks:
            raise CheckpointError(
                f"The method does not match the checkpoint {path}:\n"
                + "\n".join(lines)
                + "\nOr pass raise_on_checks=False to load it anyway (with a LoadWarning).",
                config_mismatches,
            )
        for line in lines:
            warnings.warn(
                f"Loading {path} although the method differs:\n{line}", LoadWarning, stacklevel=2
            )
    _warn_environment(environment, path)

    # -- the arrays ---------------------------------------------------------------------------------
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    device = jax.devices()[0]
    sharding = jax.sharding.SingleDeviceSharding(device)
    abstract, expected = {}, {}
    for rec, (_, leaf) in zip(meta["state"]["leaves"], flat, strict=True):
        if rec["key"] is not None:
            abstract[rec["key"]] = jax.ShapeDtypeStruct(
                tuple(rec["shape"]), leaf.dtype, sharding=sharding
            )
            expected[rec["key"]] = (rec, leaf.dtype)
    history_meta = meta.get("history")
    if history_meta is not None:
        for rec in history_meta["arrays"]:
            if rec["key"] is not None:
                dtype = np.dtype(jnp.dtype(rec["dtype"]))
                # a numpy array tells orbax to restore a numpy array; a zero-stride view of one
                # element, so that nothing is allocated from the sizes in metadata.json (the reader
                # returns what the files hold, checked below)
                abstract[rec["key"]] = np.broadcast_to(np.zeros((), dtype), tuple(rec["shape"]))
                expected[rec["key"]] = (rec, dtype)
    arrays_dir = path / ARRAYS_DIR
    if not arrays_dir.is_dir():
        raise _corrupted(path, f"the array directory {ARRAYS_DIR}/ is missing")
    stored = _stored_metadata(arrays_dir)
    if stored:
        if set(stored) != set(abstract):
            raise _corrupted(
                path,
                f"the array files hold {sorted(stored)} but {METADATA_FILE} lists {sorted(abstract)}",
            )
        for key, (rec, dtype) in expected.items():
            want = _on_disk(tuple(rec["shape"]), dtype)
            if (tuple(stored[key][0]), stored[key][1]) != want:
                raise _corrupted(
                    path,
                    f"the array file of `{rec['path']}` stores shape {stored[key][0]} and dtype "
                    f"{stored[key][1]}, but {METADATA_FILE} records shape {want[0]} and dtype {want[1]}",
                )
    try:
        restored = _read_arrays(arrays_dir, abstract) if abstract else {}
    except Exception as err:
        text = str(err) if len(str(err)) <= 300 else str(err)[:297] + "..."
        raise _corrupted(path, f"reading the arrays failed ({type(err).__name__}: {text})") from err
    for key, (rec, dtype) in expected.items():
        value = restored.get(key)
        if value is None or tuple(value.shape) != tuple(rec["shape"]) or value.dtype != dtype:
            got = None if value is None else f"{value.dtype}{list(value.shape)}"
            raise _corrupted(
                path, f"`{rec['path']}` came back as {got}, expected {rec['dtype']}{rec['shape']}"
            )
        if array_sha256(value) != rec["sha256"]:
            raise _corrupted(
                path, f"the data of `{rec['path']}` does not match its sha256 checksum"
            )

    # -- assemble -----------------------------------------------------------------------------------
    leaves = []
    for rec, (_, leaf) in zip(meta["state"]["leaves"], flat, strict=True):
        if rec["key"] is None:
            leaves.append(_empty(tuple(rec["shape"]), leaf.dtype))
        else:
            leaves.append(_uncommitted(restored[rec["key"]]))
    state = jax.tree_util.tree_unflatten(treedef, leaves)
    iteration = getattr(state, "iteration", None)
    if iteration is not None and np.asarray(iteration).tolist() != meta["iteration"]:
        raise _damaged(
            path / METADATA_FILE,
            "iteration",
            f"is {_short(meta['iteration'])}, but the saved state is at iteration "
            f"{_short(np.asarray(iteration).tolist())}",
            meta["iteration"],
        )
    history = None
    if history_meta is not None:
        history = _assemble_history(history_meta, restored)
    return state, history


def _uncommitted(x):
    """The array on the default device, not committed to it: like the arrays of a state that was
    never saved, so that jit reuses the programs compiled for those (a committed argument is part
    of jit's cache key)."""
    if is_key(x):
        data = jnp.asarray(np.asarray(jax.random.key_data(x)))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    return jnp.asarray(np.asarray(x))


def _empty(shape, dtype):
    """A zero-size array (orbax does not store those)."""
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        data_shape, data_dtype = _on_disk(shape, dtype)
        impl = jax.random.key_impl(jax.random.key(0)) if str(dtype) == "key<fry>" else None
        return jax.random.wrap_key_data(jnp.zeros(data_shape, data_dtype), impl=impl)
    return jnp.zeros(shape, dtype)


def _assemble_history(history_meta: dict, restored: dict) -> History:
    parts: dict = {"records": {}}
    for rec in history_meta["arrays"]:
        dtype = np.dtype(jnp.dtype(rec["dtype"]))
        value = (
            np.asarray(restored[rec["key"]])
            if rec["key"] is not None
            else np.zeros(tuple(rec["shape"]), dtype)
        )
        if rec["kind"] == "record":
            parts["records"][rec["name"]] = value
        else:
            parts[rec["kind"]] = value
    return History(
        parts["iterations"],
        parts["records"],
        parts.get("saved_images"),
        parts.get("saved_iterations"),
    )


def _environment_differences(meta: dict) -> list[str]:
    """Library versions and backend that differ from when the checkpoint was written."""
    saved = meta.get("versions") or {}
    now = _versions()
    differ = [
        f"{k} {saved.get(k)} -> {now.get(k)}"
        for k in ("jaxoptic", "jax", "jaxlib", "optax", "equinox", "orbax-checkpoint")
        if saved.get(k) != now.get(k)
    ]
    backend = meta.get("backend") or {}
    if backend.get("platform") not in (None, jax.default_backend()):
        differ.append(f"backend {backend.get('platform')} -> {jax.default_backend()}")
    # a batch is sharded over the devices: another count compiles another program (a single run
    # uses one device whatever the count; docs/reproducibility.md)
    n_devices = backend.get("n_devices")
    if meta.get("batch_size") is not None and n_devices not in (None, jax.device_count()):
        differ.append(
            f"devices {n_devices} -> {jax.device_count()} (the batch is sharded over them)"
        )
    return differ


def _warn_environment(differ: list[str], path: Path) -> None:
    if differ:
        warnings.warn(
            f"The checkpoint {path} was written with other library versions, another backend or "
            f"another device count ({', '.join(differ)}); a resumed run may not be bitwise equal to "
            "an uninterrupted one (docs/reproducibility.md).",
            LoadWarning,
            stacklevel=3,
        )
