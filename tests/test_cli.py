"""`specnet train` and `specnet report` on IDX files written by the test."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import learnable_split, write_idx_dataset
from keras_specnet import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def idx_dir(tmp_path):
    """192 training and 64 test images that a small model can learn."""
    return write_idx_dataset(
        tmp_path,
        {"train": learnable_split(192, 0), "t10k": learnable_split(64, 1)},
        gzipped=("train", "t10k"),
    )


@pytest.mark.parametrize("model", ["lenet5", "spec_lenet5"])
def test_train_writes_figures(model, idx_dir, tmp_path, capsys):
    out = tmp_path / "run.json"
    args = [
        "train", "--model", model, "--dataset", "fashion_mnist",
        "--epochs", "2", "--batch-size", "32", "--data-dir", str(idx_dir),
        "--verbose", "0", "--output", str(out),
    ]
    if model == "spec_lenet5":
        args += ["--beta", "0.2"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert f"test accuracy              {result['test_accuracy']:.4f}" in printed
    assert "training-step peak memory" in printed
    assert result["model"] == model
    assert result["beta"] == (0.2 if model == "spec_lenet5" else None)
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert len(result["history"]["loss"]) == 2
    assert len(result["history"]["memory_peak_bytes"]) == 2  # MemoryProfiler
    assert result["params"] == result["trainable_params"] > 0
    assert result["step_peak_bytes"] >= result["step_bytes"] > 0
    assert isinstance(result["held_bytes"], int)
    if model == "lenet5":
        assert result["held_bytes"] > 0
    else:
        # SpecLeNet5 keeps compressed spectra and pooled maps, each under
        # the CPU allocator's ~256 KiB visibility at batch 32, so 0 is a
        # correct reading here; held-byte sizes are tested in test_cache.py
        # and test_to_spatial_pooling.py on larger batches.
        assert result["held_bytes"] >= 0
    assert "held for the backward pass" in printed


def test_report_prints_runs_side_by_side(tmp_path, capsys):
    runs = []
    for model, acc, step in [("lenet5", 0.9, 4 * 2**20), ("spec_lenet5", 0.885, 2**20)]:
        path = tmp_path / f"{model}.json"
        path.write_text(json.dumps({
            "model": model, "dataset": "fashion_mnist", "epochs": 5,
            "beta": None if model == "lenet5" else 0.1, "test_accuracy": acc,
            "params": 107786, "step_peak_bytes": step + 2**20, "step_bytes": step,
            "train_seconds": 10.0,
        }))
        runs.append(str(path))
    assert cli.main(["report", *runs]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = {line.split("  ")[0]: line.split() for line in lines}
    assert row["test accuracy"][-2:] == ["0.9000", "0.8850"]
    assert row["accuracy vs first (points)"][-1] == "-1.50"
    assert row["step bytes vs first"][-2:] == ["1.00x", "0.25x"]


def test_beta_on_a_spatial_model_is_refused(idx_dir):
    with pytest.raises(SystemExit, match="--beta applies to spectral models only"):
        cli.main(["train", "--model", "lenet5", "--beta", "0.5",
                  "--data-dir", str(idx_dir), "--verbose", "0"])


def test_module_entry_point_help():
    done = subprocess.run(
        [sys.executable, "-m", "keras_specnet", "train", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0
    assert "--beta" in done.stdout and "--batch-size" in done.stdout


def test_models_lists_the_registry_with_parameter_counts(capsys, monkeypatch):
    from keras_specnet import applications

    # A part of the registry: building all of it twice takes ~15 s.
    names = ["lenet5", "spec_lenet5", "spec_vgg16", "mobilenet_v1_bft"]
    monkeypatch.setattr(applications, "MODELS", {n: applications.MODELS[n] for n in names})
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:]}

    assert list(rows) == names
    assert rows["spec_lenet5"][1] == "lenet5"
    assert rows["mobilenet_v1_bft"][1] == "mobilenet_v1"
    assert rows["lenet5"][2] == "-"
    assert rows["lenet5"][3] == f"{applications.LeNet5().count_params():,}"
    assert rows["spec_lenet5"][4] == f"{applications.SpecLeNet5(input_shape=(32, 32, 3)).count_params():,}"
    from keras_specnet.applications import vgg

    assert rows["spec_vgg16"][2] == f"{vgg.SPEC_VGG16_BETA:g}"


def test_model_args_reach_the_builder(idx_dir, tmp_path):
    out = tmp_path / "vgg.json"
    cli.main([
        "train", "--model", "spec_vgg16", "--model-arg", "width=0.125",
        "--model-arg", "fc_units=16", "--model-arg", "batch_chunks=1",
        "--epochs", "1", "--limit", "64",
        "--data-dir", str(idx_dir), "--verbose", "0", "--output", str(out),
    ])
    result = json.loads(out.read_text())
    from keras_specnet.applications import SpecVGG16

    expected = SpecVGG16(input_shape=(28, 28, 1), width=0.125, fc_units=16)
    assert result["params"] == expected.count_params()
    # (batch_chunks=1 traces a smaller graph: the test takes half the time.)
    assert result["model_args"] == {"width": 0.125, "fc_units": 16, "batch_chunks": 1}
    from keras_specnet.applications import vgg

    assert result["beta"] == vgg.SPEC_VGG16_BETA  # the builder's default
    with pytest.raises(SystemExit, match="takes no argument depth"):
        cli.main(["train", "--model", "vgg16", "--model-arg", "depth=3",
                  "--data-dir", str(idx_dir), "--verbose", "0"])


def _tune(idx_dir, tmp_path, *extra):
    return [
        "tune", "--model", "spec_lenet5", "--beta-range", "0", "0.5",
        "--epochs", "1", "--batch-size", "32", "--data-dir", str(idx_dir),
        "--validation-split", "0.25", "--directory", str(tmp_path / "search"),
        "--verbose", "0", "--model-arg", "batch_chunks=1", *extra,  # faster traces
    ]


def test_tune_prints_the_trials_and_resumes(idx_dir, tmp_path, capsys):
    out = tmp_path / "tune.json"
    assert cli.main(_tune(idx_dir, tmp_path, "--max-trials", "2",
                          "--memory-budget", "1000", "--output", str(out))) == 0
    printed = capsys.readouterr().out.splitlines()
    result = json.loads(out.read_text())
    trials = result["trials"]
    assert len(trials) == 2 and all(t["status"] == "ok" for t in trials)
    assert result["best"] == trials[0]
    assert trials[0]["score"] >= trials[1]["score"]
    assert result["objective"]["memory_budget"] == 1000 * 2**20
    header = next(i for i, line in enumerate(printed) if line.startswith("trial"))
    assert printed[header].split() == [
        "trial", "status", "beta", "accuracy", "held", "MiB", "step", "MiB", "step",
        "peak", "MiB", "time", "s", "score",
    ]
    first = printed[header + 1].split()
    assert first[0] == trials[0]["trial_id"]
    assert first[2] == format(trials[0]["hyperparameters"]["beta"], ".4g")
    assert first[3] == f"{trials[0]['val_accuracy']:.4f}"
    assert first[5] == f"{trials[0]['memory_step_bytes'] / 2**20:.2f}"
    assert first[6] == f"{trials[0]['memory_peak_bytes'] / 2**20:.2f}"
    assert printed[header + 3].startswith(f"best: trial {trials[0]['trial_id']}, beta=")

    # Run again with one more trial: the two finished ones are not repeated.
    assert cli.main(_tune(idx_dir, tmp_path, "--max-trials", "3",
                          "--memory-budget", "1000", "--output", str(out))) == 0
    printed = capsys.readouterr().out
    assert "2 trials already done, not run again" in printed
    again = json.loads(out.read_text())["trials"]
    assert len(again) == 3
    for trial in trials:
        assert trial in again  # unchanged figures: not re-run


def test_tune_over_budget_trials_show_in_the_table(idx_dir, tmp_path, capsys):
    out = tmp_path / "tune.json"
    cli.main(_tune(idx_dir, tmp_path, "--max-trials", "1", "--memory-budget",
                   "0.001", "--output", str(out)))
    (trial,) = json.loads(out.read_text())["trials"]
    assert trial["status"] == "over budget"
    assert trial["score"] == pytest.approx(-trial["memory_step_bytes"] / (0.001 * 2**20))
    assert "  over budget  " in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--tuner", "hyperband", "--max-trials", "3"],
         "--max-trials does not apply to --tuner hyperband"),
        (["--beta-range", "1", "0.5"], r"Invalid value for argument `beta_range`. "
         r"Expected a pair \(low, high\)"),
        (["--model-arg", "beta=0.2"], "argument `model_kwargs`"),
        (["--beta-range", "0", "0.5", "--beta-sampling", "log"],
         r"Expected a pair \(low, high\) with 0 < low < high for beta_sampling='log'"),
        (["--memory-weight", "0.5"], "Expected 0 when no memory_budget is given"),
    ],
)
def test_tune_bad_arguments_give_clear_errors(extra, match, idx_dir, tmp_path):
    with pytest.raises(SystemExit, match=match):
        cli.main(_tune(idx_dir, tmp_path, *extra))


def test_tune_refuses_unknown_models(capsys):
    with pytest.raises(SystemExit):
        cli.main(["tune", "--model", "lenet5"])
    assert "argument --model: invalid choice: 'lenet5'" in capsys.readouterr().err
