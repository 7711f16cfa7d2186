"""The curiosity vector-env wrapper and the EC bonus on the intrinsic-reward interface: every
rule of the original's step, on the fake env; the batched per-rollout bonus (`ppo.Runner`)
against the per-step wrapper."""

import threading
import time

import cv2
import gin
import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import intrinsic
from episodic_curiosity import ppo

pytestmark = pytest.mark.usefixtures("clean_gin")


class LinearRNetwork:
    """A stand-in R-network: a fixed random projection and a Gaussian similarity."""

    def __init__(self, input_shape=(120, 160, 3), size=8, seed=0):
        self.input_shape = tuple(input_shape)
        sub = np.zeros(input_shape)[::20, ::20].size
        self._projection = np.random.default_rng(seed).normal(size=(sub, size)) / np.sqrt(sub)
        self.embedded = []

    def embed(self, frames):
        frames = np.asarray(frames, np.float64)
        self.embedded.append(frames.copy())
        return (frames[:, ::20, ::20].reshape(len(frames), -1) / 255.0) @ self._projection

    def similarity(self, a, b):
        return np.exp(-np.sum((np.asarray(a) - np.asarray(b)) ** 2, axis=1))


class ScriptedPolicy:
    """Plays fixed actions (the Runner's policy interface); `delay` seconds per step."""

    def __init__(self, actions, delay=0.0, log=None):
        self.actions, self.t, self.delay, self.log = np.asarray(actions), 0, delay, log

    def step(self, observations):
        if self.delay:
            time.sleep(self.delay)
        if self.log is not None:
            self.log.append("step")
        self.t += 1
        num_envs = len(observations)
        return self.actions[self.t - 1], np.zeros(num_envs, np.float32), np.zeros(num_envs, np.float32)

    def value(self, observations):
        return np.zeros(len(observations), np.float32)


def _vec(num_envs=2, episode_length=50, env_kwargs=None):
    return environments.make_vector_env(
        "fake", num_envs, asynchronous=False, env_kwargs={"episode_length": episode_length, **(env_kwargs or {})}
    )


def _ec_factory(network, **ec):
    return lambda setup: intrinsic.EpisodicCuriosity(setup, network=network, **ec)


def _wrapped(num_envs=2, episode_length=50, network=None, env_kwargs=None, scales=None, ec=None, **kwargs):
    """A wrapper with the per-step EC bonus of `network` (default: a LinearRNetwork)."""
    network = network or LinearRNetwork()
    env = curiosity_env_wrapper.CuriosityEnvWrapper(
        _vec(num_envs, episode_length, env_kwargs), _ec_factory(network, **(ec or {})), scales, **kwargs
    )
    return env, network


def test_first_step_sees_empty_memory_and_repeats_are_not_novel():
    env, _ = _wrapped(env_kwargs={"fixed_start": (3, 3)})
    observations, _ = env.reset()
    assert observations.shape == (2, 84, 84, 3) and observations.dtype == np.uint8
    assert env.memory is env.intrinsic_reward.memory
    assert env.memory.sizes.tolist() == [0, 0]  # the reset observation is not added
    _, _, _, _, infos = env.step(np.array([0, 0]))
    np.testing.assert_allclose(infos["curiosity_bonus"], [0.5, 0.5])  # beta - 0
    assert env.memory.sizes.tolist() == [1, 1]
    _, _, _, _, infos = env.step(np.array([0, 0]))  # same frame again: similarity 1
    np.testing.assert_allclose(infos["curiosity_bonus"], [-0.5, -0.5])
    assert env.memory.sizes.tolist() == [1, 1]  # aggregate 1 >= tau: not added
    _, _, _, _, infos = env.step(np.array([2, 0]))  # env 0 turns: a new view
    assert infos["curiosity_bonus"][0] > 0 and env.memory.sizes.tolist() == [2, 1]
    assert env.statistics() == {"memory_size_mean": 1.5}


