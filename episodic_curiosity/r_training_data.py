"""R-network training pairs: sampling, the original's TFRecord format, and the `tf.data` input.

Used by the offline data generator (`generate_r_training_data.py`), the offline trainer
(`train_r.py`) and, for the sampler, the online (ECO) trainer. Facts from the original code section 3
(data) and 2.7 (input pipeline):

  * Pair sampling (`sample_pairs`): positives are 1..k steps apart (k = `max_action_distance`,
    5), negatives more than gamma * k = 25 apart (gamma = `negative_multiplier`, 5).
  * One record per pair: a `tf.train.Example` with the original's 26 feature keys
    (`FEATURE_KEYS`); `x1`/`x2` are PNG-encoded RGB frames.
  * The trainer reads `x1`, `x2`, `label` (one-hot, 2 classes), `example_index`,
    `episode_length` and `global_env_steps_at_episode`, and keeps a record only if
    `global_env_steps_at_episode <= max_input_env_steps` and `episode_length` equals the
    requested string.

Corrupt files: `validate_tfrecord_file` reads a file fully (TFRecord length and data CRCs) and
raises one `CorruptDataError` naming it. `make_pair_dataset` runs it on every input file while
it builds the pipeline (`validate_files=True`, cached per file size and mtime within a
process), so a truncated shard is reported at start-up, not as an anonymous `DataLossError`
halfway through training. A file damaged *after* that check still surfaces as TensorFlow's
`DataLossError` from the iterator.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import cv2
import numpy as np
import tensorflow as tf

from episodic_curiosity.environments import dmlab

# --- Constants ------------------------------------------------------------------------------

MAX_ACTION_DISTANCE = 5  # k: positives are 1..k agent steps apart.
NEGATIVE_SAMPLE_MULTIPLIER = 5  # gamma: negatives are more than gamma * k steps apart.
DEFAULT_IMAGE_SHAPE = (120, 160, 3)
DEFAULT_MAX_INPUT_ENV_STEPS = 2_500_000
DEFAULT_EPISODE_LENGTH = "default"

V1_AFFECT_NUM_TRAINING_EXAMPLES = "v1_affect_num_training_examples"
V2_FIXED_NUM_TRAINING_EXAMPLES = "v2_fixed_num_training_examples"
V3_AFFECT_NUM_TRAINING_EXAMPLES_OVERLAP = "v3_affect_num_training_examples_overlap"
SAMPLING_MODES = (
    V1_AFFECT_NUM_TRAINING_EXAMPLES,
    V2_FIXED_NUM_TRAINING_EXAMPLES,
    V3_AFFECT_NUM_TRAINING_EXAMPLES_OVERLAP,
)
# v2 advances its cursor by U{1..5} + 1 whatever k is (the original code).
_V2_CURSOR_MAX_DRAW = 5

# Mixer seed of each data split (the original's `SplitType`, the original code). 0 = no mixing.
MIXER_SEEDS = dmlab.SPLIT_MIXER_SEEDS  # one table (the env module has no TensorFlow import)

# The 26 feature keys of one record (the original code, fixtures/.../FEATURES.txt).
_INT64_KEYS = (
    "label",
    "seed",
    "mixer_seed",
    "episode",
    "example_index_in_episode",
    "example_index",
    "env_steps_at_episode",
    "global_env_steps_at_episode",
    "tv_num_images",
    "max_action_distance",
)
_BYTES_KEYS = (
    "x1",
    "x2",
    "fully_qualified_level",
    "episode_length",
    "action_set",
    "noise_type",
    "x1/maze_layout",
    "x2/maze_layout",
)
_FLOAT_KEYS = tuple(
    f"{image}/{name}" for image in ("x1", "x2") for name in ("position", "dist_from_start", "rotation", "velocity")
)
FEATURE_KEYS = tuple(sorted(_INT64_KEYS + _BYTES_KEYS + _FLOAT_KEYS))


class CorruptDataError(ValueError):
    """A TFRecord file that cannot be read to its end (truncated or failing its checksums)."""

    def __init__(self, path: str, reason: str):
        super().__init__(
            f"corrupt or truncated TFRecord file {path!r}: {reason}. "
            "Delete it and regenerate it (generate_r_training_data redoes "
            "the task of a missing shard when its completion marker is removed)."
        )
        self.path = path


class ImageShapeError(ValueError):
    """Stored frames whose size differs from the `image_shape` asked for."""


# --- Pair sampling --------------------------------------------------------------------------


class Pair(NamedTuple):
    """One training pair: two indices into an episode buffer and the label (1 = reachable)."""

    first: int
    second: int
    label: int


def _negative_index(anchor: int, episode_length: int, min_gap: int, rng: np.random.Generator) -> int | None:
    """Draws j uniformly among the indices with |j - anchor| > min_gap.

    Args:
      anchor: int, the cursor p.
      episode_length: int, buffer length L.
      min_gap: int, gamma * k; valid j satisfy |j - p| > min_gap.
      rng: np.random.Generator, the source of randomness.

    Returns:
      The index, or None when fewer than 2 indices are valid (the original's quirk: it also
      gives up when exactly one index would do).
    """
    num_before = max(0, anchor - min_gap)  # j in [0, p - min_gap - 1]
    first_after = anchor + min_gap + 1
    num_after = max(0, episode_length - first_after)  # j in [p + min_gap + 1, L - 1]
    if num_before + num_after < 2:
        return None
    draw = int(rng.integers(num_before + num_after))
    return draw if draw < num_before else first_after + (draw - num_before)


def _next_cursor(anchor: int, positive: int, mode: str, max_action_distance: int, rng: np.random.Generator) -> int:
    """The cursor after `anchor`, given the positive candidate `positive` (see `sample_pairs`)."""
    if mode == V1_AFFECT_NUM_TRAINING_EXAMPLES:
        return positive + 1
    if mode == V2_FIXED_NUM_TRAINING_EXAMPLES:
        return anchor + int(rng.integers(1, _V2_CURSOR_MAX_DRAW + 1)) + 1
    return anchor + int(rng.integers(1, max_action_distance + 1)) + 1  # v3


def sample_pairs(
    episode_length: int,
    rng: np.random.Generator,
    max_action_distance: int = MAX_ACTION_DISTANCE,
    negative_multiplier: int = NEGATIVE_SAMPLE_MULTIPLIER,
    mode: str = V1_AFFECT_NUM_TRAINING_EXAMPLES,
) -> list[Pair]:
    """Samples labelled index pairs from one episode buffer (the original code).

    A cursor p walks the buffer from 0. At each cursor:

      1. the positive candidate is q = p + U{1..k} (inclusive);
      2. the next cursor p' is drawn (depends on the mode, below); sampling stops if q >= L or
         p' >= L;
      3. a fair coin picks the label. Positive: the pair is (p, q), swapped with probability
         1/2 so the network sees both orders. Negative: the pair is (p, j), j uniform over
         the indices with |j - p| > gamma * k; if fewer than 2 such indices exist, sampling of
         this episode stops (the original's quirk: it also stops when exactly one exists);
      4. p = p'.

    Modes (the cursor rule of step 2):
      * 'v1_affect_num_training_examples' (offline default): p' = q + 1, so positives at
        successive cursors never overlap and the cursor advances by U{1..k} + 1.
      * 'v2_fixed_num_training_examples' (ECO): p' = p + U{1..5} + 1, a draw of its own
        (made after q's), bounded by 5 whatever k is. Our reading of the spec: only the cursor
        rule differs from v1; q is still p + U{1..k} and the label rules are the same, so
        positives at successive cursors may overlap.
      * 'v3_affect_num_training_examples_overlap': p' = p + U{1..k} + 1, a draw of its own.

    Args:
      episode_length: int, L, the number of frames in the episode buffer.
      rng: np.random.Generator, the only source of randomness (same state, same pairs).
      max_action_distance: int, k, the largest positive gap in steps.
      negative_multiplier: int, gamma; negatives are more than gamma * k steps apart.
      mode: str, one of `SAMPLING_MODES`.

    Returns:
      A list of `Pair(first, second, label)` (plain tuples (i, j, label)), in cursor order.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown pair sampling mode {mode!r}; valid modes: {', '.join(SAMPLING_MODES)}")
    if max_action_distance < 1 or negative_multiplier < 1:
        raise ValueError(
            "max_action_distance and negative_multiplier must be >= 1, got "
            f"{max_action_distance} and {negative_multiplier}"
        )
    if episode_length < 0:
        raise ValueError(f"episode_length must be >= 0, got {episode_length}")
    min_negative_gap = negative_multiplier * max_action_distance
    pairs = []
    anchor = 0
    while True:
        positive = anchor + int(rng.integers(1, max_action_distance + 1))
        next_anchor = _next_cursor(anchor, positive, mode, max_action_distance, rng)
        if positive >= episode_length or next_anchor >= episode_length:
            break
        if int(rng.integers(2)) == 1:
            first, second = (positive, anchor) if int(rng.integers(2)) == 1 else (anchor, positive)
            pairs.append(Pair(first, second, 1))
        else:
            negative = _negative_index(anchor, episode_length, min_negative_gap, rng)
            if negative is None:
                break
            pairs.append(Pair(anchor, negative, 0))
        anchor = next_anchor
    return pairs


# --- Encoding one pair ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PairMetadata:
    """Per-example metadata features (everything but the frames and the per-frame fields).

    Attributes:
      seed: int, env seed of the generating task (123 + task id).
      mixer_seed: int, `MIXER_SEEDS[split]`.
      fully_qualified_level: str, level / scenario name.
      episode: int, episode index within the task.
      example_index_in_episode: int, index of the example within its episode.
      example_index: int, index of the example within the task.
      env_steps_at_episode: int, task-local env steps before this episode.
      global_env_steps_at_episode: int, env_steps_at_episode * num_tasks.
      episode_length: str, the episode-length setting ("default" unless overridden).
      action_set: str, the action-set setting ("" = default).
      noise_type: str, observation noise setting ("" = none).
      tv_num_images: int, noisy-TV images (0 = none).
      max_action_distance: int, k used for sampling.
    """

    seed: int = 0
    mixer_seed: int = 0
    fully_qualified_level: str = ""
    episode: int = 0
    example_index_in_episode: int = 0
    example_index: int = 0
    env_steps_at_episode: int = 0
    global_env_steps_at_episode: int = 0
    episode_length: str = DEFAULT_EPISODE_LENGTH
    action_set: str = ""
    noise_type: str = ""
    tv_num_images: int = 0
    max_action_distance: int = MAX_ACTION_DISTANCE


@dataclasses.dataclass(frozen=True)
class FrameMetadata:
    """Per-frame features (`x1/...`, `x2/...`); the defaults are the neutral values.

    Attributes:
      maze_layout: bytes, ASCII maze layout (b"" where the env has none).
      position: 3 floats, world (x, y, z).
      dist_from_start: float, distance of `position` from the episode buffer's first position.
      rotation: floats, orientation (zeros where the env reports none).
      velocity: floats, flattened velocity (zeros where the env reports none).
    """

    maze_layout: bytes = b""
    position: tuple[float, ...] = (0.0, 0.0, 0.0)
    dist_from_start: float = 0.0
    rotation: tuple[float, ...] = (0.0, 0.0, 0.0)
    velocity: tuple[float, ...] = (0.0, 0.0, 0.0)


def _float_tuple(value: Any) -> tuple[float, ...]:
    """`value` flattened to a tuple of float32-representable floats."""
    return tuple(float(v) for v in np.asarray(value, np.float32).reshape(-1))


def frame_metadata_from_info(info: Mapping[str, Any], start_position: Sequence[float] | None = None) -> FrameMetadata:
    """Builds the per-frame features from an env `info` dict.

    Keys used when present: `position`, `rotation`, `velocity`, `maze_layout`; absent ones get
    the neutral values of `FrameMetadata` (VizDoom and the fake env report only `position`).

    Args:
      info: mapping, the env's info for the frame.
      start_position: 3 floats or None, the position of the episode buffer's first frame;
        `dist_from_start` is 0 when it or `position` is missing.
    """
    neutral = FrameMetadata()
    position = info.get("position")
    dist = 0.0
    if position is not None and start_position is not None:
        delta = np.asarray(position, np.float64).reshape(-1) - np.asarray(start_position, np.float64).reshape(-1)
        dist = float(np.linalg.norm(delta))
    layout = info.get("maze_layout", b"")
    return FrameMetadata(
        maze_layout=layout.encode("ascii") if isinstance(layout, str) else bytes(layout),
        position=neutral.position if position is None else _float_tuple(position),
        dist_from_start=dist,
        rotation=_float_tuple(info["rotation"]) if "rotation" in info else neutral.rotation,
        velocity=_float_tuple(info["velocity"]) if "velocity" in info else neutral.velocity,
    )


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes (8-bit RGB) of an RGB uint8 H x W x 3 image.

    Args:
      image: np.ndarray uint8 [H, W, 3], RGB.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))  # cv2 wants BGR.
    if not ok:
        raise ValueError(f"PNG encoding failed for an image of shape {image.shape}")
    return encoded.tobytes()


