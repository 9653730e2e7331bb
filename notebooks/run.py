"""Run the notebooks top to bottom in a Jupyter kernel, as Colab would.

    python notebooks/run.py --output runs/notebooks            # full size
    python notebooks/run.py --smoke --output runs/notebooks    # the tiny budget
    python notebooks/run.py --output runs/notebooks 02_memory  # some of them

Each notebook runs in a fresh kernel of this Python (the `python3` kernel
of the interpreter that runs this script: its environment's kernel spec,
which `make install` writes with `ipykernel install --sys-prefix`, or
ipykernel's own). Cells tagged `skip-execution` (the install cell) are
skipped; with `--smoke`, a cell `SMOKE = True` is inserted right after the
cell tagged `parameters`. The executed copies, pictures included, are
written to `--output` (`make notebooks` writes them to runs/notebooks/).
"""

import argparse
import os
import sys
import time

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL = "python3"


def notebooks():
    """The paths of the notebooks, in order."""
    return sorted(
        os.path.join(HERE, name)
        for name in os.listdir(HERE)
        if name.endswith(".ipynb") and name[:2].isdigit()
    )


def _kernel_environment():
    """Make this interpreter's kernel spec the one `python3` resolves to.

    `JUPYTER_PATH` comes first in Jupyter's search path, before the user's
    and the system's kernel folders.
    """
    share = os.path.join(sys.prefix, "share", "jupyter")
    path = os.environ.get("JUPYTER_PATH")
    if os.path.isdir(share) and share not in (path or "").split(os.pathsep):
        os.environ["JUPYTER_PATH"] = share if not path else share + os.pathsep + path


def inject_after_parameters(notebook, source):
    """Insert a code cell `source` right after the cell tagged `parameters`."""
    for i, cell in enumerate(notebook.cells):
        if "parameters" in cell.metadata.get("tags", []):
            cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
            notebook.cells.insert(i + 1, cell)
            return notebook
    raise ValueError("Invalid notebook: no cell is tagged 'parameters'.")


def execute(path, smoke=False, append=(), timeout=900):
    """Run the notebook at `path` and return it, executed.

    Args:
        path: the `.ipynb` file.
        smoke: bool. Insert `SMOKE = True` after the `parameters` cell.
        append: sources of code cells added at the end (for checks).
        timeout: seconds one cell may run; `None`: no limit.

    Returns:
        The executed `nbformat.NotebookNode`; a cell's error raises
        `nbclient.exceptions.CellExecutionError`.
    """
    notebook = nbformat.read(path, as_version=4)
    if smoke:
        inject_after_parameters(notebook, "SMOKE = True")
    for source in append:
        notebook.cells.append(nbformat.v4.new_code_cell(source))
    _kernel_environment()
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=timeout,
        skip_cells_with_tag="skip-execution",
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    client.execute()
    return notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--output", required=True, help="folder for the executed copies")
    parser.add_argument("--smoke", action="store_true", help="the tiny budget (SMOKE = True)")
    parser.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds one cell may run (default: 900 with --smoke, no limit at full size)",
    )
    args = parser.parse_args(argv)
    paths = notebooks()
    if args.names:
        chosen = [p for p in paths if any(os.path.basename(p).startswith(n) for n in args.names)]
        if not chosen:
            names = [os.path.basename(p) for p in paths]
            parser.error(f"no notebook matches {args.names}; there are {names}")
        paths = chosen
    os.makedirs(args.output, exist_ok=True)
    for path in paths:
        start = time.perf_counter()
        print(f"running {os.path.basename(path)} ...", flush=True)
        timeout = args.timeout if args.timeout is not None else (900 if args.smoke else None)
        executed = execute(path, smoke=args.smoke, timeout=timeout)
        out = os.path.join(args.output, os.path.basename(path))
        nbformat.write(executed, out)
        print(f"  wrote {out} ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
