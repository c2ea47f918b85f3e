"""The ``jaxoptic`` command line: each command writes its files and summary; ``resume`` continues a
run bitwise; ``batch`` lanes equal solo runs; ``sweep`` runs one slice of a sweep file; bad
arguments exit with code 2 and one line on stderr.

The commands run in-process through ``jaxoptic.cli.main`` on 32 x 32 images with a 5 x 5 Gaussian
model and Adam, so that the runs share compiled programs; two tests run ``python -m jaxoptic``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from _processes import free_port, run_together

import jaxoptic as jo
from jaxoptic.cli import main

# a cheap model and optimizer shared by the metamer, resume, batch and sweep tests
SMALL = ["--model", "gaussian", "--kernel-size", "5", "--optimizer", "adam", "--no-progress"]


def cli(*args) -> int:
    return main([str(a) for a in args])


def summary_of(directory) -> dict:
    return json.loads((Path(directory) / "summary.json").read_text())


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two 32 x 32 PNG files and a 16 x 16 one."""
    d = tmp_path_factory.mktemp("images")
    brick = jo.data.save_image(d / "brick32.png", jo.data.brick()[:, :32, :32])
    grass = jo.data.save_image(d / "grass32.png", jo.data.grass()[:, :32, :32])
    tiny = jo.data.save_image(d / "camera16.png", jo.data.camera()[:, 100:116, 100:116])
    return {"brick": brick, "grass": grass, "tiny": tiny}


@pytest.fixture(scope="module")
def metamer_run(images, tmp_path_factory):
    """``jaxoptic metamer`` of brick32.png, 4 Adam iterations, seed 0."""
    out = tmp_path_factory.mktemp("metamer") / "run"
    assert cli("metamer", "--image", images["brick"], "--max-iter", 4, "--out", out, *SMALL) == 0
    return out


# -- metamer ----------------------------------------------------------------------------------------
def test_metamer_writes_pictures_arrays_history_checkpoint_and_summary(metamer_run):
    for name in (
        "metamer.png",
        "metamer.npy",
        "comparison.png",
        "status.png",
        "history.npz",
        "summary.json",
        "checkpoint/metadata.json",
    ):
        assert (metamer_run / name).is_file(), name
    assert jo.data.load_images(metamer_run / "metamer.png").shape == (1, 1, 32, 32)
    assert np.load(metamer_run / "metamer.npy").shape == (1, 32, 32)
    history = np.load(metamer_run / "history.npz")
    assert history["iterations"].tolist() == [0, 1, 2, 3]
    assert history["losses"].shape == (4,)
    assert jo.io.read_metadata(metamer_run / "checkpoint")["iteration"] == 4


def test_metamer_summary_records_loss_statistics_error_times_versions_and_arguments(
    metamer_run, images
):
    s = summary_of(metamer_run)
    assert s["command"] == "metamer"
    assert s["iterations"] == 4 and s["status"] == "max_iter"
    assert s["image"] == str(Path(images["brick"]).resolve())
    assert s["model"] == "Gaussian" and s["model_config"]["kernel_size"] == 5
    # losses: the objective before each step, then at the final image; Adam lowers it
    assert [i for i, _ in s["losses"]] == [0, 1, 2, 3, 4]
    assert s["losses"][-1][1] == s["final_loss"] < s["losses"][0][1]
    # the statistics error is the unweighted MSE between the representations
    target = jo.data.load_images(images["brick"])[0]
    metamer = np.load(metamer_run / "metamer.npy")
    model = jo.models.Gaussian((5, 5))
    expected = float(np.mean((np.asarray(model(metamer)) - np.asarray(model(target))) ** 2))
    assert s["statistics_mse"] == pytest.approx(expected, rel=1e-4)
    assert s["time_s"] >= s["compile_time_s"] >= 0 and s["run_time_s"] >= 0
    assert s["total_time_s"] >= s["time_s"]
    assert set(s["versions"]) >= {"jaxoptic", "jax", "jaxlib", "optax", "equinox", "numpy"}
    assert s["versions"]["jax"] == jax.__version__
    assert s["backend"]["platform"] == jax.default_backend()
    assert s["arguments"]["max_iter"] == 4 and s["arguments"]["model"] == "gaussian"
    assert s["command_line"].startswith("jaxoptic metamer --image ")
    assert len(s["runs"]) == 1


