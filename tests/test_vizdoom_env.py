"""VizDoom MyWayHome: spaces, seeding, spawn positions, vest reward, timeout, cwd hygiene."""

import os

import numpy as np
import pytest

pytest.importorskip("vizdoom")  # conftest.py turns a skip into an error under `make test`

from episodic_curiosity import environments  # noqa: E402
from episodic_curiosity.environments import vizdoom as vizdoom_env  # noqa: E402

# MapSpot (type 9001) coordinates of the stock MyWayHome map, TIDs 10..26.
MAP_SPOTS = np.array(
    [
        (240.0, -176.0),
        (464.0, -176.0),
        (470.3, -321.7),
        (467.0, -466.7),
        (460.3, -596.1),
        (544.0, -672.1),
        (575.4, -171.8),
        (686.8, -173.2),
        (686.6, -62.4),
        (464.1, -60.5),
        (460.3, 56.4),
        (571.6, 54.5),
        (694.2, 58.3),
        (871.5, 54.5),
        (1043.1, 60.2),
        (1039.7, -61.7),
        (1039.3, -169.9),
    ]
)


@pytest.fixture
def make():
    envs = []

    def factory(scenario, **kwargs):
        env = environments.make_env(scenario, **kwargs)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()


def test_spaces_dtypes_reset_and_step(make):
    env = make("vizdoom_sparse", seed=0)
    assert env.observation_space.shape == (120, 160, 3)
    assert env.observation_space.dtype == np.uint8
    assert env.action_space.n == 4
    observation, info = env.reset()
    assert observation.shape == (120, 160, 3) and observation.dtype == np.uint8
    assert observation.std() > 0  # a rendered view, not a blank buffer
    assert info["position"].shape == (3,) and info["success"] is False
    observation, reward, terminated, truncated, info = env.step(1)
    assert env.observation_space.contains(observation)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["position"][0] > 240.0  # moved east, the direction it faces


def _spawns(env, count):
    result = []
    for _ in range(count):
        _, info = env.reset()
        result.append((*info["position"][:2], info["angle"]))
    return np.array(result)


def test_sparse_spawn_is_tid_10_facing_east(make):
    spawns = _spawns(make("vizdoom_sparse", seed=1), 6)
    np.testing.assert_allclose(spawns[:, :2], np.tile([240.0, -176.0], (6, 1)), atol=0.5)
    assert np.all((spawns[:, 2] >= 0.0) & (spawns[:, 2] <= 3.6 + 1e-6))


def test_verysparse_spawn_is_tid_15_facing_west(make):
    spawns = _spawns(make("vizdoom_verysparse", seed=1), 6)
    np.testing.assert_allclose(spawns[:, :2], np.tile([543.986, -672.089], (6, 1)), atol=0.5)
    assert np.all((spawns[:, 2] >= 176.4 - 1e-6) & (spawns[:, 2] <= 183.6 + 1e-6))
    assert np.ptp(spawns[:, 2]) > 0  # the heading is drawn, not constant


def test_dense_spawns_are_the_17_map_spots(make):
    spawns = _spawns(make("vizdoom_dense", seed=2), 25)
    distances = np.linalg.norm(spawns[:, None, :2] - MAP_SPOTS[None], axis=-1)
    assert np.all(distances.min(axis=1) < 1.0)
    assert len(set(distances.argmin(axis=1))) >= 6
    assert np.ptp(spawns[:, 2]) > 90  # headings are fully random in dense


def test_same_seed_same_frames(make):
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, size=40)
    runs = []
    for _ in range(2):
        env = make("vizdoom_dense", seed=7)
        frames = []
        for _episode in range(2):
            frames.append(env.reset()[0])
            frames.extend(env.step(int(a))[0] for a in actions)
        runs.append(np.stack(frames))
    np.testing.assert_array_equal(runs[0], runs[1])
    other = make("vizdoom_dense", seed=8)
    other_spawns = _spawns(other, 3)
    same_spawns = _spawns(make("vizdoom_dense", seed=7), 3)
    assert not np.allclose(other_spawns, same_spawns)


def test_reset_seed_argument_reseeds(make):
    env = make("vizdoom_dense")
    first = _spawns_with_seed(env, 11)
    assert np.allclose(first, _spawns_with_seed(env, 11))


def _spawns_with_seed(env, seed):
    _, info = env.reset(seed=seed)
    return np.array([*info["position"][:2], info["angle"]])


def test_reaching_the_vest_gives_plus_one_and_ends_the_episode(make):
    env = make("vizdoom_sparse", seed=3, enable_cheats=True)
    env.reset()
    env.teleport(*vizdoom_env.VEST_POSITION)
    observation, reward, terminated, truncated, info = env.step(0)
    np.testing.assert_allclose(info["position"][:2], vizdoom_env.VEST_POSITION)
    assert (reward, terminated) == (0.0, False)  # picked up only once the player moves
    observation, reward, terminated, truncated, info = env.step(1)
    assert (reward, terminated, truncated, info["success"]) == (1.0, True, False, True)
    assert observation.shape == (120, 160, 3)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    _, info = env.reset()
    assert info["success"] is False


