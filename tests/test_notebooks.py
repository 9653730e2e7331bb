"""The notebooks run, on a small budget, and their own checks hold."""

import json
import os

import pytest

from keras_specnet import datasets

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "notebooks")
# Papermill's convention: the cell tagged "parameters" holds the defaults,
# and the values below are injected right after it.
QUICK = {"EPOCHS": 1, "TRAIN_LIMIT": 256}


def _fashion_mnist_available():
    try:
        datasets.source("fashion_mnist", download=False)
    except datasets.DatasetNotAvailableError:
        return False
    return True


def _code_cells(path):
    with open(path) as f:
        notebook = json.load(f)
    assert notebook["nbformat"] == 4
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            yield source, "parameters" in cell["metadata"].get("tags", [])


@pytest.mark.slow
@pytest.mark.skipif(
    not _fashion_mnist_available(),
    reason="Fashion-MNIST is not available offline (apt-get install dataset-fashion-mnist)",
)
def test_quickstart_runs(capsys):
    namespace = {}
    saw_parameters = False
    for source, is_parameters in _code_cells(os.path.join(NOTEBOOKS, "quickstart.ipynb")):
        exec(compile(source, "quickstart.ipynb", "exec"), namespace)
        if is_parameters:
            namespace.update(QUICK)
            saw_parameters = True
    assert saw_parameters
    accuracy, params, peak = namespace["results"]["spec_lenet5"]
    assert 0.1 < accuracy <= 1.0 and params == 107786 and peak > 0
    assert "zero fraction" in capsys.readouterr().out
