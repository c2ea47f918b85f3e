"""The generic driver: runs ``init``/``step``/``terminate`` methods in compiled chunks."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .._arrays import constant
from ._history import History
from ._status import Status

__all__ = ["NonFiniteLossError", "synthesize"]

DEFAULT_CHUNK = 25
DEFAULT_STOP_CRITERION = 1e-4  # plenoptic's default for the optimization-based methods

# Incremented each time the chunk function is traced (tests check that repeated calls do not retrace).
TRACE_COUNT = 0


class NonFiniteLossError(RuntimeError):
    """The objective became NaN or Inf during synthesis.

    The run stopped; ``state`` holds the last image with a finite objective and ``history`` every
    record up to the fault. Pass ``throw=False`` to :func:`jaxoptic.synthesize` to get them returned
    instead.
    """

    def __init__(self, message, state, history):
        super().__init__(message)
        self.state = state
        self.history = history


def _fill(dtype):
    """Value of a record slot that was not written: NaN for floats, -1 for integers."""
    return jnp.nan if jnp.issubdtype(dtype, jnp.inexact) else -1


def _check_store_progress(store_progress) -> int:
    if store_progress is None or store_progress is False:
        return 0
    if store_progress is True:
        return 1
    if isinstance(store_progress, (bool, np.bool_)) or not isinstance(
        store_progress, (int, np.integer)
    ):
        raise ValueError(
            f"`store_progress` must be True, False or a positive int, got {store_progress!r}."
        )
    if store_progress < 0:
        raise ValueError(
            f"`store_progress` must be True, False or a positive int, got {store_progress}."
        )
    return int(store_progress)


@eqx.filter_jit
def _run_chunk(
    method,
    state,
    n_steps,
    stop_criterion,
    chunk_len: int,
    store_every: int,
    n_slots: int,
    batched: bool,
    lanes_at_once: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
):
    global TRACE_COUNT
    TRACE_COUNT += 1

    def one(method, state, stop_criterion):
        records = method.records(state)
        bufs = {k: jnp.full((chunk_len,), _fill(v.dtype), v.dtype) for k, v in records.items()}
        its = jnp.full((chunk_len,), -1, jnp.int32)
        if store_every:
            images = jnp.zeros((n_slots, *state.image.shape), state.image.dtype)
            saved_its = jnp.full((n_slots,), -1, jnp.int32)
        else:
            images = saved_its = None

        def cond(carry):
            st, i, *_ = carry
            return (i < n_steps) & (st.status == int(Status.RUNNING))

        def body(carry):
            st, i, bufs, its, images, saved_its, slot = carry
            if store_every:
                store = (st.iteration % store_every) == 0
                images = images.at[slot].set(jnp.where(store, st.image, images[slot]))
                saved_its = saved_its.at[slot].set(jnp.where(store, st.iteration, saved_its[slot]))
                slot = slot + store.astype(jnp.int32)
            it = st.iteration
            st = method.step(st)
            rec = method.records(st)
            bufs = {k: bufs[k].at[i].set(rec[k]) for k in bufs}
            its = its.at[i].set(it)
            _, status = method.terminate(st, stop_criterion)
            st = eqx.tree_at(lambda s: s.status, st, status)
            return st, i + 1, bufs, its, images, saved_its, slot

        carry = (
            state,
            jnp.asarray(0, jnp.int32),
            bufs,
            its,
            images,
            saved_its,
            jnp.asarray(0, jnp.int32),
        )
        state, n_done, bufs, its, images, saved_its, _ = jax.lax.while_loop(cond, body, carry)
        return state, n_done, bufs, its, images, saved_its

    if not batched:
        return one(method, state, stop_criterion)
    if lanes_at_once is None:
        return eqx.filter_vmap(one)(method, state, stop_criterion)
    return _map_lanes(one, (method, state, stop_criterion), lanes_at_once, mesh)


def _map_lanes(fn, args, lanes_at_once: int, mesh):
    """``fn`` over the lanes of a batch ``lanes_at_once`` at a time (``jax.lax.map``): the others
    wait their turn, each lane runs its own loop. On a mesh every device maps over its own lanes."""
    dynamic, static = eqx.partition(args, eqx.is_array)
    out_static = []

    def lane(dyn):
        out = fn(*eqx.combine(dyn, static))
        out_dyn, o_static = eqx.partition(out, eqx.is_array)
        out_static.append(o_static)
        return out_dyn

    def local(dyn):
        return jax.lax.map(lane, dyn, batch_size=lanes_at_once if lanes_at_once > 1 else None)

    if mesh is None:
        out = local(dynamic)
    else:
        spec = jax.sharding.PartitionSpec("batch")
        # check_vma=False: the line searches' `cond`s mix per-lane and constant branches
        out = jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)(
            dynamic
        )
    return eqx.combine(out, out_static[0])


def _batch_mesh(tree) -> jax.sharding.Mesh | None:
    """A mesh over all local devices for the batch axis, or None (one device, or a batch that does
    not divide evenly among them)."""
    devices = jax.local_devices()
    if len(devices) == 1:
        return None
    leaves = [x for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array)) if x.ndim > 0]
    if not leaves or leaves[0].shape[0] % len(devices):
        return None
    return jax.sharding.Mesh(np.array(devices), ("batch",))


def _shard_batch(tree, mesh):
    """Place the leading batch axis of every array across the devices of ``mesh``."""
    if mesh is None:
        return tree
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    def put(x):
        if not eqx.is_array(x):
            return x
        return jax.device_put(x, sharding if x.ndim > 0 else replicated)

    return jax.tree.map(put, tree)


def synthesize(
    method,
    state,
    *,
    max_iter: int,
    store_progress: bool | int = False,
    stop_criterion: float | None = None,
    stop_iters_to_check: int = 50,
    progress: bool = True,
    callback: Callable | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    throw: bool = True,
    checkpoint_every: int | None = None,
    checkpoint_dir=None,
    checkpoint_keep: int | None = 3,
    lanes_at_once: int | str | None = "auto",
    **options,
):
    """Run up to ``max_iter`` more steps of ``method`` from ``state`` in compiled chunks.

    Each chunk of up to ``chunk_size`` steps runs inside one ``jax.lax.while_loop`` with no host
    synchronisation; between chunks the host copies the records out of preallocated buffers, updates
    the progress bar and calls ``callback``. Calling ``synthesize`` again on the returned state
    continues the run, and the histories concatenate (``h1 + h2``). Repeated calls with the same
    shapes and settings reuse one compiled program.

    A *batch* (method and state with a leading batch axis, e.g. built with ``equinox.filter_vmap``)
    runs in one compiled call; every lane keeps its own optimizer state, line search and stopping,
    and the batch axis is sharded across all local devices. On a CPU each device runs its lanes one
    after another inside that call (``lanes_at_once``), each with the working set of a single
    run; several CPU devices (``jax.config.update("jax_num_cpu_devices", n)`` before JAX starts)
    run their lanes in parallel, one core each. A lane equals the same run made alone to rounding:
    XLA compiles a lane's loop inside the batch's program and may fuse it differently
    (``docs/reproducibility.md`` measures how far such runs drift apart).

    Parameters
    ----------
    method
        A synthesis method (e.g. :class:`jaxoptic.Metamer`).
    state
        Its state (from ``method.init`` or a previous ``synthesize``).
    max_iter
        Maximum number of steps in this call (>= 0).
    store_progress
        ``False`` (default), ``True`` (every iteration) or ``k``: keep the image every ``k``
        iterations in ``history.saved_images``.
    stop_criterion, stop_iters_to_check
        Stop when the loss changed by less than ``stop_criterion`` between iteration ``k -
        stop_iters_to_check + 1`` and ``k`` (plenoptic's rule; each method documents its own rule).
        ``None`` (default) uses the method's ``default_stop_criterion`` (plenoptic's default for
        that method), or 1e-4 if it has none.
    progress
        Show a tqdm progress bar (iteration, loss, gradient norm).
    callback
        ``callback(state, history)`` called after every chunk with the state and the history so far.
    chunk_size
        Steps per compiled chunk (one host synchronisation each).
    throw
        If the objective becomes non-finite, raise :class:`NonFiniteLossError` (default; it carries
        the state and history) or return normally with ``state.status == Status.NONFINITE``.
    checkpoint_every, checkpoint_dir, checkpoint_keep
        Save a checkpoint (:func:`jaxoptic.io.save_step`, atomic) into ``checkpoint_dir`` every
        ``checkpoint_every`` steps and at the end of the call, keeping the ``checkpoint_keep``
        newest (None: all). Chunks are cut to at most ``checkpoint_every`` steps, so a killed
        process loses at most that many. Resume with ``state, history = jaxoptic.io.load(
        jaxoptic.io.latest(checkpoint_dir), method)``; a checkpoint's history covers the calls
        that wrote it.
    lanes_at_once
        How many lanes of a batch each device computes at once, vectorized with ``jax.vmap``; the
        others wait their turn (``jax.lax.map``). ``None``: all of them (one vectorized batch, the
        right choice on a GPU). ``1``: one after another, each running its own loop; on a CPU this
        is faster than vectorizing, because one lane's working set stays in the cache (measured in
        ``benchmarks/README.md``). ``"auto"``
        (default): ``1`` on CPU devices, ``None`` on others. Ignored without a batch.
    **options
        Method-specific settings, e.g. ``change_scale_criterion`` and ``ctf_iters_to_check`` for
        :class:`jaxoptic.MetamerCTF`.

    Returns
    -------
    state, history
        The final state and a :class:`jaxoptic.History`.

    Raises
    ------
    ValueError
        For a negative ``max_iter``, a bad ``store_progress``, ``stop_iters_to_check`` < 1,
        ``chunk_size`` < 1, a non-finite ``stop_criterion``, ``checkpoint_every`` < 1 or
        without ``checkpoint_dir``, or a bad ``lanes_at_once``.
    NonFiniteLossError
        If the objective became non-finite (unless ``throw=False``).

    Examples
    --------
    >>> import jax, optax
    >>> import jaxoptic as jo
    >>> img = jo.data.camera()[:, :32, :32]
    >>> met = jo.Metamer(img, jo.models.Gaussian((5, 5), std=1.0), optimizer=optax.adam(0.05))
    >>> state, history = jo.synthesize(met, met.init(key=jax.random.key(0)), max_iter=20, progress=False)
    >>> int(state.iteration), history.losses.shape
    (20, (20,))
    >>> bool(history.losses[-1] < history.losses[0])
    True
    """
    for name, obj in (("method", method), ("state", state)):
        if not isinstance(obj, eqx.Module):
            raise TypeError(
                f"`{name}` must be a jaxoptic synthesis {name} (an equinox Module, e.g. from "
                f"`Metamer(...)` / `method.init(...)`), got {type(obj).__name__}."
            )
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable or None, got {type(callback).__name__}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"`max_iter` must be an int >= 0, got {max_iter!r}.")
    store_every = _check_store_progress(store_progress)
    if (
        isinstance(stop_iters_to_check, bool)
        or not isinstance(stop_iters_to_check, (int, np.integer))
        or stop_iters_to_check < 1
    ):
        raise ValueError(f"`stop_iters_to_check` must be an int >= 1, got {stop_iters_to_check!r}.")
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(f"`chunk_size` must be an int >= 1, got {chunk_size!r}.")
    if checkpoint_every is not None:
        if (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, (int, np.integer))
            or checkpoint_every < 1
        ):
            raise ValueError(
                f"`checkpoint_every` must be an int >= 1 or None, got {checkpoint_every!r}."
            )
        if checkpoint_dir is None:
            raise ValueError(
                "`checkpoint_every` needs `checkpoint_dir`, the directory to write to."
            )
        if not isinstance(checkpoint_dir, (str, os.PathLike)):
            raise TypeError(
                "`checkpoint_dir` must be a path (str or os.PathLike), "
                f"got {type(checkpoint_dir).__name__}."
            )
        if checkpoint_keep is not None and (
            isinstance(checkpoint_keep, bool)
            or not isinstance(checkpoint_keep, (int, np.integer))
            or checkpoint_keep < 1
        ):
            raise ValueError(
                f"`checkpoint_keep` must be an int >= 1 or None, got {checkpoint_keep!r}."
            )
        chunk_size = min(int(chunk_size), int(checkpoint_every))
    if stop_criterion is not None and (
        isinstance(stop_criterion, bool)
        or not isinstance(stop_criterion, (int, float, np.integer, np.floating))
        or not np.isfinite(stop_criterion)
    ):
        raise ValueError(
            f"`stop_criterion` must be a finite number or None, got {stop_criterion!r}."
        )

    batched = state.iteration.ndim == 1
    crit = _stop_criterion_array(method, state, stop_criterion)
    state = _prepare(
        method, state, batched, int(stop_iters_to_check), float(np.max(np.asarray(crit))), options
    )
    lanes_at_once = _check_lanes_at_once(lanes_at_once)
    mesh = None
    if batched:
        mesh = _batch_mesh((method, state, crit))
        method, state, crit = _shard_batch((method, state, crit), mesh)
    lanes = _lanes_at_once(lanes_at_once, batched, state)
    n_slots = math.ceil(chunk_size / store_every) + 1 if store_every else 0

    pieces: list[History] = []
    history = _empty_history(method, state, batched, store_every)
    remaining = int(max_iter)
    since_checkpoint = 0
    bar = tqdm(total=int(max_iter), disable=not progress, desc=type(method).__name__, leave=True)
    try:
        while remaining > 0 and bool(np.any(np.asarray(state.status) == int(Status.RUNNING))):
            n = min(chunk_size, remaining)
            state, n_done, bufs, its, images, saved_its = _run_chunk(
                method,
                state,
                constant(np.int32(n)),
                crit,
                int(chunk_size),
                store_every,
                n_slots,
                batched,
                lanes,
                mesh if lanes is not None else None,
            )
            piece = _to_history(n_done, bufs, its, images, saved_its, batched)
            pieces.append(piece)
            remaining -= n
            history = _concat(pieces)
            pieces = [history]
            _update_bar(bar, n, piece, batched)
            since_checkpoint += int(np.max(np.asarray(n_done)))
            if checkpoint_every is not None and since_checkpoint >= checkpoint_every:
                _checkpoint(checkpoint_dir, method, state, history, checkpoint_keep)
                since_checkpoint = 0
            if callback is not None:
                callback(state, history)
    finally:
        bar.close()
    if checkpoint_every is not None and since_checkpoint > 0:
        _checkpoint(checkpoint_dir, method, state, history, checkpoint_keep)

    status = np.asarray(state.status)
    still = status == int(Status.RUNNING)
    if np.any(still):
        state = eqx.tree_at(
            lambda s: s.status,
            state,
            constant(np.where(still, np.int32(Status.MAX_ITER), status)),
        )
    if throw and np.any(status == int(Status.NONFINITE)):
        lanes = np.flatnonzero(np.atleast_1d(status == int(Status.NONFINITE)))
        where = f" in batch lane(s) {lanes.tolist()}" if batched else ""
        raise NonFiniteLossError(
            f"The objective became NaN or Inf{where}; synthesis stopped at iteration(s) "
            f"{np.atleast_1d(np.asarray(state.iteration))[lanes].tolist()}. The error's `state` keeps the last "
            "image with a finite objective and `history` every record so far; lower the learning rate, "
            "check the model, or pass throw=False.",
            state,
            history,
        )
    return state, history


def _check_lanes_at_once(value):
    if value is None or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`lanes_at_once` must be 'auto', None or an int >= 1, got {value!r}.")
    return int(value)


def _lanes_at_once(value, batched: bool, state) -> int | None:
    """The number of lanes vectorized together (None: all), resolving ``"auto"`` from the platform
    of the state's arrays: one lane at a time on CPUs, all at once elsewhere."""
    if not batched:
        return None
    if value == "auto":
        leaf = next(x for x in jax.tree.leaves(state) if isinstance(x, jax.Array))
        platform = next(iter(leaf.devices())).platform
        return 1 if platform == "cpu" else None
    lanes = int(state.iteration.shape[0])
    return None if value is None or value >= lanes else value


