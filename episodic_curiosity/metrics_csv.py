"""Append-only scalar CSVs in the original's format: `step,<name>,timestamp_s`.

Used for `loss.csv`/`acc.csv`/`val_loss.csv`/`val_acc.csv` (train_r) and the reward CSVs of
policy training. Rows are only ever appended (one `write` of a whole line, flushed), so a run
that is killed leaves every earlier row intact and a rerun continues the file.
"""

from __future__ import annotations

import csv
import os
import time


def append_scalar(path: str, name: str, step: int, value: float, timestamp: float | None = None) -> None:
    """Appends `step,value,timestamp_s` to `path`, writing the header first if the file is new."""
    new_file = not os.path.exists(path) or os.path.getsize(path) == 0
    timestamp_s = int(time.time() if timestamp is None else timestamp)
    lines = []
    if new_file:
        lines.append(f"step,{name},timestamp_s\n")
    lines.append(f"{int(step)},{float(value)!r},{timestamp_s}\n")
    with open(path, "a") as f:
        f.write("".join(lines))
        f.flush()


def read_scalars(path: str) -> list[tuple[int, float, int]]:
    """Rows of a scalar CSV as (step, value, timestamp_s); [] if the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return []
        if len(header) != 3 or header[0] != "step" or header[2] != "timestamp_s":
            raise ValueError(f"{path!r} is not a scalar CSV (header {header})")
        return [(int(s), float(v), int(t)) for s, v, t in reader if s]


def last_step(path: str) -> int | None:
    rows = read_scalars(path)
    return rows[-1][0] if rows else None
