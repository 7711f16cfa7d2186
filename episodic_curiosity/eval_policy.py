r"""Evaluates a policy checkpoint: mean return and success rate over N episodes.

Builds `num_env` envs of the scenario with the seeds of `--split` ('train', 'valid' or
'test'), runs the stochastic policy until `--num_episodes` episodes (rounded up to whole
rounds of one episode per env) have finished, prints the result and writes it as JSON to
`--output` (default: `eval_<split>.json` beside the checkpoint; for a shipped `pretrained:` model,
whose folder belongs to the package, in the current folder). For VizDoom the success rate
is the fraction of episodes that reached the vest. The two numbers also go to TensorBoard as
`eval_policy/<split>_mean_return` and `eval_policy/<split>_success_rate` at step = the
checkpoint's PPO update, in the run's `tb/` (the parent of `checkpoints/`; else `tb/` beside
the checkpoint).

    python -m episodic_curiosity.eval_policy --checkpoint=RUN/checkpoints/policy.00100.h5 \
        --env_name=vizdoom_sparse --split=test --num_episodes=24
"""

from __future__ import annotations

import json
import math
import os
from typing import Sequence

from absl import app
from absl import flags
import numpy as np

from episodic_curiosity import atomic_files
from episodic_curiosity import checkpoint_io
from episodic_curiosity import ppo
from episodic_curiosity import pretrained
from episodic_curiosity import process_control
from episodic_curiosity import train_policy


def eval_policy(
    checkpoint: str,
    scenario: str,
    split: str = "test",
    num_episodes: int = 12,
    num_env: int = 12,
    asynchronous: bool = True,
    env_kwargs: dict | None = None,
    output: str | None = None,
    compute_dtype: str = "float32",
) -> dict:
    """Evaluates `checkpoint` on `scenario`; returns (and writes) the summary dict.

    `compute_dtype`: the policy's precision ('float32', or the opt-in 'bfloat16' / 'auto', see
    `ppo.ActorCritic`); the summary records it when it is not float32, and the default output
    is then `eval_<split>_<dtype>.json`."""
    if split not in ("train", "valid", "test"):
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    num_env = min(num_env, num_episodes)
    shipped = pretrained.is_pretrained(checkpoint)
    checkpoint = pretrained.resolve(checkpoint)
    # Image policies see the frames resized (and stacked) as they were trained on, which the
    # checkpoint records (older checkpoints: the gin-bound CuriosityEnvWrapper settings).
    env = train_policy.make_policy_envs(
        scenario,
        num_env,
        split,
        asynchronous=asynchronous,
        env_kwargs=env_kwargs,
        scale_task_reward=1.0,
        **checkpoint_io.policy_input_settings(checkpoint),
    )
    try:
        policy = train_policy.load_policy(
            checkpoint, env.single_observation_space, env.single_action_space, compute_dtype=compute_dtype
        )
        # Every round finishes one episode per env, so the mean of round means is the episode mean.
        rounds = [train_policy.evaluate_episodes(env, policy) for _ in range(math.ceil(num_episodes / num_env))]
    finally:
        env.close()
    summary = {
        "checkpoint": os.path.abspath(checkpoint),
        "scenario": scenario,
        "split": split,
        "episodes": len(rounds) * num_env,
        "mean_return": float(np.mean([r["mean_return"] for r in rounds])),
        "success_rate": float(np.mean([r["success_rate"] for r in rounds])),
    }
    suffix = ""
    if policy.compute_dtype != "float32":  # recorded, and never written over the float32 file
        summary["compute_dtype"] = policy.compute_dtype
        suffix = f"_{policy.compute_dtype}"
    output = output or os.path.join(
        os.getcwd() if shipped else os.path.dirname(os.path.abspath(checkpoint)), f"eval_{split}{suffix}.json"
    )
    atomic_files.write_json(output, summary)
    # A shipped model's folder is part of the installed package: nothing is written there.
    _write_tensorboard(
        checkpoint, summary, os.path.join(os.path.dirname(os.path.abspath(output)), "tb") if shipped else None
    )
    return summary


def tensorboard_dir(checkpoint: str) -> str:
    """`<run>/tb` for `<run>/checkpoints/policy.N.h5`, else `tb/` beside the checkpoint."""
    folder = os.path.dirname(os.path.abspath(checkpoint))
    if os.path.basename(folder) == "checkpoints":
        folder = os.path.dirname(folder)
    return os.path.join(folder, "tb")


def _write_tensorboard(checkpoint: str, summary: dict, folder: str | None = None) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    step = int(checkpoint_io.read_attributes(checkpoint).get("update", 0))
    writer = tf.summary.create_file_writer(folder or tensorboard_dir(checkpoint))
    with writer.as_default(step=step):
        for key in ("mean_return", "success_rate"):
            tf.summary.scalar(f"eval_policy/{summary['split']}_{key}", summary[key])
    writer.close()


def _define_flags() -> None:
    flags.DEFINE_string(
        "checkpoint",
        None,
        "Policy checkpoint written by train_policy, or a shipped model (pretrained:vizdoom_sparse_ppo_plus_ec).",
    )
    flags.DEFINE_string("env_name", "vizdoom_sparse", "Scenario name.")
    flags.DEFINE_enum("split", "test", ["train", "valid", "test"], "Which seeds to evaluate on.")
    flags.DEFINE_integer("num_episodes", 12, "Episodes to run.")
    flags.DEFINE_integer("num_env", 12, "Parallel envs.")
    flags.DEFINE_string("output", None, "JSON output path.")
    flags.DEFINE_enum(
        "compute_dtype",
        "float32",
        list(ppo.COMPUTE_DTYPES),
        "The policy's precision (opt-in bfloat16 / auto: bf16 hidden layers, float32 weights).",
    )


def main(argv: Sequence[str]) -> None:
    del argv
    config = flags.FLAGS
    if not config.checkpoint:
        raise app.UsageError("--checkpoint is required")
    process_control.install_stop_handlers()
    summary = eval_policy(
        config.checkpoint,
        config.env_name,
        config.split,
        config.num_episodes,
        config.num_env,
        output=config.output,
        compute_dtype=config.compute_dtype,
    )
    print(json.dumps(summary))


def run() -> None:
    """Console script `ec-eval-policy`."""
    from episodic_curiosity import cli  # pylint: disable=g-import-not-at-top

    cli.run(main, define_flags=_define_flags)


if __name__ == "__main__":
    run()
