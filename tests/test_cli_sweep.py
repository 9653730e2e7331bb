"""`specnet sweep`: the twin and each beta in fresh processes, Fig. 3 and Fig. 4."""

import datetime
import inspect
import json
import math

import numpy as np
import pytest

import keras_specnet
from keras_specnet import cli, datasets
from keras_specnet.bench import runner
from keras_specnet.cli import sweep

from helpers import learnable_split, write_idx_dataset

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def idx_dir(tmp_path):
    """256 training and 128 test images that a small model can learn."""
    (tmp_path / "data").mkdir()
    return write_idx_dataset(
        tmp_path / "data", {"train": learnable_split(256, 0), "t10k": learnable_split(128, 1)}
    )


@pytest.fixture
def no_child(monkeypatch):
    def isolated(*args, **kwargs):
        raise AssertionError("a sweep child started although the arguments are refused")

    monkeypatch.setattr(runner, "isolated", isolated)


@pytest.mark.slow  # three child processes, each training for one small epoch
def test_sweep_writes_every_configuration_and_both_figures(idx_dir, tmp_path, capfd):
    out = tmp_path / "sweep"
    argv = ["sweep", "--model", "spec_lenet5", "--betas", "0.3", "0.1", "--fig4-beta", "0.1"]
    argv += ["--smoke", "--output", str(out), "--data-dir", str(idx_dir)]
    assert cli.main(argv) == 0
    printed, streamed = capfd.readouterr()

    results = json.loads((out / sweep.RESULTS).read_text())
    assert results["complete"] is True
    assert results["version"] == keras_specnet.__version__
    assert datetime.datetime.fromisoformat(results["date"]).utcoffset() == datetime.timedelta(0)
    assert results["machine"]["cpu_count"] >= 1 and results["machine"]["platform"]
    assert results["arguments"]["model"] == "spec_lenet5"
    assert results["arguments"]["betas"] == [0.3, 0.1]
    assert (results["model"], results["twin"]) == ("spec_lenet5", "lenet5")
    assert results["input_shape"] == [28, 28, 1]

    configs = results["configurations"]
    assert [c["label"] for c in configs] == [
        "lenet5",
        "spec_lenet5 beta=0.3",
        "spec_lenet5 beta=0.1",
    ]
    assert [c["beta"] for c in configs] == [None, 0.3, 0.1]
    sizes = [str(b) for b in sweep.SMOKE["batch_sizes"]]
    for c in configs:
        assert math.isfinite(c["accuracy"]) and 0.0 <= c["accuracy"] <= 1.0, c["label"]
        assert c["error"] == pytest.approx(1.0 - c["accuracy"])
        assert c["per_sample_bytes"] > 0, c["label"]
        assert len(c["epoch_peak_bytes"]) == len(c["epoch_mean_bytes"]) == 1
        assert c["baseline_bytes"] >= 0
        assert sorted(c["steps"], key=int) == sizes
        assert all(c["steps"][b]["peak_bytes"] > 0 for b in sizes)
        assert c["train_seconds"] > 0

    # Fig. 3: each spectral configuration over the twin, by increasing beta.
    twin, *spectral = configs
    largest = sizes[-1]
    expected = [
        {
            "beta": c["beta"],
            "per_sample": c["per_sample_bytes"] / twin["per_sample_bytes"],
            "step_peak": c["steps"][largest]["peak_bytes"] / twin["steps"][largest]["peak_bytes"],
            "error": c["error"] / max(twin["error"], 1e-12),
        }
        for c in sorted(spectral, key=lambda c: c["beta"])
    ]
    assert results["fig3"] == [pytest.approx(row) for row in expected]

    for name in (sweep.FIG3, sweep.FIG4):
        path = out / name
        assert path.read_bytes()[:8] == PNG, name
        assert path.stat().st_size > 1000, name

    # Progress: each configuration starts and ends here, its epochs come from its child.
    lines = printed.splitlines()
    for i, c in enumerate(configs, 1):
        assert f"[{i}/3] {c['label']}: training" in lines
        assert any(line.startswith(f"[{i}/3] {c['label']}: accuracy ") for line in lines)
    assert streamed.count("epoch 1/1: loss ") == 3
    assert "per-sample / twin" in printed and "error / twin" in printed


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--model", "vgg16", "--betas", "0.1"], ["--model vgg16", "spatial", "spec_vgg16"]),
        (["--model", "resnet", "--betas", "0.1"], ["--model resnet", "spec_lenet5, "]),
        (["--model", "mobilenet_v1_bft", "--betas", "0.1"], ["--model mobilenet_v1_bft"]),
        (
            ["--model", "spec_lenet5", "--betas", "0.1", "0.3", "--fig4-beta", "0.2"],
            ["--fig4-beta 0.2", "one of 0.1, 0.3"],
        ),
        (
            ["--model", "spec_lenet5", "--betas", "0.1", "--batch-sizes", "64", "64"],
            ["--batch-sizes 64 64", "two different"],
        ),
        (
            ["--model", "spec_lenet5", "--betas", "0.1", "0.1"],
            ["--betas 0.1 0.1", "different thresholds"],
        ),
        (
            ["--model", "spec_lenet5", "--betas", "0.1", "--width", "0.5"],
            ["--width 0.5", "--model spec_lenet5", "spec_vgg16"],
        ),
    ],
    ids=["spatial", "unknown", "butterfly", "fig4-beta", "batch-sizes", "betas", "width"],
)
def test_refused_arguments_name_the_argument_and_the_value(argv, words, tmp_path, no_child):
    out = tmp_path / "sweep"
    with pytest.raises(SystemExit) as exit:
        cli.main(["sweep", *argv, "--output", str(out)])
    message = exit.value.code
    assert isinstance(message, str) and message.startswith("specnet sweep: ")
    assert "\n" not in message
    for word in words:
        assert word in message
    assert "expected" in message
    assert not out.exists()