def test_resume_continues_bitwise_like_an_uninterrupted_run(metamer_run, images, tmp_path):
    part = tmp_path / "part"
    assert cli("metamer", "--image", images["brick"], "--max-iter", 2, "--out", part, *SMALL) == 0
    assert summary_of(part)["iterations"] == 2
    assert cli("resume", part, "--max-iter", 2, "--no-progress") == 0
    np.testing.assert_array_equal(
        np.load(part / "metamer.npy"), np.load(metamer_run / "metamer.npy")
    )
    resumed, full = summary_of(part), summary_of(metamer_run)
    assert resumed["iterations"] == 4
    # the history covers the whole run
    assert resumed["losses"] == full["losses"]
    np.testing.assert_array_equal(
        np.load(part / "history.npz")["losses"], np.load(metamer_run / "history.npz")["losses"]
    )
    assert [r["max_iter"] for r in resumed["runs"]] == [2, 2]
    assert resumed["runs"][1]["command_line"].startswith("jaxoptic resume ")


def test_checkpoint_every_saves_during_the_run(images, tmp_path, monkeypatch):
    saved = []
    real_save = jo.io.save
    monkeypatch.setattr(
        jo.io,
        "save",
        lambda path, m, st, h=None: saved.append(int(st.iteration)) or real_save(path, m, st, h),
    )
    out = tmp_path / "run"
    args = ("--image", images["brick"], "--max-iter", 4, "--checkpoint-every", 2)
    assert cli("metamer", *args, "--out", out, *SMALL) == 0
    assert saved == [2, 4, 4]  # every 2 iterations, then the final save


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_run_whose_objective_overflows_writes_its_outputs_and_exits_with_code_1(
    images, tmp_path, capsys
):
    out = tmp_path / "run"
    args = ("--image", images["brick"], "--max-iter", 3, "--model", "gaussian", "--kernel-size", 5)
    assert cli("metamer", *args, "--optimizer", "adam", "--learning-rate", 1e30, "--out", out) == 1
    assert "NaN or Inf" in capsys.readouterr().err
    s = summary_of(out)
    assert s["status"] == "nonfinite"
    assert np.all(np.isfinite(np.load(out / "metamer.npy")))


# -- batch ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def batch_run(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "run"
    names = f"{images['brick']},{images['grass']}"
    code = cli("batch", "--images", names, "--seeds", "0,1", "--max-iter", 4, "--out", out, *SMALL)
    assert code == 0
    return out


def test_batch_writes_one_directory_per_image_and_seed_and_one_batched_checkpoint(batch_run):
    lanes = ["brick32_seed0", "brick32_seed1", "grass32_seed0", "grass32_seed1"]
    s = summary_of(batch_run)
    assert [lane["name"] for lane in s["lanes"]] == lanes
    assert jo.io.read_metadata(batch_run / "checkpoint")["batch_size"] == 4
    for name in lanes:
        for file in ("metamer.png", "metamer.npy", "comparison.png", "status.png", "history.npz"):
            assert (batch_run / name / file).is_file(), (name, file)
        lane = summary_of(batch_run / name)
        assert lane["iterations"] == 4 and lane["batch"]["lane"] == name
        assert lane["seed"] == int(name[-1])


def test_batch_lanes_equal_solo_runs(batch_run, metamer_run, images, tmp_path):
    solo = tmp_path / "grass1"
    args = ("--image", images["grass"], "--seed", 1, "--max-iter", 4)
    assert cli("metamer", *args, "--out", solo, *SMALL) == 0
    for lane, run in (("brick32_seed0", metamer_run), ("grass32_seed1", solo)):
        np.testing.assert_allclose(
            np.load(batch_run / lane / "metamer.npy"),
            np.load(run / "metamer.npy"),
            rtol=1e-6,
            atol=1e-7,
        )
        assert summary_of(batch_run / lane)["final_loss"] == pytest.approx(
            summary_of(run)["final_loss"], rel=1e-5
        )


