"""`specnet train --strategy`: mirrored and multi-worker training equal one device.

Each distributed run is a process of its own: TensorFlow allows one
distribution setup (logical devices, collective ops) per process.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_specnet import cli, distribute

from helpers import h5_arrays, random_split, worker_tf_configs, write_idx_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 240


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    env.pop("SPECNET_CPU_DEVICES", None)
    env.update(extra)
    return env


def _train_args(data_dir, out, weights):
    # 128 examples in 4 global batches of 32 (16 per replica of two): the
    # mean of the replicas' mean losses is the mean loss of the batch.
    # SpecLeNet5: spectral layers, their custom gradients and caches. SGD:
    # its update is linear in the gradient, where Adam's g / sqrt(v) turns
    # rounding-level differences of near-zero gradients into visible ones.
    return [
        sys.executable,
        "-m",
        "keras_specnet",
        "train",
        "--model",
        "spec_lenet5",
        "--optimizer",
        "sgd",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--data-dir",
        str(data_dir),
        "--verbose",
        "0",
        "--output",
        str(out),
        "--save-weights",
        str(weights),
    ]


def _assert_same_training(run, reference):
    """Same weights (rtol 1e-5), per-epoch losses and test accuracy."""
    got, want = h5_arrays(run["weights"]), h5_arrays(reference["weights"])
    assert sorted(got) == sorted(want) and len(got) >= 8
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(
        run["result"]["history"]["loss"], reference["result"]["history"]["loss"], rtol=1e-5
    )
    assert run["result"]["test_accuracy"] == pytest.approx(
        reference["result"]["test_accuracy"], abs=1e-6
    )


def _run(tmp, name, data_dir, **env):
    out, weights = tmp / f"{name}.json", tmp / f"{name}.weights.h5"
    proc = subprocess.run(
        _train_args(data_dir, out, weights) + ["--strategy", name],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(**env),
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"stdout": proc.stdout, "result": json.loads(out.read_text()), "weights": weights}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_idx_dataset(
        tmp_path_factory.mktemp("idx"),
        {"train": random_split(128, 0), "t10k": random_split(32, 1)},
    )


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """The run on one device (in this process: no strategy is made)."""
    tmp = tmp_path_factory.mktemp("default")
    out, weights = tmp / "default.json", tmp / "default.weights.h5"
    args = _train_args(data_dir, out, weights)[3:]
    assert cli.main(args) == 0
    return {"result": json.loads(out.read_text()), "weights": weights}


@pytest.mark.slow
def test_mirrored_on_two_cpu_devices_equals_one_device(data_dir, reference, tmp_path):
    run = _run(tmp_path, "mirrored", data_dir, SPECNET_CPU_DEVICES="2")
    assert (
        "strategy MirroredStrategy: 2 replica(s); global batch 32, 16 per replica"
        in (run["stdout"])
    )
    assert "not measured under --strategy mirrored" in run["stdout"]
    assert run["result"]["replicas"] == 2 and run["result"]["held_bytes"] is None
    assert reference["result"]["replicas"] == 1
    _assert_same_training(run, reference)


@pytest.mark.slow
def test_multiworker_on_two_processes_equals_one_device(data_dir, reference, tmp_path):
    tf_configs = worker_tf_configs(2)
    out, weights = tmp_path / "multi.json", tmp_path / "multi.weights.h5"
    procs = []
    try:
        for tf_config in tf_configs:
            procs.append(
                subprocess.Popen(
                    # Both workers get the same command: only the chief writes.
                    _train_args(data_dir, out, weights) + ["--strategy", "multiworker"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=_env(TF_CONFIG=tf_config),
                    cwd=tmp_path,
                )
            )
        # A worker that fails leaves the other waiting for it: stop both.
        deadline = time.monotonic() + TIMEOUT
        while any(proc.poll() is None for proc in procs):
            assert time.monotonic() < deadline, "the workers did not finish in time"
            if any(proc.returncode not in (None, 0) for proc in procs):
                break
            time.sleep(0.1)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        outputs = [proc.communicate(timeout=TIMEOUT) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr[-3000:]
    chief, other = outputs[0][0], outputs[1][0]
    assert "MultiWorkerMirroredStrategy: 2 replica(s), this process is worker 0" in chief
    assert "this process is worker 1; global batch 32, 16 per replica" in other
    assert f"wrote {out}" in chief and "wrote" not in other
    run = {"result": json.loads(out.read_text()), "weights": weights}
    assert run["result"]["replicas"] == 2
    _assert_same_training(run, reference)


def test_multiworker_without_tf_config_is_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(SystemExit) as error:
        cli.main(["train", "--model", "lenet5", "--strategy", "multiworker"])
    assert str(error.value).startswith("specnet train: --strategy multiworker: ")
    assert "TF_CONFIG environment variable, which is not set" in str(error.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no cluster with a non-empty 'worker'"),
        ('{"cluster": {"worker": ["h:1"]}}', "no task with a 'type' and an integer 'index'"),
        (
            '{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 1}}',
            "is not in its cluster",
        ),
    ],
)
def test_malformed_tf_config_is_named(text, expected):
    with pytest.raises(ValueError, match="TF_CONFIG") as error:
        distribute.cluster_config({"TF_CONFIG": text})
    assert expected in str(error.value)
    assert repr(text) in str(error.value) or "not valid JSON" in str(error.value)


def test_valid_tf_config_is_returned():
    text = '{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 1}}'
    assert distribute.cluster_config({"TF_CONFIG": text}) == json.loads(text)


def test_unknown_strategy_names_the_argument():
    with pytest.raises(ValueError, match="strategy"):
        distribute.make_strategy("tpu")


def test_bad_cpu_devices_variable_is_refused(monkeypatch):
    monkeypatch.setenv("SPECNET_CPU_DEVICES", "two")
    with pytest.raises(SystemExit, match="SPECNET_CPU_DEVICES must be a positive integer"):
        cli.main(["train", "--model", "lenet5"])
