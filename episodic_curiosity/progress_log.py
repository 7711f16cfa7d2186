"""PPO2-style progress logs: `progress.csv` (sorted keys) and `log.txt` (key/value tables).

Rows are appended; the header is written when the file is new. A rerun after a kill passes
`skip_through` (the last logged update) so that updates done again are not logged twice.

A kill or a full disk mid-write can cut the last line of either file short. Reading
`progress.csv` skips such a last row (or a last row with the wrong number of fields) with a
warning, and the next write truncates it away from `progress.csv` (and a cut last line from
`log.txt`) before appending; a malformed row before the last raises a ValueError naming the file
and line (the rules of `append_only`).
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

from absl import logging
import numpy as np

from episodic_curiosity import append_only


def _format(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)


def table(values: Mapping[str, object]) -> str:
    """The key/value box PPO2's logger prints."""
    rows = [(key, _format(values[key])) for key in sorted(values)]
    key_width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    line = "-" * (key_width + value_width + 7)
    body = [f"| {k.ljust(key_width)} | {v.ljust(value_width)} |" for k, v in rows]
    return "\n".join([line, *body, line]) + "\n"


class ProgressLog:
    """Appends one record per update to `progress.csv` and `log.txt` in `directory` (or to
    other names: `diagnostics.csv` and no text log for train_policy's extra statistics)."""

    def __init__(self, directory: str, csv_name: str = "progress.csv", text_name: str | None = "log.txt"):
        self.csv_path = os.path.join(directory, csv_name)
        self.text_path = os.path.join(directory, text_name) if text_name else None
        self._keys = None
        self._warned_keys = False
        if os.path.exists(self.csv_path):
            lines, tail = append_only.read_lines(self.csv_path)
            if lines:
                self._keys = lines[0].split(",")
            elif tail is not None:  # the header itself was cut: a new log, rewritten on write
                append_only.warn_torn(self.csv_path, 1, tail)

    def _row(self, fields: list[str]) -> dict[str, str]:
        if len(fields) != len(self._keys):
            raise ValueError(f"{len(fields)} fields, the header has {len(self._keys)}")
        return dict(zip(self._keys, fields))

    def _row_ok(self, fields: list[str]) -> bool:
        return len(fields) == len(self._keys)

    def rows(self) -> list[dict[str, str]]:
        """The complete rows of the CSV ({key: text}; [] for a new log)."""
        if self._keys is None:
            return []
        lines, tail = append_only.read_lines(self.csv_path)
        return append_only.parse_rows(self.csv_path, lines[1:], tail, self._row)

    def last_logged(self, key: str = "nupdates") -> int | None:
        """The value of `key` in the last complete row, or None for a new log."""
        rows = self.rows()
        return int(float(rows[-1][key])) if rows else None

    def write(self, values: Mapping[str, object]) -> str:
        """Appends `values` to both files; returns the text table.

        The CSV keeps the columns of its header: resuming a run whose `progress.csv` was
        started by an older version with other keys writes its columns (new keys are left out,
        with one warning; keys it lacks are written as nan)."""
        keys = sorted(values)
        if self._keys is None:
            append_only.drop_torn_tail(self.csv_path)  # a cut header
            self._keys = keys
            with open(self.csv_path, "a", newline="") as f:
                f.write(",".join(keys) + "\n")
        else:
            if keys != self._keys and not self._warned_keys:
                self._warned_keys = True
                logging.warning(
                    "%s keeps the columns it was started with; not written: %s; written as nan: %s",
                    self.csv_path,
                    sorted(set(keys) - set(self._keys)) or "none",
                    sorted(set(self._keys) - set(keys)) or "none",
                )
            append_only.drop_torn_tail(self.csv_path, self._row_ok)
        with open(self.csv_path, "a", newline="") as f:
            f.write(",".join(_format(values.get(k, float("nan"))) for k in self._keys) + "\n")
        text = table(values)
        if self.text_path:
            append_only.drop_torn_tail(self.text_path)
            with open(self.text_path, "a") as f:
                f.write(text)
        return text


def read_columns(path: str, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The columns of a log this class wrote (`progress.csv`, `diagnostics.csv`) as float arrays
    over its complete rows (an empty or unparsable cell: nan): all of them, or those of `names`
    that it has. {} when there is no such file."""
    if not os.path.exists(path):
        return {}
    rows = ProgressLog(os.path.dirname(path), os.path.basename(path), text_name=None).rows()
    keys = list(rows[0]) if rows else []

    def number(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return math.nan

    chosen = keys if names is None else [name for name in names if name in keys]
    return {name: np.array([number(row[name]) for row in rows], np.float64) for name in chosen}
