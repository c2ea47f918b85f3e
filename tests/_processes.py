"""Helpers for tests that run several processes of one ``jax.distributed`` job on this machine."""

import socket
import subprocess


def free_port() -> int:
    """A TCP port on localhost that nothing listens on (for a coordinator)."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def run_together(commands: list[dict], timeout: float = 240) -> None:
    """Start every ``subprocess.Popen(**kwargs)`` of ``commands`` at once (stderr captured), wait
    for all, and fail with every process's exit status and stderr unless all exit with 0. One
    blocked process blocks the others of its job: one timeout for all, then every one is killed."""
    procs = [
        subprocess.Popen(**kw, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for kw in commands
    ]
    errors = {}
    try:
        for i, proc in enumerate(procs):
            errors[i] = proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for i, proc in enumerate(procs):
        if i not in errors:
            errors[i] = f"(killed after {timeout} s)\n" + proc.communicate()[1]
    report = "\n".join(
        f"--- process {i} (exit status {p.returncode}) stderr:\n{errors[i][-4000:]}"
        for i, p in enumerate(procs)
    )
    assert all(p.returncode == 0 for p in procs), report
