"""PPO end to end: the runner's rollouts on the fake env, and learning a contextual bandit."""

import time

import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import environments
from episodic_curiosity import ppo

NUM_CONTEXTS = 4
BANDIT_EPISODE_LENGTH = 4


class ContextualBandit(gym.Env):
    """Each step shows a one-hot context; the action equal to it earns 1 / episode length.

    Episodes last `BANDIT_EPISODE_LENGTH` steps, so returns lie in [0, 1]; a uniformly random
    policy earns 1 / NUM_CONTEXTS = 0.25 on average.
    """

    observation_space = gym.spaces.Box(0.0, 1.0, (NUM_CONTEXTS,), np.float32)
    action_space = gym.spaces.Discrete(NUM_CONTEXTS)

    def __init__(self):
        self._context = 0
        self._steps = 0

    def _observation(self):
        observation = np.zeros(NUM_CONTEXTS, np.float32)
        observation[self._context] = 1.0
        return observation

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._context = int(self.np_random.integers(NUM_CONTEXTS))
        self._steps = 0
        return self._observation(), {}

    def step(self, action):
        reward = 1.0 / BANDIT_EPISODE_LENGTH if int(action) == self._context else 0.0
        self._steps += 1
        self._context = int(self.np_random.integers(NUM_CONTEXTS))
        terminated = self._steps >= BANDIT_EPISODE_LENGTH
        return self._observation(), reward, terminated, False, {}


