"""PPO2-style progress logs: `progress.csv` (sorted keys) and `log.txt` (key/value tables).

Rows are appended; the header is written when the file is new. A rerun after a kill passes
`skip_through` (the last logged update) so that updates done again are not logged twice.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Mapping


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
    """Appends one record per update to `progress.csv` and `log.txt` in `directory`."""

    def __init__(self, directory: str):
        self.csv_path = os.path.join(directory, "progress.csv")
        self.text_path = os.path.join(directory, "log.txt")
        self._keys = None
        if os.path.exists(self.csv_path) and os.path.getsize(self.csv_path) > 0:
            with open(self.csv_path, newline="") as f:
                self._keys = next(csv.reader(f))

    def last_logged(self, key: str = "nupdates") -> int | None:
        """The value of `key` in the last row, or None for a new log."""
        if self._keys is None:
            return None
        with open(self.csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
        return int(float(rows[-1][key])) if rows else None

    def write(self, values: Mapping[str, object]) -> str:
        """Appends `values` (always the same keys) to both files; returns the text table."""
        keys = sorted(values)
        if self._keys is None:
            self._keys = keys
            with open(self.csv_path, "a", newline="") as f:
                f.write(",".join(keys) + "\n")
        elif keys != self._keys:
            raise ValueError(f"progress keys changed: {keys} vs {self._keys} in {self.csv_path}")
        with open(self.csv_path, "a", newline="") as f:
            f.write(",".join(_format(values[k]) for k in keys) + "\n")
        text = table(values)
        with open(self.text_path, "a") as f:
            f.write(text)
        return text
