"""Entry points: console scripts, flag choices in --help, one-line errors, every shipped .gin
loadable by every entry point that takes --gin_config, and checks before any stage runs."""

import glob
import os
import subprocess
import sys
import tomllib

import gin
import pytest

from episodic_curiosity import cli
from episodic_curiosity import launcher

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_GIN = sorted(glob.glob(os.path.join(launcher.CONFIG_DIR, "*.gin")))
GIN_ENTRY_POINTS = ("train_policy", "train_r", "generate_r_training_data", "visualize_curiosity_reward")


def _run(*args, timeout=120):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False
    )


def test_console_scripts_name_importable_functions():
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert {
        "ec-launcher",
        "ec-sweep",
        "ec-train-policy",
        "ec-train-r",
        "ec-generate-r-training-data",
        "ec-eval-policy",
        "ec-visualize-curiosity-reward",
        "ec-demo",
    } <= set(scripts)
    import importlib  # pylint: disable=g-import-not-at-top

    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


def test_launcher_help_lists_the_choices_and_bad_flags_are_one_line():
    result = _run("-m", "episodic_curiosity.launcher", "--help")
    unwrapped = "".join(result.stdout.split())  # absl wraps the list of choices
    for method in launcher.METHODS:
        assert method in unwrapped
    assert "vizdoom_sparse" in result.stdout and "smoke" in result.stdout
    bad = _run("-m", "episodic_curiosity.launcher", "--workdir=/tmp/x", "--method=ppo_plus_magic")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "ppo_plus_magic" in bad.stderr and "ppo_plus_ec" in bad.stderr


def test_bad_configuration_is_one_error_listing_every_problem_before_any_stage(tmp_path):
    result = _run(
        os.path.join(REPO_ROOT, "scripts", "launcher_script.py"),
        f"--workdir={tmp_path}",
        "--method=ppo_plus_ec",
        "--scenario=fake",
        "--scale=smoke",
        "--num_timesteps=-5",
        "--gin_bindings=train_r.batch_size=0",
        "--gin_bindings=PPOConfig.noptepochs=0",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    message = result.stderr
    assert "num_timesteps=-5" in message and "train_r.batch_size" in message and "noptepochs" in message
    assert "3 problems" in message
    assert not os.path.exists(tmp_path / "ppo_plus_ec"), "nothing may be written before the checks pass"


def test_launch_validates_every_stage_at_start(tmp_path, clean_gin):
    with pytest.raises(cli.ConfigError) as error:
        launcher.launch(
            str(tmp_path),
            "ppo_plus_ec",
            "fake",
            num_timesteps=-5,
            num_env=2,
            scale="smoke",
            gin_bindings=["train_r.num_epochs=0", "generate_r_training_data.num_examples_per_shard=0"],
            asynchronous=False,
            show_progress=False,
        )
    problems = error.value.problems
    assert any("train_r.num_epochs" in p for p in problems)
    assert any("num_examples_per_shard" in p and "R_TRAINING" in p for p in problems)
    assert any("num_timesteps=-5" in p for p in problems)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("entry_point", GIN_ENTRY_POINTS)
def test_every_shipped_gin_file_parses_in_every_entry_point(entry_point):
    """What `--gin_config=<shipped file>` needs: the entry point's imports register every name."""
    code = (
        "import gin, sys\n"
        f"import episodic_curiosity.{entry_point} as entry\n"
        "from episodic_curiosity import configurables\n"
        "for path in sys.argv[1:]:\n"
        "    gin.clear_config(); gin.parse_config_file(path, skip_unknown=False)\n"
        "print('parsed', len(sys.argv) - 1)\n"
    )
    result = _run("-c", code, *SHIPPED_GIN, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"parsed {len(SHIPPED_GIN)}" in result.stdout


def test_train_r_takes_a_shipped_gin_file(tmp_path):
    """The reported failure: `train_r --gin_config=method_ppo_plus_ec.gin` ("No configurable
    matching 'PPOConfig'")."""
    result = _run(
        "-m",
        "episodic_curiosity.train_r",
        f"--input_dirs={tmp_path}",
        f"--workdir={tmp_path / 'out'}",
        f"--gin_config={os.path.join(launcher.CONFIG_DIR, 'method_ppo_plus_ec.gin')}",
        f"--gin_config={os.path.join(launcher.CONFIG_DIR, 'scale_smoke.gin')}",
    )
    # Parsing succeeds; it then stops with one line: the folder holds no data.
    assert "No configurable matching" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 2 and "error: no .tfrecords files" in result.stderr
    assert "Traceback" not in result.stderr


def test_gin_errors_are_config_errors(clean_gin):
    with pytest.raises(cli.ConfigError, match="nonexistent.gin"):
        cli.parse_gin(["nonexistent.gin"], [])
    with pytest.raises(cli.ConfigError, match="NoSuchThing"):
        cli.parse_gin([], ["NoSuchThing.value = 1"])
    gin.clear_config()


def test_a_flag_overrides_gin_only_when_given():
    from absl import flags  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import cli  # pylint: disable=g-import-not-at-top

    values = flags.FlagValues()
    flags.DEFINE_integer("num_env", None, "", flag_values=values)
    flags.DEFINE_bool("asynchronous", True, "", flag_values=values)
    flags.DEFINE_integer("seed", None, "", flag_values=values)
    values(["prog", "--num_env=3", "--noasynchronous"])
    assert cli.given_flags(values, ("num_env", "asynchronous", "seed")) == {"num_env": 3, "asynchronous": False}
    values.unparse_flags()
    values(["prog"])
    assert cli.given_flags(values, ("num_env", "asynchronous", "seed")) == {}
