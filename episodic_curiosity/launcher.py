r"""Chains the pipeline of one method x scenario run (`ec-launcher`, `scripts/launcher_script.py`).

    ec-launcher --workdir=/tmp/ec --method=ppo_plus_ec --scenario=vizdoom_sparse \
        [--scale=smoke] [--run_number=1] [--seed=N] [--r_networks_path=DIR_OR_H5] \
        [--gin_bindings='RewardScales.scale_surrogate_reward=0.05']

Layout (the original's): `<workdir>/<method>/<scenario>/run_number_<n>/` holding
`r_training_data/{R_TRAINING,R_VALIDATION}/`, `r_networks/`, the policy files, `seed.json`
and `provenance.json`.

Configuration files: `method_<method>.gin`, `scenario_<family>.gin`, `scenario_<name>.gin`
(when present, e.g. the no-reward DMLab scenarios), `scenario_<name>_<method>.gin` (when
present, e.g. the Ant's per-method rows), then at a scale other than paper `scale_<scale>.gin`
and `scale_<scale>_<method>.gin` (when present), then the caller's bindings; the effective
config is logged and saved as `launcher.gin` in the run folder.

Seeds: `--seed`, by default the run number - 1 (run 1 keeps the original's seeds); every stage
derives its seeds from it (see `seeding`), so run numbers give distinct runs.

Stages of `ppo_plus_ec` without pre-trained R-networks: training-data generation for both
splits -> `train_r` -> `train_policy` with the newest R-network. Before the first stage runs,
every stage's arguments and configuration are checked (one error lists every problem). Every
stage is restartable and skips what is complete, so rerunning a finished or interrupted launch
continues and never redoes work.
"""

from __future__ import annotations

if __name__ == "__main__":
    # `python -m episodic_curiosity.launcher` runs the package's copy of this module (one copy
    # of every module, as for the other entry points).
    from episodic_curiosity.launcher import run as _run

    _run()
    raise SystemExit(0)

import dataclasses
import glob
import json
import os
from typing import Sequence

from absl import logging
import gin

from episodic_curiosity import atomic_files
from episodic_curiosity import cli
from episodic_curiosity import environments
from episodic_curiosity import generate_r_training_data
from episodic_curiosity import pretrained
from episodic_curiosity import provenance
from episodic_curiosity import r_network_training
from episodic_curiosity import seeding
from episodic_curiosity import train_policy
from episodic_curiosity import train_r

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
# Each method is its configs/method_<method>.gin (`train_policy.intrinsic_reward` and its settings).
METHODS = ("ppo", "ppo_plus_ec", "ppo_plus_eco", "ppo_plus_grid_oracle", "ppo_plus_icm", "ppo_plus_rnd", "ppo_plus_e3b")
SCALES = ("paper", "laptop", "smoke")


@dataclasses.dataclass(frozen=True)
class ScaleSettings:
    """Sizes that differ between the paper and a laptop smoke run (gin holds the rest)."""

    num_timesteps: int
    num_env: int
    data_env_steps: int  # per split
    data_tasks: int
    data_workers: int


