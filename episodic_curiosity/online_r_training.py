"""PPO+ECO: the R-network trained online from the policy's own experience (the original code).

`OnlineRNetworkTrainer` observes every vector step of the training envs (the untouched
curiosity frames and done flags; `intrinsic.OnlineEpisodicCuriosity` feeds it), keeps the last
`observation_history_size` vector steps, and every
`training_interval` vector steps (-1: = the history size) retrains the R-network for
`num_epochs` epochs on pairs sampled with the `v2` rule (k = 5) from each env's trajectories,
shuffled and split 95 % / 5 %, batch 64, Keras-default Adam (lr 1e-3, epsilon 1e-7). New
weights take effect at once; the wrapper's memory keys are recomputed (its stored embeddings
stay, as in the original).

Beyond the original, the history lives in a file on disk (uint8, written with `pwrite`, read
back per batch with `pread`, so it does not count towards the process's resident memory), and
`variable_groups()` / `state_attributes()` / `restore_attributes()` let the policy checkpoint
carry the trainer's counters, R-network weights and optimizer state, so a killed ECO run
resumes with the same R-network and, from the history files, nearly the same history: the
steps observed after the checkpoint stay in the files (as the oldest part of the window), a
resume does not mark an episode end in the history, and the pair-sampling RNG restarts from
its seed. If the history files are gone, the resumed trainer logs it and refills its history
from empty instead of training on zeros.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from absl import logging
import gin
import numpy as np

from episodic_curiosity import r_network
from episodic_curiosity import r_network_training
from episodic_curiosity import r_training_data

_BATCH_SIZE = 64
_VALIDATION_FRACTION = 0.05
# The last training's metrics (nan until the first training; validation nan with < 1 batch).
METRIC_KEYS = ("loss", "acc", "val_loss", "val_acc")


class DiskHistory:
    """Ring buffer of the last `capacity` vector steps: frames in `path`, dones in `path.dones`.

    Both files persist; an existing pair of files is reopened as it is (the counters that say
    which slots are valid come from the policy checkpoint).
    """

    def __init__(self, path: str, capacity: int, num_envs: int, frame_shape: Sequence[int]):
        self.path = path
        self.capacity = capacity
        self.num_envs = num_envs
        self.frame_shape = tuple(frame_shape)
        self.frame_bytes = int(np.prod(self.frame_shape))
        self.step_bytes = self.frame_bytes * num_envs
        self.position = 0  # next slot to write
        self.count = 0  # valid steps
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Whether both files were there, full size, before this object (a resume needs them).
        self.reopened = all(
            os.path.exists(p) and os.path.getsize(p) >= size
            for p, size in ((path, capacity * self.step_bytes), (path + ".dones", capacity * num_envs))
        )
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size < capacity * self.step_bytes:
            os.ftruncate(self._fd, capacity * self.step_bytes)  # sparse file: no disk until written
        self._dones_fd = os.open(path + ".dones", os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(self._dones_fd).st_size < capacity * num_envs:
            os.ftruncate(self._dones_fd, capacity * num_envs)
        stored = os.pread(self._dones_fd, capacity * num_envs, 0)
        self.dones = np.frombuffer(stored, np.uint8).reshape(capacity, num_envs).astype(bool)

    def append(self, frames: np.ndarray, dones: np.ndarray) -> None:
        frames = np.ascontiguousarray(frames, np.uint8)
        if frames.shape != (self.num_envs, *self.frame_shape):
            raise ValueError(f"history frames must be {(self.num_envs, *self.frame_shape)}, got {frames.shape}")
        os.pwrite(self._fd, frames.tobytes(), self.position * self.step_bytes)
        self.dones[self.position] = dones
        os.pwrite(self._dones_fd, self.dones[self.position].astype(np.uint8).tobytes(), self.position * self.num_envs)
        self.position = (self.position + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def chronological_slots(self) -> np.ndarray:
        """Slot indices of the valid steps, oldest first."""
        start = (self.position - self.count) % self.capacity
        return (start + np.arange(self.count)) % self.capacity

    def read_frames(self, slots: np.ndarray, envs: np.ndarray) -> np.ndarray:
        """Frames [len(slots), H, W, C] of (slot, env) pairs."""
        out = np.empty((len(slots), *self.frame_shape), np.uint8)
        for i, (slot, env) in enumerate(zip(slots, envs)):
            offset = int(slot) * self.step_bytes + int(env) * self.frame_bytes
            out[i] = np.frombuffer(os.pread(self._fd, self.frame_bytes, offset), np.uint8).reshape(self.frame_shape)
        return out

    def close(self) -> None:
        for name in ("_fd", "_dones_fd"):
            if getattr(self, name) >= 0:
                os.close(getattr(self, name))
                setattr(self, name, -1)


def trajectories(dones: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Splits chronological done flags [T, N] into per-env trajectories (env, step indices).

    A trajectory ends after every step whose done flag is set (that step included: with
    auto-reset its frame is the next episode's first, the original's quirk) and at the end.
    """
    result = []
    for env in range(dones.shape[1]):
        start = 0
        for t in np.flatnonzero(dones[:, env]):
            result.append((env, np.arange(start, t + 1)))
            start = t + 1
        if start < dones.shape[0]:
            result.append((env, np.arange(start, dones.shape[0])))
    return result