def test_episode_end_bonus_zero_and_memory_restarts_with_next_episodes_first_frame():
    env, network = _wrapped(num_envs=1, episode_length=3)
    env.reset()
    for _ in range(2):
        env.step(np.array([1]))
    assert env.memory.sizes[0] >= 1
    _, _, terminated, truncated, infos = env.step(np.array([2]))
    assert truncated[0] and not terminated[0]
    assert infos["curiosity_bonus"][0] == 0.0
    assert env.memory.sizes[0] == 1
    raw_observation = infos["frame"]  # unresized: the next episode's first frame
    assert raw_observation.shape == (1, 120, 160, 3)
    np.testing.assert_allclose(env.memory.embeddings[0, 0], network.embed(raw_observation)[0], rtol=1e-5)
    raw_final = infos["final_frame"][0]  # the ended episode's last frame
    assert not np.allclose(env.memory.embeddings[0, 0], network.embed(raw_final[None])[0])
    # The policy's copy of it is resized like the observations (84 x 84, the observation space).
    assert infos["final_obs"][0].shape == env.single_observation_space.shape == (84, 84, 3)
    np.testing.assert_array_equal(
        infos["final_obs"][0], curiosity_env_wrapper.resize_frames(raw_final[None], (84, 84, 3))[0]
    )


def test_reward_combines_task_and_bonus_after_min_step():
    scales = intrinsic.RewardScales(scale_task_reward=2.0, scale_surrogate_reward=0.1, exploration_reward_min_step=3)
    env, _ = _wrapped(num_envs=1, env_kwargs={"grid_size": 2, "goal": (1, 1)}, scales=scales)
    env.reset(seed=5)
    rewards, task, bonus = [], [], []
    for step in range(40):
        _, reward, _, _, infos = env.step(np.array([step % 4]))
        rewards.append(reward[0])
        task.append(infos["task_reward"][0])
        bonus.append(infos["curiosity_bonus"][0])
    rewards, task, bonus = map(np.array, (rewards, task, bonus))
    np.testing.assert_allclose(rewards[:2], 2.0 * task[:2])  # steps 1 and 2: alpha forced to 0
    np.testing.assert_allclose(rewards[2:], 2.0 * task[2:] + 0.1 * bonus[2:])
    assert task.max() == 1.0  # the goal was reached at least once
    assert np.ptp(bonus[2:]) > 0.01 and scales.step_count == 40


def test_info_frame_and_final_frame_hold_the_unresized_observations():
    """info['frame'] is the env's own observation (the curiosity input), info['final_frame']
    the ended episode's last one; the policy sees their area-resized copies."""
    env, network = _wrapped(num_envs=2, episode_length=3)
    twin = _vec(num_envs=2, episode_length=3)  # the same envs, unwrapped
    observations, infos = env.reset()
    raw, _ = twin.reset()
    np.testing.assert_array_equal(infos["frame"], raw)
    for step in range(3):
        actions = np.array([1, 2 + step % 2])
        observations, _, terminated, truncated, infos = env.step(actions)
        raw, _, _, _, raw_infos = twin.step(actions)
        np.testing.assert_array_equal(infos["frame"], raw)
        np.testing.assert_array_equal(network.embedded[-1], raw)  # what the R-network embedded
        np.testing.assert_array_equal(observations, curiosity_env_wrapper.resize_frames(raw, (84, 84, 3)))
        if step < 2:
            assert "final_frame" not in infos
    assert (terminated | truncated).all()
    assert infos["_final_frame"].tolist() == [True, True]
    for i in range(2):
        assert infos["final_frame"][i].shape == (120, 160, 3)
        np.testing.assert_array_equal(infos["final_frame"][i], raw_infos["final_obs"][i])
        assert not np.array_equal(infos["final_frame"][i], raw[i])  # not the next episode's frame
    np.testing.assert_array_equal(infos["task_reward"], [0.0, 0.0])
    env.close()
    twin.close()


def test_policy_observation_is_area_resized_raw_frame():
    env, _ = _wrapped(num_envs=2)
    env.reset()
    observations, _, _, _, infos = env.step(np.array([1, 2]))
    raw = infos["frame"]
    for i in range(2):
        expected = cv2.resize(raw[i], (84, 84), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(observations[i], expected)
    assert env.single_observation_space.shape == (84, 84, 3)
    assert env.observation_space.shape == (2, 84, 84, 3)


def test_resize_frames_grey_target():
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 12, 16, 3), dtype=np.uint8)
    grey = curiosity_env_wrapper.resize_frames(frames, (6, 8, 1))
    assert grey.shape == (3, 6, 8, 1)
    expected = cv2.resize(cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY), (8, 6), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(grey[1, :, :, 0], expected)
    with pytest.raises(ValueError, match="cannot resize 3-channel frames to 2 channels"):
        curiosity_env_wrapper.resize_frames(frames, (6, 8, 2))


