r"""Experiment 1: quality of an R-network trained on VizDoom random-policy data (laptop budget).

Pipeline: `generate_r_training_data` (uniform random policy, the original's v1 pair sampling:
positives 1..5 steps apart, negatives > 25) for the R_TRAINING and VALIDATION splits, then
`train_r` on both with the launcher's 50 % held-out files (the R_TRAINING-seed files are the
validation half, EC_FACTS.md 3.5). The network is the reduced-width one of `common.py`.

Then accuracy as a function of the true step gap: the TFRecords do not store the gap of a pair,
so fresh random-policy episodes (env seeds never used for training) are recorded here and
frames are paired at known gaps 1..200. Gaps 1..5 count as "reachable" (label 1), gaps > 25 as
"not reachable" (label 0); the gaps in between have no label in training and only their mean
predicted probability is reported.

    python experiments/r_network_quality.py [--quick] [--output_dir=experiments/results/r_network_quality]

Training runs in two stages: `--num_epochs` (46) on `--data_env_steps` (100,000 agent steps
per split), then, from that checkpoint (weights, Adam state, epoch count), up to
`--more_data_num_epochs` (90) on a fresh, 4x larger data set (`--more_data_env_steps`, in
`<work_dir>_400k`): on the small set the held-out loss stopped improving after ~20 epochs while
the training accuracy kept rising. Both stages resume after a kill. The larger set's held-out
files contain the smaller set's (same env seeds, longer runs), so nothing held out was ever
trained on.

After training, the final network is also evaluated on every pair of the held-out files
(`heldout_acc` in `headline.json`; the per-epoch `val_acc` uses 20 random batches).

Outputs (in --output_dir): `training_curve.csv`, `gap_accuracy.csv`, `r_network_quality.png`,
`headline.json`. Weights and data stay in --work_dir (default /tmp/ec_experiments/...).
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

import common  # noqa: F401  (puts the repository on sys.path)
from episodic_curiosity import metrics_csv  # noqa: E402

GAPS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 26, 30, 40, 60, 100, 150, 200)
POSITIVE_MAX_GAP = 5
NEGATIVE_MIN_GAP = 26


def generate_data(work_dir: str, scenario: str, env_steps: int, num_tasks: int) -> list[str]:
    from episodic_curiosity import generate_r_training_data
    directories = []
    for split in ("R_TRAINING", "VALIDATION"):
        directory = os.path.join(work_dir, "r_training_data", split)
        generate_r_training_data.generate_r_training_data(
            directory, scenario, total_env_steps=env_steps, num_tasks=num_tasks, num_workers=2,
            split=split, show_progress=False)
        directories.append(directory)
    return directories


def train(data_dirs, r_dir: str, num_epochs: int, steps_per_epoch: int, validation_steps: int,
          max_minutes: float) -> dict:
    """`train_r` in chunks of 5 epochs (it resumes), stopping early past `max_minutes`."""
    import gin
    from episodic_curiosity import train_r
    gin.clear_config()
    gin.parse_config(list(common.R_NETWORK_BINDINGS))
    start, done, result = time.time(), 0, {}
    while done < num_epochs:
        done = min(num_epochs, done + 5)
        result = train_r.train_r(
            data_dirs, r_dir, num_epochs=done, batch_size=64, steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps, percent_validation_files=50,
            checkpoint_every_epochs=5, shuffle_buffer=20_000, seed=0, show_progress=False,
            attributes={"experiment": "r_network_quality"})
        logging.info("train_r: %d epochs, %s, %.0f s", done, result["metrics"], time.time() - start)
        if time.time() - start > 60 * max_minutes and done < num_epochs:
            logging.warning("Stopping train_r at %d of %d epochs (--max_minutes=%s).", done, num_epochs,
                            max_minutes)
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


def record_episodes(scenario: str, num_episodes: int, seed: int, max_steps: int) -> list[np.ndarray]:
    """Frames of uniform-random-policy episodes (the generator's policy), one array per episode."""
    from episodic_curiosity import environments
    env = environments.make_env(scenario, seed=seed)
    rng = np.random.default_rng(seed)
    episodes = []
    try:
        for episode in range(num_episodes):
            frame, _ = env.reset(seed=seed + episode)
            frames = [frame]
            for _ in range(max_steps):
                frame, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
                if terminated or truncated:
                    break
                frames.append(frame)
            episodes.append(np.stack(frames))
    finally:
        env.close()
    return episodes


def gap_accuracy(r_net, episodes, pairs_per_gap: int, seed: int) -> list[dict]:
    """Per gap: mean P(reachable), accuracy against the training label, number of pairs."""
    rng = np.random.default_rng(seed)
    probabilities = {gap: [] for gap in GAPS}
    for frames in episodes:
        embeddings = np.concatenate([r_net.embed(frames[i:i + 64]) for i in range(0, len(frames), 64)])
        for gap in GAPS:
            if gap >= len(frames):
                continue
            first = rng.integers(0, len(frames) - gap, size=pairs_per_gap)
            second = first + gap
            swap = rng.random(pairs_per_gap) < 0.5  # both orders, as in training
            a = np.where(swap, second, first)
            b = np.where(swap, first, second)
            probabilities[gap].append(r_net.similarity(embeddings[a], embeddings[b]))
    rows = []
    for gap in GAPS:
        values = np.concatenate(probabilities[gap]) if probabilities[gap] else np.zeros(0)
        label = 1 if gap <= POSITIVE_MAX_GAP else 0 if gap >= NEGATIVE_MIN_GAP else None
        accuracy = (float(np.mean((values > 0.5) == bool(label))) if label is not None and len(values)
                    else float("nan"))
        rows.append({"gap": gap, "label": "" if label is None else label, "num_pairs": len(values),
                     "mean_p_reachable": float(np.mean(values)) if len(values) else float("nan"),
                     "accuracy": accuracy})
    return rows


def heldout_accuracy(r_net, data_dirs, percent_validation_files: int = 50) -> dict:
    """Accuracy over every pair of the held-out files (train_r's per-epoch figure uses 20
    random batches, +-0.02): reachable iff P(reachable) > 0.5, as the argmax in training."""
    from episodic_curiosity import r_training_data
    from episodic_curiosity import train_r
    _, validation_files = r_training_data.split_train_validation(
        train_r.find_tfrecords(data_dirs), percent_validation_files)
    dataset = r_training_data.make_pair_dataset(validation_files, batch_size=256, shuffle_buffer=0,
                                                repeat=False, validate_files=False)
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
    return {"heldout_pairs": pairs, "heldout_acc": round((correct[0] + correct[1]) / max(1, pairs), 4),
            "heldout_acc_reachable": round(correct[1] / max(1, total[1]), 4),
            "heldout_acc_not_reachable": round(correct[0] / max(1, total[0]), 4)}



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
        left.axvline(epoch + 0.5, color="black", linestyle="--", linewidth=0.8,
                     label="more data from here" if number == 0 else None)
    left.set(xlabel="epoch (100 batches of 64 pairs)", ylabel="accuracy", ylim=(0.4, 1.0),
             title="R-network accuracy")
    left.legend(loc="lower right")
    gaps = [row["gap"] for row in gap_rows]
    right.semilogx(gaps, [row["mean_p_reachable"] for row in gap_rows], "o-", label="mean P(reachable)")
    labelled = [row for row in gap_rows if row["label"] != ""]
    right.semilogx([row["gap"] for row in labelled], [row["accuracy"] for row in labelled], "s",
                   label="accuracy (label: gap<=5 / gap>25)")
    right.axvspan(5.5, 25.5, color="grey", alpha=0.15, label="no training label")
    right.set(xlabel="true step gap between the two frames", ylim=(0, 1.02),
              title="Held-out episodes: by step gap")
    right.legend(loc="center left", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _define_flags() -> None:
    flags.DEFINE_string("output_dir", common.default_output_dir("r_network_quality"), "Small results.")
    flags.DEFINE_string("work_dir", os.path.join(common.SCRATCH_DIR, "r_network_quality"),
                        "Data and weights (large, not committed).")
    flags.DEFINE_string("scenario", "vizdoom_dense", "Scenario of the random-policy data.")
    flags.DEFINE_integer("data_env_steps", 100_000, "Agent steps per split.")
    flags.DEFINE_integer("num_tasks", 8, "Generator tasks per split (seeds 123 + task).")
    flags.DEFINE_integer("num_epochs", 46, "Stage 1 train_r epochs (100 batches of 64 pairs each).")
    flags.DEFINE_float("max_minutes", 60.0, "Per stage: stop train_r after the 5-epoch chunk that passes this.")
    flags.DEFINE_integer("validation_steps", 20, "Held-out batches evaluated after each epoch.")
    flags.DEFINE_integer("gap_episodes", 6, "Held-out random-policy episodes for the gap analysis.")
    flags.DEFINE_integer("more_data_env_steps", 400_000,
                         "Stage 2: agent steps per split of a larger data set (in <work_dir>_<N>k) on "
                         "which training continues from stage 1's last checkpoint; 0: no stage 2.")
    flags.DEFINE_integer("more_data_num_epochs", 90, "Stage 2 trains until this epoch (counting stage 1's).")
    flags.DEFINE_boolean("quick", False, "Smoke check: tiny data, 3 + 2 epochs of 5 batches.")


def main(argv):
    del argv
    config = flags.FLAGS
    quick = config.quick
    work_dir = config.work_dir + ("_quick" if quick else "")
    output_dir = config.output_dir + ("_quick" if quick and config.output_dir ==
                                      common.default_output_dir("r_network_quality") else "")
    os.makedirs(output_dir, exist_ok=True)
    num_tasks = 2 if quick else config.num_tasks
    # Stage 1 on `data_env_steps` of data; stage 2 (if `more_data_env_steps`) continues from
    # stage 1's last full checkpoint on a larger data set in its own folder.
    stages = [(work_dir, 1500 if quick else config.data_env_steps, 3 if quick else config.num_epochs)]
    if config.more_data_env_steps:
        more_steps = 3000 if quick else config.more_data_env_steps
        stages.append((f"{work_dir}_{more_steps // 1000}k", more_steps,
                       5 if quick else config.more_data_num_epochs))
    data_seconds, train_seconds, previous_r_dir = 0.0, 0.0, None
    for stage_dir, env_steps, num_epochs in stages:
        start = time.time()
        data_dirs = generate_data(stage_dir, config.scenario, env_steps, num_tasks)
        data_seconds += time.time() - start
        r_dir = os.path.join(stage_dir, "r_networks")
        if previous_r_dir:
            from episodic_curiosity import r_network_training
            warm_start(r_dir, r_network_training.newest_full_checkpoint(previous_r_dir))
        result = train(data_dirs, r_dir, num_epochs=num_epochs, steps_per_epoch=5 if quick else 100,
                       validation_steps=3 if quick else config.validation_steps,
                       max_minutes=config.max_minutes)
        train_seconds += result["train_seconds"]
        previous_r_dir = r_dir
    weights = common.newest_r_network(r_dir)

    metrics = {name: {step: value for step, value, _ in
                      metrics_csv.read_scalars(os.path.join(r_dir, f"{name}.csv"))}
               for name in ("loss", "acc", "val_loss", "val_acc")}
    curve_rows = [{"epoch": epoch + 1, **{name: metrics[name][epoch] for name in metrics}}
                  for epoch in sorted(metrics["acc"])]
    common.write_rows_csv(os.path.join(output_dir, "training_curve.csv"), curve_rows)

    r_net = common.load_r_network(weights)
    # Env seeds 900000+: disjoint from the generator's 123 + task (both splits).
    episodes = record_episodes(config.scenario, 2 if quick else config.gap_episodes, seed=900_000,
                               max_steps=525)
    gap_rows = gap_accuracy(r_net, episodes, pairs_per_gap=20 if quick else 200, seed=1)
    heldout = heldout_accuracy(r_net, data_dirs)
    common.write_rows_csv(os.path.join(output_dir, "gap_accuracy.csv"), gap_rows)

    positives = [r for r in gap_rows if r["label"] == 1 and r["num_pairs"]]
    negatives = [r for r in gap_rows if r["label"] == 0 and r["num_pairs"]]
    weighted = lambda rows: float(sum(r["accuracy"] * r["num_pairs"] for r in rows)
                                  / max(1, sum(r["num_pairs"] for r in rows)))
    last = curve_rows[-1]
    headline = {
        "scenario": config.scenario, "batch_size": 64,
        "stages": [{"data_env_steps_per_split": steps, "epochs_to": epochs, "work_dir": directory}
                   for directory, steps, epochs in stages],
        "epochs": result["epochs_done"],
        # of this call only (a resumed call counts only the epochs it trained)
        "train_seconds_this_call": round(train_seconds, 1),
        "data_seconds_this_call": round(data_seconds, 1),
        "network": "reduced width: " + "; ".join(common.R_NETWORK_BINDINGS),
        "final_train_acc": round(last["acc"], 4), "final_val_acc": round(last["val_acc"], 4),
        "best_val_acc": round(max(r["val_acc"] for r in curve_rows), 4),
        **heldout,
        "gap_accuracy_positive_1_to_5": round(weighted(positives), 4),
        "gap_accuracy_negative_over_25": round(weighted(negatives), 4),
        "gap_balanced_accuracy": round((weighted(positives) + weighted(negatives)) / 2, 4),
        "weights": weights, "quick": quick,
    }
    common.write_json(os.path.join(output_dir, "headline.json"), headline)
    plot(curve_rows, gap_rows, os.path.join(output_dir, "r_network_quality.png"),
         f"R-network (reduced width) on {config.scenario} random-policy data, "
         f"{result['epochs_done']} epochs: held-out acc {heldout['heldout_acc']:.3f} "
         f"({heldout['heldout_pairs']} pairs)",
         stage_ends=[epochs for _, _, epochs in stages[:-1]])
    print(headline)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
