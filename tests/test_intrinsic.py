"""The intrinsic-reward interface: PPO+ICM (`intrinsic.IcmBonus`) through the Runner and on
Rollouts (episode boundaries, training schedule, logs, checkpoints, settings, train_policy end
to end), and a toy bonus of this file through `train_policy`."""

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
from episodic_curiosity import cli
from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import icm
from episodic_curiosity import intrinsic
from episodic_curiosity import metrics_csv
from episodic_curiosity import ppo
from episodic_curiosity import train_policy

pytestmark = pytest.mark.usefixtures("clean_gin")

SHAPE = (16, 16, 3)
ICM_COLUMNS = ("icm_forward_loss", "icm_inverse_loss", "icm_loss", "icm_bonus_mean", "icm_bonus_std")
TINY = [
    "PPOConfig.nsteps = 8",
    "PPOConfig.nminibatches = 2",
    "PPOConfig.noptepochs = 1",
    "train_policy.eval_every_rollouts = 0",
]


class ScriptedPolicy:
    """Plays fixed actions (the Runner's policy interface)."""

    def __init__(self, actions):
        self.actions, self.t = np.asarray(actions), 0

    def step(self, observations):
        self.t += 1
        num_envs = len(observations)
        return self.actions[self.t - 1], np.zeros(num_envs, np.float32), np.zeros(num_envs, np.float32)

    def value(self, observations):
        return np.zeros(len(observations), np.float32)


def _small_module(observation_space, action_space, seed=0):
    return icm.IntrinsicCuriosityModule(
        observation_space, action_space, image_size=None, conv_layers=2, conv_filters=8, hidden_units=32, seed=seed
    )


def _setup(num_envs=2, seed=0, observation_space=None, action_space=None, nsteps=6):
    return intrinsic.Setup(
        num_envs=num_envs,
        observation_space=observation_space or gym.spaces.Box(0, 255, SHAPE, np.uint8),
        action_space=action_space or gym.spaces.Discrete(4),
        nsteps=nsteps,
        seed=seed,
    )


def _icm_bonus(seed=0, **kwargs):
    setup = _setup(seed=seed)
    return intrinsic.IcmBonus(setup, module=_small_module(setup.observation_space, setup.action_space, seed), **kwargs)


def _fake_env(episode_length=5):
    vec = environments.make_vector_env(
        "fake", 2, asynchronous=False, env_kwargs={"episode_length": episode_length, "observation_shape": SHAPE}
    )
    return curiosity_env_wrapper.CuriosityEnvWrapper(vec, target_image_shape=None)


def _key(observation, action, next_observation):
    return observation.tobytes() + bytes([int(action)]) + next_observation.tobytes()


def _real_transitions(rollout):
    return [
        _key(rollout.observations[t, i], rollout.actions[t, i], rollout.observations[t + 1, i])
        for t in range(rollout.num_steps)
        for i in range(rollout.num_envs)
        if not rollout.dones[t, i]
    ]


def _weights(module):
    return [variable.numpy().copy() for variable in module.trainable_variables]


