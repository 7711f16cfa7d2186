"""Chains the pipeline of one method x scenario run (used by `scripts/launcher_script.py`).

Layout (the original's): `<workdir>/<method>/<scenario>/run_number_<n>/` holding
`r_training_data/{R_TRAINING,VALIDATION}/`, `r_networks/` and the policy files.

Configuration files: `method_<method>.gin`, `scenario_<family>.gin`, `scenario_<name>.gin`
(when present, e.g. the no-reward DMLab scenarios), `scenario_<name>_<method>.gin` (when
present, e.g. the Ant's per-method rows) and `scale_smoke.gin` at smoke scale.

Stages of `ppo_plus_ec` without pre-trained R-networks: training-data generation for both
splits -> `train_r` -> `train_policy` with the newest R-network. Every stage is restartable and
skips what is complete, so rerunning a finished or interrupted launch continues and never
redoes work. Configuration: `configs/method_<method>.gin` + `configs/scenario_<family>.gin`
(+ `configs/scale_smoke.gin`), then the caller's bindings; the effective config is logged and
saved as `launcher.gin` in the run folder.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Sequence

from absl import logging
import gin

from episodic_curiosity import atomic_files
from episodic_curiosity import environments
from episodic_curiosity import generate_r_training_data
from episodic_curiosity import r_network_training
from episodic_curiosity import train_policy
from episodic_curiosity import train_r

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
METHODS = ("ppo", "ppo_plus_ec", "ppo_plus_eco", "ppo_plus_grid_oracle", "ppo_plus_icm")
NOT_YET_METHODS: dict[str, str] = {}  # method -> why it cannot run yet
SCALES = ("paper", "smoke")


@dataclasses.dataclass(frozen=True)
class ScaleSettings:
    """Sizes that differ between the paper and a laptop smoke run (gin holds the rest)."""

    num_timesteps: int
    num_env: int
    data_env_steps: int  # per split
    data_tasks: int
    data_workers: int


SCALE_SETTINGS = {
    "paper": ScaleSettings(num_timesteps=20_000_000, num_env=12, data_env_steps=2_500_000,
                           data_tasks=160, data_workers=os.cpu_count() or 1),
    "smoke": ScaleSettings(num_timesteps=12_000, num_env=4, data_env_steps=4_000, data_tasks=2,
                           data_workers=2),
}


def run_directory(workdir: str, method: str, scenario: str, run_number: int) -> str:
    return os.path.join(workdir, method, scenario, f"run_number_{run_number}")


def config_files(method: str, scenario: str, scale: str) -> list[str]:
    """The gin files composing a run's configuration, most general first."""
    check_choice(method, scenario, scale)
    family = environments.get_scenario(scenario).family
    files = [os.path.join(CONFIG_DIR, f"method_{method}.gin")]
    # Family first, then the scenario's own file, then its method-specific one (e.g. the Ant's
    # PPO and PPO+EC rows differ in learning rate and entropy), each if present.
    for name in (family, scenario, f"{scenario}_{method}"):
        path = os.path.join(CONFIG_DIR, f"scenario_{name}.gin")
        if os.path.exists(path) and path not in files:
            files.append(path)
    if scale == "smoke":
        files.append(os.path.join(CONFIG_DIR, "scale_smoke.gin"))
    return files


