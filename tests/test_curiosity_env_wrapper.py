"""The curiosity vector-env wrapper: every rule of the original's step, on the fake env."""

import cv2
import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments


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


class Recorder:
    def __init__(self):
        self.calls = []

    def on_new_observation(self, *, observations, rewards, dones, infos):
        self.calls.append((observations.copy(), rewards.copy(), dones.copy(), infos))


def _wrapped(num_envs=2, episode_length=50, r_network=None, env_kwargs=None, **kwargs):
    vec = environments.make_vector_env(
        "fake", num_envs, asynchronous=False,
        env_kwargs={"episode_length": episode_length, **(env_kwargs or {})})
    network = r_network or LinearRNetwork()
    return curiosity_env_wrapper.CuriosityEnvWrapper(vec, network, **kwargs), network


def test_first_step_sees_empty_memory_and_repeats_are_not_novel():
    env, network = _wrapped(env_kwargs={"fixed_start": (3, 3)})
    observations, _ = env.reset()
    assert observations.shape == (2, 84, 84, 3) and observations.dtype == np.uint8
    assert env.memory.sizes.tolist() == [0, 0]  # the reset observation is not added
    _, _, _, _, infos = env.step(np.array([0, 0]))
    np.testing.assert_allclose(infos["curiosity_bonus"], [0.5, 0.5])  # beta - 0
    assert env.memory.sizes.tolist() == [1, 1]
    _, _, _, _, infos = env.step(np.array([0, 0]))  # same frame again: similarity 1
    np.testing.assert_allclose(infos["curiosity_bonus"], [-0.5, -0.5])
    assert env.memory.sizes.tolist() == [1, 1]  # aggregate 1 >= tau: not added
    _, _, _, _, infos = env.step(np.array([2, 0]))  # env 0 turns: a new view
    assert infos["curiosity_bonus"][0] > 0 and env.memory.sizes.tolist() == [2, 1]


def test_episode_end_bonus_zero_and_memory_restarts_with_next_episodes_first_frame():
    env, network = _wrapped(num_envs=1, episode_length=3)
    recorder = Recorder()
    env.add_observer(recorder)
    env.reset()
    for _ in range(2):
        env.step(np.array([1]))
    assert env.memory.sizes[0] >= 1
    _, _, terminated, truncated, infos = env.step(np.array([2]))
    assert truncated[0] and not terminated[0]
    assert infos["curiosity_bonus"][0] == 0.0
    assert env.memory.sizes[0] == 1
    raw_observation = recorder.calls[-1][0]  # untouched: the next episode's first frame
    assert raw_observation.shape == (1, 120, 160, 3)
    np.testing.assert_allclose(env.memory.embeddings[0, 0], network.embed(raw_observation)[0], rtol=1e-5)
    raw_final = recorder.calls[-1][3]["final_obs"][0]  # the ended episode's last frame
    assert not np.allclose(env.memory.embeddings[0, 0], network.embed(raw_final[None])[0])
    # The policy's copy of it is resized like the observations (84 x 84, the observation space).
    assert infos["final_obs"][0].shape == env.single_observation_space.shape == (84, 84, 3)
    np.testing.assert_array_equal(infos["final_obs"][0],
                                  curiosity_env_wrapper.resize_frames(raw_final[None], (84, 84, 3))[0])


def test_reward_combines_task_and_bonus_after_min_step():
    env, _ = _wrapped(num_envs=1, env_kwargs={"grid_size": 2, "goal": (1, 1)},
                      scale_task_reward=2.0, scale_surrogate_reward=0.1, exploration_reward_min_step=3)
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


def test_policy_observation_is_area_resized_raw_frame():
    env, _ = _wrapped(num_envs=2)
    recorder = Recorder()
    env.add_observer(recorder)
    env.reset()
    observations, *_ = env.step(np.array([1, 2]))
    raw = recorder.calls[-1][0]
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


class FrameInInfo(gym.Wrapper):
    """Puts a frame of its own (an inverted observation) into info['frame'], as the Ant does."""

    def __init__(self, env, shape=None):
        super().__init__(env)
        self._shape = shape

    def _frame(self, observation):
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


def test_info_frame_is_the_curiosity_input_when_present():
    network = LinearRNetwork()
    env = curiosity_env_wrapper.CuriosityEnvWrapper(_frame_env(), network)
    recorder = Recorder()
    env.add_observer(recorder)
    env.reset()
    env.step(np.array([1]))
    raw = recorder.calls[-1][0]
    np.testing.assert_array_equal(network.embedded[-1], 255.0 - raw)


