"""`specnet bench speed`: configurations, interleaving, medians, ratios, tables."""

import argparse
import json

import pytest

from keras_specnet.bench import runner, speed


def _args(*argv):
    parser = argparse.ArgumentParser()
    speed.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_speed_is_registered():
    from keras_specnet import bench

    assert bench.BENCHMARKS["speed"] == speed.MODULE == "keras_specnet.bench.speed"


def test_layers_configs_pair_each_shape_and_batch():
    args = _args("--cache", "bitmask+bfloat16", "--batch-chunks", "2", "--beta", "0.05")
    todo = list(speed.configs(args))
    assert len(todo) == 4 * 2 * 2
    assert [c["kind"] for c in todo[:4]] == ["spatial", "spectral"] * 2
    assert [(tuple(c["shape"]), c["batch_size"]) for c in todo[::2]] == [
        (s, b) for s in [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512)] for b in (64, 128)
    ]
    assert all(todo[i]["pair"] == todo[i + 1]["pair"] for i in range(0, len(todo), 2))
    assert len({c["pair"] for c in todo}) == 8
    first = todo[1]
    assert (first["beta"], first["cache"], first["batch_chunks"]) == (0.05, "bitmask+bfloat16", 2)
    json.dumps(todo)  # handed to a child process as JSON


def test_models_configs():
    todo = list(speed.configs(_args("--suite", "models", "--model-beta", "0.2")))
    names = [(c["model"], c["model_args"].get("width")) for c in todo]
    assert names == [
        ("lenet5", None),
        ("spec_lenet5", None),
        ("vgg16", 0.25),
        ("spec_vgg16", 0.25),
        ("vgg16", 0.5),
        ("spec_vgg16", 0.5),
        ("vgg16", 1.0),
        ("spec_vgg16", 1.0),
        ("densenet", 0.5),
        ("spec_densenet", 0.5),
    ]
    assert todo[0]["input_shape"] == [28, 28, 1] and todo[2]["input_shape"] == [32, 32, 3]
    assert all(c["model_args"]["fc_units"] == 256 for c in todo if "vgg" in c["model"])
    assert [c["beta"] for c in todo[:2]] == [None, 0.2]
    assert all(c["batch_size"] == 64 and c["dataset"] == "random" for c in todo)


def test_breakdown_configs_are_spectral_only():
    todo = list(speed.configs(_args("--suite", "breakdown", "--shapes", "8x8x16")))
    assert [(c["kind"], c["shape"], c["batch_size"]) for c in todo] == [
        ("spectral", [8, 8, 16], 64),
        ("spectral", [8, 8, 16], 128),
    ]


@pytest.mark.parametrize("text", ["8x8", "8x8x0", "axbxc", "8x8x8x8"])
def test_bad_shape_is_refused_with_its_name(text, capsys):
    with pytest.raises(ValueError, match="`shapes`.*HxWxC"):
        speed.parse_shape(text)
    with pytest.raises(SystemExit):
        _args("--shapes", text)
    assert "shapes" in capsys.readouterr().err


def test_bad_numbers_are_refused(capsys):
    for option, value in [("--steps", "0"), ("--beta", "-1"), ("--warmup", "-1")]:
        with pytest.raises(SystemExit):
            _args(option, value)
        assert option.lstrip("-") in capsys.readouterr().err


def test_interleave_runs_each_config_once_per_round():
    calls = []
    runs = speed.interleave(["a", "b", "c"], 3, lambda c: calls.append(c) or len(calls))
    assert calls == ["a", "b", "c"] * 3
    assert runs == [[1, 4, 7], [2, 5, 8], [3, 6, 9]]


def test_summarise_takes_medians_over_rounds_and_ratios_within_pairs():
    todo = [
        {"pair": "p", "kind": "spatial"},
        {"pair": "p", "kind": "spectral"},
        {"pair": "q", "kind": "spatial"},
        {"pair": "q", "kind": "spectral"},
        {"pair": "alone", "kind": "spectral"},
    ]
    runs = [
        [{"step_s": t} for t in (1.0, 9.0, 2.0)],  # median 2
        [{"step_s": t} for t in (5.0, 7.0, 6.0)],  # median 6
        [{"step_s": t} for t in (4.0, 4.0, 100.0)],  # median 4
        [{"step_s": t} for t in (1.0, 2.0, 3.0)],  # median 2
        [{"step_s": 1.0}],
    ]
    entries = speed.summarise(todo, runs)
    assert [e["step_s"] for e in entries] == [2.0, 6.0, 4.0, 2.0, 1.0]
    assert [e["ratio"] for e in entries] == [None, 3.0, None, 0.5, None]
    assert entries[1]["runs"] == runs[1]


