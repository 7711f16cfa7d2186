r"""Offline R-network training (`train_r`): TFRecord pairs -> `r_network_weights.NNNNN.h5`.

Schedule (the original code): Adam 1e-4, batch 64, an "epoch" is 100 batches followed by
100 validation batches, at most 2000 epochs; `r_network_weights.NNNNN.h5` (+ `.summary.txt`)
every 30 epochs and after the last, NNNNN the 1-based epoch. Written to `--workdir`:

  * `loss.csv`, `acc.csv`, `val_loss.csv`, `val_acc.csv`: `step,<metric>,timestamp_s`, step =
    0-based epoch;
  * `r_network_full.NNNNN.h5`: weights + optimizer state, after every epoch (the newest two
    are kept). A rerun of the same command resumes from the newest one. (The original wrote
    one every 123 epochs; one per epoch loses at most one epoch to a kill.)
  * `tb/`: TensorBoard scalars; `train_r.gin` and `flags.txt`: the effective configuration;
  * `data_split.json`: the files trained on and the files held out for validation (absolute
    paths), so that a held-out measurement can use exactly the held-out files (with
    `--percent_validation_files` the split is by sorted file name, not by data split).

    python -m episodic_curiosity.train_r --input_dirs=DIR1,DIR2 --workdir=WORKDIR \
        [--num_epochs=2000] [--gin_bindings='build_embedding_network.stage_filters=(8,8,8,8)']
"""

from __future__ import annotations

if __name__ == "__main__":
    # `python -m episodic_curiosity.train_r` runs the package's copy of this module, so that gin
    # sees one set of configurables (a second copy as __main__ would make every binding
    # ambiguous once another module imports this one).
    from episodic_curiosity.train_r import run as _run

    _run()
    raise SystemExit(0)

import glob
import json
import os
from typing import Mapping, Sequence

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tensorflow as tf
import tqdm

from episodic_curiosity import atomic_files
from episodic_curiosity import cli
from episodic_curiosity import metrics_csv
from episodic_curiosity import process_control
from episodic_curiosity import provenance
from episodic_curiosity import r_network
from episodic_curiosity import r_network_training
from episodic_curiosity import r_training_data
from episodic_curiosity import seeding

_METRICS = ("loss", "acc", "val_loss", "val_acc")
DATA_SPLIT_FILE = "data_split.json"  # the files trained on and held out (absolute paths)


def find_tfrecords(input_dirs: Sequence[str]) -> list[str]:
    """All finished `*.tfrecords` files under `input_dirs` (temp files excluded), sorted."""
    files = []
    for directory in input_dirs:
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"input directory {directory!r} does not exist")
        files += [
            f for f in glob.glob(os.path.join(directory, "*.tfrecords")) if not os.path.basename(f).startswith("tmp")
        ]
    if not files:
        raise FileNotFoundError(f"no .tfrecords files in {list(input_dirs)}")
    return sorted(files)


def argument_problems(
    *,
    image_shape,
    num_epochs,
    batch_size,
    steps_per_epoch,
    validation_steps,
    percent_validation_files,
    checkpoint_every_epochs,
    keep_full_checkpoints,
    shuffle_buffer,
    learning_rate,
    seed,
) -> list[str]:
    """Every problem of train_r's arguments, as text."""
    problems = []
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else ()
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        problems.append(f"image_shape must be three positive ints (H, W, C), got {image_shape!r}")
    for name, value in (
        ("num_epochs", num_epochs),
        ("batch_size", batch_size),
        ("steps_per_epoch", steps_per_epoch),
        ("validation_steps", validation_steps),
        ("checkpoint_every_epochs", checkpoint_every_epochs),
        ("keep_full_checkpoints", keep_full_checkpoints),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"train_r.{name} must be an int >= 1, got {value!r}")
    if isinstance(shuffle_buffer, bool) or not isinstance(shuffle_buffer, int) or shuffle_buffer < 0:
        problems.append(f"train_r.shuffle_buffer must be an int >= 0 (0: no shuffling), got {shuffle_buffer!r}")
    if not isinstance(percent_validation_files, (int, float)) or not 0 <= percent_validation_files <= 100:
        problems.append(f"train_r.percent_validation_files must be in [0, 100], got {percent_validation_files!r}")
    if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        problems.append(f"train_r.learning_rate must be > 0, got {learning_rate!r}")
    try:
        seeding.check_seed(seed)
    except ValueError as error:
        problems.append(str(error))
    return problems


