"""JSON descriptions of synthesis methods: configuration, fingerprints and structure (no pickling).

A method is described by a flat dictionary ``{field path: JSON value}``: class names, static options,
the names of the functions it holds, small arrays by value and larger arrays by a sha256 of their
bytes. Two methods built the same way get the same description; :func:`compare_configs` lists the
paths where two descriptions differ.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import sys
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu

from ..optimizers import LBFGSState

# Arrays with at most this many elements are described by value (readable in error messages);
# larger ones by a sha256 of their bytes.
SMALL_ARRAY = 16

# Fields of the built-in methods that are computed from the others at construction (target
# representations, the model's linearisation, ...). They are left out of the description and the
# fingerprint: they follow from the fields that are checked, and their last bits can differ between
# backends or library versions although the method is the same.
_DERIVED_FIELDS: dict[str, tuple[str, ...]] = {
    "Metamer": ("target_representation",),
    "MetamerCTF": ("target_representation", "stage_indices", "stage_targets"),
    "Eigendistortion": ("linear",),
    "Geodesic": ("representation_a", "representation_b"),
}


def derived_fields(method) -> tuple[str, ...]:
    """Names of the fields of ``method`` computed from its other fields (not checked on load)."""
    from .. import synthesis

    out: tuple[str, ...] = ()
    for name, fields in _DERIVED_FIELDS.items():
        cls = getattr(synthesis, name, None)
        if cls is not None and isinstance(method, cls):
            out = out + tuple(f for f in fields if f not in out)
    return out


# -- names ---------------------------------------------------------------------------------------------
def public_name(obj) -> str:
    """``package.module.Name`` of a class or function, through the shortest public module that
    exposes it (``jaxoptic.models.Gaussian`` rather than ``jaxoptic.models._naive.Gaussian``)."""
    module = getattr(obj, "__module__", None) or "?"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        return public_name(type(obj))
    if "." not in qualname and "<" not in qualname:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if any(p.startswith("_") for p in parts[:i]):
                break
            mod = sys.modules.get(prefix)
            if mod is not None and getattr(mod, qualname, None) is obj:
                return f"{prefix}.{qualname}"
    return f"{module}.{qualname}"


def _json_number(x):
    """A Python number JSON can hold exactly (non-finite floats as strings)."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, complex | np.complexfloating):
        return [_json_number(x.real), _json_number(x.imag)]
    x = float(x)
    return x if math.isfinite(x) else str(x)


# -- arrays --------------------------------------------------------------------------------------------
def is_key(x) -> bool:
    """True for typed ``jax.random.key`` arrays (and their shape structs)."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def host_bytes(x) -> np.ndarray:
    """The array's data on the host as a C-contiguous numpy array (key data for typed keys)."""
    if is_key(x):
        x = jax.random.key_data(x)
    return np.ascontiguousarray(np.asarray(x))


def array_sha256(x) -> str:
    """sha256 of the array's bytes (C order; key data for typed keys)."""
    return hashlib.sha256(host_bytes(x).tobytes()).hexdigest()


def dtype_name(x) -> str:
    return str(x.dtype)


def _describe_array(x) -> dict:
    out = {"dtype": dtype_name(x), "shape": [int(s) for s in x.shape]}
    data = host_bytes(x)
    if data.size <= SMALL_ARRAY and not is_key(x):
        out["value"] = [_json_number(v) for v in data.reshape(-1).tolist()]
    else:
        out["sha256"] = hashlib.sha256(data.tobytes()).hexdigest()
    return out