def test_runner_bonus_boundaries_and_one_training_per_rollout_on_real_transitions_only():
    method = _icm_bonus(num_epochs=2, num_minibatches=3)
    module = method.module
    events, trained, rollouts, weights_at_bonus = [], [], [], []
    train_step, compute_bonus, update = module.train_step, method.compute_bonus, method.update

    def spy_train_step(observations, actions, next_observations):
        events.append("train_step")
        trained.append([_key(*row) for row in zip(observations, actions, next_observations)])
        return train_step(observations, actions, next_observations)

    def spy_compute_bonus(rollout):
        events.append("compute_bonus")
        rollouts.append(rollout)
        weights_at_bonus.append(_weights(module))
        return compute_bonus(rollout)

    def spy_update(rollout):
        events.append("update")
        return update(rollout)

    module.train_step, method.compute_bonus, method.update = spy_train_step, spy_compute_bonus, spy_update
    env = _fake_env(episode_length=5)
    actions = np.random.default_rng(0).integers(0, 4, size=(12, 2))
    scales = intrinsic.RewardScales(scale_task_reward=1.0, scale_surrogate_reward=2.0)
    runner = ppo.Runner(env, ScriptedPolicy(actions), 6, 0.99, 0.95, intrinsic_reward=method, scales=scales)
    for run in range(2):
        batch, _ = runner.run()
        # One bonus, then one training of 2 epochs x 3 minibatches, once per rollout.
        assert events == ["compute_bonus", "update"] + ["train_step"] * 6
        events.clear()
        assert method.trainings == run + 1
        rollout, bonus = rollouts[-1], runner.last_bonus
        dones = rollout.dones
        assert dones.tolist() == [[t == 4 - run] * 2 for t in range(6)]  # steps 5 and 10 end episodes
        assert np.all(bonus[dones] == 0.0) and np.all(bonus[~dones] > 0.0)
        np.testing.assert_allclose(
            batch["rewards"], ppo.swap_and_flatten((rollout.task_rewards + 2.0 * bonus).astype(np.float32)), rtol=1e-6
        )
        # Each epoch covers exactly the rollout's real transitions (12 minus one done step per env).
        window = _real_transitions(rollout)
        assert len(window) == 10
        calls = trained[-6:]
        for epoch in (calls[:3], calls[3:]):
            assert sorted(k for call in epoch for k in call) == sorted(window)
        # The bonus was computed with the weights from before this rollout's training.
        after = _weights(module)
        assert any(not np.array_equal(a, b) for a, b in zip(after, weights_at_bonus[-1]))
        assert not np.allclose(compute_bonus(rollout)[~dones], bonus[~dones])
        for variable, value in zip(module.trainable_variables, weights_at_bonus[-1]):
            variable.assign(value)
        np.testing.assert_array_equal(compute_bonus(rollout), bonus)
        for variable, value in zip(module.trainable_variables, after):
            variable.assign(value)
        events.clear()
    assert len(trained) == 12
    stats = method.statistics()
    assert stats["icm_trainings"] == 2 and math.isfinite(stats["icm_forward_loss"])
    assert stats["icm_bonus_mean"] > 0 and runner.bonus_tracker.means()["episode_bonus"] > 0
    env.close()


def test_rollout_of_done_steps_only_is_not_trained_on():
    method = _icm_bonus()
    rng = np.random.default_rng(1)
    observations = rng.integers(0, 256, size=(4, 2, *SHAPE), dtype=np.uint8)
    rollout = intrinsic.Rollout(
        observations=observations,
        actions=rng.integers(0, 4, size=(3, 2)),
        task_rewards=np.zeros((3, 2)),
        dones=np.ones((3, 2), bool),
    )
    before = _weights(method.module)
    np.testing.assert_array_equal(method.compute_bonus(rollout), np.zeros((3, 2)))
    losses = method.update(rollout)
    assert method.trainings == 0 and all(math.isnan(value) for value in losses.values())
    for saved, now in zip(before, _weights(method.module)):
        np.testing.assert_array_equal(saved, now)


def test_per_step_wrapper_trains_every_update_interval_steps():
    vec = environments.make_vector_env(
        "fake", 2, asynchronous=False, env_kwargs={"episode_length": 5, "observation_shape": SHAPE}
    )
    env = curiosity_env_wrapper.CuriosityEnvWrapper(
        vec,
        lambda setup: intrinsic.IcmBonus(
            setup, num_epochs=1, num_minibatches=2, module=_small_module(setup.observation_space, setup.action_space)
        ),
        intrinsic.RewardScales(scale_surrogate_reward=2.0),
        target_image_shape=None,
        update_interval=6,
    )
    method = env.intrinsic_reward
    assert method.setup.nsteps == 6 and method.setup.observation_space.shape == SHAPE
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    real_bonuses = []
    for step in range(1, 13):
        _, rewards, terminated, truncated, infos = env.step(rng.integers(0, 4, size=2))
        dones = terminated | truncated
        bonus = infos["curiosity_bonus"]
        np.testing.assert_allclose(rewards, infos["task_reward"] + 2.0 * bonus)
        assert np.all(bonus[dones] == 0.0) and np.all(bonus[~dones] > 0.0)
        assert method.trainings == step // 6
        real_bonuses = (real_bonuses if step % 6 != 1 else []) + list(bonus[~dones])  # since the last update
        if step % 6 == 0:  # the logged bonus statistics cover the 6 buffered steps, not the last one
            assert method.last_bonus["mean"] == pytest.approx(np.mean(real_bonuses))
    env.close()


