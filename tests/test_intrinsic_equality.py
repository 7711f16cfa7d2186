"""Every method's rewards of one fixed rollout are what the per-method wrappers that preceded
the intrinsic-reward interface computed (`tests/data/intrinsic_rewards_before/`, written by its
`generate.py` at commit 8903dbe), through the Runner (batched, what train_policy uses) and
through the per-step CuriosityEnvWrapper."""

import os

import gin
import numpy as np
import pytest

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import icm as icm_lib
from episodic_curiosity import intrinsic
from episodic_curiosity import online_r_training
from episodic_curiosity import ppo

DATA = os.path.join(os.path.dirname(__file__), "data", "intrinsic_rewards_before")
NUM_ENVS, EPISODE_LENGTH, ECO_EPISODE_LENGTH, ECO_HISTORY, ECO_BATCH_SIZE = 3, 17, 50, 60, 8
BINDINGS = [
    "EpisodicMemory.capacity = 6",
    "EpisodicMemory.replacement = 'random'",
    "GridOracle.reward_grid_size = 1.0",
    "GridOracle.cell_reward_normalizer = 1.0",
    "IntrinsicCuriosityModule.conv_filters = 8",
    "IntrinsicCuriosityModule.hidden_units = 16",
]
EC = dict(bonus_reward_additive_term=0.1, similarity_threshold=0.8)


class ScriptedPolicy:
    """Plays fixed actions (the Runner's policy interface)."""

    def __init__(self, actions):
        self.actions, self.t = actions, 0

    def step(self, observations):
        del observations
        self.t += 1
        return self.actions[self.t - 1], np.zeros(NUM_ENVS, np.float32), np.zeros(NUM_ENVS, np.float32)

    def value(self, observations):
        del observations
        return np.zeros(NUM_ENVS, np.float32)


@pytest.fixture(name="expected")
def _expected():
    gin.clear_config()
    gin.parse_config(BINDINGS)
    yield dict(np.load(os.path.join(DATA, "rewards.npz")))
    gin.clear_config()


def _env(episode_length=EPISODE_LENGTH):
    vec = environments.make_vector_env(
        "fake", NUM_ENVS, asynchronous=False, base_seed=5, env_kwargs={"episode_length": episode_length}
    )
    return curiosity_env_wrapper.CuriosityEnvWrapper(vec)


def _setup(env, tmp_path=None):
    return intrinsic.Setup(
        num_envs=NUM_ENVS,
        observation_space=env.single_observation_space,
        action_space=env.single_action_space,
        seed=3,
        workdir=None if tmp_path is None else str(tmp_path),
        r_checkpoint=os.path.join(DATA, "r_network.h5"),
    )