def _is_array(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and not isinstance(x, jax.core.Tracer)


# -- configuration -------------------------------------------------------------------------------------
def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(obj, path: str, out: dict, skip: tuple[str, ...] = ()) -> None:
    """Add the description of ``obj`` (at ``path``) to the flat dictionary ``out``."""
    if obj is None or isinstance(obj, (bool, str)):
        out[path] = obj
    elif _is_array(obj):
        out[path] = _describe_array(obj)
    elif isinstance(obj, (int, float, complex, np.number)):
        out[path] = _json_number(obj)
    elif isinstance(obj, optax.GradientTransformation):
        # a NamedTuple of closures whose hyperparameters cannot be read: described by what it does
        # (``path.probe``) and by the structure of its state (see ``describe_structure``)
        out[path] = "optax.GradientTransformation"
        out[f"{path}.probe"] = optimizer_probe(obj)
    elif isinstance(obj, eqx.Module):
        out[path] = public_name(type(obj))
        for field in dataclasses.fields(obj):
            if field.name in skip:
                continue
            _describe(getattr(obj, field.name, None), _join(path, field.name), out)
    elif isinstance(obj, functools.partial):
        out[path] = f"{public_name(type(obj))}({public_name(obj.func)})"
        for i, arg in enumerate(obj.args):
            _describe(arg, f"{path}.args[{i}]", out)
        for name, arg in sorted(obj.keywords.items()):
            _describe(arg, f"{path}.keywords[{name}]", out)
    elif isinstance(obj, (tuple, list)):
        if all(v is None or isinstance(v, (bool, str, int, float, np.number)) for v in obj):
            out[path] = [v if v is None or isinstance(v, str) else _json_number(v) for v in obj]
        else:
            out[path] = f"{type(obj).__name__}[{len(obj)}]"
            for i, v in enumerate(obj):
                _describe(v, f"{path}[{i}]", out)
    elif isinstance(obj, Mapping):
        out[path] = f"dict[{len(obj)}]"
        for k in sorted(obj, key=str):
            _describe(obj[k], f"{path}[{k}]", out)
    elif isinstance(obj, type) or callable(obj):
        func = getattr(obj, "__func__", obj)  # bound methods: the function
        name = public_name(func) if hasattr(func, "__qualname__") else public_name(type(func))
        out[path] = name
    else:
        out[path] = f"<{public_name(type(obj))}>"


@functools.lru_cache(maxsize=64)
def _probe(optimizer, x64: bool) -> list | None:
    """What ``optimizer`` does: the iterates of three updates on a fixed quadratic (float32). Two
    optimizers with different hyperparameters (learning rate, moments, memory) give different
    iterates; the structure of its state alone would not tell them apart."""
    del x64  # part of the cache key: x64 changes the internals of some optimizers
    weights = jnp.arange(1, 9, dtype=jnp.float32) / 4

    def value_fn(x):
        return 0.5 * jnp.sum(weights * (x - 0.3) ** 2)

    opt = optax.with_extra_args_support(optimizer)

    def run(x):
        def body(carry, _):
            x, state = carry
            value, grad = jax.value_and_grad(value_fn)(x)
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=value_fn)
            x = optax.apply_updates(x, updates).astype(jnp.float32)
            return (x, state), x

        state = opt.init(x)
        if isinstance(state, LBFGSState):
            # as synthesis methods may: value and gradient set before the first update (otherwise
            # the first update only evaluates them, and the probe would see one step fewer)
            state = otu.tree_set(state, value=value_fn(x), grad=jax.grad(value_fn)(x))
        return jax.lax.scan(body, (x, state), length=3)[1]

    try:
        result = jax.jit(run)(jnp.linspace(0.0, 1.0, 8, dtype=jnp.float32))
    except Exception:  # an optimizer that needs other arguments: described by its state only
        return None
    return [_json_number(v) for v in np.asarray(result).ravel().tolist()]


def optimizer_probe(optimizer) -> list | None:
    """The iterates of ``optimizer`` on a fixed problem (see :func:`_probe`), or None."""
    x64 = jax.dtypes.canonicalize_dtype(np.float64) == np.dtype(np.float64)
    try:
        return _probe(optimizer, x64)
    except TypeError:  # unhashable optimizer
        return None


