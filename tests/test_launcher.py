"""Launcher: configs per method, errors, stage chaining and skipping (fake env, tiny sizes)."""

import csv
import json
import os
import subprocess
import sys

import gin
import pytest

from episodic_curiosity import cli
from episodic_curiosity import environments
from episodic_curiosity import launcher
from episodic_curiosity import metrics_csv

import tiny_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = list(tiny_config.TINY_ON_FAKE)


pytestmark = pytest.mark.usefixtures("clean_gin")


@pytest.mark.parametrize("method", launcher.METHODS)
def test_method_configs_parse_and_hold_the_originals_values(method):
    gin.parse_config_files_and_bindings(
        launcher.config_files(method, "vizdoom_sparse", "paper"), [], skip_unknown=False
    )
    expected_alpha = {
        "ppo": None,
        "ppo_plus_ec": 0.03017241379310345,
        "ppo_plus_eco": 0.03017241379310345,
        "ppo_plus_grid_oracle": 0.05246913580246913,
        "ppo_plus_icm": 1.0,
        "ppo_plus_rnd": 0.5,
        "ppo_plus_e3b": 0.01,
    }[method]
    if expected_alpha is not None:
        assert gin.query_parameter("RewardScales.scale_surrogate_reward") == expected_alpha
    expected_class = {
        "ppo": None,
        "ppo_plus_ec": "EpisodicCuriosity",
        "ppo_plus_eco": "OnlineEpisodicCuriosity",
        "ppo_plus_grid_oracle": "GridOracleBonus",
        "ppo_plus_icm": "IcmBonus",
        "ppo_plus_rnd": "RndBonus",
        "ppo_plus_e3b": "E3bBonus",
    }[method]
    binding = gin.query_parameter("train_policy.intrinsic_reward")
    assert (binding if binding is None else binding.selector.split(".")[-1]) == expected_class
    expected_entropy = {
        "ppo": 0.0010941138105771857,
        "ppo_plus_ec": 0.002053525026457146,
        "ppo_plus_eco": 0.002053525026457146,
        "ppo_plus_grid_oracle": 0.0066116902624148155,
    }.get(method, 0.002053525026457146)
    assert gin.query_parameter("PPOConfig.ent_coef") == expected_entropy
    assert gin.query_parameter("GridOracle.reward_grid_size") == 50.0


def test_bad_choices_give_one_clear_error():
    with pytest.raises(ValueError, match="unknown method 'ppo_plus_magic'"):
        launcher.check_choice("ppo_plus_magic", "vizdoom_sparse", "paper")
    with pytest.raises(environments.UnknownScenarioError):
        launcher.check_choice("ppo", "vizdoom_nope", "paper")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "deepmind_lab", None)  # DeepMind Lab not installed
        with pytest.raises(environments.MissingDependencyError, match="deepmind_lab"):
            launcher.check_choice("ppo", "sparse", "paper")
    with pytest.raises(ValueError, match="unknown scale"):
        launcher.check_choice("ppo", "fake", "huge")


def test_newest_r_network_picks_the_greatest_name(tmp_path):
    for name in ("r_network_weights.00030.h5", "r_network_weights.00120.h5", "r_network_weights.00060.h5"):
        (tmp_path / "level").mkdir(exist_ok=True)
        (tmp_path / "level" / name).write_bytes(b"")
    assert launcher.newest_r_network(str(tmp_path)).endswith("r_network_weights.00120.h5")
    with pytest.raises(FileNotFoundError):
        launcher.newest_r_network(str(tmp_path / "level" / "none"))


@pytest.mark.parametrize("method", ["ppo", "ppo_plus_grid_oracle", "ppo_plus_eco", "ppo_plus_rnd", "ppo_plus_e3b"])
def test_policy_only_methods_end_to_end_on_fake(method, tmp_path):
    # ECO: a warm-up shorter than the run (its 400 smoke-scale steps would never end here).
    eco = (
        ["RewardScales.exploration_reward_min_step = 8", "OnlineRNetworkTrainer.observation_history_size = 8"]
        if method == "ppo_plus_eco"
        else []
    )
    outputs = launcher.launch(
        str(tmp_path),
        method,
        "fake",
        num_timesteps=40,
        num_env=2,
        scale="smoke",
        gin_bindings=TINY + eco,
        asynchronous=False,
        show_progress=False,
    )
    run_dir = tmp_path / method / "fake" / "run_number_1"
    assert outputs["run_dir"] == str(run_dir)
    assert len(metrics_csv.read_scalars(str(run_dir / "reward_train.csv"))) == 2  # 44 // 16
    assert (run_dir / "launcher.gin").exists()