class FrameInInfo(gym.Wrapper):
    """Puts a frame of its own (an inverted observation) into info['frame'], as the Ant does."""

    def __init__(self, env, shape=None):
        super().__init__(env)
        self._shape = shape
        self.last_observation = None

    def _frame(self, observation):
        self.last_observation = observation
        frame = 255 - observation
        return frame if self._shape is None else np.zeros(self._shape, np.uint8)

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        return observation, {**info, "frame": self._frame(observation)}

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated, truncated, {**info, "frame": self._frame(observation)}


def _frame_env(shape=None):
    base = lambda: FrameInInfo(environments.make_env("fake", seed=123), shape)
    return gym.vector.SyncVectorEnv([base], autoreset_mode=environments.AUTORESET_MODE)


def test_next_step_autoreset_is_refused_with_the_fix_named():
    # With NEXT_STEP the reset observation comes one call late and would be scored against the
    # ended episode's memory: the wrapper refuses such an env instead of silently doing so.
    base = lambda: environments.make_env("fake", seed=123)
    for intrinsic_reward in (None, _ec_factory(LinearRNetwork())):
        vec = gym.vector.SyncVectorEnv([base], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
        with pytest.raises(ValueError, match=r"CuriosityEnvWrapper needs a vector env with SAME_STEP.*autoreset_mode="):
            curiosity_env_wrapper.CuriosityEnvWrapper(vec, intrinsic_reward)
        vec.close()


def test_info_frame_is_the_curiosity_input_when_present():
    network = LinearRNetwork()
    vec = _frame_env()
    env = curiosity_env_wrapper.CuriosityEnvWrapper(vec, _ec_factory(network))
    env.reset()
    _, _, _, _, infos = env.step(np.array([1]))
    raw = vec.envs[0].last_observation
    np.testing.assert_array_equal(network.embedded[-1], 255.0 - raw[None])
    np.testing.assert_array_equal(infos["frame"], 255 - raw[None])  # the env's frame is kept


def test_wrong_shapes_give_clear_errors():
    env = curiosity_env_wrapper.CuriosityEnvWrapper(_frame_env(shape=(10, 10, 3)), _ec_factory(LinearRNetwork()))
    env.reset()
    with pytest.raises(
        ValueError,
        match=r"curiosity frames have shape \[1, 1, 10, 10, 3\].*"
        r"expects \[T, 1, 120, 160, 3\] \(info\['frame'\]",
    ):
        env.step(np.array([0]))
    env, _ = _wrapped(env_kwargs={"observation_shape": (24, 32, 3)})
    env.reset()
    with pytest.raises(ValueError, match=r"curiosity frames have shape \[1, 2, 24, 32, 3\].*2, 120, 160, 3"):
        env.step(np.array([0, 0]))


def test_grid_oracle_rewards_new_cells_and_uses_the_ended_episodes_last_position():
    vec = _vec(1, 4, {"fixed_start": (0, 0), "grid_size": 8})
    env = curiosity_env_wrapper.CuriosityEnvWrapper(
        vec, intrinsic.GridOracleBonus, intrinsic.RewardScales(scale_task_reward=0.0, scale_surrogate_reward=1.0)
    )
    oracle = env.intrinsic_reward.oracle
    oracle.reward_grid_size = 1.0  # one oracle cell per fake-env cell (G^2 / N stays 30^2 / 900 = 1)
    env.reset()
    bonuses, positions = [], []
    for action in [1, 1, 0, 1, 0]:
        _, reward, terminated, truncated, infos = env.step(np.array([action]))
        assert reward[0] == infos["curiosity_bonus"][0]
        bonuses.append(reward[0])
        done = terminated[0] or truncated[0]
        positions.append(infos["final_info"]["position"][0] if done else infos["position"][0])
    # Steps 1-4 form one episode (the 4th ends it and is scored at the ended episode's last
    # position, from final_info); step 5 starts a fresh episode: its position is new again.
    assert bonuses[2] == 0.0  # the noop stays in a visited cell
    assert bonuses[:4] == [
        1.0 if p not in map(tuple, positions[:i]) else 0.0 for i, p in enumerate(map(tuple, positions[:4]))
    ]
    assert bonuses[4] == 1.0 and oracle.num_visited()[0] == 1
    assert env.statistics() == {"visited_cells_mean": 1.0}


def test_no_bonus_and_configuration_errors():
    vec = _vec(2, 50, {"grid_size": 2, "goal": (1, 1)})
    plain = curiosity_env_wrapper.CuriosityEnvWrapper(vec)
    scaled = curiosity_env_wrapper.CuriosityEnvWrapper(
        _vec(2, 50, {"grid_size": 2, "goal": (1, 1)}),
        scales=intrinsic.RewardScales(scale_task_reward=3.0, scale_surrogate_reward=0.5),
    )
    assert plain.memory is None and plain.statistics() == {}
    plain.reset(seed=1)
    scaled.reset(seed=1)
    task = []
    for actions in np.random.default_rng(0).integers(0, 4, size=(40, 2)):
        _, reward, _, _, infos = plain.step(actions)
        assert "curiosity_bonus" not in infos
        np.testing.assert_array_equal(reward, infos["task_reward"])  # the env's reward unchanged
        _, scaled_reward, _, _, scaled_infos = scaled.step(actions)
        np.testing.assert_array_equal(scaled_reward, 3.0 * scaled_infos["task_reward"])  # s_task x r
        np.testing.assert_array_equal(scaled_infos["task_reward"], infos["task_reward"])
        task.append(infos["task_reward"])
    assert np.max(task) == 1.0  # a goal was reached: the scaling was exercised
    with pytest.raises(ValueError, match="EpisodicCuriosity needs an R-network"):
        curiosity_env_wrapper.CuriosityEnvWrapper(vec, intrinsic.EpisodicCuriosity)
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="update_interval must be an int >= 1"):
            curiosity_env_wrapper.CuriosityEnvWrapper(vec, update_interval=bad)
    unreset = curiosity_env_wrapper.CuriosityEnvWrapper(_vec(2), _ec_factory(LinearRNetwork()))
    with pytest.raises(RuntimeError, match=r"step\(\) before reset\(\)"):
        unreset.step(np.array([0, 0]))
    plain.close()
    scaled.close()