def describe_method(method) -> dict:
    """Flat JSON-able description of ``method``'s configuration: ``{field path: value}``.

    Paths are dotted field names (``model.n_scales``, ``loss_function``, ``metrics[0]``). Values are
    class and function names, static options, small arrays by value and larger arrays (target
    images, model filters) by their sha256. Derived fields (see :func:`derived_fields`) are left out.
    """
    out: dict = {}
    _describe(method, "", out, skip=derived_fields(method))
    out.pop("", None)  # the method's class is recorded separately
    return out


def method_fingerprint(method) -> str:
    """sha256 over the method's array leaves (target images, model arrays, scalar weights), with
    their paths, dtypes and shapes; derived fields are left out."""
    skip = derived_fields(method)
    digest = hashlib.sha256()
    flat, _ = jax.tree_util.tree_flatten_with_path(method)
    for path, leaf in flat:
        if not eqx.is_array(leaf):
            continue
        first = path[0] if path else None
        if getattr(first, "name", None) in skip:
            continue
        digest.update(jax.tree_util.keystr(path).encode())
        digest.update(f"|{dtype_name(leaf)}|{tuple(leaf.shape)}|".encode())
        digest.update(host_bytes(leaf).tobytes())
    return digest.hexdigest()


def describe_structure(tree) -> str:
    """A readable, library-version-independent description of a pytree's structure, e.g.
    ``(optax.ScaleByAdamState(count, mu, nu), optax.EmptyState())`` for an Adam state."""
    if tree is None:
        return "None"
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        inner = ", ".join(
            f"{name}" if _is_leaf_like(v) else f"{name}={describe_structure(v)}"
            for name, v in zip(tree._fields, tree, strict=True)
        )
        return f"{public_name(type(tree))}({inner})"
    if isinstance(tree, (tuple, list)):
        inner = ", ".join(describe_structure(v) for v in tree)
        return (
            f"({inner}{',' if len(tree) == 1 else ''})" if isinstance(tree, tuple) else f"[{inner}]"
        )
    if isinstance(tree, Mapping):
        return (
            "{"
            + ", ".join(f"{k}: {describe_structure(tree[k])}" for k in sorted(tree, key=str))
            + "}"
        )
    if isinstance(tree, eqx.Module):
        inner = ", ".join(
            f.name
            if _is_leaf_like(getattr(tree, f.name, None))
            else f"{f.name}={describe_structure(getattr(tree, f.name, None))}"
            for f in dataclasses.fields(tree)
            if not f.metadata.get("static", False)
        )
        return f"{public_name(type(tree))}({inner})"
    return "array"


def _is_leaf_like(x) -> bool:
    return x is not None and (
        _is_array(x) or isinstance(x, (jax.ShapeDtypeStruct, int, float, bool, jax.core.Tracer))
    )


def compare_configs(saved: dict, current: dict) -> list[tuple[str, object, object]]:
    """``(path, saved value, current value)`` for every path whose description differs; paths under
    a differing class or container are not listed again (a different model class is one entry)."""
    out = []
    reported: list[str] = []
    for path in sorted(set(saved) | set(current), key=_path_order(saved, current)):
        if any(path.startswith(p + ".") or path.startswith(p + "[") for p in reported):
            continue
        a = saved.get(path, "<absent>")
        b = current.get(path, "<absent>")
        if a != b and not (path.endswith(".probe") and _close(a, b)):
            out.append((path, a, b))
            reported.append(path)
    return out


def _close(a, b, rtol: float = 1e-4) -> bool:
    """Probe iterates equal to rounding (they may differ in the last bits between backends)."""
    if not isinstance(a, list) or not isinstance(b, list) or len(a) != len(b):
        return False
    try:
        x = np.asarray([float(v) for v in a])
        y = np.asarray([float(v) for v in b])
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(np.allclose(x, y, rtol=rtol, atol=1e-6, equal_nan=True))


def _path_order(saved: dict, current: dict):
    order = {p: i for i, p in enumerate(list(saved) + [p for p in current if p not in saved])}
    return lambda p: order[p]
