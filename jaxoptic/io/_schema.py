"""The schema of ``metadata.json``: every field :func:`jaxoptic.io.load` relies on is checked for
presence, type and range before anything is read or allocated.

A hand-edited or damaged file must give a clear error naming the field, never an ``AttributeError``,
a ``KeyError`` or a huge allocation. :func:`validate` raises :class:`SchemaError` with the field's
path in the file (``history.arrays[1].shape[0]``); the checkpoint module turns it into a
``CheckpointError``.

Shapes are only checked to be sane here (non-negative ints, a bounded element count); that they
agree with the array files actually present is checked against orbax's own record of the files
before any array is read.
"""

from __future__ import annotations

import math
import re

import jax.numpy as jnp
import numpy as np

__all__ = ["MAX_ELEMENTS", "SchemaError", "check_dtype_name", "show", "validate"]

# No array of a synthesis run comes near this many elements (2**48, 256 Ti); a larger count in the
# metadata is an edit. The actual sizes are those orbax recorded for the array files.
MAX_ELEMENTS = 2**48
# Batches larger than this are not plausible (and keep jax.random.split in range).
MAX_BATCH = 2**31 - 1

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEY_DTYPE = re.compile(r"^key<[A-Za-z0-9_]+>$")
HISTORY_KINDS = ("iterations", "record", "saved_images", "saved_iterations")
_ABSENT = object()