def test_wrong_shapes_give_clear_errors():
    env = curiosity_env_wrapper.CuriosityEnvWrapper(_frame_env(shape=(10, 10, 3)), LinearRNetwork())
    env.reset()
    with pytest.raises(ValueError, match=r"info\['frame'\]\) has shape \[1, 10, 10, 3\]"):
        env.step(np.array([0]))
    env, _ = _wrapped(env_kwargs={"observation_shape": (24, 32, 3)})
    env.reset()
    with pytest.raises(ValueError, match=r"observations\) has shape \[2, 24, 32, 3\].*120, 160, 3"):
        env.step(np.array([0, 0]))


def test_oracle_mode_rewards_new_cells_and_uses_the_ended_episodes_last_position():
    vec = environments.make_vector_env("fake", 1, asynchronous=False,
                                       env_kwargs={"episode_length": 4, "fixed_start": (0, 0), "grid_size": 8})
    env = curiosity_env_wrapper.CuriosityEnvWrapper(vec, exploration_reward="oracle", scale_surrogate_reward=1.0,
                                                    scale_task_reward=0.0)
    env.oracle.reward_grid_size = 1.0  # one oracle cell per fake-env cell
    _, infos = env.reset()
    bonuses, positions = [], []
    for action in [1, 1, 0, 1, 0]:
        _, reward, terminated, truncated, infos = env.step(np.array([action]))
        bonuses.append(reward[0])
        done = terminated[0] or truncated[0]
        positions.append(infos["final_info"]["position"][0] if done else infos["position"][0])
    # Steps 1-4 form one episode (the 4th ends it and is scored at the ended episode's last
    # position, from final_info); step 5 starts a fresh episode: its position is new again.
    assert bonuses[2] == 0.0  # the noop stays in a visited cell
    assert bonuses[:4] == [1.0 if p not in map(tuple, positions[:i]) else 0.0
                           for i, p in enumerate(map(tuple, positions[:4]))]
    assert bonuses[4] == 1.0 and env.oracle.num_visited()[0] == 1


def test_none_mode_and_configuration_errors():
    vec = environments.make_vector_env("fake", 2, asynchronous=False)
    env = curiosity_env_wrapper.CuriosityEnvWrapper(vec, exploration_reward="none")
    env.reset()
    _, reward, _, _, infos = env.step(np.array([1, 1]))
    assert infos["curiosity_bonus"].tolist() == [0.0, 0.0]
    np.testing.assert_array_equal(reward, infos["task_reward"])
    with pytest.raises(ValueError, match="unknown exploration_reward"):
        curiosity_env_wrapper.CuriosityEnvWrapper(vec, exploration_reward="icm")
    with pytest.raises(ValueError, match="needs an r_network"):
        curiosity_env_wrapper.CuriosityEnvWrapper(vec)


def test_evaluation_wrappers_own_their_memories():
    network = LinearRNetwork()
    train, _ = _wrapped(r_network=network)
    evaluation, _ = _wrapped(r_network=network)
    train.reset()
    for _ in range(5):
        train.step(np.array([1, 2]))
    sizes = train.memory.sizes.copy()
    assert sizes.min() >= 1
    evaluation.reset()
    evaluation.step(np.array([0, 0]))
    np.testing.assert_array_equal(train.memory.sizes, sizes)  # evaluation never touches them


def test_observers_get_untouched_data():
    env, _ = _wrapped(num_envs=2)
    recorder = Recorder()
    env.add_observer(recorder)
    env.reset()
    env.step(np.array([1, 1]))
    observations, rewards, dones, infos = recorder.calls[0]
    assert observations.shape == (2, 120, 160, 3)
    assert "curiosity_bonus" not in infos and dones.dtype == bool


def test_keyed_comparison_gives_the_same_bonuses_as_the_comparator():
    import gin  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top
    gin.clear_config()
    gin.parse_config(["build_embedding_network.stage_filters=(4, 8, 8, 8)",
                      "build_embedding_network.embedding_size=16",
                      "build_comparator_network.hidden_units=16"])
    try:
        network = r_network.RNetwork(input_shape=(120, 160, 3))
    finally:
        gin.clear_config()
    bonuses = []
    for use_keys in (True, False):
        env, _ = _wrapped(num_envs=3, episode_length=7, r_network=network)
        assert env._use_keys
        env._use_keys = use_keys
        if not use_keys:
            env.memory.keys = None
        env.reset()
        rng = np.random.default_rng(0)
        run = [env.step(rng.integers(0, 4, size=3))[4]["curiosity_bonus"] for _ in range(20)]
        bonuses.append(np.array(run))
    assert np.ptp(bonuses[1]) > 0.01  # a non-trivial bonus stream
    np.testing.assert_allclose(bonuses[0], bonuses[1], atol=1e-5)


