"""Line-oriented append-only files after a torn write.

The package's logs (`metrics_csv`'s scalar CSVs, `progress.csv`, `log.txt`) grow by appending
whole lines that end in "\\n". A run killed mid-write, or a write that fails on a full disk, can
leave the last line cut short. The rules every reader and writer of these files follows:

  * A last line without its "\\n" is torn: it is never a complete record, even when what is
    left happens to parse (`5,1.5,1700` may be the start of `5,1.5,1700000000`).
  * A last line that ends in "\\n" but does not parse is treated the same way.
  * Readers skip a torn last line and log a warning naming the file and line.
  * A line that does not parse anywhere before the last is not a torn write: readers raise one
    `ValueError` naming the file and line number.
  * Before appending, a writer truncates a torn last line away (`drop_torn_tail`), so the file
    that results holds only complete lines. Writing a "\\n" first instead would keep the broken
    line, which would then sit in the middle of the file and fail every later read.
"""

from __future__ import annotations

import csv
import os
from typing import Callable, Sequence

from absl import logging

_CHUNK = 4096


def read_lines(path: str) -> tuple[list[str], str | None]:
    """The complete ("\\n"- or "\\r\\n"-terminated) lines of `path`, without their line ends, and
    the torn tail (a last line without "\\n") or None."""
    with open(path, newline="") as f:
        lines = f.read().split("\n")
    tail = lines.pop()  # "" when the file ends in "\n"
    return [line[:-1] if line.endswith("\r") else line for line in lines], (tail or None)


def _fields(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def parse_rows(
    path: str,
    lines: Sequence[str],
    torn_tail: str | None,
    parse: Callable[[list[str]], object],
    first_line_number: int = 2,
) -> list:
    """`parse(fields)` of every non-blank line in `lines` (the lines after a CSV's header).

    `parse` raises ValueError for a malformed row. A malformed last line is skipped with a
    warning, as is `torn_tail`; a malformed line before the last raises ValueError naming `path`
    and the line number (`first_line_number` is the number of `lines[0]` in the file).
    """
    numbered = [(first_line_number + i, line) for i, line in enumerate(lines) if line.strip()]
    rows = []
    for index, (number, line) in enumerate(numbered):
        try:
            rows.append(parse(_fields(line)))
        except ValueError as error:
            if index == len(numbered) - 1 and torn_tail is None:
                warn_torn(path, number, line)
                break
            raise ValueError(f"{path}: line {number} is malformed ({error}): {line!r}") from None
    if torn_tail is not None:
        warn_torn(path, first_line_number + len(lines), torn_tail)
    return rows


def warn_torn(path: str, line_number: int, line: str) -> None:
    logging.warning("%s: skipping line %d, a row cut short by an interrupted write: %r", path, line_number, line)


def _last_line_start(f, size: int) -> int:
    """Offset where the last line of the open binary file `f` (of `size` bytes) begins."""
    end = size - 1  # a "\n" that ends the file belongs to its last line
    position = end
    while position > 0:
        start = max(0, position - _CHUNK)
        f.seek(start)
        found = f.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


def drop_torn_tail(path: str, row_ok: Callable[[list[str]], bool] | None = None) -> None:
    """Truncates a torn last line off `path` (see the module docstring) before an append.

    The last line is torn if it lacks its "\\n", or if `row_ok` is given, the line is not the
    first (a CSV's header) and `row_ok(fields)` is false. A missing or empty file is left as it is.
    """
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        start = _last_line_start(f, size)
        f.seek(start)
        last = f.read()
        torn = not last.endswith(b"\n")
        if not torn and row_ok is not None and start > 0:
            text = last.decode("utf-8", errors="replace").rstrip("\r\n")
            torn = bool(text.strip()) and not row_ok(_fields(text))
        if torn:
            logging.warning(
                "%s: truncating a row cut short by an interrupted write before appending: %r",
                path,
                last.decode("utf-8", errors="replace"),
            )
            f.truncate(start)