def test_wrapper_closes_the_envs_when_its_bonus_cannot_be_built_and_eco_needs_a_workdir():
    vec = environments.make_vector_env("fake", 2, asynchronous=False, env_kwargs={"observation_shape": SHAPE})
    with pytest.raises(ValueError, match="needs an R-network"):
        curiosity_env_wrapper.CuriosityEnvWrapper(vec, intrinsic.EpisodicCuriosity)
    assert vec.closed
    with pytest.raises(ValueError, match="needs Setup.workdir"):
        intrinsic.OnlineEpisodicCuriosity(_setup(), network=object())


def test_losses_and_progress_columns():
    method = _icm_bonus(num_epochs=1, num_minibatches=2)
    columns = method.progress_columns()
    assert set(columns) == {"curiosity_loss", *ICM_COLUMNS}
    assert all(math.isnan(value) for value in columns.values())  # nan before the first training
    assert method.statistics() == {"icm_trainings": 0.0}
    rng = np.random.default_rng(2)
    dones = np.zeros((4, 2), bool)
    dones[1, 0] = True
    rollout = intrinsic.Rollout(
        observations=rng.integers(0, 256, size=(5, 2, *SHAPE), dtype=np.uint8),
        actions=rng.integers(0, 4, size=(4, 2)),
        task_rewards=np.zeros((4, 2)),
        dones=dones,
    )
    bonus = method.compute_bonus(rollout)
    losses = method.update(rollout)
    assert set(losses) == {"forward_loss", "inverse_loss", "loss"}
    columns = method.progress_columns()
    assert all(math.isfinite(value) for value in columns.values())
    assert columns["curiosity_loss"] == columns["icm_loss"] == losses["loss"] > 0
    assert columns["icm_forward_loss"] == losses["forward_loss"]
    assert columns["icm_inverse_loss"] == losses["inverse_loss"]
    assert columns["icm_bonus_mean"] == pytest.approx(bonus[~dones].mean())  # real transitions only
    assert columns["icm_bonus_std"] == pytest.approx(bonus[~dones].std())
    stats = method.statistics()
    assert stats["icm_trainings"] == 1.0 and "curiosity_loss" not in stats
    assert stats["icm_loss"] == columns["icm_loss"]


