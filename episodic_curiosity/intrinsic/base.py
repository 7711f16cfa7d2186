"""The intrinsic-reward interface: what every exploration bonus (EC, ECO, ICM, grid oracle, RND,
E3B, ...) provides, and the one rule that mixes it with the task reward.

Data layout. A rollout of T vector steps of N envs is time-major, `[T, N, ...]`:

  * `observations[t]` (t = 0 ... T, so T + 1 of them): what the policy saw before step t;
    `observations[t + 1]` is what step t returned. With SAME_STEP auto-reset
    (`environments/vector.py`) a step that ends an episode returns the next episode's first
    observation, so (observations[t], actions[t], observations[t + 1]) is a real transition
    only where `dones[t]` is False;
  * `actions[t]`, `task_rewards[t]` (the env's reward, unscaled), `dones[t]` (step t ended
    the episode: terminated or truncated);
  * `frames[t]`: the curiosity input of the observation step t returned: `info['frame']`
    where the envs provide it (DMLab, Ant), else the env's own observation before any policy
    resizing (`curiosity_frames`); collected only for methods with `uses_frames`;
  * `positions[t]`: the agent's position at the end of step t (the ended episode's last
    position on an ending step, from `info['final_info']`); only for `uses_positions`.

Protocol, per rollout (`ppo.Runner` calls these explicitly; so does the per-step
`CuriosityEnvWrapper` with T = 1):

  1. `observe(step)` after every vector step, in order (default: nothing). Methods that work
     while the rollout is collected use it: ECO retrains its R-network at exact vector steps,
     EC's background option embeds chunks of frames while the envs step;
  2. `compute_bonus(rollout)` -> float [T, N], the bonus of every step;
  3. `update(rollout)` -> dict of floats: trains the method on the rollout (ICM, RND, E3B's
     embedding), after the bonus was computed;
  4. `statistics()`, `progress_columns()` for the logs; `variable_groups()`,
     `state_attributes()`, `restore_state()` store and restore the method's whole state with
     the policy checkpoint.

The reward the policy trains on is `RewardScales.combine`: s_task x r + alpha x bonus, with
alpha forced to 0 during the first `exploration_reward_min_step` vector steps.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Sequence

import gin
import gymnasium as gym
import numpy as np


@dataclasses.dataclass
class Setup:
    """What a method is built from (train_policy fills it; tests and users may too).

    Attributes:
      num_envs: int, N.
      observation_space: the policy's single observation space.
      action_space: the single action space.
      nsteps: int, T, steps per env per rollout.
      seed: int, the run's seed.
      workdir: str or None, the run's output folder (ECO writes its frame history and weight
        files there).
      r_checkpoint: str or None, R-network weights (episodic curiosity).
      r_network_inference_dtype: str, 'float32', 'bfloat16' or 'auto' (`r_network`).
    """

    num_envs: int
    observation_space: gym.Space
    action_space: gym.Space
    nsteps: int = 128
    seed: int = 0
    workdir: str | None = None
    r_checkpoint: str | None = None
    r_network_inference_dtype: str = "float32"


@dataclasses.dataclass
class Step:
    """One vector step (what `observe` gets); arrays over the N envs.

    `observation` is what the policy acted on, `next_observation` what the step returned;
    `infos` is the vector env's info dict of the step (present in the per-step wrapper and
    the Runner).
    """

    index: int
    observation: np.ndarray
    action: np.ndarray
    next_observation: np.ndarray
    task_reward: np.ndarray
    done: np.ndarray
    frame: np.ndarray | None = None
    position: np.ndarray | None = None
    infos: dict | None = None


@dataclasses.dataclass
class Rollout:
    """T vector steps of N envs, time-major (module docstring)."""

    observations: np.ndarray
    actions: np.ndarray
    task_rewards: np.ndarray
    dones: np.ndarray
    frames: np.ndarray | None = None
    positions: np.ndarray | None = None

    @property
    def num_steps(self) -> int:
        return int(self.dones.shape[0])

    @property
    def num_envs(self) -> int:
        return int(self.dones.shape[1])


class IntrinsicReward:
    """Base class of the exploration bonuses (module docstring). Subclasses implement
    `compute_bonus` and override the rest where they need to."""

    name = "none"
    uses_frames = False  # the Runner collects `Rollout.frames`
    uses_positions = False  # ... and `Rollout.positions`
    requires_r_network = False  # train_policy refuses to start without `Setup.r_checkpoint`
    trains_on_rollouts = False  # `update` does something (the per-step wrapper then buffers steps)

    def __init__(self, setup: Setup):
        self.setup = setup
        self.num_envs = int(setup.num_envs)

    def reset(self) -> None:
        """All envs start new episodes (episodic state is cleared); pending work is dropped."""

    def observe(self, step: Step) -> None:
        """Called after every vector step of a rollout, in order."""

    def compute_bonus(self, rollout: Rollout) -> np.ndarray:
        """float [T, N]: the bonus of every step of `rollout`."""
        raise NotImplementedError

    def update(self, rollout: Rollout) -> dict[str, float]:
        """Trains the method on `rollout` (after `compute_bonus`); returns its losses."""
        del rollout
        return {}

    def statistics(self) -> dict[str, float]:
        """Method-specific values for TensorBoard (`curiosity/<key>`) and the diagnostics."""
        return {}

    def progress_columns(self) -> dict[str, float]:
        """Extra `progress.csv` columns (fixed keys from the first update on)."""
        return {}

    def variable_groups(self) -> dict[str, list]:
        """Variables stored in the policy checkpoint, by group name."""
        return {}

    def state_attributes(self) -> dict[str, Any]:
        """JSON-able state stored in the policy checkpoint (counters, generator states)."""
        return {}

    def restore_state(self, attributes: dict[str, Any]) -> None:
        """Restores what `state_attributes` returned (after the variables were loaded)."""
        del attributes

    def close(self) -> None:
        """Releases threads and files."""


@gin.configurable
class RewardScales:
    """The one place where task reward and bonus become the reward the policy trains on."""

    def __init__(
        self, scale_task_reward: float = 1.0, scale_surrogate_reward: float = 0.0, exploration_reward_min_step: int = 0
    ):
        """Args:
        scale_task_reward: float, s_task, factor of the env reward.
        scale_surrogate_reward: float, alpha, factor of the bonus.
        exploration_reward_min_step: int, vector steps (counted across resumes) during which
          alpha is 0 (ECO's warm-up while its R-network is still untrained).
        """
        self.scale_task_reward = float(scale_task_reward)
        self.scale_surrogate_reward = float(scale_surrogate_reward)
        self.exploration_reward_min_step = int(exploration_reward_min_step)
        self.step_count = 0  # vector steps combined so far

    def alphas(self, num_steps: int) -> np.ndarray:
        """alpha of each of the next `num_steps` vector steps ([T])."""
        counts = self.step_count + 1 + np.arange(num_steps)
        return np.where(counts < self.exploration_reward_min_step, 0.0, self.scale_surrogate_reward)

    def combine(self, task_rewards: np.ndarray, bonus: np.ndarray | None) -> np.ndarray:
        """s_task x task_rewards + alpha_t x bonus for the next T vector steps ([T, N]); counts them."""
        task_rewards = np.asarray(task_rewards, np.float64)
        combined = self.scale_task_reward * task_rewards
        if bonus is not None:
            combined = combined + self.alphas(len(task_rewards))[:, None] * np.asarray(bonus, np.float64)
        self.step_count += len(task_rewards)
        return combined


def shuffled_minibatches(rng: np.random.Generator, size: int, num_epochs: int, num_minibatches: int):
    """Index arrays of `num_epochs` passes over range(size): each pass a fresh permutation cut
    into `num_minibatches` near-equal chunks (empty ones skipped), drawn as the pass starts."""
    for _ in range(num_epochs):
        for chunk in np.array_split(rng.permutation(size), num_minibatches):
            if len(chunk):
                yield chunk


def curiosity_frames(observations: np.ndarray, infos: dict) -> np.ndarray:
    """The curiosity input of a vector step: `info['frame']` if the envs give it, else the
    observations."""
    return np.asarray(infos["frame"] if "frame" in infos else observations)


def step_positions(infos: dict, dones: np.ndarray) -> np.ndarray:
    """Positions [N, 3] at the end of a vector step; an ending step gives the ended episode's
    last position (`info['final_info']['position']`). The original differs on DMLab, where
    its done-step info came from the start of a discarded next episode (README,
    "Differences from the original")."""
    if "position" not in infos:
        raise KeyError("this exploration bonus needs info['position'] from the envs")
    positions = np.array(infos["position"], np.float64)
    final_info = infos.get("final_info")
    dones = np.asarray(dones, bool)
    if dones.any() and final_info is not None and "position" in final_info:
        positions[dones] = np.asarray(final_info["position"])[dones]
    return positions


def stack_steps(steps: Sequence[Step], final_observation: np.ndarray) -> Rollout:
    """A Rollout from consecutive Steps (what the per-step wrapper hands `update`)."""
    frames = [s.frame for s in steps]
    positions = [s.position for s in steps]
    return Rollout(
        observations=np.stack([s.observation for s in steps] + [final_observation]),
        actions=np.stack([s.action for s in steps]),
        task_rewards=np.stack([s.task_reward for s in steps]),
        dones=np.stack([s.done for s in steps]),
        frames=None if any(f is None for f in frames) else np.stack(frames),
        positions=None if any(p is None for p in positions) else np.stack(positions),
    )


class EpisodeBonusTracker:
    """Sums of the bonus and the task reward per episode, averaged over the last 100 episodes."""

    def __init__(self, num_envs: int, window: int = 100):
        self._bonus = np.zeros(num_envs)
        self._task = np.zeros(num_envs)
        self.bonus_history = collections.deque(maxlen=window)
        self.task_history = collections.deque(maxlen=window)

    def add(self, task_rewards: np.ndarray, bonus: np.ndarray, dones: np.ndarray) -> None:
        """Adds T steps ([T, N] arrays)."""
        for task, step_bonus, done in zip(np.asarray(task_rewards), np.asarray(bonus), np.asarray(dones, bool)):
            self._task += task
            self._bonus += step_bonus
            for env in np.flatnonzero(done):
                self.task_history.append(float(self._task[env]))
                self.bonus_history.append(float(self._bonus[env]))
            self._task[done] = 0
            self._bonus[done] = 0

    def means(self) -> dict[str, float]:
        if not self.bonus_history:
            return {}
        return {
            "episode_task_reward": float(np.mean(self.task_history)),
            "episode_bonus": float(np.mean(self.bonus_history)),
        }

    def episode_bonus(self) -> float:
        return float(np.mean(self.bonus_history)) if self.bonus_history else math.nan
