r"""Experiment 1: quality of an R-network trained on VizDoom random-policy data (laptop budget).

Pipeline: `generate_r_training_data` (uniform random policy, the original's v1 pair sampling:
positives 1..5 steps apart, negatives > 25) for the R_TRAINING and VALIDATION splits, then
`train_r` on the VALIDATION-seed split with the R_TRAINING-seed split held out (the
launcher's layout: its 50 % held-out files are the R_TRAINING-seed ones, as in the original code).
The network is the reduced-width one of `common.py`.

Then accuracy as a function of the true step gap: the TFRecords do not store the gap of a pair,
so fresh random-policy episodes (env seeds never used for training) are recorded here and
frames are paired at known gaps 1..200. Gaps 1..5 count as "reachable" (label 1), gaps > 25 as
"not reachable" (label 0); the gaps in between have no label in training and only their mean
predicted probability is reported.

    python experiments/r_network_quality.py [--quick] [--output_dir=experiments/results/r_network_quality]

Training runs in stages (`--stages`), each on its own data set in its own folder, each
continuing from the previous one's last full checkpoint (weights, Adam state, epoch count):
46 epochs on 100,000 agent steps per split; to epoch 90 on a 4x larger set; to epoch 210 on
1.6 M steps of training data (held out: the 400 k set's R_TRAINING split, reused in place). On each smaller set
the held-out loss stopped improving while the training accuracy kept rising. Every stage
resumes after a kill. A larger set's files contain the smaller sets' (same env seeds, longer
runs), and the held-out split always has the R_TRAINING seeds, so nothing held out was ever
trained on.

After training, the final network is also evaluated on every pair of the held-out files
(`heldout_acc` in `headline.json`; the per-epoch `val_acc` uses 20 random batches).

Outputs (in --output_dir): `training_curve.csv`, `gap_accuracy.csv`, `r_network_quality.png`,
`headline.json`. Weights and data stay in --work_dir (default /tmp/ec_experiments/...).
"""

from __future__ import annotations

import dataclasses
import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

from episodic_curiosity import metrics_csv  # noqa: E402

import common  # noqa: F401  (puts the repository on sys.path)

GAPS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 26, 30, 40, 60, 100, 150, 200)
POSITIVE_MAX_GAP = 5
NEGATIVE_MIN_GAP = 26


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training stage: its own data set in its own folder, trained until `epochs_to`."""

    epochs_to: int
    train_env_steps: int  # the VALIDATION-seed split, which train_r learns from (the original code's layout)
    heldout_env_steps: int  # the R_TRAINING-seed split, held out
    examples_per_shard: int  # of the training split (the held-out one keeps the default 4000)

    @classmethod
    def parse(cls, text: str) -> "Stage":
        try:
            values = [int(part) for part in text.split(":")]
            stage = cls(*values)
        except (TypeError, ValueError):
            raise ValueError(
                f"a stage is EPOCHS_TO:TRAIN_STEPS:HELDOUT_STEPS:EXAMPLES_PER_SHARD, got {text!r}"
            ) from None
        if min(values) < 1:
            raise ValueError(f"stage values must be positive, got {text!r}")
        return stage


# 46 epochs on 100k agent steps per split, to epoch 90 on 400k, to epoch 210 on 1.6M steps of
# training data (held out: the 400k set's 100k pairs; 15,000 pairs per file keeps 4 files per
# task, as in the smaller sets).
DEFAULT_STAGES = ("46:100000:100000:4000", "90:400000:400000:4000", "210:1600000:400000:15000")
# train_r runs in calls of this many epochs, so that a stage can stop after --max_minutes. Each
# call resumes from the last full checkpoint, which costs ~25 s with 8 GB of training files
# (every file is read up to where the earlier epochs had got).
CHUNK_EPOCHS = 20
QUICK_STAGES = (Stage(3, 1500, 1500, 4000), Stage(5, 3000, 3000, 4000), Stage(7, 6000, 3000, 4000))


def generate_split(
    work_dir: str, scenario: str, split: str, env_steps: int, num_tasks: int, examples_per_shard: int
) -> str:
    """The folder of one split of a stage's data, generated unless done."""
    from episodic_curiosity import generate_r_training_data

    directory = os.path.join(work_dir, "r_training_data", split)
    generate_r_training_data.generate_r_training_data(
        directory,
        scenario,
        total_env_steps=env_steps,
        num_tasks=num_tasks,
        num_workers=2,
        split=split,
        num_examples_per_shard=examples_per_shard,
        show_progress=False,
    )
    return directory