def test_wrappers_own_their_memories():
    network = LinearRNetwork()
    train, _ = _wrapped(network=network)
    evaluation, _ = _wrapped(network=network)
    assert train.memory is not evaluation.memory
    train.reset()
    for _ in range(5):
        train.step(np.array([1, 2]))
    sizes = train.memory.sizes.copy()
    assert sizes.min() >= 1
    evaluation.reset()
    evaluation.step(np.array([0, 0]))
    np.testing.assert_array_equal(train.memory.sizes, sizes)  # evaluation never touches them


def _tiny_r_network(bindings):
    from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top

    gin.parse_config(bindings)
    return r_network.RNetwork(input_shape=(120, 160, 3))


def test_keyed_comparison_gives_the_same_bonuses_as_the_comparator():
    network = _tiny_r_network(
        [
            "build_embedding_network.stage_filters=(4, 8, 8, 8)",
            "build_embedding_network.embedding_size=16",
            "build_comparator_network.hidden_units=16",
        ]
    )
    bonuses = []
    for use_keys in (True, False):
        env, _ = _wrapped(num_envs=3, episode_length=7, network=network)
        method = env.intrinsic_reward
        assert method._use_keys  # pylint: disable=protected-access
        if not use_keys:
            method._use_keys = False  # pylint: disable=protected-access
            method._dense_similarity_fn = None  # pylint: disable=protected-access
            method.memory.keys = None
        env.reset()
        rng = np.random.default_rng(0)
        run = [env.step(rng.integers(0, 4, size=3))[4]["curiosity_bonus"] for _ in range(20)]
        bonuses.append(np.array(run))
    assert np.ptp(bonuses[1]) > 0.01  # a non-trivial bonus stream
    np.testing.assert_allclose(bonuses[0], bonuses[1], atol=1e-5)


