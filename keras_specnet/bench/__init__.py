"""Benchmarks behind `specnet bench NAME`.

Each benchmark module defines `add_arguments(parser)` and `main(args)`;
those that measure configurations define `measure(config)` and run each
configuration in a fresh Python process through
`keras_specnet.bench.runner.isolated`, so that no configuration inherits
another's allocator state, compiled functions or memory high-water mark.
The modules import nothing heavy at module level: `specnet bench --help`
builds every benchmark's parser without importing TensorFlow.
"""

# Benchmark name -> module in this package. Modules are imported only when
# the `bench` command's parser is built.
BENCHMARKS = {
    "memory": "keras_specnet.bench.memory",
    "butterfly": "keras_specnet.bench.butterfly",
    "held-bytes": "keras_specnet.bench.held_bytes",
    "spectra": "keras_specnet.bench.spectra",
    "trace-time": "keras_specnet.bench.trace_time",
    "speed": "keras_specnet.bench.speed",
}