def test_resume_continues_a_batch(batch_run, tmp_path):
    import shutil

    copy = tmp_path / "batch"
    shutil.copytree(batch_run, copy)
    assert cli("resume", copy, "--max-iter", 1, "--no-progress") == 0
    assert all(lane["iterations"] == 5 for lane in summary_of(copy)["lanes"])
    assert len(np.load(copy / "grass32_seed0" / "history.npz")["losses"]) == 5
    # a lane directory is not resumable on its own
    assert cli("resume", copy / "grass32_seed0", "--max-iter", 1) == 2


def test_batch_refuses_images_of_different_shapes(images, capsys):
    assert cli("batch", "--images", images["brick"], images["tiny"], "--out", "unused") == 2
    err = capsys.readouterr().err
    assert "one shape" in err and "brick32: 1x32x32" in err and "camera16: 1x16x16" in err


@pytest.mark.parametrize(
    "lanes, cores, expected",
    [(8, 2, 2), (6, 4, 3), (3, 2, 2), (16, 64, 16), (1, 8, None), (5, 1, None)],
)
def test_cpu_devices_auto_gives_one_device_per_core_and_no_idle_ones(
    monkeypatch, lanes, cores, expected
):
    """``batch --cpu-devices auto`` (the default): one CPU device per core, but no more devices
    than the rounds of lanes need (6 lanes on 4 cores: 2 rounds of 3, so 3 devices, no padding)."""
    from jaxoptic._cli._common import configure_cpu_devices

    calls = []
    monkeypatch.delenv("JAX_NUM_CPU_DEVICES", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(jax.config, "update", lambda name, value: calls.append((name, value)))
    assert configure_cpu_devices("auto", lanes) == expected
    assert calls == ([] if expected is None else [("jax_num_cpu_devices", expected)])


def test_cpu_devices_leaves_the_users_device_count_and_a_started_jax_alone(monkeypatch):
    from jaxoptic._cli._common import configure_cpu_devices

    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert configure_cpu_devices(4, 8) is None
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.delenv("JAX_NUM_CPU_DEVICES", raising=False)
    jax.devices()  # JAX has started: its device count can no longer change
    assert configure_cpu_devices(4, 8) is None


def test_cpu_devices_must_be_auto_or_a_positive_number(images, capsys):
    assert cli("batch", "--images", images["brick"], "--cpu-devices", "0", "--out", "unused") == 2
    assert "--cpu-devices" in capsys.readouterr().err


def test_batch_distributed_calls_jax_distributed_initialize_before_anything(
    images, monkeypatch, capsys
):
    calls = []

    def initialize(*args, **kwargs):
        calls.append((args, kwargs))
        raise RuntimeError("no cluster here")

    monkeypatch.setattr(jax.distributed, "initialize", initialize)
    # the image does not exist: initialize() is called before the arguments are looked at
    assert cli("batch", "--images", "missing.png", "--distributed") == 2
    assert calls == [((), {})]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--distributed" in err[0] and "no cluster here" in err[0]
    assert "srun" in err[0]


def _launch_two_processes(args, tmp_path, timeout=240):
    """``python -m jaxoptic ARGS`` as two processes of one SLURM step on this machine (JAX's SLURM
    detection reads these variables; the coordinator listens on a free local port)."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("XLA_FLAGS", None)
    env.update(
        SLURM_JOB_ID="1",
        SLURM_STEP_NODELIST="localhost",
        SLURM_NTASKS="2",
        SLURM_LOCALID="0",
        JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
    )
    cache = jax.config.jax_compilation_cache_dir
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
    command = [sys.executable, "-m", "jaxoptic", *map(str, args)]
    run_together(
        [dict(args=command, env=dict(env, SLURM_PROCID=str(i)), cwd=tmp_path) for i in (0, 1)],
        timeout,
    )


def test_distributed_batch_checkpoints_per_process_and_resumes(images, tmp_path):
    """Two processes under ``--distributed`` each run one lane and write their own checkpoint
    (``OUT/process<p>/``); ``resume --distributed`` continues them to where a single-process batch
    of the same lanes ends."""
    names = f"{images['brick']},{images['grass']}"
    out = tmp_path / "dist"
    run = ["--images", names, "--seeds", "0", "--out", out, *SMALL]
    first = ["batch", *run, "--max-iter", 4, "--checkpoint-every", 2, "--distributed"]
    _launch_two_processes(first, tmp_path)
    for p in (0, 1):
        assert jo.io.read_metadata(out / f"process{p}" / "checkpoint")["iteration"] == [4]
    _launch_two_processes(
        ["resume", out, "--max-iter", 2, "--distributed", "--no-progress"], tmp_path
    )
    single = tmp_path / "single"
    assert cli("batch", *run[:4], "--out", single, *SMALL, "--max-iter", 6) == 0
    for lane in ("brick32_seed0", "grass32_seed0"):
        assert summary_of(out / lane)["iterations"] == 6
        np.testing.assert_allclose(
            np.load(out / lane / "metamer.npy"),
            np.load(single / lane / "metamer.npy"),
            rtol=0,
            atol=1e-5,  # one lane per process is another program than two in one: rounding
        )


@pytest.mark.parametrize(
    "n_lanes, n_processes, expected",
    [(4, 1, [[0, 1, 2, 3]]), (5, 2, [[0, 1, 2], [3, 4]]), (2, 3, [[0], [1], []])],
)
def test_distributed_batches_split_the_lanes_into_contiguous_blocks(n_lanes, n_processes, expected):
    from jaxoptic._cli._jobs import process_lanes

    assert [process_lanes(n_lanes, n_processes, p) for p in range(n_processes)] == expected


# -- sweep ------------------------------------------------------------------------------------------
def _grid_file(tmp_path, images) -> Path:
    path = tmp_path / "sweep.json"
    grid = {
        "images": [str(images["brick"]), "gravel"],
        "models": ["gaussian"],
        "seeds": [0, 1],
        "settings": [{"max_iter": 2, "kernel-size": 5, "optimizer": "adam"}],
    }
    path.write_text(json.dumps(grid))
    return path


def test_sweep_list_prints_the_number_of_jobs_and_their_directories(images, tmp_path, capsys):
    assert cli("sweep", _grid_file(tmp_path, images), "--list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "4 jobs"
    assert [line.split("\t")[1] for line in lines[1:]] == [
        "0000_brick32_gaussian_seed0",
        "0001_brick32_gaussian_seed1",
        "0002_gravel_gaussian_seed0",
        "0003_gravel_gaussian_seed1",
    ]


def test_sweep_csv_has_one_job_per_row(tmp_path, capsys):
    path = tmp_path / "sweep.csv"
    path.write_text("image,model,seed,max-iter\nbrick,onoff,0,10\ngrass,,3,\n")
    assert cli("sweep", path, "--list") == 0
    assert capsys.readouterr().out.splitlines() == [
        "2 jobs",
        "0\t0000_brick_onoff_seed0",
        "1\t0001_grass_portilla-simoncelli_seed3",
    ]


def test_sweep_runs_the_job_of_slurm_array_task_id(images, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    path = _grid_file(tmp_path, images)
    out = tmp_path / "results"
    assert cli("sweep", path, "--out", out, "--no-progress") == 0
    assert [p.name for p in out.iterdir()] == ["0001_brick32_gaussian_seed1"]
    s = summary_of(out / "0001_brick32_gaussian_seed1")
    assert (s["seed"], s["iterations"], s["optimizer"]) == (1, 2, "adam")
    assert s["arguments"]["sweep"]["index"] == 1
    # --index wins over the environment; --distributed initializes JAX's distributed runtime
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda: calls.append(True))
    assert cli("sweep", path, "--out", out, "--index", 0, "--no-progress", "--distributed") == 0
    assert calls == [True]
    assert (out / "0000_brick32_gaussian_seed0" / "metamer.png").is_file()


@pytest.mark.parametrize(
    "content, suffix, extra, message",
    [
        ("{not json", ".json", ["--list"], "not valid JSON"),
        ('{"images": ["brick"], "colours": [1]}', ".json", ["--list"], "unknown key"),
        ('[{"image": "brick", "max_iters": 3}]', ".json", ["--list"], "unknown option 'max_iters'"),
        ('[{"image": "brick", "max_iter": -3}]', ".json", ["--list"], "job 0: argument --max-iter"),
        ('[{"model": "alexnet"}]', ".json", ["--list"], "invalid choice"),
        ("[]", ".json", ["--list"], "has no jobs"),
        ("image\nbrick\n", ".txt", ["--list"], ".json or .csv"),
        ("image,seed\nbrick\n", ".csv", ["--list"], "row 2 has 1 cells"),
        ('[{"image": "brick"}]', ".json", ["--index", "1"], "--index 1 is out of range"),
        ('[{"image": "brick"}]', ".json", [], "SLURM_ARRAY_TASK_ID is not set"),
    ],
)
def test_bad_sweep_files_and_indices_exit_with_code_2(
    content, suffix, extra, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    path = tmp_path / f"sweep{suffix}"
    path.write_text(content)
    assert cli("sweep", path, *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


# -- eigendistortion and MAD -----------------------------------------------------------------------
def test_eigendistortion_writes_eigendistortions_and_eigenvalues(images, tmp_path):
    out = tmp_path / "eig"
    args = ("--image", images["tiny"], "--model", "gaussian", "--kernel-size", 5, "--k", 2)
    assert cli("eigendistortion", *args, "--method", "exact", "--out", out, "--no-progress") == 0
    for name in ("top0", "top1", "bottom1", "bottom0"):
        assert (out / f"eigendistortion_{name}.png").is_file()
    assert (out / "eigendistortions.png").is_file()
    vectors = np.load(out / "eigendistortions.npy")
    assert vectors.shape == (4, 1, 16, 16)
    s = summary_of(out)
    assert s["status"] == "converged" and s["eigenindex"] == [0, 1, 254, 255]
    eig = jo.Eigendistortion(
        jo.data.load_images(images["tiny"])[0], jo.models.Gaussian((5, 5)), k=2, method="exact"
    )
    state, _ = jo.synthesize(eig, eig.init(), max_iter=1, progress=False)
    np.testing.assert_allclose(
        s["eigenvalues"], np.asarray(state.eigenvalues), rtol=1e-5, atol=1e-9
    )


def test_mad_writes_the_four_images_the_figure_and_the_metric_table(images, tmp_path):
    out = tmp_path / "mad"
    args = ("--image", images["brick"], "--metric1", "mse", "--metric2", "ssim")
    assert cli("mad", *args, "--max-iter", 3, "--tradeoff-lambda", "1,1", "--out", out) == 0
    names = ["mse_min", "mse_max", "ssim_min", "ssim_max"]
    for name in [*names, "initial", "image", "mad"]:
        assert (out / f"{name}.png").is_file(), name
    assert np.load(out / "mad_images.npy").shape == (4, 1, 32, 32)
    s = summary_of(out)
    assert [lane["name"] for lane in s["images"]] == names
    assert [lane["metric_tradeoff_lambda"] for lane in s["images"]] == [1.0] * 4
    assert all(lane["iterations"] == 3 for lane in s["images"])
    # minimizing MSE gives a lower MSE than maximizing it
    by_name = {lane["name"]: lane for lane in s["images"]}
    assert by_name["mse_min"]["mse"] < by_name["mse_max"]["mse"]


# -- Portilla-Simoncelli (the README's main job) ----------------------------------------------------
@pytest.mark.slow
def test_portilla_simoncelli_metamer_of_an_image_file(tmp_path):
    image = jo.data.save_image(tmp_path / "gravel64.png", jo.data.gravel()[:, :64, :64])
    out = tmp_path / "ps"
    args = ("--image", image, "--n-scales", 2, "--spatial-corr-width", 5, "--max-iter", 5)
    assert cli("metamer", *args, "--out", out, "--no-progress") == 0
    for name in ("metamer.png", "comparison.png", "status.png", "checkpoint/metadata.json"):
        assert (out / name).is_file(), name
    s = summary_of(out)
    assert s["model"] == "PortillaSimoncelli"
    assert s["model_config"]["n_scales"] == 2 and s["model_config"]["spatial_corr_width"] == 5
    assert s["iterations"] == 5 and s["final_loss"] < s["losses"][0][1]
    assert np.isfinite(s["statistics_mse"])


# -- bad arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["metamer", "--image", "no-such-image.png"], "--image"),
        (["metamer", "--model", "alexnet"], "invalid choice"),
        (["metamer", "--max-iter", "-3"], "max-iter"),
        (["metamer", "--max-iter", "ten"], "max-iter"),
        (["metamer", "--learning-rate", "0"], "learning-rate"),
        (["metamer", "--stop-criterion", "nan"], "stop-criterion"),
        (["metamer", "--spatial-corr-width", "99"], "spatial_corr_width"),
        (["metamer", "--n-scales", "9"], "n_scales"),
        (["metamer", "--model", "onoff", "--kernel-size", "7"], "--kernel-size"),
        (["metamer", "--seeds", "1"], "unrecognized arguments"),
        (["batch", "--images", "brick", "--seeds", "one"], "--seeds"),
        (["eigendistortion", "--k", "0"], "--k"),
        (["eigendistortion", "--method", "exact"], "at most 4096 pixels"),
        (["mad", "--metric1", "ssim", "--metric2", "ssim"], "must differ"),
        (["mad", "--noise-level", "-0.1"], "--noise-level"),
        (["mad", "--tradeoff-lambda", "1"], "--tradeoff-lambda"),
        (["resume", "no-such-directory", "--max-iter", "3"], "not a directory"),
        (["resume", "."], "--max-iter"),
        ([], "COMMAND"),
    ],
)
def test_bad_arguments_exit_with_code_2_and_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("jaxoptic: error: ") and message in err[0]


def test_the_parser_alone_refuses_bad_arguments_with_system_exit_2():
    from jaxoptic.cli import build_parser

    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["metamer", "--max-iter", "x"])
    assert info.value.code == 2


@pytest.mark.parametrize("content", [b"not an image", b""])
def test_unreadable_image_file_is_a_usage_error(content, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    assert main(["metamer", "--image", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.png" in err[0]


def test_a_directory_is_not_an_image(tmp_path, capsys):
    assert main(["metamer", "--image", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_resume_needs_a_checkpoint(tmp_path, capsys):
    (tmp_path / "summary.json").write_text(
        json.dumps({"command": "metamer", "status": "running", "arguments": {"image": "brick"}})
    )
    assert main(["resume", str(tmp_path), "--max-iter", "1"]) == 2
    assert "has no checkpoint" in capsys.readouterr().err


def test_resume_refuses_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["resume", str(tmp_path), "--max-iter", "1"]) == 2
    assert "has no summary.json" in capsys.readouterr().err


def _python_m_jaxoptic(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "jaxoptic", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
        env=env,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["metamer", "--max-iter", "-1"], "argument --max-iter"),
        # no cluster environment: jax.distributed.initialize() fails, explained in one line
        (["batch", "--images", "brick", "--distributed"], "--distributed"),
    ],
)
def test_python_m_jaxoptic_exits_with_code_2_without_traceback(args, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "JAX_", "OMPI_"))}
    proc = _python_m_jaxoptic(*args, env=env)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxoptic: error: ") and message in err[0]
    assert "Traceback" not in proc.stderr