def _per_step_rewards(env, actions):
    """Rewards and bonuses [T, N] of the per-step wrapper playing `actions`."""
    env.reset()
    steps = [env.step(a) for a in actions]
    return np.array([s[1] for s in steps]), np.array([s[4]["curiosity_bonus"] for s in steps])


def _runner(num_envs, episode_length, method, scales, actions, nsteps, **policy_kwargs):
    """A Runner over the plain wrapper (what train_policy uses) with `method` as its bonus."""
    env = curiosity_env_wrapper.CuriosityEnvWrapper(_vec(num_envs, episode_length))
    return ppo.Runner(
        env, ScriptedPolicy(actions, **policy_kwargs), nsteps, 0.99, 0.95, intrinsic_reward=method, scales=scales
    )


def _setup(num_envs, seed=0):
    space = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
    return intrinsic.Setup(
        num_envs=num_envs,
        observation_space=space,
        action_space=gym.spaces.Discrete(4),
        seed=seed,
    )


def _time_major(batch_rewards, num_envs):
    return np.asarray(batch_rewards).reshape(num_envs, -1).T  # env-major [N * T] -> [T, N]


@pytest.mark.parametrize(
    "embedding_batch_size, calls", [(1, [3] * 23), (5, [6] * 11 + [3]), (27, [27] * 2 + [15]), (200, [69])]
)
def test_batched_rollout_bonus_through_the_runner_equals_the_per_step_wrappers(embedding_batch_size, calls):
    actions = np.random.default_rng(1).integers(0, 4, size=(23, 3))
    make_scales = lambda: intrinsic.RewardScales(
        scale_task_reward=2.0, scale_surrogate_reward=0.5, exploration_reward_min_step=4
    )
    ec = dict(similarity_threshold=0.6)
    per_step_env, _ = _wrapped(num_envs=3, episode_length=7, scales=make_scales(), ec=ec)
    expected, expected_bonus = _per_step_rewards(per_step_env, actions)
    network = LinearRNetwork()
    method = intrinsic.EpisodicCuriosity(_setup(3), network=network, embedding_batch_size=embedding_batch_size, **ec)
    del network.embedded[:]  # the construction probe
    embedded_before_bonus = []
    compute_bonus = method.compute_bonus

    def spy(rollout):
        embedded_before_bonus.append(len(network.embedded))
        return compute_bonus(rollout)

    method.compute_bonus = spy
    runner = _runner(3, 7, method, make_scales(), actions, 23)
    batch, _ = runner.run()
    assert embedded_before_bonus == [0]  # nothing embedded while the envs stepped
    assert [len(frames) for frames in network.embedded] == calls  # whole steps per call
    np.testing.assert_allclose(_time_major(batch["rewards"], 3), expected, atol=1e-6)
    np.testing.assert_allclose(runner.last_bonus, expected_bonus, atol=1e-9)
    np.testing.assert_array_equal(expected[:3], 0.0)  # no goal: task reward 0; steps 1-3: alpha 0
    np.testing.assert_allclose(expected[3:], 0.5 * expected_bonus[3:])
    assert np.ptp(expected) > 0.01
    np.testing.assert_array_equal(method.memory.sizes, per_step_env.memory.sizes)
    np.testing.assert_allclose(method.memory.embeddings, per_step_env.memory.embeddings, atol=1e-6)
    runner.env.close()
    per_step_env.close()


class SlowRecordingRNetwork(LinearRNetwork):
    """Records the thread of every embedding call; slow enough for steps to overtake it."""

    def __init__(self, log=None):
        super().__init__()
        self.threads = []
        self.log = log

    def embed(self, frames):
        self.threads.append(threading.current_thread().name)
        if self.log is not None:
            self.log.append("embed")
        time.sleep(0.01)
        return super().embed(frames)


