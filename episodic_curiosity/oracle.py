"""Grid oracle: a privileged count bonus on position cells (the original code).

A position (x, y, z) falls in cell (trunc(x / G), trunc(y / G), trunc(z / G)) (truncation
toward zero, as the original: the cells straddling 0 are twice as wide). The first visit of a
cell in an episode earns G^2 / N (1.0 with the paper's DMLab G = 30, N = 900 and Ant G = 5,
N = 25); the visited set is cleared when the episode ends.
"""

from __future__ import annotations

from typing import Any

import gin
import gymnasium as gym
import numpy as np


@gin.configurable(denylist=["num_envs"])
class GridOracle:
    """Per-env sets of visited cells."""

    def __init__(self, num_envs: int, reward_grid_size: float = 30.0, cell_reward_normalizer: float = 900.0):
        """Args:
        num_envs: int, number of envs.
        reward_grid_size: float, G, cell side in world units.
        cell_reward_normalizer: float, N; a new cell earns G^2 / N.
        """
        if reward_grid_size <= 0 or cell_reward_normalizer <= 0:
            raise ValueError("reward_grid_size and cell_reward_normalizer must be > 0")
        self.num_envs = num_envs
        self.reward_grid_size = float(reward_grid_size)
        self.cell_reward = reward_grid_size**2 / cell_reward_normalizer
        self._visited: list[set[tuple[int, ...]]] = [set() for _ in range(num_envs)]

    def cells(self, positions: np.ndarray) -> np.ndarray:
        """Integer cell ids [N, 3] of positions [N, 3] (truncation toward zero)."""
        return np.trunc(np.asarray(positions, np.float64) / self.reward_grid_size).astype(np.int64)

    def update(self, positions: np.ndarray) -> np.ndarray:
        """Visits `positions[i]` in env i; returns the reward [N] (G^2/N for a new cell)."""
        positions = np.asarray(positions, np.float64)
        if positions.shape[0] != self.num_envs:
            raise ValueError(f"expected positions for {self.num_envs} envs, got shape {positions.shape}")
        rewards = np.zeros(self.num_envs)
        for env, cell in enumerate(map(tuple, self.cells(positions))):
            if cell not in self._visited[env]:
                self._visited[env].add(cell)
                rewards[env] = self.cell_reward
        return rewards

    def reset(self, mask=None) -> None:
        """Clears the visited cells of the envs where `mask` is True (all if None)."""
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        for env in np.flatnonzero(mask):
            self._visited[env].clear()

    def num_visited(self) -> np.ndarray:
        return np.array([len(v) for v in self._visited])


@gin.configurable(denylist=["env"])
class OracleRewardWrapper(gym.Wrapper):
    """Replaces a single env's reward by the grid-oracle exploration reward.

    The original's "run oracle before monitor" for the no-reward scenarios: the env's own
    reward (and so the logged training reward and every evaluation) becomes the exploration
    score. The level's own reward is kept in `info['goal_reward']`. (Not `task_reward`: the
    curiosity wrapper fills that with the env reward, i.e. this score.)
    """

    def __init__(self, env: gym.Env, reward_grid_size: float = 30.0, cell_reward_normalizer: float = 900.0):
        super().__init__(env)
        self._oracle = GridOracle(1, reward_grid_size, cell_reward_normalizer)

    def reset(self, **kwargs) -> tuple[Any, dict]:
        self._oracle.reset()
        return self.env.reset(**kwargs)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if "position" not in info:
            raise KeyError("OracleRewardWrapper needs info['position'] from the env")
        info = {**info, "goal_reward": reward}
        oracle_reward = float(self._oracle.update(np.asarray(info["position"])[None])[0])
        return observation, oracle_reward, terminated, truncated, info
