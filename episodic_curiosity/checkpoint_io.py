"""Checkpoints of named groups of TF variables in one HDF5 file, written atomically.

    save_variables(path, {"policy": policy_vars, "optimizer": optimizer.variables}, {"update": 7})
    attributes = load_variables(path, {"policy": policy_vars, "optimizer": optimizer.variables})

Loading checks every group's count and shapes before assigning anything, so a checkpoint of
another architecture (or a truncated file) raises one CheckpointError naming the file and the
problem, and leaves the variables untouched.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from episodic_curiosity import atomic_files


class CheckpointError(ValueError):
    """A checkpoint (policy, R-network weights or training state) that cannot be read or does
    not fit what it is loaded into."""


# Numbered checkpoint files: policy.00042.h5 (train_policy), r_network_full.00007.h5 (train_r).
POLICY_CHECKPOINT = re.compile(r"^policy\.(\d{5})\.h5$")
R_NETWORK_FULL_CHECKPOINT = re.compile(r"^r_network_full\.(\d{5})\.h5$")


def numbered_checkpoints(directory: str, pattern: re.Pattern = POLICY_CHECKPOINT) -> list[str]:
    """Paths of the files in `directory` whose names match `pattern` (one number group), oldest
    (lowest number) first; [] for a missing folder."""
    if not os.path.isdir(directory):
        return []
    found = sorted((int(m.group(1)), name) for name in os.listdir(directory) if (m := pattern.match(name)))
    return [os.path.join(directory, name) for _, name in found]


def newest_checkpoint(directory: str, pattern: re.Pattern = POLICY_CHECKPOINT) -> str | None:
    """The highest-numbered checkpoint in `directory`, or None."""
    found = numbered_checkpoints(directory, pattern)
    return found[-1] if found else None


def remove_old_checkpoints(directory: str, keep: int, pattern: re.Pattern = POLICY_CHECKPOINT) -> None:
    """Deletes all but the newest `keep` checkpoints of `pattern` in `directory`."""
    for path in numbered_checkpoints(directory, pattern)[:-keep]:
        os.remove(path)


def save_variables(path: str, groups: Mapping[str, Sequence[Any]], attributes: Mapping[str, Any] | None = None) -> None:
    """Writes each group's variables (in order) and JSON-encodable `attributes` to `path`."""
    with atomic_files.atomic_path(path) as tmp_path:
        with h5py.File(tmp_path, "w") as handle:
            handle.attrs["attributes_json"] = json.dumps(dict(attributes or {}), sort_keys=True)
            for name, variables in groups.items():
                group = handle.create_group(name)
                group.attrs["count"] = len(variables)
                for index, variable in enumerate(variables):
                    group.create_dataset(str(index), data=np.asarray(variable))


# What a policy-only export keeps of a training checkpoint's attributes (`export_policy`).
POLICY_ATTRIBUTES = (
    "policy_architecture",
    "observation_shape",
    "frame_stack",
    "action_space",
    "scenario",
    "seed",
    "update",
)


def export_policy(source: str, target: str, weights_dtype: str = "float32") -> int:
    """Writes the policy weights of training checkpoint `source` to `target`, without the
    optimizer state and episode lists (a third of the size), gzip-compressed and atomically.

    `target` loads wherever a policy checkpoint does (`train_policy.load_policy`, `eval_policy
    --checkpoint`, `visualize_curiosity_reward --policy_path`). With `weights_dtype='float32'`
    (the default) the arrays are copied bit for bit; 'float16' (opt-in) stores them rounded to
    half precision, half the size (relative rounding error <= 2**-11 per weight; loading casts
    them back to the variables' float32), so the exported policy is measured as its own model.
    Returns the size of `target` in bytes.

    Raises:
      CheckpointError: `source` is unreadable or holds no 'policy' group.
    """
    if weights_dtype not in ("float32", "float16"):
        raise ValueError(f"weights_dtype must be 'float32' or 'float16', got {weights_dtype!r}")
    attributes = read_attributes(source)
    kept = {key: attributes[key] for key in POLICY_ATTRIBUTES if key in attributes}
    try:
        with h5py.File(source, "r") as handle:
            if "policy" not in handle:
                raise CheckpointError(f"checkpoint {source!r} has no group 'policy' (has {sorted(handle)})")
            group = handle["policy"]
            arrays = [np.asarray(group[str(i)]) for i in range(int(group.attrs["count"]))]
    except (OSError, KeyError) as e:
        raise CheckpointError(f"checkpoint {source!r} is truncated or corrupt ({e})") from e
    with atomic_files.atomic_path(target) as tmp_path:
        with h5py.File(tmp_path, "w") as handle:
            handle.attrs["attributes_json"] = json.dumps(kept, sort_keys=True)
            group = handle.create_group("policy")
            group.attrs["count"] = len(arrays)
            for index, array in enumerate(arrays):
                if weights_dtype == "float16" and array.dtype == np.float32:
                    array = array.astype(np.float16)
                group.create_dataset(str(index), data=array, compression="gzip", compression_opts=9, shuffle=True)
    return os.path.getsize(target)