def test_a_spatial_model_lists_the_spectral_ones(tmp_path, no_child):
    from keras_specnet.applications import registry

    with pytest.raises(SystemExit) as exit:
        cli.main(["sweep", "--model", "lenet5", "--betas", "0.1", "--output", str(tmp_path)])
    for name in registry.names("spectral"):
        assert name in exit.value.code


def test_a_negative_beta_is_refused_by_the_parser(tmp_path, capsys, no_child):
    with pytest.raises(SystemExit) as exit:
        cli.main(["sweep", "--model", "spec_lenet5", "--betas", "-1", "--output", str(tmp_path)])
    assert exit.value.code == 2
    assert "Invalid value for argument `betas`" in capsys.readouterr().err


def test_missing_data_is_one_clear_message_before_any_child(tmp_path, no_child):
    missing = tmp_path / "missing"
    argv = ["sweep", "--model", "spec_lenet5", "--betas", "0.1", "--output", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit:
        cli.main([*argv, "--data-dir", str(missing)])
    message = exit.value.code
    assert message.startswith("specnet sweep: Dataset 'fashion_mnist' is not available")
    assert str(missing) in message
    assert not (tmp_path / "o").exists()


def test_images_take_the_input_shape_of_the_builder():
    grey = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    assert tuple(datasets.to_shape(grey, (32, 32, 3)).shape) == (2, 32, 32, 3)
    assert datasets.to_shape(grey, (28, 28, 1)) is grey
    assert sweep._input_shape("vgg16", {"width": 0.0625}) == (32, 32, 3)
    assert sweep._input_shape("lenet5", {}) == (28, 28, 1)


def test_isolated_captures_stderr_unless_asked_to_stream_it():
    parameter = inspect.signature(runner.isolated).parameters["stream_stderr"]
    assert parameter.default is False


@pytest.mark.slow  # starts a child process
def test_isolated_with_streamed_stderr_reports_a_failing_child():
    with pytest.raises(RuntimeError, match=r"(?s)failed for config .*its stderr is above"):
        runner.isolated("keras_specnet.bench.memory", {"task": "measure"}, stream_stderr=True)