def train(
    train_dir: str,
    heldout_dir: str,
    r_dir: str,
    num_epochs: int,
    steps_per_epoch: int,
    validation_steps: int,
    max_minutes: float,
) -> dict:
    """`train_r` in chunks of CHUNK_EPOCHS epochs (it resumes), stopping early past `max_minutes`."""
    import gin

    from episodic_curiosity import train_r

    gin.clear_config()
    gin.parse_config(list(common.R_NETWORK_BINDINGS))
    start, done, result = time.time(), 0, {}
    while done < num_epochs:
        done = min(num_epochs, done + CHUNK_EPOCHS)
        result = train_r.train_r(
            [train_dir],
            r_dir,
            num_epochs=done,
            batch_size=64,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_dirs=[heldout_dir],
            checkpoint_every_epochs=5,
            shuffle_buffer=20_000,
            seed=0,
            show_progress=False,
            attributes={"experiment": "r_network_quality"},
        )
        logging.info("train_r: %d epochs, %s, %.0f s", done, result["metrics"], time.time() - start)
        if time.time() - start > 60 * max_minutes and done < num_epochs:
            logging.warning("Stopping train_r at %d of %d epochs (--max_minutes=%s).", done, num_epochs, max_minutes)
            break
    result["epochs_done"] = done
    result["train_seconds"] = time.time() - start
    return result


def warm_start(r_dir: str, full_checkpoint: str) -> None:
    """Starts `r_dir` from another run's full checkpoint (weights + Adam state + epoch), with
    that run's training-curve rows up to its epoch, so `train_r` resumes from there."""
    import shutil

    from episodic_curiosity import r_network_training

    if r_network_training.newest_full_checkpoint(r_dir):
        return  # already started (or warm-started): resume from its own checkpoints
    name = os.path.basename(full_checkpoint)
    if not r_network_training.is_full_checkpoint_name(name):
        raise ValueError(f"--warm_start_from must be a full checkpoint r_network_full.NNNNN.h5, got {name!r}")
    epoch = int(name.split(".")[1])
    os.makedirs(r_dir, exist_ok=True)
    source_dir = os.path.dirname(os.path.abspath(full_checkpoint))
    for metric in ("loss", "acc", "val_loss", "val_acc"):
        target = os.path.join(r_dir, f"{metric}.csv")
        if os.path.exists(target):  # left by a warm start killed before its checkpoint copy
            os.remove(target)
        for step, value, timestamp in metrics_csv.read_scalars(os.path.join(source_dir, f"{metric}.csv")):
            if step < epoch:
                metrics_csv.append_scalar(target, metric, step, value, timestamp)
    shutil.copyfile(full_checkpoint, os.path.join(r_dir, name + ".tmp"))
    os.replace(os.path.join(r_dir, name + ".tmp"), os.path.join(r_dir, name))
    logging.info("Warm start from %s (epoch %d).", full_checkpoint, epoch)


