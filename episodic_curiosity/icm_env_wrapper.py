r"""PPO+ICM: a vector-env wrapper that adds the ICM's intrinsic reward and trains the ICM.

It sits on top of the training env (normally a `CuriosityEnvWrapper` with exploration reward
'none', which already scaled the task reward by its `scale_task_reward` and resized images to
the policy's input), so PPO stays unchanged and blind to the ICM. Per
vector step, for every env i:

  1. transition (s, a, s'): s = the observation the policy acted on, a = its action, s' = the
     observation the step returned;
  2. bonus = the ICM's intrinsic reward of the transition (`icm.py`), except on a step that
     ends an episode: with SAME_STEP auto-reset (`environments/vector.py`) s' is then the next
     episode's first observation, so the transition is not real; its bonus is 0 and it is not
     used for training;
  3. reward = incoming reward + `scale_surrogate_reward` * bonus; `info['curiosity_bonus']` is
     the bonus, `info['task_reward']` the raw task reward (kept from the wrapper beneath, so
     the Runner's episode returns stay task-only);
  4. the transition is buffered; every `train_interval` vector steps (default PPO's `nsteps`:
     one training per rollout, on exactly the transitions of that rollout) the ICM is trained
     for `num_epochs` epochs, each a shuffle of the buffered real transitions split into
     `num_minibatches` minibatches (defaults: PPO's 4 x 4, the minibatches the original's ppo2
     ICM option trained the ICM on); the bonus of the step that triggers training is computed
     before it.

A `reset()` with a partly filled buffer drops it (it happens only when training starts). The
ICM's weights, its Adam state, the counters and the shuffling generator's state go into the
policy checkpoint (`variable_groups`, `state_attributes`, `restore_attributes`), so a killed
PPO+ICM run resumes with the same ICM; checkpoints are written between rollouts, when the
buffer is empty.
"""

from __future__ import annotations

import collections
import math
from typing import Any

import gin
import gymnasium as gym
import numpy as np

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import icm as icm_lib


