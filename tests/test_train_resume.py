"""`specnet train --checkpoint-dir`: kill and resume, refusals, NaN stops."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import cli, training
from keras_specnet.applications import LeNet5
from keras_specnet.callbacks import NonFiniteLossError, StopOnNonFiniteLoss

from helpers import h5_arrays, random_split, write_idx_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 240
EPOCHS = 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_idx_dataset(
        tmp_path_factory.mktemp("idx"),
        {"train": random_split(256, 0), "t10k": random_split(64, 1)},
    )


def _args(data_dir, *extra):
    return [
        "train",
        "--model",
        "lenet5",
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--data-dir",
        str(data_dir),
        "--verbose",
        "0",
        *extra,
    ]


def _command(data_dir, *extra):
    return [sys.executable, "-m", "keras_specnet", *_args(data_dir, *extra)]


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    env.pop("SPECNET_CPU_DEVICES", None)
    return env


def _finished(backup):
    try:
        with open(backup / "training_metadata.json") as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(data_dir, tmp_path, capsys):
    whole = tmp_path / "whole"
    # The uninterrupted run, in this process (default strategy).
    uninterrupted = _args(
        data_dir,
        "--checkpoint-dir",
        str(whole / "ckpt"),
        "--output",
        str(whole / "run.json"),
        "--save-weights",
        str(whole / "run.weights.h5"),
    )
    assert cli.main(uninterrupted) == 0
    assert "resuming" not in capsys.readouterr().out

    ckpt = tmp_path / "ckpt"
    extra = (
        "--checkpoint-dir",
        str(ckpt),
        "--output",
        str(tmp_path / "run.json"),
        "--save-weights",
        str(tmp_path / "run.weights.h5"),
    )
    proc = subprocess.Popen(
        _command(data_dir, *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while _finished(ckpt / "backup") < 1 and proc.poll() is None:
            assert time.monotonic() < deadline, "no epoch was backed up in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGSTOP)  # hold it while checking, then kill
        killed_after = _finished(ckpt / "backup")
        proc.kill()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= killed_after < EPOCHS, killed_after
    assert not (tmp_path / "run.json").exists()

    resumed = subprocess.run(
        _command(data_dir, *extra), capture_output=True, text=True, timeout=TIMEOUT, env=_env()
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished = _finished(ckpt / "backup")
    assert finished == EPOCHS
    # The backup may have moved on between the read and the kill: the
    # resumed run names the epoch it restored.
    restored = json.loads((tmp_path / "run.json").read_text())["resumed_at_epoch"]
    assert restored >= killed_after
    assert (
        f"resuming from {ckpt}: {restored} of {EPOCHS} epochs finished, "
        f"continuing with epoch {restored + 1}"
    ) in resumed.stdout

    want = json.loads((whole / "run.json").read_text())
    got = json.loads((tmp_path / "run.json").read_text())
    assert got["test_accuracy"] == want["test_accuracy"]
    assert got["test_loss"] == pytest.approx(want["test_loss"], rel=1e-6)
    assert len(got["history"]["loss"]) == EPOCHS
    np.testing.assert_allclose(got["history"]["loss"], want["history"]["loss"], rtol=1e-6)
    w_got, w_want = h5_arrays(tmp_path / "run.weights.h5"), h5_arrays(whole / "run.weights.h5")
    assert sorted(w_got) == sorted(w_want)
    for name in w_want:
        np.testing.assert_allclose(w_got[name], w_want[name], rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.slow
def test_other_arguments_are_refused(data_dir, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    first = _args(data_dir, "--checkpoint-dir", str(ckpt))
    first[first.index("--epochs") + 1] = "1"
    assert cli.main(first) == 0
    assert json.loads((ckpt / "run.json").read_text())["arguments"]["batch_size"] == 32

    other = _args(data_dir, "--checkpoint-dir", str(ckpt), "--learning-rate", "0.01")
    other[other.index("--batch-size") + 1] = "16"
    with pytest.raises(SystemExit) as error:
        cli.main(other)
    message = str(error.value)
    assert message.startswith(f"specnet train: --checkpoint-dir {ckpt} holds a run")
    assert "batch_size is 32 there, 16 here" in message
    assert "learning_rate is 0.001 there, 0.01 here" in message
    assert "seed" not in message and "--epochs" in message

    # More epochs extend the run; fewer than those finished are refused.
    more = _args(data_dir, "--checkpoint-dir", str(ckpt))
    more[more.index("--epochs") + 1] = "2"
    assert cli.main(more) == 0
    assert f"resuming from {ckpt}: 1 of 2 epochs finished" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--epochs 1 is fewer than the 2 epochs"):
        cli.main(first)


def test_foreign_directory_is_refused(data_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("something else")
    with pytest.raises(SystemExit, match="is not empty and holds no run.json"):
        cli.main(_args(data_dir, "--checkpoint-dir", str(tmp_path)))


@pytest.mark.slow
def test_nan_loss_stops_the_command(data_dir, tmp_path):
    ckpt = tmp_path / "ckpt"
    with pytest.raises(SystemExit) as error:
        cli.main(
            _args(
                data_dir,
                "--optimizer",
                "sgd",
                "--learning-rate",
                "1e38",
                "--checkpoint-dir",
                str(ckpt),
            )
        )
    message = str(error.value)
    assert message.startswith("specnet train: stopped: the training loss became ")
    assert ("inf" in message or "nan" in message) and "at epoch 1, batch " in message
    assert f"--checkpoint-dir {ckpt}" in message and "--learning-rate" in message
    assert (ckpt / "run.json").exists()


def test_nan_input_stops_fit_and_keeps_the_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64).astype(np.int32)
    x_bad = x.copy()
    x_bad[5] = np.nan
    clean = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    bad = tf.data.Dataset.from_tensor_slices((x_bad, y)).batch(32)
    model = training.compile_classifier(LeNet5())
    backup = tmp_path / "backup"
    with pytest.raises(NonFiniteLossError) as error:
        # Epoch 1 is clean and backed up; epoch 2 starts with a NaN image.
        training.fit(model, clean.concatenate(bad), epochs=3, steps_per_epoch=2, backup_dir=backup)
    assert (error.value.epoch, error.value.batch) == (1, None)
    assert "during epoch 2" in str(error.value)
    assert training.finished_epochs(backup) == 1
    saved = h5_arrays(backup / "latest.weights.h5")
    assert saved and all(np.isfinite(a).all() for a in saved.values() if a.dtype.kind == "f")


def test_nan_loss_names_the_batch():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.array([[1.0], [2.0], [np.nan], [1.0]], np.float32)
    y = np.ones((4, 1), np.float32)
    with pytest.raises(NonFiniteLossError) as error:
        model.fit(
            x,
            y,
            batch_size=1,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[StopOnNonFiniteLoss()],
        )
    assert (error.value.epoch, error.value.batch) == (0, 2)
    assert np.isnan(error.value.loss)
    assert "at epoch 1, batch 3 (counting from 1)" in str(error.value)


def test_epoch_dataset_depends_on_the_epoch_only():
    examples = tf.data.Dataset.range(10)

    def batches(**kwargs):
        return [b.numpy().tolist() for b in training.epoch_dataset(examples, 4, 3, **kwargs)]

    whole = batches(seed=1)
    assert whole == batches(seed=1)
    assert batches(seed=1, initial_epoch=1) == whole[3:]
    assert whole[:3] != whole[3:6]  # each epoch its own order
    assert sorted(sum(whole[:3], [])) == list(range(10))
    assert batches(seed=2) != whole
    with pytest.raises(ValueError, match="initial_epoch"):
        training.epoch_dataset(examples, 4, 3, initial_epoch=4)