def _summary_text(epoch_metrics: Mapping[str, float], attributes: Mapping[str, object]) -> str:
    lines = [f"{key}: {value}" for key, value in attributes.items()]
    lines += [f"{name}: {epoch_metrics[name]}" for name in _METRICS]
    return "\n".join(lines) + "\n"


@gin.configurable(denylist=["input_dirs", "workdir", "validation_dirs"])
def train_r(
    input_dirs: Sequence[str],
    workdir: str,
    image_shape: Sequence[int] = (120, 160, 3),
    num_epochs: int = 2000,
    batch_size: int = 64,
    steps_per_epoch: int = 100,
    validation_steps: int = 100,
    percent_validation_files: int = 10,
    checkpoint_every_epochs: int = 30,
    keep_full_checkpoints: int = 2,
    shuffle_buffer: int = 100_000,
    max_input_env_steps: int = 2_500_000,
    episode_length: str = "default",
    learning_rate: float = 1e-4,
    seed: int = 0,
    attributes: Mapping[str, object] | None = None,
    show_progress: bool = True,
    validation_dirs: Sequence[str] | None = None,
    validate_only: bool = False,
) -> dict:
    """Trains an R-network on the pairs under `input_dirs`; resumes from `workdir` if possible.

    Args:
      input_dirs: list of str, folders of `*.tfrecords` (this project's or the original's).
      workdir: str, output folder (created).
      image_shape: (H, W, C), frame shape stored in the records.
      num_epochs: int, total epochs (a resumed run counts the epochs already done).
      batch_size: int, pairs per step.
      steps_per_epoch: int, training batches per epoch.
      validation_steps: int, validation batches after each epoch.
      percent_validation_files: int, share of the sorted files held out for validation
        (ignored when `validation_dirs` is given).
      checkpoint_every_epochs: int, period of `r_network_weights.NNNNN.h5`.
      keep_full_checkpoints: int, newest full checkpoints kept.
      shuffle_buffer: int, examples in the shuffle buffer.
      max_input_env_steps: int, drop pairs from episodes starting after this many env steps.
      episode_length: str, keep pairs whose `episode_length` feature equals this.
      learning_rate: float, Adam step size.
      seed: int, seeds weight initialisation and shuffling.
      attributes: mapping, scenario attributes written into each `.summary.txt`.
      show_progress: bool, a tqdm progress bar over epochs.
      validation_dirs: list of str or None, folders whose files are the validation set, all of
        them and nothing else (then `input_dirs` holds only training files).
      validate_only: bool, only check the arguments and gin settings (one ConfigError listing
        every problem) and return {}; the input files are not looked at.

    Returns:
      dict with the last epoch's metrics, the number of epochs done and the newest weights path.
    """
    cli.raise_if_problems(
        argument_problems(
            image_shape=image_shape,
            num_epochs=num_epochs,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            percent_validation_files=percent_validation_files,
            checkpoint_every_epochs=checkpoint_every_epochs,
            keep_full_checkpoints=keep_full_checkpoints,
            shuffle_buffer=shuffle_buffer,
            learning_rate=learning_rate,
            seed=seed,
        ),
        "train_r arguments",
    )
    if validate_only:
        return {}
    files = find_tfrecords(input_dirs)
    if validation_dirs:
        train_files, validation_files = files, find_tfrecords(validation_dirs)
        overlap = sorted({os.path.realpath(f) for f in train_files} & {os.path.realpath(f) for f in validation_files})
        if overlap:
            raise ValueError(
                f"{len(overlap)} files are both in input_dirs and validation_dirs, "
                f"e.g. {overlap[0]!r}: validation files must be held out"
            )
        files = train_files + validation_files
    else:
        train_files, validation_files = r_training_data.split_train_validation(files, percent_validation_files)
    for path in files:
        r_training_data.validate_tfrecord_file(path)
    os.makedirs(workdir, exist_ok=True)
    provenance.record(workdir, "train_r", seed=seed, extra={"input_dirs": [os.path.abspath(d) for d in input_dirs]})
    atomic_files.write_text(
        os.path.join(workdir, DATA_SPLIT_FILE),
        json.dumps(
            {
                "train_files": [os.path.abspath(f) for f in train_files],
                "validation_files": [os.path.abspath(f) for f in validation_files],
            },
            indent=1,
        ),
    )
    tf.keras.utils.set_random_seed(seed)
    network = r_network.RNetwork(input_shape=image_shape)
    trainer = r_network_training.PairTrainer(network, r_network_training.make_optimizer(learning_rate))

    start_epoch, resumed_metrics = 0, None
    newest = r_network_training.newest_full_checkpoint(workdir)
    if newest:
        start_epoch, saved = trainer.load_full_checkpoint(newest)
        resumed_metrics = {name: float(saved[name]) for name in _METRICS if name in saved}
        logging.info("Resuming from %s (epoch %d).", newest, start_epoch)
        # The checkpoint's optimizer state includes its step size; this call's one applies.
        saved_learning_rate = float(trainer.optimizer.learning_rate)
        if not np.isclose(saved_learning_rate, learning_rate, rtol=1e-6, atol=0.0):
            logging.info("Learning rate %g from here on (the checkpoint's: %g).", learning_rate, saved_learning_rate)
        trainer.optimizer.learning_rate = learning_rate
        # If the kill came between the checkpoint and the CSV rows, add the missing rows.
        for name in _METRICS:
            path = os.path.join(workdir, f"{name}.csv")
            last = metrics_csv.last_step(path)
            if name in resumed_metrics and (last is None or last < start_epoch - 1):
                metrics_csv.append_scalar(path, name, start_epoch - 1, resumed_metrics[name])

    attributes = dict(attributes or {})
    attributes.setdefault("episode_length", episode_length)
    attributes.setdefault("max_input_env_steps", max_input_env_steps)
    dataset_options = dict(
        batch_size=batch_size,
        image_shape=tuple(image_shape),
        shuffle_buffer=shuffle_buffer,
        repeat=True,
        max_input_env_steps=max_input_env_steps,
        episode_length=episode_length,
    )
    # A resumed run neither replays the same batches (a different shuffle seed per (re)start)
    # nor rereads the files from their beginnings: it goes on from about where the epochs
    # done so far had got. (After a warm start from a run on other files, this is merely
    # some rotation of the files.) A run with nothing left to do builds no pipeline: an
    # iterator starts reading (skipping, filling the shuffle buffer) as soon as it exists.
    if start_epoch < num_epochs:
        train_batches = iter(
            r_training_data.make_pair_dataset(
                train_files,
                seed=seed * 1_000_003 + start_epoch,
                records_already_read=start_epoch * steps_per_epoch * batch_size,
                **dataset_options,
            )
        )
        validation_batches = iter(
            r_training_data.make_pair_dataset(
                validation_files,
                seed=seed * 1_000_003 + start_epoch + 1,
                records_already_read=start_epoch * validation_steps * batch_size,
                **dataset_options,
            )
        )
    summary_writer = tf.summary.create_file_writer(os.path.join(workdir, "tb"))

    epoch_metrics = resumed_metrics or {}
    newest_weights = None
    bar = tqdm.tqdm(
        total=num_epochs,
        initial=min(start_epoch, num_epochs),
        unit="epoch",
        desc="train_r",
        disable=not show_progress,
        dynamic_ncols=True,
    )
    for epoch in range(start_epoch, num_epochs):
        train_metrics = trainer.train(train_batches, steps_per_epoch)
        validation_metrics = trainer.evaluate(validation_batches, validation_steps)
        epoch_metrics = {
            "loss": train_metrics.loss,
            "acc": train_metrics.accuracy,
            "val_loss": validation_metrics.loss,
            "val_acc": validation_metrics.accuracy,
        }
        done = epoch + 1
        # The weights file first: a kill between the two writes then redoes this epoch on resume
        # (from the previous full checkpoint) instead of skipping its weights file for good.
        if done % checkpoint_every_epochs == 0 or done == num_epochs:
            newest_weights = os.path.join(workdir, r_network_training.weights_checkpoint_name(done))
            network.save_weights(newest_weights)
            atomic_files.write_text(
                newest_weights[: -len(".h5")] + ".summary.txt", _summary_text(epoch_metrics, attributes)
            )
        trainer.save_full_checkpoint(
            os.path.join(workdir, r_network_training.full_checkpoint_name(done)), done, epoch_metrics
        )
        _prune_full_checkpoints(workdir, keep_full_checkpoints)
        for name, value in epoch_metrics.items():
            metrics_csv.append_scalar(os.path.join(workdir, f"{name}.csv"), name, epoch, value)
        with summary_writer.as_default(step=epoch):
            for name, value in epoch_metrics.items():
                tf.summary.scalar(f"r_network/{name}", value)
        logging.info("epoch %d/%d: %s", done, num_epochs, ", ".join(f"{k}={v:.4f}" for k, v in epoch_metrics.items()))
        bar.update(1)
        bar.set_postfix(loss=f"{epoch_metrics['loss']:.3f}", val_acc=f"{epoch_metrics['val_acc']:.3f}")
    bar.close()
    summary_writer.flush()
    return {"epochs_done": max(start_epoch, num_epochs), "metrics": epoch_metrics, "newest_weights": newest_weights}


