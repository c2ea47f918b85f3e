"""orbax-checkpoint in a separate process, for checkpoints saved and loaded under ``jax.distributed``.

Why this exists: in a multi-process JAX program (``jax.process_count() > 1``, e.g. ``jaxoptic
batch --distributed``) every process runs its own lanes and saves its own checkpoint into its own
directory. orbax, however, treats every save in such a program as one global checkpoint: only
process 0 writes numpy arrays, process-local jax arrays are refused, and the processes wait for
each other at barriers. So a checkpoint of process 1 would hold no arrays. Here the orbax work
of :mod:`jaxoptic.io._checkpoint` (``_write_arrays``, ``_read_arrays``, ``_stored_metadata``) is
done instead by a child Python process that is not part of the distributed job: a fresh
interpreter, on CPU (``JAX_PLATFORMS=cpu``: it never touches an accelerator), with 64-bit types
enabled so that no dtype changes. For orbax it is a plain single-process program, so the files it
writes are those a single-process :func:`jaxoptic.io.save` writes on a machine with one CPU device
(orbax's sharding metadata names that device, where a save on GPUs names those; loading does not
use it), and a checkpoint written by either loads in the other.

The arrays travel through a private temporary directory as ``.npy`` files of their raw bytes
(``np.save``, read back with ``np.load(..., allow_pickle=False)``; nothing is pickled), with a JSON
request (dtype name, shape, kind: numpy array, ``jax.Array`` or typed PRNG key and its
implementation) and a JSON answer. Raw bytes carry every dtype bit for bit, bfloat16 included;
typed keys travel as their key data and are wrapped again on the other side, so that orbax records
the key's implementation as it does for a single-process save.

The child is started as ``python <this file> <transfer directory>`` rather than with ``-m``: it
imports only numpy, jax and orbax, not jaxoptic (whose import would add about half a second to
every call). Each call costs a process start and the import of jax and orbax (about 2 s on one CPU
core); single-process programs never come here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REQUEST = "request.json"
RESULT = "result.json"
ERROR = "error.json"


class IsolatedError(OSError):
    """The child process failed; the message holds its error (type and text) or its stderr."""


# -- the parent's side -----------------------------------------------------------------------------
def needed() -> bool:
    """True in a multi-process JAX program, where orbax must run in a child process."""
    import jax

    return jax.process_count() > 1


def _put(transfer: Path, name: str, array: np.ndarray) -> dict:
    """Write ``array``'s bytes to ``transfer/name`` (.npy of uint8); its description."""
    data = np.asarray(array, order="C")  # (not ascontiguousarray: it makes 0-d arrays 1-d)
    np.save(transfer / name, data.reshape(-1).view(np.uint8), allow_pickle=False)
    return {"file": name, "dtype": data.dtype.name, "shape": list(data.shape)}


def _get(transfer: Path, rec: dict) -> np.ndarray:
    """The array described by ``rec``, from its .npy file of bytes."""
    import jax.numpy as jnp

    data = np.load(transfer / rec["file"], allow_pickle=False)
    return data.view(np.dtype(jnp.dtype(rec["dtype"]))).reshape(rec["shape"])


def _call(command: str, directory: Path, transfer: Path, arrays: list) -> dict:
    """Run ``command`` on ``directory`` in a child process; its answer (``result.json``)."""
    request = {"command": command, "directory": str(directory), "arrays": arrays}
    (transfer / REQUEST).write_text(json.dumps(request), encoding="utf-8")
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_ENABLE_X64="1")
    env.pop("XLA_FLAGS", None)  # device counts and accelerator flags mean nothing to the child
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(transfer)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if done.returncode != 0:
        error_file = transfer / ERROR
        if error_file.is_file():
            error = json.loads(error_file.read_text(encoding="utf-8"))
            text = f"{error['type']}: {error['message']}"
            code = error.get("errno")
        else:  # died before it could say why (killed, or Python could not start)
            tail = done.stderr.strip().splitlines()[-5:]
            text = f"exit status {done.returncode}: {' / '.join(tail) or 'no output'}"
            code = None
        message = f"orbax, run in a separate process under jax.distributed, failed ({text})"
        raise IsolatedError(code, message) if code else IsolatedError(message)
    return json.loads((transfer / RESULT).read_text(encoding="utf-8"))


