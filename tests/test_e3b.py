"""E3B: the elliptical episodic bonus against numpy's matrix inverse, episode resets, the
inverse-dynamics training, checkpoint round trip and settings."""

import os

import gin
import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import checkpoint_io
from episodic_curiosity import icm
from episodic_curiosity.intrinsic import base
from episodic_curiosity.intrinsic import e3b

IMAGE = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
VECTOR = gym.spaces.Box(-np.inf, np.inf, (6,), np.float64)
ACTIONS = gym.spaces.Discrete(3)
RIDGE = 0.1
GIN_FILE = os.path.join(os.path.dirname(e3b.__file__), os.pardir, "configs", "method_ppo_plus_e3b.gin")


def _module(observation_space, seed=0, **kwargs):
    settings = dict(
        image_size=None,
        conv_layers=2,
        conv_filters=8,
        mlp_feature_units=(16, 8),
        hidden_units=32,
        forward_loss_weight=0.0,
        seed=seed,
    )
    settings.update(kwargs)
    return icm.IntrinsicCuriosityModule(observation_space, ACTIONS, **settings)


def _bonus(observation_space=IMAGE, num_envs=3, seed=0, **kwargs):
    setup = base.Setup(
        num_envs=num_envs, observation_space=observation_space, action_space=ACTIONS, nsteps=8, seed=seed
    )
    return e3b.E3bBonus(setup, module=_module(observation_space, seed), **kwargs)


def _rollout(observations, dones=None, actions=None):
    steps, envs = observations.shape[0] - 1, observations.shape[1]
    return base.Rollout(
        observations=observations,
        actions=np.zeros((steps, envs), np.int64) if actions is None else actions,
        task_rewards=np.zeros((steps, envs)),
        dones=np.zeros((steps, envs), bool) if dones is None else dones,
    )


def _images(steps=8, envs=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (steps + 1, envs, *IMAGE.shape), dtype=np.uint8)


def _reference(embeddings):
    """Bonuses [len - 1] and final C^-1 of one episode's embeddings [len, F] by direct inversion."""
    cov = RIDGE * np.eye(embeddings.shape[1]) + np.outer(embeddings[0], embeddings[0])
    bonuses = []
    for x in embeddings[1:]:
        bonuses.append(x @ np.linalg.inv(cov) @ x)
        cov += np.outer(x, x)
    return np.array(bonuses), np.linalg.inv(cov)


def test_bonus_matches_direct_inverse_and_shrinks_on_revisits():
    bonus = _bonus()
    observations = _images()
    observations[3, 0] = observations[1, 0]  # env 0 returns to step 0's observation at step 2
    values = bonus.compute_bonus(_rollout(observations))
    assert values.shape == (8, 3) and values.dtype == np.float64
    assert np.all(np.isfinite(values)) and np.all(values > 0)
    assert values[2, 0] < values[0, 0]
    for env in range(3):
        expected, cov_inverse = _reference(bonus.embed(observations[:, env]))
        np.testing.assert_allclose(values[:, env], expected, rtol=1e-6)
        np.testing.assert_allclose(bonus.inverse_covariances[env], cov_inverse, rtol=1e-6, atol=1e-9)


def test_consecutive_rollouts_equal_one_long_rollout():
    observations = _images(steps=8)
    whole = _bonus().compute_bonus(_rollout(observations))
    split = _bonus()
    first = split.compute_bonus(_rollout(observations[:5]))
    second = split.compute_bonus(_rollout(observations[4:]))  # observations[4] is not added twice
    np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=1e-9)


