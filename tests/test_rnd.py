"""RND on the intrinsic-reward interface: shapes, normalisers against numpy, learning, vectors,
checkpoints and settings (tiny spaces, T = 8)."""

import math
import os

import gin
import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import checkpoint_io
from episodic_curiosity.intrinsic import base
from episodic_curiosity.intrinsic import rnd

pytestmark = pytest.mark.usefixtures("clean_gin")

T = 8
IMAGE = (16, 16, 3)
GIN_FILE = os.path.join(
    os.path.dirname(__file__), os.pardir, "episodic_curiosity", "configs", "method_ppo_plus_rnd.gin"
)


def _setup(observation_space, num_envs=2, seed=0):
    return base.Setup(
        num_envs=num_envs, observation_space=observation_space, action_space=gym.spaces.Discrete(3), nsteps=T, seed=seed
    )


def _image_bonus(num_envs=2, seed=0, **kwargs):
    settings = dict(image_size=(36, 36), feature_size=32, predictor_hidden_units=32)
    settings.update(kwargs)
    return rnd.RndBonus(_setup(gym.spaces.Box(0, 255, IMAGE, np.uint8), num_envs, seed), **settings)


def _images(rng, low, high, num_envs=2, shape=IMAGE):
    return rng.integers(low, high, size=(T + 1, num_envs, *shape), dtype=np.uint8)


def _rollout(observations):
    num_envs = observations.shape[1]
    dones = np.zeros((T, num_envs), bool)
    dones[3, 0] = True
    return base.Rollout(
        observations=observations,
        actions=np.zeros((T, num_envs), np.int64),
        task_rewards=np.zeros((T, num_envs)),
        dones=dones,
    )


def test_image_bonus_shape_columns_and_statistics():
    method = _image_bonus()
    assert method.name == "rnd" and method.trains_on_rollouts
    assert all(math.isnan(value) for value in method.progress_columns().values())
    rollout = _rollout(_images(np.random.default_rng(0), 0, 256))
    bonus = method.compute_bonus(rollout)
    assert bonus.shape == (T, 2) and np.isfinite(bonus).all() and (bonus >= 0).all()
    losses = method.update(rollout)
    assert np.isfinite(losses["rnd_loss"]) and method.trainings == 1
    columns = method.progress_columns()
    assert set(columns) == {"curiosity_loss", "rnd_loss", "rnd_bonus_mean", "rnd_bonus_std"}
    assert all(np.isfinite(value) for value in columns.values())
    assert columns["rnd_bonus_mean"] == pytest.approx(bonus.mean())
    assert method.statistics()["rnd_observation_count"] == T * 2  # the first rollout counted once


def test_bonus_is_the_raw_error_over_the_running_std_of_the_discounted_return():
    method = _image_bonus(intrinsic_gamma=0.9)
    rng = np.random.default_rng(1)
    first, second = _rollout(_images(rng, 0, 256)), _rollout(_images(rng, 0, 256))
    flat = lambda rollout: rollout.observations[1:].reshape(-1, *IMAGE)
    first_bonus = method.compute_bonus(first)  # initialises the observation statistics
    first_raw = method.prediction_error(flat(first)).reshape(T, 2)
    method.update(first)
    second_raw = method.prediction_error(flat(second)).reshape(T, 2)
    second_bonus = method.compute_bonus(second)
    raw = np.concatenate([first_raw, second_raw]).astype(np.float64)
    returns, running = np.zeros_like(raw), np.zeros(2)
    for t in range(len(raw)):  # one filter per env across both rollouts, blind to the episode end
        running = 0.9 * running + raw[t]
        returns[t] = running
    np.testing.assert_allclose(first_bonus, first_raw / np.sqrt(returns[:T].var() + 1e-8), rtol=1e-4)
    np.testing.assert_allclose(second_bonus, second_raw / np.sqrt(returns.var() + 1e-8), rtol=1e-4)


def test_observation_normaliser_matches_numpy_on_vectors():
    method = rnd.RndBonus(
        _setup(gym.spaces.Box(-np.inf, np.inf, (5,), np.float64), num_envs=3),
        mlp_units=(16,),
        feature_size=8,
        predictor_hidden_units=16,
    )
    rng = np.random.default_rng(2)
    rollouts = [_rollout(rng.normal(loc, scale, size=(T + 1, 3, 5))) for loc, scale in ((1.0, 2.0), (-3.0, 0.5))]
    for rollout in rollouts:
        bonus = method.compute_bonus(rollout)
        assert bonus.shape == (T, 3) and np.isfinite(bonus).all()
        assert np.isfinite(method.update(rollout)["rnd_loss"])
    fed = np.concatenate([r.observations[1:].reshape(-1, 5) for r in rollouts])
    mean, var, count = method.observation_statistics()
    assert count == len(fed) == 2 * T * 3
    np.testing.assert_allclose(mean, fed.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(var), fed.std(0), rtol=1e-5)


