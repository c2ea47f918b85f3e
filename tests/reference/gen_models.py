"""Write ``tests/reference/models.npz``: plenoptic 2.1.1 front-end and naive models in float64.

Run with the reference environment (torch + plenoptic, not jaxoptic), from the repository root::

    /work/refvenv/bin/python tests/reference/gen_models.py

The script is deterministic (fixed numpy seed) and rewrites the file each time.

Every case ``<name>`` stores:

- ``<name>/config``: JSON string ``{"model": class name, "kwargs": constructor arguments}``;
- ``<name>/param/<path>``: the value of every learnable parameter of the reference model *as used*
  (after loading pretrained values, which plenoptic stores in float32, or after setting them to the
  known values below), keyed by the torch parameter path (``center_surround.center_std``,
  ``luminance_scalar``, ``conv.weight``...);
- ``<name>/input``: the image ``(1, H, W)`` (float64; a batch axis is added for plenoptic);
- ``<name>/out``: the model output ``(C_out, H, W)``;
- optionally ``<name>/cotangent`` and ``<name>/grad``: the gradient of ``sum(out * cotangent)`` with
  respect to the input, to check the backward pass (padding adjoints) as well.

Non-pretrained cases overwrite every learnable parameter with a known value (so that the random gain
scalars of the front-end models and the random weights of ``Linear`` do not matter). ``Linear``'s
default band-pass filter is degenerate in plenoptic (divided by its own sum, which is zero up to
rounding), so its weights are always overwritten; its default low-pass filter is stored separately as
``linear_default/lowpass``.
"""

import json
from pathlib import Path

import numpy as np
import plenoptic as po
import torch
from PIL import Image

torch.set_default_dtype(torch.float64)

HERE = Path(__file__).parent
OUT = HERE / "models.npz"
IMAGES = HERE.parents[1] / "jaxoptic" / "data" / "images"

RNG = np.random.default_rng(20240611)


def camera(size: int) -> np.ndarray:
    """Central ``size`` x ``size`` crop of the 256 x 256 camera image, as float64 in [0, 1]."""
    img = np.asarray(Image.open(IMAGES / "camera.png").convert("L"), dtype=np.float64) / 255
    h, w = img.shape
    top, left = (h - size) // 2, (w - size) // 2
    return img[None, top : top + size, left : left + size]


def noise(h: int, w: int) -> np.ndarray:
    return RNG.uniform(0, 1, (1, h, w))


