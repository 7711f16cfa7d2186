"""PPO2's update: epochs of shuffled minibatches, clipped losses, Adam (the original code).

    config = PPOConfig(nsteps=256, nminibatches=4, noptepochs=4)
    config.validate(num_envs=12)
    learner = PPOLearner(policy, config, seed=0)
    for update in range(1, num_updates(total_timesteps, 12, config.nsteps) + 1):
        batch, stats = runner.run()
        losses = learner.train(batch, annealing_fraction(update, total_updates))

One minibatch step is one `tf.function` (batch dimension `None`; learning rate and clip range
are tensor arguments), so annealing never retraces.
"""

from __future__ import annotations

import dataclasses

import gin
import keras
import numpy as np
import tensorflow as tf

from episodic_curiosity.ppo import losses
from episodic_curiosity.ppo.policies import ActorCritic

BATCH_KEYS = ("observations", "actions", "returns", "values", "neglogps")
STAT_KEYS = ("policy_loss", "value_loss", "policy_entropy", "approxkl", "clipfrac")


@gin.configurable
@dataclasses.dataclass
class PPOConfig:
    """PPO hyperparameters; defaults are the original's `train()` defaults (the original code).

    Args:
      nsteps: int, agent steps per env per rollout.
      nminibatches: int, number of minibatches per epoch (not their size).
      noptepochs: int, passes over each rollout.
      learning_rate: float, Adam step size at the start.
      ent_coef: float, weight of the entropy bonus.
      vf_coef: float, weight of the value loss.
      max_grad_norm: float, global-norm gradient clipping threshold.
      gamma: float, discount.
      lam: float, GAE lambda.
      cliprange: float, PPO clip epsilon at the start (policy and value clipping).
      anneal_learning_rate: bool, scale the learning rate by the annealing fraction.
      anneal_cliprange: bool, scale the clip range by the annealing fraction.
      adam_epsilon: float, Adam's epsilon.
      normalize_advantages: bool, standardise the advantages per minibatch (PPO2 does). With a
        rare sparse reward most minibatches hold no reward at all, and standardising scales
        their value-noise advantages up to unit size; False keeps the advantages' own scale
        (as A3C does), so reward-free batches give small policy gradients.
    """

    nsteps: int = 256
    nminibatches: int = 4
    noptepochs: int = 4
    learning_rate: float = 2.5e-4
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    gamma: float = 0.99
    lam: float = 0.95
    cliprange: float = 0.1
    anneal_learning_rate: bool = True
    anneal_cliprange: bool = True
    adam_epsilon: float = 1e-5
    normalize_advantages: bool = True

    def validate(self, num_envs: int | None = None) -> None:
        """Raises one ValueError listing every bad value.

        Args:
          num_envs: int or None; if given, also checks that the batch (num_envs * nsteps)
            splits into `nminibatches` equal minibatches.
        """
        errors = []

        def check(condition: bool, name: str, requirement: str) -> None:
            if not condition:
                errors.append(f"{name}={getattr(self, name)!r} (must be {requirement})")

        for name in ("nsteps", "nminibatches", "noptepochs"):
            value = getattr(self, name)
            check(
                isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1, name, "an int >= 1"
            )
        for name in ("learning_rate", "max_grad_norm", "cliprange", "adam_epsilon"):
            check(_is_number(getattr(self, name)) and getattr(self, name) > 0, name, "a number > 0")
        for name in ("ent_coef", "vf_coef"):
            check(_is_number(getattr(self, name)) and getattr(self, name) >= 0, name, "a number >= 0")
        for name in ("gamma", "lam"):
            check(_is_number(getattr(self, name)) and 0 <= getattr(self, name) <= 1, name, "in [0, 1]")
        for name in ("anneal_learning_rate", "anneal_cliprange", "normalize_advantages"):
            check(isinstance(getattr(self, name), bool), name, "a bool")
        if num_envs is not None and not errors:
            batch_size = num_envs * self.nsteps
            if num_envs < 1 or batch_size % self.nminibatches:
                errors.append(
                    f"batch num_envs * nsteps = {num_envs} * {self.nsteps} = {batch_size} "
                    f"(must be divisible by nminibatches={self.nminibatches})"
                )
        if errors:
            raise ValueError("invalid PPO config: " + "; ".join(errors))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def num_updates(total_timesteps: int, num_envs: int, nsteps: int) -> int:
    """Number of PPO updates, rounding down to whole batches as PPO2 did.

    Args:
      total_timesteps: int, agent steps over all envs.
      num_envs: int, parallel envs.
      nsteps: int, steps per env per rollout.
    """
    if num_envs < 1 or nsteps < 1:
        raise ValueError(f"num_envs and nsteps must be >= 1, got {num_envs} and {nsteps}")
    return int(total_timesteps) // (int(num_envs) * int(nsteps))


def annealing_fraction(update: int, total_updates: int) -> float:
    """1 - (update - 1) / total_updates: 1.0 at the first update, 1/total at the last.

    Args:
      update: int, 1-based update number.
      total_updates: int, number of updates in the run.
    """
    if total_updates < 1 or not 1 <= update <= total_updates:
        raise ValueError(f"need 1 <= update <= total_updates, got update={update}, total_updates={total_updates}")
    return 1.0 - (update - 1.0) / total_updates