def _transfer_dir(checkpoint: Path) -> Path:
    """A private directory for the transfer, next to ``checkpoint`` if its parent is writable."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{checkpoint.name}.load-", dir=checkpoint.parent))
    except OSError:  # a read-only place: the system's temporary directory
        return Path(tempfile.mkdtemp(prefix="jaxoptic-load-"))


def write(directory: Path, arrays: dict) -> None:
    """``_write_arrays`` in a child process: ``{key: array}`` into ``directory`` (must not exist;
    its parent is the save's private temporary directory, which holds the transfer meanwhile)."""
    import jax
    import jax.numpy as jnp

    transfer = Path(tempfile.mkdtemp(prefix=".transfer-", dir=directory.parent))
    try:
        records = []
        for i, (key, value) in enumerate(arrays.items()):
            kind, impl = ("numpy" if isinstance(value, np.ndarray) else "jax"), None
            if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
                kind, impl = "key", str(jax.random.key_impl(value))
                value = jax.random.key_data(value)
            rec = _put(transfer, f"{i:04d}.npy", np.asarray(value))
            records.append(dict(rec, key=key, kind=kind, impl=impl))
        _call("write", directory, transfer, records)
    finally:
        shutil.rmtree(transfer, ignore_errors=True)


def read(directory: Path, abstract: dict) -> dict:
    """``_read_arrays`` in a child process: ``{key: array}`` from ``directory`` against
    ``abstract`` (``ShapeDtypeStruct``\\ s give jax arrays, numpy arrays numpy arrays; the values
    come back as numpy arrays, typed keys as keys)."""
    import jax
    import jax.numpy as jnp

    records = []
    for key, value in abstract.items():
        shape, dtype = tuple(value.shape), value.dtype
        if jnp.issubdtype(dtype, jax.dtypes.prng_key):  # asked for as its key data (as orbax does)
            data = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(shape, dtype))
            shape, dtype = data.shape, data.dtype
        kind = "numpy" if isinstance(value, np.ndarray) else "jax"
        records.append(
            {"key": key, "kind": kind, "dtype": np.dtype(dtype).name, "shape": list(shape)}
        )
    transfer = _transfer_dir(directory.parent)
    try:
        result = _call("read", directory, transfer, records)
        out = {}
        for rec in result["arrays"]:
            value = _get(transfer, rec)
            if rec["impl"] is not None:
                value = jax.random.wrap_key_data(jnp.asarray(value), impl=rec["impl"])
            out[rec["key"]] = value
        return out
    finally:
        shutil.rmtree(transfer, ignore_errors=True)


def stored_metadata(directory: Path) -> dict:
    """``_stored_metadata`` in a child process: ``{key: (shape, dtype)}`` (empty if orbax cannot
    tell, or if the child fails: the read that follows reports that)."""
    import jax.numpy as jnp

    transfer = _transfer_dir(directory.parent)
    try:
        result = _call("metadata", directory, transfer, [])
    except IsolatedError:
        return {}
    finally:
        shutil.rmtree(transfer, ignore_errors=True)
    return {
        k: (tuple(shape), np.dtype(jnp.dtype(dtype)))
        for k, (shape, dtype) in (result["metadata"] or {}).items()
    }


# -- the child's side ------------------------------------------------------------------------------
def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.Checkpointer(ocp.StandardCheckpointHandler())


def _child_write(directory: str, records: list, transfer: Path) -> dict:
    import jax
    import orbax.checkpoint as ocp

    arrays = {}
    for rec in records:
        value = _get(transfer, rec)
        if rec["kind"] == "key":
            value = jax.random.wrap_key_data(jax.device_put(value), impl=rec["impl"])
        elif rec["kind"] == "jax":
            value = jax.device_put(value)
        arrays[rec["key"]] = value
    checkpointer = _checkpointer()
    try:
        checkpointer.save(directory, args=ocp.args.StandardSave(arrays))
    finally:
        checkpointer.close()
    return {}


def _child_read(directory: str, records: list, transfer: Path) -> dict:
    import jax
    import jax.numpy as jnp
    import orbax.checkpoint as ocp

    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = {}
    for rec in records:
        shape, dtype = tuple(rec["shape"]), np.dtype(jnp.dtype(rec["dtype"]))
        if rec["kind"] == "numpy":  # a zero-stride view: nothing allocated from the sizes asked
            abstract[rec["key"]] = np.broadcast_to(np.zeros((), dtype), shape)
        else:
            abstract[rec["key"]] = jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)
    checkpointer = _checkpointer()
    try:
        restored = checkpointer.restore(directory, args=ocp.args.StandardRestore(abstract))
    finally:
        checkpointer.close()
    out = []
    for i, (key, value) in enumerate(restored.items()):
        impl = None
        if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            impl = str(jax.random.key_impl(value))
            value = jax.random.key_data(value)
        out.append(dict(_put(transfer, f"{i:04d}.npy", np.asarray(value)), key=key, impl=impl))
    return {"arrays": out}


def _child_metadata(directory: str, records: list, transfer: Path) -> dict:
    checkpointer = _checkpointer()
    try:
        tree = checkpointer.metadata(directory).item_metadata.tree
        meta = {k: [list(v.shape), np.dtype(v.dtype).name] for k, v in tree.items()}
    except Exception:  # as in _checkpoint._stored_metadata: the checksums still guard the data
        meta = None
    finally:
        checkpointer.close()
    return {"metadata": meta}


def main(argv: list[str]) -> int:
    """The child's entry point: do ``request.json``'s command, answer in ``result.json`` (exit
    status 0) or ``error.json`` (exit status 1).

    Parameters
    ----------
    argv
        One argument: the transfer directory.

    Returns
    -------
    int
        The exit status.
    """
    transfer = Path(argv[0])
    request = json.loads((transfer / REQUEST).read_text(encoding="utf-8"))
    command = {"write": _child_write, "read": _child_read, "metadata": _child_metadata}
    try:
        result = command[request["command"]](request["directory"], request["arrays"], transfer)
    except Exception as err:
        code = getattr(err, "errno", None)
        error = {"type": type(err).__name__, "message": str(err)}
        error["errno"] = code if isinstance(code, int) else None
        (transfer / ERROR).write_text(json.dumps(error), encoding="utf-8")
        return 1
    (transfer / RESULT).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