def _runner_rewards(env, method, scales, actions, nsteps):
    """[T, N] rewards PPO trains on, T = len(actions), in rollouts of `nsteps`."""
    runner = ppo.Runner(env, ScriptedPolicy(actions), nsteps, 0.99, 0.95, intrinsic_reward=method, scales=scales)
    rollouts = []
    for _ in range(len(actions) // nsteps):
        batch, _ = runner.run()
        rollouts.append(batch["rewards"].reshape(NUM_ENVS, nsteps).T)  # env-major -> [T, N]
    env.close()
    method.close()
    return np.concatenate(rollouts)


def _ec_scales():
    return intrinsic.RewardScales(scale_task_reward=2.0, scale_surrogate_reward=1.0, exploration_reward_min_step=5)


def _icm(env):
    module = icm_lib.IntrinsicCuriosityModule(env.single_observation_space, env.single_action_space, seed=2)
    weights = np.load(os.path.join(DATA, "icm_weights.npz"))
    for i, variable in enumerate(module.trainable_variables):
        variable.assign(weights[f"arr_{i}"])
    return intrinsic.IcmBonus(_setup(env), num_epochs=2, num_minibatches=2, module=module)


@pytest.mark.parametrize("background", [False, True])
def test_episodic_curiosity(expected, background):
    env = _env()
    method = intrinsic.EpisodicCuriosity(_setup(env), embedding_batch_size=27, background=background, **EC)
    rewards = _runner_rewards(env, method, _ec_scales(), expected["actions"], 40)
    assert np.ptp(expected["ppo_plus_ec"]) > 0.5  # the bonus varies: the comparison means something
    np.testing.assert_allclose(rewards, expected["ppo_plus_ec"], atol=1e-5)


def test_online_episodic_curiosity(expected, tmp_path, monkeypatch):
    monkeypatch.setattr(online_r_training, "_BATCH_SIZE", ECO_BATCH_SIZE)
    gin.parse_config(
        [
            f"OnlineRNetworkTrainer.observation_history_size = {ECO_HISTORY}",
            "OnlineRNetworkTrainer.training_interval = -1",
            "OnlineRNetworkTrainer.num_epochs = 1",
        ]
    )
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    tf.keras.utils.set_random_seed(1)
    env = _env(ECO_EPISODE_LENGTH)
    method = intrinsic.OnlineEpisodicCuriosity(_setup(env, tmp_path), **EC)
    rewards = _runner_rewards(env, method, _ec_scales(), expected["eco_actions"], 80)
    # Online training changed the later bonuses (against the frozen R-network's) ...
    assert np.abs(expected["ppo_plus_eco"] - expected["ppo_plus_ec_long"])[61:].max() > 0.1
    assert np.abs(rewards - expected["ppo_plus_ec_long"])[61:].max() > 0.1
    # ... the steps before the first training (vector step ECO_HISTORY) are scored with the
    # weights they were seen under, exactly (this part fails if the chunked scoring lost its
    # flush before the training) ...
    np.testing.assert_allclose(rewards[:ECO_HISTORY], expected["ppo_plus_eco"][:ECO_HISTORY], atol=1e-4)
    # ... and after it, the weights come out of one Adam epoch whose float summation order
    # depends on the CPU's kernels: the reference was written on an AVX-512 Xeon; on an AMX
    # Xeon (Sapphire Rapids) the same code differs by up to 0.022 (mean 0.0034) there.
    after = np.abs(rewards - expected["ppo_plus_eco"])[ECO_HISTORY:]
    assert after.max() < 0.05 and after.mean() < 0.01, (after.max(), after.mean())
    assert os.path.exists(tmp_path / "r_network_weights.00002.h5")  # the original's weight-file names


def test_grid_oracle(expected):
    env = _env()
    scales = intrinsic.RewardScales(scale_task_reward=2.0, scale_surrogate_reward=0.5)
    rewards = _runner_rewards(env, intrinsic.GridOracleBonus(_setup(env)), scales, expected["actions"], 40)
    np.testing.assert_array_equal(rewards, expected["ppo_plus_grid_oracle"].astype(np.float32))


def test_icm(expected):
    env = _env()
    scales = intrinsic.RewardScales(scale_task_reward=2.0, scale_surrogate_reward=0.7)
    rewards = _runner_rewards(env, _icm(env), scales, expected["actions"], 20)
    np.testing.assert_allclose(rewards, expected["ppo_plus_icm"], rtol=1e-4, atol=1e-6)


def _per_step_rewards(env, actions):
    env.reset()
    rewards = np.array([env.step(a)[1] for a in actions])
    env.close()
    return rewards


def test_per_step_wrapper_gives_the_same_rewards(expected):
    """The per-step wrapper (for other training loops) computes what the Runner does."""
    vec = _env().env
    ec = curiosity_env_wrapper.CuriosityEnvWrapper(
        vec, lambda setup: intrinsic.EpisodicCuriosity(_setup(vec), **EC), _ec_scales()
    )
    np.testing.assert_allclose(_per_step_rewards(ec, expected["actions"]), expected["ppo_plus_ec"], atol=1e-5)
    vec = _env().env
    icm = curiosity_env_wrapper.CuriosityEnvWrapper(
        vec, None, intrinsic.RewardScales(scale_task_reward=2.0, scale_surrogate_reward=0.7), update_interval=20
    )
    icm.intrinsic_reward = _icm(icm)
    np.testing.assert_allclose(
        _per_step_rewards(icm, expected["actions"]), expected["ppo_plus_icm"], rtol=1e-4, atol=1e-6
    )
