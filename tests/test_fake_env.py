"""The fake navigation env used by the tests of later issues."""

import numpy as np
import pytest

from episodic_curiosity.environments import fake


def _rollout(env, actions):
    frames = [env.reset()[0]]
    for action in actions:
        frames.append(env.step(action)[0])
    return np.stack(frames)


def test_spaces_and_dtypes():
    env = fake.FakeNavigationEnv(seed=0)
    observation, info = env.reset()
    assert env.observation_space.shape == (120, 160, 3)
    assert observation.shape == (120, 160, 3) and observation.dtype == np.uint8
    assert env.observation_space.contains(observation)
    assert env.action_space.n == 4
    assert info["position"].shape == (3,)
    assert info["success"] is False


def test_same_seed_same_frames_and_different_seed_differs():
    actions = [1, 2, 1, 1, 3, 1, 0, 1]
    first = _rollout(fake.FakeNavigationEnv(seed=5), actions)
    second = _rollout(fake.FakeNavigationEnv(seed=5), actions)
    np.testing.assert_array_equal(first, second)
    starts = {tuple(fake.FakeNavigationEnv(seed=s).reset()[1]["position"]) for s in range(10)}
    assert len(starts) > 1


def test_frames_change_with_position_and_repeat_on_return():
    env = fake.FakeNavigationEnv(grid_size=8, fixed_start=(3, 3), seed=0)
    start, _ = env.reset()
    turned, *_ = env.step(2)
    assert not np.array_equal(start, turned)
    for _ in range(3):
        back, *_ = env.step(2)  # four left turns: back to the start heading
    np.testing.assert_array_equal(start, back)


def test_forward_moves_position_by_one_cell_and_walls_block():
    env = fake.FakeNavigationEnv(grid_size=4, fixed_start=(0, 0), seed=0)
    _, info = env.reset()
    heading = info["heading"]
    positions = [info["position"][:2]]
    for _ in range(6):
        positions.append(env.step(1)[4]["position"][:2])
    steps = np.abs(np.diff(positions, axis=0)).sum(axis=1)
    assert set(steps) <= {0.0, 1.0}
    assert np.all(np.array(positions) >= 0.5) and np.all(np.array(positions) <= 3.5)
    assert env._heading == heading  # forward never turns


def test_truncates_after_episode_length():
    env = fake.FakeNavigationEnv(episode_length=5, seed=0)
    env.reset()
    flags = [env.step(0)[2:4] for _ in range(5)]
    assert flags[:4] == [(False, False)] * 4
    assert flags[4] == (False, True)


def test_goal_gives_reward_and_terminates():
    env = fake.FakeNavigationEnv(grid_size=4, fixed_start=(1, 1), goal=(2, 1), seed=0)
    _, info = env.reset()
    # Turn until facing east (heading 0), then step forward into the goal.
    while info["heading"] != 0:
        _, _, _, _, info = env.step(2)
    _, reward, terminated, truncated, info = env.step(1)
    assert (reward, terminated, truncated, info["success"]) == (1.0, True, False, True)


def test_invalid_action_is_rejected():
    env = fake.FakeNavigationEnv(seed=0)
    env.reset()
    with pytest.raises(ValueError, match="invalid action"):
        env.step(7)


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match="observation_shape"):
        fake.FakeNavigationEnv(observation_shape=(84, 84, 1))