def _prune_full_checkpoints(workdir: str, keep: int) -> None:
    names = sorted(n for n in os.listdir(workdir) if r_network_training.is_full_checkpoint_name(n))
    for name in names[:-keep] if keep > 0 else []:
        os.remove(os.path.join(workdir, name))


def _define_flags() -> None:
    """Defines the entry point's flags (only when run as a program, so that other entry points
    can import this module next to their own flags of the same names)."""
    flags.DEFINE_list("input_dirs", None, "Folders holding *.tfrecords pair files.")
    flags.DEFINE_string("workdir", None, "Output folder for weights, CSVs and TensorBoard.")
    flags.DEFINE_list(
        "image_shape", None, "H,W,C of the stored frames (default: gin's train_r.image_shape, else 120,160,3)."
    )
    flags.DEFINE_integer(
        "num_epochs", None, "Total epochs of 100 batches (default: gin's train_r.num_epochs, else 2000)."
    )
    flags.DEFINE_integer(
        "percent_validation_files",
        None,
        "Share of sorted files used for validation (default: gin's train_r.percent_validation_files, else 10).",
    )
    flags.DEFINE_list(
        "validation_dirs",
        None,
        "Folders of held-out *.tfrecords; if given, --input_dirs are all training "
        "files and --percent_validation_files is ignored.",
    )
    flags.DEFINE_integer(
        "seed", None, "Seeds the R-network's initial weights and the shuffling (default: gin's train_r.seed, else 0)."
    )
    flags.DEFINE_multi_string("gin_config", [], "Gin config files.")
    flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'train_r.batch_size=8'.")


