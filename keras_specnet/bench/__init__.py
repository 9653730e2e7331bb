"""Benchmarks behind `specnet bench NAME` (also `benchmarks/NAME.py`).

Each benchmark module defines `add_arguments(parser)` and `main(args)` and
runs every configuration in a fresh Python process through
`keras_specnet.bench.runner.isolated`, so that no configuration inherits
another's allocator state, compiled functions or memory high-water mark.
"""

# Benchmark name -> module in this package. Modules are imported only when
# their command runs, so that `specnet --help` does not import TensorFlow.
BENCHMARKS = {
    "memory": "keras_specnet.bench.memory",
    "butterfly": "keras_specnet.bench.butterfly",
}