def _checkpoint(directory, method, state, history, keep) -> None:
    from ..io import save_step  # io depends on the synthesis package: import on use

    save_step(directory, method, state, history, keep=keep)


def _stop_criterion_array(method, state, stop_criterion):
    """One threshold per lane: the given number, or each method's own ``default_stop_criterion``."""
    dtype = state.loss.dtype
    shape = state.iteration.shape
    if stop_criterion is None:
        stop_criterion = getattr(method, "default_stop_criterion", DEFAULT_STOP_CRITERION)
    # on the host: as JAX operations these would compile small programs, one per new shape
    crit = np.broadcast_to(np.asarray(stop_criterion, dtype), shape)
    if not bool(np.all(np.isfinite(crit))):
        raise ValueError(f"The stop criterion must be finite, got {np.asarray(crit)}.")
    return constant(np.array(crit))  # (a copy: ascontiguousarray would make a 0-d array 1-d)


def _prepare(method, state, batched, window, stop_criterion, options):
    """Run the method's host-side ``prepare`` (window sizes, option checks) on one state or a batch."""
    if not batched:
        return method.prepare(
            state, stop_iters_to_check=window, stop_criterion=stop_criterion, **options
        )
    # prepare only reshapes buffers and checks options: run it on lane 0's method, whole batch of states
    lane0 = jax.tree.map(lambda x: x[0] if eqx.is_array(x) and x.ndim > 0 else x, method)
    return lane0.prepare(
        state, stop_iters_to_check=window, stop_criterion=stop_criterion, **options
    )


