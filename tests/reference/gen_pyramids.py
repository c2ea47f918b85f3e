"""Generate ``tests/reference/pyramids.npz``: plenoptic 2.1.1 float64 steerable-pyramid outputs.

Run from the repository root with the reference environment (plenoptic + torch, not jaxoptic)::

    /work/refvenv/bin/python tests/reference/gen_pyramids.py

The script is idempotent: it always rebuilds the same inputs and overwrites the npz.

Two changes make plenoptic a true float64 oracle (both only remove float32 rounding):

- ``SteerablePyramidFreq.__init__`` ends with ``self.to(torch.float32)``, which rounds the float64 numpy
  masks to float32. The subclass ``_Pyr64`` below keeps them in float64 (jaxoptic's masks are float64).
- ``_recon_levels`` builds the upsampled lowpass in a ``complex64`` buffer (``zeros_like(...,
  dtype=torch.complex64)``) even for float64 input. While reconstructing, ``torch.zeros_like`` is
  patched to use ``complex128`` instead. The script prints how far the unpatched reconstruction is from
  the patched one (relative to max |image|; about 1e-8, far below the 1e-6 parity tolerance).

Keys (shapes drop plenoptic's batch axis, so images are ``(C, H, W)`` and bands ``(C, n_ori, h, w)``):

- ``<case>/params``: JSON string with the constructor arguments (``height`` may be ``"auto"``).
- ``<case>/input``: the float64 image.
- ``<case>/out/<key>``: forward outputs, ``key`` in ``residual_highpass, 0, 1, ..., residual_lowpass``.
  Complex bands are stored as complex128.
- ``<case>/recon/<name>``: ``recon_pyr`` outputs; ``<name>`` is a JSON string
  ``{"levels": ..., "bands": ...}`` (``"all"`` or a list).
- ``<case>/scales_out/<key>``: forward with ``scales=[...]`` (only for case ``default``).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import plenoptic as po
import plenoptic.process.steerable_pyramid_freq as spf
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)
warnings.simplefilter("ignore")  # odd-size images warn; expected

HERE = Path(__file__).parent
IMAGES = HERE.parents[1] / "jaxoptic" / "data" / "images"


class _Pyr64(po.process.SteerablePyramidFreq):
    """plenoptic's pyramid with its masks kept in float64."""

    def to(self, *args, **kwargs):
        return super().to(torch.float64)


def _image(name, top, left, h, w):
    im = np.asarray(Image.open(IMAGES / f"{name}.png"), dtype=np.float64) / 255
    return im[top : top + h, left : left + w]


def _inputs():
    rng = np.random.default_rng(0)
    return {
        "cam64": _image("camera", 60, 100, 64, 64)[None],
        "cam32": _image("camera", 120, 90, 32, 32)[None],
        "noise32": rng.standard_normal((1, 32, 32)),
        "brick32x48": _image("brick", 10, 20, 32, 48)[None],
        "grass48x32": _image("grass", 30, 40, 48, 32)[None],
        "rgb32": np.stack(
            [_image("camera", 0, 0, 32, 32), _image("gravel", 64, 64, 32, 32), rng.random((32, 32))]
        ),
        "odd17x22": _image("gravel", 5, 7, 17, 22)[None],
        "small16": rng.random((1, 16, 16)),
    }


