r"""The intrinsic curiosity module (ICM) of Pathak et al. (2017), the EC paper's main baseline.

Networks (Keras 3):

  * feature encoder phi: image observations [H, W, C] are scaled by 1/255, resized to
    `image_size` (42 x 42, bilinear, as in the ICM code and the original's ppo2 ICM option,
    the original code) and passed through 4 x [conv 32 filters 3x3 stride 2 'same', ELU], then
    flattened (42 x 42 -> 3 x 3 x 32 = 288 features); vector observations (the Ant's state)
    go through an MLP, `mlp_feature_units` dense ELU layers (the last one is phi);
  * inverse model: [phi(s), phi(s')] -> dense `hidden_units` -> action logits (Discrete;
    cross-entropy loss) or the action itself (Box; loss 0.5 * squared error summed over the
    action dimensions);
  * forward model: [phi(s), a] -> dense `hidden_units` -> dim phi (a one-hot for Discrete
    actions, the action vector, clipped to the action space, for Box actions);
    the forward loss of one transition is 0.5 * ||phi_hat(s') - phi(s')||^2 (summed over the
    features: the ICM code's 0.5 * mean-square * 288).

The module's loss is (1 - beta) * L_inverse + beta * L_forward (batch means), beta =
`forward_loss_weight` = 0.2. Gradients of both losses reach the encoder, as in the ICM code.
The intrinsic reward of a transition is eta * 0.5 * ||phi_hat(s') - phi(s')||^2 with eta =
`reward_scale` = 0.01 (the ICM code's PREDICTION_BETA and the original's `curiosity_strength`),
clipped to [0, `max_reward`] (the original clipped it to [-1, 1]; it is never negative).

**Own optimizer, not PPO's.** The ICM has its own Adam (lr 1e-3, chosen; gradients clipped to a
global norm of 40) and is trained on each PPO rollout by the `intrinsic.IcmBonus`, with as many
epochs x minibatches as PPO does. The ICM code's step size was ~1e-4, not 10x that: one Adam at
lr 1e-4 updated the policy and the ICM, and its `PREDICTION_LR_SCALE` = 10 multiplies the ICM's
*loss*, which Adam's per-parameter normalisation cancels; it took one step per 20-transition
batch of each A3C worker. Here the ICM takes 16 steps per rollout (one per 96 transitions at
laptop scale, 192 at paper scale), so 1e-3 gives it a step budget per transition of the same
order (not tuned). Its clip of 40 applied after scaling the loss by 10 x 20, i.e. ~0.2 on this
loss, so there it nearly always bound; here it rarely does (global norm ~9 at initialisation).
The original's ppo2 option instead added 10 x the ICM loss to PPO's loss (and multiplied the
total by 20), sharing PPO's Adam, annealed learning rate and 0.5 gradient clipping. Keeping
the optimizers apart keeps PPO unchanged and blind to the ICM, keeps the ICM's learning rate
constant instead of following PPO's annealing, and lets the ICM checkpoint itself as one more
variable group of the policy checkpoint. The policy and the ICM share no weights in
either design (the ICM paper's encoder is separate from the policy's).

    icm = IntrinsicCuriosityModule(observation_space, action_space, seed=0)
    rewards = icm.intrinsic_reward(observations, actions, next_observations)   # numpy [B]
    losses = icm.train_step(observations, actions, next_observations)          # dict of floats
"""

from __future__ import annotations

from typing import Sequence

import gin
import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf


def forward_loss_per_transition(predicted_features: tf.Tensor, features: tf.Tensor) -> tf.Tensor:
    """0.5 * squared distance between predicted and actual next features, per transition.

    Args:
      predicted_features: tf.Tensor float [B, F], the forward model's phi_hat(s').
      features: tf.Tensor float [B, F], phi(s').
    Returns: tf.Tensor float [B].
    """
    return 0.5 * tf.reduce_sum(tf.square(predicted_features - features), axis=-1)


def discrete_inverse_loss(logits: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """Mean cross-entropy of the taken actions under softmax(logits).

    Args:
      logits: tf.Tensor float [B, A], the inverse model's output.
      actions: tf.Tensor int [B], the actions taken.
    Returns: tf.Tensor float scalar.
    """
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(actions, tf.int32), logits=logits)
    )


