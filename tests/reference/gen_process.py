"""Generate ``tests/reference/process.npz``: plenoptic 2.1.1 float64 outputs for the filter/convolution helpers,
the Laplacian pyramid and local gain control.

Run from the repository root with the reference environment (plenoptic + torch, not jaxoptic)::

    /work/refvenv/bin/python tests/reference/gen_process.py

The script is idempotent: it rebuilds the same inputs (numpy RNG seed 0 and a crop of the bundled camera
image) and overwrites the npz. Images are stored as ``(channels, height, width)``; plenoptic gets them with a
leading batch axis of 1, which is dropped from every stored output. Circular Gaussian filters are stored as
``(out_channels, kh, kw)`` (plenoptic's singleton input-channel axis dropped).

Keys (``<case>`` names describe the inputs):

- ``gauss/<case>/{kernel_size,std,out_channels,filt}``: ``circular_gaussian2d`` (odd, even, non-square kernels,
  per-channel std); ``out_channels`` is -1 for None.
- ``img/<name>``: the input images (random ``r2_17x20``, ``r2_32x32``, ``r2_33x31``, ``r2_16x16``,
  ``r2_17x15``, ``r2_64x48``, ``r1_33x47``, ``r1_45x37``, camera crop ``cam_64x64``, ``r2_32x40``).
- ``filt/<name>``: random 2-D filters (``f3x3``, ``f4x4``, ``f2x5``, ``f5x5``, ``f12x12``).
- ``pad/<img>/<mode>/k<kh>x<kw>/s<sh>x<sw>/d<dh>x<dw>``: ``same_padding`` output.
- ``cd/<img>/<filt>/<mode>``: ``correlate_downsample``.
- ``uc/<img>/<filt>/<mode>/odd<oh><ow>``: ``upsample_convolve``.
- ``bd/<img>/n<n_scales>/sf<0|1>``: ``blur_downsample`` (binom5).
- ``ub/<img>/n<n_scales>/sf<0|1>/odd<oh><ow>``: ``upsample_blur`` (binom5).
- ``lap/<img>/n<n_scales>/sf<0|1>/<level>``: ``LaplacianPyramid`` levels; ``.../recon``: ``recon_pyr`` (n_scales 5).
- ``lgc/<img>/{norm,direction,release}``: ``local_gain_control`` / ``local_gain_release`` on an image.
- ``spyr/in/<key>``: coefficients of ``SteerablePyramidFreq((32, 32), height=2, order=2)`` of a 2-channel
  32x32 image (bands ``(C, n_bands, h, w)``); ``spyr/{energy,state}/<key>`` and ``spyr/release/<key>``: the dict
  forms (``residuals=True``) and ``spyr/energy_nores/<key>`` with ``residuals=False``.
"""

import warnings
from pathlib import Path

import numpy as np
import plenoptic as po
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)
warnings.simplefilter("ignore")

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "process.npz"
MODES = ["constant", "reflect", "replicate", "circular"]

out: dict[str, np.ndarray] = {}


def t(x):
    """(C, H, W) numpy -> (1, C, H, W) float64 tensor."""
    return torch.as_tensor(np.asarray(x, dtype=np.float64))[None]


def n(x):
    """(1, ...) tensor -> numpy without the batch axis."""
    return x.detach().numpy()[0]


rng = np.random.default_rng(0)

# ---------------------------------------------------------------------------------------------- Gaussians
gauss_cases = {
    "odd5_std1": ((5, 5), 1.0, None),
    "even6_std1.5": ((6, 6), 1.5, None),
    "rect5x8_std2": ((5, 8), 2.0, None),
    "perchan7": ((7, 7), [0.5, 1.0, 3.0], None),
    "rect4x7_out2": ((4, 7), 1.3, 2),
    "int9": (9, 2.5, None),
}
for name, (ks, std, oc) in gauss_cases.items():
    filt = po.process.circular_gaussian2d(ks, torch.as_tensor(std, dtype=torch.float64), oc)
    out[f"gauss/{name}/kernel_size"] = np.asarray(ks)
    out[f"gauss/{name}/std"] = np.asarray(std, dtype=np.float64)
    out[f"gauss/{name}/out_channels"] = np.asarray(-1 if oc is None else oc)
    out[f"gauss/{name}/filt"] = filt.numpy()[:, 0]

# ---------------------------------------------------------------------------------------------- inputs
imgs = {
    "r2_17x20": rng.random((2, 17, 20)),
    "r2_32x32": rng.random((2, 32, 32)),
    "r2_33x31": rng.random((2, 33, 31)),
    "r2_16x16": rng.random((2, 16, 16)),
    "r2_17x15": rng.random((2, 17, 15)),
    "r2_64x48": rng.random((2, 64, 48)),
    "r1_33x47": rng.random((1, 33, 47)),
    "r1_45x37": rng.random((1, 45, 37)),
    "r2_32x40": rng.random((2, 32, 40)),
}
camera = (
    np.asarray(Image.open(ROOT / "jaxoptic" / "data" / "images" / "camera.png"), dtype=np.float64)
    / 255
)
imgs["cam_64x64"] = camera[None, 96:160, 96:160]
for name, img in imgs.items():
    out[f"img/{name}"] = img