def main(argv):
    del argv
    config = flags.FLAGS
    if not config.input_dirs or not config.workdir:
        raise app.UsageError("--input_dirs and --workdir are required")
    process_control.install_stop_handlers()
    from episodic_curiosity import configurables  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import

    cli.parse_gin(config.gin_config, config.gin_bindings)
    # A flag overrides gin only when given (cli.given_flags).
    arguments = cli.given_flags(config, ("num_epochs", "percent_validation_files", "validation_dirs", "seed"))
    if config["image_shape"].present:
        try:
            arguments["image_shape"] = tuple(int(d) for d in config.image_shape)
        except ValueError:
            raise cli.ConfigError([f"--image_shape must be three ints H,W,C, got {config.image_shape}"]) from None
    train_r(config.input_dirs, config.workdir, validate_only=True, **arguments)
    os.makedirs(config.workdir, exist_ok=True)
    logging.info("Gin config:\n%s", gin.config_str())
    atomic_files.write_text(os.path.join(config.workdir, "flags.txt"), config.flags_into_string())
    result = train_r(config.input_dirs, config.workdir, **arguments)
    atomic_files.write_text(os.path.join(config.workdir, "train_r.gin"), gin.operative_config_str())
    print(f"epochs done: {result['epochs_done']}; newest weights: {result['newest_weights']}")


def run() -> None:
    """Console script `ec-train-r`."""
    cli.run(main, define_flags=_define_flags)


if __name__ == "__main__":
    run()
