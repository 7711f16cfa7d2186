"""Grid oracle: cells by truncation, one reward per new cell per episode, env-level wrapper."""

import numpy as np
import pytest

from episodic_curiosity import oracle
from episodic_curiosity.environments import fake


def test_scripted_trajectory_counts_new_cells():
    grid = oracle.GridOracle(2, reward_grid_size=30.0, cell_reward_normalizer=900.0)
    trajectory = [  # env 0 walks 4 cells and back; env 1 stays put
        ([5, 5, 0], [1, 1, 0]),
        ([35, 5, 0], [2, 2, 0]),
        ([65, 5, 0], [3, 3, 0]),
        ([35, 5, 0], [4, 4, 0]),
        ([95, 5, 0], [5, 5, 0]),
    ]
    rewards = np.array([grid.update(np.array(step, float)) for step in trajectory])
    assert rewards[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert rewards[:, 1].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert grid.num_visited().tolist() == [4, 1]
    grid.reset([True, False])
    assert grid.update(np.array([[5, 5, 0], [1, 1, 0]], float)).tolist() == [1.0, 0.0]


def test_truncation_toward_zero_and_reward_scale():
    grid = oracle.GridOracle(1, reward_grid_size=5.0, cell_reward_normalizer=50.0)
    cells = grid.cells(np.array([[-4.9, 4.9, 0.0], [-5.1, 0.0, 0.0]]))
    assert cells.tolist() == [[0, 0, 0], [-1, 0, 0]]  # -4.9 and 4.9 share cell 0
    assert grid.update(np.array([[1.0, 1.0, 0.0]]))[0] == pytest.approx(0.5)  # G^2/N = 25/50
    with pytest.raises(ValueError, match="positions for 1 envs"):
        grid.update(np.zeros((2, 3)))


def test_oracle_reward_wrapper_replaces_the_env_reward():
    env = oracle.OracleRewardWrapper(
        fake.FakeNavigationEnv(grid_size=4, fixed_start=(0, 0), goal=(3, 3), seed=0),
        reward_grid_size=1.0,
        cell_reward_normalizer=1.0,
    )
    _, info = env.reset()
    rewards = []
    for action in [0, 1, 1, 1, 2, 2, 1]:
        _, reward, _, _, info = env.step(action)
        rewards.append(reward)
        assert info["goal_reward"] == 0.0
    distinct_cells = len({tuple(np.floor(p)) for p in [info["position"]]})
    assert rewards[0] == 1.0 and sum(rewards) >= distinct_cells
    env.reset()
    assert env.step(0)[1] == 1.0  # visited cells are forgotten at reset
