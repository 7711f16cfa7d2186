"""Writing files so that a reader (or a rerun after a kill) never sees half of one.

Every output a rerun may find goes through here: the content is written under a temporary
name (`tmp_*`) in the destination folder and renamed over the destination only once complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str, mode: int = 0o644) -> Iterator[str]:
    """Yields a temporary path next to `path`; renames it to `path` if the block succeeds.

    The temporary file keeps `path`'s extension (some writers pick the format from it). If the
    block raises, the temporary file is removed and `path` is left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp_path = None
    try:
        # The name is known before the file exists, so that an interrupt (Ctrl-C, SIGTERM) even
        # right after its creation still removes it below.
        while True:
            tmp_path = os.path.join(directory, f"tmp_{secrets.token_hex(4)}{os.path.splitext(path)[1]}")
            try:
                os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                break
            except FileExistsError:  # another writer's temp file: never touched
                tmp_path = None
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path is not None and os.path.exists(tmp_path):
            os.remove(tmp_path)


def write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp_path:
        with open(tmp_path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str, content: Any) -> None:
    write_text(path, json.dumps(content, indent=1, sort_keys=True))