SCALE_SETTINGS = {
    "paper": ScaleSettings(
        num_timesteps=20_000_000, num_env=12, data_env_steps=2_500_000, data_tasks=160, data_workers=os.cpu_count() or 1
    ),
    # Sized for a 2-core CPU (configs/scale_laptop.gin); sparse navigation asks for more steps
    # (--num_timesteps).
    "laptop": ScaleSettings(num_timesteps=2_000_000, num_env=12, data_env_steps=800_000, data_tasks=16, data_workers=2),
    "smoke": ScaleSettings(num_timesteps=12_000, num_env=4, data_env_steps=4_000, data_tasks=2, data_workers=2),
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
    # The scale's file, then its family- and method-specific ones (e.g. the laptop scale's
    # VizDoom policy input, ECO's warm-up at smoke scale).
    if scale != "paper":
        for name in (scale, f"{scale}_{family}", f"{scale}_{method}"):
            path = os.path.join(CONFIG_DIR, f"scale_{name}.gin")
            if os.path.exists(path):
                files.append(path)
    return files


def check_choice(method: str, scenario: str, scale: str) -> None:
    """One clear error for an unknown or unavailable method, scenario or scale."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    spec = environments.get_scenario(scenario)  # raises UnknownScenarioError
    spec.constructor()  # raises ScenarioNotAvailableError / MissingDependencyError


# The original's released R-networks, one folder per DMLab level (the original code).
RELEASED_R_NETWORK_FOLDERS = {
    "sparse": "explore_goal_locations_large",
    "verysparse": "explore_goal_locations_large",
    "noreward": "explore_goal_locations_large",
    "norewardnofire": "explore_goal_locations_large",
    "sparseplusdoors": "explore_obstructed_goals_large",
    "dense1": "rooms_keys_doors_puzzle",
    "dense2": "rooms_collect_good_objects_train",
    "ant_no_reward": "mujoco_ant",
}


def r_network_for_scenario(path: str, scenario: str) -> str:
    """The R-network to use for `scenario` from `--r_networks_path`.

    A file is used as is, and so is a shipped model (`pretrained:vizdoom`). In a folder laid out
    like the original's release (one sub-folder per
    level, e.g. `explore_goal_locations_large/r_network_weights.01860.h5`), the scenario's
    level folder is searched; otherwise the whole folder.
    """
    path = pretrained.resolve(path)
    level = RELEASED_R_NETWORK_FOLDERS.get(scenario)
    if os.path.isdir(path) and level and os.path.isdir(os.path.join(path, level)):
        return newest_r_network(os.path.join(path, level))
    return newest_r_network(path)


def newest_r_network(path: str) -> str:
    """`path` itself if it is a file, else the greatest `r_network_weights.*.h5` under it."""
    if os.path.isfile(path):
        return path
    found = sorted(glob.glob(os.path.join(path, "**", "r_network_weights.*.h5"), recursive=True), key=os.path.basename)
    if not found:
        raise FileNotFoundError(f"no r_network_weights.*.h5 under {path!r}")
    return found[-1]


def launch(
    workdir: str,
    method: str,
    scenario: str,
    run_number: int = 1,
    num_timesteps: int | None = None,
    num_env: int | None = None,
    r_networks_path: str | None = None,
    scale: str = "paper",
    gin_bindings: Sequence[str] = (),
    asynchronous: bool = True,
    show_progress: bool = True,
    seed: int | None = None,
    allow_config_change: bool = False,
) -> dict:
    """Runs (or continues) every stage of one run; returns the paths of what it produced.

    Args:
      seed: int or None, the run's seed (`seeding`); None = `seeding.seed_for_run(run_number)`
        (run 1 -> 0, the original's seeds). Every stage derives its seeds from it.
      allow_config_change: bool, resume a run folder whose recorded `launcher.gin` holds other
        bindings than this call's (refused by default: a resumed run would mix two settings;
        `num_timesteps` is not a binding and may grow). When allowed, the changed bindings are
        logged and recorded in `provenance.json`.

    Before any stage runs, the arguments and the resolved configuration of every stage are
    checked, and one ConfigError lists every problem.
    """
    check_choice(method, scenario, scale)
    settings = SCALE_SETTINGS[scale]
    num_timesteps = settings.num_timesteps if num_timesteps is None else num_timesteps
    num_env = settings.num_env if num_env is None else num_env
    seed = seeding.seed_for_run(run_number) if seed is None else seed
    run_dir = run_directory(workdir, method, scenario, run_number)
    gin.clear_config()
    cli.parse_gin(config_files(method, scenario, scale), list(gin_bindings))
    r_checkpoint = None
    if method == "ppo_plus_ec" and r_networks_path:
        r_checkpoint = r_network_for_scenario(r_networks_path, scenario)
    validate_stages(
        method,
        scenario,
        settings,
        num_timesteps=num_timesteps,
        num_env=num_env,
        seed=seed,
        r_checkpoint=r_checkpoint,
        trains_r_network=method == "ppo_plus_ec" and not r_checkpoint,
    )
    os.makedirs(run_dir, exist_ok=True)
    _check_seed_of_existing_run(run_dir, seed)
    changed = _config_changes_of_existing_run(run_dir, gin.config_str())
    if changed and not allow_config_change:
        raise cli.ConfigError(
            [
                f"{run_dir!r} was started with other gin bindings than this call's "
                f"({'; '.join(changed)}): resume it with the bindings in its launcher.gin, use "
                "another --run_number / --workdir, or pass --allow_config_change to continue it "
                "with the new ones"
            ]
        )
    if changed:
        logging.warning("Continuing %s with changed bindings: %s", run_dir, "; ".join(changed))
    provenance.record(
        run_dir,
        "launcher",
        seed=seed,
        r_network_path=r_checkpoint,
        extra={
            "method": method,
            "scenario": scenario,
            "scale": scale,
            "run_number": run_number,
            "num_timesteps": num_timesteps,
            "num_env": num_env,
            **({"changed_bindings": changed} if changed else {}),
        },
    )
    atomic_files.write_json(os.path.join(run_dir, SEED_FILE), {"seed": seed, "run_number": run_number})
    logging.info("Effective gin config of %s:\n%s", run_dir, gin.config_str())
    atomic_files.write_text(os.path.join(run_dir, CONFIG_FILE), gin.config_str())
    outputs = {"run_dir": run_dir, "seed": seed}

    if method == "ppo_plus_ec":
        if not r_checkpoint:
            r_checkpoint = _train_r_network(run_dir, scenario, settings, show_progress, seed)
        outputs["r_checkpoint"] = r_checkpoint
    result = train_policy.train_policy(
        run_dir,
        scenario,
        num_env=num_env,
        num_timesteps=num_timesteps,
        r_checkpoint=r_checkpoint,
        asynchronous=asynchronous,
        show_progress=show_progress,
        seed=seed,
    )
    outputs.update(
        policy_checkpoint=result["checkpoint"],
        reward_train=result["last_reward_train"],
        reward_csvs=[os.path.join(run_dir, f"reward_{s}.csv") for s in ("train", "valid", "test")],
    )
    atomic_files.write_text(os.path.join(run_dir, "launcher.operative.gin"), gin.operative_config_str())
    return outputs


SEED_FILE = "seed.json"
CONFIG_FILE = "launcher.gin"  # the run's effective gin config; a resume must match its bindings


def _bindings(config_text: str) -> list[str]:
    """The binding lines of a `gin.config_str()` text (comments and blank lines dropped)."""
    return [line.rstrip() for line in config_text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _config_changes_of_existing_run(run_dir: str, config_text: str) -> list[str]:
    """'recorded: X', 'now: Y' for each binding line that differs from the run's `launcher.gin`
    (none for a new run folder)."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        recorded = _bindings(f.read())
    now = _bindings(config_text)
    return [f"recorded: {line}" for line in recorded if line not in now] + [
        f"now: {line}" for line in now if line not in recorded
    ]


