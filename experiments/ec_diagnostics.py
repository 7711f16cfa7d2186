r"""What the EC bonus sees along a policy's own episodes, next to a random policy's (issues #20, #21).

    python experiments/ec_diagnostics.py \
        --policy=<experiments workdir>/navigation/ppo_plus_ec/vizdoom_sparse/run_number_1 \
        [--r_network=pretrained:vizdoom] [--scenario=vizdoom_sparse] [--episodes=4] \
        [--output_dir=experiments/results/ec_diagnostics/<name>]

The R-network was trained on random-policy frames; the policy's frames may look different
(it walks straight, faces walls less, visits other rooms). This runs `--episodes` episodes of
the trained policy and as many of a uniform random policy through the per-step curiosity
wrapper (the bonus of every step as PPO+EC computes it) on the *validation* env seeds, and
reports for each:

  * the R-network's accuracy on pairs of the episode's own frames, by step gap (reachable:
    gaps 1-5, not reachable: gaps > 25; the training labels), as experiment 1 does for fresh
    random episodes;
  * the bonus: mean, fraction of steps with a positive bonus, memory fill at the episode's end;
  * the episode: length, task return, how far it got from its start (map units, where the env
    reports `info['position']`), how often it took each (discrete) action.

Writes `diagnostics.json` (the headline per source) and `gap_accuracy.csv` (per source and gap).
"""

from __future__ import annotations

import csv
import functools
import os
import sys

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from episodic_curiosity import atomic_files  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import checkpoint_io  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import curiosity_env_wrapper  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import environments  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import intrinsic  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import r_network  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import train_policy  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import visualize_curiosity_reward  # noqa: E402  pylint: disable=g-import-not-at-top

import common  # noqa: E402  pylint: disable=g-import-not-at-top
import r_network_quality  # noqa: E402  pylint: disable=g-import-not-at-top

SOURCES = ("policy", "random")
PAIRS_PER_GAP = 40  # per episode and gap


def record(
    scenario: str,
    r_net,
    source: str,
    policy_path: str | None,
    episodes: int,
    seed: int,
    max_steps: int,
    env_kwargs: dict | None = None,
) -> list[dict]:
    """Episodes of `source` ('policy' or 'random') through the per-step curiosity wrapper.

    Returns per episode: 'frames' [T, H, W, 3] (the curiosity inputs), 'bonus' [T],
    'memory_sizes' [T], 'task_return', 'positions' [T, 2] (NaN where not reported).
    """
    shape = {}
    if source == "policy":  # the frames resized as the policy was trained on
        shape = checkpoint_io.policy_input_settings(visualize_curiosity_reward.policy_checkpoint_file(policy_path))
    policy = None
    recorded = []
    for episode in range(episodes):
        vector_env = environments.make_vector_env(
            scenario, 1, base_seed=seed + episode, asynchronous=False, env_kwargs=env_kwargs
        )
        env = curiosity_env_wrapper.CuriosityEnvWrapper(
            vector_env, functools.partial(intrinsic.EpisodicCuriosity, network=r_net), **shape
        )
        try:
            if source == "policy" and policy is None:
                policy = visualize_curiosity_reward.load_policy(policy_path, env)
            observations, _ = env.reset(seed=seed + episode)
            env.single_action_space.seed(seed + episode)
            frames, bonus, sizes, positions, actions, task_return = [], [], [], [], [], 0.0
            for _ in range(max_steps):
                if source == "policy":
                    action = policy.step(observations)[0][0]
                else:
                    action = env.single_action_space.sample()
                actions.append(action)
                observations, _, terminated, truncated, infos = env.step(np.asarray([action]))
                done = bool(terminated[0] or truncated[0])
                frames.append(visualize_curiosity_reward.curiosity_input(infos, done))
                bonus.append(float(infos["curiosity_bonus"][0]))
                task_return += float(infos["task_reward"][0])
                # On the last step the wrapper has already emptied the memory for the next
                # episode: that step repeats the size before it (an entry it added, at most one,
                # is not counted).
                sizes.append(sizes[-1] if done and sizes else int(env.memory.sizes[0]))
                source_info = infos.get("final_info", infos) if done else infos
                position = source_info.get("position")
                positions.append(np.asarray(position[0], np.float64)[:2] if position is not None else [np.nan] * 2)
                if done:
                    break
        finally:
            env.close()
        recorded.append(
            {
                "frames": np.stack(frames),
                "bonus": np.asarray(bonus),
                "memory_sizes": np.asarray(sizes),
                "task_return": task_return,
                "positions": np.asarray(positions, np.float64),
                "actions": np.asarray(actions),
            }
        )
    return recorded


