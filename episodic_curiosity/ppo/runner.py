"""Rollout collection for PPO over a SAME_STEP auto-resetting vector env (the original code).

Per step t the runner stores the observation the policy saw, its action, value and -log p,
the "done-before-step" flag (1 if that observation starts a new episode) and the reward.
With SAME_STEP auto-reset (see `environments/vector.py`) the observation returned by an
ending step is already the next episode's first one, so the flag stored with it is
`terminated | truncated` of that ending step. Truncation counts as an episode end with no
bootstrapping, as in PPO2.

The batch is flattened env-major, as PPO2's `sf01`: [T, N, ...] -> [N, T, ...] -> [N*T, ...],
so env i's steps are the contiguous rows i*T ... i*T + T - 1.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from episodic_curiosity.ppo.gae import compute_gae
from episodic_curiosity.ppo.policies import ActorCritic


class NonFiniteError(FloatingPointError):
    """A NaN or infinite reward, loss or weight: training stops before it reaches a checkpoint."""


def check_step_data(observations, rewards, space: gym.Space | None, vector_step: int) -> None:
    """Raises NonFiniteError / ValueError naming the vector step and env for bad step data.

    Args:
      observations: [N, ...] array the env returned.
      rewards: [N] rewards the env returned.
      space: the env's single observation space (its dtype and shape are checked), or None.
      vector_step: int, the vector step counted from the start of the run (1-based).
    """
    rewards = np.asarray(rewards)
    bad = np.flatnonzero(~np.isfinite(rewards.astype(np.float64)))
    if bad.size:
        raise NonFiniteError(f"non-finite reward {float(rewards[bad[0]])} from env {int(bad[0])} at vector "
                             f"step {vector_step} ({bad.size} envs affected); training stopped before "
                             "any update used it")
    if space is not None and getattr(space, "shape", None) is not None:
        observations = np.asarray(observations)
        if observations.dtype != space.dtype or tuple(observations.shape[1:]) != tuple(space.shape):
            raise ValueError(f"observations at vector step {vector_step} are {observations.dtype} "
                             f"{list(observations.shape[1:])} per env, the observation space says "
                             f"{space.dtype} {list(space.shape)}")
        if np.issubdtype(observations.dtype, np.floating):
            bad_envs = np.flatnonzero(~np.isfinite(observations.reshape(len(observations), -1)).all(axis=1))
            if bad_envs.size:
                raise NonFiniteError(f"non-finite observation from env {int(bad_envs[0])} at vector "
                                     f"step {vector_step}")


def swap_and_flatten(array: np.ndarray) -> np.ndarray:
    """[T, N, ...] -> [N * T, ...], env-major (PPO2's sf01).

    Args:
      array: np.ndarray with at least 2 dimensions, time first, env second.
    """
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"need an array [T, N, ...], got shape {array.shape}")
    return array.swapaxes(0, 1).reshape(array.shape[0] * array.shape[1], *array.shape[2:])


class Runner:
    """Collects `nsteps` steps of every env per `run()`, continuing episodes across calls."""

    def __init__(self, env: gym.vector.VectorEnv, policy: ActorCritic, nsteps: int, gamma: float,
                 lam: float):
        """Args:
          env: gym.vector.VectorEnv with SAME_STEP auto-reset (checked when its metadata
            declares an 'autoreset_mode').
          policy: ActorCritic, acts in `env`.
          nsteps: int, steps per env per `run()`.
          gamma: float, discount for GAE.
          lam: float, GAE lambda.
        """
        if nsteps < 1:
            raise ValueError(f"nsteps must be >= 1, got {nsteps}")
        autoreset_mode = env.metadata.get("autoreset_mode")
        if autoreset_mode is not None and autoreset_mode != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError(f"the Runner needs a vector env with SAME_STEP auto-reset, got "
                             f"{autoreset_mode}; build it with autoreset_mode="
                             f"gymnasium.vector.AutoresetMode.SAME_STEP")
        self.env = env
        self.policy = policy
        self.nsteps = int(nsteps)
        self.gamma = float(gamma)
        self.lam = float(lam)
        self.num_envs = int(env.num_envs)
        self.observations = None  # The observation each env's next step starts from.
        self.dones = np.zeros(self.num_envs, bool)  # Whether it starts a new episode.
        self._episode_returns = np.zeros(self.num_envs)  # Raw task reward so far, per env.
        self._episode_lengths = np.zeros(self.num_envs, np.int64)
        self.vector_steps = 0  # steps taken by this runner, for error messages

    def reset(self, seed: int | list[int] | None = None) -> None:
        """Resets the env, the done-before-step flags (False) and the episode counters.

        Args:
          seed: int, list of ints or None, passed to `env.reset`.
        """
        self.observations, _ = self.env.reset(seed=seed)
        self.dones = np.zeros(self.num_envs, bool)
        self._episode_returns[:] = 0.0
        self._episode_lengths[:] = 0

    def run(self) -> tuple[dict, dict]:
        """Steps all envs `nsteps` times (resetting them first if `reset` was never called).

        Returns: (batch, stats).
          batch: dict of [nsteps * N, ...] arrays, env-major: 'observations' (env dtype),
            'actions', 'returns', 'values', 'neglogps', 'advantages', 'dones' (bool,
            done-before-step), 'rewards' (the env's reward, what PPO trains on).
          stats: 'episode_returns' (list of the episodes that ended in this call: raw task
            return, the sum of info['task_reward'] where the env provides it, else of the
            reward), 'episode_lengths' (list, same episodes), 'steps' (nsteps * N).
        """
        if self.observations is None:
            self.reset()
        steps, envs = self.nsteps, self.num_envs
        observations = np.empty((steps, *self.observations.shape), self.observations.dtype)
        dones = np.empty((steps, envs), bool)
        rewards = np.empty((steps, envs), np.float32)
        values = np.empty((steps, envs), np.float32)
        neglogps = np.empty((steps, envs), np.float32)
        actions = None
        finished_returns, finished_lengths = [], []
        for t in range(steps):
            step_actions, values[t], neglogps[t] = self.policy.step(self.observations)
            if actions is None:
                actions = np.empty((steps, *step_actions.shape), step_actions.dtype)
            actions[t] = step_actions
            observations[t] = self.observations
            dones[t] = self.dones
            self.observations, step_rewards, terminated, truncated, infos = self.env.step(step_actions)
            self.vector_steps += 1
            check_step_data(self.observations, step_rewards,
                            getattr(self.env, "single_observation_space", None), self.vector_steps)
            rewards[t] = step_rewards
            self.dones = np.logical_or(terminated, truncated)
            self._count_episodes(step_rewards, infos, finished_returns, finished_lengths)
        # Vector wrappers that compute rewards per rollout (the curiosity wrapper's deferred
        # bonus) complete them here, before GAE.
        rollout_rewards = getattr(self.env, "rollout_rewards", None)
        if rollout_rewards is not None:
            rewards = np.asarray(rollout_rewards(rewards), np.float32)
            if not np.all(np.isfinite(rewards)):
                t, env = np.argwhere(~np.isfinite(rewards))[0]
                raise NonFiniteError(f"non-finite reward (with the curiosity bonus) from env {env} at "
                                     f"vector step {self.vector_steps - steps + t + 1}")
        last_values = self.policy.value(self.observations)
        advantages, returns = compute_gae(rewards, values, dones, last_values, self.dones,
                                          self.gamma, self.lam)
        batch = {
            "observations": observations, "actions": actions, "returns": returns, "values": values,
            "neglogps": neglogps, "advantages": advantages, "dones": dones, "rewards": rewards,
        }
        batch = {key: swap_and_flatten(value) for key, value in batch.items()}
        stats = {"episode_returns": finished_returns, "episode_lengths": finished_lengths,
                 "steps": steps * envs}
        return batch, stats

    def _count_episodes(self, rewards: np.ndarray, infos: dict, finished_returns: list,
                        finished_lengths: list) -> None:
        """Adds one step to each env's episode counters; closes the episodes that ended."""
        task_rewards = np.asarray(rewards, np.float64)
        if "task_reward" in infos:
            present = np.asarray(infos.get("_task_reward", np.ones(self.num_envs, bool)), bool)
            task_rewards = np.where(present, np.asarray(infos["task_reward"], np.float64), task_rewards)
        self._episode_returns += task_rewards
        self._episode_lengths += 1
        for env in np.flatnonzero(self.dones):
            finished_returns.append(float(self._episode_returns[env]))
            finished_lengths.append(int(self._episode_lengths[env]))
        self._episode_returns[self.dones] = 0.0
        self._episode_lengths[self.dones] = 0
