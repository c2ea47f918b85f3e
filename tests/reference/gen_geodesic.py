"""Generate ``tests/reference/geodesic.npz``: float64 references from plenoptic **1.2.0**'s Geodesic.

``Geodesic`` and ``tools.straightness`` were removed from plenoptic in 1.3, so this script runs plenoptic
1.2.0 from its wheel, with the torch of the reference environment. Run from the repository root::

    /work/refvenv/bin/python tests/reference/gen_geodesic.py

The wheel is fetched with ``pip download plenoptic==1.2.0 --no-deps`` into ``$PLENOPTIC12_DIR`` (default
``/tmp/plenoptic-1.2.0``) and unpacked there; that directory goes first on ``sys.path``, so ``import
plenoptic`` gives 1.2.0 instead of the installed 2.1.1. Its one dependency missing from the reference
environment (``deprecated``, used only for deprecation decorators) is replaced by a no-op stub. The script
is idempotent: it seeds numpy/torch before every random draw and overwrites the npz.

Inputs (``(channels, height, width)``; plenoptic gets a leading batch axis of 1, dropped from every output):

- ``image_a_u8``, ``image_b_u8``: 32x32 crops ``[96:128, 96:128]`` of ``camera.png`` and ``brick.png`` as
  uint8; the images are these values divided by 255 in float64 (here and in the tests).
- ``sequence``: a 6-frame sequence (``n_steps=5``) from ``image_a`` to ``image_b``: the straight line
  plus Gaussian noise (std 0.05, numpy seed 0) on the 4 interior frames.

Model: ``po.simul.OnOff((31, 31), pretrained=True)`` (2 output channels), gradients removed. Geodesic
with default settings (``range_penalty_lambda=0.1``, ``allowed_range=(0, 1)``, ``Adam(lr=0.001,
amsgrad=True)``). Outputs:

- ``onoff/representation``: ``model(sequence)`` (6, 2, 32, 32);
- ``onoff/objective``, ``onoff/gradient`` (4, 1, 32, 32): ``objective_function`` at ``sequence`` and its
  gradient with respect to the interior frames;
- ``onoff/step_energy`` (5, 2), ``onoff/dist_along_line``, ``onoff/dist_from_line`` (6,): of the
  representation of ``sequence``; ``onoff/jerkiness`` (4,): ``calculate_jerkiness(sequence)``;
- ``onoff/default_stop_criterion``: plenoptic's automatic stop criterion (``||pixelfade|| / 1e4 * phi``);
- ``onoff/run/*``: ``synthesize(8, store_progress=True, stop_criterion=1e-12)`` from ``sequence``:
  ``losses``, ``gradient_norm``, ``pixel_change_norm`` (8,), ``geodesic`` (final, 6 frames),
  ``step_energy`` (8, 5, 2) and ``dev_from_line`` (8, 6, 2) as plenoptic stored them;
- ``onoff/stop/*``: the stopping rule. ``pixel_change_norm`` of a 30-step run, the ``stop_criterion``
  chosen as the median of its last 25 values, and ``n_iter``, the number of steps plenoptic made with that
  criterion and ``stop_iters_to_check=3``.

Straightness helpers (``po.tools.straightness``): ``straight/start``, ``straight/stop`` (1, 4, 4) and
``straight/line`` (``make_straight_line``, n_steps=3); ``translation/image`` (2, 5, 6) and
``translation/sequence`` (n_steps=4); ``deviation/sequence`` (7, 2, 3, 4) and ``deviation/<normalize>/along``,
``deviation/<normalize>/from`` for normalize True and False.

Optimizer: ``amsgrad/params0`` (6,), ``amsgrad/grads`` (12, 6) (growing then shrinking gradients with sign
changes) and ``amsgrad/params`` (12, 6): the parameters after each step of
``torch.optim.Adam([p], lr=0.001, amsgrad=True)`` fed those gradients.
"""

import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "jaxoptic" / "data" / "images"
OUT = Path(__file__).resolve().parent / "geodesic.npz"
PLENOPTIC12 = Path(os.environ.get("PLENOPTIC12_DIR", "/tmp/plenoptic-1.2.0"))


def _plenoptic_1_2():
    """Unpack plenoptic 1.2.0 (downloading the wheel if needed) and put it first on sys.path."""
    unpacked = PLENOPTIC12 / "unpacked"
    if not (unpacked / "plenoptic" / "synthesize" / "geodesic.py").exists():
        PLENOPTIC12.mkdir(parents=True, exist_ok=True)
        wheels = list(PLENOPTIC12.glob("plenoptic-1.2.0-*.whl"))
        if not wheels:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "plenoptic==1.2.0",
                    "--no-deps",
                    "-d",
                    str(PLENOPTIC12),
                ],
                check=True,
            )
            wheels = list(PLENOPTIC12.glob("plenoptic-1.2.0-*.whl"))
        with zipfile.ZipFile(wheels[0]) as zf:
            zf.extractall(unpacked)
    stub = PLENOPTIC12 / "stub" / "deprecated"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text("")
    (stub / "sphinx.py").write_text(
        "def deprecated(*args, **kwargs):\n    def wrap(obj):\n        return obj\n\n    return wrap\n"
    )
    sys.path.insert(0, str(PLENOPTIC12 / "stub"))
    sys.path.insert(0, str(unpacked))


_plenoptic_1_2()

import numpy as np  # noqa: E402
import plenoptic as po  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

assert po.__version__.startswith("1.2.0"), po.__version__
torch.set_default_dtype(torch.float64)
warnings.simplefilter("ignore")  # deprecation and "stop_criterion was None" warnings