def test_background_bonus_overlaps_steps_and_gives_identical_rewards():
    actions = np.random.default_rng(2).integers(0, 4, size=(31, 3))
    results = []
    for background in (False, True):
        log = []
        network = SlowRecordingRNetwork(log)
        method = intrinsic.EpisodicCuriosity(
            _setup(3), network=network, similarity_threshold=0.6, embedding_batch_size=7, background=background
        )
        del network.threads[:], network.embedded[:], log[:]  # the construction probe
        handed_over = []
        compute_bonus = method.compute_bonus

        def spy(rollout, method=method, compute_bonus=compute_bonus, log=log, handed_over=handed_over):
            handed_over.append((len(method._futures), method._submitted))  # pylint: disable=protected-access
            log.append("compute_bonus")
            return compute_bonus(rollout)

        method.compute_bonus = spy
        scales = intrinsic.RewardScales(scale_surrogate_reward=0.5)
        runner = _runner(3, 9, method, scales, np.concatenate([actions, actions]), 31, delay=0.002, log=log)
        for _ in range(2):  # memories carry over from one rollout to the next
            batch, _ = runner.run()
            results.append({key: batch[key] for key in ("rewards", "returns", "advantages")})
        results.append(method.memory.embeddings.copy())
        assert [len(frames) for frames in network.embedded] == [9] * 10 + [3] + [9] * 10 + [3]
        on_worker = [name.startswith("curiosity_bonus") for name in network.threads]
        if background:
            # chunks of 3 steps were handed over while stepping; the last partial one waits
            assert handed_over == [(10, 30), (10, 30)]
            assert all(on_worker)
            # the worker embedded chunks while the envs were still stepping
            first_embed, last_step = log.index("embed"), 30
            assert first_embed < [i for i, entry in enumerate(log) if entry == "step"][last_step]
        else:
            assert handed_over == [(0, 0), (0, 0)] and not any(on_worker)
            assert log.index("embed") > log.index("compute_bonus")
        runner.env.close()
        method.close()
    for no_thread, thread in zip(results[:3], results[3:]):
        if isinstance(no_thread, dict):
            for key in no_thread:
                np.testing.assert_array_equal(no_thread[key], thread[key])
        else:
            np.testing.assert_array_equal(no_thread, thread)
    assert np.ptp(results[0]["rewards"]) > 0.01


def _step(frames, dones):
    num_envs = len(frames)
    zeros = np.zeros((num_envs, 1))
    return intrinsic.Step(
        index=0,
        observation=zeros,
        action=np.zeros(num_envs, np.int64),
        next_observation=zeros,
        task_reward=np.zeros(num_envs),
        done=np.asarray(dones, bool),
        frame=frames,
    )


def test_background_bonus_discards_unfinished_work_on_reset_and_reports_errors():
    network = SlowRecordingRNetwork()
    method = intrinsic.EpisodicCuriosity(_setup(2), network=network, embedding_batch_size=2, background=True)
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(8, 2, 120, 160, 3), dtype=np.uint8)
    for t in range(5):
        method.observe(_step(frames[t], [False, False]))
    assert method._futures  # pylint: disable=protected-access
    method.reset()  # the 5 steps are dropped, their chunks finished or cancelled
    assert not method._pending and not method._futures  # pylint: disable=protected-access
    assert method.memory.sizes.tolist() == [0, 0]

    def broken_embed(frames):
        raise RuntimeError("embedding failed")

    network.embed = broken_embed
    steps = [_step(frames[5 + t], [False, False]) for t in range(3)]
    for step in steps:
        method.observe(step)
    rollout = intrinsic.base.stack_steps(steps, np.zeros((2, 1)))
    with pytest.raises(RuntimeError, match="embedding failed"):
        method.compute_bonus(rollout)
    assert not method._pending and not method._futures  # pylint: disable=protected-access
    with pytest.raises(ValueError, match="0 steps were observed, the rollout has 3"):
        method.compute_bonus(rollout)
    method.close()