def test_ppo_plus_ec_chains_stages_and_skips_them_on_rerun(tmp_path):
    # A data-generation binding (an opt-in search setting) reaches the data stage through the
    # launcher's gin and is kept on the rerun.
    bindings = [*TINY, "generate_r_training_data.random_action_hold = 2"]
    kwargs = dict(
        num_timesteps=40, num_env=2, scale="smoke", gin_bindings=bindings, asynchronous=False, show_progress=False
    )
    outputs = launcher.launch(str(tmp_path), "ppo_plus_ec", "fake", **kwargs)
    run_dir = tmp_path / "ppo_plus_ec" / "fake" / "run_number_1"
    for split in ("R_TRAINING", "R_VALIDATION"):
        assert any(n.endswith(".tfrecords") for n in os.listdir(run_dir / "r_training_data" / split))
        with open(run_dir / "r_training_data" / split / "generation_config.json") as handle:
            assert json.load(handle)["random_action_hold"] == 2
    assert os.path.basename(outputs["r_checkpoint"]) == "r_network_weights.00002.h5"
    stamps = {
        p: os.path.getmtime(p)
        for p in [outputs["r_checkpoint"], str(run_dir / "r_networks" / "loss.csv"), str(run_dir / "reward_train.csv")]
    }
    rows = metrics_csv.read_scalars(str(run_dir / "reward_train.csv"))
    with open(run_dir / "diagnostics.csv") as handle:  # what the bonus does, per update
        progress = list(csv.DictReader(handle))
    assert progress and all(float(row["curiosity_memory_size_mean"]) >= 1 for row in progress)
    assert "curiosity_episode_bonus" in progress[0]
    again = launcher.launch(str(tmp_path), "ppo_plus_ec", "fake", **kwargs)
    assert again["r_checkpoint"] == outputs["r_checkpoint"]
    assert {p: os.path.getmtime(p) for p in stamps} == stamps  # nothing redone
    assert metrics_csv.read_scalars(str(run_dir / "reward_train.csv")) == rows


def test_launcher_script_runs_and_prints_outputs(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "scripts", "launcher_script.py"),
            f"--workdir={tmp_path}",
            "--method=ppo",
            "--scenario=fake",
            "--scale=smoke",
            "--num_timesteps=40",
            "--num_env=2",
            *[f"--gin_bindings={b}" for b in TINY[:5]],
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run_dir:" in result.stdout and "policy_checkpoint:" in result.stdout


@pytest.mark.parametrize("name", ["noreward", "norewardnofire"])
def test_noreward_scenario_configs_hold_the_originals_eval_settings(name):
    files = [
        os.path.join(launcher.CONFIG_DIR, f)
        for f in ("method_ppo_plus_ec.gin", "scenario_dmlab.gin", f"scenario_{name}.gin")
    ]
    gin.parse_config_files_and_bindings(files, [], skip_unknown=False)
    assert gin.query_parameter("RewardScales.scale_task_reward") == 0.0
    assert gin.query_parameter("EpisodicMemory.replacement") == "fifo"
    assert gin.query_parameter("GridOracle.reward_grid_size") == 30.0
    # The exploration score is the env reward itself, so evaluation keeps the defaults
    # (task reward, no bonus) and reports it.
    with pytest.raises(ValueError):
        gin.query_parameter("train_policy.scale_task_reward_for_eval")
    assert environments.get_scenario(name).entry_point.endswith(":make_exploration_scored_env")


def test_released_r_networks_are_picked_per_level(tmp_path):
    for level, name in (
        ("explore_goal_locations_large", "r_network_weights.01860.h5"),
        ("rooms_keys_doors_puzzle", "r_network_weights.01350.h5"),
        ("rooms_collect_good_objects_train", "r_network_weights.02010.h5"),
    ):
        (tmp_path / level).mkdir()
        (tmp_path / level / name).write_bytes(b"")
    assert launcher.r_network_for_scenario(str(tmp_path), "verysparse").endswith(
        os.path.join("explore_goal_locations_large", "r_network_weights.01860.h5")
    )
    assert launcher.r_network_for_scenario(str(tmp_path), "dense1").endswith("r_network_weights.01350.h5")
    assert launcher.r_network_for_scenario(str(tmp_path), "vizdoom_sparse").endswith("r_network_weights.02010.h5")


@pytest.mark.parametrize("method", ["ppo", "ppo_plus_ec"])
def test_missing_mujoco_fails_before_any_work(method, tmp_path, monkeypatch):
    from episodic_curiosity.environments import mujoco_rendering  # pylint: disable=g-import-not-at-top

    monkeypatch.setitem(sys.modules, "mujoco", None)  # the `mujoco` extra not installed
    monkeypatch.delitem(sys.modules, "episodic_curiosity.environments.ant", raising=False)
    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(
        mujoco_rendering,
        "probe_backend",  # as a probe reports without mujoco
        lambda backend: "ModuleNotFoundError: No module named 'mujoco'",
    )
    with pytest.raises(environments.MissingDependencyError, match=r"pip install -e '\.\[mujoco\]'"):
        launcher.launch(str(tmp_path / "runs"), method, "ant_no_reward", scale="smoke", show_progress=False)
    with pytest.raises(environments.MissingDependencyError, match=r"episodic-curiosity\[mujoco\]"):
        launcher.train_r_network_only(str(tmp_path / "r"), "ant_no_reward", "smoke", show_progress=False)
    assert not os.path.exists(tmp_path / "runs") and not os.path.exists(tmp_path / "r")


