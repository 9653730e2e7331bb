"""`model.fit` under `tf.distribute` strategies gives single-device training's weights.

A `MirroredStrategy` over two logical CPU devices, and a
`MultiWorkerMirroredStrategy` of two worker processes on localhost, train
from the same initial weights on the same global batches as one device; the
weights after two epochs must agree to float32 rounding. Each strategy runs
in its own child process (tests/_distributed_child.py): the CPU split must
happen before TensorFlow initialises, and strategies of different kinds
collide in one process.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import worker_tf_configs

TESTS = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(TESTS, "_distributed_child.py")

#: The models of the child: spectral (cache on spectral inputs), spectral
#: with a synchronized SpectralBatchNormalization, butterfly and spatial.
MODELS = ("spectral", "spectral_bn", "butterfly", "lenet5")

#: The model the two workers train.
MULTI_WORKER_MODEL = "spectral"

#: Largest relative difference (Frobenius norm) of a weight between the
#: single-device and the distributed run: float32 rounding of the order in
#: which the replicas' gradients are summed, over 8 steps.
RTOL = 1e-5

#: Seconds a child may run.
TIMEOUT = 300


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _wait(processes):
    """`(returncode, stdout, stderr)` of each of `processes`.

    Every process still running after `TIMEOUT` seconds, or once the wait
    fails, is killed.
    """
    results = []
    try:
        for p in processes:
            try:
                out, err = p.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                err += f"\nkilled after {TIMEOUT} s"
            results.append((p.returncode, out, err))
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return results


def _assert_succeeded(results):
    for returncode, out, err in results:
        assert returncode == 0, f"child failed ({returncode}):\n{out}\n{err[-6000:]}"


def _spawn(*args, **env):
    return subprocess.Popen(
        [sys.executable, CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )


def _weights(path, key):
    saved = np.load(path)
    count = sum(name.startswith(f"{key}_") for name in saved.files)
    assert count, (path, key, saved.files)
    return [saved[f"{key}_{i}"] for i in range(count)]


def _relative_differences(got, want):
    assert [w.shape for w in got] == [w.shape for w in want]
    return [
        float(np.linalg.norm(g - w) / max(np.linalg.norm(w), np.finfo("float32").tiny))
        for g, w in zip(got, want)
    ]


def _assert_same_training(got, single, initial, what):
    differences = _relative_differences(got, single)
    assert max(differences) < RTOL, (what, differences)
    # The comparison means something only if training moved every weight.
    moved = _relative_differences(single, initial)
    assert min(moved) > 100 * RTOL, (what, "weights that did not train", moved)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The mirrored child and the two workers, run at the same time.

    Returns:
        `(folder, results)`: the folder of their `.npz` files, and
        `{"mirrored": [result], "multi_worker": [result, result]}` with the
        `(returncode, stdout, stderr)` of each process.
    """
    out = tmp_path_factory.mktemp("distributed")
    tf_configs = worker_tf_configs(2)
    processes = []
    try:
        processes.append(_spawn("mirrored", str(out), *MODELS))
        for tf_config in tf_configs:
            processes.append(_spawn("worker", str(out), MULTI_WORKER_MODEL, TF_CONFIG=tf_config))
    finally:
        results = _wait(processes)
    return out, {"mirrored": results[:1], "multi_worker": results[1:]}


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_mirrored_strategy_trains_like_one_device(model, runs):
    out, results = runs
    _assert_succeeded(results["mirrored"])
    error = out / f"{model}.error"
    assert not error.exists(), error.read_text()
    path = out / f"{model}.npz"
    _assert_same_training(
        _weights(path, "mirrored"),
        _weights(path, "single"),
        _weights(path, "initial"),
        f"{model}, MirroredStrategy over 2 CPU devices",
    )


@pytest.mark.slow
def test_multi_worker_strategy_trains_like_one_device(runs):
    out, results = runs
    _assert_succeeded(results["multi_worker"])
    _assert_succeeded(results["mirrored"])
    reference = out / f"{MULTI_WORKER_MODEL}.npz"
    path = out / f"{MULTI_WORKER_MODEL}.multi_worker.npz"
    initial = _weights(reference, "initial")
    # The same seed drew the same initial weights in every process.
    for got, want in zip(_weights(path, "initial"), initial, strict=True):
        np.testing.assert_array_equal(got, want)
    _assert_same_training(
        _weights(path, "multi_worker"),
        _weights(reference, "single"),
        initial,
        f"{MULTI_WORKER_MODEL}, MultiWorkerMirroredStrategy of 2 workers",
    )