def record_episodes(
    scenario: str, num_episodes: int, seed: int, max_steps: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Uniform-random-policy episodes (the generator's policy): per episode, its frames [T, H, W, 3]
    and the agent's pose at each frame [T, 3] (x, y in map units, view angle in degrees)."""
    from episodic_curiosity import environments

    env = environments.make_env(scenario, seed=seed)
    rng = np.random.default_rng(seed)
    episodes, poses = [], []

    def pose(info):  # NaN where the scenario does not report it (VizDoom does)
        x, y = np.asarray(info.get("position", (np.nan, np.nan)), np.float64)[:2]
        return np.array([x, y, info.get("angle", np.nan)], np.float64)

    try:
        for episode in range(num_episodes):
            frame, info = env.reset(seed=seed + episode)
            frames, episode_poses = [frame], [pose(info)]
            for _ in range(max_steps):
                frame, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
                if terminated or truncated:
                    break
                frames.append(frame)
                episode_poses.append(pose(info))
            episodes.append(np.stack(frames))
            poses.append(np.stack(episode_poses))
    finally:
        env.close()
    return episodes, poses


def pose_distances(poses: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map distance and view-angle difference (degrees, 0..180) between two frames' poses."""
    distance = np.hypot(*(poses[first, :2] - poses[second, :2]).T)
    turn = np.abs(poses[first, 2] - poses[second, 2]) % 360.0
    return distance, np.minimum(turn, 360.0 - turn)


def negative_revisits(r_net, embeddings, poses, pairs_per_episode: int, seed: int) -> dict:
    """How many "not reachable" pairs (gap > 25) show the agent back at the pose of a reachable
    pair, and the network's accuracy on those and on the others.

    A random walk often comes back: 26+ steps later the agent may stand where it stood, looking
    the same way, and the two frames are then as alike as a reachable pair's. A negative pair is
    a *pose revisit* when both its map distance and its view-angle difference are within the
    90th percentiles of those of the reachable pairs (gaps 1..5) of the same episodes. Pairs are
    drawn uniformly among the pairs of each gap class. Empty if the scenario reports no poses.
    `embeddings`: per episode, the embeddings of its frames [T, E].
    """
    if any(np.isnan(episode_poses).any() for episode_poses in poses):
        return {}
    rng = np.random.default_rng(seed)
    positive_distance, positive_turn, negatives = [], [], []
    for episode_embeddings, episode_poses in zip(embeddings, poses):
        length = len(episode_embeddings)
        if length <= NEGATIVE_MIN_GAP:
            continue
        first = rng.integers(0, length - 1, size=pairs_per_episode)
        second = first + rng.integers(1, POSITIVE_MAX_GAP + 1, size=pairs_per_episode)
        keep = second < length
        distance, turn = pose_distances(episode_poses, first[keep], second[keep])
        positive_distance.append(distance)
        positive_turn.append(turn)
        first = rng.integers(0, length, size=4 * pairs_per_episode)
        second = rng.integers(0, length, size=4 * pairs_per_episode)
        keep = np.abs(first - second) >= NEGATIVE_MIN_GAP
        first, second = first[keep][:pairs_per_episode], second[keep][:pairs_per_episode]
        distance, turn = pose_distances(episode_poses, first, second)
        probability = r_net.similarity(episode_embeddings[first], episode_embeddings[second])
        negatives.append(np.stack([distance, turn, probability], axis=1))
    if not negatives:
        return {}
    max_distance = float(np.percentile(np.concatenate(positive_distance), 90))
    max_turn = float(np.percentile(np.concatenate(positive_turn), 90))
    distance, turn, probability = np.concatenate(negatives).T
    revisit = (distance <= max_distance) & (turn <= max_turn)
    correct = probability <= 0.5

    def accuracy(rows):
        return round(float(correct[rows].mean()), 4) if rows.any() else float("nan")

    return {
        "negative_pairs": int(len(correct)),
        "revisit_max_distance": round(max_distance, 1),
        "revisit_max_turn_degrees": round(max_turn, 1),
        "negative_share_pose_revisits": round(float(revisit.mean()), 4),
        "negative_accuracy_pose_revisits": accuracy(revisit),
        "negative_accuracy_other": accuracy(~revisit),
        "negative_errors_that_are_pose_revisits": round(
            float((revisit & ~correct).sum() / max(1, (~correct).sum())), 4
        ),
    }


def gap_accuracy(r_net, embeddings, pairs_per_gap: int, seed: int) -> list[dict]:
    """Per gap: mean P(reachable), accuracy against the training label, number of pairs.
    `embeddings`: per episode, the embeddings of its frames [T, E]."""
    rng = np.random.default_rng(seed)
    probabilities = {gap: [] for gap in GAPS}
    for episode_embeddings in embeddings:
        length = len(episode_embeddings)
        for gap in GAPS:
            if gap >= length:
                continue
            first = rng.integers(0, length - gap, size=pairs_per_gap)
            second = first + gap
            swap = rng.random(pairs_per_gap) < 0.5  # both orders, as in training
            a = np.where(swap, second, first)
            b = np.where(swap, first, second)
            probabilities[gap].append(r_net.similarity(episode_embeddings[a], episode_embeddings[b]))
    rows = []
    for gap in GAPS:
        values = np.concatenate(probabilities[gap]) if probabilities[gap] else np.zeros(0)
        label = 1 if gap <= POSITIVE_MAX_GAP else 0 if gap >= NEGATIVE_MIN_GAP else None
        accuracy = float(np.mean((values > 0.5) == bool(label))) if label is not None and len(values) else float("nan")
        rows.append(
            {
                "gap": gap,
                "label": "" if label is None else label,
                "num_pairs": len(values),
                "mean_p_reachable": float(np.mean(values)) if len(values) else float("nan"),
                "accuracy": accuracy,
            }
        )
    return rows


def heldout_accuracy(r_net, heldout_dir: str | None, max_files: int | None = None, files=None) -> dict:
    """Accuracy over every pair of the held-out files (train_r's per-epoch figure uses 20
    random batches, +-0.02): reachable iff P(reachable) > 0.5, as the argmax in training.
    The files: `files` if given, else every file under `heldout_dir`. With `max_files`, over
    an evenly spread subset of at most that many files."""
    from episodic_curiosity import r_training_data
    from episodic_curiosity import train_r

    validation_files = sorted(files) if files is not None else train_r.find_tfrecords([heldout_dir])
    if max_files:
        validation_files = validation_files[:: max(1, -(-len(validation_files) // max_files))]
    dataset = r_training_data.make_pair_dataset(
        validation_files, batch_size=256, shuffle_buffer=0, repeat=False, validate_files=False
    )
    correct = {0: 0, 1: 0}
    total = {0: 0, 1: 0}
    for (x1, x2), labels in dataset:
        predicted = r_net.similarity(r_net.embed(x1.numpy()), r_net.embed(x2.numpy())) > 0.5
        reachable = np.argmax(labels.numpy(), axis=1) == 1
        for label in (0, 1):
            rows = reachable == bool(label)
            total[label] += int(rows.sum())
            correct[label] += int((predicted[rows] == bool(label)).sum())
    pairs = total[0] + total[1]
    return {
        "heldout_files": len(validation_files),
        "heldout_pairs": pairs,
        "heldout_acc": round((correct[0] + correct[1]) / max(1, pairs), 4),
        "heldout_acc_reachable": round(correct[1] / max(1, total[1]), 4),
        "heldout_acc_not_reachable": round(correct[0] / max(1, total[0]), 4),
    }


def plot(curve_rows, gap_rows, path: str, title: str, stage_ends=()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [row["epoch"] for row in curve_rows]
    left.plot(epochs, [row["acc"] for row in curve_rows], label="training pairs")
    left.plot(epochs, [row["val_acc"] for row in curve_rows], label="held-out pairs")
    left.axhline(0.85, color="grey", linestyle=":", label="target 0.85")
    for number, epoch in enumerate(stage_ends):
        left.axvline(
            epoch + 0.5,
            color="black",
            linestyle="--",
            linewidth=0.8,
            label="more data from here" if number == 0 else None,
        )
    left.set(xlabel="epoch (100 batches of 64 pairs)", ylabel="accuracy", ylim=(0.4, 1.0), title="R-network accuracy")
    left.legend(loc="lower right")
    gaps = [row["gap"] for row in gap_rows]
    right.semilogx(gaps, [row["mean_p_reachable"] for row in gap_rows], "o-", label="mean P(reachable)")
    labelled = [row for row in gap_rows if row["label"] != ""]
    right.semilogx(
        [row["gap"] for row in labelled],
        [row["accuracy"] for row in labelled],
        "s",
        label="accuracy (label: gap<=5 / gap>25)",
    )
    right.axvspan(5.5, 25.5, color="grey", alpha=0.15, label="no training label")
    right.set(xlabel="true step gap between the two frames", ylim=(0, 1.02), title="Held-out episodes: by step gap")
    right.legend(loc="center left", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _define_flags() -> None:
    flags.DEFINE_string("output_dir", common.default_output_dir("r_network_quality"), "Small results.")
    flags.DEFINE_string(
        "work_dir", os.path.join(common.SCRATCH_DIR, "r_network_quality"), "Data and weights (large, not committed)."
    )
    flags.DEFINE_string("scenario", "vizdoom_dense", "Scenario of the random-policy data.")
    flags.DEFINE_list(
        "stages",
        list(DEFAULT_STAGES),
        "EPOCHS_TO:TRAIN_STEPS:HELDOUT_STEPS:EXAMPLES_PER_SHARD per stage: train_r "
        "epochs (100 batches of 64 pairs) up to, agent steps of the training and of "
        "the held-out split, pairs per training file. Stage 1 in --work_dir, each "
        "later one in <work_dir>_<TRAIN_STEPS/1000>k, from the previous one's "
        "last checkpoint.",
    )
    flags.DEFINE_integer("num_tasks", 8, "Generator tasks per split (seeds 123 + task).")
    flags.DEFINE_float("max_minutes", 60.0, "Per stage: stop train_r after the chunk (CHUNK_EPOCHS) that passes this.")
    flags.DEFINE_integer("validation_steps", 20, "Held-out batches evaluated after each epoch.")
    flags.DEFINE_integer("gap_episodes", 6, "Held-out random-policy episodes for the gap analysis.")
    flags.DEFINE_boolean("quick", False, "Smoke check: tiny data, 3 + 2 + 2 epochs of 5 batches.")


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    config = flags.FLAGS
    quick = config.quick
    work_dir = config.work_dir + ("_quick" if quick else "")
    output_dir = config.output_dir + (
        "_quick" if quick and config.output_dir == common.default_output_dir("r_network_quality") else ""
    )
    os.makedirs(output_dir, exist_ok=True)
    num_tasks = 2 if quick else config.num_tasks
    # Each stage after the first continues from the previous one's last full checkpoint on a
    # larger data set in its own folder.
    try:
        stage_list = list(QUICK_STAGES) if quick else [Stage.parse(text) for text in config.stages]
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    stages = [
        (work_dir if number == 0 else f"{work_dir}_{stage.train_env_steps // 1000}k", stage)
        for number, stage in enumerate(stage_list)
    ]
    data_seconds, train_seconds, previous_r_dir = 0.0, 0.0, None
    heldout_dirs = {}  # held-out agent steps -> folder: a later stage reuses an identical split
    for stage_dir, stage in stages:
        start = time.time()
        heldout_dir = heldout_dirs.get(stage.heldout_env_steps) or generate_split(
            stage_dir, config.scenario, "R_TRAINING", stage.heldout_env_steps, num_tasks, 4000
        )
        heldout_dirs[stage.heldout_env_steps] = heldout_dir
        train_dir = generate_split(
            stage_dir, config.scenario, "VALIDATION", stage.train_env_steps, num_tasks, stage.examples_per_shard
        )
        data_seconds += time.time() - start
        r_dir = os.path.join(stage_dir, "r_networks")
        if previous_r_dir:
            from episodic_curiosity import r_network_training

            warm_start(r_dir, r_network_training.newest_full_checkpoint(previous_r_dir))
        result = train(
            train_dir,
            heldout_dir,
            r_dir,
            num_epochs=stage.epochs_to,
            steps_per_epoch=5 if quick else 100,
            validation_steps=3 if quick else config.validation_steps,
            max_minutes=config.max_minutes,
        )
        train_seconds += result["train_seconds"]
        previous_r_dir = r_dir
    weights = common.newest_r_network(r_dir)

    metrics = {
        name: {step: value for step, value, _ in metrics_csv.read_scalars(os.path.join(r_dir, f"{name}.csv"))}
        for name in ("loss", "acc", "val_loss", "val_acc")
    }
    curve_rows = [
        {"epoch": epoch + 1, **{name: metrics[name][epoch] for name in metrics}} for epoch in sorted(metrics["acc"])
    ]
    common.write_rows_csv(os.path.join(output_dir, "training_curve.csv"), curve_rows)

    r_net = common.load_r_network(weights)
    # Env seeds 900000+: disjoint from the generator's 123 + task (both splits).
    episodes, poses = record_episodes(config.scenario, 2 if quick else config.gap_episodes, seed=900_000, max_steps=525)
    embeddings = [common.embed_all(r_net, frames) for frames in episodes]
    gap_rows = gap_accuracy(r_net, embeddings, pairs_per_gap=20 if quick else 200, seed=1)
    revisits = negative_revisits(r_net, embeddings, poses, pairs_per_episode=50 if quick else 1000, seed=2)
    heldout = heldout_accuracy(r_net, heldout_dir)
    common.write_rows_csv(os.path.join(output_dir, "gap_accuracy.csv"), gap_rows)

    positives = [r for r in gap_rows if r["label"] == 1 and r["num_pairs"]]
    negatives = [r for r in gap_rows if r["label"] == 0 and r["num_pairs"]]
    weighted = lambda rows: float(
        sum(r["accuracy"] * r["num_pairs"] for r in rows) / max(1, sum(r["num_pairs"] for r in rows))
    )
    last = curve_rows[-1]
    headline = {
        "scenario": config.scenario,
        "batch_size": 64,
        "stages": [
            {
                "train_env_steps": stage.train_env_steps,
                "heldout_env_steps": stage.heldout_env_steps,
                "epochs_to": stage.epochs_to,
                "work_dir": directory,
            }
            for directory, stage in stages
        ],
        "epochs": result["epochs_done"],
        # of this call only (a resumed call counts only the epochs it trained)
        "train_seconds_this_call": round(train_seconds, 1),
        "data_seconds_this_call": round(data_seconds, 1),
        "network": "reduced width: " + "; ".join(common.R_NETWORK_BINDINGS),
        "final_train_acc": round(last["acc"], 4),
        "final_val_acc": round(last["val_acc"], 4),
        "best_val_acc": round(max(r["val_acc"] for r in curve_rows), 4),
        **heldout,
        "gap_accuracy_positive_1_to_5": round(weighted(positives), 4),
        "gap_accuracy_negative_over_25": round(weighted(negatives), 4),
        "gap_balanced_accuracy": round((weighted(positives) + weighted(negatives)) / 2, 4),
        **revisits,
        "weights": weights,
        "quick": quick,
    }
    common.write_json(os.path.join(output_dir, "headline.json"), headline)
    plot(
        curve_rows,
        gap_rows,
        os.path.join(output_dir, "r_network_quality.png"),
        f"R-network (reduced width) on {config.scenario} random-policy data, "
        f"{result['epochs_done']} epochs: held-out acc {heldout['heldout_acc']:.3f} "
        f"({heldout['heldout_pairs']} pairs)",
        stage_ends=[stage.epochs_to for _, stage in stages[:-1]],
    )
    print(headline)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
