"""Generate ``tests/reference/metrics.npz``: plenoptic 2.1.1 float64 outputs for the image-quality metrics.

Run from the repository root with the reference environment (plenoptic + torch, not jaxoptic)::

    /work/refvenv/bin/python tests/reference/gen_metrics.py

The script is idempotent: it always rebuilds the same inputs and overwrites the npz.

Inputs are stored as ``uint8`` arrays (``<case>/img1_u8``, ``<case>/img2_u8``); the images are these values
divided by 255 in float64, both here and in the tests, so they are bit-identical. Cases (shapes are
``(channels, height, width)``; plenoptic gets them with a leading batch axis of 1, which is dropped from
every stored output):

- ``big``   (2, 161, 180): camera and grass crops against noisy, lower-contrast copies. 161 is the smallest
  size MS-SSIM accepts with its five scales (the coarsest scale is 11 pixels high); 180 gives odd sizes at
  some scales.
- ``small`` (3, 37, 45): camera, brick and gravel crops; used for every SSIM padding mode, two-scale MS-SSIM,
  the normalised Laplacian pyramid and all the gradients.
- ``tiny``  (2, 8, 9): smaller than the 11x11 SSIM window, so the window shrinks to 8x8 (even size).

Outputs per case (where they apply):

- ``ssim/w{0,1}/pad_{False,constant,reflect,replicate,circular}`` (``big``: ``pad_False`` and
  ``pad_reflect`` only), ``ssim_map``, ``mse``;
- ``ms_ssim/default``, ``ms_ssim/custom3`` (``[0.5, 0.25, 0.25]``), ``ms_ssim/equal5`` (``[0.2] * 5``) for
  ``big``; ``ms_ssim/2scales`` (``[0.4, 0.6]``) for ``small``;
- ``nlpd``, ``nlpd/eps1e-4`` (``big``, ``small``); ``nlp/<level>``: ``normalized_laplacian_pyramid`` of
  img1 (``small``);
- ``model_metric/identity``, ``model_metric/tanh_sub`` (``tanh(2x - 1)[:, ::2, ::3]``, a small module
  written below) and, for ``big``, ``model_metric/gaussian5_ch0`` (plenoptic ``Gaussian(5, std=1.)`` on
  channel 0, since that model takes one channel);
- ``small/grad/<name>``: gradients with respect to img2 of the sum over channels of ``ssim`` (``w0/pad_False``
  and ``w1/pad_reflect``), ``ms_ssim/2scales`` and ``nlpd``.

Also ``dn_filts`` and ``dn_sigmas``: plenoptic's NLPD data files, copied verbatim.
"""

import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import plenoptic as po
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)
warnings.simplefilter("ignore")  # plenoptic warns for multi-channel and tiny images; expected here

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "jaxoptic" / "data" / "images"
OUT = Path(__file__).resolve().parent / "metrics.npz"

PADS = [False, "constant", "reflect", "replicate", "circular"]
POWER_FACTORS = {
    "default": None,
    "custom3": [0.5, 0.25, 0.25],
    "equal5": [0.2, 0.2, 0.2, 0.2, 0.2],
}


def load(name):
    return np.asarray(Image.open(IMAGES / f"{name}.png"), dtype=np.uint8)