def test_main_with_fake_children(monkeypatch, tmp_path, capsys):
    """The figures main reports are the medians and ratios of what the children return."""
    seen = []

    # Round r of a spatial child takes (r + 1) ms, of a spectral one 3 * (r + 1) ms
    # plus 1 ms per channel of the shape.
    def fake(module, config, timeout=None):
        assert module == speed.MODULE
        json.dumps(config)
        r = sum(1 for c in seen if c == config)
        seen.append(config)
        ms = (r + 1) * (3 if config["kind"] == "spectral" else 1)
        ms += config["shape"][2] if config["kind"] == "spectral" else 0
        return {"step_s": ms / 1e3, "tensorflow": "tf-x", "keras": "keras-y"}

    monkeypatch.setattr(runner, "isolated", fake)
    out = tmp_path / "speed.json"
    args = _args(
        "--shapes", "4x4x2", "2x2x4", "--batch-sizes", "8", "--repeats", "3", "--output", str(out)
    )
    results = speed.main(args)
    # Interleaved: every configuration once per round, in order.
    kinds = [(c["shape"][2], c["kind"]) for c in seen]
    assert kinds == [(2, "spatial"), (2, "spectral"), (4, "spatial"), (4, "spectral")] * 3
    steps = [e["step_s"] for e in results["entries"]]
    assert steps == pytest.approx([0.002, 0.008, 0.002, 0.010])
    assert [e["ratio"] for e in results["entries"]] == pytest.approx([None, 4.0, None, 5.0])
    printed = capsys.readouterr().out
    assert "spectral 4x4x2 bitmask      8     8.00       4.00x" in printed
    assert "spectral 2x2x4 bitmask      8    10.00       5.00x" in printed
    assert "wall time" in printed
    saved = json.loads(out.read_text())
    assert saved["machine"]["tensorflow"] == "tf-x" and saved["machine"]["keras"] == "keras-y"
    assert saved["machine"]["cpu_count"] >= 1 and saved["machine"]["keras_specnet"]
    assert [e["ratio"] for e in saved["entries"]][1] == pytest.approx(4.0)
    assert saved["wall_s"] >= 0 and saved["arguments"]["repeats"] == 3


def test_breakdown_table_shares():
    entry = {
        "step_s": 0.010,
        "pieces": {"fft": 0.002, "product": 0.005, "(missing: to_spectral)": None},
    }
    lines = speed.breakdown_table(entry).splitlines()
    assert lines[1].split() == ["fft", "2.00", "20%"]
    assert lines[2].split() == ["product", "5.00", "50%"]
    assert lines[3].split()[-2:] == ["n/a", "-"]
    assert lines[4].split()[-2:] == ["7.00", "70%"]
    assert lines[5].split()[-2:] == ["3.00", "30%"]
    assert lines[6].split()[-2:] == ["10.00", "100%"]


def test_summarise_takes_medians_of_pieces():
    runs = [[{"step_s": s, "pieces": {"a": a, "b": None}} for s, a in ((3, 1), (1, 5), (2, 2))]]
    (entry,) = speed.summarise([{"pair": "p", "kind": "spectral"}], runs)
    assert entry["step_s"] == 2 and entry["pieces"] == {"a": 2, "b": None}