def test_frame_stack_holds_the_episodes_last_frames_and_restarts_with_each_episode():
    env = curiosity_env_wrapper.CuriosityEnvWrapper(_vec(2, 3), target_image_shape=(42, 42, 1), frame_stack=4)
    assert env.single_observation_space.shape == (42, 42, 4)
    first, _ = env.reset()
    assert first.shape == (2, 42, 42, 4)
    for k in range(1, 4):  # an episode's first observation fills the whole stack
        np.testing.assert_array_equal(first[..., k], first[..., 0])
    grey = lambda frames: curiosity_env_wrapper.resize_frames(frames, (42, 42, 1))[..., 0]
    frames = [first[..., -1]]
    for step in range(3):
        observations, _, terminated, truncated, infos = env.step(np.array([2, 3]))
        frames.append(grey(infos["frame"]))
        if step < 2:  # oldest to newest along the channel axis
            expected = np.stack(([frames[0]] * 4 + frames[1:])[-4:], axis=-1)
            np.testing.assert_array_equal(observations, expected)
    assert (terminated | truncated).all()  # step 3 of 3 ended both episodes
    # The new episode's first frame fills the stack; final_obs is the old stack shifted by the
    # ended episode's last frame.
    for k in range(4):
        np.testing.assert_array_equal(observations[..., k], frames[-1])
    for env_index in range(2):
        final = infos["final_obs"][env_index]
        assert final.shape == (42, 42, 4)
        np.testing.assert_array_equal(final[..., -1], grey(infos["final_frame"][env_index][None])[0])
        np.testing.assert_array_equal(final[..., :-1], np.stack(frames[:3], axis=-1)[env_index])
    env.close()


def test_frame_stack_needs_resized_images():
    vec = _vec(1)
    with pytest.raises(ValueError, match="frame_stack=2 needs image observations"):
        curiosity_env_wrapper.CuriosityEnvWrapper(vec, target_image_shape=None, frame_stack=2)
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="frame_stack must be an int >= 1"):
            curiosity_env_wrapper.CuriosityEnvWrapper(vec, frame_stack=bad)
    vec.close()


def test_chunked_comparisons_give_the_step_by_step_bonus_with_a_real_r_network():
    """With comparator keys, a chunk of a rollout is scored in one comparator call and replayed
    step by step: the same bonuses, memory contents and random replacements as per-step scoring."""
    network = _tiny_r_network(
        [
            "build_embedding_network.stage_filters = (4, 4, 8, 8)",
            "build_embedding_network.embedding_size = 8",
            "build_comparator_network.hidden_units = 8",
            "build_embedding_network.input_pooling = 4",
            "EpisodicMemory.capacity = 6",
            "EpisodicMemory.replacement = 'random'",
        ]
    )
    rng = np.random.default_rng(4)
    for layer in network._comparator_branch.weighted_layers[1::2]:  # pylint: disable=protected-access
        layer.kernel.assign(rng.normal(size=layer.kernel.shape).astype(np.float32) * 3)  # spread the scores
    actions = rng.integers(0, 4, size=(40, 3))
    ec = dict(similarity_threshold=0.8)
    per_step, _ = _wrapped(
        num_envs=3, episode_length=17, network=network, ec=ec, scales=intrinsic.RewardScales(scale_surrogate_reward=1.0)
    )
    expected, _ = _per_step_rewards(per_step, actions)
    chunked = intrinsic.EpisodicCuriosity(_setup(3), network=network, embedding_batch_size=3 * 9, **ec)
    calls = []
    chunked._dense_similarity_fn = (  # pylint: disable=protected-access
        lambda q, m: calls.append(m.shape) or network.memory_similarities(q, m)
    )
    runner = _runner(3, 17, chunked, intrinsic.RewardScales(scale_surrogate_reward=1.0), actions, 40)
    batch, _ = runner.run()
    assert len(calls) == 5  # 40 steps in chunks of 9: one comparator call each
    np.testing.assert_allclose(_time_major(batch["rewards"], 3), expected, atol=1e-5)
    assert np.ptp(expected[1:]) > 0.1 and (per_step.memory.counts > 6).any()  # replacement happened
    np.testing.assert_array_equal(chunked.memory.sizes, per_step.memory.sizes)
    np.testing.assert_array_equal(chunked.memory.ages, per_step.memory.ages)
    np.testing.assert_allclose(chunked.memory.keys, per_step.memory.keys, atol=1e-6)
    runner.env.close()
    per_step.close()
