"""The DeepMind Lab env, against a stand-in `deepmind_lab` that follows DMLab's documented API."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import cv2
import gin
import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import environments
from episodic_curiosity import launcher
from episodic_curiosity import oracle
from episodic_curiosity.environments import dmlab

STAND_IN_PATH = pathlib.Path(__file__).parent / "dmlab_stand_in" / "deepmind_lab.py"
EC_ACTION_VECTORS = [  # the original code's DMLab action set
    (0, 0, 0, 1, 0, 0, 0),
    (0, 0, 0, -1, 0, 0, 0),
    (0, 0, -1, 0, 0, 0, 0),
    (0, 0, 1, 0, 0, 0, 0),
    (-20, 0, 0, 0, 0, 0, 0),
    (20, 0, 0, 0, 0, 0, 0),
    (-20, 0, 0, 1, 0, 0, 0),
    (20, 0, 0, 1, 0, 0, 0),
    (0, 0, 0, 0, 1, 0, 0),
]
EGL = "contributed/dmlab30/explore_goal_locations_large"


@pytest.fixture
def lab(monkeypatch):
    """The stand-in module, importable as `deepmind_lab` for the duration of a test."""
    spec = importlib.util.spec_from_file_location("deepmind_lab", STAND_IN_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "deepmind_lab", module)
    return module


def _env(lab_module, scenario="sparse", **kwargs):
    kwargs.setdefault("seed", 0)
    return dmlab.DMLabEnv(scenario, lab_module=lab_module, **kwargs)


# The stand-in reproduces the real DMLab's surprises. ---------------------


def test_stand_in_reproduces_dmlab_surprises(lab):
    with pytest.raises(TypeError, match="bad argument type"):
        lab.Lab(EGL, ["DEBUG.POS.TRANS"], config={"fps": 60})
    with pytest.raises(RuntimeError, match='Invalid setting: "minGoalDistance" = "10"'):
        lab.Lab(EGL, ["DEBUG.POS.TRANS"], config={"minGoalDistance": "10"})
    with pytest.raises(ValueError, match="Unknown observation"):
        lab.Lab(EGL, ["NOPE"])
    env = lab.Lab(EGL, ["DEBUG.POS.TRANS"], config={"episodeLengthSeconds": "1"})
    assert not hasattr(env, "fps")
    action = np.zeros(7, np.intc)
    with pytest.raises(RuntimeError, match="wrong status to advance"):
        env.step(action)
    with pytest.raises(RuntimeError, match="wrong status for call to observations"):
        env.observations()
    env.reset(seed=1)
    with pytest.raises(ValueError, match="dtype np.intc"):
        env.step(np.zeros(7, np.int64))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(6, np.intc))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        env.step([0] * 7)
    while env.is_running():
        env.step(action, num_steps=4)
    assert env.num_steps() == 60
    with pytest.raises(RuntimeError):
        env.observations()


# Construction: level, settings, observations, renderer. ----------------------------------------


@pytest.mark.parametrize("scenario", sorted(dmlab.SCENARIOS))
def test_lab_arguments_per_scenario(lab, scenario):
    env = _env(lab, scenario)
    created = lab.created_labs[-1]
    expected_level = {
        "sparse": EGL,
        "noreward": EGL,
        "norewardnofire": EGL,
        "verysparse": "ec_explore_goal_locations_large",
        "sparseplusdoors": "contributed/dmlab30/explore_obstructed_goals_large",
        "dense1": "contributed/dmlab30/rooms_keys_doors_puzzle",
        "dense2": "contributed/dmlab30/rooms_collect_good_objects_train",
    }[scenario]
    assert created.level == expected_level
    assert created.renderer == "software"
    assert created.observation_names == [
        "DEBUG.CAMERA.PLAYER_VIEW_NO_RETICLE",
        "DEBUG.POS.TRANS",
        "DEBUG.POS.ROT",
        "DEBUG.PLAYERS.VELOCITY",
        "DEBUG.MAZE.LAYOUT",
        "MAP_FRAME_NUMBER",
    ]
    config = created.config
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in config.items())
    assert config["width"] == "160" and config["height"] == "120" and config["mixerSeed"] == "0"
    if scenario == "verysparse":
        assert config["minGoalDistance"] == "10"
        assert os.path.isfile(os.path.join(config["levelDirectory"], created.level + ".lua"))
        assert set(config) == {"width", "height", "mixerSeed", "levelDirectory", "minGoalDistance"}
    else:
        assert set(config) == {"width", "height", "mixerSeed"}
    assert env.action_space == gym.spaces.Discrete(8 if scenario == "norewardnofire" else 9)
    assert env.observation_space == gym.spaces.Box(0, 255, (120, 160, 3), np.uint8)
    assert env.episode_frames == (7200 if dmlab.SCENARIOS[scenario].explore_level else 3600)
    assert dmlab.episode_steps(scenario) == env.episode_frames // 4
    env.close()


def test_scenario_table_matches_the_paper():
    table = {
        name: (s.fully_qualified_level, dict(s.settings), s.action_set, s.episode_length_seconds)
        for name, s in dmlab.SCENARIOS.items()
    }
    egl = "explore_goal_locations_large"
    assert table == {
        "sparse": (egl, {}, "default", 120),
        "noreward": (egl, {}, "default", 120),
        "norewardnofire": (egl, {}, "nofire", 120),
        "verysparse": (egl + "_verysparse", {"minGoalDistance": "10"}, "default", 120),
        "sparseplusdoors": ("explore_obstructed_goals_large", {}, "default", 120),
        "dense1": ("rooms_keys_doors_puzzle", {}, "default", 60),
        "dense2": ("rooms_collect_good_objects_train", {}, "default", 60),
    }


def test_renderer_mixer_seed_and_level_settings_are_passed_as_strings(lab):
    _env(
        lab,
        "verysparse",
        renderer="hardware",
        mixer_seed="VALIDATION",
        level_settings={"minGoalDistance": 15, "episodeLengthSeconds": 5},
    )
    created = lab.created_labs[-1]
    assert created.renderer == "hardware"
    # 0x2B79ED94 = 729410964 (not 729411988, an easy slip).
    assert created.config["mixerSeed"] == "729410964" == str(0x2B79ED94)
    assert created.config["minGoalDistance"] == "15" and created.config["episodeLengthSeconds"] == "5"
    assert dmlab.SPLIT_MIXER_SEEDS == {
        "R_TRAINING": 0,
        "POLICY_TRAINING": 0x3D23BE66,
        "VALIDATION": 0x2B79ED94,
        "TEST": 0x600D5EED,
        "R_VALIDATION": 0x1C0FFEE5,
    }
    assert _env(lab, "dense2", mixer_seed=7).config["mixerSeed"] == "7"


def test_bad_arguments_give_clear_errors(lab):
    with pytest.raises(ValueError, match="rejects 'minGoalDistance'.*verysparse"):
        _env(lab, "sparse", level_settings={"minGoalDistance": 10})
    with pytest.raises(ValueError, match="unknown split 'TRAIN'"):
        _env(lab, mixer_seed="TRAIN")
    with pytest.raises(ValueError, match="mixer_seed must be in"):
        _env(lab, mixer_seed=-5)
    with pytest.raises(ValueError, match="renderer"):
        _env(lab, renderer="opengl")
    with pytest.raises(ValueError, match="unknown DeepMind Lab scenario 'sprase'"):
        _env(lab, "sprase")
    with pytest.raises(ValueError, match="'width' is set by the env"):
        _env(lab, level_settings={"width": 84})
    assert not lab.created_labs  # all refused before a Lab was built


# Stepping. -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["sparse", "norewardnofire"])
def test_action_vectors_and_repeat(lab, scenario):
    env = _env(lab, scenario)
    env.reset()
    for action in range(env.action_space.n):
        env.step(action)
    taken = lab.created_labs[-1].steps_taken
    expected = EC_ACTION_VECTORS[: env.action_space.n]
    assert [tuple(int(v) for v in a) for a, _ in taken] == expected
    assert all(a.dtype == np.intc and a.shape == (7,) and n == 4 for a, n in taken)
    assert env.action_names[:2] == ("forward", "backward")
    with pytest.raises(ValueError, match="invalid action"):
        env.step(env.action_space.n)


def test_observation_and_info(lab):
    env = _env(lab, "sparse")
    observation, info = env.reset()
    created = lab.created_labs[-1]
    raw = created.observations()
    assert observation.shape == (120, 160, 3) and observation.dtype == np.uint8
    assert observation.flags["C_CONTIGUOUS"]
    channels_first = raw["DEBUG.CAMERA.PLAYER_VIEW_NO_RETICLE"]
    np.testing.assert_array_equal(observation, np.transpose(channels_first, (1, 2, 0)))
    np.testing.assert_array_equal(info["position"], raw["DEBUG.POS.TRANS"])
    np.testing.assert_array_equal(info["rotation"], raw["DEBUG.POS.ROT"])
    assert info["velocity"].shape == (3,) and info["frame_number"] == 0 and not info["respawned"]
    assert info["maze_layout"] == raw["DEBUG.MAZE.LAYOUT"] and len(info["maze_layout"]) == 306
    observation, reward, terminated, truncated, info = env.step(0)  # forward
    assert info["frame_number"] == 4 and reward == 0.0 and not (terminated or truncated)
    np.testing.assert_array_equal(info["velocity"], created.observations()["DEBUG.PLAYERS.VELOCITY"][0])
    np.testing.assert_array_equal(info["position"], created.observations()["DEBUG.POS.TRANS"])
    assert env.render() is None
    assert _env(lab, "dense1", render_mode="rgb_array").reset()[1]["maze_layout"] == ""


def test_timeout_is_truncation_and_the_last_observation_is_kept(lab):
    env = _env(lab, "sparse", level_settings={"episodeLengthSeconds": 1})  # 60 frames = 15 steps
    assert env.episode_frames == 60
    observation, info = env.reset()
    for step in range(15):
        previous = observation
        observation, _, terminated, truncated, info = env.step(4)  # turning: never reaches the goal
        assert not terminated
        assert truncated == (step == 14)
    np.testing.assert_array_equal(observation, previous)  # the engine has no state any more
    assert "position" in info and not info["respawned"]
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(0)
    env.reset()
    assert env.step(4)[1] == 0.0  # a new episode runs


def test_early_level_end_is_termination(lab):
    env = _env(lab, "dense1")
    env.reset()
    lab.created_labs[-1].end_episode_in(10)  # e.g. the keys-doors goal (+50) ends the episode
    results = [env.step(0)[2:4] for _ in range(3)]
    assert results == [(False, False), (False, False), (True, False)]


def test_goal_reward_and_respawn_detection(lab):
    env = _env(lab, "sparse")
    env.reset()
    created = lab.created_labs[-1]
    gx, gy = created.goal_position()
    before = env.step(4)[4]["frame_number"]
    created.teleport(gx - 40, gy, yaw=0.0)  # 40 units west of the goal, facing east (+x)
    _, reward, terminated, truncated, info = env.step(0)
    assert reward == 10.0 and not (terminated or truncated)
    assert info["respawned"] and info["frame_number"] < before + 4
    assert np.hypot(info["position"][0] - gx, info["position"][1] - gy) > 90  # on a P cell elsewhere
    assert not env.step(4)[4]["respawned"]


def test_verysparse_respawns_keep_the_minimum_distance(lab):
    env = _env(lab, "verysparse")
    env.reset()
    created = lab.created_labs[-1]
    for _ in range(5):
        gx, gy = created.goal_position()
        created.teleport(gx - 40, gy, yaw=0.0)
        assert env.step(0)[1] == 10.0
    assert created.min_goal_distance == 10
    assert len(created.respawn_distances) == 6 and min(created.respawn_distances) >= 10


# Seeds and the level cache. --------------------------------------------------------------------


def _level_seeds(env, resets):
    return [env.reset()[1]["level_seed"] for _ in range(resets)]


def test_level_seeds_come_from_the_env_seed(lab):
    first = _level_seeds(_env(lab, seed=5, level_cache_dir=""), 4)
    assert first == _level_seeds(_env(lab, seed=5, level_cache_dir=""), 4)
    assert first != _level_seeds(_env(lab, seed=6, level_cache_dir=""), 4)
    assert len(set(first)) == 4 and all(0 <= s < 2**31 - 1 for s in first)
    assert first == list(np.random.RandomState(5).randint(0, 2**31 - 1, size=4))
    env = _env(lab, seed=5, level_cache_dir="")
    assert env.reset(seed=6)[1]["level_seed"] == _level_seeds(_env(lab, seed=6, level_cache_dir=""), 1)[0]


def test_level_cache_reuses_compiled_maps(lab, tmp_path):
    for _ in range(2):
        env = _env(lab, seed=3, level_cache_dir=str(tmp_path / "cache"))
        env.reset()
        env.close()
    first, second = lab.created_labs[-2:]
    assert (first.compiled_maps, first.cache_hits) == (1, 0)
    assert (second.compiled_maps, second.cache_hits) == (0, 1)
    assert len(os.listdir(tmp_path / "cache")) == 1
    # Default folder: $EPISODIC_CURIOSITY_CACHE/dmlab_level_cache (set per test by conftest).
    env = _env(lab)
    expected = os.path.join(os.environ["EPISODIC_CURIOSITY_CACHE"], "dmlab_level_cache")
    assert env.level_cache.directory == expected
    assert _env(lab, level_cache_dir="").level_cache is None
    assert lab.created_labs[-1].level_cache is None


def test_level_cache_never_leaves_its_folder(tmp_path):
    cache = dmlab.LevelCache(str(tmp_path / "cache"))
    source = tmp_path / "map.pk3"
    source.write_bytes(b"map")
    cache.write("../escape", str(source))
    assert not (tmp_path / "escape").exists() and not os.listdir(tmp_path / "cache")
    assert not cache.fetch("../map.pk3", str(tmp_path / "out.pk3"))
    cache.write("explore_maze_noaas_00ff", str(source))
    assert cache.fetch("explore_maze_noaas_00ff", str(tmp_path / "out.pk3"))
    assert (tmp_path / "out.pk3").read_bytes() == b"map"


def test_close_then_reset_is_refused(lab):
    env = _env(lab)
    env.reset()
    env.close()
    with pytest.raises(RuntimeError, match="after close"):
        env.reset()


# Registry, vector envs, oracle, launcher. ------------------------------------------------------


def test_registry_builds_dmlab_envs(lab):
    for name in dmlab.SCENARIOS:
        spec = environments.get_scenario(name)
        assert spec.family == "dmlab" and spec.available
        assert spec.action_names == dmlab.DMLabEnv(name, lab_module=lab).action_names
        assert spec.max_episode_steps == dmlab.episode_steps(name)
    env = environments.make_env("verysparse", seed=3)
    assert isinstance(env, dmlab.DMLabEnv) and env.scenario == "verysparse"
    assert env.reset()[1]["level_seed"] == np.random.RandomState(3).randint(0, 2**31 - 1)


def test_vector_env_with_same_step_autoreset(lab):
    vec = environments.make_vector_env(
        "norewardnofire",
        2,
        base_seed=10,
        asynchronous=False,
        env_kwargs={"level_settings": {"episodeLengthSeconds": 1}},
    )
    assert vec.single_action_space == gym.spaces.Discrete(8)
    observations, infos = vec.reset()
    assert observations.shape == (2, 120, 160, 3) and infos["position"].shape == (2, 3)
    assert list(infos["level_seed"]) == [np.random.RandomState(s).randint(0, 2**31 - 1) for s in (10, 11)]
    for _ in range(15):
        observations, _, terminated, truncated, infos = vec.step(np.array([4, 5]))
    assert truncated.all() and not terminated.any()
    assert infos["final_info"]["position"].shape == (2, 3)
    assert (infos["frame_number"] == 0).all()  # already the next episode's first frame
    vec.close()


def test_oracle_reads_the_position(lab):
    env = oracle.OracleRewardWrapper(environments.make_env("noreward", seed=0), 30.0, 900.0)
    env.reset()
    rewards = [env.step(0)[1] for _ in range(8)]
    assert all(r in (0.0, 1.0) for r in rewards) and sum(rewards) >= 1.0


def test_missing_dmlab_gives_build_instructions(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepmind_lab", None)  # `import deepmind_lab` raises ImportError
    with pytest.raises(dmlab.DMLabNotInstalledError) as error:
        environments.make_env("sparse")
    message = str(error.value)
    assert "DeepMind Lab" in message and "not installed" in message and dmlab.BUILD_DOCS_URL in message
    assert isinstance(error.value, environments.MissingDependencyError)
    with pytest.raises(environments.MissingDependencyError, match="deepmind_lab"):
        launcher.check_choice("ppo", "verysparse", "paper")
    with pytest.raises(environments.MissingDependencyError):
        environments.make_vector_env("dense1", 2, asynchronous=False)


def test_only_dmlab_module_imports_deepmind_lab():
    package = pathlib.Path(dmlab.__file__).parent.parent
    importers = sorted(
        str(p.relative_to(package)) for p in package.rglob("*.py") if "import deepmind_lab" in p.read_text()
    )
    assert importers == [os.path.join("environments", "dmlab.py")]
    assert "deepmind_lab" not in vars(dmlab)  # imported inside a function only


# Installation check. ---------------------------------------------------------------------------


def test_check_installation_writes_a_frame(lab, tmp_path):
    output = tmp_path / "frame.png"
    result = dmlab.check_installation("sparse", steps=30, output=str(output), lab_module=lab)
    assert result.steps == 30 and result.steps_per_second > 0 and result.output == str(output)
    frame = cv2.imread(str(output))
    assert frame.shape == (120, 160, 3)
    last = lab.created_labs[-1]
    assert len(last.steps_taken) == 30
    with pytest.raises(ValueError, match="steps must be >= 1"):
        dmlab.check_installation(steps=0, lab_module=lab)


def _run_cli(*args, stand_in=True):
    env = dict(os.environ)
    if stand_in:
        env["PYTHONPATH"] = os.pathsep.join([str(STAND_IN_PATH.parent), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "episodic_curiosity.environments.dmlab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_check_command_line(tmp_path):
    output = tmp_path / "frame.png"
    result = _run_cli("--check", "--scenario", "verysparse", "--steps", "20", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert "DeepMind Lab works: scenario verysparse" in result.stdout and "steps/s" in result.stdout
    assert cv2.imread(str(output)).shape == (120, 160, 3)
    usage = _run_cli()
    assert usage.returncode != 0 and "pass --check" in usage.stderr


def test_launcher_composes_dmlab_configs(lab):
    files = [os.path.basename(f) for f in launcher.config_files("ppo_plus_ec", "noreward", "paper")]
    assert files == ["method_ppo_plus_ec.gin", "scenario_dmlab.gin", "scenario_noreward.gin"]


def test_missing_dmlab_error_survives_pickling():
    import pickle  # pylint: disable=g-import-not-at-top

    error = pickle.loads(pickle.dumps(dmlab.DMLabNotInstalledError()))
    assert isinstance(error, dmlab.DMLabNotInstalledError) and dmlab.BUILD_DOCS_URL in str(error)


def test_policy_envs_of_each_split_get_the_splits_mixer_seed(lab):
    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top

    expected = {"train": 0x3D23BE66, "valid": 0x2B79ED94, "test": 0x600D5EED}
    for split, mixer in expected.items():
        del lab.created_labs[:]
        env = train_policy.make_policy_envs("sparse", 2, split, asynchronous=False, env_kwargs=None)
        try:
            env.reset()
            assert [created.config["mixerSeed"] for created in lab.created_labs] == [str(mixer)] * 2
        finally:
            env.close()


def test_noreward_training_and_evaluation_report_the_exploration_score(lab, tmp_path, clean_gin):
    """reward_train.csv and eval_policy of a no-reward scenario hold the grid-oracle score (the
    original's oracle before monitor), not the (hidden) goal return."""
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import metrics_csv  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top

    gin.parse_config_files_and_bindings(
        launcher.config_files("ppo", "noreward", "smoke"),
        ["PPOConfig.nsteps=8", "train_policy.eval_every_rollouts=1"],
        skip_unknown=False,
    )
    short = {"level_settings": {"episodeLengthSeconds": 1}}  # 15 agent steps per episode
    result = train_policy.train_policy(
        str(tmp_path),
        "noreward",
        num_env=2,
        num_timesteps=60,
        asynchronous=False,
        show_progress=False,
        env_kwargs=short,
    )
    rows = metrics_csv.read_scalars(str(tmp_path / "reward_train.csv"))
    finished = [value for _, value, _ in rows if not np.isnan(value)]
    # A walk visits at least its start cell: the score is >= 1.0 per episode; the goal return
    # of these levels without their goal in reach is 0.
    assert finished and min(finished) >= 1.0
    evaluated = [value for _, value, _ in metrics_csv.read_scalars(str(tmp_path / "reward_test.csv"))]
    assert evaluated and min(evaluated) >= 1.0
    summary = eval_policy.eval_policy(
        result["checkpoint"],
        "noreward",
        num_episodes=2,
        num_env=2,
        asynchronous=False,
        env_kwargs=short,
        output=str(tmp_path / "eval.json"),
    )
    assert summary["mean_return"] >= 1.0