def _check_seed_of_existing_run(run_dir: str, seed: int) -> None:
    """A run folder resumes only with the seed it started with."""
    path = os.path.join(run_dir, SEED_FILE)
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f).get("seed")
        if previous is not None and previous != seed:
            raise cli.ConfigError(
                [
                    f"{run_dir!r} was started with seed {previous}, this call asks for "
                    f"seed {seed}: pass --seed={previous} to resume it, or use another "
                    "--run_number / --workdir"
                ]
            )


def validate_stages(
    method: str,
    scenario: str,
    settings: ScaleSettings,
    *,
    num_timesteps: int,
    num_env: int,
    seed: int,
    r_checkpoint: str | None,
    trains_r_network: bool,
) -> None:
    """Checks the arguments and gin configuration of every stage a launch will run (gin must
    be parsed); raises one ConfigError listing all problems."""
    problems = []
    try:
        seeding.check_seed(seed)
    except ValueError as error:
        problems.append(str(error))
    if trains_r_network:
        problems += _r_network_stage_problems(scenario, settings, seed if isinstance(seed, int) else 0)
    try:
        train_policy.train_policy(
            "<not written>",
            scenario,
            num_env=num_env,
            num_timesteps=num_timesteps,
            r_checkpoint=r_checkpoint or ("<trained first>" if trains_r_network else None),
            seed=seed,
            validate_only=True,
        )
    except cli.ConfigError as error:
        problems += [f"train_policy: {p}" for p in error.problems]
    cli.raise_if_problems(problems, f"launch of {method} on {scenario}")


def _r_network_stage_problems(scenario: str, settings: ScaleSettings, seed: int) -> list[str]:
    """The problems of the data-generation and train_r stages (gin must be parsed)."""
    problems = []
    for split in seeding.R_NETWORK_DATA_SPLITS:
        try:
            generate_r_training_data.generate_r_training_data(
                "<not written>",
                scenario,
                total_env_steps=settings.data_env_steps,
                num_tasks=settings.data_tasks,
                num_workers=settings.data_workers,
                split=split,
                seed=seed,
                validate_only=True,
            )
        except cli.ConfigError as error:
            problems += [f"R-network data ({split}): {p}" for p in error.problems]
    try:
        train_r.train_r([], "<not written>", seed=seed, validate_only=True)
    except cli.ConfigError as error:
        problems += [f"train_r: {p}" for p in error.problems]
    return problems