def continuous_inverse_loss(predicted_actions: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """Mean over the batch of 0.5 * squared error summed over the action dimensions.

    Args:
      predicted_actions: tf.Tensor float [B, D], the inverse model's output.
      actions: tf.Tensor float [B, D], the actions taken.
    Returns: tf.Tensor float scalar.
    """
    return tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(predicted_actions - actions), axis=-1))


def icm_loss(inverse_loss: tf.Tensor, forward_loss: tf.Tensor, forward_loss_weight: float) -> tf.Tensor:
    """(1 - beta) * L_inverse + beta * L_forward.

    Args:
      inverse_loss: tf.Tensor float scalar, L_inverse.
      forward_loss: tf.Tensor float scalar, L_forward (batch mean).
      forward_loss_weight: float, beta in [0, 1].
    Returns: tf.Tensor float scalar.
    """
    return (1.0 - forward_loss_weight) * inverse_loss + forward_loss_weight * forward_loss


def intrinsic_reward_from_features(
    predicted_features: tf.Tensor, features: tf.Tensor, reward_scale: float, max_reward: float
) -> tf.Tensor:
    """eta / 2 * ||phi_hat(s') - phi(s')||^2, clipped to [0, max_reward].

    Args:
      predicted_features: tf.Tensor float [B, F], phi_hat(s').
      features: tf.Tensor float [B, F], phi(s').
      reward_scale: float, eta.
      max_reward: float, upper clip.
    Returns: tf.Tensor float [B].
    """
    reward = reward_scale * forward_loss_per_transition(predicted_features, features)
    return tf.clip_by_value(reward, 0.0, max_reward)


class _Seeds:
    """Distinct initialiser seeds drawn from one seed."""

    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)

    def next(self) -> int:
        return int(self._rng.integers(0, 2**31 - 1))


