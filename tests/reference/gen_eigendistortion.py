"""Write ``tests/reference/eigendistortion.npz``: plenoptic 2.1.1 eigendistortions in float64.

Run with the reference environment (torch + plenoptic, not jaxoptic), from the repository root::

    /work/refvenv/bin/python tests/reference/gen_eigendistortion.py

The script is deterministic (fixed torch seed) and rewrites the file each time. It takes a few
minutes, mostly plenoptic's power iteration run to a tight ``stop_criterion``.

Model: ``po.models.OnOff(kernel_size=(31, 31), pretrained=True)`` on the central 32 x 32 crop of the
bundled camera image (float64 in [0, 1]). Its Fisher matrix ``JᵀJ`` (1024 x 1024) has a clear
spectrum at both ends (top 0.2066 / 0.1907, bottom 1.46e-4 / 1.39e-3).

Stored keys:

- ``onoff32/input``: the image ``(1, 32, 32)``;
- ``onoff32/exact/eigenvalues``: all 1024 eigenvalues of ``method="exact"`` (descending);
- ``onoff32/exact/top``, ``onoff32/exact/bottom``: its top 3 and bottom 3 eigendistortions
  ``(3, 1, 32, 32)`` (bottom in plenoptic's order: eigenindex n-3, n-2, n-1);
- ``onoff32/power/eigenvalues``, ``onoff32/power/eigendistortions``: ``method="power"``, ``k=1``,
  run to plenoptic's own convergence with a tight ``stop_criterion=1e-14`` (``max_iter=20000``);
- ``onoff32/power_default/eigenvalues``, ``.../eigendistortions``: ``method="power"`` with
  plenoptic's defaults (``stop_criterion=1e-7``, ``max_iter=1000``), to document how far its
  eigenvalue-change stop lands from the eigenvectors.
"""

from pathlib import Path

import numpy as np
import plenoptic as po
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)

HERE = Path(__file__).parent
OUT = HERE / "eigendistortion.npz"
IMAGES = HERE.parents[1] / "jaxoptic" / "data" / "images"


def camera(size: int) -> np.ndarray:
    """Central ``size`` x ``size`` crop of the 256 x 256 camera image, as float64 in [0, 1]."""
    img = np.asarray(Image.open(IMAGES / "camera.png").convert("L"), dtype=np.float64) / 255
    h, w = img.shape
    top, left = (h - size) // 2, (w - size) // 2
    return img[None, top : top + size, left : left + size]


def onoff() -> torch.nn.Module:
    model = po.models.OnOff(kernel_size=(31, 31), pretrained=True, cache_filt=True).eval()
    po.remove_grad(model)
    return model


def main():
    out = {}
    image = camera(32)
    x = torch.as_tensor(image[None])
    out["onoff32/input"] = image

    eig = po.Eigendistortion(x, onoff())
    eig.synthesize(method="exact")
    vals = eig.eigenvalues.numpy()
    vecs = eig.eigendistortions.numpy()
    out["onoff32/exact/eigenvalues"] = vals
    out["onoff32/exact/top"] = vecs[:3]
    out["onoff32/exact/bottom"] = vecs[-3:]
    print(f"exact: top {vals[:2]}, bottom {vals[-2:]}")

    for name, kwargs in [
        ("power", dict(stop_criterion=1e-14, max_iter=20000)),
        ("power_default", {}),
    ]:
        po.set_seed(0)
        eig = po.Eigendistortion(x, onoff())
        eig.synthesize(method="power", k=1, **kwargs)
        out[f"onoff32/{name}/eigenvalues"] = eig.eigenvalues.numpy()
        out[f"onoff32/{name}/eigendistortions"] = eig.eigendistortions.numpy()
        cos = [
            abs(float(np.sum(eig.eigendistortions.numpy()[i] * ref)))
            for i, ref in ((0, vecs[0]), (1, vecs[-1]))
        ]
        print(f"{name}: eigenvalues {eig.eigenvalues.numpy()}, |cos| with exact {cos}")

    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(out)} arrays)")


if __name__ == "__main__":
    main()