def minibatch_indices(batch_size: int, nminibatches: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's minibatches: a permutation of range(batch_size) cut into equal chunks.

    Args:
      batch_size: int, samples in the rollout.
      nminibatches: int, number of chunks; must divide batch_size.
      rng: np.random.Generator, draws the permutation.
    """
    if nminibatches < 1 or batch_size % nminibatches:
        raise ValueError(f"batch of {batch_size} samples does not split into {nminibatches} equal minibatches")
    return np.split(rng.permutation(batch_size), nminibatches)


def explained_variance(predictions, targets) -> float:
    """1 - Var(targets - predictions) / Var(targets); nan when Var(targets) is 0.

    Args:
      predictions: array [B], e.g. values.
      targets: array [B], e.g. returns.
    """
    predictions = np.asarray(predictions, np.float64)
    targets = np.asarray(targets, np.float64)
    target_variance = np.var(targets)
    if target_variance == 0:
        return float("nan")
    return float(1.0 - np.var(targets - predictions) / target_variance)


class PPOLearner:
    """Updates an `ActorCritic` from rollouts with PPO2's clipped objective."""

    def __init__(self, policy: ActorCritic, config: PPOConfig, seed: int = 0):
        """Args:
        policy: ActorCritic, the policy to train (its `trainable_variables` are updated).
        config: PPOConfig, hyperparameters (validated here).
        seed: int, seeds the minibatch shuffling.
        """
        config.validate()
        self.policy = policy
        self.config = config
        self._rng = np.random.default_rng(seed)
        self._variables = policy.trainable_variables
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=config.adam_epsilon)
        self.optimizer.build(self._variables)
        scalar = tf.TensorSpec([], tf.float32)
        vector = tf.TensorSpec([None], tf.float32)
        self._train_step = tf.function(
            self._minibatch_step,
            input_signature=[policy.observation_spec, policy.action_spec, vector, vector, vector, scalar, scalar],
        )

    def schedule(self, frac: float) -> tuple[float, float]:
        """(learning rate, clip range) for annealing fraction `frac`, per the config's switches.

        Args:
          frac: float, annealing fraction in (0, 1] (see `annealing_fraction`).
        """
        config = self.config
        learning_rate = config.learning_rate * frac if config.anneal_learning_rate else config.learning_rate
        cliprange = config.cliprange * frac if config.anneal_cliprange else config.cliprange
        return float(learning_rate), float(cliprange)

    def train(self, batch: dict, frac: float) -> dict[str, float]:
        """Runs `noptepochs` epochs of `nminibatches` minibatch steps over one rollout.

        Args:
          batch: dict of flattened [T*N, ...] arrays with keys 'observations', 'actions',
            'returns', 'values', 'neglogps' (as `Runner.run` returns; other keys are ignored).
          frac: float, annealing fraction (1 at the first update; see `annealing_fraction`).
        Returns: means over all minibatch steps of 'policy_loss', 'value_loss',
          'policy_entropy', 'approxkl', 'clipfrac', plus the 'learning_rate' and 'cliprange'
          used.
        """
        missing = [key for key in BATCH_KEYS if key not in batch]
        if missing:
            raise ValueError(f"batch lacks keys {missing}; needs {list(BATCH_KEYS)}")
        arrays = {
            "observations": np.asarray(batch["observations"]),
            "actions": np.asarray(batch["actions"]).astype(self.policy.action_spec.dtype.as_numpy_dtype, copy=False),
            **{key: np.asarray(batch[key], np.float32) for key in ("returns", "values", "neglogps")},
        }
        batch_size = len(arrays["observations"])
        uneven = {key: len(value) for key, value in arrays.items() if len(value) != batch_size}
        if uneven:
            raise ValueError(f"batch arrays differ in length: {batch_size} observations, {uneven}")
        learning_rate, cliprange = self.schedule(frac)
        learning_rate_t = tf.constant(learning_rate, tf.float32)
        cliprange_t = tf.constant(cliprange, tf.float32)
        results = []
        for _ in range(self.config.noptepochs):
            for indices in minibatch_indices(batch_size, self.config.nminibatches, self._rng):
                results.append(
                    self._train_step(
                        arrays["observations"][indices],
                        arrays["actions"][indices],
                        arrays["returns"][indices],
                        arrays["values"][indices],
                        arrays["neglogps"][indices],
                        learning_rate_t,
                        cliprange_t,
                    )
                )
        means = np.mean(np.array([[float(x) for x in step] for step in results]), axis=0)
        stats = dict(zip(STAT_KEYS, (float(m) for m in means)))
        stats["learning_rate"] = learning_rate
        stats["cliprange"] = cliprange
        return stats

    def _minibatch_step(self, observations, actions, returns, old_values, old_neglogps, learning_rate, cliprange):
        """One gradient step; returns the STAT_KEYS values as scalar tensors."""
        advantages = returns - old_values
        if self.config.normalize_advantages:
            advantages = losses.normalize_advantages(advantages)
        with tf.GradientTape() as tape:
            neglogp, entropy, values = self.policy.evaluate(observations, actions)
            pg_loss = losses.policy_loss(neglogp, old_neglogps, advantages, cliprange)
            vf_loss = losses.value_loss(values, old_values, returns, cliprange)
            mean_entropy = tf.reduce_mean(entropy)
            loss = pg_loss - self.config.ent_coef * mean_entropy + self.config.vf_coef * vf_loss
        gradients = tape.gradient(loss, self._variables)
        gradients, _ = tf.clip_by_global_norm(gradients, self.config.max_grad_norm)
        self.optimizer.learning_rate.assign(learning_rate)
        self.optimizer.apply_gradients(zip(gradients, self._variables))
        return (
            pg_loss,
            vf_loss,
            mean_entropy,
            losses.approx_kl(neglogp, old_neglogps),
            losses.clip_fraction(neglogp, old_neglogps, cliprange),
        )