# (case name, model class name, constructor kwargs, parameter overrides or None, input, store grad)
CASES = [
    ("identity", "Identity", {}, None, noise(16, 16), True),
    # Gaussian
    (
        "gaussian_k11_std2",
        "Gaussian",
        {"kernel_size": (11, 11), "std": 2.0},
        None,
        camera(64),
        True,
    ),
    (
        "gaussian_even_circular",
        "Gaussian",
        {"kernel_size": (4, 6), "std": 1.5, "pad_mode": "circular"},
        None,
        noise(32, 32),
        True,
    ),
    (
        "gaussian_2ch_constant",
        "Gaussian",
        {"kernel_size": 7, "std": [1.0, 3.0], "out_channels": 2, "pad_mode": "constant"},
        None,
        noise(32, 32),
        True,
    ),
    (
        "gaussian_replicate_k8",
        "Gaussian",
        {"kernel_size": 8, "std": 2.5, "pad_mode": "replicate"},
        None,
        noise(32, 24),
        False,
    ),
    (
        "gaussian_out3_scalar_std",
        "Gaussian",
        {"kernel_size": 5, "std": 1.2, "out_channels": 3},
        None,
        noise(24, 24),
        False,
    ),
    # a negative std (as reached by training): plenoptic takes |std| in forward
    (
        "gaussian_negative_std",
        "Gaussian",
        {"kernel_size": 9, "std": 2.0},
        {"std": [-2.7]},
        noise(32, 32),
        False,
    ),
    # CenterSurround
    ("cs_k31_default", "CenterSurround", {"kernel_size": (31, 31)}, None, camera(64), True),
    (
        "cs_off_circular_even",
        "CenterSurround",
        {
            "kernel_size": 10,
            "on_center": False,
            "amplitude_ratio": 1.5,
            "center_std": 0.8,
            "surround_std": 3.0,
            "pad_mode": "circular",
        },
        None,
        noise(32, 32),
        True,
    ),
    (
        "cs_onoff_replicate",
        "CenterSurround",
        {
            "kernel_size": 9,
            "on_center": [True, False],
            "center_std": [1.0, 2.0],
            "surround_std": [3.0, 5.0],
            "pad_mode": "replicate",
        },
        None,
        noise(32, 32),
        False,
    ),
    (
        "cs_out3_constant_rect",
        "CenterSurround",
        {"kernel_size": (6, 9), "out_channels": 3, "pad_mode": "constant"},
        None,
        noise(24, 32),
        False,
    ),
    # Linear (weights always overwritten, see module docstring)
    (
        "linear_k3_circular",
        "Linear",
        {"kernel_size": (3, 3)},
        {"conv.weight": "random"},
        noise(32, 32),
        True,
    ),
    (
        "linear_k4x5_reflect",
        "Linear",
        {"kernel_size": (4, 5), "pad_mode": "reflect"},
        {"conv.weight": "random"},
        noise(32, 32),
        False,
    ),
    # front end, pretrained
    (
        "ln_pretrained",
        "LinearNonlinear",
        {"kernel_size": (31, 31), "pretrained": True},
        None,
        camera(64),
        True,
    ),
    (
        "lg_pretrained",
        "LuminanceGainControl",
        {"kernel_size": (31, 31), "pretrained": True},
        None,
        camera(64),
        True,
    ),
    (
        "lgg_pretrained",
        "LuminanceContrastGainControl",
        {"kernel_size": 31, "pretrained": True},
        None,
        camera(64),
        True,
    ),
    (
        "onoff_pretrained",
        "OnOff",
        {"kernel_size": (31, 31), "pretrained": True},
        None,
        camera(64),
        True,
    ),
    (
        "onoff_pretrained_mask",
        "OnOff",
        {"kernel_size": (31, 31), "pretrained": True, "apply_mask": True},
        None,
        camera(64),
        False,
    ),
    (
        "onoff_pretrained_mask_rect",
        "OnOff",
        {"kernel_size": 31, "pretrained": True, "apply_mask": True},
        None,
        noise(32, 48),
        False,
    ),
    # front end, fixed non-pretrained parameters
    (
        "ln_off_circular_k7",
        "LinearNonlinear",
        {"kernel_size": 7, "on_center": False, "amplitude_ratio": 1.5, "pad_mode": "circular"},
        {"center_surround.center_std": [0.9], "center_surround.surround_std": [2.5]},
        noise(32, 32),
        True,
    ),
    (
        "lg_even_k8",
        "LuminanceGainControl",
        {"kernel_size": (8, 8)},
        {
            "center_surround.center_std": [1.3],
            "center_surround.surround_std": [3.1],
            "luminance.std": [2.2],
            "luminance_scalar": [4.5],
        },
        noise(32, 32),
        True,
    ),
    (
        "lgg_constant_k9",
        "LuminanceContrastGainControl",
        {"kernel_size": 9, "pad_mode": "constant", "amplitude_ratio": 2.0},
        {
            "center_surround.center_std": [0.7],
            "center_surround.surround_std": [4.0],
            "luminance.std": [3.3],
            "contrast.std": [1.8],
            "luminance_scalar": [2.5],
            "contrast_scalar": [6.0],
        },
        noise(32, 32),
        True,
    ),
    (
        "onoff_replicate_k10",
        "OnOff",
        {"kernel_size": 10, "pad_mode": "replicate"},
        {
            "center_surround.center_std": [1.1, 0.6],
            "center_surround.surround_std": [3.5, 2.1],
            "luminance.std": [4.0, 1.5],
            "contrast.std": [2.0, 2.6],
            "luminance_scalar": [3.0, 7.5],
            "contrast_scalar": [5.0, 9.0],
        },
        noise(32, 32),
        True,
    ),
    (
        "onoff_mask_k7",
        "OnOff",
        {"kernel_size": 7, "apply_mask": True},
        {
            "center_surround.center_std": [1.1, 0.6],
            "center_surround.surround_std": [3.5, 2.1],
            "luminance.std": [4.0, 1.5],
            "contrast.std": [2.0, 2.6],
            "luminance_scalar": [3.0, 7.5],
            "contrast_scalar": [5.0, 9.0],
        },
        noise(32, 32),
        False,
    ),
]


def build(model_name: str, kwargs: dict) -> torch.nn.Module:
    cls = getattr(po.models, model_name)
    kw = dict(kwargs)
    if kw.get("pretrained"):
        kw["cache_filt"] = True  # silences plenoptic's warning; same values
    return cls(**kw)


def main():
    out = {}
    for name, model_name, kwargs, overrides, image, with_grad in CASES:
        model = build(model_name, kwargs)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for path, value in (overrides or {}).items():
                if isinstance(value, str) and value == "random":
                    value = RNG.normal(size=tuple(params[path].shape))
                params[path].copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))
        for path, p in params.items():
            out[f"{name}/param/{path}"] = p.detach().numpy().copy()
        out[f"{name}/config"] = np.array(json.dumps({"model": model_name, "kwargs": kwargs}))
        x = torch.as_tensor(image[None]).requires_grad_(True)
        y = model(x)
        out[f"{name}/input"] = image
        out[f"{name}/out"] = y.detach().numpy()[0]
        assert y.dtype == torch.float64, (name, y.dtype)
        if with_grad:
            ct = RNG.normal(size=tuple(y.shape[1:]))
            (g,) = torch.autograd.grad((y * torch.as_tensor(ct[None])).sum(), x)
            out[f"{name}/cotangent"] = ct
            out[f"{name}/grad"] = g.detach().numpy()[0]
        print(f"{name:28s} in {tuple(image.shape)} out {tuple(y.shape[1:])}")

    lin = po.models.Linear((5, 5))
    out["linear_default/lowpass"] = lin.conv.weight.detach().numpy()[0, 0].copy()
    out["linear_default/kernel_size"] = np.array([5, 5])

    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(out)} arrays)")


if __name__ == "__main__":
    main()
