"""Regenerate every parity reference file ``tests/reference/*.npz`` from plenoptic 2.1.1 (float64).

Needs the reference implementation, which is never a dependency of jaxoptic. In a separate virtual
environment::

    python -m venv ref-venv && . ref-venv/bin/activate
    pip install torch==2.13.0 plenoptic==2.1.1      # torch's CPU build
    python tests/reference/generate.py              # or one area: python tests/reference/gen_metrics.py

Each ``gen_<area>.py`` writes ``<area>.npz`` with its inputs stored next to plenoptic's outputs, so
the tests (``tests/test_*.py``) need neither torch nor plenoptic. CI does not run this script.
"""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(areas=None):
    scripts = sorted(HERE.glob("gen_*.py"))
    if areas:
        scripts = [s for s in scripts if s.stem.removeprefix("gen_") in areas]
    for script in scripts:
        print(f"== {script.name}", flush=True)
        runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
