"""A fast, deterministic stand-in for a first-person navigation env, for tests.

The agent walks on a `grid_size` x `grid_size` grid of cells and faces one of 4 headings.
Actions match the VizDoom set: 0 no-op, 1 forward, 2 turn left, 3 turn right. The frame is a
pure function of (cell, heading): the upper half shows the colour of the cell ahead, the lower
half the colour of the current cell, and a bright column marks the heading, so frames change
with position and repeat exactly when the agent returns to a state. Cell colours are fixed by
`layout_seed`, independent of the episode seed.

Reward +1 and `terminated` on entering the goal cell (if any); `truncated` after
`episode_length` steps. `info` carries `position` = (x, y, 0) in cell units (cell centres),
`success` and `heading`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

_HEADINGS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])  # east, north, west, south


class FakeNavigationEnv(gym.Env):
    """Grid-world with image observations; see the module docstring."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        episode_length: int = 20,
        grid_size: int = 8,
        observation_shape: tuple[int, int, int] = (120, 160, 3),
        goal: tuple[int, int] | None = None,
        fixed_start: tuple[int, int] | None = None,
        layout_seed: int = 0,
        seed: int | None = None,
        render_mode: str | None = None,
    ):
        """Args:
        episode_length: int, agent steps before `truncated`.
        grid_size: int, cells per side.
        observation_shape: (H, W, 3), frame size.
        goal: (x, y) cell or None; entering it gives +1 and ends the episode.
        fixed_start: (x, y) cell to start in, or None for a random cell each episode.
        layout_seed: int, seeds the cell colours (the "map").
        seed: int or None, used by the first `reset()` not given a seed.
        render_mode: None or 'rgb_array'.
        """
        if episode_length < 1 or grid_size < 2:
            raise ValueError("episode_length must be >= 1 and grid_size >= 2")
        height, width, channels = observation_shape
        if channels != 3 or height < 4 or width < 4:
            raise ValueError(f"observation_shape must be (H>=4, W>=4, 3), got {observation_shape}")
        self.episode_length = episode_length
        self.grid_size = grid_size
        self.goal = None if goal is None else tuple(int(c) for c in goal)
        self.fixed_start = None if fixed_start is None else tuple(int(c) for c in fixed_start)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, tuple(observation_shape), np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        layout_rng = np.random.default_rng(layout_seed)
        # One colour per cell, plus one for "wall" (outside the grid).
        self._cell_colours = layout_rng.integers(0, 200, size=(grid_size, grid_size, 3), dtype=np.uint8)
        self._wall_colour = np.array([40, 40, 40], np.uint8)
        self._initial_seed = seed
        self._seeded = False
        self._cell = np.zeros(2, np.int64)
        self._heading = 0
        self._steps = 0
        self._success = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and not self._seeded and self._initial_seed is not None:
            seed = self._initial_seed
        super().reset(seed=seed)
        self._seeded = True
        if self.fixed_start is not None:
            self._cell = np.array(self.fixed_start, np.int64)
        else:
            self._cell = self.np_random.integers(0, self.grid_size, size=2)
        self._heading = int(self.np_random.integers(0, 4))
        self._steps = 0
        self._success = False
        return self._frame(), self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}: expected an int in [0, 4)")
        action = int(action)
        reward, terminated = 0.0, False
        if action == 1:
            target = self._cell + _HEADINGS[self._heading]
            if np.all((target >= 0) & (target < self.grid_size)):
                self._cell = target
        elif action == 2:
            self._heading = (self._heading + 1) % 4
        elif action == 3:
            self._heading = (self._heading - 1) % 4
        self._steps += 1
        if self.goal is not None and tuple(self._cell) == self.goal:
            reward, terminated, self._success = 1.0, True, True
        truncated = not terminated and self._steps >= self.episode_length
        return self._frame(), reward, terminated, truncated, self._info()

    def render(self):
        return self._frame() if self.render_mode == "rgb_array" else None

    def _colour(self, cell: np.ndarray) -> np.ndarray:
        x, y = cell
        if 0 <= x < self.grid_size and 0 <= y < self.grid_size:
            return self._cell_colours[x, y]
        return self._wall_colour

    def _frame(self) -> np.ndarray:
        height, width, _ = self.observation_space.shape
        frame = np.empty((height, width, 3), np.uint8)
        frame[: height // 2] = self._colour(self._cell + _HEADINGS[self._heading])
        frame[height // 2 :] = self._colour(self._cell)
        column = (self._heading * width) // 4
        frame[:, column : column + max(1, width // 16)] = 255
        return frame

    def _info(self) -> dict[str, Any]:
        x, y = self._cell
        return {
            "position": np.array([x + 0.5, y + 0.5, 0.0], np.float64),
            "heading": self._heading,
            "success": self._success,
        }
