"""The ``jaxoptic`` command line: the main job writes its files; bad arguments exit with code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

import jaxoptic as jo
from jaxoptic.cli import main


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "jaxoptic", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_metamer_writes_pictures_checkpoint_and_summary(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "metamer",
        "--image",
        "gravel",
        "--max-iter",
        "3",
        "--n-scales",
        "2",
        "--out",
        str(out),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("metamer.png", "comparison.png", "summary.json", "checkpoint/metadata.json"):
        assert (out / name).is_file(), name
    metamer = jo.data.load_images(out / "metamer.png")
    assert metamer.shape == (1, 1, 256, 256)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 3
    assert summary["model_config"]["n_scales"] == 2
    assert np.isfinite(summary["final_loss"]) and np.isfinite(summary["statistics_mse"])
    # the loss fell from the initial noise image
    assert summary["losses"][0][0] == 0
    assert summary["final_loss"] < summary["losses"][0][1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["metamer", "--image", "no-such-image.png"], "--image"),
        (["metamer", "--model", "alexnet"], "invalid choice"),
        (["metamer", "--max-iter", "-3"], "max-iter"),
        (["metamer", "--max-iter", "ten"], "max-iter"),
        (["metamer", "--spatial-corr-width", "99"], "spatial_corr_width"),
    ],
)
def test_bad_arguments_exit_with_code_2_and_one_line(args, message, capsys):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_unreadable_image_file_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["metamer", "--image", str(bad), "--out", str(tmp_path)]) == 2
    assert "bad.png" in capsys.readouterr().err