@pytest.mark.parametrize("method", launcher.METHODS)
def test_laptop_scale_composes_its_files_and_passes_every_stage_check(method, tmp_path):
    files = [os.path.basename(p) for p in launcher.config_files(method, "vizdoom_dense", "laptop")]
    assert files.index("scale_laptop.gin") + 1 == files.index("scale_laptop_vizdoom.gin")
    assert "scale_laptop_vizdoom.gin" not in [
        os.path.basename(p) for p in launcher.config_files(method, "fake", "laptop")
    ]
    # Only sizes change: the scale's files bind nothing of the memory or the bonus rule.
    for name in ("scale_laptop.gin", "scale_laptop_vizdoom.gin", "scale_laptop_ppo_plus_eco.gin"):
        with open(os.path.join(launcher.CONFIG_DIR, name)) as handle:
            bindings = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
        for rule in ("EpisodicMemory.", "similarity_threshold", "scale_surrogate_reward", "bonus_reward_additive_term"):
            assert not any(rule in line for line in bindings), (name, rule)
    gin.clear_config()
    try:
        cli.parse_gin(launcher.config_files(method, "vizdoom_dense", "laptop"), [])
        assert gin.query_parameter("build_embedding_network.input_pooling") == 2
        if method == "ppo_plus_eco":  # retrained every 5,000 vector steps, bonus on from the first
            history = gin.query_parameter("OnlineRNetworkTrainer.observation_history_size")
            assert history == 5000 == gin.query_parameter("RewardScales.exploration_reward_min_step")
        # The policy keeps the paper's 84x84 RGB input and Nature CNN (the faster one did not learn).
        for name in (
            "CuriosityEnvWrapper.frame_stack",
            "CuriosityEnvWrapper.target_image_shape",
            "train_policy.policy_architecture",
        ):
            with pytest.raises(ValueError):
                gin.query_parameter(name)
        settings = launcher.SCALE_SETTINGS["laptop"]
        launcher.validate_stages(
            method,
            "vizdoom_dense",
            settings,
            num_timesteps=settings.num_timesteps,
            num_env=settings.num_env,
            seed=0,
            r_checkpoint=None,
            trains_r_network=method == "ppo_plus_ec",
        )
    finally:
        gin.clear_config()


def test_resuming_a_run_with_other_bindings_is_refused_unless_allowed(tmp_path):
    """A run folder resumes only with the bindings its launcher.gin recorded (a resumed run would
    otherwise mix two settings silently); --allow_config_change continues it and records what
    changed. A longer budget is not a binding and resumes freely."""
    kwargs = dict(num_env=2, scale="smoke", asynchronous=False, show_progress=False)
    launcher.launch(str(tmp_path), "ppo", "fake", num_timesteps=40, gin_bindings=TINY, **kwargs)
    run_dir = tmp_path / "ppo" / "fake" / "run_number_1"
    recorded = (run_dir / "launcher.gin").read_text()
    launcher.launch(str(tmp_path), "ppo", "fake", num_timesteps=60, gin_bindings=TINY, **kwargs)
    rows = metrics_csv.read_scalars(str(run_dir / "reward_train.csv"))
    changed = [*TINY, "PPOConfig.ent_coef = 0.05"]
    with pytest.raises(cli.ConfigError, match=r"now: PPOConfig.ent_coef = 0.05.*--allow_config_change"):
        launcher.launch(str(tmp_path), "ppo", "fake", num_timesteps=80, gin_bindings=changed, **kwargs)
    assert (run_dir / "launcher.gin").read_text() == recorded  # nothing touched
    assert metrics_csv.read_scalars(str(run_dir / "reward_train.csv")) == rows
    launcher.launch(
        str(tmp_path), "ppo", "fake", num_timesteps=80, gin_bindings=changed, allow_config_change=True, **kwargs
    )
    assert "PPOConfig.ent_coef = 0.05" in (run_dir / "launcher.gin").read_text()
    with open(run_dir / "provenance.json") as f:
        launches = json.load(f)["launcher"]
    assert "changed_bindings" not in launches[1]
    assert "now: PPOConfig.ent_coef = 0.05" in launches[-1]["changed_bindings"]
    assert any(line.startswith("recorded: PPOConfig.ent_coef") for line in launches[-1]["changed_bindings"])
