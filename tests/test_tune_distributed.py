"""`specnet tune` in Keras Tuner's distributed mode: a chief and two workers on localhost."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from keras_specnet.cli import tune

from helpers import learnable_split, write_idx_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Seconds each process may run.
TIMEOUT = 240

TRIALS = 2
WORKERS = ("tuner0", "tuner1")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(data_dir, directory, output):
    return [
        sys.executable,
        "-m",
        "keras_specnet",
        "tune",
        "--model",
        "spec_lenet5",
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        str(data_dir),
        "--beta-range",
        "0",
        "0.5",
        "--max-trials",
        str(TRIALS),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--limit",
        "64",
        "--validation-limit",
        "32",
        "--directory",
        str(directory),
        "--model-arg",
        "batch_chunks=1",
        "--verbose",
        "0",
        "--overwrite",
        "--output",
        str(output),
    ]


def _table_rows(printed):
    """`{trial_id: line}` of the trials table in `printed`."""
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("trial  status"))
    rows = {}
    for line in lines[header + 1 :]:
        if not re.match(r"\d+ ", line):
            break
        rows[line.split()[0]] = line
    return rows


@pytest.mark.slow
def test_a_chief_and_two_workers_share_the_trials(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_idx_dataset(data_dir, {"train": learnable_split(128, 0), "t10k": learnable_split(32, 1)})
    directory, output = tmp_path / "search", tmp_path / "search.json"
    command = _command(data_dir, directory, output)
    port = _free_port()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
    )
    processes = {}
    printed = {}
    try:
        for tuner_id in ("chief", *WORKERS):
            processes[tuner_id] = subprocess.Popen(
                command,
                env=dict(env, KERASTUNER_TUNER_ID=tuner_id),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=tmp_path,
            )
        for tuner_id, process in processes.items():
            printed[tuner_id], _ = process.communicate(timeout=TIMEOUT)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, (tuner_id, printed[tuner_id][-6000:])

    chief = printed["chief"]
    assert f"distributed search: chief 'chief', serving the oracle on 127.0.0.1:{port}" in chief
    for tuner_id in WORKERS:
        assert f"distributed search: worker '{tuner_id}'" in printed[tuner_id]
        assert "--output: written by the chief" in printed[tuner_id]
        assert "--overwrite: left to the chief" in printed[tuner_id]

    # Every trial ran and completed, recorded in the shared directory.
    trial_files = sorted((directory / "spec_lenet5").glob("trial_*/trial.json"))
    statuses = [json.loads(path.read_text())["status"] for path in trial_files]
    assert statuses == ["COMPLETED"] * TRIALS, statuses

    # The chief prints and writes the whole search.
    result = json.loads(output.read_text())
    assert result["distributed"] == {
        "kind": "chief",
        "tuner_id": "chief",
        "address": f"127.0.0.1:{port}",
    }
    assert len(result["trials"]) == TRIALS
    assert all(row["status"] == "ok" for row in result["trials"]), result["trials"]
    chief_rows = _table_rows(chief)
    assert sorted(chief_rows) == sorted(row["trial_id"] for row in result["trials"])
    assert f"best: trial {result['best']['trial_id']}" in chief

    # Each worker ran trials of its own, and prints them as the chief does:
    # the workers' trials are all the trials, each run once.
    ran = {}
    for tuner_id in WORKERS:
        match = re.search(
            rf"worker '{tuner_id}' ran (\d+) trial\(s\): (\d+(?:, \d+)*) ", printed[tuner_id]
        )
        assert match, printed[tuner_id]
        ran[tuner_id] = match.group(2).split(", ")
        assert int(match.group(1)) == len(ran[tuner_id])
        rows = _table_rows(printed[tuner_id])
        assert sorted(rows) == sorted(ran[tuner_id])
        for trial_id, line in rows.items():
            assert line == chief_rows[trial_id], (tuner_id, line, chief_rows[trial_id])
    assert sorted(ran["tuner0"] + ran["tuner1"]) == sorted(chief_rows), ran
    # A worker asking for a trial once both are running is told the search
    # is over: each got one (the other would have had to take a whole trial
    # to start).
    assert all(ran.values()), ran


@pytest.mark.parametrize(
    "environ, match",
    [
        ({"KERASTUNER_ORACLE_IP": "127.0.0.1"}, "KERASTUNER_ORACLE_PORT must be .* Received: None"),
        (
            {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "http"},
            "integer from 1 to 65535. Received: 'http'",
        ),
        (
            {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"},
            "KERASTUNER_TUNER_ID must name this process.* Received: None",
        ),
    ],
)
def test_an_incomplete_distributed_setting_gives_a_clear_error(environ, match):
    with pytest.raises(SystemExit, match=match):
        tune._role(environ)


def test_the_role_follows_keras_tuner_s_variables():
    assert tune._role({}) is None
    base = {"KERASTUNER_ORACLE_IP": "10.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}
    assert tune._role({**base, "KERASTUNER_TUNER_ID": "chief"}) == (
        "chief",
        "chief",
        "10.0.0.1:8000",
    )
    assert tune._role({**base, "KERASTUNER_TUNER_ID": "tuner1"}) == (
        "worker",
        "tuner1",
        "10.0.0.1:8000",
    )