def read_attributes(path: str) -> dict[str, Any]:
    """The attributes stored with a checkpoint."""
    try:
        with h5py.File(path, "r") as handle:
            return json.loads(handle.attrs["attributes_json"])
    except (OSError, KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path!r} is unreadable or not a checkpoint of this project ({e})") from e


def describe_space(space) -> dict[str, Any]:
    """What a policy checkpoint records of an action space: {'type': 'discrete', 'n': N}, or
    {'type': <class name>, 'shape': [...]} for other spaces."""
    if hasattr(space, "n"):
        return {"type": "discrete", "n": int(space.n)}
    return {"type": type(space).__name__, "shape": [int(d) for d in getattr(space, "shape", ())]}


def _space_text(description: Mapping[str, Any]) -> str:
    if description.get("type") == "discrete":
        return f"Discrete({description.get('n')})"
    return f"{description.get('type')}(shape {tuple(description.get('shape', ()))})"


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def policy_observation_shape(path: str) -> tuple[int, ...] | None:
    """The observation shape a policy checkpoint was trained on (for image policies, the
    curiosity wrapper's `target_image_shape`), or None if it records none (older checkpoints)."""
    shape = read_attributes(path).get("observation_shape")
    return None if shape is None else tuple(int(d) for d in shape)


def policy_input_settings(path: str) -> dict:
    """The curiosity-wrapper settings that give an image policy checkpoint its observations:
    {'target_image_shape': (h, w, c), 'frame_stack': k} (its observations are h x w x c*k), or
    {} for a non-image policy or a checkpoint that records no observation shape (older ones:
    the gin-bound settings apply then)."""
    attributes = read_attributes(path)
    shape = attributes.get("observation_shape")
    if shape is None or len(shape) != 3:
        return {}
    frame_stack = int(attributes.get("frame_stack", 1))
    height, width, channels = (int(d) for d in shape)
    if frame_stack < 1 or channels % frame_stack:
        raise CheckpointError(
            f"policy checkpoint {path!r} records {channels}-channel observations of "
            f"{frame_stack} stacked frames: not a whole number of channels per frame"
        )
    return {"target_image_shape": (height, width, channels // frame_stack), "frame_stack": frame_stack}


def check_policy_spaces(path: str, attributes: Mapping[str, Any], observation_space, action_space) -> None:
    """Raises CheckpointError if the spaces differ from those policy checkpoint `path` records.

    `attributes` are its attributes (`read_attributes`); entries it lacks are not checked.
    """
    scenario = attributes.get("scenario")
    trained_on = f" (scenario {scenario!r})" if scenario else ""
    recorded_shape = attributes.get("observation_shape")
    env_shape = tuple(int(d) for d in getattr(observation_space, "shape", ()))
    if recorded_shape is not None and tuple(int(d) for d in recorded_shape) != env_shape:
        recorded_shape = tuple(int(d) for d in recorded_shape)
        if len(recorded_shape) == 3 and len(env_shape) == 3:
            remedy = (
                f"build the env's CuriosityEnvWrapper with target_image_shape={recorded_shape}, e.g. "
                f"--gin_bindings='CuriosityEnvWrapper.target_image_shape={recorded_shape}' "
                "(eval_policy and visualize_curiosity_reward take it from the checkpoint)"
            )
        else:
            remedy = f"use the scenario and env settings it was trained with{trained_on}"
        raise CheckpointError(
            f"policy checkpoint {path!r} was trained on {_shape_text(recorded_shape)} observations, the env "
            f"gives {_shape_text(env_shape)}: {remedy}"
        )
    recorded_actions = attributes.get("action_space")
    if recorded_actions is not None and dict(recorded_actions) != describe_space(action_space):
        raise CheckpointError(
            f"policy checkpoint {path!r} was trained for {_space_text(recorded_actions)} actions, the env "
            f"has {_space_text(describe_space(action_space))}: use the scenario it was trained on{trained_on}"
        )


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
                        f"are expected (a checkpoint of another architecture or configuration?)"
                    )
                arrays[name] = [np.asarray(group[str(i)]) for i in range(count)]
                for index, (array, variable) in enumerate(zip(arrays[name], variables)):
                    if tuple(array.shape) != tuple(variable.shape):
                        raise CheckpointError(
                            f"checkpoint {path!r}: {name}[{index}] has shape {array.shape}, expected "
                            f"{tuple(variable.shape)} (a checkpoint of another architecture?)"
                        )
    except (OSError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path!r} is truncated or corrupt ({e})") from e
    for name, variables in groups.items():
        for variable, array in zip(variables, arrays[name]):
            # An exported policy may store half-precision weights (export_policy): cast back.
            variable.assign(array.astype(np.float32) if array.dtype == np.float16 else array)
    return attributes