def test_ppo_learns_contextual_bandit():
    start = time.perf_counter()
    num_envs = 8
    envs = gym.vector.SyncVectorEnv([ContextualBandit] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    config = ppo.PPOConfig(
        nsteps=16,
        nminibatches=4,
        noptepochs=4,
        learning_rate=3e-3,
        ent_coef=0.0,
        cliprange=0.2,
        anneal_learning_rate=False,
        anneal_cliprange=False,
    )
    config.validate(num_envs=num_envs)
    policy = ppo.ActorCritic("mlp", envs.single_observation_space, envs.single_action_space, seed=0)
    runner = ppo.Runner(envs, policy, config.nsteps, config.gamma, config.lam)
    learner = ppo.PPOLearner(policy, config, seed=0)
    runner.reset(seed=0)
    total_updates = ppo.num_updates(4096, num_envs, config.nsteps)
    mean_returns = []
    for update in range(1, total_updates + 1):
        batch, stats = runner.run()
        learner.train(batch, ppo.annealing_fraction(update, total_updates))
        mean_returns.append(np.mean(stats["episode_returns"]))
        assert set(stats["episode_lengths"]) == {BANDIT_EPISODE_LENGTH}
    envs.close()
    assert np.mean(mean_returns[:2]) < 0.5  # starts near chance (0.25)
    assert np.mean(mean_returns[-5:]) > 0.8, mean_returns
    assert time.perf_counter() - start < 60


class _TaskRewardWrapper(gym.vector.VectorWrapper):
    """Trains on reward 0.5 per step while info['task_reward'] carries a raw reward of 1."""

    def step(self, actions):
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        infos = dict(infos)
        infos["task_reward"] = np.ones(self.num_envs)
        infos["_task_reward"] = np.ones(self.num_envs, bool)
        return observations, np.full(self.num_envs, 0.5), terminated, truncated, infos


@pytest.fixture(scope="module")
def fake_runner():
    envs = environments.make_vector_env(
        "fake", 2, asynchronous=False, env_kwargs={"episode_length": 5, "observation_shape": (84, 84, 3)}
    )
    envs = _TaskRewardWrapper(envs)
    policy = ppo.ActorCritic("cnn", envs.single_observation_space, envs.single_action_space, seed=0)
    runner = ppo.Runner(envs, policy, nsteps=12, gamma=0.99, lam=0.95)
    yield runner
    envs.close()


def test_runner_batch_layout_and_done_flags(fake_runner):
    runner = fake_runner
    runner.reset()
    batch, stats = runner.run()
    nsteps, num_envs = 12, 2
    assert set(batch) == {"observations", "actions", "returns", "values", "neglogps", "advantages", "dones", "rewards"}
    assert batch["observations"].shape == (nsteps * num_envs, 84, 84, 3)
    assert batch["observations"].dtype == np.uint8
    for key in ("actions", "returns", "values", "neglogps", "advantages", "dones", "rewards"):
        assert batch[key].shape == (nsteps * num_envs,), key
    np.testing.assert_allclose(batch["returns"], batch["advantages"] + batch["values"], rtol=1e-5)
    np.testing.assert_array_equal(batch["rewards"], 0.5)
    # Env-major flattening: rows i*T .. i*T + T - 1 are env i's steps; episodes of 5 steps
    # start at t = 0, 5, 10, and the flag is set on the first observation of each new one.
    dones = batch["dones"].reshape(num_envs, nsteps)
    for env in range(num_envs):
        np.testing.assert_array_equal(np.flatnonzero(dones[env]), [5, 10])
    # Observations are the env's frames, in the same env-major order.
    frames = batch["observations"].reshape(num_envs, nsteps, 84, 84, 3)
    assert not np.array_equal(frames[0, 0], frames[1, 0])  # different seeds, different starts
    # Two episodes per env ended (after steps 4 and 9), each of 5 steps, raw task return 5.
    assert stats["steps"] == nsteps * num_envs
    assert stats["episode_lengths"] == [5] * 4
    assert stats["episode_returns"] == [5.0] * 4


def test_runner_continues_episodes_across_runs(fake_runner):
    runner = fake_runner
    runner.reset()
    runner.run()
    last_observations = runner.observations.copy()
    assert not runner.dones.any()  # step 11 is the 2nd step of the 3rd episode
    batch, stats = runner.run()
    np.testing.assert_array_equal(batch["observations"].reshape(2, 12, 84, 84, 3)[:, 0], last_observations)
    # Global steps 12..23: episodes end after global steps 14 and 19 -> flags at local t = 3, 8.
    dones = batch["dones"].reshape(2, 12)
    for env in range(2):
        np.testing.assert_array_equal(np.flatnonzero(dones[env]), [3, 8])
    # The 3rd episode spans both runs and still counts 5 steps; the 4th ends after step 19.
    assert stats["episode_lengths"] == [5] * 4
    assert stats["episode_returns"] == [5.0] * 4


def test_runner_without_task_reward_counts_the_reward():
    envs = environments.make_vector_env(
        "fake",
        1,
        asynchronous=False,
        env_kwargs={"episode_length": 3, "grid_size": 2, "observation_shape": (36, 36, 3), "goal": (1, 1)},
    )
    try:
        policy = ppo.ActorCritic("cnn", envs.single_observation_space, envs.single_action_space, seed=1)
        runner = ppo.Runner(envs, policy, nsteps=60, gamma=0.99, lam=0.95)
        batch, stats = runner.run()  # resets on its own
        assert len(stats["episode_returns"]) >= 20
        # The goal ends an episode with reward 1; a timeout after 3 steps gives 0.
        # Episodes are the stretches between done-before-step flags; the last one is finished
        # only if the rollout's last step ended it.
        episodes = np.split(batch["rewards"], np.flatnonzero(batch["dones"]))
        if not runner.dones[0]:
            episodes = episodes[:-1]
        assert stats["episode_returns"] == [float(e.sum()) for e in episodes]
        assert stats["episode_lengths"] == [len(e) for e in episodes]
        assert 0 < sum(stats["episode_returns"]) < len(episodes)  # some reach the goal, some not
    finally:
        envs.close()


def test_runner_rejects_next_step_autoreset():
    envs = gym.vector.SyncVectorEnv([ContextualBandit], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    policy = ppo.ActorCritic("mlp", envs.single_observation_space, envs.single_action_space)
    with pytest.raises(ValueError, match="SAME_STEP"):
        ppo.Runner(envs, policy, nsteps=4, gamma=0.99, lam=0.95)
    envs.close()
