"""The notebooks: stored clean, and run top to bottom in a Jupyter kernel.

Each notebook runs in a real kernel of this interpreter (nbclient), the
install cell (tagged `skip-execution`) skipped and `SMOKE = True` inserted
after the `parameters` cell, as `notebooks/run.py --smoke` runs them. A
cell appended at the end prints what the notebook computed as JSON, which
the tests check. `specnet figures --smoke` is run here too, in this process.
"""

import importlib.util
import json
import os
import sys

import pytest

from keras_specnet import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
NAMES = ("01_quickstart", "02_memory", "03_butterfly", "04_tuning")
BADGE = "https://colab.research.google.com/github/OWNER/REPO/blob/main/notebooks/{}.ipynb"
MARKER = "NOTEBOOK-CHECK "
CHECK = f"""import json, sys
print({MARKER!r} + json.dumps({{"executable": sys.executable, "summary": summary}}, default=float))
"""


def _runner():
    spec = importlib.util.spec_from_file_location(
        "notebook_runner", os.path.join(NOTEBOOKS, "run.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fashion_mnist_available():
    try:
        datasets.source("fashion_mnist", download=False)
    except datasets.DatasetNotAvailableError:
        return False
    return True


needs_fashion_mnist = pytest.mark.skipif(
    not _fashion_mnist_available(),
    reason="Fashion-MNIST is not available offline (apt-get install dataset-fashion-mnist)",
)


def _read(name):
    with open(os.path.join(NOTEBOOKS, f"{name}.ipynb")) as f:
        return json.load(f)


def test_the_notebooks_are_the_numbered_ones():
    stored = sorted(n[: -len(".ipynb")] for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))
    assert stored == sorted(NAMES)
    assert [os.path.basename(p)[: -len(".ipynb")] for p in _runner().notebooks()] == list(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs_with_badge_parameters_and_install(name):
    notebook = _read(name)
    assert notebook["nbformat"] == 4
    cells = notebook["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    for cell in code:
        assert cell["outputs"] == [], f"{name}: a cell is stored with outputs"
        assert cell["execution_count"] is None, f"{name}: a cell has an execution count"
    title = "".join(cells[0]["source"])
    assert title.startswith("# ") and BADGE.format(name) in title, title
    assert "## Setup" in "".join(c for cell in cells for c in cell["source"])
    install = code[0]
    assert install["metadata"].get("tags") == ["skip-execution"]
    assert "%pip install" in "".join(install["source"])
    parameters = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(parameters) == 1, f"{name}: expected one cell tagged 'parameters'"
    assert "SMOKE = False" in "".join(parameters[0]["source"])
    assert any('list_physical_devices("GPU")' in "".join(c["source"]) for c in code)


def test_smoke_is_inserted_right_after_the_parameters_cell():
    import nbformat

    notebook = nbformat.read(os.path.join(NOTEBOOKS, "01_quickstart.ipynb"), as_version=4)
    index = next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    )
    _runner().inject_after_parameters(notebook, "SMOKE = True")
    assert notebook.cells[index + 1].source == "SMOKE = True"
    notebook.cells.pop(index)
    with pytest.raises(ValueError, match="parameters"):
        _runner().inject_after_parameters(notebook, "SMOKE = True")


def _images(notebook):
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def _check_01(summary, images):
    assert summary["dropin_error"] < 1e-4
    fractions = list(summary["zero_fractions"].values())
    assert fractions[0] == 0.0 and fractions == sorted(fractions) and fractions[-1] > 0.5
    accuracy, parameters = summary["accuracy"], summary["parameters"]
    assert set(accuracy) == {"lenet5", "spec_lenet5"}
    assert all(0.1 < a <= 1.0 for a in accuracy.values()), accuracy
    assert parameters["lenet5"] == parameters["spec_lenet5"]
    fig2 = summary["fig2_zero_fractions"]
    assert fig2[0] == 0.0 and fig2 == sorted(fig2) and fig2[-1] > 0
    assert images >= 2  # zero fraction against beta, Fig. 2


def _check_02(summary, images):
    ratios = summary["per_sample_ratio"]
    assert ratios["lenet5"] == 1.0
    assert "lenet5 mixed_bfloat16" in ratios
    assert sum(k.startswith("spec_lenet5") for k in ratios) >= 2  # bitmask and another cache
    assert all(r > 0 for r in ratios.values()), ratios
    assert summary["relative"] and all(
        r["per_sample"] > 0 and r["step_peak"] > 0 and r["error"] > 0 for r in summary["relative"]
    )
    assert summary["verdict"]
    peaks = summary["epoch_peak_bytes"]
    assert len(peaks) == 2 and all(p and min(p) > 0 for p in peaks.values()), peaks
    assert images >= 2  # Fig. 3, Fig. 4


def _check_03(summary, images):
    assert summary["hadamard_error"] == 0.0
    flops = summary["multiply_adds"]
    pointwise, bft_same, bft_wide = flops.values()
    assert bft_same < pointwise / 2
    assert abs(bft_wide - pointwise) / pointwise < 0.05  # matched multiply-adds
    params = list(summary["parameters"].values())
    assert params[1] < params[0]
    assert len(summary["accuracy"]) == 2
    assert images >= 2  # the matrices


def _check_04(summary, images):
    beta, base = summary["beta_trials"], summary["base_trials"]
    assert len(beta) == 1 and len(base) == 1  # the SMOKE budget: one trial each
    for hyperparameters, status, score, memory in beta + base:
        assert status == "ok" and score is not None and memory > 0, (hyperparameters, status)
    assert all(0.01 <= hp["beta"] <= 1.0 for hp, *_ in beta)
    assert images >= 1  # the scatter


CHECKS = {"01_quickstart": _check_01, "02_memory": _check_02, "03_butterfly": _check_03}
CHECKS["04_tuning"] = _check_04


@pytest.mark.slow
@needs_fashion_mnist
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_a_kernel(name):
    notebook = _runner().execute(
        os.path.join(NOTEBOOKS, f"{name}.ipynb"), smoke=True, append=[CHECK]
    )
    text = "".join(
        o.get("text", "") for o in notebook.cells[-1].outputs if o.output_type == "stream"
    )
    line = next(line for line in text.splitlines() if line.startswith(MARKER))
    report = json.loads(line[len(MARKER) :])
    assert os.path.realpath(report["executable"]) == os.path.realpath(sys.executable)
    assert any(
        "SMOKE=True" in o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])
    )
    CHECKS[name](report["summary"], _images(notebook))


@pytest.mark.slow
@needs_fashion_mnist
def test_figures_command_writes_every_picture(tmp_path, capsys):
    # In this process (TensorFlow is imported already): the command's own work only.
    from keras_specnet import cli
    from keras_specnet.cli import figures

    out = tmp_path / "figures"
    assert cli.main(["figures", "--smoke", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[5/5]" in printed and f"Wrote {len(figures.FILES)} pictures" in printed
    for name in figures.FILES:
        path = out / name
        assert path.is_file(), name
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
        assert path.stat().st_size > 1000, name
