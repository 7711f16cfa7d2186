"""Training the R-network on labelled pairs: the step, epochs, and full checkpoints.

Shared by the offline trainer (`train_r`) and the online (ECO) trainer. Pair sampling, the
TFRecord format and the `tf.data` pipeline live in `r_training_data.py` and are re-exported
here for convenience.

Loss (as the original code computes it): 2-class cross-entropy on the comparator's logits (the original's
Keras softmax + categorical cross-entropy computes exactly this from the logits) plus the L2
penalties of the convolutions. The two images of a pair go through the embedding branch in two
separate calls, each with its own BatchNorm batch statistics, as in the original's siamese
Keras model.
"""

from __future__ import annotations

import dataclasses

import gin
import h5py
import keras
import numpy as np
import tensorflow as tf

from episodic_curiosity import atomic_files
from episodic_curiosity import checkpoint_io
from episodic_curiosity import r_network
from episodic_curiosity.r_training_data import CorruptDataError
from episodic_curiosity.r_training_data import make_pair_dataset
from episodic_curiosity.r_training_data import sample_pairs
from episodic_curiosity.r_training_data import split_train_validation

__all__ = [  # the data side is re-exported: one import for trainers
    "CorruptDataError",
    "Metrics",
    "PairTrainer",
    "full_checkpoint_name",
    "is_full_checkpoint_name",
    "make_optimizer",
    "make_pair_dataset",
    "newest_full_checkpoint",
    "sample_pairs",
    "split_train_validation",
    "weights_checkpoint_name",
]


@gin.configurable
def make_optimizer(learning_rate: float = 1e-4, epsilon: float = 1e-8) -> keras.optimizers.Optimizer:
    """Adam as the offline trainer used it.

    Args:
      learning_rate: float, Adam step size (offline: 1e-4; the ECO trainer uses 1e-3).
      epsilon: float, Adam epsilon (offline: 1e-8; Keras' default 1e-7 for ECO).
    """
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=epsilon)


@dataclasses.dataclass
class Metrics:
    loss: float
    accuracy: float