def summarize(r_net, episodes: list[dict], seed: int) -> tuple[dict, list[dict]]:
    """(headline, gap rows) of one source's episodes."""
    embeddings = [
        np.concatenate([r_net.embed(e["frames"][i : i + 256]) for i in range(0, len(e["frames"]), 256)])
        for e in episodes
    ]
    gaps = r_network_quality.gap_accuracy(r_net, embeddings, PAIRS_PER_GAP, seed=seed)
    positives = [row["accuracy"] for row in gaps if row["label"] == 1 and row["num_pairs"]]
    negatives = [row["accuracy"] for row in gaps if row["label"] == 0 and row["num_pairs"]]
    bonus = np.concatenate([e["bonus"] for e in episodes])
    spread = []
    for e in episodes:
        positions = e["positions"][np.all(np.isfinite(e["positions"]), axis=1)]
        if len(positions):
            spread.append(float(np.max(np.hypot(*(positions - positions[0]).T))))
    headline = {
        "episodes": len(episodes),
        "mean_episode_length": float(np.mean([len(e["bonus"]) for e in episodes])),
        "mean_task_return": float(np.mean([e["task_return"] for e in episodes])),
        "r_accuracy_reachable_gaps_1_to_5": float(np.mean(positives)) if positives else None,
        "r_accuracy_not_reachable_gaps_over_25": float(np.mean(negatives)) if negatives else None,
        "bonus_mean": float(bonus.mean()),
        "bonus_positive_fraction": float(np.mean(bonus > 0)),
        "memory_fill_at_end_mean": float(np.mean([e["memory_sizes"][-1] for e in episodes])),
        "max_distance_from_start_mean": float(np.mean(spread)) if spread else None,
    }
    actions = np.concatenate([e["actions"] for e in episodes])
    if actions.ndim == 1 and np.issubdtype(actions.dtype, np.integer):  # Discrete: how often each
        values, counts = np.unique(actions, return_counts=True)
        headline["action_fractions"] = {int(v): round(float(c) / len(actions), 4) for v, c in zip(values, counts)}
    return headline, gaps


def _recorded_path(path: str) -> str:
    """How `path` is recorded in diagnostics.json, which may be committed: a `pretrained:` name
    as is, a path in the repository relative to `<repo>`, any other path by its file name only."""
    path = str(path)
    if path.startswith("pretrained:"):
        return path
    scrubbed = common.scrub_paths(os.path.abspath(path), {common.REPO_ROOT: "<repo>"})
    return scrubbed if scrubbed.startswith("<repo>") else os.path.basename(os.path.normpath(path))


def diagnose(
    policy_path: str,
    r_network_path: str,
    scenario: str,
    episodes: int,
    output_dir: str,
    max_steps: int = 525,
    env_kwargs: dict | None = None,
) -> dict:
    """Runs both sources, writes `diagnostics.json` and `gap_accuracy.csv`; returns the headline.

    `r_network_path`: weights path or `pretrained:` name, or an `r_network.RNetwork`.
    """
    r_net = (
        r_network_path
        if isinstance(r_network_path, r_network.RNetwork)
        else r_network.RNetwork(weights_path=r_network_path)
    )
    seed = train_policy.split_base_seed("valid")
    if episodes < 1:
        raise ValueError(f"episodes={episodes}: give at least 1 episode per source")
    headline = {
        "policy_path": _recorded_path(policy_path),
        "r_network": r_network_path if isinstance(r_network_path, str) else "(an RNetwork)",
        "scenario": scenario,
        "env_seeds": f"validation split, {seed} + episode",
    }
    rows = []
    for source in SOURCES:
        recorded = record(scenario, r_net, source, policy_path, episodes, seed, max_steps, env_kwargs)
        headline[source], gaps = summarize(r_net, recorded, seed)
        rows += [{"source": source, **row} for row in gaps]
    os.makedirs(output_dir, exist_ok=True)
    atomic_files.write_json(os.path.join(output_dir, "diagnostics.json"), headline)
    with atomic_files.atomic_path(os.path.join(output_dir, "gap_accuracy.csv")) as tmp_path:
        with open(tmp_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return headline


def _define_flags() -> None:
    flags.DEFINE_string("policy", None, "Policy checkpoint, run folder or pretrained: name.")
    flags.DEFINE_string("r_network", "pretrained:vizdoom", "R-network weights (the bonus's).")
    flags.DEFINE_string("scenario", "vizdoom_sparse", "Scenario.")
    flags.DEFINE_integer("episodes", 4, "Episodes per source.")
    flags.DEFINE_integer("max_steps", 525, "Most steps per episode.")
    flags.DEFINE_string("output_dir", common.default_output_dir("ec_diagnostics"), "Output folder.")
    flags.mark_flag_as_required("policy")


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    config = flags.FLAGS
    headline = diagnose(
        config.policy, config.r_network, config.scenario, config.episodes, config.output_dir, config.max_steps
    )
    for source in SOURCES:
        print(source, headline[source])


if __name__ == "__main__":
    _define_flags()
    app.run(main)