@gin.configurable(denylist=["network", "num_envs", "frame_shape", "history_path"])
class OnlineRNetworkTrainer:
    """Keeps the recent frames and retrains the R-network on them (see module docstring)."""

    def __init__(
        self,
        network: r_network.RNetwork,
        num_envs: int,
        frame_shape: Sequence[int],
        history_path: str,
        observation_history_size: int = 20_000,
        training_interval: int = 20_000,
        num_epochs: int = 6,
        seed: int = 0,
    ):
        """Args:
        network: the RNetwork that scores the bonus (trained in place).
        num_envs: int, envs of the vector env.
        frame_shape: (H, W, C), the curiosity input's shape.
        history_path: str, file holding the frame history.
        observation_history_size: int, vector steps kept (original default 20,000; ECO 60,000).
        training_interval: int, vector steps between trainings; -1 = the history size.
        num_epochs: int, epochs per training (ECO: 10).
        seed: int, seeds pair sampling and shuffling.
        """
        self.network = network
        self.history = DiskHistory(history_path, observation_history_size, num_envs, frame_shape)
        self.training_interval = observation_history_size if training_interval == -1 else training_interval
        if self.training_interval < 1:
            raise ValueError(f"training_interval must be >= 1 or -1, got {training_interval}")
        self.num_epochs = num_epochs
        self.trainer = r_network_training.PairTrainer(network, r_network_training.make_optimizer(1e-3, 1e-7))
        self.step_count = 0
        self.trainings = 0
        self.last_metrics: dict[str, float] = dict.fromkeys(METRIC_KEYS, float("nan"))
        self._rng = np.random.default_rng(seed)
        self._on_weights_updated: list[Callable[[], None]] = []

    def add_weights_listener(self, callback: Callable[[], None]) -> None:
        """`callback()` runs after each training (e.g. to refresh memory keys)."""
        self._on_weights_updated.append(callback)

    def trains_on_next_observe(self) -> bool:
        """Whether the next `observe` call retrains the R-network (every `training_interval` steps)."""
        return (self.step_count + 1) % self.training_interval == 0

    def observe(self, frames: np.ndarray, dones: np.ndarray) -> None:
        """Adds one vector step's curiosity frames [N, H, W, C] and done flags [N]; trains
        every `training_interval` steps."""
        trains = self.trains_on_next_observe()
        self.history.append(np.asarray(frames), np.asarray(dones, bool))
        self.step_count += 1
        if trains:
            self.train()

    def sample_pairs(self) -> np.ndarray:
        """All v2 pairs of the history as rows (slot_1, env_1, slot_2, env_2, label)."""
        slots = self.history.chronological_slots()
        rows = []
        for env, steps in trajectories(self.history.dones[slots]):
            for first, second, label in r_training_data.sample_pairs(
                len(steps), self._rng, mode=r_training_data.V2_FIXED_NUM_TRAINING_EXAMPLES
            ):
                rows.append((slots[steps[first]], env, slots[steps[second]], env, label))
        return np.array(rows, np.int64).reshape(-1, 5)

    def _batches(self, rows: np.ndarray):
        for start in range(0, len(rows) - _BATCH_SIZE + 1, _BATCH_SIZE):
            batch = rows[start : start + _BATCH_SIZE]
            x1 = self.history.read_frames(batch[:, 0], batch[:, 1])
            x2 = self.history.read_frames(batch[:, 2], batch[:, 3])
            yield (x1, x2), np.eye(2, dtype=np.float32)[batch[:, 4]]

    def train(self) -> dict[str, float]:
        """One training round on the current history; returns the last epoch's metrics."""
        rows = self.sample_pairs()
        self._rng.shuffle(rows)
        num_validation = int(round(len(rows) * _VALIDATION_FRACTION))
        validation, training = rows[:num_validation], rows[num_validation:]
        steps = len(training) // _BATCH_SIZE
        if not steps:
            logging.warning(
                "Online R-network training skipped: %d pairs in the history, fewer than one batch of %d",
                len(training),
                _BATCH_SIZE,
            )
        metrics = dict.fromkeys(METRIC_KEYS, float("nan"))
        for _ in range(self.num_epochs if steps else 0):
            train_metrics = self.trainer.train(self._batches(training), steps)
            metrics.update(loss=train_metrics.loss, acc=train_metrics.accuracy)
            if len(validation) >= _BATCH_SIZE:
                validation_metrics = self.trainer.evaluate(self._batches(validation), len(validation) // _BATCH_SIZE)
                metrics.update(val_loss=validation_metrics.loss, val_acc=validation_metrics.accuracy)
            self._rng.shuffle(training)
        self.trainings += 1
        self.last_metrics = metrics
        self.network.sync_inference_weights()
        for callback in self._on_weights_updated:
            callback()
        return metrics

    # Checkpointing with the policy -----------------------------------------------------------

    def variable_groups(self) -> dict[str, list]:
        """Variables to store with the policy checkpoint (R-network weights, its optimizer)."""
        network_variables = [v for group in self.network._groups().values() for v in group]  # pylint: disable=protected-access
        return {"r_network": network_variables, "r_optimizer": self.trainer.optimizer.variables}

    def state_attributes(self) -> dict:
        return {
            "eco_step_count": self.step_count,
            "eco_trainings": self.trainings,
            "eco_position": self.history.position,
            "eco_count": self.history.count,
            "eco_last_metrics": {key: float(value) for key, value in self.last_metrics.items()},
        }

    def restore_attributes(self, attributes: dict) -> None:
        self.step_count = int(attributes["eco_step_count"])
        self.trainings = int(attributes["eco_trainings"])
        self.history.position = int(attributes["eco_position"])
        self.history.count = int(attributes["eco_count"])
        if self.history.count and not self.history.reopened:
            logging.warning(
                "The ECO history files %s(.dones) were missing or short at resume, though the checkpoint "
                "counts %d stored steps: refilling the history from empty (trainings go on from the "
                "checkpoint's R-network; keep the run folder's eco_history/ to resume the history too).",
                self.history.path,
                self.history.count,
            )
            self.history.position = self.history.count = 0
        # Checkpoints written before the metrics were stored: nan until the next training.
        stored = attributes.get("eco_last_metrics", {})
        self.last_metrics = {key: float(stored.get(key, float("nan"))) for key in METRIC_KEYS}
        self.network.sync_inference_weights()
        for callback in self._on_weights_updated:
            callback()
