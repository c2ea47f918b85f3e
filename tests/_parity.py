"""Helpers for the parity tests against stored plenoptic float64 outputs (``tests/reference/*.npz``).

The ``.npz`` files are written by ``tests/reference/generate.py`` (needs plenoptic; not run in CI).
Each file stores its inputs next to the outputs, so the tests never need plenoptic or torch.
"""

from pathlib import Path

import numpy as np

REFERENCE_DIR = Path(__file__).parent / "reference"
RTOL = 1e-6


def load_reference(name: str) -> dict[str, np.ndarray]:
    """Load ``tests/reference/<name>.npz`` as a dict of numpy arrays."""
    with np.load(REFERENCE_DIR / f"{name}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def assert_parity(ours, ref, what: str = "", rtol: float = RTOL) -> None:
    """Assert ``max |ours - ref| <= rtol * max |ref|`` (shapes must match exactly)."""
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != reference {ref.shape}"
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    err = np.max(np.abs(ours - ref)) if ref.size else 0.0
    assert np.isfinite(err), f"{what}: non-finite values"
    assert err <= rtol * max(scale, np.finfo(np.float64).tiny), (
        f"{what}: max |ours - ref| = {err:.3e} > {rtol:g} x max |ref| = {rtol * scale:.3e}"
    )
