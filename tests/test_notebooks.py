"""The research notebooks in ``notebooks/`` run from top to bottom, and are committed without outputs.

Each notebook's code cells run in order in one fresh namespace, in this process (no Jupyter kernel:
it shares the compilation cache and costs no kernel start), with ``JAXOPTIC_NOTEBOOK_SMALL=1`` so that
the notebooks shrink their images and iteration counts, matplotlib's Agg backend, JAX's default
32-bit mode (as a user's kernel), the working directory and ``tempfile``'s directory in a temporary
directory, and the environment restored afterwards. A failure names the cell (index among all
cells, and its first line) and shows the original traceback with the cell's source lines.
"""

from __future__ import annotations

import json
import linecache
import os
import tempfile
import traceback
from pathlib import Path

import jax
import matplotlib
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _cells(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)["cells"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _first_line(source: str) -> str:
    return next((line for line in source.splitlines() if line.strip()), "")


def _run_notebook(path: Path) -> None:
    """Execute the code cells of ``path`` in order; fail with the cell and the traceback."""
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__main__"}
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        source = _source(cell)
        shell = [ln for ln in source.splitlines() if ln.lstrip().startswith(("%", "!"))]
        assert not shell, f"{path.name}, cell {index}: IPython magics or shell lines {shell}"
        filename = f"<{path.name} cell {index}>"
        # register the source so that tracebacks show the cell's lines
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        error = None
        try:
            exec(compile(source, filename, "exec"), namespace)
        except Exception:
            error = traceback.format_exc()
        finally:
            plt.close("all")
        if error is not None:
            pytest.fail(
                f"{path.name}: code cell {index} ({_first_line(source)!r}) raised:\n\n{error}",
                pytrace=False,
            )


@pytest.fixture
def notebook_environment(tmp_path, monkeypatch):
    """SMALL mode, Agg, 32-bit JAX, a temporary cwd and tempdir; environment restored afterwards."""
    # start JAX's backend now, so that a notebook that sets XLA_FLAGS (06 asks for several CPU
    # devices) cannot change the devices of this test process
    jax.devices()
    saved_environ = dict(os.environ)
    saved_backend = matplotlib.get_backend()
    matplotlib.use("Agg")
    monkeypatch.setenv("JAXOPTIC_NOTEBOOK_SMALL", "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    try:
        with jax.enable_x64(False):
            yield tmp_path
    finally:
        # a notebook may set variables such as XLA_FLAGS (no effect once JAX runs): undo them
        os.environ.clear()
        os.environ.update(saved_environ)
        matplotlib.use(saved_backend)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, notebook_environment):
    _run_notebook(path)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6, f"expected the research notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    with_outputs = [
        index
        for index, cell in enumerate(_cells(path))
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not with_outputs, (
        f"{path.name}: code cells {with_outputs} have outputs or execution counts; clear them "
        "(e.g. `jupyter nbconvert --clear-output --inplace`) or regenerate with notebooks/_build.py"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_a_small_mode(path):
    """The first code cell reads JAXOPTIC_NOTEBOOK_SMALL, so that these tests run a small version."""
    first = next(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    assert "JAXOPTIC_NOTEBOOK_SMALL" in first, f"{path.name}: the first code cell must set SMALL"


def test_notebooks_match_their_sources_in_build_script():
    """``notebooks/_build.py`` holds the cells in readable form; the .ipynb files are its output."""
    import importlib.util

    script = NOTEBOOK_DIR / "_build.py"
    if not script.exists():
        pytest.skip("no notebooks/_build.py")
    spec = importlib.util.spec_from_file_location("_notebook_build", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert sorted(build.NOTEBOOKS) == [p.stem for p in NOTEBOOKS]
    stale = [
        p.name
        for p in NOTEBOOKS
        if json.loads(p.read_text(encoding="utf-8")) != build.notebook_json(build.NOTEBOOKS[p.stem])
    ]
    assert not stale, (
        f"{stale} differ from notebooks/_build.py: edit the cells there and run "
        "`python notebooks/_build.py` (or carry a change made in Jupyter over to _build.py)"
    )
