"""The scripts in benchmarks/ run (their figures are not asserted)."""

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trace_time_runs_each_configuration_and_writes_medians(tmp_path, capsys, monkeypatch):
    trace_time = _load("trace_time")
    calls = []

    def fake_run(cmd, **kwargs):  # the child's measurement, in this process
        chunks = int(cmd[cmd.index("--one") + 1])
        calls.append(chunks)
        result = trace_time.measure(chunks, width=0.0625, steps=1)

        class Done:
            stdout = json.dumps(result) + "\n"

        return Done()

    monkeypatch.setattr(trace_time.subprocess, "run", fake_run)
    out = tmp_path / "trace.json"
    # Repeated values are measured once; ratios are to batch_chunks=1.
    trace_time.main(["--chunks", "2", "1", "2", "--repeats", "1", "--output", str(out)])
    assert calls == [0, 1, 2]
    printed = capsys.readouterr().out
    assert "SpecVGG16 batch_chunks=2" in printed and "VGG16 (spatial)" in printed
    assert "ratios to batch_chunks=1" in printed
    medians = json.loads(out.read_text())["medians"]
    assert set(medians) == {"0", "1", "2"}
    assert all(m["first_step_s"] > 0 and m["step_s"] > 0 for m in medians.values())