class SchemaError(Exception):
    """A field of ``metadata.json`` is missing or malformed: ``field`` (its path), ``problem``
    (what is wrong, a sentence fragment) and ``value`` (the value found, or None)."""

    def __init__(self, field: str, problem: str, value=None):
        super().__init__(f"`{field}` {problem}")
        self.field = field
        self.problem = problem
        self.value = value


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def show(value) -> str:
    """``repr(value)``, cut to 80 characters (for messages)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _get(node: dict, key: str, field: str):
    if key not in node:
        raise SchemaError(field, "is missing")
    return node[key]


def _expect(value, field: str, kinds: tuple, what: str):
    """``value`` if it is one of ``kinds`` (bools are never ints here), else SchemaError."""
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        raise SchemaError(field, f"must be {what}, found {_type_name(value)} {show(value)}", value)
    return value


def _int_in(value, field: str, low: int, high: int):
    if not _is_int(value) or not low <= value <= high:
        raise SchemaError(
            field,
            f"must be an integer in [{low}, {high}], found {_type_name(value)} {show(value)}",
            value,
        )
    return value


def check_dtype_name(name: str, *, allow_keys: bool) -> np.dtype | str:
    """The dtype named ``name`` as ``str(array.dtype)`` writes it (numbers and booleans; typed PRNG
    keys ``key<impl>`` when ``allow_keys``); ValueError otherwise."""
    if allow_keys and _KEY_DTYPE.match(name):
        return name
    try:
        dtype = jnp.dtype(name)
    except (TypeError, ValueError, SyntaxError) as err:
        raise ValueError(f"{name!r} is not a dtype") from err
    numeric = dtype.kind in "biufc" or jnp.issubdtype(dtype, np.number)
    if str(dtype) != name or dtype.fields is not None or not numeric:
        raise ValueError(f"{name!r} is not the name of a numeric or boolean dtype")
    return dtype


def _itemsize(name: str) -> int:
    if _KEY_DTYPE.match(name):
        return 8  # key data: a few uint32 words per key
    return max(1, jnp.dtype(name).itemsize)


def _array_record(rec, field: str, *, history: bool) -> dict:
    rec = _expect(rec, field, (dict,), "an object describing one array")
    _expect(_get(rec, "path", f"{field}.path"), f"{field}.path", (str,), "a string")
    dtype = _expect(_get(rec, "dtype", f"{field}.dtype"), f"{field}.dtype", (str,), "a string")
    try:
        check_dtype_name(dtype, allow_keys=not history)
    except ValueError:
        raise SchemaError(
            f"{field}.dtype",
            f"must name a numeric or boolean dtype (e.g. 'float32'), found {show(dtype)}",
            dtype,
        ) from None
    shape = _expect(
        _get(rec, "shape", f"{field}.shape"), f"{field}.shape", (list,), "a list of sizes"
    )
    if len(shape) > 32:
        raise SchemaError(f"{field}.shape", f"has {len(shape)} axes (at most 32)", shape)
    for i, n in enumerate(shape):
        _int_in(n, f"{field}.shape[{i}]", 0, MAX_ELEMENTS)
    size = math.prod(shape)
    if size > MAX_ELEMENTS // _itemsize(dtype):
        raise SchemaError(
            f"{field}.shape",
            f"describes an array of {size} elements, far more than a checkpoint holds",
            shape,
        )
    sha = _expect(_get(rec, "sha256", f"{field}.sha256"), f"{field}.sha256", (str,), "a string")
    if not _SHA256.match(sha):
        raise SchemaError(f"{field}.sha256", "must be 64 hexadecimal digits", sha)
    key = _get(rec, "key", f"{field}.key")
    _expect(key, f"{field}.key", (str, type(None)), "a string or null")
    if key is None and size:
        raise SchemaError(
            f"{field}.key",
            f"is null, which is only written for empty arrays, but the shape is {shape}",
            key,
        )
    if key is not None and not size:
        raise SchemaError(f"{field}.key", f"names stored data, but the shape {shape} is empty", key)
    if history:
        kind = _get(rec, "kind", f"{field}.kind")
        if kind not in HISTORY_KINDS:
            raise SchemaError(f"{field}.kind", f"must be one of {list(HISTORY_KINDS)}", kind)
        name = _get(rec, "name", f"{field}.name")
        if kind == "record":
            _expect(name, f"{field}.name", (str,), "the record's name (a string)")
        elif name is not None:
            raise SchemaError(f"{field}.name", f"must be null for kind {kind!r}", name)
    return rec


def _versions(meta: dict) -> None:
    versions = _expect(_get(meta, "versions", "versions"), "versions", (dict,), "an object")
    for k, v in versions.items():
        _expect(v, f"versions.{k}", (str, type(None)), "a version string or null")


def _backend(meta: dict) -> None:
    backend = _expect(_get(meta, "backend", "backend"), "backend", (dict,), "an object")
    for k, kinds, what in (
        ("platform", (str, type(None)), "a string or null"),
        ("device_kind", (str, type(None)), "a string or null"),
        ("x64", (bool,), "true or false"),
    ):
        if k in backend:
            _expect(backend[k], f"backend.{k}", kinds, what)
    if "n_devices" in backend:
        _int_in(backend["n_devices"], "backend.n_devices", 1, 2**31)


def validate(meta: dict) -> None:
    """Check the fields of a (migrated) metadata dictionary; SchemaError for the first bad one."""
    _versions(meta)
    _backend(meta)

    run = _expect(_get(meta, "method", "method"), "method", (dict,), "an object")
    _expect(_get(run, "class", "method.class"), "method.class", (str,), "a class name")
    _expect(_get(run, "config", "method.config"), "method.config", (dict,), "an object")
    fingerprint = _expect(
        _get(run, "fingerprint", "method.fingerprint"), "method.fingerprint", (str,), "a string"
    )
    if not _SHA256.match(fingerprint):
        raise SchemaError("method.fingerprint", "must be 64 hexadecimal digits", fingerprint)

    batch = _get(meta, "batch_size", "batch_size")
    if batch is not None:
        _int_in(batch, "batch_size", 1, MAX_BATCH)
    iteration = _get(meta, "iteration", "iteration")
    if batch is None:
        _int_in(iteration, "iteration", 0, 2**63 - 1)
    else:
        _expect(iteration, "iteration", (list,), f"a list of {batch} iteration counts")
        if len(iteration) != batch:
            raise SchemaError(
                "iteration",
                f"must list {batch} iteration counts (batch_size), found {len(iteration)}",
            )
        for i, n in enumerate(iteration):
            _int_in(n, f"iteration[{i}]", 0, 2**63 - 1)

    state = _expect(_get(meta, "state", "state"), "state", (dict,), "an object")
    leaves = _expect(
        _get(state, "leaves", "state.leaves"), "state.leaves", (list,), "a list of arrays"
    )
    if not leaves:
        raise SchemaError("state.leaves", "is empty (a state has at least its image)", leaves)
    records = [
        (f"state.leaves[{i}]", _array_record(r, f"state.leaves[{i}]", history=False))
        for i, r in enumerate(leaves)
    ]

    history = _get(meta, "history", "history")
    if history is not None:
        history = _expect(history, "history", (dict,), "an object or null")
        length = _int_in(_get(history, "length", "history.length"), "history.length", 0, 2**62)
        arrays = _expect(
            _get(history, "arrays", "history.arrays"), "history.arrays", (list,), "a list"
        )
        entries = [
            (f"history.arrays[{i}]", _array_record(r, f"history.arrays[{i}]", history=True))
            for i, r in enumerate(arrays)
        ]
        _history_shapes(entries, length, batch)
        records += entries

    seen: dict[str, str] = {}
    for field, rec in records:
        key = rec["key"]
        if key is None:
            continue
        if key in seen:
            raise SchemaError(f"{field}.key", f"repeats the key of {seen[key]}", key)
        seen[key] = field


def _history_shapes(entries: list, length: int, batch: int | None) -> None:
    """One ``iterations`` array of ``length`` entries (per lane), records of its shape, at most one
    array of saved images and saved iterations."""
    by_kind: dict[str, list] = {k: [] for k in HISTORY_KINDS}
    for field, rec in entries:
        by_kind[rec["kind"]].append((field, rec))
    if len(by_kind["iterations"]) != 1:
        raise SchemaError(
            "history.arrays",
            f"must hold exactly one array of kind 'iterations', found {len(by_kind['iterations'])}",
        )
    for kind in ("saved_images", "saved_iterations"):
        if len(by_kind[kind]) > 1:
            raise SchemaError(
                "history.arrays", f"holds {len(by_kind[kind])} arrays of kind {kind!r}"
            )
    if bool(by_kind["saved_images"]) != bool(by_kind["saved_iterations"]):
        raise SchemaError(
            "history.arrays", "must hold both 'saved_images' and 'saved_iterations', or neither"
        )
    field, rec = by_kind["iterations"][0]
    want = [length] if batch is None else [batch, length]
    if rec["shape"] != want:
        raise SchemaError(
            f"{field}.shape",
            f"must be {want} (history.length{'' if batch is None else ' per lane'}), found "
            f"{rec['shape']}",
            rec["shape"],
        )
    names = set()
    for field, rec in by_kind["record"]:
        if rec["name"] in names:
            raise SchemaError(f"{field}.name", "repeats another record's name", rec["name"])
        names.add(rec["name"])
        if rec["shape"] != want:
            raise SchemaError(
                f"{field}.shape", f"must be {want}, like the iterations, found {rec['shape']}"
            )
