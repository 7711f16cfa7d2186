r"""The laptop-scale R-network (issue #20): held-out accuracy, and shipping it as `pretrained:vizdoom`.

The network is trained by the launcher's own R-network stages at `--scale=laptop`
(`configs/scale_laptop.gin`: data generation for the R_TRAINING and R_VALIDATION splits, then
`train_r`, which holds out the first half of the sorted files, i.e. the R_TRAINING-seed
episodes):

    python -c "from episodic_curiosity import launcher; \
        launcher.train_r_network_only('<workdir>/laptop_rnet_dense', 'vizdoom_dense', scale='laptop')"

This script then measures the newest weights of that job, on data the network never trained on:

  * `heldout_acc*`: every pair of the held-out files (episodes of env seeds it never saw),
    reachable (label 1, 1..5 steps apart) and not reachable (label 0, > 25 steps apart) apart;
  * `gap_accuracy.csv`: fresh random-policy episodes (env seeds 900000 + i, used nowhere else),
    frames paired at known step gaps 1..200, as `r_network_quality.py` (experiment 1) does.

    python experiments/laptop_r_network.py --job_dir=<workdir>/laptop_rnet_dense \
        [--output_dir=experiments/results/laptop_r_network] [--ship]

`--ship` copies the weights into the package (`episodic_curiosity/pretrained/vizdoom/`) with
`card.json` (how it was trained and what it measured), loadable as `pretrained:vizdoom`.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

from absl import app
from absl import flags
from absl import logging
import numpy as np

from episodic_curiosity import atomic_files  # noqa: E402
from episodic_curiosity import launcher  # noqa: E402
from episodic_curiosity import metrics_csv  # noqa: E402
from episodic_curiosity import pretrained  # noqa: E402
from episodic_curiosity import provenance  # noqa: E402
from episodic_curiosity import r_network  # noqa: E402

import common  # noqa: F401  (puts the repository on sys.path)
import r_network_quality  # noqa: E402

GAP_SEED = 900_000


def heldout_files(job_dir: str) -> list[str]:
    """The R_TRAINING files that train_r held out. train_r's 50 % rule holds out the first half
    of the sorted files, which is exactly the R_TRAINING split only when both splits wrote as
    many files; its `data_split.json` says which files it held out, and any R_TRAINING file it
    trained on is left out here (logged). A job whose train_r predates that record: every
    R_TRAINING file, with a warning."""
    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    r_training = train_r.find_tfrecords([os.path.join(job_dir, "r_training_data", "R_TRAINING")])
    record = os.path.join(job_dir, "r_networks", train_r.DATA_SPLIT_FILE)
    if not os.path.exists(record):
        logging.warning("%s is missing: taking every R_TRAINING file as held out (unchecked)", record)
        return r_training
    with open(record) as handle:
        held_out = {os.path.realpath(path) for path in json.load(handle)["validation_files"]}
    files = [path for path in r_training if os.path.realpath(path) in held_out]
    if len(files) < len(r_training):
        logging.warning(
            "%d of the %d R_TRAINING files were trained on (the splits wrote unequal file counts); "
            "measuring the %d held out",
            len(r_training) - len(files),
            len(r_training),
            len(files),
        )
    if not files:
        raise ValueError(f"train_r held out none of the R_TRAINING files ({record}): nothing to measure")
    return files


def measure(
    job_dir: str, gap_episodes: int, pairs_per_gap: int, max_files: int, scenario: str = "vizdoom_dense"
) -> tuple[dict, list[dict], str]:
    weights = launcher.newest_r_network(os.path.join(job_dir, "r_networks"))
    r_net = r_network.RNetwork(weights_path=weights)
    heldout = r_network_quality.heldout_accuracy(r_net, None, max_files, files=heldout_files(job_dir))
    episodes, _ = r_network_quality.record_episodes(scenario, gap_episodes, GAP_SEED, max_steps=600)
    embeddings = [np.concatenate([r_net.embed(e[i : i + 256]) for i in range(0, len(e), 256)]) for e in episodes]
    gaps = r_network_quality.gap_accuracy(r_net, embeddings, pairs_per_gap, seed=GAP_SEED)
    positives = [row["accuracy"] for row in gaps if row["label"] == 1]
    negatives = [row["accuracy"] for row in gaps if row["label"] == 0]
    curve_path = os.path.join(job_dir, "r_networks", "val_acc.csv")
    curve = metrics_csv.read_scalars(curve_path) if os.path.exists(curve_path) else []
    headline = {
        "weights": os.path.basename(weights),
        "weights_bytes": os.path.getsize(weights),
        "architecture": r_network.describe_architecture(r_net.architecture),
        **heldout,
        "gap_accuracy_positive_1_to_5": round(float(np.mean(positives)), 4),
        "gap_accuracy_negative_over_25": round(float(np.mean(negatives)), 4),
        "gap_episodes": gap_episodes,
        "gap_env_seed": GAP_SEED,
        "epochs": int(os.path.basename(weights).split(".")[1]),
        "last_val_acc": round(float(curve[-1][1]), 4) if curve else None,
    }
    return headline, gaps, weights


def ship(weights: str, headline: dict, job_dir: str, name: str = "vizdoom") -> str:
    folder = os.path.join(pretrained.MODELS_DIR, name)
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, "*.h5")):
        if os.path.basename(old) != os.path.basename(weights):
            os.remove(old)
    shutil.copyfile(weights, os.path.join(folder, os.path.basename(weights)))
    job = (provenance.read(job_dir).get("r_network_job") or [{}])[0]
    settings = launcher.SCALE_SETTINGS["laptop"]
    card = {
        "name": pretrained.PREFIX + name,
        "kind": "r_network",
        "weights": os.path.basename(weights),
        "what": "laptop-scale R-network for VizDoom MyWayHome (configs/scale_laptop.gin): " + headline["architecture"],
        "trained_on": f"uniform-random-policy vizdoom_dense episodes, {settings.data_env_steps} agent steps "
        "per split (R_TRAINING, R_VALIDATION); trained on the R_VALIDATION files, the "
        "R_TRAINING ones held out",
        "command": 'python -c "from episodic_curiosity import launcher; launcher.train_r_network_only('
        "'<workdir>/laptop_rnet_dense', 'vizdoom_dense', scale='laptop', seed=0)\"",
        "epochs": headline["epochs"],
        "seed": job.get("seed", 0),
        "commit": (job.get("git") or {}).get("commit"),
        "commit_dirty": (job.get("git") or {}).get("dirty"),
        "measured": {
            key: headline[key]
            for key in (
                "heldout_acc",
                "heldout_acc_reachable",
                "heldout_acc_not_reachable",
                "heldout_pairs",
                "gap_accuracy_positive_1_to_5",
                "gap_accuracy_negative_over_25",
            )
        },
        "measured_by": "python experiments/laptop_r_network.py --job_dir=<workdir>/laptop_rnet_dense",
        "size_bytes": os.path.getsize(weights),
    }
    atomic_files.write_json(os.path.join(folder, pretrained.CARD_FILE), card)
    return folder


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    config = flags.FLAGS
    headline, gaps, weights = measure(
        config.job_dir, config.gap_episodes, config.pairs_per_gap, config.max_heldout_files
    )
    os.makedirs(config.output_dir, exist_ok=True)
    with open(os.path.join(config.output_dir, "gap_accuracy.csv"), "w") as handle:
        handle.write("gap,label,num_pairs,mean_p_reachable,accuracy\n")
        for row in gaps:
            handle.write(
                f"{row['gap']},{row['label']},{row['num_pairs']},{row['mean_p_reachable']:.4f},{row['accuracy']:.4f}\n"
            )
    for name in ("val_acc.csv", "acc.csv", "val_loss.csv", "loss.csv"):
        source = os.path.join(config.job_dir, "r_networks", name)
        if os.path.exists(source):
            shutil.copyfile(source, os.path.join(config.output_dir, name))
    atomic_files.write_json(os.path.join(config.output_dir, "headline.json"), headline)
    print(json.dumps(headline, indent=1))
    if config.ship:
        print("shipped:", ship(weights, headline, config.job_dir))


if __name__ == "__main__":
    flags.DEFINE_string("job_dir", None, "Folder of the launcher's R-network job (laptop scale).")
    flags.DEFINE_string("output_dir", common.default_output_dir("laptop_r_network"), "Small results.")
    flags.DEFINE_integer("gap_episodes", 6, "Fresh random-policy episodes for the gap analysis.")
    flags.DEFINE_integer("pairs_per_gap", 200, "Pairs per gap and episode.")
    flags.DEFINE_integer(
        "max_heldout_files", 25, "Held-out TFRecord files evaluated (evenly spread; 4,000 pairs each)."
    )
    flags.DEFINE_boolean("ship", False, "Copy the weights and a card into episodic_curiosity/pretrained/vizdoom/.")
    flags.mark_flag_as_required("job_dir")
    app.run(main)