@gin.configurable(denylist=["observation_space", "action_space"])
class IntrinsicCuriosityModule:
    """Encoder, inverse and forward models, their loss, optimizer and reward; see the module doc.

    `trainable_variables` order (fixed, used by checkpoints): encoder, inverse model, forward
    model, each in Keras layer order.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        action_space: gym.Space,
        image_size: Sequence[int] | None = (42, 42),
        conv_layers: int = 4,
        conv_filters: int = 32,
        mlp_feature_units: Sequence[int] = (256, 256),
        hidden_units: int = 256,
        hidden_activation: str = "relu",
        forward_loss_weight: float = 0.2,
        reward_scale: float = 0.01,
        max_reward: float = 1.0,
        learning_rate: float = 1e-3,
        adam_epsilon: float = 1e-8,
        max_grad_norm: float = 40.0,
        seed: int = 0,
    ):
        """Args:
        observation_space: gym.spaces.Box, the policy observation: [H, W, C] images (uint8,
          0..255) or 1-d vectors (float).
        action_space: gym.Space, Discrete or 1-d Box.
        image_size: (h, w) or None, images are resized to this before the convolutions
          (None: keep the observation's size).
        conv_layers: int, 3x3 stride-2 'same' ELU convolutions of the image encoder.
        conv_filters: int, filters of each of them.
        mlp_feature_units: sequence of int, dense ELU layers of the vector encoder; the last
          width is the feature size.
        hidden_units: int, width of the hidden layer of the inverse and forward models.
        hidden_activation: str, its Keras activation ('relu' in the ICM code and the
          original's ppo2 option).
        forward_loss_weight: float, beta: loss = (1 - beta) * inverse + beta * forward.
        reward_scale: float, eta: reward = eta / 2 * ||phi_hat(s') - phi(s')||^2.
        max_reward: float, the reward is clipped to [0, max_reward].
        learning_rate: float, the ICM's Adam step size.
        adam_epsilon: float, the ICM's Adam epsilon (TF1's default, which the ICM code used).
        max_grad_norm: float, global-norm gradient clipping of the ICM's updates.
        seed: int, seeds the weight initialisers.
        """
        errors = []
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) not in (1, 3):
            errors.append(
                f"observation_space must be a Box of images [H, W, C] or vectors [D], got {observation_space}"
            )
        discrete = isinstance(action_space, gym.spaces.Discrete)
        if not discrete and not (isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1):
            errors.append(f"action_space must be Discrete or a 1-d Box, got {action_space}")
        if not 0.0 <= forward_loss_weight <= 1.0:
            errors.append(f"forward_loss_weight={forward_loss_weight!r} (must be in [0, 1])")
        for name, value in (
            ("reward_scale", reward_scale),
            ("max_reward", max_reward),
            ("learning_rate", learning_rate),
            ("max_grad_norm", max_grad_norm),
        ):
            if not value > 0:
                errors.append(f"{name}={value!r} (must be > 0)")
        if errors:
            raise ValueError("bad ICM settings: " + "; ".join(errors))
        self.observation_space = observation_space
        self.action_space = action_space
        self.discrete = discrete
        self.forward_loss_weight = float(forward_loss_weight)
        self.reward_scale = float(reward_scale)
        self.max_reward = float(max_reward)
        self.max_grad_norm = float(max_grad_norm)
        self.num_actions = int(action_space.n) if discrete else int(action_space.shape[0])
        if not discrete:
            self._action_low = np.asarray(action_space.low, np.float32)
            self._action_high = np.asarray(action_space.high, np.float32)
        seeds = _Seeds(seed)
        self.encoder = _build_encoder(
            observation_space, image_size, conv_layers, conv_filters, mlp_feature_units, seeds
        )
        self.feature_size = int(self.encoder.output.shape[-1])
        self.inverse_model = _build_head(
            2 * self.feature_size, hidden_units, hidden_activation, self.num_actions, seeds, "inverse_model"
        )
        self.forward_model = _build_head(
            self.feature_size + self.num_actions,
            hidden_units,
            hidden_activation,
            self.feature_size,
            seeds,
            "forward_model",
        )
        self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate, epsilon=adam_epsilon)
        self.optimizer.build(self.trainable_variables)  # slots exist before a checkpoint is loaded
        observation_spec = tf.TensorSpec([None, *observation_space.shape], tf.as_dtype(observation_space.dtype))
        action_spec = (
            tf.TensorSpec([None], tf.int64) if discrete else tf.TensorSpec([None, self.num_actions], tf.float32)
        )
        signature = [observation_spec, action_spec, observation_spec]
        self._reward_fn = tf.function(self._reward, input_signature=signature)
        self._train_fn = tf.function(self._train_step, input_signature=signature)
        self._losses_fn = tf.function(self._losses, input_signature=signature)

    @property
    def trainable_variables(self) -> list:
        return (
            list(self.encoder.trainable_variables)
            + list(self.inverse_model.trainable_variables)
            + list(self.forward_model.trainable_variables)
        )

    # Numpy in, numpy out ---------------------------------------------------------------------

    def intrinsic_reward(self, observations, actions, next_observations) -> np.ndarray:
        """The intrinsic reward [B] float32 of transitions (s, a, s')."""
        return self._reward_fn(*self._inputs(observations, actions, next_observations)).numpy()

    def losses(self, observations, actions, next_observations) -> dict[str, float]:
        """Batch-mean 'forward_loss', 'inverse_loss' and 'loss' without training."""
        values = self._losses_fn(*self._inputs(observations, actions, next_observations))
        return {key: float(value) for key, value in values.items()}

    def train_step(self, observations, actions, next_observations) -> dict[str, float]:
        """One Adam step on a minibatch of transitions; returns its losses (before the step)."""
        values = self._train_fn(*self._inputs(observations, actions, next_observations))
        return {key: float(value) for key, value in values.items()}

    # Internals -------------------------------------------------------------------------------

    def _inputs(self, observations, actions, next_observations):
        dtype = self.observation_space.dtype
        observations = np.asarray(observations).astype(dtype, copy=False)
        next_observations = np.asarray(next_observations).astype(dtype, copy=False)
        expected = tuple(self.observation_space.shape)
        for name, value in (("observations", observations), ("next_observations", next_observations)):
            if tuple(value.shape[1:]) != expected:
                raise ValueError(
                    f"ICM {name} must have shape [B, {', '.join(map(str, expected))}], got {list(value.shape)}"
                )
        if self.discrete:
            actions = np.asarray(actions).astype(np.int64, copy=False).reshape(-1)
        else:
            actions = np.clip(
                np.asarray(actions, np.float32).reshape(-1, self.num_actions), self._action_low, self._action_high
            )
        if not len(observations) == len(actions) == len(next_observations):
            raise ValueError(
                f"ICM batch sizes differ: {len(observations)} observations, {len(actions)} "
                f"actions, {len(next_observations)} next observations"
            )
        return observations, actions, next_observations

    def _action_input(self, actions: tf.Tensor) -> tf.Tensor:
        if self.discrete:
            return tf.one_hot(actions, self.num_actions, dtype=tf.float32)
        return actions

    def _predict(self, observations, actions, next_observations):
        """(phi(s'), phi_hat(s'), inverse output) of a batch."""
        batch = tf.shape(observations)[0]
        features = self.encoder(tf.concat([observations, next_observations], axis=0))
        features_now, features_next = features[:batch], features[batch:]
        inverse_output = self.inverse_model(tf.concat([features_now, features_next], axis=-1))
        predicted_next = self.forward_model(tf.concat([features_now, self._action_input(actions)], axis=-1))
        return features_next, predicted_next, inverse_output

    def _reward(self, observations, actions, next_observations):
        features_next, predicted_next, _ = self._predict(observations, actions, next_observations)
        return intrinsic_reward_from_features(predicted_next, features_next, self.reward_scale, self.max_reward)

    def _losses(self, observations, actions, next_observations):
        features_next, predicted_next, inverse = self._predict(observations, actions, next_observations)
        forward = tf.reduce_mean(forward_loss_per_transition(predicted_next, features_next))
        if self.discrete:
            inverse = discrete_inverse_loss(inverse, actions)
        else:
            inverse = continuous_inverse_loss(inverse, actions)
        return {
            "forward_loss": forward,
            "inverse_loss": inverse,
            "loss": icm_loss(inverse, forward, self.forward_loss_weight),
        }

    def _train_step(self, observations, actions, next_observations):
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            losses = self._losses(observations, actions, next_observations)
        gradients = tape.gradient(losses["loss"], variables)
        gradients, _ = tf.clip_by_global_norm(gradients, self.max_grad_norm)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return losses


def _build_encoder(
    observation_space: gym.spaces.Box,
    image_size,
    conv_layers: int,
    conv_filters: int,
    mlp_feature_units: Sequence[int],
    seeds: _Seeds,
) -> keras.Model:
    """phi: observations [B, ...] (the space's dtype) -> features [B, F] float32."""
    inputs = keras.Input(shape=observation_space.shape, dtype=str(observation_space.dtype), name="observations")
    if len(observation_space.shape) == 3:
        hidden = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)  # casts to float32
        if image_size is not None:
            hidden = keras.layers.Resizing(
                int(image_size[0]), int(image_size[1]), interpolation="bilinear", name="resize"
            )(hidden)
        for index in range(1, conv_layers + 1):
            hidden = keras.layers.Conv2D(
                conv_filters,
                3,
                strides=2,
                padding="same",
                activation="elu",
                kernel_initializer=keras.initializers.GlorotUniform(seeds.next()),
                name=f"conv{index}",
            )(hidden)
        features = keras.layers.Flatten(name="features")(hidden)
    else:
        if not mlp_feature_units:
            raise ValueError("mlp_feature_units must name at least one layer for vector observations")
        hidden = keras.ops.cast(inputs, "float32")
        for index, units in enumerate(mlp_feature_units, start=1):
            initializer = keras.initializers.GlorotUniform(seeds.next())
            hidden = keras.layers.Dense(units, activation="elu", kernel_initializer=initializer, name=f"fc{index}")(
                hidden
            )
        features = hidden
    return keras.Model(inputs, features, name="icm_encoder")


def _build_head(
    input_size: int, hidden_units: int, activation: str, output_size: int, seeds: _Seeds, name: str
) -> keras.Model:
    """dense `hidden_units` (`activation`) -> linear `output_size`."""
    inputs = keras.Input(shape=(input_size,), dtype="float32", name=f"{name}_input")
    hidden = keras.layers.Dense(
        hidden_units,
        activation=activation,
        name=f"{name}_hidden",
        kernel_initializer=keras.initializers.GlorotUniform(seeds.next()),
    )(inputs)
    outputs = keras.layers.Dense(
        output_size, name=f"{name}_output", kernel_initializer=keras.initializers.GlorotUniform(seeds.next())
    )(hidden)
    return keras.Model(inputs, outputs, name=name)
