"""The benchmarks behind `specnet bench NAME` run (their figures are not asserted)."""

import argparse
import importlib
import inspect
import json

import pytest

from keras_specnet import bench, cli
from keras_specnet.bench import held_bytes, runner, spectra, trace_time

from helpers import learnable_split, write_idx_dataset


@pytest.fixture
def idx_dir(tmp_path):
    return write_idx_dataset(
        tmp_path, {"train": learnable_split(64, 0), "t10k": learnable_split(32, 1)}
    )


def _args(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def _in_process(monkeypatch, calls):
    """Run each configuration's `measure` here instead of in a child."""

    def isolated(module, config, timeout=None):
        calls.append((module, config))
        return importlib.import_module(module).measure(json.loads(json.dumps(config)))

    monkeypatch.setattr(runner, "isolated", isolated)


def test_every_benchmark_runs_through_the_shared_runner():
    assert set(bench.BENCHMARKS) == {
        "memory",
        "butterfly",
        "held-bytes",
        "spectra",
        "trace-time",
        "speed",
    }
    for name, module_name in bench.BENCHMARKS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.main), name
        source = inspect.getsource(module)
        assert "subprocess" not in source, name  # runner.isolated only
        assert "runner.isolated(" in source, name
    parser = cli.build_parser("bench")
    args = parser.parse_args(["bench", "spectra", "--model", "spec_lenet5"])
    assert (args.benchmark, args.func.__module__) == ("spectra", "keras_specnet.cli.bench")


def test_arguments_leave_out_the_dispatch():
    args = cli.build_parser("bench").parse_args(["bench", "held-bytes", "--beta", "0.5"])
    assert runner.arguments(args) == {
        "command": "bench",
        "benchmark": "held-bytes",
        "beta": 0.5,
        "output": None,
    }


@pytest.mark.slow
def test_trace_time_runs_each_configuration_and_writes_medians(tmp_path, capsys, monkeypatch):
    calls = []
    _in_process(monkeypatch, calls)
    out = tmp_path / "trace.json"
    # Repeated values are measured once; ratios are to batch_chunks=1.
    args = _args(
        trace_time,
        [
            "--chunks",
            "2",
            "1",
            "2",
            "--repeats",
            "1",
            "--width",
            "0.0625",
            "--steps",
            "1",
            "--output",
            str(out),
        ],
    )
    trace_time.main(args)
    assert [(m, c["chunks"]) for m, c in calls] == [
        ("keras_specnet.bench.trace_time", c) for c in (0, 1, 2)
    ]
    printed = capsys.readouterr().out
    assert "SpecVGG16 batch_chunks=2" in printed and "VGG16 (spatial)" in printed
    assert "ratios to batch_chunks=1" in printed
    medians = json.loads(out.read_text())["medians"]
    assert set(medians) == {"0", "1", "2"}
    assert all(m["first_step_s"] > 0 and m["step_s"] > 0 for m in medians.values())


def test_trace_time_refuses_negative_chunks(capsys):
    with pytest.raises(SystemExit):
        _args(trace_time, ["--chunks", "-1"])
    assert "Invalid value for argument `chunks`. Expected an integer >= 0" in (
        capsys.readouterr().err
    )


def test_held_bytes_table_and_json(tmp_path, capsys, monkeypatch):
    figures = {
        "conv2d": 4 * 2**20,
        "none": 8 * 2**20,
        "sparse_tensor": 2**20,
        "bitmask": 2**19,
        "bitmask+bfloat16": 2**18,
    }
    calls = []

    def isolated(module, config, timeout=None):
        calls.append(config)
        return {"held_bytes": figures[config["config"]]}

    monkeypatch.setattr(runner, "isolated", isolated)
    out = tmp_path / "held.json"
    held_bytes.main(_args(held_bytes, ["--beta", "0.5", "--output", str(out)]))
    assert calls == [{"config": c, "beta": 0.5} for c in held_bytes.CONFIGS]
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows["none"][1:] == ["8.00", "2.00x"]
    assert rows["bitmask+bfloat16"][1:] == ["0.25", "0.06x"]
    assert json.loads(out.read_text())["held_bytes"] == figures


def test_held_bytes_measures_a_configuration():
    out = held_bytes.measure({"config": "bitmask", "beta": 1.0})
    assert isinstance(out["held_bytes"], int) and out["held_bytes"] > 0


def test_spectra_measures_each_layer(idx_dir, tmp_path, capsys, monkeypatch):
    calls = []
    _in_process(monkeypatch, calls)
    out = tmp_path / "spectra.json"
    args = _args(
        spectra,
        [
            "--model",
            "spec_lenet5",
            "--beta",
            "0.5",
            "--batch-size",
            "16",
            "--data-dir",
            str(idx_dir),
            "--output",
            str(out),
        ],
    )
    spectra.main(args)
    assert len(calls) == 1
    layers = json.loads(out.read_text())["layers"]
    spectral = [f for f in layers if f["domain"] == "spectral"]
    assert spectral and all(0 <= f["zero_fraction"] <= 1 and f["rms"] >= 0 for f in spectral)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["layer", "domain", "rms", "/", "std", "zero", "fraction"]
    assert len(printed) == 2 + len(layers) and printed[-1] == f"wrote {out}"


def test_spectra_refuses_beta_of_a_spatial_model(idx_dir):
    with pytest.raises(SystemExit) as exit:
        cli.main(
            ["bench", "spectra", "--model", "lenet5", "--beta", "0.5", "--data-dir", str(idx_dir)]
        )
    assert exit.value.code == (
        "specnet bench spectra: --beta applies to spectral models only; "
        "--model lenet5 has no threshold."
    )


@pytest.mark.slow
def test_spectra_in_a_fresh_process(idx_dir, capsys):
    result = cli.main(
        [
            "bench",
            "spectra",
            "--model",
            "spec_lenet5",
            "--batch-size",
            "16",
            "--data-dir",
            str(idx_dir),
        ]
    )
    assert result == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("layer") and len(printed) > 3
    assert any(" spectral " in line for line in printed)