class _RewardBeforeExitGame:
    """The real engine, except that `make_action` plays a script of (reward, finished): the
    vest's +1 on one step and the episode's end on the next (what a pickup on the last tic of
    an action repeat gives)."""

    def __init__(self, game, script, timeout=False):
        self._game, self._script, self._finished, self._timeout = game, list(script), False, timeout

    def make_action(self, buttons, repeat):
        del buttons, repeat
        reward, self._finished = self._script.pop(0)
        return reward

    def is_episode_finished(self):
        return self._finished

    def is_episode_timeout_reached(self):
        return self._finished and self._timeout

    def __getattr__(self, name):
        return getattr(self._game, name)


def test_success_counts_a_vest_reward_one_step_before_the_end(make):
    env = make("vizdoom_sparse", seed=3)
    env.reset()
    env._game = _RewardBeforeExitGame(env._game, [(0.0, False), (1.0, False), (0.0, True)])
    assert env.step(0)[4]["success"] is False
    _, reward, terminated, _, info = env.step(0)
    assert (reward, terminated, info["success"]) == (1.0, False, False)
    _, reward, terminated, truncated, info = env.step(0)
    assert (reward, terminated, truncated, info["success"]) == (0.0, True, False, True)
    env._game = env._game._game
    _, info = env.reset()
    assert info["success"] is False


def test_success_counts_a_vest_reward_just_before_the_timeout(make):
    """A pickup on the step before the timeout: the engine ends the episode by the timeout
    (truncated), but the vest was reached."""
    env = make("vizdoom_sparse", seed=3)
    # then the next episode starts unrewarded: its own timeout without a pickup is no success
    for pickup, success in ((1.0, True), (0.0, False)):
        env.reset()
        env._game = _RewardBeforeExitGame(env._game, [(pickup, False), (0.0, True)], timeout=True)
        env.step(0)
        _, reward, terminated, truncated, info = env.step(0)
        assert (reward, terminated, truncated, info["success"]) == (0.0, False, True, success)
        env._game = env._game._game


def test_default_timeout_truncates_after_525_steps(make):
    env = make("vizdoom_sparse", seed=4)
    env.reset()
    total_reward, steps, truncated = 0.0, 0, False
    while not truncated:
        _, reward, terminated, truncated, info = env.step(0)
        assert not terminated
        total_reward += reward
        steps += 1
        assert steps <= 525
    assert steps == 525 and total_reward == 0.0 and info["success"] is False


def test_short_timeout_override(make):
    env = make("vizdoom_sparse", seed=4, episode_timeout_tics=40)
    env.reset()
    outcomes = [env.step(2)[2:4] for _ in range(10)]
    assert outcomes[-1] == (False, True) and all(o == (False, False) for o in outcomes[:-1])


def test_invalid_action_is_rejected(make):
    env = make("vizdoom_sparse", seed=0)
    env.reset()
    with pytest.raises(ValueError, match="invalid action"):
        env.step(4)


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        vizdoom_env.MyWayHomeEnv(variant="medium")


def test_engine_files_stay_out_of_the_working_directory(make, tmp_path, monkeypatch):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    env = make("vizdoom_verysparse", seed=0)
    env.reset()
    env.step(1)
    env.close()
    assert os.listdir(workdir) == []


def test_vectorized_sparse_envs(tmp_path):
    vec = environments.make_vector_env("vizdoom_sparse", 2, asynchronous=True)
    try:
        observations, infos = vec.reset()
        assert observations.shape == (2, 120, 160, 3) and observations.dtype == np.uint8
        np.testing.assert_allclose(infos["position"][:, :2], [[240.0, -176.0]] * 2, atol=0.5)
        observations, rewards, terminated, truncated, infos = vec.step(np.array([1, 3]))
        assert observations.shape == (2, 120, 160, 3) and rewards.shape == (2,)
        assert infos["position"][0, 0] > infos["position"][1, 0]  # env 0 moved, env 1 turned
    finally:
        vec.close()


def test_engine_does_not_outlive_a_killed_controller(tmp_path):
    """A SIGKILLed process (e.g. a killed training run) must not leave its engine running."""
    import signal  # pylint: disable=g-import-not-at-top
    import subprocess  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top
    import time  # pylint: disable=g-import-not-at-top

    code = (
        "import time\n"
        "from episodic_curiosity import environments\n"
        "env = environments.make_env('vizdoom_sparse', seed=0)\n"
        "env.reset()\n"
        "print(env._reaper is not None, vizdoom_pid(), flush=True)\n"
        "time.sleep(120)\n"
    )
    prelude = (
        "import os\n"
        "from episodic_curiosity.environments import vizdoom as v\n"
        "def vizdoom_pid():\n"
        "    return v._find_engine_pid('vizdoom_')\n"
    )
    process = subprocess.Popen([sys.executable, "-c", prelude + code], stdout=subprocess.PIPE, text=True)
    try:
        has_reaper, engine_pid = process.stdout.readline().split()
        assert has_reaper == "True" and engine_pid != "None"
        engine_pid = int(engine_pid)
        os.kill(engine_pid, 0)  # running
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(engine_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    pytest.fail(f"VizDoom engine {engine_pid} still running after its controller was killed")
