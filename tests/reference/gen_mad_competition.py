"""Generate ``tests/reference/mad_competition.npz``: plenoptic 2.1.1 float64 MADCompetition references.

Run from the repository root with the reference environment (plenoptic + torch, not jaxoptic)::

    /work/refvenv/bin/python tests/reference/gen_mad_competition.py

The script is idempotent: it seeds torch before every random draw and overwrites the npz.

Inputs (shapes ``(channels, height, width)``; plenoptic gets a leading batch axis of 1, dropped from every
stored output):

- ``image_u8``: the 64x64 crop ``[96:160, 96:160]`` of ``camera.png`` as uint8; the image is these values
  divided by 255 in float64 (here and in the tests, so bit-identical).
- ``rand``: the uniform random image plenoptic draws (``torch.rand_like(image)``, seed 0) to choose
  ``metric_tradeoff_lambda`` when it is None.
- ``initial_image``: ``image + 0.1 * randn`` drawn by plenoptic's ``setup()`` (seed 1), the start of every
  run below.

Metrics: ``mse`` is ``po.metric.mse`` and ``ssim`` is ``1 - po.metric.ssim`` (unweighted, no padding).
Cases ``<optimized>_<reference>_<minmax>`` for (mse, ssim) and (ssim, mse), each with min and max, built
with ``metric_tradeoff_lambda=None`` (so plenoptic applies its rule to ``rand``) and the default penalty
(range [0, 1], ``penalty_lambda=0.1``) and optimizer (``Adam(lr=0.01, amsgrad=True)``). Per case:

- ``<case>/metric_tradeoff_lambda``: the lambda plenoptic chose;
- ``<case>/objective``, ``<case>/gradient``: the objective at ``initial_image`` and its gradient;
- ``<case>/losses``, ``penalties``, ``optimized_metric_loss``, ``reference_metric_loss`` (11 values) and
  ``gradient_norm``, ``pixel_change_norm`` (10 values) after ``synthesize(10, stop_criterion=0)``;
  the first 10 of the length-11 records are the values at the image before each step, the last one
  the value at the final image;
- ``<case>/final_image``: the MAD image after the 10 steps.

Also ``amsgrad/params0`` (6,), ``amsgrad/grads`` (12, 6) (gradients whose size grows, then shrinks, with
sign changes) and ``amsgrad/params`` (12, 6): the parameters after each step of
``torch.optim.Adam([p], lr=0.01, amsgrad=True)`` fed those gradients, to check the optimizer alone.
"""

import os
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import plenoptic as po
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)
# plenoptic warns that the noisy images leave [0, 1] (expected here)
warnings.simplefilter("ignore")

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "jaxoptic" / "data" / "images"
OUT = Path(__file__).resolve().parent / "mad_competition.npz"
N_STEPS = 10


def dissimilarity(x, y):
    return 1 - po.metric.ssim(x, y)


METRICS = {"mse": po.metric.mse, "ssim": dissimilarity}


def main():
    u8 = np.asarray(Image.open(IMAGES / "camera.png").convert("L"))[96:160, 96:160]
    image = torch.as_tensor(u8.astype(np.float64) / 255)[None, None]
    out = {"image_u8": u8[None]}

    torch.manual_seed(0)
    out["rand"] = torch.rand_like(image)[0].numpy()

    for opt_name, ref_name in [("mse", "ssim"), ("ssim", "mse")]:
        for minmax in ["min", "max"]:
            case = f"{opt_name}_{ref_name}_{minmax}"
            torch.manual_seed(0)  # the same `rand` as stored above
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mad = po.MADCompetition(image, METRICS[opt_name], METRICS[ref_name], minmax, None)
            torch.manual_seed(1)
            mad.setup()  # default initial_noise 0.1 and Adam(lr=0.01, amsgrad=True)
            x0 = mad.initial_image.detach().clone()
            if "initial_image" in out:
                assert np.array_equal(out["initial_image"], x0[0].numpy())
            out["initial_image"] = x0[0].numpy()

            x = x0.clone().requires_grad_()
            obj = mad.objective_function(x)
            obj.sum().backward()
            out[f"{case}/metric_tradeoff_lambda"] = np.float64(mad.metric_tradeoff_lambda)
            out[f"{case}/objective"] = obj.detach().reshape(()).numpy()
            out[f"{case}/gradient"] = x.grad[0].numpy()

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mad.synthesize(N_STEPS, stop_criterion=0.0)
            for name in [
                "losses",
                "penalties",
                "optimized_metric_loss",
                "reference_metric_loss",
                "gradient_norm",
                "pixel_change_norm",
            ]:
                out[f"{case}/{name}"] = getattr(mad, name).detach().numpy().astype(np.float64)
            out[f"{case}/final_image"] = mad.mad_image.detach()[0].numpy()
    rng = np.random.default_rng(0)
    params0 = rng.standard_normal(6)
    scale = np.concatenate([np.linspace(0.1, 2.0, 5), np.geomspace(1.0, 1e-3, 7)])
    grads = rng.standard_normal((12, 6)) * scale[:, None]
    p = torch.tensor(params0, requires_grad=True)
    adam = torch.optim.Adam([p], lr=0.01, amsgrad=True)
    trajectory = []
    for g in grads:
        p.grad = torch.tensor(g)
        adam.step()
        trajectory.append(p.detach().clone().numpy())
    out["amsgrad/params0"] = params0
    out["amsgrad/grads"] = grads
    out["amsgrad/params"] = np.stack(trajectory)

    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")
    for k, v in out.items():
        if k.endswith("lambda") or k.endswith("objective"):
            print(k, v)


if __name__ == "__main__":
    main()
