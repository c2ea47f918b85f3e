"""Generate ``tests/reference/signal.npz``: plenoptic 2.1.1 float64 outputs of the signal/stats helpers.

Run from the repository root with the reference environment (plenoptic + torch, not jaxoptic)::

    /work/refvenv/bin/python tests/reference/gen_signal.py

The script is idempotent: it always rebuilds the same inputs (numpy RNG, seed 0) and overwrites the npz.

Inputs (stored as ``input/<name>``): ``real`` (2, 16, 16) camera crop and noise; ``cplx`` (2, 16, 16)
complex128; ``odd`` (1, 9, 7) real; ``rect`` (1, 12, 20) real; ``positive`` (2, 16, 16) amplitudes in
[0, 1) and ``phase`` (2, 16, 16) in [-pi, pi).

Outputs (``<function>/<case>``):

- ``expand/{real,cplx}_f{2,4}``, ``expand/rect_f1.5``, ``expand/odd_f2``;
- ``shrink/{real,cplx}_f{2,4}``, ``shrink/rect_f4``;
- ``autocorrelation/{real,rect,odd}`` (odd width 7 gives width 6, as in plenoptic);
- ``center_crop/real_{1,4,7}``, ``center_crop/odd_3``;
- ``modulate_phase/cplx_{2,0.5}``;
- ``rectangular_to_polar/cplx_{amplitude,phase}``, ``polar_to_rectangular/positive``;
- ``rescale/real``, ``rescale/real_m1_2`` (a=-1, b=2);
- ``{variance,skew,kurtosis}/{all,hw,hw_keep,hw_mean0,hw_given}``: reduce over everything; over the
  last two axes; the same with ``keepdim=True``; with ``mean=0``; with ``mean=0`` and the ``var`` of
  ``hw_mean0`` passed in (the Portilla-Simoncelli call pattern). Computed on ``real``.
"""

from pathlib import Path

import numpy as np
import plenoptic as po
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)
HERE = Path(__file__).parent
IMAGES = HERE.parents[1] / "jaxoptic" / "data" / "images"


def main():
    rng = np.random.default_rng(0)
    cam = np.asarray(Image.open(IMAGES / "camera.png"), dtype=np.float64)[100:116, 120:136] / 255
    inputs = {
        "real": np.stack([cam, rng.standard_normal((16, 16))]),
        "cplx": rng.standard_normal((2, 16, 16)) + 1j * rng.standard_normal((2, 16, 16)),
        "odd": rng.random((1, 9, 7)),
        "rect": rng.random((1, 12, 20)),
        "positive": rng.random((2, 16, 16)),
        "phase": rng.uniform(-np.pi, np.pi, (2, 16, 16)),
    }
    t = {k: torch.as_tensor(v) for k, v in inputs.items()}
    sig = po.process
    out = {f"input/{k}": v for k, v in inputs.items()}

    def put(key, value):
        out[key] = value.detach().numpy()

    for name in ("real", "cplx"):
        for f in (2, 4):
            put(f"expand/{name}_f{f}", sig.expand(t[name], f))
            put(f"shrink/{name}_f{f}", sig.shrink(t[name], f))
    put("expand/rect_f1.5", sig.expand(t["rect"], 1.5))
    put("expand/odd_f2", sig.expand(t["odd"], 2))
    put("shrink/rect_f4", sig.shrink(t["rect"], 4))
    for name in ("real", "rect", "odd"):
        put(f"autocorrelation/{name}", sig.autocorrelation(t[name]))
    for n in (1, 4, 7):
        put(f"center_crop/real_{n}", sig.center_crop(t["real"], n))
    put("center_crop/odd_3", sig.center_crop(t["odd"], 3))
    for f in (2, 0.5):
        put(f"modulate_phase/cplx_{f}", sig.modulate_phase(t["cplx"], f))
    amp, phase = sig.rectangular_to_polar(t["cplx"])
    put("rectangular_to_polar/cplx_amplitude", amp)
    put("rectangular_to_polar/cplx_phase", phase)
    put("polar_to_rectangular/positive", sig.polar_to_rectangular(t["positive"], t["phase"]))
    put("rescale/real", sig.rescale(t["real"]))
    put("rescale/real_m1_2", sig.rescale(t["real"], a=-1, b=2))
    x = t["real"]
    var0 = sig.variance(x, mean=0, dim=[-2, -1])
    for fn in ("variance", "skew", "kurtosis"):
        f = getattr(sig, fn)
        put(f"{fn}/all", f(x))
        put(f"{fn}/hw", f(x, dim=[-2, -1]))
        put(f"{fn}/hw_keep", f(x, dim=[-2, -1], keepdim=True))
        put(f"{fn}/hw_mean0", f(x, mean=0, dim=[-2, -1]))
        if fn != "variance":
            put(f"{fn}/hw_given", f(x, mean=0, var=var0, dim=[-2, -1]))
    path = HERE / "signal.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(out)} arrays)")


if __name__ == "__main__":
    main()