def _records(method, state):
    return method.records(state)


def _empty_history(method, state, batched, store_every) -> History:
    # a module-level function, not the bound method `method.records`: JAX keys caches on the
    # function, and comparing two bound methods of equinox modules compares their arrays (a
    # comparison, compiled op by op, per model array)
    rec = (
        eqx.filter_eval_shape(_records, method, state)
        if not batched
        else eqx.filter_eval_shape(eqx.filter_vmap(_records, in_axes=(None, 0)), method, state)
    )
    lead = (state.iteration.shape[0],) if batched else ()
    records = {k: np.zeros((*lead, 0), v.dtype) for k, v in rec.items()}
    its = np.zeros((*lead, 0), np.int32)
    if store_every:
        img_shape = state.image.shape[1:] if batched else state.image.shape
        saved = np.zeros((*lead, 0, *img_shape), state.image.dtype)
        saved_its = np.zeros((*lead, 0), np.int32)
    else:
        saved = saved_its = None
    return History(its, records, saved, saved_its)


def _to_history(n_done, bufs, its, images, saved_its, batched) -> History:
    n = int(np.max(np.asarray(n_done))) if np.size(n_done) else 0
    records = {k: np.asarray(v)[..., :n] for k, v in bufs.items()}
    iterations = np.asarray(its)[..., :n]
    if images is not None:
        saved_its = np.asarray(saved_its)
        used = int(np.max(np.sum(saved_its >= 0, axis=-1))) if saved_its.size else 0
        images = np.asarray(images)[:, :used] if batched else np.asarray(images)[:used]
        saved_its = saved_its[..., :used]
    return History(iterations, records, images, saved_its)


def _concat(pieces: list[History]) -> History:
    out = pieces[0]
    for p in pieces[1:]:
        out = out + p
    return out


def _update_bar(bar, n, piece: History, batched: bool) -> None:
    bar.update(n)
    if len(piece) == 0:
        return
    loss = piece.records.get("losses")
    grad = piece.records.get("gradient_norm")
    post = {}
    if loss is not None:
        last = loss[..., -1]
        post["loss"] = f"{np.nanmax(last):.4g}" if batched else f"{float(last):.4g}"
    if grad is not None:
        last = grad[..., -1]
        post["grad"] = f"{np.nanmax(last):.3g}" if batched else f"{float(last):.3g}"
    bar.set_postfix(post, refresh=False)