filts = {
    "f3x3": rng.standard_normal((3, 3)),
    "f4x4": rng.standard_normal((4, 4)),
    "f2x5": rng.standard_normal((2, 5)),
    "f5x5": rng.random((5, 5)),
    "f12x12": rng.random((12, 12)) / 144,
}
for name, f in filts.items():
    out[f"filt/{name}"] = f

# ---------------------------------------------------------------------------------------------- same_padding
x = t(imgs["r2_17x20"])
for mode in MODES:
    for ks in [(5, 5), (4, 4), (3, 6)]:
        for stride in [(1, 1), (2, 2)]:
            for dil in [(1, 1), (2, 1)]:
                key = f"pad/r2_17x20/{mode}/k{ks[0]}x{ks[1]}/s{stride[0]}x{stride[1]}/d{dil[0]}x{dil[1]}"
                out[key] = n(po.process.same_padding(x, ks, stride, dil, pad_mode=mode))

# ---------------------------------------------------------------------------------------------- correlate_downsample
for img in ["r2_32x32", "r2_33x31"]:
    for fname in ["f3x3", "f4x4", "f2x5", "f12x12"]:
        for mode in MODES:
            res = po.process.correlate_downsample(
                t(imgs[img]), torch.as_tensor(filts[fname]), padding_mode=mode
            )
            out[f"cd/{img}/{fname}/{mode}"] = n(res)

# ---------------------------------------------------------------------------------------------- upsample_convolve
for img in ["r2_16x16", "r2_17x15"]:
    for fname in ["f3x3", "f4x4", "f5x5", "f2x5"]:
        # every mode and parity for the 4x4 filter; the others with fewer combinations (keeps the file small)
        for mode in MODES if fname in ("f4x4", "f2x5") else ["reflect", "constant"]:
            for odd in [(0, 0), (1, 1), (1, 0)] if fname == "f4x4" else [(1, 0)]:
                res = po.process.upsample_convolve(
                    t(imgs[img]), odd, torch.as_tensor(filts[fname]), padding_mode=mode
                )
                out[f"uc/{img}/{fname}/{mode}/odd{odd[0]}{odd[1]}"] = n(res)

# ---------------------------------------------------------------------------------------------- blur / upsample
for img in ["r2_64x48", "r1_33x47"]:
    for ns in [1, 2]:
        for sf in [False, True]:
            res = po.process.blur_downsample(t(imgs[img]), n_scales=ns, scale_filter=sf)
            out[f"bd/{img}/n{ns}/sf{int(sf)}"] = n(res)
for img in ["r2_16x16", "r2_17x15"]:
    for ns in [1, 2]:
        for sf in [False, True]:
            for odd in [(0, 0), (1, 1), (0, 1)] if ns == 1 else [(0, 1)]:
                res = po.process.upsample_blur(t(imgs[img]), odd, n_scales=ns, scale_filter=sf)
                out[f"ub/{img}/n{ns}/sf{int(sf)}/odd{odd[0]}{odd[1]}"] = n(res)

# ---------------------------------------------------------------------------------------------- Laplacian pyramid
for img in ["r2_64x48", "r1_45x37", "cam_64x64"]:
    for ns in [3, 5]:
        for sf in [False, True]:
            lap = po.process.LaplacianPyramid(n_scales=ns, scale_filter=sf)
            levels = lap(t(imgs[img]))
            for i, level in enumerate(levels):
                out[f"lap/{img}/n{ns}/sf{int(sf)}/{i}"] = n(level)
            if ns == 5:
                out[f"lap/{img}/n{ns}/sf{int(sf)}/recon"] = n(lap.recon_pyr(levels))

# ---------------------------------------------------------------------------------------------- gain control
for img in ["r2_32x40", "r1_33x47"]:
    norm, direction = po.process.local_gain_control(t(imgs[img]))
    out[f"lgc/{img}/norm"] = n(norm)
    out[f"lgc/{img}/direction"] = n(direction)
    out[f"lgc/{img}/release"] = n(po.process.local_gain_release(norm, direction))

spyr = po.process.SteerablePyramidFreq((32, 32), height=2, order=2)
spyr_img = rng.random((2, 32, 32))
out["img/spyr_r2_32x32"] = spyr_img
coeffs = spyr(t(spyr_img))
energy, state = po.process.local_gain_control_dict(coeffs)
energy_nores, _ = po.process.local_gain_control_dict(coeffs, residuals=False)
release = po.process.local_gain_release_dict(energy, state)
for key, val in coeffs.items():
    out[f"spyr/in/{key}"] = n(val)
for key, val in energy.items():
    out[f"spyr/energy/{key}"] = n(val)
for key, val in energy_nores.items():
    out[f"spyr/energy_nores/{key}"] = n(val)
for key, val in state.items():
    out[f"spyr/state/{key}"] = n(val)
for key, val in release.items():
    out[f"spyr/release/{key}"] = n(val)
out["spyr/in_keys"] = np.asarray([str(k) for k in coeffs])
out["spyr/energy_keys"] = np.asarray([str(k) for k in energy])
out["spyr/release_keys"] = np.asarray([str(k) for k in release])

np.savez_compressed(OUT, **out)
print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {len(out)} arrays)")