def _int64(value: int) -> tf.train.Feature:
    """A one-value int64 feature."""
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _bytes(value: bytes | str) -> tf.train.Feature:
    """A one-value bytes feature (str is UTF-8 encoded)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _floats(values: Iterable[float]) -> tf.train.Feature:
    """A float32 list feature."""
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def _frame_features(name: str, frame: FrameMetadata) -> dict[str, tf.train.Feature]:
    """The five `<name>/...` features of one frame ('x1' or 'x2')."""
    return {
        f"{name}/maze_layout": _bytes(frame.maze_layout),
        f"{name}/position": _floats(frame.position),
        f"{name}/dist_from_start": _floats([frame.dist_from_start]),
        f"{name}/rotation": _floats(frame.rotation),
        f"{name}/velocity": _floats(frame.velocity),
    }


def encode_pair_example(
    x1: np.ndarray | bytes,
    x2: np.ndarray | bytes,
    label: int,
    metadata: PairMetadata | None = None,
    frame1: FrameMetadata | None = None,
    frame2: FrameMetadata | None = None,
) -> tf.train.Example:
    """Builds the record of one pair, with all 26 keys of the original format.

    Args:
      x1: np.ndarray uint8 [H, W, 3] RGB, or its PNG bytes (from `encode_png`), first frame.
      x2: same, second frame.
      label: int, 1 = reachable within k steps, 0 = not.
      metadata: PairMetadata or None (neutral values).
      frame1: FrameMetadata or None (neutral values), for x1.
      frame2: FrameMetadata or None (neutral values), for x2.

    Returns:
      A `tf.train.Example`; write `example.SerializeToString(deterministic=True)` for
      byte-reproducible files.
    """
    if label not in (0, 1):
        raise ValueError(f"label must be 0 or 1, got {label!r}")
    metadata = metadata or PairMetadata()
    features = {
        "x1": _bytes(x1 if isinstance(x1, bytes) else encode_png(x1)),
        "x2": _bytes(x2 if isinstance(x2, bytes) else encode_png(x2)),
        "label": _int64(label),
        **_frame_features("x1", frame1 or FrameMetadata()),
        **_frame_features("x2", frame2 or FrameMetadata()),
    }
    for field in dataclasses.fields(PairMetadata):
        value = getattr(metadata, field.name)
        features[field.name] = _bytes(value) if isinstance(value, (str, bytes)) else _int64(value)
    return tf.train.Example(features=tf.train.Features(feature=features))


# --- Parsing --------------------------------------------------------------------------------

_PARSE_SPEC = {
    "x1": tf.io.FixedLenFeature([], tf.string),
    "x2": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "example_index": tf.io.FixedLenFeature([], tf.int64),
    "episode_length": tf.io.FixedLenFeature([], tf.string),
    "global_env_steps_at_episode": tf.io.FixedLenFeature([], tf.int64),
}


def _parse_encoded(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parses the six keys the trainer uses, frames still PNG-encoded."""
    return tf.io.parse_single_example(serialized, _PARSE_SPEC)


