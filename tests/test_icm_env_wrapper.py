"""PPO+ICM wrapper: reward composition, episode boundaries, training schedule, checkpoints,
and the `ppo_plus_icm` launcher method end to end (fake env and VizDoom, tiny sizes)."""

import csv
import glob
import math
import os

import gin
import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from episodic_curiosity import checkpoint_io
from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import icm
from episodic_curiosity import icm_env_wrapper
from episodic_curiosity import launcher
from episodic_curiosity import metrics_csv
from episodic_curiosity import train_policy

SHAPE = (16, 16, 3)
ICM_COLUMNS = ("icm_forward_loss", "icm_inverse_loss", "icm_loss", "icm_bonus_mean", "icm_bonus_std")
TINY = ["train_policy.env_kwargs = {'episode_length': 8}", "PPOConfig.nsteps = 8",
        "PPOConfig.nminibatches = 2", "PPOConfig.noptepochs = 1"]


pytestmark = pytest.mark.usefixtures("clean_gin")


def _small_module(env, seed=0):
    return icm.IntrinsicCuriosityModule(env.single_observation_space, env.single_action_space,
                                        image_size=None, conv_layers=2, conv_filters=8, hidden_units=32,
                                        seed=seed)


def _fake_icm_env(episode_length=5, nsteps=6, seed=0, **kwargs):
    env_kwargs = {"episode_length": episode_length, "observation_shape": SHAPE}
    vec = environments.make_vector_env("fake", 2, asynchronous=False, env_kwargs=env_kwargs)
    inner = curiosity_env_wrapper.CuriosityEnvWrapper(vec, None, exploration_reward="none",
                                                      target_image_shape=None, log_statistics=False)
    return icm_env_wrapper.IcmEnvWrapper(inner, nsteps, seed=seed, module=_small_module(inner, seed),
                                         **kwargs)


def _key(observation, action, next_observation):
    return observation.tobytes() + bytes([int(action)]) + next_observation.tobytes()


def test_reward_bonus_boundaries_and_training_on_real_transitions_only():
    env = _fake_icm_env(scale_surrogate_reward=2.0, num_epochs=2, num_minibatches=3)
    trained = []
    original_train_step = env.module.train_step

    def spy(observations, actions, next_observations):
        trained.append([_key(*row) for row in zip(observations, actions, next_observations)])
        return original_train_step(observations, actions, next_observations)

    env.module.train_step = spy
    observations, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    real_transitions = []
    for step in range(1, 13):
        actions = rng.integers(0, 4, size=2)
        next_observations, rewards, terminated, truncated, infos = env.step(actions)
        dones = terminated | truncated
        bonus = infos["curiosity_bonus"]
        np.testing.assert_allclose(rewards, infos["task_reward"] + 2.0 * bonus)
        assert np.all(bonus[dones] == 0.0) and np.all(bonus[~dones] > 0.0)
        assert dones.tolist() == [step % 5 == 0] * 2
        real_transitions.extend(_key(observations[i], actions[i], next_observations[i])
                                for i in np.flatnonzero(~dones))
        observations = next_observations
        assert env.trainings == step // 6 and env.step_count == step
        if step % 6 == 0:
            # 2 epochs x 3 minibatches; each epoch covers exactly the rollout's real transitions.
            calls = trained[-6:]
            window = real_transitions[:]
            real_transitions.clear()
            assert len(window) == {6: 10, 12: 10}[step]  # 12 transitions, one done step per env
            for epoch in (calls[:3], calls[3:]):
                assert sorted(k for call in epoch for k in call) == sorted(window)
    assert len(trained) == 12
    stats = env.statistics()
    assert stats["icm_trainings"] == 2 and math.isfinite(stats["icm_forward_loss"])
    assert stats["icm_bonus_mean"] > 0 and "episode_bonus" in stats
    env.close()