N_STEPS = 5


def crop_u8(name):
    img = np.asarray(Image.open(IMAGES / f"{name}.png").convert("L"))
    return img[96:128, 96:128][None].copy()


def t(x):
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def npy(x):
    return x.detach().cpu().numpy().astype(np.float64)


def onoff_model():
    model = po.simul.OnOff((31, 31), pretrained=True)
    po.tools.remove_grad(model)
    model.eval()
    return model


def geodesic_from(image_a, image_b, model, sequence):
    """A Geodesic with the default optimizer whose current interior frames are those of ``sequence``."""
    geo = po.synth.Geodesic(image_a, image_b, model, N_STEPS)
    geo.setup("straight")
    with torch.no_grad():
        geo._geodesic.copy_(sequence[1:-1])
    return geo


def onoff_cases(out):
    a_u8, b_u8 = crop_u8("camera"), crop_u8("brick")
    out["image_a_u8"], out["image_b_u8"] = a_u8, b_u8
    image_a = t(a_u8 / 255.0)[None]
    image_b = t(b_u8 / 255.0)[None]
    line = po.tools.make_straight_line(image_a, image_b, N_STEPS)
    rng = np.random.default_rng(0)
    noise = np.zeros(line.shape)
    noise[1:-1] = 0.05 * rng.standard_normal((N_STEPS - 1, *line.shape[1:]))
    sequence = line + t(noise)
    out["sequence"] = npy(sequence)

    model = onoff_model()
    geo = geodesic_from(image_a, image_b, model, sequence)
    assert torch.equal(geo.geodesic, sequence)
    rep = model(sequence)
    out["onoff/representation"] = npy(rep)
    loss = geo.objective_function()
    loss.backward()
    out["onoff/objective"] = npy(loss)
    out["onoff/gradient"] = npy(geo._geodesic.grad)
    out["onoff/step_energy"] = npy(geo._calculate_step_energy(rep))
    along, away = po.tools.deviation_from_line(rep)
    out["onoff/dist_along_line"], out["onoff/dist_from_line"] = npy(along), npy(away)
    out["onoff/jerkiness"] = npy(geo.calculate_jerkiness())
    pixelfade = geo.pixelfade
    out["onoff/default_stop_criterion"] = np.float64(
        (torch.linalg.vector_norm(pixelfade, ord=2) / 1e4 * (1 + 5**0.5) / 2).item()
    )

    geo = geodesic_from(image_a, image_b, model, sequence)
    geo.synthesize(8, store_progress=True, stop_criterion=1e-12)
    out["onoff/run/losses"] = npy(geo.losses)
    out["onoff/run/gradient_norm"] = npy(geo.gradient_norm)
    out["onoff/run/pixel_change_norm"] = npy(geo.pixel_change_norm)
    out["onoff/run/geodesic"] = npy(geo.geodesic)
    out["onoff/run/step_energy"] = npy(geo.step_energy)
    out["onoff/run/dev_from_line"] = npy(geo.dev_from_line)

    geo = geodesic_from(image_a, image_b, model, sequence)
    geo.synthesize(30, stop_criterion=1e-12)
    pcn = npy(geo.pixel_change_norm)
    criterion = float(np.median(pcn[5:]))
    geo = geodesic_from(image_a, image_b, model, sequence)
    geo.synthesize(30, stop_criterion=criterion, stop_iters_to_check=3)
    out["onoff/stop/pixel_change_norm"] = pcn
    out["onoff/stop/stop_criterion"] = np.float64(criterion)
    out["onoff/stop/n_iter"] = np.int64(len(geo.losses))


def straightness_cases(out):
    rng = np.random.default_rng(1)
    start, stop = rng.random((1, 4, 4)), rng.random((1, 4, 4))
    out["straight/start"], out["straight/stop"] = start, stop
    out["straight/line"] = npy(po.tools.make_straight_line(t(start)[None], t(stop)[None], 3))
    image = rng.random((2, 5, 6))
    out["translation/image"] = image
    out["translation/sequence"] = npy(po.tools.translation_sequence(t(image)[None], 4))
    seq = rng.standard_normal((7, 2, 3, 4))
    out["deviation/sequence"] = seq
    for normalize in (True, False):
        along, away = po.tools.deviation_from_line(t(seq), normalize=normalize)
        out[f"deviation/{normalize}/along"] = npy(along)
        out[f"deviation/{normalize}/from"] = npy(away)


def amsgrad_case(out):
    rng = np.random.default_rng(2)
    params0 = rng.standard_normal(6)
    scale = np.concatenate([np.geomspace(0.1, 10, 6), np.geomspace(10, 0.01, 6)])
    grads = scale[:, None] * rng.standard_normal((12, 6))
    p = torch.nn.Parameter(t(params0).clone())  # as_tensor shares memory with params0
    opt = torch.optim.Adam([p], lr=0.001, amsgrad=True)
    history = []
    for g in grads:
        opt.zero_grad()
        p.grad = t(g)
        opt.step()
        history.append(npy(p))
    out["amsgrad/params0"], out["amsgrad/grads"] = params0, grads
    out["amsgrad/params"] = np.stack(history)


def main():
    out = {}
    onoff_cases(out)
    straightness_cases(out)
    amsgrad_case(out)
    np.savez_compressed(OUT, **out)
    size = OUT.stat().st_size / 1e3
    print(f"wrote {OUT} ({len(out)} arrays, {size:.0f} kB)")


if __name__ == "__main__":
    main()