def _decode_image(png: tf.Tensor, name: str, image_shape: Sequence[int]) -> tf.Tensor:
    """Decodes one PNG to uint8 [H, W, 3] and checks its size against `image_shape`."""
    image = tf.io.decode_png(png, channels=3, dtype=tf.uint8)
    check = tf.debugging.assert_equal(
        tf.shape(image),
        tf.constant(list(image_shape), tf.int32),
        message=f"decoded image {name} does not have image_shape {tuple(image_shape)}",
    )
    with tf.control_dependencies([check]):
        image = tf.identity(image)
    return tf.ensure_shape(image, image_shape)


def _decode(features: Mapping[str, tf.Tensor], image_shape: Sequence[int]) -> dict[str, tf.Tensor]:
    """Decodes both frames and one-hot encodes the label."""
    decoded = dict(features)
    decoded["x1"] = _decode_image(features["x1"], "x1", image_shape)
    decoded["x2"] = _decode_image(features["x2"], "x2", image_shape)
    decoded["label"] = tf.one_hot(features["label"], 2, dtype=tf.float32)
    return decoded


def parse_pair_example(
    serialized: tf.Tensor | bytes, image_shape: Sequence[int] = DEFAULT_IMAGE_SHAPE
) -> dict[str, tf.Tensor]:
    """Parses one record as the trainer does (works eagerly and inside `tf.data`).

    Args:
      serialized: scalar string tensor or bytes, one serialized `tf.train.Example`.
      image_shape: (H, W, 3), the expected frame size; a different size fails with an
        InvalidArgumentError whose message names `image_shape`.

    Returns:
      dict: `x1`, `x2` uint8 [H, W, 3]; `label` float32 one-hot [2] (index 1 = reachable);
      `example_index` int64; `episode_length` string; `global_env_steps_at_episode` int64.
    """
    return _decode(_parse_encoded(tf.convert_to_tensor(serialized, tf.string)), tuple(image_shape))


