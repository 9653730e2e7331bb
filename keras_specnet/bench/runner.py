"""Shared plumbing for the benchmarks: fresh processes, medians, arguments."""

import importlib
import json
import os
import statistics
import subprocess
import sys
import time

_MARK = "SPECNET-BENCH-RESULT "

#: Makes TensorFlow's CPU allocator count every tensor. Its default CPU
#: allocator leaves tensors below about 256 KiB out of the statistics that
#: `keras_specnet.memory` reads; the BFC allocator (TensorFlow's GPU
#: allocator, also available for the CPU) counts them all. It must be set
#: before TensorFlow starts, hence in the child's environment.
ALLOCATOR_ENV = {"TF_CPU_ALLOCATOR_USE_BFC": "true"}


def isolated(module, config, timeout=None, stream_stderr=False):
    """Run `module.measure(config)` in a fresh Python process.

    Args:
        module: importable name of a module with a `measure(config) -> dict`.
        config: JSON-serialisable dict handed to `measure`.
        timeout: seconds before the child is killed (None: no limit).
        stream_stderr: whether the child's stderr goes straight to this
            process's stderr (its progress shows as it runs) instead of
            being captured.

    Returns:
        The dict `measure` returned. A child that fails raises
        `RuntimeError` with the end of its stderr (or, with
        `stream_stderr=True`, a pointer to it above).
    """
    done = subprocess.run(
        [sys.executable, "-m", "keras_specnet.bench.runner", module, json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=None if stream_stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **ALLOCATOR_ENV),
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK) :])
    if stream_stderr:
        tail = "(its stderr is above)"
    else:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
    raise RuntimeError(
        f"benchmark {module} failed for config {config} (exit {done.returncode}):\n{tail}"
    )


def median_seconds(fn, repeats, warmup=1):
    """Median wall time of `fn()` over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def arguments(args):
    """The parsed arguments of a benchmark as a JSON-ready dict.

    Leaves out what the command line adds to dispatch (`func`) and anything
    else that is not data.
    """
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in vars(args).items()
        if not callable(value)
    }


def require_data(name, data_dir, splits=("train", "test")):
    """Check, in this process, that the benchmark's data can be read.

    Raises `keras_specnet.datasets.DatasetNotAvailableError` (which says
    where the package looked and how to get the data) before any child is
    started, instead of a child failing with it.
    """
    from keras_specnet import datasets

    for split in splits:
        datasets.source(name, data_dir=data_dir, split=split)


def _child(module, config):
    # Before TensorFlow starts: its C++ start-up notices would fill the
    # stderr tail that a failure reports.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = importlib.import_module(module).measure(json.loads(config))
    print(_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    _child(*sys.argv[1:3])
