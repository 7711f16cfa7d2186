"""ICM: loss and reward math, wiring against numpy, learning and novelty on the fake env."""

import math

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from episodic_curiosity import icm
from episodic_curiosity.environments.fake import FakeNavigationEnv

SHAPE = (16, 16, 3)


def _small_module(observation_space, action_space, **kwargs):
    settings = dict(image_size=None, conv_layers=2, conv_filters=8, hidden_units=32, seed=0)
    settings.update(kwargs)
    return icm.IntrinsicCuriosityModule(observation_space, action_space, **settings)


def test_loss_functions_on_hand_made_tensors():
    predicted = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    actual = tf.constant([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(icm.forward_loss_per_transition(predicted, actual), [2.5, 12.5])
    logits = tf.constant([[0.0, math.log(3.0)], [0.0, 0.0]])  # p = (1/4, 3/4) and (1/2, 1/2)
    expected = (-math.log(0.75) - math.log(0.5)) / 2
    assert float(icm.discrete_inverse_loss(logits, tf.constant([1, 0]))) == pytest.approx(expected, rel=1e-6)
    assert float(
        icm.continuous_inverse_loss(tf.constant([[1.0, 1.0], [0.0, 2.0]]), tf.constant([[0.0, 0.0], [0.0, 0.0]]))
    ) == pytest.approx(1.5)
    assert float(icm.icm_loss(tf.constant(2.0), tf.constant(10.0), 0.2)) == pytest.approx(0.8 * 2 + 0.2 * 10)
    np.testing.assert_allclose(icm.intrinsic_reward_from_features(predicted, actual, 0.1, 1.0), [0.25, 1.0])


@pytest.mark.parametrize("discrete", [True, False])
def test_module_losses_and_reward_match_numpy(discrete):
    """Encoder/forward/inverse wiring (concatenation order, one-hot) against numpy."""
    if discrete:
        observation_space, action_space = gym.spaces.Box(0, 255, SHAPE, np.uint8), gym.spaces.Discrete(4)
    else:
        observation_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float64)
        action_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    module = _small_module(observation_space, action_space, mlp_feature_units=(16, 8), reward_scale=0.5, max_reward=1e9)
    rng = np.random.default_rng(1)
    if discrete:
        observations, next_observations = rng.integers(0, 256, size=(2, 6, *SHAPE), dtype=np.uint8)
        actions = rng.integers(0, 4, size=6)
        action_input = np.eye(4, dtype=np.float32)[actions]
    else:
        observations, next_observations = rng.normal(size=(2, 6, 5))
        actions = rng.uniform(-2.0, 2.0, size=(6, 3)).astype(np.float32)  # clipped to [-1, 1]
        action_input = np.clip(actions, -1.0, 1.0)
    features = module.encoder(observations).numpy()
    next_features = module.encoder(next_observations).numpy()
    assert features.shape == (6, module.feature_size)
    predicted = module.forward_model(np.concatenate([features, action_input], -1)).numpy()
    inverse = module.inverse_model(np.concatenate([features, next_features], -1)).numpy()
    forward = 0.5 * ((predicted - next_features) ** 2).sum(-1)
    if discrete:
        log_probabilities = inverse - np.log(np.exp(inverse).sum(-1, keepdims=True))
        inverse_loss = -log_probabilities[np.arange(6), actions].mean()
    else:
        inverse_loss = (0.5 * ((inverse - action_input) ** 2).sum(-1)).mean()
    losses = module.losses(observations, actions, next_observations)
    assert losses["forward_loss"] == pytest.approx(forward.mean(), rel=1e-4)
    assert losses["inverse_loss"] == pytest.approx(inverse_loss, rel=1e-4)
    assert losses["loss"] == pytest.approx(0.8 * inverse_loss + 0.2 * forward.mean(), rel=1e-4)
    np.testing.assert_allclose(
        module.intrinsic_reward(observations, actions, next_observations), 0.5 * forward, rtol=1e-4
    )


def test_paper_encoder_gives_288_features_and_bad_settings_fail():
    module = icm.IntrinsicCuriosityModule(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), gym.spaces.Discrete(4))
    assert module.feature_size == 288  # 84 -> 42 (resize) -> 21 -> 11 -> 6 -> 3; 3 x 3 x 32
    with pytest.raises(ValueError, match="forward_loss_weight=1.5.*learning_rate=0"):
        icm.IntrinsicCuriosityModule(
            gym.spaces.Box(0, 255, SHAPE, np.uint8), gym.spaces.Discrete(4), forward_loss_weight=1.5, learning_rate=0
        )
    with pytest.raises(ValueError, match="observations must have shape"):
        _small_module(gym.spaces.Box(0, 255, SHAPE, np.uint8), gym.spaces.Discrete(4)).losses(
            np.zeros((2, 8, 8, 3), np.uint8), np.zeros(2), np.zeros((2, 8, 8, 3), np.uint8)
        )


def _fake_transitions(steps, seed, grid_size=8):
    """Random-walk transitions (s, a, s') of the deterministic fake env, with s's cell."""
    env = FakeNavigationEnv(episode_length=10**6, grid_size=grid_size, observation_shape=SHAPE, seed=seed)
    observation, info = env.reset()
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(steps):
        action = int(rng.choice(4, p=[0.1, 0.5, 0.2, 0.2]))
        next_observation, _, _, _, next_info = env.step(action)
        rows.append((observation, action, next_observation, info["position"][:2]))
        observation, info = next_observation, next_info
    observations, actions, next_observations, cells = (np.array(column) for column in zip(*rows))
    return observations, actions, next_observations, cells


def _train(module, data, steps, seed=0, batch=32):
    rng = np.random.default_rng(seed)
    observations, actions, next_observations = data[:3]
    for _ in range(steps):
        index = rng.integers(0, len(actions), batch)
        module.train_step(observations[index], actions[index], next_observations[index])


def test_forward_loss_falls_on_the_fake_env():
    data = _fake_transitions(400, seed=0, grid_size=4)
    module = _small_module(gym.spaces.Box(0, 255, SHAPE, np.uint8), gym.spaces.Discrete(4))
    before = module.losses(*data[:3])
    _train(module, data, 300)
    after = module.losses(*data[:3])
    assert after["forward_loss"] < 0.5 * before["forward_loss"], (before, after)
    assert after["inverse_loss"] < before["inverse_loss"]


def test_bonus_is_higher_on_novel_transitions_than_on_trained_ones():
    observations, actions, next_observations, cells = _fake_transitions(3000, seed=3)
    # Region A: both cells of the transition in the left half of the 8x8 grid; B: the right half.
    next_cells = np.roll(cells, -1, axis=0)
    in_a = (cells[:, 0] < 4) & (next_cells[:, 0] < 4)
    in_b = (cells[:, 0] > 4) & (next_cells[:, 0] > 4)
    in_a[-1] = in_b[-1] = False
    assert in_a.sum() > 300 and in_b.sum() > 100
    region_a = tuple(column[in_a] for column in (observations, actions, next_observations))
    region_b = tuple(column[in_b] for column in (observations, actions, next_observations))
    # The forward model needs the paper's 256 hidden units to memorise region A's layout.
    module = _small_module(gym.spaces.Box(0, 255, SHAPE, np.uint8), gym.spaces.Discrete(4), hidden_units=256)
    _train(module, region_a, 600)
    seen = module.intrinsic_reward(*region_a).mean()
    novel = module.intrinsic_reward(*region_b).mean()
    assert novel > 1.5 * seen, (seen, novel)  # 2.3x with these seeds
