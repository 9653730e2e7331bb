"""`specnet train`, `report`, `models`, `tune` and `bench` on IDX files written by the test."""

import json
import os
import re
import subprocess
import sys

import pytest

from keras_specnet import cli

from helpers import learnable_split, write_idx_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def idx_dir(tmp_path):
    """192 training and 64 test images that a small model can learn."""
    return write_idx_dataset(
        tmp_path,
        {"train": learnable_split(192, 0), "t10k": learnable_split(64, 1)},
        gzipped=("train", "t10k"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lenet5", "spec_lenet5"])
def test_train_writes_figures(model, idx_dir, tmp_path, capsys):
    out = tmp_path / "run.json"
    args = [
        "train",
        "--model",
        model,
        "--dataset",
        "fashion_mnist",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--data-dir",
        str(idx_dir),
        "--verbose",
        "0",
        "--output",
        str(out),
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
    from keras_specnet import datasets

    assert result["data"]["examples"] == {"train": 192, "test": 64}
    assert printed.count(datasets.provenance_line(result["data"])) == 1


def test_report_prints_runs_side_by_side(tmp_path, capsys):
    runs = []
    for model, acc, step in [("lenet5", 0.9, 4 * 2**20), ("spec_lenet5", 0.885, 2**20)]:
        path = tmp_path / f"{model}.json"
        path.write_text(
            json.dumps(
                {
                    "model": model,
                    "dataset": "fashion_mnist",
                    "epochs": 5,
                    "beta": None if model == "lenet5" else 0.1,
                    "test_accuracy": acc,
                    "params": 107786,
                    "step_peak_bytes": step + 2**20,
                    "step_bytes": step,
                    "train_seconds": 10.0,
                }
            )
        )
        runs.append(str(path))
    assert cli.main(["report", *runs]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = {line.split("  ")[0]: line.split() for line in lines}
    assert row["test accuracy"][-2:] == ["0.9000", "0.8850"]
    assert row["accuracy vs first (points)"][-1] == "-1.50"
    assert row["step bytes vs first"][-2:] == ["1.00x", "0.25x"]


def test_beta_on_a_spatial_model_is_refused(idx_dir):
    with pytest.raises(SystemExit, match="--beta applies to spectral models only"):
        cli.main(
            [
                "train",
                "--model",
                "lenet5",
                "--beta",
                "0.5",
                "--data-dir",
                str(idx_dir),
                "--verbose",
                "0",
            ]
        )


def test_module_entry_point_help():
    done = subprocess.run(
        [sys.executable, "-m", "keras_specnet", "train", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0
    assert "--beta" in done.stdout and "--batch-size" in done.stdout


def test_models_lists_the_registry_with_parameter_counts(capsys, monkeypatch):
    from keras_specnet import applications
    from keras_specnet.applications import registry

    # A part of the registry: building all of it twice takes ~15 s.
    names = ["lenet5", "spec_lenet5", "spec_vgg16", "mobilenet_v1", "mobilenet_v1_bft"]
    monkeypatch.setattr(registry, "REGISTRY", {n: registry.REGISTRY[n] for n in names})
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:]}

    assert list(rows) == names
    assert rows["spec_lenet5"][1] == "lenet5"
    assert rows["mobilenet_v1_bft"][1] == "mobilenet_v1"
    assert rows["lenet5"][2] == "-"
    assert rows["lenet5"][3] == f"{applications.LeNet5().count_params():,}"
    assert (
        rows["spec_lenet5"][4]
        == f"{applications.SpecLeNet5(input_shape=(32, 32, 3)).count_params():,}"
    )
    from keras_specnet.applications import vgg

    assert rows["spec_vgg16"][2] == f"{vgg.SPEC_VGG16_BETA:g}"
    # The registry's fixed arguments apply: pointwise fusion, not butterflies.
    pointwise = applications.MobileNetV1(input_shape=(28, 28, 1), fusion="pointwise")
    assert rows["mobilenet_v1"][3] == f"{pointwise.count_params():,}"


@pytest.mark.slow
def test_model_args_reach_the_builder(idx_dir, tmp_path):
    out = tmp_path / "vgg.json"
    cli.main(
        [
            "train",
            "--model",
            "spec_vgg16",
            "--model-arg",
            "width=0.125",
            "--model-arg",
            "fc_units=16",
            "--model-arg",
            "batch_chunks=1",
            "--epochs",
            "1",
            "--limit",
            "64",
            "--data-dir",
            str(idx_dir),
            "--verbose",
            "0",
            "--output",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    from keras_specnet.applications import SpecVGG16

    expected = SpecVGG16(input_shape=(28, 28, 1), width=0.125, fc_units=16)
    assert result["params"] == expected.count_params()
    # (batch_chunks=1 traces a smaller graph: the test takes half the time.)
    assert result["model_args"] == {"width": 0.125, "fc_units": 16, "batch_chunks": 1}
    from keras_specnet.applications import vgg

    assert result["beta"] == vgg.SPEC_VGG16_BETA  # the builder's default
    with pytest.raises(SystemExit, match="takes no argument depth"):
        cli.main(
            [
                "train",
                "--model",
                "vgg16",
                "--model-arg",
                "depth=3",
                "--data-dir",
                str(idx_dir),
                "--verbose",
                "0",
            ]
        )


def _tune(idx_dir, tmp_path, *extra):
    return [
        "tune",
        "--model",
        "spec_lenet5",
        "--beta-range",
        "0",
        "0.5",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--data-dir",
        str(idx_dir),
        "--validation-split",
        "0.25",
        "--directory",
        str(tmp_path / "search"),
        "--verbose",
        "0",
        "--model-arg",
        "batch_chunks=1",
        *extra,  # faster traces
    ]


@pytest.mark.slow
def test_tune_prints_the_trials_and_resumes(idx_dir, tmp_path, capsys):
    out = tmp_path / "tune.json"
    assert (
        cli.main(
            _tune(
                idx_dir,
                tmp_path,
                "--max-trials",
                "2",
                "--memory-budget",
                "1000",
                "--output",
                str(out),
            )
        )
        == 0
    )
    printed = capsys.readouterr().out.splitlines()
    result = json.loads(out.read_text())
    trials = result["trials"]
    assert len(trials) == 2 and all(t["status"] == "ok" for t in trials)
    assert result["best"] == trials[0]
    assert trials[0]["score"] >= trials[1]["score"]
    assert result["objective"]["memory_budget"] == 1000 * 2**20
    header = next(i for i, line in enumerate(printed) if line.startswith("trial"))
    assert printed[header].split() == [
        "trial",
        "status",
        "beta",
        "accuracy",
        "held",
        "MiB",
        "step",
        "MiB",
        "step",
        "peak",
        "MiB",
        "time",
        "s",
        "score",
    ]
    first = printed[header + 1].split()
    assert first[0] == trials[0]["trial_id"]
    assert first[2] == format(trials[0]["hyperparameters"]["beta"], ".4g")
    assert first[3] == f"{trials[0]['val_accuracy']:.4f}"
    assert first[5] == f"{trials[0]['memory_step_bytes'] / 2**20:.2f}"
    assert first[6] == f"{trials[0]['memory_peak_bytes'] / 2**20:.2f}"
    assert printed[header + 3].startswith(f"best: trial {trials[0]['trial_id']}, beta=")

    # Run again with one more trial: the two finished ones are not repeated.
    assert (
        cli.main(
            _tune(
                idx_dir,
                tmp_path,
                "--max-trials",
                "3",
                "--memory-budget",
                "1000",
                "--output",
                str(out),
            )
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "2 trials already done, not run again" in printed
    again = json.loads(out.read_text())["trials"]
    assert len(again) == 3
    for trial in trials:
        assert trial in again  # unchanged figures: not re-run


@pytest.mark.slow
def test_tune_over_budget_trials_show_in_the_table(idx_dir, tmp_path, capsys):
    out = tmp_path / "tune.json"
    cli.main(
        _tune(
            idx_dir, tmp_path, "--max-trials", "1", "--memory-budget", "0.001", "--output", str(out)
        )
    )
    (trial,) = json.loads(out.read_text())["trials"]
    assert trial["status"] == "over budget"
    assert trial["score"] == pytest.approx(-trial["memory_step_bytes"] / (0.001 * 2**20))
    assert "  over budget  " in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, match",
    [
        (
            ["--tuner", "hyperband", "--max-trials", "3"],
            "--max-trials does not apply to --tuner hyperband",
        ),
        (
            ["--beta-range", "1", "0.5"],
            r"Invalid value for argument `beta_range`. "
            r"Expected a pair \(low, high\)",
        ),
        (["--model-arg", "beta=0.2"], "argument `model_kwargs`"),
        (
            ["--beta-range", "0", "0.5", "--beta-sampling", "log"],
            r"Expected a pair \(low, high\) with 0 < low < high for beta_sampling='log'",
        ),
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


def _error_message(capsys):
    """What argparse printed after `error: ` on stderr."""
    return capsys.readouterr().err.strip().splitlines()[-1].split("error: ", 1)[1]


def test_a_zero_learning_rate_is_refused_alike_by_train_and_tune(capsys):
    messages = []
    for command in ("train", "tune"):
        with pytest.raises(SystemExit) as exit:
            cli.main([command, "--model", "spec_lenet5", "--learning-rate", "0"])
        assert exit.value.code == 2
        messages.append(_error_message(capsys))
    assert messages[0] == messages[1]
    assert messages[0].startswith(
        "argument --learning-rate: Invalid value for argument `learning_rate`. "
        "Expected a finite number > 0. Received: learning_rate=0"
    )


def test_train_takes_the_optimizers_default_learning_rate(capsys):
    from keras_specnet import training

    parser = cli.build_parser("train")
    for optimizer in training.OPTIMIZERS:
        args = parser.parse_args(["train", "--model", "lenet5", "--optimizer", optimizer])
        assert args.learning_rate is None  # compile_classifier's default
    with pytest.raises(SystemExit) as exit:
        cli.main(["train", "--help"])
    assert exit.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for name, rate in training.DEFAULT_LEARNING_RATES.items():
        assert f"{rate:g} for {name}" in help_text


@pytest.mark.parametrize("command", ["train", "tune"])
def test_a_builder_error_is_one_line(command, idx_dir, tmp_path, capsys):
    argv = [
        command,
        "--model",
        "spec_vgg16",
        "--model-arg",
        "width=-1",
        "--data-dir",
        str(idx_dir),
        "--verbose",
        "0",
    ]
    if command == "tune":
        argv += ["--directory", str(tmp_path / "search")]
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    assert exit.value.code == (
        f"specnet {command}: Invalid value for argument `width`. Expected a "
        "finite number > 0. Received: width=-1"
    )
    assert not (tmp_path / "search").exists()  # refused before the search


@pytest.mark.parametrize("command", ["train", "tune"])
def test_an_unknown_model_arg_is_one_line(command, idx_dir, tmp_path):
    argv = [command, "--model", "spec_lenet5", "--model-arg", "depth=3", "--data-dir", str(idx_dir)]
    if command == "tune":
        argv += ["--directory", str(tmp_path / "search")]
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    message = exit.value.code
    assert message.startswith(
        f"specnet {command}: --model spec_lenet5 takes no argument depth; it takes "
    )
    assert "\n" not in message and "input_shape" in message


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--model", "lenet5"],
        ["tune", "--model", "spec_lenet5"],
        ["bench", "memory"],
        ["bench", "spectra", "--model", "spec_lenet5"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_missing_data_is_one_clear_message(argv, tmp_path, monkeypatch):
    from keras_specnet.bench import runner

    def no_child(*args, **kwargs):
        raise AssertionError("a benchmark child started without its data")

    monkeypatch.setattr(runner, "isolated", no_child)
    missing = tmp_path / "missing"
    command = " ".join(argv[:2]) if argv[0] == "bench" else argv[0]
    argv = [*argv, "--data-dir", str(missing)]
    if argv[0] == "tune":
        argv += ["--directory", str(tmp_path / "search")]
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    message = exit.value.code
    assert isinstance(message, str)  # printed on stderr, exit status 1
    assert message.startswith(f"specnet {command}: Dataset 'fashion_mnist' is not available")
    assert str(missing) in message
    assert not (tmp_path / "search").exists()


def _without_onednn_notice(stderr):
    """`stderr` less the oneDNN notice that TensorFlow prints, on CPUs where
    oneDNN is on by default, before its logging starts (where
    TF_CPP_MIN_LOG_LEVEL does not reach), and absl's line before it."""
    return "\n".join(
        line
        for line in stderr.splitlines()
        if not line.startswith("WARNING: All log messages before absl::InitializeLog()")
        and not re.search(r"port\.cc:\d+\] oneDNN custom operations are on", line)
    )


def _clean_env():
    """The environment without the variables the CLI sets itself."""
    env = dict(os.environ)
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_CPU_ALLOCATOR_USE_BFC"):
        env.pop(name, None)
    return env


def test_train_prints_no_tensorflow_start_up_log(idx_dir, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_specnet",
            "train",
            "--model",
            "lenet5",
            "--epochs",
            "1",
            "--limit",
            "64",
            "--data-dir",
            str(idx_dir),
            "--verbose",
            "2",
            "--output",
            str(tmp_path / "run.json"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=_clean_env(),
    )
    assert done.returncode == 0, done.stderr
    # On CPUs where oneDNN is on by default, TensorFlow prints that notice
    # (after absl's preamble) before its logging starts, where
    # TF_CPP_MIN_LOG_LEVEL does not reach; `TF_ENABLE_ONEDNN_OPTS=0` would
    # hide it with oneDNN itself. Nothing else may be printed.
    rest = _without_onednn_notice(done.stderr)
    assert not re.search("absl|cpu_feature_guard|oneDNN", rest), done.stderr
    lines = done.stdout.splitlines()
    result = json.loads((tmp_path / "run.json").read_text())
    from keras_specnet import datasets

    # Where the data comes from, once, before the first epoch.
    provenance = datasets.provenance_line(result["data"])
    assert lines.count(provenance) == 1
    assert lines.index(provenance) < next(i for i, line in enumerate(lines) if "accuracy:" in line)
    assert result["learning_rate"] == pytest.approx(1e-3)  # Adam's default
    assert result["data"] == {
        "dataset": "fashion_mnist",
        "source": "idx",
        "path": str(idx_dir),
        "examples": {"train": 64, "test": 64},
    }


def test_errors_exit_with_status_1_and_no_traceback(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_specnet",
            "train",
            "--model",
            "lenet5",
            "--data-dir",
            str(tmp_path / "missing"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=_clean_env(),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert _without_onednn_notice(done.stderr).startswith(
        "specnet train: Dataset 'fashion_mnist' is not available"
    )