def train_r_network_only(
    run_dir: str,
    scenario: str,
    scale: str = "paper",
    gin_bindings: Sequence[str] = (),
    show_progress: bool = True,
    seed: int = 0,
) -> str:
    """Only the R-network stages of a `ppo_plus_ec` run of `scenario`, in `run_dir`.

    Used by sweeps (`sweep.py`) to train one R-network shared by the scenarios of one level.
    Restartable like `launch`; returns the newest `r_network_weights.*.h5`.
    """
    check_choice("ppo_plus_ec", scenario, scale)
    gin.clear_config()
    cli.parse_gin(config_files("ppo_plus_ec", scenario, scale), list(gin_bindings))
    settings = SCALE_SETTINGS[scale]
    cli.raise_if_problems(_r_network_stage_problems(scenario, settings, seed), f"R-network job for {scenario}")
    os.makedirs(run_dir, exist_ok=True)
    provenance.record(run_dir, "r_network_job", seed=seed, extra={"scenario": scenario, "scale": scale})
    atomic_files.write_text(os.path.join(run_dir, CONFIG_FILE), gin.config_str())
    return _train_r_network(run_dir, scenario, settings, show_progress, seed)


def _train_r_network(run_dir: str, scenario: str, settings: ScaleSettings, show_progress: bool, seed: int) -> str:
    """Data generation for both R-network splits, then `train_r`; each skips what is done."""
    data_dirs = []
    for split in seeding.R_NETWORK_DATA_SPLITS:
        directory = os.path.join(run_dir, "r_training_data", split)
        logging.info("Stage: R-network training data, split %s -> %s", split, directory)
        generate_r_training_data.generate_r_training_data(
            directory,
            scenario,
            total_env_steps=settings.data_env_steps,
            num_tasks=settings.data_tasks,
            num_workers=settings.data_workers,
            split=split,
            show_progress=show_progress,
            seed=seed,
        )
        data_dirs.append(directory)
    r_dir = os.path.join(run_dir, "r_networks")
    logging.info("Stage: train_r -> %s", r_dir)
    newest = r_network_training.newest_full_checkpoint(r_dir)
    num_epochs = gin.query_parameter("train_r.num_epochs") if _bound("train_r.num_epochs") else 2000
    done_epochs = int(os.path.basename(newest).split(".")[1]) if newest else 0
    if done_epochs < num_epochs:
        train_r.train_r(data_dirs, r_dir, show_progress=show_progress, seed=seed)
    return newest_r_network(r_dir)


def _bound(parameter: str) -> bool:
    try:
        gin.query_parameter(parameter)
        return True
    except ValueError:
        return False


def _define_flags() -> None:
    from absl import flags  # pylint: disable=g-import-not-at-top

    flags.DEFINE_string("workdir", None, "Root output folder.")
    flags.DEFINE_enum("method", "ppo_plus_ec", list(METHODS), "Method.")
    flags.DEFINE_enum("scenario", "vizdoom_sparse", environments.scenario_names(), "Registered scenario.")
    flags.DEFINE_integer(
        "run_number", 1, "Run index: names the folder and, without --seed, sets the seed (run number - 1)."
    )
    flags.DEFINE_integer("seed", None, "The run's seed (default: run number - 1).")
    flags.DEFINE_integer("num_timesteps", None, "Agent steps (default by --scale).")
    flags.DEFINE_integer("num_env", None, "Parallel envs (default by --scale).")
    flags.DEFINE_string("r_networks_path", None, "Pre-trained R-net .h5, or a folder searched for the newest one.")
    flags.DEFINE_enum("scale", "paper", list(SCALES), "Sizes: " + ", ".join(SCALES) + ".")
    flags.DEFINE_multi_string("gin_bindings", [], "Extra gin bindings (applied last).")
    flags.DEFINE_boolean(
        "allow_config_change", False, "Resume a run folder with other gin bindings than it recorded (logged)."
    )
    flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow threads per op (0: one per core).")
    flags.DEFINE_integer("inter_op_threads", 0, "Concurrent TensorFlow ops (0: default).")


def main(argv: Sequence[str]) -> None:
    from absl import app  # pylint: disable=g-import-not-at-top
    from absl import flags  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import runtime  # pylint: disable=g-import-not-at-top

    del argv
    config = flags.FLAGS
    if not config.workdir:
        raise app.UsageError("--workdir is required")
    process_control.install_stop_handlers()
    runtime.configure_threads(config.intra_op_threads, config.inter_op_threads)
    outputs = launch(
        config.workdir,
        config.method,
        config.scenario,
        config.run_number,
        config.num_timesteps,
        config.num_env,
        config.r_networks_path,
        config.scale,
        config.gin_bindings,
        seed=config.seed,
        allow_config_change=config.allow_config_change,
    )
    for name, value in outputs.items():
        print(f"{name}: {value}")


def run() -> None:
    """Console script `ec-launcher`."""
    cli.run(main, define_flags=_define_flags)