def _run_rewards(env, actions):
    env.reset()
    steps = [env.step(a) for a in actions]
    return np.array([s[1] for s in steps]), np.array([s[4]["task_reward"] for s in steps])


def test_deferred_bonus_gives_the_per_step_rewards_once_the_rollout_ends():
    actions = np.random.default_rng(1).integers(0, 4, size=(23, 3))
    kwargs = dict(num_envs=3, episode_length=7, scale_surrogate_reward=0.5, scale_task_reward=2.0,
                  exploration_reward_min_step=4, similarity_threshold=0.6)
    per_step_env, _ = _wrapped(**kwargs)
    expected, _ = _run_rewards(per_step_env, actions)
    deferred_env, network = _wrapped(deferred_bonus=True, embedding_batch_size=5, **kwargs)
    del network.embedded[:]  # the wrapper's construction probe
    returned, task_rewards = _run_rewards(deferred_env, actions)
    np.testing.assert_allclose(returned, 2.0 * task_rewards)  # until completed: the task part only
    assert not network.embedded  # nothing embedded during the steps
    completed = deferred_env.rollout_rewards(returned)
    np.testing.assert_allclose(completed, expected, atol=1e-9)
    assert np.ptp(expected) > 0.01
    # 69 frames in calls of >= 5 frames made of whole steps (2 steps of 3 envs)
    assert [len(batch) for batch in network.embedded] == [6] * 11 + [3]
    np.testing.assert_array_equal(deferred_env.memory.sizes, per_step_env.memory.sizes)
    np.testing.assert_allclose(deferred_env.memory.embeddings, per_step_env.memory.embeddings)
    assert deferred_env.bonus_history and list(deferred_env.bonus_history) == pytest.approx(
        list(per_step_env.bonus_history))
    with pytest.raises(ValueError, match="0 steps of 3 envs are pending"):
        deferred_env.rollout_rewards(np.zeros((2, 3)))


class SlowRecordingRNetwork(LinearRNetwork):
    """Records the thread of every embedding call; slow enough for steps to overtake it."""

    def __init__(self):
        super().__init__()
        self.threads = []

    def embed(self, frames):
        import threading  # pylint: disable=g-import-not-at-top
        import time  # pylint: disable=g-import-not-at-top
        self.threads.append(threading.current_thread().name)
        time.sleep(0.01)
        return super().embed(frames)


def test_background_bonus_overlaps_steps_and_gives_identical_rewards():
    actions = np.random.default_rng(2).integers(0, 4, size=(31, 3))
    kwargs = dict(num_envs=3, episode_length=9, scale_surrogate_reward=0.5, similarity_threshold=0.6,
                  deferred_bonus=True, embedding_batch_size=7)
    results = []
    for background in (False, True):
        env, network = _wrapped(r_network=SlowRecordingRNetwork(), background_bonus=background, **kwargs)
        del network.threads[:], network.embedded[:]
        env.reset()
        for _ in range(2):  # memories carry over from one rollout to the next
            returned = np.array([env.step(a)[1] for a in actions])
            if background:
                # chunks of 3 steps were handed over while stepping; the last partial one waits
                assert len(env._futures) == 10 and env._submitted_steps == 30
            results.append(env.rollout_rewards(returned))
        results.append(env.memory.embeddings.copy())
        assert [len(batch) for batch in network.embedded] == [9] * 10 + [3] + [9] * 10 + [3]
        on_worker = [name.startswith("curiosity_bonus") for name in network.threads]
        assert all(on_worker) if background else not any(on_worker)
        env.close()
    for no_thread, thread in zip(results[:3], results[3:]):
        np.testing.assert_array_equal(no_thread, thread)
    assert np.ptp(results[0]) > 0.01


def test_background_bonus_discards_unfinished_work_on_reset_and_reports_errors():
    env, network = _wrapped(num_envs=2, deferred_bonus=True, background_bonus=True, embedding_batch_size=2)
    env.reset()
    for action in range(5):
        env.step(np.array([action % 4, 1]))
    env.reset()  # the 5 steps are dropped, their chunks finished or cancelled
    assert not env._pending and not env._futures and env.memory.sizes.tolist() == [0, 0]

    def broken_embed(frames):
        raise RuntimeError("embedding failed")
    network.embed = broken_embed
    returned = np.array([env.step(np.array([0, 1]))[1] for _ in range(3)])
    with pytest.raises(RuntimeError, match="embedding failed"):
        env.rollout_rewards(returned)
    assert not env._pending and not env._futures
    env.close()


