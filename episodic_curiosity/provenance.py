"""Where a run came from: `provenance.json` in every run folder.

Each entry point that writes into a folder (the launcher, `train_policy`, `train_r`, the
R-network data generator, sweeps) appends one record per invocation under its stage name:

    {"train_policy": [{"command": [...], "package_version": "0.1.0",
                       "git": {"commit": "...", "dirty": false}, "seed": 0,
                       "r_network": {"path": "...", "sha256": "..."}, "time": "...",
                       "host": "...", "python": "3.11.7",
                       "libraries": {"tensorflow": "2.x", ...}, "cpu": {"model": "...", "cores": 2}},
                      ...], ...}

`git` is recorded when the package is imported from a git checkout (None otherwise, e.g. an
installed wheel); `dirty` is whether tracked files differ from the commit. A resumed run adds a
record, so the file lists every command that wrote into the folder. Written atomically.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from typing import Any, Mapping

from episodic_curiosity import atomic_files

FILE_NAME = "provenance.json"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_version() -> str:
    return _installed_version("episodic-curiosity") or "unknown"


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any] | None:
    """{'commit', 'dirty'} of the checkout the package is imported from, or None."""
    root = os.path.dirname(_PACKAGE_DIR)
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The libraries whose numbers a run depends on: two machines with other builds of these (or other
# processors) give floating-point results that differ in the last digits, and a learning run
# amplifies that into another run (the project measured it: a same-seed rerun on another machine
# differed in the 6th digit at its first update and was another run by 0.5 M steps).
NUMERIC_LIBRARIES = ("tensorflow", "keras", "numpy", "vizdoom", "gymnasium", "mujoco")


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    """Installed versions of `NUMERIC_LIBRARIES` (None: not installed)."""
    return {name: _installed_version(name) for name in NUMERIC_LIBRARIES}


@functools.lru_cache(maxsize=1)
def cpu_description(cpuinfo_path: str = "/proc/cpuinfo") -> dict[str, Any]:
    """The processor's model name (from /proc/cpuinfo where there is one) and the usable cores."""
    model = platform.processor() or None
    try:
        with open(cpuinfo_path) as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "cores": cores}


def describe(
    seed: int | None = None, r_network_path: str | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The record of this invocation."""
    record: dict[str, Any] = {
        "command": [sys.executable, *sys.argv],
        "package_version": package_version(),
        "git": git_state(),
        "seed": seed,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "cpu": cpu_description(),
    }
    if r_network_path:
        record["r_network"] = {
            "path": os.path.abspath(r_network_path),
            "sha256": sha256_of(r_network_path) if os.path.isfile(r_network_path) else None,
        }
    if extra:
        record.update(extra)
    return record


def record(
    directory: str,
    stage: str,
    seed: int | None = None,
    r_network_path: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Appends this invocation's record under `stage` in `directory/provenance.json`."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, FILE_NAME)
    content = read(directory)
    entry = describe(seed, r_network_path, extra)
    content.setdefault(stage, []).append(entry)
    atomic_files.write_json(path, content)
    return entry


def read(directory: str) -> dict[str, list[dict[str, Any]]]:
    """The records of `directory` ({} if none or unreadable)."""
    path = os.path.join(directory, FILE_NAME)
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            content = json.load(f)
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}
