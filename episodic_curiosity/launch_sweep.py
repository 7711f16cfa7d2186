r"""`ec-sweep` (also `scripts/launch_sweep.py`): a sweep of launcher runs on Ray.

Methods x scenarios x run numbers, each run one launcher process:


    # this machine (a local Ray is started), smoke sizes:
    ec-sweep --workdir=/tmp/ec_sweep --methods=ppo,ppo_plus_ec \
        --scenarios=vizdoom_sparse --runs=2 --scale=smoke --cpus_per_run=2
    # the paper's table on a Ray cluster (see scripts/ray_cluster.yaml); the workdir is a folder
    # every node sees at the same path (NFS, or a bucket mounted with gcsfuse/s3fs):
    ec-sweep --address=auto --workdir=/mnt/shared/ec \
        --methods=ppo,ppo_plus_ec,ppo_plus_eco,ppo_plus_grid_oracle \
        --scenarios=noreward,norewardnofire,sparse,verysparse,sparseplusdoors,dense1,dense2 \
        --runs=10 --cpus_per_run=16
    # or from a file (YAML or JSON with keys methods, scenarios, runs, scale, gin_bindings,
    # num_timesteps, num_env, r_networks_path; flags given explicitly override it):
    ec-sweep --workdir=/tmp/ec_sweep --sweep_file=sweep.yaml

A failed run is retried by Ray (`--max_attempts`) and resumes from its checkpoints. Rerunning the
same command after an interruption skips finished runs and resumes the others from their
checkpoints. See episodic_curiosity/sweep.py for the layout and the R-network jobs.
"""

import os
import sys

from absl import flags
from absl import logging

from episodic_curiosity import cli
from episodic_curiosity import process_control
from episodic_curiosity import sweep


def _define_flags() -> None:
    flags.DEFINE_string(
        "workdir",
        None,
        "Results: a local folder, or on a cluster one every node sees at "
        "the same path (NFS, a mounted bucket). URIs are refused.",
    )
    flags.DEFINE_string("sweep_file", None, "YAML/JSON sweep file (methods, scenarios, runs, scale, ...).")
    flags.DEFINE_list("methods", None, "Comma-separated launcher methods.")
    flags.DEFINE_list("scenarios", None, "Comma-separated scenario names.")
    flags.DEFINE_string("runs", None, "Number of runs N (run numbers 1..N) or comma-separated run numbers.")
    flags.DEFINE_string("scale", None, "paper or smoke (default: the file's, else paper).")
    flags.DEFINE_multi_string("gin_bindings", [], "Extra gin bindings for every run (after the file's).")
    flags.DEFINE_integer("num_timesteps", None, "Agent steps per run (default: the scale's).")
    flags.DEFINE_integer("num_env", None, "Parallel envs per run (default: the scale's).")
    flags.DEFINE_integer(
        "seed", None, "Seed of run number 1; run n gets seed + n - 1 (default: 0, i.e. the launcher's run number - 1)."
    )
    flags.DEFINE_string("r_networks_path", None, "Pre-trained R-networks for ppo_plus_ec (skips R-net jobs).")
    flags.DEFINE_string("address", None, "Ray address: unset starts a local Ray; 'auto' or host:port joins one.")
    flags.DEFINE_float("cpus_per_run", None, "CPUs per run (default 12, capped at this machine's for a local Ray).")
    flags.DEFINE_float("gpus_per_run", 0, "GPUs per run.")
    flags.DEFINE_integer(
        "max_attempts",
        3,
        "Attempts per run before it counts as failed: Ray retries a "
        "run whose launcher failed or whose worker or node died max_attempts - 1 times.",
    )
    flags.DEFINE_float("report_every_s", 60, "Seconds between progress tables.")


def main(argv):
    del argv
    config = flags.FLAGS
    if not config.workdir:
        from absl import app  # pylint: disable=g-import-not-at-top

        raise app.UsageError("--workdir is required")
    process_control.install_stop_handlers()
    values = {}
    try:
        if config.sweep_file:
            values = sweep.load_sweep_file(config.sweep_file)
        for name in ("methods", "scenarios", "runs", "scale", "num_timesteps", "num_env", "r_networks_path", "seed"):
            if getattr(config, name) is not None:
                values[name] = getattr(config, name)
        if "methods" not in values or "scenarios" not in values:
            raise sweep.SweepSpecError("give --methods and --scenarios, or a --sweep_file with them")
        runs = values.get("runs", 1)
        if isinstance(runs, str) and runs.strip().isdigit():
            runs = int(runs)
        values["gin_bindings"] = list(values.get("gin_bindings") or []) + list(config.gin_bindings)
        spec = sweep.make_spec(
            values["methods"],
            values["scenarios"],
            runs,
            values.get("scale", "paper"),
            values["gin_bindings"],
            values.get("num_timesteps"),
            values.get("num_env"),
            values.get("r_networks_path"),
            values.get("seed"),
        )
        cpus_per_run = config.cpus_per_run
        if cpus_per_run is None:
            cpus_per_run = 12 if config.address else min(12, os.cpu_count() or 1)
        result = sweep.run_sweep(
            spec,
            config.workdir,
            address=config.address,
            cpus_per_run=cpus_per_run,
            gpus_per_run=config.gpus_per_run,
            max_attempts=config.max_attempts,
            report_every_s=config.report_every_s,
        )
    except sweep.SweepSpecError as error:
        logging.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(
        f"done: {len(result['done'])}; failed: {len(result['failed'])}; skipped (finished before): "
        f"{len(result['skipped'])}"
    )
    if result["report"]:
        print(f"summary: {result['report']['summary_markdown']}")
    if result["failed"]:
        print("failed: " + ", ".join(result["failed"]), file=sys.stderr)
        sys.exit(1)


def run() -> None:
    """Console script `ec-sweep`."""
    cli.run(main, define_flags=_define_flags)


if __name__ == "__main__":
    run()