def quantize(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def make_inputs():
    rng = np.random.default_rng(20240611)
    cam, brick, grass, gravel = (
        load(n).astype(np.float64) for n in ("camera", "brick", "grass", "gravel")
    )
    cases = {}

    img1 = np.stack([cam[40:201, 30:210], grass[90:251, 70:250]])
    img2 = 0.8 * img1 + 20 + rng.normal(0, 15, img1.shape)
    cases["big"] = (quantize(img1), quantize(img2))

    img1 = np.stack([cam[100:137, 100:145], brick[5:42, 60:105], gravel[200:237, 3:48]])
    img2 = 0.9 * img1 + 10 + rng.normal(0, 15, img1.shape)
    cases["small"] = (quantize(img1), quantize(img2))

    img1 = np.stack([cam[120:128, 80:89], grass[30:38, 30:39]])
    img2 = img1 + rng.normal(0, 25, img1.shape)
    cases["tiny"] = (quantize(img1), quantize(img2))
    return cases


class TanhSub(torch.nn.Module):
    """A small nonlinear model whose output shape differs from the image's: ``tanh(2x - 1)[::2, ::3]``."""

    def forward(self, x):
        return torch.tanh(2 * x - 1)[..., ::2, ::3]


def t(x):
    return torch.as_tensor(x.astype(np.float64) / 255)[None]


def out(x):
    return x.detach().numpy()[0]


def grad_wrt_img2(fn, a, b):
    b = b.clone().requires_grad_(True)
    fn(a, b).sum().backward()
    return b.grad.numpy()[0]


def main():
    res = {}
    pkg = resources.files("plenoptic.process")
    res["dn_filts"] = np.load(Path(pkg) / "DN_filts.npy")
    res["dn_sigmas"] = np.load(Path(pkg) / "DN_sigmas.npy")

    gauss = po.models.Gaussian(5, std=1.0)
    for case, (u1, u2) in make_inputs().items():
        res[f"{case}/img1_u8"], res[f"{case}/img2_u8"] = u1, u2
        a, b = t(u1), t(u2)
        # every padding mode on the small cases; the large one only repeats the common settings
        pads = [False, "reflect"] if case == "big" else PADS
        for weighted in (False, True):
            for pad in pads:
                res[f"{case}/ssim/w{int(weighted)}/pad_{pad}"] = out(
                    po.metric.ssim(a, b, weighted=weighted, pad=pad)
                )
        res[f"{case}/ssim_map"] = out(po.process.ssim_map(a, b))
        res[f"{case}/mse"] = out(po.metric.mse(a, b))
        res[f"{case}/model_metric/identity"] = (
            po.metric.model_metric_factory(po.models.Identity())(a, b).detach().numpy()
        )
        res[f"{case}/model_metric/tanh_sub"] = (
            po.metric.model_metric_factory(TanhSub())(a, b).detach().numpy()
        )
        if case == "big":
            gauss_ch0 = po.metric.model_metric_factory(lambda x: gauss(x[:, :1]))
            res[f"{case}/model_metric/gaussian5_ch0"] = gauss_ch0(a, b).detach().numpy()
            for name, pf in POWER_FACTORS.items():
                res[f"{case}/ms_ssim/{name}"] = out(po.metric.ms_ssim(a, b, power_factors=pf))
        if case != "tiny":
            res[f"{case}/nlpd"] = out(po.metric.nlpd(a, b))
            res[f"{case}/nlpd/eps1e-4"] = out(po.metric.nlpd(a, b, epsilon=1e-4))
        if case == "small":
            res[f"{case}/ms_ssim/2scales"] = out(po.metric.ms_ssim(a, b, power_factors=[0.4, 0.6]))
            for i, level in enumerate(po.process.normalized_laplacian_pyramid(a)):
                res[f"{case}/nlp/{i}"] = out(level)
            for weighted, pad in ((False, False), (True, "reflect")):
                res[f"{case}/grad/ssim/w{int(weighted)}/pad_{pad}"] = grad_wrt_img2(
                    lambda x, y, w=weighted, p=pad: po.metric.ssim(x, y, weighted=w, pad=p), a, b
                )
            res[f"{case}/grad/ms_ssim/2scales"] = grad_wrt_img2(
                lambda x, y: po.metric.ms_ssim(x, y, power_factors=[0.4, 0.6]), a, b
            )
            res[f"{case}/grad/nlpd"] = grad_wrt_img2(po.metric.nlpd, a, b)

    np.savez_compressed(OUT, **res)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {len(res)} arrays)")


if __name__ == "__main__":
    main()
