r"""PPO+RND on the intrinsic-reward interface: Random Network Distillation (Burda et al. 2018,
"Exploration by Random Network Distillation").

Networks (Keras 3, orthogonal initialisation with gain sqrt(2) and zero biases, as in the RND
code, each layer seeded from `Setup.seed`):

  * target f (fixed, never trained) and predictor f_hat, both on the same normalised input x;
  * images: f = 3 convolutions (8x8 stride 4, 32 filters; 4x4 stride 2, 64; 3x3 stride 1, 64;
    'valid' padding, leaky ReLU with slope 0.2, TF's default that the RND code used), flatten,
    linear `feature_size` (512). f_hat = the same convolutions (own weights), flatten, 2 x
    dense `predictor_hidden_units` (512) ReLU, linear `feature_size`;
  * vectors (the Ant's state): f = `mlp_units` dense leaky-ReLU layers, linear
    `feature_size`; f_hat = the same layers, then the 2 extra ReLU layers, linear output.

Input x. Images: the last frame of the policy observation (the last `frame_channels`
channels: with `frame_stack` k the curiosity wrapper puts the newest frame last), converted to
one grey channel if it has 3 (ITU-R 601 luminance, `tf.image.rgb_to_grayscale`), optionally
resized to `image_size`, on the 0..255 pixel scale. The paper used the last grey 84 x 84 frame;
here the frame is the policy's (84 x 84 at paper scale). Vectors: the observation itself.

Observation normalisation, as published: x is whitened per element by a running mean and
variance of all inputs seen so far, (x - mean) / sqrt(var + 1e-8), and clipped to
[-`observation_clip`, `observation_clip`] = [-5, 5]. The statistics are updated once per
rollout with its T x N observations `observations[1:]` (parallel mean/variance update) in
`update`, *after* the bonus was computed and before the predictor trains, as in the RND code
(its bonus used the statistics of the previous rollouts, its predictor the updated ones). The
paper initialised them by stepping a uniformly random agent for a small number of steps
before training; here they are initialised from the first rollout the method sees (its policy is
still close to random): its first `compute_bonus` fills them from that rollout, and the
following `update` does not add those observations a second time.

Bonus. Step t's raw bonus is the prediction error on the observation that step returned,
e_t = mean over the `feature_size` outputs of (f_hat(x_{t+1}) - f(x_{t+1}))^2 (the mean, as the
RND code's `reduce_mean`; sum = `feature_size` x mean). It is divided by the running standard
deviation of the discounted intrinsic return R_t = gamma_int R_{t-1} + e_t (gamma_int =
`intrinsic_gamma` = 0.99), tracked per env across rollouts and never reset at episode ends
(the paper's non-episodic intrinsic return); that deviation's running statistics include the
rollout's own returns (updated before dividing, as in the RND code). A step that ends an
episode (SAME_STEP auto-reset) returned the next episode's first observation, so its bonus is
that first observation's novelty; as the paper's intrinsic return ignores episode ends, so do
the bonus and the return filter here (the ended episode's last observation is not in the
rollout). `compute_bonus` thus advances the return filter: call it once per rollout (the
interface's protocol). `reset` leaves it alone (nothing of RND is episodic).

Training (`update`): the predictor's own Adam (lr 1e-4 as published, epsilon 1e-8; the RND
code added the predictor's loss to PPO's and shared PPO's Adam, whose learning rate was also
1e-4; no gradient clipping by default, none is applied there as far as we know) minimises the
MSE of f_hat(x) to f(x) on the rollout's T x N observations `observations[1:]` for
`num_epochs` (4) passes, each a shuffle split into `num_minibatches` (4) minibatches, of
which a random `update_proportion` of the samples is used (each sample kept with that
probability, as the RND code's mask; it used 0.25 with 128 envs, the default here is 1.0 for
few envs).

Checkpointed state: the target's and predictor's weights, the Adam state and the observation
normaliser (non-trainable float64 variables, `variable_groups`), the return filter and its
running statistics, the shuffling generator and the counters (`state_attributes`).
"""