class PairTrainer:
    """Runs training and evaluation steps of an RNetwork's pair model under `tf.function`."""

    def __init__(self, network: r_network.RNetwork, optimizer: keras.optimizers.Optimizer | None = None):
        self.network = network
        self.optimizer = optimizer or make_optimizer()
        self._variables = network.embedding_network.trainable_variables + network.comparator_logits.trainable_variables
        self.optimizer.build(self._variables)
        image_spec = tf.TensorSpec([None, *network.input_shape], tf.uint8)
        label_spec = tf.TensorSpec([None, 2], tf.float32)
        signature = [image_spec, image_spec, label_spec]
        self._train_step = tf.function(self._train_step_impl, input_signature=signature)
        self._eval_step = tf.function(self._eval_step_impl, input_signature=signature)

    def _forward(self, x1, x2, training: bool):
        embedding = self.network.embedding_network
        first = embedding(tf.cast(x1, tf.float32), training=training)
        second = embedding(tf.cast(x2, tf.float32), training=training)
        return self.network.comparator_logits([first, second], training=training)

    def _loss_and_accuracy(self, logits, labels):
        cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        regularization = tf.add_n(
            [tf.cast(loss, tf.float32) for loss in self.network.embedding_network.losses] or [tf.constant(0.0)]
        )
        correct = tf.equal(tf.argmax(logits, axis=1), tf.argmax(labels, axis=1))
        return cross_entropy + regularization, tf.reduce_mean(tf.cast(correct, tf.float32))

    def _train_step_impl(self, x1, x2, labels):
        with tf.GradientTape() as tape:
            logits = self._forward(x1, x2, training=True)
            loss, accuracy = self._loss_and_accuracy(logits, labels)
        gradients = tape.gradient(loss, self._variables)
        self.optimizer.apply_gradients(zip(gradients, self._variables))
        return loss, accuracy

    def _eval_step_impl(self, x1, x2, labels):
        return self._loss_and_accuracy(self._forward(x1, x2, training=False), labels)

    def train_step(self, x1, x2, labels) -> Metrics:
        loss, accuracy = self._train_step(x1, x2, labels)
        return Metrics(float(loss), float(accuracy))

    def _run(self, step_fn, batches, num_steps: int) -> Metrics:
        losses, accuracies = [], []
        for _ in range(num_steps):
            (x1, x2), labels = next(batches)
            loss, accuracy = step_fn(x1, x2, labels)
            losses.append(float(loss))
            accuracies.append(float(accuracy))
        if not losses:
            raise ValueError("num_steps must be >= 1")
        return Metrics(float(np.mean(losses)), float(np.mean(accuracies)))

    def train(self, batches, num_steps: int) -> Metrics:
        """Runs `num_steps` training steps on an iterator of ((x1, x2), one-hot labels)."""
        return self._run(self._train_step, batches, num_steps)

    def evaluate(self, batches, num_steps: int) -> Metrics:
        """Mean loss/accuracy over `num_steps` batches, BatchNorm in inference mode."""
        return self._run(self._eval_step, batches, num_steps)

    # Full checkpoints (weights + optimizer state) ---------------------------------------------

    def save_full_checkpoint(self, path: str, epoch: int, attributes: dict | None = None) -> None:
        """Writes weights (original layout, with the architecture attributes of
        `RNetwork.save_weights`) + optimizer variables + `epoch`, atomically."""
        with atomic_files.atomic_path(path) as tmp_path:
            self.network.save_weights(tmp_path)
            with h5py.File(tmp_path, "a") as handle:
                handle.attrs["epoch"] = int(epoch)
                for key, value in (attributes or {}).items():
                    handle.attrs[key] = value
                group = handle.create_group("optimizer")
                for index, variable in enumerate(self.optimizer.variables):
                    group.create_dataset(str(index), data=np.asarray(variable.numpy()))

    def load_full_checkpoint(self, path: str) -> tuple[int, dict]:
        """Restores a full checkpoint; returns (epoch, attributes).

        Raises:
          r_network.ArchitectureMismatchError: a checkpoint of another architecture (input
            shape included) than the trainer's network, naming both and the train_r settings
            that resume it.
          r_network.CheckpointError: an unreadable or incomplete checkpoint.
        """
        try:
            self.network.load_weights(path)
        except r_network.ArchitectureMismatchError as e:
            saved, running = e.file_architecture, e.network_architecture
            bindings = " ".join(f"--gin_bindings={b!r}" for b in r_network.architecture_bindings(saved))
            raise r_network.ArchitectureMismatchError(
                f"cannot resume from full checkpoint {path!r}: it holds an R-network of "
                f"{r_network.describe_architecture(saved)}, this run builds one of "
                f"{r_network.describe_architecture(running)}. Resume with the checkpoint's settings "
                f"(train_r: --image_shape={','.join(map(str, saved['input_shape']))} {bindings}) "
                f"or train in another workdir",
                path,
                saved,
                running,
            ) from e
        try:
            with h5py.File(path, "r") as handle:
                epoch = int(handle.attrs["epoch"])
                attributes = {
                    k: handle.attrs[k]
                    for k in handle.attrs
                    if k
                    not in (
                        "epoch",
                        "backend",
                        "keras_version",
                        "layer_names",
                        *r_network.ARCHITECTURE_KEYS,
                        *r_network.OPTIONAL_ARCHITECTURE_DEFAULTS,
                    )
                }
                group = handle["optimizer"]
                arrays = [np.asarray(group[str(i)]) for i in range(len(group))]
        except (KeyError, OSError) as e:
            raise r_network.CheckpointError(f"full checkpoint {path!r} is incomplete: {e}") from e
        variables = self.optimizer.variables
        if len(arrays) != len(variables):
            raise r_network.CheckpointError(
                f"full checkpoint {path!r} has {len(arrays)} optimizer variables, expected {len(variables)}"
            )
        for variable, array in zip(variables, arrays):
            if tuple(variable.shape) != array.shape:
                raise r_network.CheckpointError(
                    f"full checkpoint {path!r}: optimizer variable {variable.path} has shape "
                    f"{array.shape}, expected {tuple(variable.shape)}"
                )
            variable.assign(array)
        return epoch, attributes


def full_checkpoint_name(epoch: int) -> str:
    """`r_network_full.NNNNN.h5`, NNNNN = the 1-based epoch it was written after."""
    return f"r_network_full.{epoch:05d}.h5"


def weights_checkpoint_name(epoch: int) -> str:
    """`r_network_weights.NNNNN.h5`, NNNNN = the 1-based epoch it was written after."""
    return f"r_network_weights.{epoch:05d}.h5"


def is_full_checkpoint_name(name: str) -> bool:
    return bool(checkpoint_io.R_NETWORK_FULL_CHECKPOINT.match(name))


def newest_full_checkpoint(directory: str) -> str | None:
    return checkpoint_io.newest_checkpoint(directory, checkpoint_io.R_NETWORK_FULL_CHECKPOINT)
