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

from episodic_curiosity.environments import vector
from episodic_curiosity.intrinsic.base import curiosity_frames
from episodic_curiosity.intrinsic.base import EpisodeBonusTracker
from episodic_curiosity.intrinsic.base import IntrinsicReward
from episodic_curiosity.intrinsic.base import RewardScales
from episodic_curiosity.intrinsic.base import Rollout
from episodic_curiosity.intrinsic.base import Step
from episodic_curiosity.intrinsic.base import step_positions
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
        raise NonFiniteError(
            f"non-finite reward {float(rewards[bad[0]])} from env {int(bad[0])} at vector "
            f"step {vector_step} ({bad.size} envs affected); training stopped before "
            "any update used it"
        )
    if space is not None and getattr(space, "shape", None) is not None:
        observations = np.asarray(observations)
        if observations.dtype != space.dtype or tuple(observations.shape[1:]) != tuple(space.shape):
            raise ValueError(
                f"observations at vector step {vector_step} are {observations.dtype} "
                f"{list(observations.shape[1:])} per env, the observation space says "
                f"{space.dtype} {list(space.shape)}"
            )
        if np.issubdtype(observations.dtype, np.floating):
            bad_envs = np.flatnonzero(~np.isfinite(observations.reshape(len(observations), -1)).all(axis=1))
            if bad_envs.size:
                raise NonFiniteError(f"non-finite observation from env {int(bad_envs[0])} at vector step {vector_step}")


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
    """Collects `nsteps` steps of every env per `run()`, continuing episodes across calls.

    With an intrinsic reward (`intrinsic.IntrinsicReward`), the runner hands it every step
    (`observe`) and then the whole rollout (`compute_bonus`, then `update`), and PPO trains
    on `scales.combine(task reward, bonus)`: s_task x r + alpha x bonus (the one place where
    the two meet). Without one, PPO trains on `scales.combine(task reward, None)`, or on the
    env's reward when `scales` is None.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        policy: ActorCritic,
        nsteps: int,
        gamma: float,
        lam: float,
        intrinsic_reward: IntrinsicReward | None = None,
        scales: RewardScales | None = None,
        position_stride: int = 0,
    ):
        """Args:
        env: gym.vector.VectorEnv with SAME_STEP auto-reset (checked when its metadata
          declares an 'autoreset_mode'); its reward is the task reward. Frames for the bonus
          come from `info['frame']` (the `CuriosityEnvWrapper` provides it), else from the
          observations.
        policy: ActorCritic, acts in `env`.
        nsteps: int, steps per env per `run()`.
        gamma: float, discount for GAE.
        lam: float, GAE lambda.
        intrinsic_reward: IntrinsicReward or None, the exploration bonus.
        scales: RewardScales or None (needed with an intrinsic reward).
        position_stride: int, every this-many-th vector step the envs' (x, y) positions
          (`info['position']`, the ended episode's last one on an ending step) go to
          `logged_positions` as (vector step, [N, 2] array); 0: none.
        """
        if nsteps < 1:
            raise ValueError(f"nsteps must be >= 1, got {nsteps}")
        vector.require_same_step_autoreset(env, "the Runner")
        if intrinsic_reward is not None and scales is None:
            raise ValueError("a Runner with an intrinsic reward needs RewardScales (s_task, alpha)")
        self.env = env
        self.policy = policy
        self.nsteps = int(nsteps)
        self.gamma = float(gamma)
        self.lam = float(lam)
        self.num_envs = int(env.num_envs)
        self.intrinsic_reward = intrinsic_reward
        self.scales = scales
        self.bonus_tracker = EpisodeBonusTracker(self.num_envs)
        self.observations = None  # The observation each env's next step starts from.
        self.dones = np.zeros(self.num_envs, bool)  # Whether it starts a new episode.
        self._episode_returns = np.zeros(self.num_envs)  # Raw task reward so far, per env.
        self._episode_lengths = np.zeros(self.num_envs, np.int64)
        self.vector_steps = 0  # steps taken by this runner, for error messages
        self.last_bonus = None  # [T, N] bonus of the last rollout
        self.last_update = {}  # what intrinsic_reward.update returned
        self.position_stride = int(position_stride)
        self.logged_positions: list[tuple[int, np.ndarray]] = []  # drained by the caller

    def reset(self, seed: int | list[int] | None = None) -> None:
        """Resets the env, the intrinsic reward's episodic state, the done-before-step flags
        (False) and the episode counters.

        Args:
          seed: int, list of ints or None, passed to `env.reset`.
        """
        self.observations, _ = self.env.reset(seed=seed)
        if self.intrinsic_reward is not None:
            self.intrinsic_reward.reset()
        self.dones = np.zeros(self.num_envs, bool)
        self._episode_returns[:] = 0.0
        self._episode_lengths[:] = 0

    def run(self) -> tuple[dict, dict]:
        """Steps all envs `nsteps` times (resetting them first if `reset` was never called).

        Returns: (batch, stats).
          batch: dict of [nsteps * N, ...] arrays, env-major: 'observations' (env dtype),
            'actions', 'returns', 'values', 'neglogps', 'advantages', 'dones' (bool,
            done-before-step), 'rewards' (what PPO trains on).
          stats: 'episode_returns' (list of the episodes that ended in this call: raw task
            return, the sum of info['task_reward'] where the env provides it, else of the
            reward), 'episode_lengths' (list, same episodes), 'steps' (nsteps * N).
        """
        if self.observations is None:
            self.reset()
        steps, envs = self.nsteps, self.num_envs
        method = self.intrinsic_reward
        observations = np.empty((steps + 1, *self.observations.shape), self.observations.dtype)
        dones = np.empty((steps, envs), bool)
        step_dones = np.empty((steps, envs), bool)
        task_rewards = np.empty((steps, envs), np.float64)
        values = np.empty((steps, envs), np.float32)
        neglogps = np.empty((steps, envs), np.float32)
        actions = frames = positions = None
        finished_returns, finished_lengths = [], []
        for t in range(steps):
            step_actions, values[t], neglogps[t] = self.policy.step(self.observations)
            if actions is None:
                actions = np.empty((steps, *step_actions.shape), step_actions.dtype)
            actions[t] = step_actions
            observations[t] = self.observations
            dones[t] = self.dones
            next_observations, step_rewards, terminated, truncated, infos = self.env.step(step_actions)
            self.vector_steps += 1
            check_step_data(
                next_observations, step_rewards, getattr(self.env, "single_observation_space", None), self.vector_steps
            )
            task_rewards[t] = step_rewards
            self.dones = step_dones[t] = np.logical_or(terminated, truncated)
            self._count_episodes(step_rewards, infos, finished_returns, finished_lengths)
            if self.position_stride and self.vector_steps % self.position_stride == 0 and "position" in infos:
                self.logged_positions.append((self.vector_steps, step_positions(infos, self.dones)[:, :2]))
            if method is not None:
                frame = position = None
                if method.uses_frames:
                    frame = curiosity_frames(next_observations, infos)
                    if frames is None:
                        frames = np.empty((steps, *frame.shape), frame.dtype)
                    frames[t] = frame
                if method.uses_positions:
                    position = step_positions(infos, self.dones)
                    if positions is None:
                        positions = np.empty((steps, *position.shape))
                    positions[t] = position
                method.observe(
                    Step(
                        index=t,
                        observation=self.observations,
                        action=step_actions,
                        next_observation=next_observations,
                        task_reward=task_rewards[t],
                        done=self.dones,
                        frame=frame,
                        position=position,
                        infos=infos,
                    )
                )
            self.observations = next_observations
        observations[steps] = self.observations
        rewards = task_rewards
        if method is not None:
            rollout = Rollout(
                observations=observations,
                actions=actions,
                task_rewards=task_rewards,
                dones=step_dones,
                frames=frames,
                positions=positions,
            )
            bonus = np.asarray(method.compute_bonus(rollout), np.float64)
            if bonus.shape != (steps, envs):
                raise ValueError(
                    f"{type(method).__name__}.compute_bonus returned shape {list(bonus.shape)}, "
                    f"expected [{steps}, {envs}]"
                )
            if not np.all(np.isfinite(bonus)):
                t, env = np.argwhere(~np.isfinite(bonus))[0]
                raise NonFiniteError(
                    f"non-finite exploration bonus ({type(method).__name__}) for env {env} "
                    f"at vector step {self.vector_steps - steps + t + 1}"
                )
            self.last_update = method.update(rollout)
            self.last_bonus = bonus
            self.bonus_tracker.add(task_rewards, bonus, step_dones)
            rewards = self.scales.combine(task_rewards, bonus)
        elif self.scales is not None:
            rewards = self.scales.combine(task_rewards, None)
        rewards = np.asarray(rewards, np.float32)
        last_values = self.policy.value(self.observations)
        advantages, returns = compute_gae(rewards, values, dones, last_values, self.dones, self.gamma, self.lam)
        batch = {
            "observations": observations[:steps],
            "actions": actions,
            "returns": returns,
            "values": values,
            "neglogps": neglogps,
            "advantages": advantages,
            "dones": dones,
            "rewards": rewards,
        }
        batch = {key: swap_and_flatten(value) for key, value in batch.items()}
        stats = {"episode_returns": finished_returns, "episode_lengths": finished_lengths, "steps": steps * envs}
        return batch, stats

    def _count_episodes(self, rewards: np.ndarray, infos: dict, finished_returns: list, finished_lengths: list) -> None:
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