from __future__ import annotations

import math
from typing import Sequence

import gin
import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf

from episodic_curiosity.intrinsic import base

_OBSERVATION_EPSILON = 1e-8  # added to the observation variance before its square root
_RETURN_EPSILON = 1e-8  # ... and to the return variance
_CONV_LAYERS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))  # filters, kernel, stride (the paper's torso)
_LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default, used by the RND code


def _conv_output_size(size: int) -> int:
    """Height (or width) after the three 'valid' convolutions (<= 0: the input is too small)."""
    for _, kernel, stride in _CONV_LAYERS:
        if size < kernel:
            return 0
        size = (size - kernel) // stride + 1
    return size


class _Seeds:
    """Distinct initialiser seeds drawn from one seed."""

    def __init__(self, seed: int):
        self._rng = np.random.default_rng([int(seed), 0x52D])  # RND's own stream of the run seed

    def next(self) -> int:
        return int(self._rng.integers(0, 2**31 - 1))


def _orthogonal(seeds: _Seeds):
    return keras.initializers.Orthogonal(gain=math.sqrt(2.0), seed=seeds.next())


class RunningMeanStd:
    """Mean and (population) variance of all values seen, from per-batch moments (the parallel
    form of Welford's update); count 0 until the first batch, which sets them exactly."""

    def __init__(self):
        self.mean, self.var, self.count = 0.0, 1.0, 0

    def update(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float64).reshape(-1)
        if not len(values):
            return
        batch_mean, batch_var, batch_count = float(values.mean()), float(values.var()), len(values)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        m2 = self.var * self.count + batch_var * batch_count + delta * delta * self.count * batch_count / total
        self.mean = self.mean + delta * batch_count / total
        self.var = m2 / total
        self.count = total

    def state(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def restore(self, state: dict) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), int(state["count"])


