"""Actor-critic policies for PPO: the Nature-DQN CNN and the two-tower MLP (the original code).

    policy = ActorCritic("cnn", env.observation_space, env.action_space, seed=0)
    actions, values, neglogps = policy.step(observations)       # numpy, sampled
    values = policy.value(observations)                          # numpy
    neglogp, entropy, values = policy.evaluate(observations, actions)  # TF tensors, for the loss

Architectures:

* ``'cnn'`` (Discrete actions): input HxWxC (uint8, or float on the same 0..255 scale), scaled
  by 1/255 inside the model; conv 32 8x8/4, conv 64 4x4/2, conv 64 3x3/1 (valid, ReLU);
  flatten; FC 512 ReLU; linear policy-logits head and linear value head on the shared torso.
  Hidden layers: orthogonal init with gain sqrt(2); logits head gain 0.01; value head gain 1;
  all biases zero.
* ``'cnn_small'`` (Discrete actions): the encoder the ICM paper (Pathak et al. 2017) used for
  its 42x42 VizDoom frames: 4 x conv 32 3x3/2 ('same' padding, ELU), flatten, FC 256 ReLU,
  the same two heads and initialisers as ``'cnn'``. The Nature CNN's 8x8/4 first layer leaves a
  42x42 frame 1x1 after its third conv; this keeps a 3x3 map. The laptop scale's policy.
* ``'mlp'``: separate policy and value towers, each 2 x FC 64 tanh (orthogonal sqrt(2)),
  linear value head (gain 1). Box actions: diagonal Gaussian, mean from a linear layer
  (gain 0.01) and a state-independent log-std variable initialised to 0. Discrete actions:
  categorical over the logits of a linear layer (gain 0.01). Observations are flattened and
  cast to float32 (no scaling).

Precision: `compute_dtype='float32'` (default) computes everything in float32. The opt-in
`'bfloat16'` (or `'auto'`: bf16 where the hardware computes it natively) runs the hidden layers
(convs, FC torso, MLP hidden layers) under Keras' `mixed_bfloat16` policy: float32 weights (the
same variables, checkpoints and optimizer), bf16 products; the logits / mean and value heads and
everything after them stay float32. It changes the numbers (measured error: README, "Benchmarks")
and roughly halves the PPO update's time on a CPU with AMX / AVX512-BF16.

Observations reach the model in the env's dtype (uint8 images stay uint8 until the model's
first layer). `step` and `value` run in `tf.function`s with a `None` batch dimension, so any
batch size reuses one trace. Sampling uses a `tf.random.Generator` seeded from `seed`; the
weights are initialised from `seed` too, so equal seeds give equal policies and actions.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf

ARCHITECTURES = ("cnn", "cnn_small", "mlp")
IMAGE_ARCHITECTURES = ("cnn", "cnn_small")
_HIDDEN_GAIN = math.sqrt(2.0)
_POLICY_HEAD_GAIN = 0.01
_VALUE_HEAD_GAIN = 1.0
_MLP_HIDDEN_UNITS = (64, 64)
_CNN_CONVOLUTIONS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))  # (filters, kernel, stride)
_CNN_FC_UNITS = 512
_SMALL_CNN_CONVOLUTIONS = ((32, 3, 2),) * 4  # (filters, kernel, stride), 'same' padding, ELU
_SMALL_CNN_FC_UNITS = 256
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class _SeedStream:
    """Hands out distinct integer seeds for the layer initialisers, derived from one seed."""

    def __init__(self, seed: int):
        self._sequence = np.random.SeedSequence(seed)

    def next(self) -> int:
        (child,) = self._sequence.spawn(1)
        return int(child.generate_state(1)[0] % (2**31 - 1))


COMPUTE_DTYPES = ("float32", "bfloat16", "auto")


def _hidden_dtype_policy(compute_dtype: str) -> str:
    """The Keras dtype policy of the hidden layers for a resolved compute dtype."""
    return "mixed_bfloat16" if compute_dtype == "bfloat16" else "float32"


def _dense(units: int, gain: float, seeds: _SeedStream, activation: str | None, name: str, dtype: str = "float32"):
    return keras.layers.Dense(
        units,
        activation=activation,
        name=name,
        dtype=dtype,
        kernel_initializer=keras.initializers.Orthogonal(gain=gain, seed=seeds.next()),
        bias_initializer="zeros",
    )


def categorical_neglogp(logits: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """-log p(action) under softmax(logits).

    Args:
      logits: tf.Tensor float [B, A], unnormalised log-probabilities.
      actions: tf.Tensor int [B], chosen actions.
    Returns: tf.Tensor float [B].
    """
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=actions, logits=logits)


def categorical_entropy(logits: tf.Tensor) -> tf.Tensor:
    """Entropy of softmax(logits), per row.

    Args:
      logits: tf.Tensor float [B, A].
    Returns: tf.Tensor float [B].
    """
    log_probabilities = tf.nn.log_softmax(logits, axis=-1)
    return -tf.reduce_sum(tf.exp(log_probabilities) * log_probabilities, axis=-1)


def gaussian_neglogp(mean: tf.Tensor, log_std: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """-log density of `actions` under the diagonal Gaussian N(mean, exp(log_std)^2).

    Args:
      mean: tf.Tensor float [B, D].
      log_std: tf.Tensor float [D] (or [B, D]).
      actions: tf.Tensor float [B, D].
    Returns: tf.Tensor float [B].
    """
    standardized = (actions - mean) * tf.exp(-log_std)
    dimensions = tf.cast(tf.shape(mean)[-1], mean.dtype)
    return (
        0.5 * tf.reduce_sum(tf.square(standardized), axis=-1)
        + _HALF_LOG_2PI * dimensions
        + tf.reduce_sum(log_std * tf.ones_like(mean), axis=-1)
    )


def gaussian_entropy(mean: tf.Tensor, log_std: tf.Tensor) -> tf.Tensor:
    """Entropy of the diagonal Gaussian with log std `log_std`, one value per row of `mean`.

    Args:
      mean: tf.Tensor float [B, D] (only its shape is used).
      log_std: tf.Tensor float [D] (or [B, D]).
    Returns: tf.Tensor float [B].
    """
    return tf.reduce_sum(log_std * tf.ones_like(mean) + (0.5 + _HALF_LOG_2PI), axis=-1)


class ActorCritic:
    """A policy (categorical or diagonal-Gaussian) and a value function; see the module doc.

    `trainable_variables` order (fixed, used by checkpoints):
      * cnn: conv1 kernel, bias, conv2 kernel, bias, conv3 kernel, bias, fc kernel, bias,
        policy-logits kernel, bias, value kernel, bias;
      * cnn_small: the same with four convs;
      * mlp: policy tower fc1 kernel, bias, fc2 kernel, bias, policy head (logits or mean)
        kernel, bias, [log_std, Box actions only], value tower fc1 kernel, bias, fc2 kernel,
        bias, value head kernel, bias.
    """

    def __init__(
        self,
        architecture: str,
        observation_space: gym.Space,
        action_space: gym.Space,
        seed: int = 0,
        compute_dtype: str = "float32",
    ):
        """Args:
        architecture: str, 'cnn' or 'cnn_small' (Discrete actions, image observations) or 'mlp'.
        observation_space: gym.Space, a Box; HxWxC for 'cnn'.
        action_space: gym.Space, Discrete ('cnn', 'mlp') or 1-d Box ('mlp').
        seed: int, seeds the weight initialisers and the action sampler.
        compute_dtype: str, 'float32' (default), or the opt-in 'bfloat16' / 'auto' for the
          hidden layers (see the module doc); the weights are float32 either way.
        """
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown policy architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
        if compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"policy compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {compute_dtype!r}")
        _check_spaces(architecture, observation_space, action_space)
        from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top

        # The same rule as the R-network's opt-in: 'auto' is bf16 on a GPU or a CPU with bf16 dot products.
        self.compute_dtype = r_network.resolve_inference_dtype(compute_dtype)
        hidden_dtype = _hidden_dtype_policy(self.compute_dtype)
        self._architecture = architecture
        self.observation_space = observation_space
        self.action_space = action_space
        self.seed = int(seed)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        self.observation_spec = tf.TensorSpec(
            [None, *observation_space.shape], tf.as_dtype(observation_space.dtype), name="observations"
        )
        if self.discrete:
            self.action_spec = tf.TensorSpec([None], tf.int64, name="actions")
        else:
            self.action_spec = tf.TensorSpec([None, action_space.shape[0]], tf.float32, name="actions")
        seeds = _SeedStream(self.seed)
        self.log_std = None
        if architecture in IMAGE_ARCHITECTURES:
            self.model = _build_cnn(
                observation_space,
                int(action_space.n),
                seeds,
                small=architecture == "cnn_small",
                hidden_dtype=hidden_dtype,
            )
            self._variables = list(self.model.trainable_variables)
        else:
            obs_size = int(np.prod(observation_space.shape))
            head_units = int(action_space.n) if self.discrete else int(action_space.shape[0])
            self.policy_model = _build_mlp_tower(obs_size, head_units, _POLICY_HEAD_GAIN, seeds, "policy", hidden_dtype)
            self.value_model = _build_mlp_tower(obs_size, 1, _VALUE_HEAD_GAIN, seeds, "value", hidden_dtype)
            self._variables = list(self.policy_model.trainable_variables)
            if not self.discrete:
                self.log_std = keras.Variable(np.zeros(head_units, np.float32), name="log_std", trainable=True)
                self._variables.append(self.log_std)
            self._variables.extend(self.value_model.trainable_variables)
        self._generator = tf.random.Generator.from_seed(self.seed)
        self._step_fn = tf.function(self._step, input_signature=[self.observation_spec])
        self._value_fn = tf.function(lambda obs: self._forward(obs)[1], input_signature=[self.observation_spec])

    @property
    def architecture(self) -> str:
        """'cnn', 'cnn_small' or 'mlp'."""
        return self._architecture

    @property
    def trainable_variables(self) -> list:
        """All trainable variables, in the order documented in the class docstring."""
        return list(self._variables)

    # Inference (numpy in, numpy out) -----------------------------------------------------------

    def step(self, observations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Samples actions for a batch of observations.

        Args:
          observations: array [B, *observation_shape] in the observation space's dtype.
        Returns: (actions [B] int64 or [B, D] float32, values [B] float32, neglogps [B] float32).
        """
        actions, values, neglogps = self._step_fn(self._observations(observations))
        return actions.numpy(), values.numpy(), neglogps.numpy()

    def value(self, observations) -> np.ndarray:
        """Value estimates [B] float32 of a batch of observations [B, *observation_shape]."""
        return self._value_fn(self._observations(observations)).numpy()

    # Training (TF in, TF out) ------------------------------------------------------------------

    def evaluate(self, observations, actions) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """-log p(actions), policy entropy and values, as TF tensors (differentiable).

        Plain TF code (no tf.function of its own): call it inside a GradientTape, eagerly or
        inside the caller's tf.function.

        Args:
          observations: tensor [B, *observation_shape] in the observation space's dtype.
          actions: tensor [B] int (Discrete) or [B, D] float (Box).
        Returns: (neglogp [B], entropy [B], values [B]), float32 tensors.
        """
        observations = tf.convert_to_tensor(observations, self.observation_spec.dtype)
        actions = tf.convert_to_tensor(actions, self.action_spec.dtype)
        distribution, values = self._forward(observations)
        if self.discrete:
            return categorical_neglogp(distribution, actions), categorical_entropy(distribution), values
        return (
            gaussian_neglogp(distribution, self.log_std, actions),
            gaussian_entropy(distribution, self.log_std),
            values,
        )

    # Internals ---------------------------------------------------------------------------------

    def _observations(self, observations) -> np.ndarray:
        observations = np.asarray(observations)
        expected = tuple(self.observation_space.shape)
        if observations.ndim != len(expected) + 1 or tuple(observations.shape[1:]) != expected:
            raise ValueError(
                f"observations must have shape [B, {', '.join(map(str, expected))}], got {list(observations.shape)}"
            )
        return observations.astype(self.observation_spec.dtype.as_numpy_dtype, copy=False)

    def _forward(self, observations: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns (logits [B, A] or Gaussian mean [B, D], values [B])."""
        if self._architecture in IMAGE_ARCHITECTURES:
            distribution, values = self.model(observations)
        else:
            flat = tf.reshape(tf.cast(observations, tf.float32), [tf.shape(observations)[0], -1])
            distribution = self.policy_model(flat)
            values = self.value_model(flat)
        return distribution, tf.squeeze(values, axis=-1)

    def _step(self, observations: tf.Tensor):
        distribution, values = self._forward(observations)
        if self.discrete:
            # Gumbel-max: argmax(logits + Gumbel noise) is a sample of softmax(logits).
            uniform = self._generator.uniform(tf.shape(distribution), minval=1e-20, maxval=1.0)
            actions = tf.argmax(distribution - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int64)
            neglogps = categorical_neglogp(distribution, actions)
        else:
            noise = self._generator.normal(tf.shape(distribution))
            actions = distribution + tf.exp(self.log_std) * noise
            neglogps = gaussian_neglogp(distribution, self.log_std, actions)
        return actions, values, neglogps


def _check_spaces(architecture: str, observation_space: Any, action_space: Any) -> None:
    if not isinstance(observation_space, gym.spaces.Box):
        raise ValueError(f"policy {architecture!r} needs a Box observation space, got {observation_space}")
    if architecture in IMAGE_ARCHITECTURES:
        if len(observation_space.shape) != 3:
            raise ValueError(f"policy {architecture!r} needs HxWxC observations, got shape {observation_space.shape}")
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(f"policy {architecture!r} needs a Discrete action space, got {action_space}")
    elif not (
        isinstance(action_space, gym.spaces.Discrete)
        or (isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1)
    ):
        raise ValueError(f"policy 'mlp' needs a Discrete or 1-d Box action space, got {action_space}")


def _build_cnn(
    observation_space: gym.spaces.Box,
    num_actions: int,
    seeds: _SeedStream,
    small: bool = False,
    hidden_dtype: str = "float32",
) -> keras.Model:
    """Nature-DQN torso (or, `small`, the ICM paper's 42x42 one) with logits and value heads:
    obs -> (logits [B, A], value [B, 1])."""
    observations = keras.Input(shape=observation_space.shape, dtype=str(observation_space.dtype), name="observations")
    # Rescaling casts to float32 first, so uint8 frames enter the model unconverted.
    hidden = keras.layers.Rescaling(1.0 / 255.0, name="scale")(observations)
    convolutions = _SMALL_CNN_CONVOLUTIONS if small else _CNN_CONVOLUTIONS
    for index, (filters, kernel, stride) in enumerate(convolutions, start=1):
        hidden = keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same" if small else "valid",
            activation="elu" if small else "relu",
            name=f"conv{index}",
            kernel_initializer=keras.initializers.Orthogonal(gain=_HIDDEN_GAIN, seed=seeds.next()),
            bias_initializer="zeros",
            dtype=hidden_dtype,
        )(hidden)
    hidden = keras.layers.Flatten(name="flatten", dtype=hidden_dtype)(hidden)
    units = _SMALL_CNN_FC_UNITS if small else _CNN_FC_UNITS
    hidden = _dense(units, _HIDDEN_GAIN, seeds, "relu", "fc", hidden_dtype)(hidden)
    # The heads compute in float32 (their inputs are cast up): logits and values stay float32.
    logits = _dense(num_actions, _POLICY_HEAD_GAIN, seeds, None, "policy_logits")(hidden)
    value = _dense(1, _VALUE_HEAD_GAIN, seeds, None, "value")(hidden)
    return keras.Model(
        observations, [logits, value], name="small_cnn_actor_critic" if small else "nature_cnn_actor_critic"
    )


def _build_mlp_tower(
    obs_size: int, head_units: int, head_gain: float, seeds: _SeedStream, name: str, hidden_dtype: str = "float32"
) -> keras.Model:
    """2 x FC 64 tanh and a linear head: flat float32 obs [B, obs_size] -> [B, head_units]."""
    inputs = keras.Input(shape=(obs_size,), dtype="float32", name=f"{name}_observations")
    hidden = inputs
    for index, units in enumerate(_MLP_HIDDEN_UNITS, start=1):
        hidden = _dense(units, _HIDDEN_GAIN, seeds, "tanh", f"{name}_fc{index}", hidden_dtype)(hidden)
    head = _dense(head_units, head_gain, seeds, None, f"{name}_head")(hidden)
    return keras.Model(inputs, head, name=f"{name}_tower")