def test_continuous_actions_and_vector_observations():
    vec = gym.vector.SyncVectorEnv(
        [lambda: gym.make("Pendulum-v1", max_episode_steps=7)] * 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    method = intrinsic.IcmBonus(
        _setup(observation_space=vec.single_observation_space, action_space=vec.single_action_space, nsteps=7),
        num_epochs=1,
        num_minibatches=2,
    )
    assert method.module.feature_size == 256 and not method.module.discrete
    actions = np.random.default_rng(0).uniform(-3.0, 3.0, size=(14, 2, 1)).astype(np.float32)
    runner = ppo.Runner(
        vec,
        ScriptedPolicy(actions),
        7,
        0.99,
        0.95,
        intrinsic_reward=method,
        scales=intrinsic.RewardScales(scale_surrogate_reward=1.0),
    )
    runner.reset(seed=0)
    for _ in range(2):
        runner.run()
        assert np.isfinite(runner.last_bonus).all() and runner.last_bonus[-1].tolist() == [0.0, 0.0]
    assert method.trainings == 2
    assert all(math.isfinite(value) for value in method.progress_columns().values())
    vec.close()


def test_checkpoint_round_trip_restores_identical_bonuses_and_training(tmp_path):
    rng = np.random.default_rng(5)

    def rollout():
        dones = np.zeros((4, 2), bool)
        dones[2, 1] = True
        return intrinsic.Rollout(
            observations=rng.integers(0, 256, size=(5, 2, *SHAPE), dtype=np.uint8),
            actions=rng.integers(0, 4, size=(4, 2)),
            task_rewards=np.zeros((4, 2)),
            dones=dones,
        )

    settings = dict(num_epochs=2, num_minibatches=2)
    saved = _icm_bonus(**settings)
    for data in (rollout(), rollout()):
        saved.compute_bonus(data)
        saved.update(data)
    path = str(tmp_path / "policy.h5")
    checkpoint_io.save_variables(path, saved.variable_groups(), saved.state_attributes())
    restored = _icm_bonus(seed=7, **settings)  # another seed: other weights, other shuffling
    later = rollout()
    assert not np.array_equal(restored.compute_bonus(later), saved.compute_bonus(later))
    restored.restore_state(checkpoint_io.load_variables(path, restored.variable_groups()))
    assert restored.trainings == 2
    assert restored.progress_columns() == pytest.approx(saved.progress_columns())
    for a, b in zip(saved.module.optimizer.variables, restored.module.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for _ in range(2):  # the same bonuses, the same training (shuffles included), twice
        data = rollout()
        np.testing.assert_array_equal(restored.compute_bonus(data), saved.compute_bonus(data))
        assert restored.update(data) == saved.update(data)
    for a, b in zip(_weights(saved.module), _weights(restored.module)):
        np.testing.assert_array_equal(a, b)
    assert restored.state_attributes() == saved.state_attributes()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"num_epochs": 0}, r"num_epochs=0 \(must be an int >= 1\)"),
        ({"num_minibatches": 1.5}, r"num_minibatches=1.5"),
        ({"num_epochs": "2", "num_minibatches": -1}, r"num_epochs='2'.*; num_minibatches=-1"),
    ],
)
def test_bad_settings_raise_value_error(settings, message):
    with pytest.raises(ValueError, match="bad IcmBonus settings: " + message):
        intrinsic.IcmBonus(_setup(), **settings)


def test_bad_spaces_raise_value_error():
    with pytest.raises(ValueError, match="bad ICM settings: observation_space"):
        intrinsic.IcmBonus(_setup(observation_space=gym.spaces.Discrete(3)))


# train_policy end to end ---------------------------------------------------------------------


def _train(workdir, bindings, num_timesteps, **kwargs):
    gin.clear_config()
    gin.parse_config_files_and_bindings([], bindings, skip_unknown=False)
    return train_policy.train_policy(
        str(workdir), "fake", num_env=2, num_timesteps=num_timesteps, asynchronous=False, show_progress=False, **kwargs
    )


def _rows(run_dir, name="progress.csv"):
    with open(os.path.join(run_dir, name)) as f:
        return list(csv.DictReader(f))