def test_runner_completes_deferred_rewards_before_gae():
    from episodic_curiosity import ppo  # pylint: disable=g-import-not-at-top
    batches = []
    for deferred, background in ((False, False), (True, False), (True, True)):
        env, _ = _wrapped(num_envs=2, episode_length=6, scale_surrogate_reward=1.0, deferred_bonus=deferred,
                          background_bonus=background, embedding_batch_size=4)
        policy = ppo.ActorCritic("cnn", env.single_observation_space, env.single_action_space, seed=3)
        runner = ppo.Runner(env, policy, nsteps=9, gamma=0.99, lam=0.95)
        runner.reset()
        batches.append(runner.run()[0])
    np.testing.assert_allclose(batches[1]["rewards"], batches[0]["rewards"], atol=1e-6)
    np.testing.assert_allclose(batches[1]["returns"], batches[0]["returns"], atol=1e-5)
    for key in ("rewards", "returns", "advantages"):
        np.testing.assert_array_equal(batches[2][key], batches[1][key])
    assert np.ptp(batches[0]["rewards"]) > 0.01


def test_frame_stack_holds_the_episodes_last_frames_and_restarts_with_each_episode():
    env, _ = _wrapped(num_envs=2, episode_length=3, exploration_reward="none",
                      target_image_shape=(42, 42, 1), frame_stack=4)
    recorder = Recorder()
    env.add_observer(recorder)
    assert env.single_observation_space.shape == (42, 42, 4)
    first, _ = env.reset()
    assert first.shape == (2, 42, 42, 4)
    for k in range(1, 4):  # an episode's first observation fills the whole stack
        np.testing.assert_array_equal(first[..., k], first[..., 0])
    grey = lambda frames: curiosity_env_wrapper.resize_frames(frames, (42, 42, 1))[..., 0]
    frames = [first[..., -1]]
    for step in range(3):
        observations, _, terminated, truncated, infos = env.step(np.array([2, 3]))
        frames.append(grey(recorder.calls[-1][0]))
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
        np.testing.assert_array_equal(final[..., -1], grey(recorder.calls[-1][3]["final_obs"][env_index][None])[0])
        np.testing.assert_array_equal(final[..., :-1], np.stack(frames[:3], axis=-1)[env_index])
    env.close()


def test_frame_stack_needs_resized_images():
    vec = environments.make_vector_env("fake", 1, asynchronous=False)
    with pytest.raises(ValueError, match="frame_stack"):
        curiosity_env_wrapper.CuriosityEnvWrapper(vec, exploration_reward="none", target_image_shape=None,
                                                  frame_stack=2)
    with pytest.raises(ValueError, match="frame_stack must be an int >= 1"):
        curiosity_env_wrapper.CuriosityEnvWrapper(vec, exploration_reward="none", frame_stack=0)
    vec.close()


def test_chunked_comparisons_give_the_step_by_step_bonus_with_a_real_r_network():
    """With comparator keys, a deferred chunk is scored in one comparator call and replayed step
    by step: the same bonuses, memory contents and random replacements as per-step scoring."""
    import gin  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top
    gin.clear_config()
    gin.parse_config(["build_embedding_network.stage_filters = (4, 4, 8, 8)",
                      "build_embedding_network.embedding_size = 8", "build_comparator_network.hidden_units = 8",
                      "build_embedding_network.input_pooling = 4",
                      "EpisodicMemory.capacity = 6", "EpisodicMemory.replacement = 'random'"])
    try:
        network = r_network.RNetwork()
        rng = np.random.default_rng(4)
        for layer in network._comparator_branch.weighted_layers[1::2]:  # the Dense layers: spread the scores
            layer.kernel.assign(rng.normal(size=layer.kernel.shape).astype(np.float32) * 3)
        actions = rng.integers(0, 4, size=(40, 3))
        kwargs = dict(num_envs=3, episode_length=17, r_network=network, scale_surrogate_reward=1.0,
                      similarity_threshold=0.8)
        per_step, _ = _wrapped(**kwargs)
        expected, _ = _run_rewards(per_step, actions)
        chunked, _ = _wrapped(deferred_bonus=True, embedding_batch_size=3 * 9, **kwargs)
        calls = []
        chunked._dense_similarity_fn = lambda q, m: calls.append(m.shape) or network.memory_similarities(q, m)
        returned, _ = _run_rewards(chunked, actions)
        completed = chunked.rollout_rewards(returned)
    finally:
        gin.clear_config()
    assert len(calls) == 5  # 40 steps in chunks of 9: one comparator call each
    np.testing.assert_allclose(completed, expected, atol=1e-5)
    assert np.ptp(expected[1:]) > 0.1 and (per_step.memory.counts > 6).any()  # replacement happened
    np.testing.assert_array_equal(chunked.memory.sizes, per_step.memory.sizes)
    np.testing.assert_array_equal(chunked.memory.ages, per_step.memory.ages)
    np.testing.assert_allclose(chunked.memory.keys, per_step.memory.keys, atol=1e-6)
