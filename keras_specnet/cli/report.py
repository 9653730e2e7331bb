"""`specnet report`: `specnet train --output` files side by side."""

import json

from keras_specnet import _io
from keras_specnet.cli import _common

HELP = "print the JSON results of several runs side by side"

_MIB = 2.0**20


def add_arguments(parser):
    parser.add_argument("files", nargs="+", help="JSON files of `specnet train --output`")


def _ratio(key, base):
    def cell(run):
        if not base.get(key) or key not in run:
            return "-"
        return f"{run[key] / base[key]:.2f}x"

    return cell


def _rows(base):
    """(label, run -> cell) for each line of the table."""
    return [
        ("model", lambda r: r["model"]),
        ("dataset", lambda r: r["dataset"]),
        ("beta", lambda r: "-" if r["beta"] is None else f"{r['beta']:g}"),
        (
            "model args",
            lambda r: ",".join(f"{k}={v}" for k, v in r.get("model_args", {}).items()) or "-",
        ),
        ("epochs", lambda r: str(r["epochs"])),
        ("test accuracy", lambda r: f"{r['test_accuracy']:.4f}"),
        (
            "accuracy vs first (points)",
            lambda r: f"{100 * (r['test_accuracy'] - base['test_accuracy']):+.2f}",
        ),
        ("parameters", lambda r: f"{r['params']:,}"),
        ("step peak (MiB)", lambda r: f"{r['step_peak_bytes'] / _MIB:.2f}"),
        ("step bytes (MiB)", lambda r: f"{r['step_bytes'] / _MIB:.2f}"),
        (
            "held bytes (MiB)",
            lambda r: f"{r['held_bytes'] / _MIB:.2f}" if "held_bytes" in r else "-",
        ),
        ("held bytes vs first", _ratio("held_bytes", base)),
        ("step bytes vs first", _ratio("step_bytes", base)),
        ("training time (s)", lambda r: f"{r['train_seconds']:.1f}"),
    ]


def run(args):
    """Print one column per run, one line per figure; returns the table text."""
    runs = []
    for path in args.files:
        try:
            with open(path) as f:
                runs.append(json.load(f))
        except (OSError, ValueError) as error:
            raise _common.fail("report", f"cannot read {path}: {error}") from None
    cells = [[label] + [cell(r) for r in runs] for label, cell in _rows(runs[0])]
    text = _io.format_table(cells[0], cells[1:])
    print(text)
    return text