def _tensorboard_tags(run_dir):
    tags = set()
    for path in glob.glob(os.path.join(run_dir, "tb", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_ppo_plus_icm_train_policy_logs_losses_and_resumes(tmp_path):
    bindings = [
        *TINY,
        "train_policy.env_kwargs = {'episode_length': 8}",
        "train_policy.intrinsic_reward = @IcmBonus",
        "RewardScales.scale_surrogate_reward = 1.0",
        "IcmBonus.num_epochs = 1",
        "IcmBonus.num_minibatches = 2",
        "IntrinsicCuriosityModule.conv_layers = 2",
        "IntrinsicCuriosityModule.conv_filters = 8",
        "IntrinsicCuriosityModule.hidden_units = 16",
    ]
    run_dir = tmp_path / "run"
    outputs = _train(run_dir, bindings, 30)  # 33 // 16 = 2 updates
    rows = _rows(run_dir)
    assert [int(r["nupdates"]) for r in rows] == [1, 2]
    for row in rows:
        assert all(math.isfinite(float(row[c])) for c in ICM_COLUMNS)
        assert float(row["curiosity_loss"]) == float(row["icm_loss"]) > 0
        assert float(row["icm_bonus_mean"]) > 0
    assert len(metrics_csv.read_scalars(str(run_dir / "reward_train.csv"))) == 2
    assert {
        "curiosity/icm_forward_loss",
        "curiosity/icm_inverse_loss",
        "curiosity/icm_bonus_mean",
        "curiosity/icm_trainings",
    } <= _tensorboard_tags(run_dir)
    first = checkpoint_io.read_attributes(outputs["checkpoint"])
    assert (first["icm_trainings"], first["curiosity_step_count"]) == (2, 16)

    # A longer run in the same folder continues: 66 // 16 = 4 updates, the ICM's counters go on.
    outputs = _train(run_dir, bindings, 60)
    assert [int(r["nupdates"]) for r in _rows(run_dir)] == [1, 2, 3, 4]
    last = checkpoint_io.read_attributes(outputs["checkpoint"])
    assert (last["icm_trainings"], last["curiosity_step_count"]) == (4, 32)
    assert [s for s, _, _ in metrics_csv.read_scalars(str(run_dir / "reward_train.csv"))] == [16, 32, 48, 64]


@gin.configurable(denylist=["setup"], module="toy")
class ConstantBonus(intrinsic.IntrinsicReward):
    """A toy bonus: `value` for every step; records the task rewards it was shown."""

    name = "constant"
    seen_task_rewards = []

    def __init__(self, setup, value=0.25):
        super().__init__(setup)
        self.value = float(value)

    def compute_bonus(self, rollout):
        ConstantBonus.seen_task_rewards.append(np.array(rollout.task_rewards))
        return np.full((rollout.num_steps, rollout.num_envs), self.value)


def test_a_new_intrinsic_reward_goes_through_train_policy(tmp_path, monkeypatch):
    trained_rewards = []
    original_train = ppo.PPOLearner.train

    def spy(self, batch, *args, **kwargs):
        trained_rewards.append(np.array(batch["rewards"]))
        return original_train(self, batch, *args, **kwargs)

    monkeypatch.setattr(ppo.PPOLearner, "train", spy)
    monkeypatch.setattr(ConstantBonus, "seen_task_rewards", [])
    # A reachable goal: task rewards of 1 on some steps, so "task +" is checked too.
    bindings = [
        *TINY,
        "train_policy.env_kwargs = {'episode_length': 8, 'grid_size': 2, 'goal': (1, 1)}",
        "train_policy.intrinsic_reward = @ConstantBonus",
        "RewardScales.scale_surrogate_reward = 0.5",
    ]
    run_dir = tmp_path / "run"
    _train(run_dir, bindings, 30)  # 2 updates of 2 envs x 8 steps
    seen = ConstantBonus.seen_task_rewards
    assert len(trained_rewards) == len(seen) == 2
    for rewards, task in zip(trained_rewards, seen):
        assert task.shape == (8, 2)
        np.testing.assert_allclose(rewards, ppo.swap_and_flatten(task + 0.5 * 0.25), rtol=1e-6)
    assert np.concatenate(seen).max() == 1.0  # the goal was reached
    diagnostics, progress = _rows(run_dir, "diagnostics.csv"), _rows(run_dir)
    for diagnostic, row in zip(diagnostics, progress):  # every step of every episode earned 0.25
        assert float(diagnostic["curiosity_episode_bonus"]) == pytest.approx(0.25 * float(row["eplenmean"]))
    assert (
        checkpoint_io.read_attributes(str(sorted((run_dir / "checkpoints").glob("*.h5"))[-1]))["curiosity_step_count"]
        == 16
    )


@pytest.mark.parametrize(
    "bindings, message",
    [
        (
            ["train_policy.intrinsic_reward = @RewardScales", "RewardScales.scale_surrogate_reward = 0.5"],
            "train_policy.intrinsic_reward must be an intrinsic.IntrinsicReward class",
        ),
        (
            ["train_policy.intrinsic_reward = @ConstantBonus", "RewardScales.scale_surrogate_reward = 0.0"],
            "ConstantBonus with RewardScales.scale_surrogate_reward = 0.0: the bonus never reaches the reward",
        ),
    ],
)
def test_train_policy_refuses_a_non_intrinsic_reward_and_a_zero_alpha(tmp_path, bindings, message):
    with pytest.raises(cli.ConfigError, match=message):
        _train(tmp_path / "run", [*TINY, *bindings], 30)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(cli.ConfigError, match="must be an intrinsic.IntrinsicReward class"):
        train_policy.train_policy(
            str(tmp_path / "run"),
            "fake",
            num_env=2,
            num_timesteps=30,
            intrinsic_reward=ConstantBonus(_setup()),
            validate_only=True,
        )