def test_blocks_are_the_builders_blocks():
    from keras_specnet.layers import SpectralConv2D, ToSpatial, ToSpectral

    config = dict(
        suite="layers", seed=0, shape=[8, 8, 4], beta=0.05, cache="bitmask+bfloat16", batch_chunks=2
    )
    spectral = speed._block(dict(config, kind="spectral"))
    convs = [layer for layer in spectral.layers if isinstance(layer, SpectralConv2D)]
    assert [(c.filters, c.kernel_size, c.beta, c.activation) for c in convs] == [
        (4, (3, 3), 0.05, "spectral_tanh")
    ] * 2
    assert all(
        (c.cache, c.cache_dtype, c.batch_chunks) == ("bitmask", "bfloat16", 2) for c in convs
    )
    assert not any(isinstance(layer, ToSpectral) for layer in spectral.layers)
    (ifft,) = [layer for layer in spectral.layers if isinstance(layer, ToSpatial)]
    assert ifft.pool_size == (2, 2)
    assert tuple(spectral.output.shape) == (None, 4, 4, 4)
    spatial = speed._block(dict(config, kind="spatial"))
    kinds = [type(layer).__name__ for layer in spatial.layers[1:]]
    assert kinds == ["Conv2D", "Activation", "Conv2D", "Activation", "MaxPooling2D"]
    assert tuple(spatial.output.shape) == (None, 4, 4, 4)


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["layers", "breakdown"])
def test_real_run_on_a_tiny_block(suite, tmp_path):
    out = tmp_path / "speed.json"
    argv = ["--suite", suite, "--shapes", "4x4x4", "--batch-sizes", "4"]
    argv += ["--steps", "1", "--warmup", "1", "--repeats", "1", "--output", str(out)]
    speed.main(_args(*argv))
    saved = json.loads(out.read_text())
    assert saved["machine"]["tensorflow"] and saved["machine"]["cpu_count"] >= 1
    entries = saved["entries"]
    assert [e["kind"] for e in entries] == (
        ["spatial", "spectral"] if suite == "layers" else ["spectral"]
    )
    assert all(e["step_s"] > 0 for e in entries)
    if suite == "layers":
        assert entries[1]["ratio"] > 0
    else:
        pieces = entries[0]["pieces"]
        assert "rfft2d to frequency-major" in pieces and "forward recomputed in backward" in pieces
        assert all(v is not None and v > 0 for v in pieces.values())


def test_several_caches_make_one_spectral_configuration_each():
    args = _args("--suite", "models", "--cache", "bitmask", "block", "--widths", "0.5")
    todo = list(speed.configs(args))
    got = [(c["model"], c["kind"], c["cache"]) for c in todo]
    assert got == [
        ("lenet5", "spatial", None),
        ("spec_lenet5", "spectral", "bitmask"),
        ("spec_lenet5", "spectral", "block"),
        ("vgg16", "spatial", None),
        ("spec_vgg16", "spectral", "bitmask"),
        ("spec_vgg16", "spectral", "block"),
        ("densenet", "spatial", None),
        ("spec_densenet", "spectral", "bitmask"),
        ("spec_densenet", "spectral", "block"),
    ]
    assert speed.table(speed.summarise(todo, [[{"step_s": 1.0}]] * len(todo))).count("block") == 3
    with pytest.raises(ValueError, match=r"`cache`.*breakdown.*Received: cache=\['block'\]"):
        list(speed.configs(_args("--suite", "breakdown", "--cache", "block")))


def test_jit_compile_adds_xla_rows_timed_against_the_plain_spatial_model():
    args = _args("--suite", "models", "--models", "lenet5", "--cache", "block", "--jit-compile")
    todo = list(speed.configs(args))
    got = [(c["model"], c["jit_compile"]) for c in todo]
    assert got == [
        ("lenet5", False),
        ("spec_lenet5", False),
        ("lenet5", True),
        ("spec_lenet5", True),
    ]
    entries = speed.summarise(todo, [[{"step_s": t}] for t in (2.0, 6.0, 4.0, 3.0)])
    assert [e["ratio"] for e in entries] == [None, 3.0, 2.0, 1.5]
    names = speed.table(entries).splitlines()[1:]
    assert [n.split()[0:3] for n in names] == [
        ["lenet5", "64", "2000.00"],
        ["spec_lenet5", "block", "64"],
        ["lenet5", "xla", "64"],
        ["spec_lenet5", "block", "xla"],
    ]
    plain = list(speed.configs(_args("--suite", "models", "--models", "lenet5")))
    assert [c["jit_compile"] for c in plain] == [False, False]