@gin.configurable(denylist=["setup"])
class RndBonus(base.IntrinsicReward):
    """The predictor's error on a fixed random network's output as the bonus (module doc)."""

    name = "rnd"
    trains_on_rollouts = True

    def __init__(
        self,
        setup: base.Setup,
        feature_size: int = 512,
        predictor_hidden_units: int = 512,
        mlp_units: Sequence[int] = (256, 256),
        frame_channels: int | None = None,
        image_size: Sequence[int] | None = None,
        observation_clip: float = 5.0,
        intrinsic_gamma: float = 0.99,
        learning_rate: float = 1e-4,
        adam_epsilon: float = 1e-8,
        max_grad_norm: float | None = None,
        num_epochs: int = 4,
        num_minibatches: int = 4,
        update_proportion: float = 1.0,
    ):
        """Args:
        setup: base.Setup (spaces, N and seed).
        feature_size: int, outputs of f and f_hat (512 in the paper).
        predictor_hidden_units: int, width of f_hat's 2 extra ReLU layers (512).
        mlp_units: sequence of int, the dense leaky-ReLU layers of both networks for vector
          observations (not in the paper, which had only images).
        frame_channels: int or None, channels of one frame of an image observation; its last
          frame is the last that many channels. None: 3 if the channel count is a multiple of
          3 (RGB, possibly stacked), else 1 (set 1 for 3 stacked grey frames).
        image_size: (h, w) or None, the last frame is resized to this (bilinear) before the
          networks; None keeps the policy's size. The convolutions need at least 36 x 36.
        observation_clip: float, the normalised input is clipped to [-clip, clip] (5).
        intrinsic_gamma: float in [0, 1), discount of the intrinsic return whose running
          standard deviation divides the bonus (0.99).
        learning_rate: float, the predictor's Adam step size (1e-4).
        adam_epsilon: float, its Adam epsilon.
        max_grad_norm: float or None, global-norm clipping of the predictor's gradients
          (None: none, as in the RND code).
        num_epochs: int, passes over the rollout per update (4).
        num_minibatches: int, minibatches per pass (4).
        update_proportion: float in (0, 1], probability that a minibatch sample is trained on
          (the paper: 0.25 with 128 envs).
        """
        super().__init__(setup)
        space = setup.observation_space
        errors = []
        is_box = isinstance(space, gym.spaces.Box) and len(space.shape) in (1, 3)
        if not is_box:
            errors.append(f"observation_space must be a Box of images [H, W, C] or vectors [D], got {space}")
        for name, value in (
            ("feature_size", feature_size),
            ("predictor_hidden_units", predictor_hidden_units),
            ("num_epochs", num_epochs),
            ("num_minibatches", num_minibatches),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                errors.append(f"{name}={value!r} (must be an int >= 1)")
        for name, value in (
            ("observation_clip", observation_clip),
            ("learning_rate", learning_rate),
            ("adam_epsilon", adam_epsilon),
        ):
            if not (isinstance(value, (int, float)) and value > 0):
                errors.append(f"{name}={value!r} (must be > 0)")
        if max_grad_norm is not None and not (isinstance(max_grad_norm, (int, float)) and max_grad_norm > 0):
            errors.append(f"max_grad_norm={max_grad_norm!r} (must be > 0 or None)")
        if not (isinstance(intrinsic_gamma, (int, float)) and 0.0 <= intrinsic_gamma < 1.0):
            errors.append(f"intrinsic_gamma={intrinsic_gamma!r} (must be in [0, 1))")
        if not (isinstance(update_proportion, (int, float)) and 0.0 < update_proportion <= 1.0):
            errors.append(f"update_proportion={update_proportion!r} (must be in (0, 1])")
        mlp_units = tuple(mlp_units)
        if any(isinstance(u, bool) or not isinstance(u, (int, np.integer)) or u < 1 for u in mlp_units):
            errors.append(f"mlp_units={mlp_units!r} (must be ints >= 1)")
        self.is_image = is_box and len(space.shape) == 3
        if is_box and self.is_image:
            height, width, channels = (int(d) for d in space.shape)
            if frame_channels is None:
                frame_channels = 3 if channels % 3 == 0 else 1
            if frame_channels not in (1, 3) or channels % frame_channels:
                errors.append(
                    f"frame_channels={frame_channels!r} (must be 1 or 3 and divide the observation's "
                    f"{channels} channels)"
                )
            if image_size is not None:
                image_size = tuple(image_size)
                if len(image_size) != 2 or any(
                    isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in image_size
                ):
                    errors.append(f"image_size={image_size!r} (must be (height, width) or None)")
                else:
                    height, width = (int(d) for d in image_size)
            if min(_conv_output_size(height), _conv_output_size(width)) < 1:
                errors.append(
                    f"RND's convolutions need images of at least 36 x 36, got {height} x {width} "
                    "(set RndBonus.image_size, e.g. (84, 84))"
                )
            self.input_shape = (height, width, 1)
        elif is_box:
            if not mlp_units:
                errors.append("mlp_units must name at least one layer for vector observations")
            self.input_shape = (int(space.shape[0]),)
        if errors:
            raise ValueError("bad RndBonus settings: " + "; ".join(errors))
        self.observation_shape = tuple(int(d) for d in space.shape)
        self.observation_dtype = np.dtype(space.dtype)
        self.frame_channels = int(frame_channels) if self.is_image else None
        self.image_size = None if image_size is None else tuple(int(d) for d in image_size)
        self.observation_clip = float(observation_clip)
        self.intrinsic_gamma = float(intrinsic_gamma)
        self.max_grad_norm = None if max_grad_norm is None else float(max_grad_norm)
        self.num_epochs = int(num_epochs)
        self.num_minibatches = int(num_minibatches)
        self.update_proportion = float(update_proportion)

        seeds = _Seeds(setup.seed)
        self.target = self._build_network("rnd_target", int(feature_size), mlp_units, 0, seeds)
        self.target.trainable = False
        self.predictor = self._build_network(
            "rnd_predictor", int(feature_size), mlp_units, int(predictor_hidden_units), seeds
        )
        self.optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate), epsilon=float(adam_epsilon))
        self.optimizer.build(self.predictor.trainable_variables)  # slots exist before a checkpoint loads
        self.observation_mean = tf.Variable(
            tf.zeros(self.input_shape, tf.float64), trainable=False, name="rnd_observation_mean"
        )
        self.observation_var = tf.Variable(
            tf.ones(self.input_shape, tf.float64), trainable=False, name="rnd_observation_var"
        )
        self.observation_count = tf.Variable(
            tf.constant(0.0, tf.float64), trainable=False, name="rnd_observation_count"
        )

        self.return_filter = np.zeros(self.num_envs)  # discounted intrinsic return per env
        self.return_stats = RunningMeanStd()
        self.trainings = 0
        # rows of the next update's observations[1:] that the first compute_bonus already counted
        self._rows_counted_ahead = 0
        self._rng = np.random.default_rng([int(setup.seed), 0x52D, 1])
        self.last_loss = math.nan
        self.last_bonus = {"mean": math.nan, "std": math.nan, "raw_mean": math.nan}
        self._pending_bonus = dict(self.last_bonus)  # of the last compute_bonus, logged at update

        signature = [tf.TensorSpec([None, *self.observation_shape], tf.as_dtype(self.observation_dtype))]
        self._error_fn = tf.function(self._prediction_error, input_signature=signature)
        self._inputs_fn = tf.function(self._preprocess, input_signature=signature)
        self._stats_fn = tf.function(self._update_observation_stats, input_signature=signature)
        self._train_fn = tf.function(self._train_step, input_signature=signature)

    # Networks --------------------------------------------------------------------------------

    def _build_network(
        self, name: str, feature_size: int, mlp_units: Sequence[int], extra_units: int, seeds: _Seeds
    ) -> keras.Model:
        """f (extra_units 0) or f_hat (2 extra ReLU layers of extra_units) on normalised inputs."""

        def leaky(index):
            return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"{name}_leaky{index}")

        inputs = keras.Input(shape=self.input_shape, dtype="float32", name=f"{name}_input")
        hidden = inputs
        if self.is_image:
            for index, (filters, kernel, stride) in enumerate(_CONV_LAYERS, start=1):
                hidden = keras.layers.Conv2D(
                    filters,
                    kernel,
                    strides=stride,
                    padding="valid",
                    kernel_initializer=_orthogonal(seeds),
                    name=f"{name}_conv{index}",
                )(hidden)
                hidden = leaky(index)(hidden)
            hidden = keras.layers.Flatten(name=f"{name}_flatten")(hidden)
        else:
            for index, units in enumerate(mlp_units, start=1):
                hidden = keras.layers.Dense(
                    int(units), kernel_initializer=_orthogonal(seeds), name=f"{name}_fc{index}"
                )(hidden)
                hidden = leaky(index)(hidden)
        if extra_units:
            for index in (1, 2):
                hidden = keras.layers.Dense(
                    extra_units, activation="relu", kernel_initializer=_orthogonal(seeds), name=f"{name}_hidden{index}"
                )(hidden)
        outputs = keras.layers.Dense(feature_size, kernel_initializer=_orthogonal(seeds), name=f"{name}_output")(hidden)
        return keras.Model(inputs, outputs, name=name)

    # Graph functions -------------------------------------------------------------------------

    def _preprocess(self, observations):
        """Observations [B, ...] -> network inputs before normalisation, float32 [B, *input_shape]."""
        inputs = tf.cast(observations, tf.float32)
        if self.is_image:
            inputs = inputs[..., -self.frame_channels :]
            if self.frame_channels == 3:
                inputs = tf.image.rgb_to_grayscale(inputs)
            if self.image_size is not None:
                inputs = tf.image.resize(inputs, self.image_size, method="bilinear")
        return inputs

    def _normalised(self, observations):
        inputs = self._preprocess(observations)
        mean = tf.cast(self.observation_mean, tf.float32)
        std = tf.sqrt(tf.cast(self.observation_var, tf.float32) + _OBSERVATION_EPSILON)
        return tf.clip_by_value((inputs - mean) / std, -self.observation_clip, self.observation_clip)

    def _prediction_error(self, observations):
        inputs = self._normalised(observations)
        difference = self.predictor(inputs, training=False) - self.target(inputs, training=False)
        return tf.reduce_mean(tf.square(difference), axis=-1)

    def _update_observation_stats(self, observations):
        inputs = tf.cast(self._preprocess(observations), tf.float64)
        batch_count = tf.cast(tf.shape(inputs)[0], tf.float64)
        batch_mean = tf.reduce_mean(inputs, axis=0)
        batch_var = tf.reduce_mean(tf.square(inputs - batch_mean), axis=0)
        count = self.observation_count
        total = count + batch_count
        delta = batch_mean - self.observation_mean
        m2 = self.observation_var * count + batch_var * batch_count + tf.square(delta) * count * batch_count / total
        self.observation_mean.assign_add(delta * batch_count / total)
        self.observation_var.assign(m2 / total)
        self.observation_count.assign(total)
        return total

    def _train_step(self, observations):
        inputs = self._normalised(observations)
        targets = self.target(inputs, training=False)
        variables = self.predictor.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.predictor(inputs, training=True) - targets))
        gradients = tape.gradient(loss, variables)
        if self.max_grad_norm is not None:
            gradients, _ = tf.clip_by_global_norm(gradients, self.max_grad_norm)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return loss

    # Numpy in, numpy out ---------------------------------------------------------------------

    def _check(self, observations) -> np.ndarray:
        observations = np.asarray(observations)
        if tuple(observations.shape[1:]) != self.observation_shape:
            expected = ", ".join(map(str, self.observation_shape))
            raise ValueError(f"RND observations must have shape [B, {expected}], got {list(observations.shape)}")
        return observations.astype(self.observation_dtype, copy=False)

    def network_inputs(self, observations) -> np.ndarray:
        """The networks' inputs before normalisation (last grey frame, or the vector), float32."""
        return self._inputs_fn(self._check(observations)).numpy()

    def prediction_error(self, observations) -> np.ndarray:
        """Raw bonus e of observations [B, ...]: float32 [B], with the current normaliser; no state changes."""
        return self._error_fn(self._check(observations)).numpy()

    def update_observation_statistics(self, observations) -> None:
        """Adds observations [B, ...] to the observation normaliser."""
        observations = self._check(observations)
        if len(observations):
            self._stats_fn(observations)

    def observation_statistics(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(mean, var, count) of the observation normaliser."""
        return (self.observation_mean.numpy(), self.observation_var.numpy(), int(self.observation_count.numpy()))

    @staticmethod
    def _next_observations(rollout: base.Rollout) -> np.ndarray:
        """observations[1:] flattened time-major: [T * N, ...]."""
        observations = np.asarray(rollout.observations)[1:]
        return observations.reshape(-1, *observations.shape[2:])

    # The interface ---------------------------------------------------------------------------

    def reset(self) -> None:
        # Rows of a first rollout already in the observation statistics belong to steps a reset
        # drops (the per-step wrapper's buffer); the return filter is non-episodic and stays.
        self._rows_counted_ahead = 0

    def compute_bonus(self, rollout: base.Rollout) -> np.ndarray:
        if rollout.num_envs != self.num_envs:
            raise ValueError(f"RND was built for {self.num_envs} envs, the rollout has {rollout.num_envs}")
        next_observations = self._check(self._next_observations(rollout))
        if float(self.observation_count.numpy()) == 0.0 and len(next_observations):
            self.update_observation_statistics(next_observations)  # stands in for the random agent's steps
            self._rows_counted_ahead = len(next_observations)
        raw = self.prediction_error(next_observations).astype(np.float64)
        raw = raw.reshape(rollout.num_steps, rollout.num_envs)
        returns = np.empty_like(raw)
        for t in range(rollout.num_steps):  # non-episodic: dones are ignored
            self.return_filter = self.intrinsic_gamma * self.return_filter + raw[t]
            returns[t] = self.return_filter
        self.return_stats.update(returns)
        bonus = raw / math.sqrt(self.return_stats.var + _RETURN_EPSILON)
        if bonus.size:
            self._pending_bonus = {
                "mean": float(bonus.mean()),
                "std": float(bonus.std()),
                "raw_mean": float(raw.mean()),
            }
        return bonus

    def update(self, rollout: base.Rollout) -> dict[str, float]:
        observations = self._check(self._next_observations(rollout))
        # The first rollout is in the statistics already (a rollout the per-step wrapper
        # buffered: its first step is).
        self.update_observation_statistics(observations[self._rows_counted_ahead :])
        self._rows_counted_ahead = 0
        losses = []
        for chunk in base.shuffled_minibatches(self._rng, len(observations), self.num_epochs, self.num_minibatches):
            if self.update_proportion < 1.0:
                chunk = chunk[self._rng.random(len(chunk)) < self.update_proportion]
            if len(chunk):
                losses.append(float(self._train_fn(observations[np.sort(chunk)])))
        if losses:
            self.last_loss = float(np.mean(losses))
            self.trainings += 1
        self.last_bonus = dict(self._pending_bonus)
        return {"rnd_loss": self.last_loss}

    def progress_columns(self) -> dict[str, float]:
        """The predictor's mean loss of the last update (also as PPO2's `curiosity_loss`) and the
        last rollout's bonus mean and standard deviation (nan before the first update)."""
        return {
            "curiosity_loss": self.last_loss,
            "rnd_loss": self.last_loss,
            "rnd_bonus_mean": self.last_bonus["mean"],
            "rnd_bonus_std": self.last_bonus["std"],
        }

    def statistics(self) -> dict[str, float]:
        stats = {
            "rnd_loss": self.last_loss,
            "rnd_bonus_mean": self.last_bonus["mean"],
            "rnd_bonus_std": self.last_bonus["std"],
            "rnd_raw_error_mean": self.last_bonus["raw_mean"],
        }
        stats = {key: value for key, value in stats.items() if not math.isnan(value)}
        stats["rnd_trainings"] = float(self.trainings)
        stats["rnd_observation_count"] = float(self.observation_count.numpy())
        if self.return_stats.count:
            stats["rnd_intrinsic_return_std"] = math.sqrt(self.return_stats.var)
        return stats

    def variable_groups(self) -> dict[str, list]:
        return {
            "rnd_target": list(self.target.weights),
            "rnd_predictor": list(self.predictor.weights),
            "rnd_optimizer": list(self.optimizer.variables),
            "rnd_observation_normaliser": [self.observation_mean, self.observation_var, self.observation_count],
        }

    def state_attributes(self) -> dict:
        return {
            "rnd_trainings": self.trainings,
            "rnd_rng_state": self._rng.bit_generator.state,
            "rnd_return_filter": [float(v) for v in self.return_filter],
            "rnd_return_stats": self.return_stats.state(),
            "rnd_rows_counted_ahead": self._rows_counted_ahead,
            "rnd_last_loss": self.last_loss,
            "rnd_last_bonus": self.last_bonus,
            "rnd_pending_bonus": self._pending_bonus,
        }

    def restore_state(self, attributes: dict) -> None:
        return_filter = np.asarray(attributes["rnd_return_filter"], np.float64)
        if return_filter.shape != (self.num_envs,):
            raise ValueError(f"the RND state was saved with {len(return_filter)} envs, this run has {self.num_envs}")
        self.trainings = int(attributes["rnd_trainings"])
        self._rng.bit_generator.state = attributes["rnd_rng_state"]
        self.return_filter = return_filter
        self.return_stats.restore(attributes["rnd_return_stats"])
        self._rows_counted_ahead = int(attributes["rnd_rows_counted_ahead"])
        self.last_loss = float(attributes["rnd_last_loss"])
        self.last_bonus = {key: float(value) for key, value in attributes["rnd_last_bonus"].items()}
        self._pending_bonus = {key: float(value) for key, value in attributes["rnd_pending_bonus"].items()}