# (case name, input name, constructor kwargs)
CASES = [
    ("default", "cam64", {}),
    ("h1_o0", "cam32", {"height": 1, "order": 0}),
    ("h3_o1", "noise32", {"height": 3, "order": 1}),
    ("h0", "cam32", {"height": 0}),
    ("h3_o3_cplx", "cam32", {"height": 3, "order": 3, "is_complex": True}),
    ("auto_o5_cplx", "cam32", {"order": 5, "is_complex": True}),
    ("h3_o3_cplx_tight", "cam32", {"height": 3, "is_complex": True, "tight_frame": True}),
    ("h3_o3_tight", "noise32", {"height": 3, "tight_frame": True}),
    ("h3_o1_nods", "cam32", {"height": 3, "order": 1, "downsample": False}),
    ("h3_o3_cplx_nods", "cam32", {"height": 3, "is_complex": True, "downsample": False}),
    (
        "h3_o3_cplx_nods_tight",
        "noise32",
        {"height": 3, "is_complex": True, "downsample": False, "tight_frame": True},
    ),
    (
        "h2_o2_nods_tight",
        "cam32",
        {"height": 2, "order": 2, "downsample": False, "tight_frame": True},
    ),
    (
        "h1_o0_nods_tight",
        "cam32",
        {"height": 1, "order": 0, "downsample": False, "tight_frame": True},
    ),
    ("nonsq_auto_cplx", "brick32x48", {"is_complex": True}),
    ("nonsq_h3_o1_tight", "grass48x32", {"height": 3, "order": 1, "tight_frame": True}),
    ("nonsq_h2_o5_nods", "brick32x48", {"height": 2, "order": 5, "downsample": False}),
    ("rgb_h3_cplx", "rgb32", {"height": 3, "is_complex": True}),
    ("rgb_h2_o1", "rgb32", {"height": 2, "order": 1}),
    ("twidth2", "cam32", {"height": 2, "order": 3, "twidth": 2}),
    ("odd_h2_cplx", "odd17x22", {"height": 2, "is_complex": True}),
    ("odd_h1_o2_nods", "odd17x22", {"height": 1, "order": 2, "downsample": False}),
    ("small_auto_o3_cplx", "small16", {"is_complex": True}),
]


# cases that also get partial reconstructions (every case gets the full one)
PARTIAL_RECON = {
    "h3_o1",
    "h3_o3_cplx",
    "h3_o3_cplx_tight",
    "h3_o3_cplx_nods",
    "h3_o1_nods",
    "nonsq_auto_cplx",
    "rgb_h3_cplx",
    "odd_h2_cplx",
}


def _recon_requests(name, n_scales, n_ori):
    reqs = [{"levels": "all", "bands": "all"}]
    if name not in PARTIAL_RECON:
        return reqs
    if n_scales >= 1:
        reqs += [
            {"levels": ["residual_lowpass"], "bands": "all"},
            {"levels": ["residual_highpass"], "bands": "all"},
            {"levels": [0], "bands": "all"},
            {"levels": [n_scales - 1, "residual_lowpass"], "bands": "all"},
            {"levels": "all", "bands": [0]},
        ]
    if n_scales >= 2:
        reqs += [{"levels": [1, 0, "residual_highpass"], "bands": "all"}]
    if n_ori >= 3 and n_scales >= 1:
        reqs += [
            {"levels": "all", "bands": [0, n_ori - 1]},
            {"levels": [0, n_scales - 1], "bands": [1, 2]},
        ]
    return reqs


def _to_np(t):
    return t.detach().numpy()[0]


def _recon(pyr, coeffs, patched, **kw):
    if not patched:
        return _to_np(pyr.recon_pyr(coeffs, **kw))
    orig = torch.zeros_like

    def zeros_like(x, *args, dtype=None, **kwargs):
        if dtype is torch.complex64 and x.dtype in (torch.float64, torch.complex128):
            dtype = torch.complex128
        return orig(x, *args, dtype=dtype, **kwargs)

    spf.torch.zeros_like = zeros_like
    try:
        return _to_np(pyr.recon_pyr(coeffs, **kw))
    finally:
        spf.torch.zeros_like = orig


def main():
    inputs = _inputs()
    out = {}
    worst = 0.0
    for name, inp, kwargs in CASES:
        img = inputs[inp]
        pyr = _Pyr64(img.shape[-2:], **kwargs)
        assert all(b.dtype == torch.float64 for b in pyr.buffers())
        x = torch.as_tensor(img)[None]
        coeffs = pyr(x)
        out[f"{name}/params"] = np.array(json.dumps(kwargs))
        out[f"{name}/input"] = img
        for k, v in coeffs.items():
            out[f"{name}/out/{k}"] = _to_np(v)
        for req in _recon_requests(name, pyr.num_scales, pyr.num_orientations):
            rec = _recon(pyr, coeffs, True, **req)
            plain = _recon(pyr, coeffs, False, **req)
            worst = max(worst, float(np.abs(rec - plain).max() / np.abs(img).max()))
            out[f"{name}/recon/{json.dumps(req)}"] = rec
        if name == "default":
            sub = pyr(x, scales=["residual_lowpass", 3, 1])
            for k, v in sub.items():
                out[f"{name}/scales_out/{k}"] = _to_np(v)
    path = HERE / "pyramids.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(out)} arrays)")
    print(f"max |recon(complex64 buffer) - recon(complex128)| / max|image| = {worst:.2e}")


if __name__ == "__main__":
    main()