def check_choice(method: str, scenario: str, scale: str) -> None:
    """One clear error for an unknown or unavailable method, scenario or scale."""
    if method in NOT_YET_METHODS:
        raise NotImplementedError(f"method {method!r}: {NOT_YET_METHODS[method]}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    spec = environments.get_scenario(scenario)  # raises UnknownScenarioError
    spec.constructor()  # raises ScenarioNotAvailableError / MissingDependencyError


# The original's released R-networks, one folder per DMLab level (EC_FACTS.md 2.8).
RELEASED_R_NETWORK_FOLDERS = {
    "sparse": "explore_goal_locations_large", "verysparse": "explore_goal_locations_large",
    "noreward": "explore_goal_locations_large", "norewardnofire": "explore_goal_locations_large",
    "sparseplusdoors": "explore_obstructed_goals_large", "dense1": "rooms_keys_doors_puzzle",
    "dense2": "rooms_collect_good_objects_train", "ant_no_reward": "mujoco_ant",
}


def r_network_for_scenario(path: str, scenario: str) -> str:
    """The R-network to use for `scenario` from `--r_networks_path`.

    A file is used as is. In a folder laid out like the original's release (one sub-folder per
    level, e.g. `explore_goal_locations_large/r_network_weights.01860.h5`), the scenario's
    level folder is searched; otherwise the whole folder.
    """
    level = RELEASED_R_NETWORK_FOLDERS.get(scenario)
    if os.path.isdir(path) and level and os.path.isdir(os.path.join(path, level)):
        return newest_r_network(os.path.join(path, level))
    return newest_r_network(path)


def newest_r_network(path: str) -> str:
    """`path` itself if it is a file, else the greatest `r_network_weights.*.h5` under it."""
    if os.path.isfile(path):
        return path
    found = sorted(glob.glob(os.path.join(path, "**", "r_network_weights.*.h5"), recursive=True),
                   key=os.path.basename)
    if not found:
        raise FileNotFoundError(f"no r_network_weights.*.h5 under {path!r}")
    return found[-1]


def launch(workdir: str, method: str, scenario: str, run_number: int = 1,
           num_timesteps: int | None = None, num_env: int | None = None,
           r_networks_path: str | None = None, scale: str = "paper",
           gin_bindings: Sequence[str] = (), asynchronous: bool = True,
           show_progress: bool = True) -> dict:
    """Runs (or continues) every stage of one run; returns the paths of what it produced."""
    check_choice(method, scenario, scale)
    settings = SCALE_SETTINGS[scale]
    num_timesteps = settings.num_timesteps if num_timesteps is None else num_timesteps
    num_env = settings.num_env if num_env is None else num_env
    run_dir = run_directory(workdir, method, scenario, run_number)
    os.makedirs(run_dir, exist_ok=True)
    gin.clear_config()
    gin.parse_config_files_and_bindings(config_files(method, scenario, scale), list(gin_bindings),
                                        skip_unknown=False)
    logging.info("Effective gin config of %s:\n%s", run_dir, gin.config_str())
    atomic_files.write_text(os.path.join(run_dir, "launcher.gin"), gin.config_str())
    outputs = {"run_dir": run_dir}

    r_checkpoint = None
    if method == "ppo_plus_ec":
        if r_networks_path:
            r_checkpoint = r_network_for_scenario(r_networks_path, scenario)
        else:
            r_checkpoint = _train_r_network(run_dir, scenario, settings, show_progress)
        outputs["r_checkpoint"] = r_checkpoint
    result = train_policy.train_policy(run_dir, scenario, num_env=num_env, num_timesteps=num_timesteps,
                                       r_checkpoint=r_checkpoint, asynchronous=asynchronous,
                                       show_progress=show_progress)
    outputs.update(policy_checkpoint=result["checkpoint"], reward_train=result["last_reward_train"],
                   reward_csvs=[os.path.join(run_dir, f"reward_{s}.csv") for s in ("train", "valid", "test")])
    atomic_files.write_text(os.path.join(run_dir, "launcher.operative.gin"), gin.operative_config_str())
    return outputs


def train_r_network_only(run_dir: str, scenario: str, scale: str = "paper", gin_bindings: Sequence[str] = (),
                         show_progress: bool = True) -> str:
    """Only the R-network stages of a `ppo_plus_ec` run of `scenario`, in `run_dir`.

    Used by sweeps (`sweep.py`) to train one R-network shared by the scenarios of one level.
    Restartable like `launch`; returns the newest `r_network_weights.*.h5`.
    """
    check_choice("ppo_plus_ec", scenario, scale)
    os.makedirs(run_dir, exist_ok=True)
    gin.clear_config()
    gin.parse_config_files_and_bindings(config_files("ppo_plus_ec", scenario, scale), list(gin_bindings),
                                        skip_unknown=False)
    atomic_files.write_text(os.path.join(run_dir, "launcher.gin"), gin.config_str())
    return _train_r_network(run_dir, scenario, SCALE_SETTINGS[scale], show_progress)


def _train_r_network(run_dir: str, scenario: str, settings: ScaleSettings, show_progress: bool) -> str:
    """Data generation for both splits, then `train_r`; each skips what is already done."""
    data_dirs = []
    for split in ("R_TRAINING", "VALIDATION"):
        directory = os.path.join(run_dir, "r_training_data", split)
        logging.info("Stage: R-network training data, split %s -> %s", split, directory)
        generate_r_training_data.generate_r_training_data(
            directory, scenario, total_env_steps=settings.data_env_steps, num_tasks=settings.data_tasks,
            num_workers=settings.data_workers, split=split, show_progress=show_progress)
        data_dirs.append(directory)
    r_dir = os.path.join(run_dir, "r_networks")
    logging.info("Stage: train_r -> %s", r_dir)
    newest = r_network_training.newest_full_checkpoint(r_dir)
    num_epochs = gin.query_parameter("train_r.num_epochs") if _bound("train_r.num_epochs") else 2000
    done_epochs = int(os.path.basename(newest).split(".")[1]) if newest else 0
    if done_epochs < num_epochs:
        train_r.train_r(data_dirs, r_dir, show_progress=show_progress)
    return newest_r_network(r_dir)


def _bound(parameter: str) -> bool:
    try:
        gin.query_parameter(parameter)
        return True
    except ValueError:
        return False
