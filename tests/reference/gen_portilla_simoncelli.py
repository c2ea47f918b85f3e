"""Reference outputs of plenoptic 2.1.1's ``PortillaSimoncelli`` (float64) for jaxoptic's parity tests.

Run from the repository root with the reference environment (plenoptic 2.1.1 + torch, CPU)::

    /work/refvenv/bin/python tests/reference/gen_portilla_simoncelli.py

It writes ``tests/reference/portilla_simoncelli.npz`` (idempotent: fixed images and seeds). This script
imports plenoptic and torch only, never jaxoptic.

Keys, for each case ``<name>``:

- ``input/<key>``: the images, ``(C, H, W)`` float64, each stored once; ``<name>/input_key`` names the
  case's image.
- ``<name>/args``: ``[n_scales, n_orientations, spatial_corr_width]``.
- ``<name>/rep``: the representation, ``(C, n_stats)``.
- ``<name>/rep_scales<i>`` with ``<name>/scales<i>`` (the ``scales=`` argument as strings): restricted output.
- ``<name>/representation_scales``: the scale label of each statistic (strings).
- ``<name>/dict/<group>``: ``convert_to_dict(rep)`` (NaN at redundant entries), for some cases.
- ``<name>/grad`` with ``<name>/grad_weights``: gradient with respect to the image of
  ``sum(weights * rep**2)``, for some cases.
- ``counts/<n_scales>_<n_orientations>_<width>``: number of statistics at 256x256.
"""

from pathlib import Path

import numpy as np
import plenoptic as po
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "jaxoptic" / "data" / "images"
OUT = Path(__file__).resolve().parent / "portilla_simoncelli.npz"


def load(name):
    return np.asarray(Image.open(IMAGES / f"{name}.png"), dtype=np.float64) / 255.0


def scale_names(scales):
    return np.array([str(s) for s in scales])


def main():
    brick = load("brick")[None]  # (1, 256, 256)
    grass = load("grass")
    gravel = load("gravel")
    camera = load("camera")

    inputs = {
        "brick256": brick,
        "grass128": grass[64:192, 32:160][None],
        "gravel128x192": gravel[40:168, 20:212][None],
        "rgb64": np.stack([camera[100:164, 80:144], grass[0:64, 0:64], gravel[128:192, 64:128]]),
        "camera128": camera[60:188, 70:198][None],
        "gravel80x112": gravel[150:230, 100:212][None],
    }
    # name -> (input key, (n_scales, n_orientations, width), scale subsets, dict?, grad?)
    cases = {
        "default": (
            "brick256",
            (4, 4, 7),
            [[0], ["pixel_statistics", "residual_lowpass", 3], ["residual_highpass", 1, 2]],
            True,
            True,
        ),
        "one_scale": (
            "grass128",
            (1, 4, 7),
            [[0], ["residual_lowpass", "residual_highpass"]],
            True,
            False,
        ),
        "even_width": ("camera128", (4, 4, 6), [[3, "residual_lowpass"]], True, False),
        "nonsquare": ("gravel128x192", (3, 4, 7), [[1], ["pixel_statistics", 2]], False, False),
        "rgb": ("rgb64", (3, 4, 7), [[2, 1]], False, True),
        "two_orientations": ("camera128", (4, 2, 5), [[0, "residual_highpass"]], True, False),
        "width9": ("grass128", (3, 4, 9), [[0, 2]], False, False),
        # odd-sized residual lowpass (5x7) and an odd number of orientations (even pyramid order)
        "odd_lowpass": ("gravel80x112", (4, 3, 5), [["residual_lowpass"]], True, False),
    }

    out = {}
    for key, img in inputs.items():
        out[f"input/{key}"] = img
    rng = np.random.default_rng(0)
    for name, (input_key, args, subsets, with_dict, with_grad) in cases.items():
        img = inputs[input_key]
        model = po.models.PortillaSimoncelli(img.shape[-2:], *args).to(torch.float64)
        x = torch.tensor(img[None], dtype=torch.float64)
        out[f"{name}/input_key"] = np.array(input_key)
        out[f"{name}/args"] = np.array(args)
        with torch.no_grad():
            rep = model(x)
        out[f"{name}/rep"] = rep[0].numpy()
        out[f"{name}/representation_scales"] = scale_names(model._representation_scales)
        for i, subset in enumerate(subsets):
            with torch.no_grad():
                out[f"{name}/rep_scales{i}"] = model(x, scales=subset)[0].numpy()
            out[f"{name}/scales{i}"] = scale_names(subset)
        if with_dict:
            for k, v in model.convert_to_dict(rep).items():
                out[f"{name}/dict/{k}"] = v[0].numpy()
        if with_grad:
            weights = rng.uniform(0.5, 1.5, size=rep.shape[1:])
            xg = x.clone().requires_grad_(True)
            f = (torch.tensor(weights)[None] * model(xg) ** 2).sum()
            f.backward()
            out[f"{name}/grad_weights"] = weights
            out[f"{name}/grad"] = xg.grad[0].numpy()
        print(name, tuple(rep.shape), float(rep.abs().max()))

    for args in [(4, 4, 7), (1, 4, 7), (4, 2, 5), (3, 4, 9), (4, 4, 6)]:
        model = po.models.PortillaSimoncelli((256, 256), *args)
        out["counts/{}_{}_{}".format(*args)] = np.array(len(model._representation_scales))

    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
