"""Append-only scalar CSVs in the original's format: `step,<name>,timestamp_s`.

Used for `loss.csv`/`acc.csv`/`val_loss.csv`/`val_acc.csv` (train_r) and the reward CSVs of
policy training. Rows are only ever appended (one `write` of a whole line, flushed), so a run
that is killed leaves every earlier row intact and a rerun continues the file. Only the last row
can be cut short (a kill or a full disk mid-write): readers skip it with a warning and the next
append truncates it away first; a malformed row before the last raises a ValueError naming the
file and line (the rules of `append_only`).
"""

from __future__ import annotations

import os
import time

from episodic_curiosity import append_only


def append_scalar(path: str, name: str, step: int, value: float, timestamp: float | None = None) -> None:
    """Appends `step,value,timestamp_s` to `path`, writing the header first if the file is new.

    A torn last row (or a torn header) left by an interrupted write is truncated away first.
    """
    append_only.drop_torn_tail(path, _row_ok)
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
    """Rows of a scalar CSV as (step, value, timestamp_s); [] if the file does not exist.

    A torn last row is skipped with a warning; a malformed row before it raises ValueError.
    """
    if not os.path.exists(path):
        return []
    lines, tail = append_only.read_lines(path)
    if not lines:
        if tail is not None:
            append_only.warn_torn(path, 1, tail)
        return []
    header = lines[0].split(",")
    if len(header) != 3 or header[0] != "step" or header[2] != "timestamp_s":
        raise ValueError(f"{path!r} is not a scalar CSV (header {header})")
    return append_only.parse_rows(path, lines[1:], tail, _parse_row)


def _parse_row(fields: list[str]) -> tuple[int, float, int]:
    if len(fields) != 3:
        raise ValueError(f"{len(fields)} fields, expected 3 (step,value,timestamp_s)")
    step, value, timestamp_s = fields
    return int(step), float(value), int(timestamp_s)


def _row_ok(fields: list[str]) -> bool:
    try:
        _parse_row(fields)
    except ValueError:
        return False
    return True


def last_step(path: str) -> int | None:
    rows = read_scalars(path)
    return rows[-1][0] if rows else None
