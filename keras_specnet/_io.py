"""Writing results: JSON files and aligned text tables.

Light on purpose (no TensorFlow import): the command line uses it too.
"""

import json
import os


def write_json(path, data, indent=2):
    """Write `data` as JSON to `path`, creating its folder; returns `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=indent)
        f.write("\n")
    return path


def format_table(header, rows, left=1):
    """Rows of cells as aligned text lines joined by newlines.

    The first `left` columns are aligned left, the others right; trailing
    spaces are removed.
    """
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in cells
    )
