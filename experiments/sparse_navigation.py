r"""Experiment 3: sparse-reward navigation in VizDoom MyWayHome (`vizdoom_sparse`), laptop budget.

Runs `launcher.launch` for each method and seed with one equal step budget, then summarises
with `plot_training.report`. Methods: `ppo`, `ppo_plus_ec` (the R-network of
`r_network_quality.py`, same reduced width via gin), `ppo_plus_grid_oracle`, and
`ppo_plus_icm` when the launcher has it. Seeds: run_number n uses `train_policy.seed = n`.

Settings: the launcher's "smoke" scale for PPO (4 envs x 64 steps per rollout, 4 minibatches,
2 epochs) with each method's own gin file (alpha, entropy, learning rate); evaluations every
50 rollouts. The paper ran 12 envs x 256 steps for millions of steps; this budget is tiny.
The success rate of a sparse MyWayHome episode equals its task return (+1 at the vest, 0 else),
so `reward_train` (mean return of the last 100 training episodes) is the training success rate.

    python experiments/sparse_navigation.py [--quick] [--num_timesteps=40000] [--seeds=1,2,3]
    python experiments/sparse_navigation.py --num_timesteps=40000 --report_only  # summary only

Runs live in `<work_dir>/<method>/vizdoom_sparse/run_number_<seed>/`, so subsets of methods
and seeds can run in separate processes side by side; `--report_only` then summarises them all.

Outputs (in --output_dir): `reward_*.png`, `summary.csv`/`summary.md` from
`plot_training.report`, `runs.csv` (one row per run: final success rate, episodes, steps,
wall time), `headline.json`. Policy runs stay in --work_dir.
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

import common

SCENARIO = "vizdoom_sparse"


def methods_available() -> list[str]:
    from episodic_curiosity import launcher

    wanted = ["ppo", "ppo_plus_ec", "ppo_plus_grid_oracle", "ppo_plus_icm"]
    return [m for m in wanted if m in launcher.METHODS]


def run_one(
    work_dir: str,
    method: str,
    seed: int,
    num_timesteps: int,
    num_env: int,
    r_networks_path: str,
    eval_every_rollouts: int,
) -> dict:
    from episodic_curiosity import launcher

    bindings = list(common.R_NETWORK_BINDINGS) + [
        f"train_policy.seed = {seed}",
        f"train_policy.eval_every_rollouts = {eval_every_rollouts}",
        "train_policy.save_interval = 20",
        "train_policy.r_network_inference_dtype = 'float32'",
    ]
    start = time.time()
    outputs = launcher.launch(
        work_dir,
        method,
        SCENARIO,
        run_number=seed,
        num_timesteps=num_timesteps,
        num_env=num_env,
        scale="smoke",
        gin_bindings=bindings,
        r_networks_path=r_networks_path if method == "ppo_plus_ec" else None,
        show_progress=False,
    )
    seconds = time.time() - start
    return {"method": method, "seed": seed, "run_dir": outputs["run_dir"], "seconds": seconds}


def read_rows(path: str) -> list[tuple[int, float]]:
    """(step, value) rows of a reward CSV; a row cut short by a kill is skipped."""
    from episodic_curiosity import metrics_csv

    return [(step, value) for step, value, _ in metrics_csv.read_scalars(path)]


def read_timings(path: str) -> dict[tuple[str, int], float]:
    """Seconds per (method, seed) from the `method,seed,seconds` lines of `path`; the last wins."""
    from episodic_curiosity import append_only

    if not os.path.exists(path):
        return {}

    def parse(fields):
        method, seed, value = fields
        return (method, int(seed)), float(value)

    lines, tail = append_only.read_lines(path)
    return dict(append_only.parse_rows(path, lines, tail, parse, first_line_number=1))


def _define_flags() -> None:
    flags.DEFINE_string("output_dir", common.default_output_dir("sparse_navigation"), "Small results.")
    flags.DEFINE_string("work_dir", os.path.join(common.SCRATCH_DIR, "sparse_navigation"), "Policy runs.")
    flags.DEFINE_list(
        "methods", None, "Methods (default: all available of ppo, ppo_plus_ec, ppo_plus_grid_oracle, ppo_plus_icm)."
    )
    flags.DEFINE_list("seeds", ["1", "2", "3"], "Run numbers = policy seeds.")
    flags.DEFINE_integer("num_timesteps", 40_000, "Agent steps per run (x 1.1, whole rollouts).")
    flags.DEFINE_integer("num_env", 4, "Parallel envs per run.")
    flags.DEFINE_integer("eval_every_rollouts", 50, "Evaluate on valid/test seeds every this many rollouts.")
    flags.DEFINE_string("r_networks_path", None, "R-network for ppo_plus_ec (default: r_network_quality's).")
    flags.DEFINE_boolean("report_only", False, "Only summarise the runs already in --work_dir.")
    flags.DEFINE_boolean("quick", False, "Smoke check: 1 seed, 600 steps per method.")


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    config = flags.FLAGS
    from episodic_curiosity import append_only
    from episodic_curiosity import plot_training

    methods = config.methods or methods_available()
    seeds = [1] if config.quick else [int(s) for s in config.seeds]
    num_timesteps = 600 if config.quick else config.num_timesteps
    work_dir = config.work_dir + ("_quick" if config.quick else "")
    output_dir = config.output_dir
    os.makedirs(output_dir, exist_ok=True)
    r_path = None
    if "ppo_plus_ec" in methods:
        r_path = config.r_networks_path or common.newest_r_network()
    runs_path = os.path.join(work_dir, "timings.csv")
    if not config.report_only:
        os.makedirs(work_dir, exist_ok=True)
        for seed in seeds:  # seed-major: an interrupted sweep still has every method
            for method in methods:
                result = run_one(
                    work_dir,
                    method,
                    seed,
                    num_timesteps,
                    config.num_env,
                    r_path,
                    5 if config.quick else config.eval_every_rollouts,
                )
                logging.info("finished %s seed %d in %.0f s", method, seed, result["seconds"])
                append_only.drop_torn_tail(runs_path)
                with open(runs_path, "a") as handle:
                    handle.write(f"{method},{seed},{result['seconds']:.1f}\n")

    seconds = read_timings(runs_path)  # the last (longest-running) entry wins
    run_rows = []
    for method in methods:
        for seed in seeds:
            run_dir = os.path.join(work_dir, method, SCENARIO, f"run_number_{seed}")
            train = read_rows(os.path.join(run_dir, "reward_train.csv"))
            valid = read_rows(os.path.join(run_dir, "reward_valid.csv"))
            test = read_rows(os.path.join(run_dir, "reward_test.csv"))
            finite = [v for _, v in train if not np.isnan(v)]
            run_rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "steps": train[-1][0] if train else 0,
                    "final_train_success": finite[-1] if finite else float("nan"),
                    "max_train_success": max(finite) if finite else float("nan"),
                    "mean_valid_success": float(np.mean([v for _, v in valid])) if valid else float("nan"),
                    "mean_test_success": float(np.mean([v for _, v in test])) if test else float("nan"),
                    "wall_seconds": seconds.get((method, seed), float("nan")),
                }
            )
    common.write_rows_csv(os.path.join(output_dir, "runs.csv"), run_rows)
    report = plot_training.report(
        [os.path.join(work_dir, m) for m in methods if os.path.isdir(os.path.join(work_dir, m))], output_dir
    )
    for path in list(report["plots"]):
        if path.endswith(".svg"):
            os.remove(path)  # keep the committed results small: PNG only
    per_method = {}
    for method in methods:
        rows = [r for r in run_rows if r["method"] == method]
        finals = np.array([r["final_train_success"] for r in rows], float)
        known = np.isfinite(finals).any()
        per_method[method] = {
            "runs": len(rows),
            "final_train_success_mean": round(float(np.nanmean(finals)), 4) if known else None,
            "final_train_success_std": round(float(np.nanstd(finals)), 4) if known else None,
            "runs_with_any_success": int(sum(r["max_train_success"] > 0 for r in rows)),
            "mean_test_success": round(float(np.nanmean([r["mean_test_success"] for r in rows])), 4),
        }
    headline = {
        "scenario": SCENARIO,
        "num_timesteps_per_run": num_timesteps,
        "num_env": config.num_env,
        "seeds": seeds,
        "r_network": r_path,
        "per_method": per_method,
        "quick": config.quick,
    }
    common.write_json(os.path.join(output_dir, "headline.json"), headline)
    print(headline)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
