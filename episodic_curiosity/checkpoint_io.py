"""Checkpoints of named groups of TF variables in one HDF5 file, written atomically.

    save_variables(path, {"policy": policy_vars, "optimizer": optimizer.variables}, {"update": 7})
    attributes = load_variables(path, {"policy": policy_vars, "optimizer": optimizer.variables})

Loading checks every group's count and shapes before assigning anything, so a checkpoint of
another architecture (or a truncated file) raises one CheckpointError naming the file and the
problem, and leaves the variables untouched.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from episodic_curiosity import atomic_files


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit what it is loaded into."""


def save_variables(path: str, groups: Mapping[str, Sequence[Any]],
                   attributes: Mapping[str, Any] | None = None) -> None:
    """Writes each group's variables (in order) and JSON-encodable `attributes` to `path`."""
    with atomic_files.atomic_path(path) as tmp_path:
        with h5py.File(tmp_path, "w") as handle:
            handle.attrs["attributes_json"] = json.dumps(dict(attributes or {}), sort_keys=True)
            for name, variables in groups.items():
                group = handle.create_group(name)
                group.attrs["count"] = len(variables)
                for index, variable in enumerate(variables):
                    group.create_dataset(str(index), data=np.asarray(variable))


def read_attributes(path: str) -> dict[str, Any]:
    """The attributes stored with a checkpoint."""
    try:
        with h5py.File(path, "r") as handle:
            return json.loads(handle.attrs["attributes_json"])
    except (OSError, KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path!r} is unreadable or not a checkpoint of this project ({e})") from e


def load_variables(path: str, groups: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Assigns the stored arrays to `groups`' variables; returns the attributes.

    Raises:
      CheckpointError: unreadable file, missing group, or a count/shape mismatch (nothing is
        assigned then).
    """
    attributes = read_attributes(path)
    arrays: dict[str, list[np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as handle:
            for name, variables in groups.items():
                if name not in handle:
                    raise CheckpointError(f"checkpoint {path!r} has no group {name!r} (has {sorted(handle)})")
                group = handle[name]
                count = int(group.attrs["count"])
                if count != len(variables):
                    raise CheckpointError(
                        f"checkpoint {path!r}: group {name!r} holds {count} arrays but {len(variables)} "
                        f"are expected (a checkpoint of another architecture or configuration?)")
                arrays[name] = [np.asarray(group[str(i)]) for i in range(count)]
                for index, (array, variable) in enumerate(zip(arrays[name], variables)):
                    if tuple(array.shape) != tuple(variable.shape):
                        raise CheckpointError(
                            f"checkpoint {path!r}: {name}[{index}] has shape {array.shape}, expected "
                            f"{tuple(variable.shape)} (a checkpoint of another architecture?)")
    except (OSError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path!r} is truncated or corrupt ({e})") from e
    for name, variables in groups.items():
        for variable, array in zip(variables, arrays[name]):
            variable.assign(array)
    return attributes
