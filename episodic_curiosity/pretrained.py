"""Trained models shipped inside the package, loadable by name wherever a path is accepted.

    python -m episodic_curiosity.eval_policy --checkpoint=pretrained:vizdoom_sparse_ppo_plus_ec ...
    python -m episodic_curiosity.train_policy --r_checkpoint=pretrained:vizdoom ...

A name is `pretrained:<model>`; `resolve` turns it into the file's path inside the installed
package (`episodic_curiosity/pretrained/<model>/`) and leaves any other path as it is. Each
model folder holds the weights and `card.json`: what the model is, how it was trained (command,
steps, seed, commit) and what it measured (accuracy or success rate). `cards()` lists them.

These are the laptop-scale models (`configs/scale_laptop.gin`) for VizDoom, the environment
users can install; the original's DMLab R-networks are a separate download (README).
"""

from __future__ import annotations

import glob
import json
import os

PREFIX = "pretrained:"
MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
CARD_FILE = "card.json"


class UnknownPretrainedModelError(FileNotFoundError):
    """A `pretrained:` name that the package does not ship."""


def is_pretrained(path: str | os.PathLike | None) -> bool:
    return isinstance(path, str) and path.startswith(PREFIX)


def available() -> list[str]:
    """Names (without the prefix) of the models this package ships."""
    if not os.path.isdir(MODELS_DIR):
        return []
    return sorted(name for name in os.listdir(MODELS_DIR) if os.path.isfile(os.path.join(MODELS_DIR, name, CARD_FILE)))


def card(name: str) -> dict:
    """The JSON card of model `name` (with or without the prefix)."""
    with open(os.path.join(_model_folder(name), CARD_FILE)) as handle:
        return json.load(handle)


def cards() -> dict[str, dict]:
    return {name: card(name) for name in available()}


def resolve(path: str | os.PathLike | None) -> str | os.PathLike | None:
    """The weights file of `pretrained:<model>`; any other value is returned unchanged.

    Raises:
      UnknownPretrainedModelError: a `pretrained:` name the package does not ship (the error
        lists the shipped ones).
    """
    if not is_pretrained(path):
        return path
    folder = _model_folder(path)
    with open(os.path.join(folder, CARD_FILE)) as handle:
        weights = json.load(handle).get("weights")
    candidates = [os.path.join(folder, weights)] if weights else sorted(glob.glob(os.path.join(folder, "*.h5")))
    if not candidates or not os.path.isfile(candidates[-1]):
        raise UnknownPretrainedModelError(
            f"{path!r}: the package's model folder {folder!r} holds no weights file; reinstall the "
            "package (the .h5 files are package data)"
        )
    return candidates[-1]


def _model_folder(name: str) -> str:
    model = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    folder = os.path.join(MODELS_DIR, model)
    if not model or os.sep in model or not os.path.isfile(os.path.join(folder, CARD_FILE)):
        shipped = ", ".join(PREFIX + n for n in available()) or "none"
        raise UnknownPretrainedModelError(
            f"unknown pretrained model {name!r}; this package ships: {shipped}. Pass one of those or a "
            "path to an .h5 file"
        )
    return folder