@gin.configurable(denylist=["env", "nsteps", "module"])
class IcmEnvWrapper(gym.vector.VectorWrapper):
    """Adds the ICM bonus to a SAME_STEP vector env's reward and trains the ICM (module doc)."""

    def __init__(self,
                 env: gym.vector.VectorEnv,
                 nsteps: int,
                 scale_surrogate_reward: float = 1.0,
                 train_interval: int | None = None,
                 num_epochs: int = 4,
                 num_minibatches: int = 4,
                 seed: int = 0,
                 module: icm_lib.IntrinsicCuriosityModule | None = None):
        """Args:
          env: gym.vector.VectorEnv, SAME_STEP auto-reset; its observations are the ICM's input.
          nsteps: int, PPO's rollout length per env (the default `train_interval`).
          scale_surrogate_reward: float, alpha, factor of the ICM bonus added to the reward.
          train_interval: int or None, vector steps between ICM trainings (None: `nsteps`).
          num_epochs: int, passes over the buffered transitions per training.
          num_minibatches: int, minibatches per pass.
          seed: int, seeds the ICM's weights (when `module` is None) and the shuffling.
          module: IntrinsicCuriosityModule or None, a prebuilt ICM (None: built from the env's
            spaces, configured by gin).
        """
        super().__init__(env)
        train_interval = nsteps if train_interval is None else train_interval
        errors = [f"{name}={value!r} (must be an int >= 1)" for name, value in
                  (("train_interval", train_interval), ("num_epochs", num_epochs),
                   ("num_minibatches", num_minibatches))
                  if not (isinstance(value, (int, np.integer)) and value >= 1)]
        if errors:
            raise ValueError("bad IcmEnvWrapper settings: " + "; ".join(errors))
        if module is None:
            module = icm_lib.IntrinsicCuriosityModule(env.single_observation_space,
                                                      env.single_action_space, seed=seed)
        self.module = module
        self.scale_surrogate_reward = float(scale_surrogate_reward)
        self.train_interval = int(train_interval)
        self.num_epochs = int(num_epochs)
        self.num_minibatches = int(num_minibatches)
        self.step_count = 0
        self.trainings = 0
        self._rng = np.random.default_rng(seed)
        num, interval = self.num_envs, self.train_interval
        space = env.single_observation_space
        # Observation t of the buffer is s of transition t; observation t + 1 is its s'.
        self._observations = np.zeros((interval + 1, num, *space.shape), space.dtype)
        discrete = isinstance(env.single_action_space, gym.spaces.Discrete)
        action_shape = () if discrete else tuple(env.single_action_space.shape)
        self._actions = np.zeros((interval, num, *action_shape), np.int64 if discrete else np.float32)
        self._real = np.zeros((interval, num), bool)
        self._bonuses = np.zeros((interval, num), np.float32)
        self._filled = 0
        self._started = False
        self.last_losses = {"forward_loss": math.nan, "inverse_loss": math.nan, "loss": math.nan}
        self.last_bonus = {"mean": math.nan, "std": math.nan}
        self._episode_bonus = np.zeros(num)
        self.bonus_history = collections.deque(maxlen=100)

    def reset(self, *, seed=None, options=None):
        observations, infos = self.env.reset(seed=seed, options=options)
        self._filled = 0
        self._observations[0] = observations
        self._started = True
        self._episode_bonus[:] = 0
        return observations, infos

    def step(self, actions):
        if not self._started:
            raise RuntimeError("IcmEnvWrapper.step() before reset()")
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        dones = np.logical_or(terminated, truncated)
        t = self._filled
        bonus = self.module.intrinsic_reward(self._observations[t], actions, observations).astype(np.float64)
        bonus[dones] = 0.0
        self._observations[t + 1] = observations
        self._actions[t] = actions
        self._real[t] = ~dones
        self._bonuses[t] = bonus
        self._filled += 1
        self.step_count += 1
        if self._filled == self.train_interval:
            self.train()
        rewards = np.asarray(rewards, np.float64)
        infos = dict(infos)
        if "task_reward" not in infos:
            curiosity_env_wrapper.with_info(infos, "task_reward", rewards)
        curiosity_env_wrapper.with_info(infos, "curiosity_bonus", bonus)
        self._track_episodes(bonus, dones)
        return observations, rewards + self.scale_surrogate_reward * bonus, terminated, truncated, infos

    def train(self) -> dict[str, float]:
        """Trains the ICM on the buffered real transitions, then empties the buffer.

        Returns: the mean 'forward_loss', 'inverse_loss' and 'loss' of the minibatches (each
        measured before its update), or the previous values if no transition was real.
        """
        filled = self._filled
        real = self._real[:filled].reshape(-1)
        flat = lambda array: array.reshape(filled * self.num_envs, *array.shape[2:])
        observations = flat(self._observations[:filled])[real]
        next_observations = flat(self._observations[1:filled + 1])[real]
        actions = flat(self._actions[:filled])[real]
        bonuses = self._bonuses[:filled].reshape(-1)[real]
        if len(bonuses):
            totals = collections.defaultdict(float)
            steps = 0
            for _ in range(self.num_epochs):
                order = self._rng.permutation(len(bonuses))
                for chunk in np.array_split(order, self.num_minibatches):
                    if not len(chunk):
                        continue
                    for key, value in self.module.train_step(observations[chunk], actions[chunk],
                                                             next_observations[chunk]).items():
                        totals[key] += value
                    steps += 1
            self.last_losses = {key: value / steps for key, value in totals.items()}
            self.last_bonus = {"mean": float(bonuses.mean()), "std": float(bonuses.std())}
            self.trainings += 1
        self._observations[0] = self._observations[filled]
        self._filled = 0
        return dict(self.last_losses)

    # Logging -----------------------------------------------------------------------------------

    def _track_episodes(self, bonus: np.ndarray, dones: np.ndarray) -> None:
        self._episode_bonus += bonus
        for env in np.flatnonzero(dones):
            self.bonus_history.append(self._episode_bonus[env])
        self._episode_bonus[dones] = 0

    def progress_record(self) -> dict[str, float]:
        """The ICM's columns of `progress.csv` (nan before the first training)."""
        return {"icm_forward_loss": self.last_losses["forward_loss"],
                "icm_inverse_loss": self.last_losses["inverse_loss"],
                "icm_loss": self.last_losses["loss"],
                "icm_bonus_mean": self.last_bonus["mean"], "icm_bonus_std": self.last_bonus["std"]}

    def statistics(self) -> dict[str, Any]:
        """The wrapped env's statistics, the ICM's losses and bonus statistics of the last
        training, and `episode_bonus`: the mean ICM bonus of the last <= 100 episodes."""
        stats = dict(self.env.statistics()) if hasattr(self.env, "statistics") else {}
        stats.update({k: v for k, v in self.progress_record().items() if not math.isnan(v)})
        stats["icm_trainings"] = self.trainings
        if self.bonus_history:
            stats["episode_bonus"] = float(np.mean(self.bonus_history))
        return stats

    # Checkpointing with the policy -----------------------------------------------------------

    def variable_groups(self) -> dict[str, list]:
        """Variables stored with the policy checkpoint: ICM weights and its Adam state."""
        return {"icm": self.module.trainable_variables, "icm_optimizer": self.module.optimizer.variables}

    def state_attributes(self) -> dict:
        return {"icm_step_count": self.step_count, "icm_trainings": self.trainings,
                "icm_rng_state": self._rng.bit_generator.state,
                "icm_last_losses": self.last_losses, "icm_last_bonus": self.last_bonus}

    def restore_attributes(self, attributes: dict) -> None:
        self.step_count = int(attributes["icm_step_count"])
        self.trainings = int(attributes["icm_trainings"])
        self._rng.bit_generator.state = attributes["icm_rng_state"]
        self.last_losses = {key: float(value) for key, value in attributes["icm_last_losses"].items()}
        self.last_bonus = {key: float(value) for key, value in attributes["icm_last_bonus"].items()}