def _keep_predicate(max_input_env_steps: int | None, episode_length: str | None):
    """The original's filter as a `tf.data` predicate; None disables a condition."""

    def keep(features):
        result = tf.constant(True)
        if max_input_env_steps is not None:
            result = tf.logical_and(
                result, features["global_env_steps_at_episode"] <= tf.constant(max_input_env_steps, tf.int64)
            )
        if episode_length is not None:
            result = tf.logical_and(result, tf.equal(features["episode_length"], episode_length))
        return result

    return keep


# --- Files ----------------------------------------------------------------------------------

_VALIDATED: dict[tuple[str, int, int], int] = {}


def _short_reason(error: tf.errors.OpError) -> str:
    """The useful part of TensorFlow's read error ('truncated record at 74162')."""
    match = re.search(r"(truncated|corrupted) record at \d+", error.message or "")
    return match.group(0) if match else (error.message or type(error).__name__).strip()


def validate_tfrecord_file(path: str) -> int:
    """Reads a TFRecord file to its end, checking every record's checksums.

    Results are cached per (path, size, mtime) within the process, so calling it again on an
    unchanged file is free.

    Args:
      path: str, the file.

    Returns:
      int, the number of records.

    Raises:
      FileNotFoundError: `path` does not exist.
      CorruptDataError: the file is truncated or fails a checksum (the error names the file).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TFRecord file {path!r} does not exist")
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _VALIDATED:
        try:
            count = tf.data.TFRecordDataset(path).reduce(np.int64(0), lambda n, _: n + 1)
        except tf.errors.OpError as e:
            raise CorruptDataError(path, _short_reason(e)) from None
        _VALIDATED[key] = int(count)
    return _VALIDATED[key]


def _check_first_record(path: str, image_shape: Sequence[int]) -> None:
    """Parses the file's first record eagerly; raises a clear error if it does not fit."""
    for serialized in tf.data.TFRecordDataset(path).take(1):
        try:
            features = _parse_encoded(serialized)
            shapes = {
                name: tuple(int(d) for d in tf.io.decode_png(features[name], channels=3).shape) for name in ("x1", "x2")
            }
        except tf.errors.InvalidArgumentError as e:
            raise CorruptDataError(
                path, f"its first record is not an R-network pair with PNG frames ({e.message.strip()})"
            ) from None
        for name, shape in shapes.items():
            if shape != tuple(image_shape):
                raise ImageShapeError(
                    f"{path!r}: frame {name} of the first record has shape {shape}, "
                    f"but image_shape is {tuple(image_shape)}"
                )