def test_episode_end_resets_only_that_envs_matrix():
    bonus = _bonus(VECTOR)
    observations = np.random.default_rng(2).normal(size=(9, 3, 6))
    dones = np.zeros((8, 3), bool)
    dones[3, 1] = True  # env 1: observations[4, 1] is the next episode's first observation
    values = bonus.compute_bonus(_rollout(observations, dones))
    assert values[3, 1] == 0.0
    assert np.all(values[np.arange(8) != 3, 1] > 0) and np.all(values[:, [0, 2]] > 0)
    embeddings = bonus.embed(observations.reshape(27, 6)).reshape(9, 3, -1)
    fresh = np.linalg.inv(RIDGE * np.eye(embeddings.shape[-1]) + np.outer(embeddings[4, 1], embeddings[4, 1]))
    assert values[4, 1] == pytest.approx(embeddings[5, 1] @ fresh @ embeddings[5, 1], rel=1e-6)
    expected, cov_inverse = _reference(embeddings[4:, 1])
    np.testing.assert_allclose(values[4:, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(bonus.inverse_covariances[1], cov_inverse, rtol=1e-6, atol=1e-9)
    for env in (0, 2):
        expected, cov_inverse = _reference(embeddings[:, env])
        np.testing.assert_allclose(values[:, env], expected, rtol=1e-6)
        np.testing.assert_allclose(bonus.inverse_covariances[env], cov_inverse, rtol=1e-6, atol=1e-9)
    bonus.reset()
    np.testing.assert_array_equal(bonus.inverse_covariances, np.broadcast_to(np.eye(8) / RIDGE, (3, 8, 8)))


def _learnable_rollout(seed=0):
    """Vector observations where the action moves one coordinate: the inverse model can learn it."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 3, (8, 3))
    observations = [rng.normal(size=(3, 6))]
    for t in range(8):
        observations.append(observations[-1] + 2.0 * np.eye(6)[actions[t]])
    dones = np.zeros((8, 3), bool)
    dones[5, 2] = True
    return _rollout(np.array(observations), dones, actions)


def test_update_lowers_the_inverse_loss_and_fills_the_columns():
    bonus = _bonus(VECTOR)
    rollout = _learnable_rollout()
    assert all(np.isnan(value) for value in bonus.progress_columns().values())
    before = bonus.inverse_loss(rollout)
    for _ in range(4):
        bonus.compute_bonus(rollout)
        losses = bonus.update(rollout)
    assert set(losses) == {"inverse_loss"}
    assert bonus.inverse_loss(rollout) < 0.85 * before  # 1.02 -> 0.77 with these seeds
    columns = bonus.progress_columns()
    assert set(columns) == {"e3b_inverse_loss", "e3b_bonus_mean", "e3b_bonus_std"}
    assert all(np.isfinite(value) for value in columns.values())
    assert bonus.statistics()["e3b_trainings"] == 4.0
    # The forward model gets no gradient: it keeps its initial weights.
    initial = _module(VECTOR).forward_model.get_weights()
    for trained, start in zip(bonus.module.forward_model.get_weights(), initial):
        np.testing.assert_array_equal(trained, start)


def test_normalised_bonus_divides_by_the_running_std():
    observations = _images()
    raw = _bonus().compute_bonus(_rollout(observations))
    normalised = _bonus(normalize_bonus=True)
    values = normalised.compute_bonus(_rollout(observations))
    np.testing.assert_allclose(values, raw / raw.std(), rtol=1e-9)
    assert normalised.statistics()["e3b_bonus_running_std"] == pytest.approx(raw.std())


def test_checkpoint_round_trip_gives_identical_bonuses(tmp_path):
    rollout, later = _learnable_rollout(0), _learnable_rollout(1)
    saved = _bonus(VECTOR, normalize_bonus=True)
    saved.compute_bonus(rollout)
    saved.update(rollout)
    path = str(tmp_path / "e3b.h5")
    checkpoint_io.save_variables(path, saved.variable_groups(), saved.state_attributes())
    restored = _bonus(VECTOR, seed=7, normalize_bonus=True)
    attributes = checkpoint_io.load_variables(path, restored.variable_groups())
    restored.restore_state(attributes)
    assert restored.progress_columns() == saved.progress_columns()
    saved.reset()  # the resumed run starts fresh episodes
    np.testing.assert_array_equal(restored.compute_bonus(later), saved.compute_bonus(later))
    assert restored.update(later) == saved.update(later)  # same Adam state and shuffling


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match=r"num_epochs=0.*num_minibatches=1.5.*ridge=0"):
        _bonus(num_epochs=0, num_minibatches=1.5, ridge=0)
    with pytest.raises(ValueError, match="ridge=-1"):
        _bonus(ridge=-1.0)
    with pytest.raises(ValueError, match="normalize_bonus='yes'"):
        _bonus(normalize_bonus="yes")
    setup = base.Setup(num_envs=2, observation_space=VECTOR, action_space=ACTIONS, nsteps=8)
    with pytest.raises(ValueError, match="forward_loss_weight=0.2"):
        e3b.E3bBonus(setup, module=_module(VECTOR, forward_loss_weight=0.2))
    with pytest.raises(ValueError, match="built for 3 envs"):
        _bonus(VECTOR).compute_bonus(_rollout(np.zeros((9, 2, 6))))
    with pytest.raises(ValueError, match="observations must have shape"):
        _bonus(VECTOR).compute_bonus(_rollout(np.zeros((9, 3, 5))))


def test_gin_file_configures_the_bonus(clean_gin):
    gin.parse_config_files_and_bindings(
        [GIN_FILE],
        [
            "IntrinsicCuriosityModule.image_size = None",
            "IntrinsicCuriosityModule.conv_layers = 2",
            "IntrinsicCuriosityModule.conv_filters = 4",
            "IntrinsicCuriosityModule.forward_loss_weight = 0.2",
        ],
        skip_unknown=True,
    )
    assert gin.query_parameter("RewardScales.scale_surrogate_reward") == pytest.approx(0.01)
    bonus = e3b.E3bBonus(base.Setup(num_envs=2, observation_space=IMAGE, action_space=ACTIONS, nsteps=8))
    assert bonus.name == "e3b" and bonus.ridge == 0.1 and bonus.normalize_bonus
    assert bonus.module.forward_loss_weight == 0.0  # E3B's explicit argument beats the binding
    assert bonus.feature_size == 4 * 4 * 4