def test_continuous_actions_and_vector_observations():
    vec = gym.vector.SyncVectorEnv([lambda: gym.make("Pendulum-v1", max_episode_steps=7)] * 2,
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    env = icm_env_wrapper.IcmEnvWrapper(vec, 7, num_epochs=1, num_minibatches=2)
    assert env.module.feature_size == 256 and not env.module.discrete
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(14):
        _, rewards, _, _, infos = env.step(rng.uniform(-3.0, 3.0, size=(2, 1)).astype(np.float32))
        np.testing.assert_allclose(rewards, infos["task_reward"] + infos["curiosity_bonus"])
    assert env.trainings == 2
    assert all(math.isfinite(value) for value in env.progress_record().values())
    env.close()


def test_checkpoint_round_trip_restores_weights_optimizer_and_counters(tmp_path):
    env = _fake_icm_env(nsteps=4)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(8):
        env.step(rng.integers(0, 4, size=2))
    path = str(tmp_path / "policy.h5")
    checkpoint_io.save_variables(path, env.variable_groups(), env.state_attributes())
    restored = _fake_icm_env(nsteps=4, seed=7)
    attributes = checkpoint_io.load_variables(path, restored.variable_groups())
    restored.restore_attributes(attributes)
    assert (restored.trainings, restored.step_count) == (2, 8)
    assert restored.progress_record() == pytest.approx(env.progress_record())
    for saved, loaded in zip(env.module.optimizer.variables, restored.module.optimizer.variables):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    batch = rng.integers(0, 256, size=(2, 3, *SHAPE), dtype=np.uint8)
    actions = np.array([0, 1, 2])
    np.testing.assert_array_equal(env.module.intrinsic_reward(batch[0], actions, batch[1]),
                                  restored.module.intrinsic_reward(batch[0], actions, batch[1]))
    assert env._rng.integers(1 << 30) == restored._rng.integers(1 << 30)  # pylint: disable=protected-access
    env.close()
    restored.close()


def test_train_policy_rejects_bad_icm_combinations(tmp_path):
    with pytest.raises(ValueError, match="unknown intrinsic_model 'rnd'"):
        train_policy.train_policy(str(tmp_path), "fake", intrinsic_model="rnd")
    with pytest.raises(ValueError, match="needs exploration_reward='none'"):
        train_policy.train_policy(str(tmp_path), "fake", intrinsic_model="icm", exploration_reward="oracle")


def _progress_rows(run_dir):
    with open(os.path.join(run_dir, "progress.csv")) as f:
        return list(csv.DictReader(f))


def _tensorboard_tags(run_dir):
    tags = set()
    for path in glob.glob(os.path.join(run_dir, "tb", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_ppo_plus_icm_launch_logs_losses_and_resumes(tmp_path):
    kwargs = dict(scale="smoke", num_env=2, asynchronous=False, show_progress=False, gin_bindings=TINY)
    outputs = launcher.launch(str(tmp_path), "ppo_plus_icm", "fake", num_timesteps=40, **kwargs)
    run_dir = outputs["run_dir"]
    assert gin.query_parameter("train_policy.intrinsic_model") == "icm"
    rows = _progress_rows(run_dir)
    assert [int(r["nupdates"]) for r in rows] == [1, 2]  # 44 // 16
    for row in rows:
        assert all(math.isfinite(float(row[c])) for c in ICM_COLUMNS)
        assert float(row["curiosity_loss"]) == float(row["icm_loss"]) > 0
    assert len(metrics_csv.read_scalars(os.path.join(run_dir, "reward_train.csv"))) == 2
    assert {"curiosity/icm_forward_loss", "curiosity/icm_inverse_loss", "curiosity/icm_bonus_mean"} <= \
        _tensorboard_tags(run_dir)
    first = checkpoint_io.read_attributes(outputs["policy_checkpoint"])
    assert (first["icm_trainings"], first["icm_step_count"]) == (2, 16)

    # A longer run of the same command continues: 88 // 16 = 5 updates, ICM counters go on.
    outputs = launcher.launch(str(tmp_path), "ppo_plus_icm", "fake", num_timesteps=80, **kwargs)
    assert [int(r["nupdates"]) for r in _progress_rows(run_dir)] == [1, 2, 3, 4, 5]
    last = checkpoint_io.read_attributes(outputs["policy_checkpoint"])
    assert (last["icm_trainings"], last["icm_step_count"]) == (5, 40)
    steps = [s for s, _, _ in metrics_csv.read_scalars(os.path.join(run_dir, "reward_train.csv"))]
    assert steps == [16, 32, 48, 64, 80]


@pytest.mark.vizdoom
def test_ppo_plus_icm_launch_on_vizdoom(tmp_path):
    pytest.importorskip("vizdoom")
    outputs = launcher.launch(str(tmp_path), "ppo_plus_icm", "vizdoom_sparse", num_timesteps=30, num_env=2,
                              scale="smoke", asynchronous=False, show_progress=False,
                              gin_bindings=TINY[1:] + ["train_policy.eval_every_rollouts = 0"])
    rows = _progress_rows(outputs["run_dir"])
    assert [int(r["nupdates"]) for r in rows] == [1, 2]
    assert all(math.isfinite(float(r["icm_forward_loss"])) and float(r["icm_bonus_mean"]) > 0 for r in rows)