def split_train_validation(file_paths: Sequence[str], percent_validation_files: float) -> tuple[list[str], list[str]]:
    """Sorts the file names and holds out the first N% for validation (the original code).

    N% of the files is rounded down, but with 2 or more files and 0 < N < 100 each side gets at
    least one file. With N = 0 every file trains; with N = 100 every file validates.

    Args:
      file_paths: list of str, the pair files.
      percent_validation_files: float in [0, 100], share of files held out.

    Returns:
      (train_files, validation_files), both sorted.
    """
    if not 0 <= percent_validation_files <= 100:
        raise ValueError(f"percent_validation_files must be in [0, 100], got {percent_validation_files}")
    files = sorted(file_paths)
    if not files:
        raise ValueError("split_train_validation got no files")
    num_validation = int(len(files) * percent_validation_files // 100)
    if 0 < percent_validation_files < 100:
        if len(files) < 2:
            raise ValueError(
                f"cannot hold out {percent_validation_files}% of a single file "
                f"({files[0]!r}) for validation: need at least 2 files"
            )
        num_validation = min(max(num_validation, 1), len(files) - 1)
    return files[num_validation:], files[:num_validation]


# --- The input pipeline ---------------------------------------------------------------------


def _records(path: tf.Tensor, start: tf.Tensor, repeat: bool) -> tf.data.Dataset:
    """The serialized records of one file from record `start` on, then (wrapping around) the
    ones before it; repeated forever if `repeat`."""
    records = tf.data.TFRecordDataset(path)
    if repeat:
        return records.repeat().skip(start)
    return records.skip(start).concatenate(records.take(start))


def make_pair_dataset(
    file_paths: Sequence[str],
    batch_size: int,
    image_shape: Sequence[int] = DEFAULT_IMAGE_SHAPE,
    shuffle_buffer: int = 100_000,
    seed: int | None = None,
    repeat: bool = True,
    max_input_env_steps: int | None = DEFAULT_MAX_INPUT_ENV_STEPS,
    episode_length: str | None = DEFAULT_EPISODE_LENGTH,
    validate_files: bool = True,
    drop_remainder: bool = False,
    records_already_read: int = 0,
) -> tf.data.Dataset:
    """Batches of training pairs from TFRecord files (the original code).

    All files are read in parallel, one element from each in turn (interleave with a cycle over
    every file, block length 1); with `repeat` each file repeats forever on its own. Records are
    filtered, shuffled while still PNG-encoded (less memory), decoded and batched.

    Args:
      file_paths: list of str, the TFRecord files.
      batch_size: int, pairs per batch.
      image_shape: (H, W, 3), the frame size stored in the files.
      shuffle_buffer: int, examples in the shuffle buffer (<= 1: no shuffling).
      seed: int or None, shuffle seed (None: nondeterministic).
      repeat: bool, repeat every file forever (training) or read each once.
      max_input_env_steps: int or None, keep records with global_env_steps_at_episode <= this.
      episode_length: str or None, keep records whose `episode_length` feature equals this.
      validate_files: bool, read every file fully first (`validate_tfrecord_file`) and check
        the first record's frame size, so corrupt files and shape mismatches fail here.
      drop_remainder: bool, drop a last partial batch (only matters when `repeat` is False).
      records_already_read: int, records an earlier pipeline over the same files already
        delivered. The interleave takes one record from each non-empty file in turn, so each
        such file starts at record (records_already_read // number of non-empty files, modulo
        its length) and wraps around. A resumed training run passes how far it had got, so it
        goes on through the files instead of reading their beginnings again (with files far
        larger than one run's share, a run restarted every few epochs would otherwise only ever
        see the start of each file). Approximate where the filter drops records (the files
        were then read faster) or files differ in length (shorter ones wrapped more often).
        Nonzero values read every file once to count its records (as `validate_files` does).

    Returns:
      A dataset of ((x1 uint8 [B, H, W, 3], x2 uint8 [B, H, W, 3]), label float32 [B, 2]).

    Raises:
      ValueError: no files, or (with `repeat`) no record passes the filter, which would
        otherwise make the repeated pipeline spin forever.
      CorruptDataError: a file is truncated or corrupt (with `validate_files`).
      ImageShapeError: stored frames differ from `image_shape` (with `validate_files`).
    """
    files = [os.fspath(p) for p in file_paths]
    if not files:
        raise ValueError("make_pair_dataset needs at least one TFRecord file")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if records_already_read < 0:
        raise ValueError(f"records_already_read must be >= 0, got {records_already_read}")
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or image_shape[2] != 3:
        raise ValueError(f"image_shape must be (H, W, 3), got {image_shape}")
    if validate_files:
        counts = [validate_tfrecord_file(path) for path in files]
        non_empty = [path for path, count in zip(files, counts) if count]
        if not non_empty:
            raise ValueError(f"the {len(files)} TFRecord files hold no records: {files[:3]}...")
        _check_first_record(non_empty[0], image_shape)

    keep = _keep_predicate(max_input_env_steps, episode_length)
    starts = [0] * len(files)
    if records_already_read:
        counts = [validate_tfrecord_file(path) for path in files]
        per_file = records_already_read // max(1, sum(1 for count in counts if count))
        starts = [per_file % count if count else 0 for count in counts]

    def filtered(repeat_files: bool) -> tf.data.Dataset:
        file_starts = tf.data.Dataset.from_tensor_slices((files, tf.constant(starts, tf.int64)))
        dataset = file_starts.interleave(
            lambda path, start: _records(path, start, repeat_files),
            cycle_length=len(files),
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        return dataset.map(_parse_encoded, num_parallel_calls=tf.data.AUTOTUNE).filter(keep)

    if repeat and not any(True for _ in filtered(False).take(1)):
        raise ValueError(
            f"no record in the {len(files)} files passes the filter (global_env_steps_at_episode <= "
            f"{max_input_env_steps} and episode_length == {episode_length!r}); check "
            "--max_input_env_steps and the episode length the data was generated with"
        )
    dataset = filtered(repeat)
    if shuffle_buffer > 1:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def to_model_inputs(features):
        decoded = _decode(features, image_shape)
        return (decoded["x1"], decoded["x2"]), decoded["label"]

    dataset = dataset.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
