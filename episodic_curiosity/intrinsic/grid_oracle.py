"""PPO+Grid Oracle on the intrinsic-reward interface: a privileged count bonus on position
cells (`oracle.GridOracle`), reset at every episode end (the original code)."""

from __future__ import annotations

import gin
import numpy as np

from episodic_curiosity import oracle
from episodic_curiosity.intrinsic import base


@gin.configurable(denylist=["setup"])
class GridOracleBonus(base.IntrinsicReward):
    """G^2 / N for the first visit of a grid cell in an episode (cell size from `GridOracle.*`)."""

    name = "grid_oracle"
    uses_positions = True

    def __init__(self, setup: base.Setup):
        super().__init__(setup)
        self.oracle = oracle.GridOracle(self.num_envs)

    def reset(self) -> None:
        self.oracle.reset()

    def compute_bonus(self, rollout: base.Rollout) -> np.ndarray:
        if rollout.positions is None:
            raise ValueError("the grid oracle needs Rollout.positions (info['position'] from the envs)")
        bonus = np.zeros((rollout.num_steps, self.num_envs))
        for t in range(rollout.num_steps):
            bonus[t] = self.oracle.update(rollout.positions[t])
            self.oracle.reset(rollout.dones[t])
        return bonus

    def statistics(self) -> dict[str, float]:
        return {"visited_cells_mean": float(self.oracle.num_visited().mean())}
