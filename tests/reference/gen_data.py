"""Write ``tests/reference/data.npz``: plenoptic 2.1.1 outputs for the data helpers (float64).

Run with the reference environment (torch + plenoptic, not jaxoptic)::

    python tests/reference/gen_data.py

Covers ``polar_radius``, ``polar_angle``, ``disk`` and ``load_images`` (8-bit gray, 8-bit RGB, RGBA,
16-bit gray PNG; gray and colour modes). The raw pixel arrays are stored so that the tests can write
the same files and read them with jaxoptic.
"""

import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import plenoptic as po

OUT = Path(__file__).parent / "data.npz"


def main():
    out = {}
    for i, (size, kw) in enumerate(
        [
            (16, {}),
            ((12, 20), {"exponent": 2.0}),
            ((9, 7), {"exponent": -1.0}),
            (10, {"origin": (3, 4)}),
        ]
    ):
        out[f"polar_radius/{i}"] = po.data.polar_radius(size, **kw).double().numpy()
    for i, (size, kw) in enumerate(
        [
            (16, {}),
            ((12, 20), {"phase": 0.3}),
            ((9, 7), {"direction": "counter-clockwise"}),
            (10, {"origin": 3}),
        ]
    ):
        out[f"polar_angle/{i}"] = po.data.polar_angle(size, **kw).double().numpy()
    for i, (size, kw) in enumerate(
        [(16, {}), ((12, 20), {}), (21, {"outer_radius": 8, "inner_radius": 2})]
    ):
        out[f"disk/{i}"] = po.data.disk(size, **kw).double().numpy()

    rng = np.random.default_rng(0)
    raw = {
        "gray8": rng.integers(0, 256, (12, 16), dtype=np.uint8),
        "rgb8": rng.integers(0, 256, (12, 16, 3), dtype=np.uint8),
        "rgba8": rng.integers(0, 256, (12, 16, 4), dtype=np.uint8),
        "gray16": rng.integers(0, 65536, (12, 16), dtype=np.uint16),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, arr in raw.items():
            path = Path(tmp) / f"{name}.png"
            iio.imwrite(path, arr)
            out[f"raw/{name}"] = arr
            for as_gray in (True, False):
                out[f"load_images/{name}/{'gray' if as_gray else 'color'}"] = (
                    po.load_images(path, as_gray=as_gray).double().numpy()
                )
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(out)} arrays)")


if __name__ == "__main__":
    main()