def test_images_use_the_last_frame_in_grey():
    shape = (36, 36, 6)  # two stacked RGB frames, no resizing
    method = rnd.RndBonus(_setup(gym.spaces.Box(0, 255, shape, np.uint8)), feature_size=8, predictor_hidden_units=8)
    assert method.frame_channels == 3 and method.input_shape == (36, 36, 1)
    observations = _images(np.random.default_rng(3), 0, 256, shape=shape)
    method.compute_bonus(_rollout(observations))
    last = observations[1:].reshape(-1, *shape)[..., 3:].astype(np.float64)
    grey = last @ np.array([0.2989, 0.5870, 0.1140])
    np.testing.assert_allclose(
        method.network_inputs(observations[1:].reshape(-1, *shape))[..., 0], grey, rtol=1e-4, atol=1e-2
    )
    mean, var, count = method.observation_statistics()
    assert count == T * 2
    np.testing.assert_allclose(mean[..., 0], grey.mean(0), atol=1e-2)
    np.testing.assert_allclose(np.sqrt(var[..., 0]), grey.std(0), rtol=1e-3, atol=1e-2)


def test_training_lowers_the_error_of_seen_observations_only():
    method = _image_bonus(learning_rate=1e-3)
    rng = np.random.default_rng(4)
    seen = _rollout(_images(rng, 0, 100))
    unseen = _images(rng, 150, 256)[1:].reshape(-1, *IMAGE)
    flat_seen = seen.observations[1:].reshape(-1, *IMAGE)
    method.compute_bonus(seen)
    before = method.prediction_error(flat_seen).mean()
    for _ in range(6):
        method.update(seen)
    after = method.prediction_error(flat_seen).mean()
    assert after < 0.5 * before
    assert method.prediction_error(unseen).mean() > 2 * after


def test_checkpoint_round_trip_restores_identical_bonuses(tmp_path):
    rng = np.random.default_rng(5)
    first, second = _rollout(_images(rng, 0, 256)), _rollout(_images(rng, 0, 256))
    settings = dict(update_proportion=0.5, num_epochs=2, num_minibatches=2)
    saved = _image_bonus(**settings)
    saved.compute_bonus(first)
    saved.update(first)
    path = str(tmp_path / "rnd.h5")
    checkpoint_io.save_variables(path, saved.variable_groups(), saved.state_attributes())
    restored = _image_bonus(seed=7, **settings)  # another seed: other networks
    assert not np.allclose(restored.target.weights[0].numpy(), saved.target.weights[0].numpy())
    restored.restore_state(checkpoint_io.load_variables(path, restored.variable_groups()))
    np.testing.assert_array_equal(restored.compute_bonus(second), saved.compute_bonus(second))
    assert restored.update(second) == saved.update(second)
    assert restored.progress_columns() == saved.progress_columns()
    np.testing.assert_array_equal(restored.compute_bonus(first), saved.compute_bonus(first))


@pytest.mark.parametrize(
    "space, settings, message",
    [
        (gym.spaces.Box(0, 255, IMAGE, np.uint8), {"update_proportion": 0.0}, "update_proportion"),
        (gym.spaces.Box(0, 255, IMAGE, np.uint8), {"intrinsic_gamma": 1.0, "num_epochs": 0}, "num_epochs"),
        (gym.spaces.Box(0, 255, IMAGE, np.uint8), {}, "at least 36 x 36"),
        (gym.spaces.Box(0, 255, IMAGE, np.uint8), {"frame_channels": 2, "image_size": (36, 36)}, "frame_channels"),
        (gym.spaces.Discrete(4), {}, "observation_space"),
    ],
)
def test_bad_settings_raise_value_error(space, settings, message):
    with pytest.raises(ValueError, match=message):
        rnd.RndBonus(_setup(space), **settings)


def test_wrong_observation_shape_raises_value_error():
    method = rnd.RndBonus(
        _setup(gym.spaces.Box(-1.0, 1.0, (4,), np.float32)), mlp_units=(8,), feature_size=4, predictor_hidden_units=4
    )
    with pytest.raises(ValueError, match="shape"):
        method.compute_bonus(_rollout(np.zeros((T + 1, 2, 5), np.float32)))


def test_gin_file_binds_the_method():
    from episodic_curiosity.ppo import learner  # noqa: F401  pylint: disable=g-import-not-at-top

    gin.parse_config_file(GIN_FILE, skip_unknown=["train_policy"])
    with open(GIN_FILE) as handle:
        assert "train_policy.intrinsic_reward = @RndBonus" in handle.read()
    scales = base.RewardScales()
    assert scales.scale_task_reward == 2 * scales.scale_surrogate_reward > 0
    assert gin.query_parameter("RndBonus.learning_rate") == 1e-4
    assert gin.query_parameter("RndBonus.intrinsic_gamma") == 0.99
    method = rnd.RndBonus(_setup(gym.spaces.Box(-1.0, 1.0, (4,), np.float32)))
    assert (method.num_epochs, method.num_minibatches, method.update_proportion) == (4, 4, 1.0)
