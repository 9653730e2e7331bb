"""Shared plumbing for the benchmarks: fresh processes, medians, tables."""

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


def isolated(module, config, timeout=None):
    """Run `module.measure(config)` in a fresh Python process.

    Args:
        module: importable name of a module with a `measure(config) -> dict`.
        config: JSON-serialisable dict handed to `measure`.
        timeout: seconds before the child is killed (None: no limit).

    Returns:
        The dict `measure` returned. A child that fails raises
        `RuntimeError` with the end of its stderr.
    """
    done = subprocess.run(
        [sys.executable, "-m", "keras_specnet.bench.runner", module, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **ALLOCATOR_ENV),
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
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


def format_table(header, rows):
    """Rows of cells as aligned text: first column left, the others right."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths))
            ).rstrip()
        )
    return "\n".join(lines)


def _child(module, config):
    result = importlib.import_module(module).measure(json.loads(config))
    print(_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    _child(*sys.argv[1:3])
