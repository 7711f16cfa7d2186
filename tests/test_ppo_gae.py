"""GAE with PPO2's done-before-step flags, against hand-computed numbers."""

import numpy as np
import pytest

from episodic_curiosity.ppo import compute_gae

GAMMA, LAM = 0.9, 0.8

# Three steps, two envs. Env 0: step 1 ends an episode (dones[2, 0] = 1), the rollout ends
# mid-episode (bootstrap from last_values). Env 1: step 0 ends an episode (dones[1, 1] = 1)
# and so does step 2 (last_dones = 1: no bootstrap from last_values).
REWARDS = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
VALUES = np.array([[0.5, 1.0], [1.0, 2.0], [1.5, 3.0]])
DONES = np.array([[0, 0], [0, 1], [1, 0]])
LAST_VALUES = np.array([2.0, 10.0])
LAST_DONES = np.array([0, 1])


def test_hand_computed_three_steps_two_envs():
    advantages, returns = compute_gae(REWARDS, VALUES, DONES, LAST_VALUES, LAST_DONES, GAMMA, LAM)
    # Env 0: delta_2 = 3 + 0.9 * 2 - 1.5 = 3.3; A_2 = 3.3.
    #        delta_1 = 2 - 1 = 1 (obs 2 starts a new episode); A_1 = 1.
    #        delta_0 = 1 + 0.9 * 1 - 0.5 = 1.4; A_0 = 1.4 + 0.72 * 1 = 2.12.
    # Env 1: delta_2 = 0 - 3 = -3 (last_dones = 1); A_2 = -3.
    #        delta_1 = 1 + 0.9 * 3 - 2 = 1.7; A_1 = 1.7 + 0.72 * -3 = -0.46.
    #        delta_0 = 0 - 1 = -1 (obs 1 starts a new episode); A_0 = -1.
    expected_advantages = np.array([[2.12, -1.0], [1.0, -0.46], [3.3, -3.0]])
    np.testing.assert_allclose(advantages, expected_advantages, rtol=1e-6)
    np.testing.assert_allclose(returns, expected_advantages + VALUES, rtol=1e-6)
    assert advantages.dtype == np.float32 and returns.dtype == np.float32


def test_last_dones_controls_bootstrapping():
    not_done = compute_gae(REWARDS, VALUES, DONES, LAST_VALUES, np.array([0, 0]), GAMMA, LAM)[0]
    # Env 1 now bootstraps: delta_2 = 0 + 0.9 * 10 - 3 = 6; A_1 = 1.7 + 0.72 * 6 = 6.02.
    np.testing.assert_allclose(not_done[:, 1], [-1.0, 6.02, 6.0], rtol=1e-6)
    # Env 0 is unchanged.
    np.testing.assert_allclose(not_done[:, 0], [2.12, 1.0, 3.3], rtol=1e-6)


def test_no_dones_gamma_lambda_one_is_monte_carlo_with_bootstrap():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    last_values = rng.normal(size=3)
    advantages, returns = compute_gae(rewards, values, np.zeros((5, 3)), last_values, np.zeros(3), 1.0, 1.0)
    expected_returns = np.cumsum(rewards[::-1], axis=0)[::-1] + last_values
    np.testing.assert_allclose(returns, expected_returns, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(advantages, expected_returns - values, rtol=1e-5, atol=1e-5)


def test_matches_elementwise_recursion():
    rng = np.random.default_rng(1)
    steps, envs = 7, 4
    rewards, values = rng.normal(size=(steps, envs)), rng.normal(size=(steps, envs))
    dones = rng.random((steps, envs)) < 0.3
    last_values, last_dones = rng.normal(size=envs), rng.random(envs) < 0.5
    advantages, _ = compute_gae(rewards, values, dones, last_values, last_dones, 0.99, 0.95)
    for env in range(envs):
        running = 0.0
        for t in reversed(range(steps)):
            next_done = last_dones[env] if t == steps - 1 else dones[t + 1, env]
            next_value = last_values[env] if t == steps - 1 else values[t + 1, env]
            delta = rewards[t, env] + 0.99 * next_value * (1 - next_done) - values[t, env]
            running = delta + 0.99 * 0.95 * (1 - next_done) * running
            assert advantages[t, env] == pytest.approx(running, rel=1e-5, abs=1e-5)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\[T, N\]"):
        compute_gae(REWARDS, VALUES[:2], DONES, LAST_VALUES, LAST_DONES, GAMMA, LAM)
    with pytest.raises(ValueError, match="last_values"):
        compute_gae(REWARDS, VALUES, DONES, LAST_VALUES[:1], LAST_DONES, GAMMA, LAM)
