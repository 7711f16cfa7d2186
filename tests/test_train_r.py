"""train_r: learns on a small generated set, writes the original's files, resumes after a kill."""

import os
import subprocess
import sys

import numpy as np
import pytest

from episodic_curiosity import metrics_csv
from episodic_curiosity import r_network
from episodic_curiosity import r_network_training

import process_helpers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (24, 32, 3)
TINY_BINDINGS = [
    "build_embedding_network.stage_filters=(4, 8, 8, 8)",
    "build_embedding_network.embedding_size=16",
    "build_comparator_network.hidden_units=16",
    "train_r.batch_size=16",
    "train_r.steps_per_epoch=8",
    "train_r.validation_steps=2",
    "train_r.shuffle_buffer=500",
    "train_r.checkpoint_every_epochs=3",
    "train_r.learning_rate=1e-3",
]


def _in_process_options(**overrides):
    """train_r's keyword arguments for a tiny in-process run (the tests' shared defaults)."""
    defaults = dict(
        image_shape=SHAPE,
        batch_size=4,
        steps_per_epoch=2,
        validation_steps=1,
        percent_validation_files=50,
        shuffle_buffer=0,
        show_progress=False,
    )
    return {**defaults, **overrides}


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory):
    from episodic_curiosity import generate_r_training_data  # pylint: disable=g-import-not-at-top

    root = tmp_path_factory.mktemp("pairs")
    for split in ("R_TRAINING", "VALIDATION"):
        generate_r_training_data.generate_r_training_data(
            str(root / split),
            scenario="fake",
            total_env_steps=1200,
            num_tasks=2,
            num_workers=1,
            split=split,
            num_examples_per_shard=60,
            env_kwargs={"episode_length": 100, "observation_shape": SHAPE, "grid_size": 10},
            show_progress=False,
        )
    return [str(root / "R_TRAINING"), str(root / "VALIDATION")]


def _command(input_dirs, workdir, num_epochs):
    return [
        sys.executable,
        "-m",
        "episodic_curiosity.train_r",
        f"--input_dirs={','.join(input_dirs)}",
        f"--workdir={workdir}",
        f"--num_epochs={num_epochs}",
        "--image_shape=24,32,3",
        "--percent_validation_files=50",
    ] + [f"--gin_bindings={b}" for b in TINY_BINDINGS]


def _run(input_dirs, workdir, num_epochs):
    result = subprocess.run(
        _command(input_dirs, workdir, num_epochs),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_train_r_learns_and_writes_the_original_files(pair_data, tmp_path):
    workdir = tmp_path / "r_net"
    _run(pair_data, workdir, num_epochs=6)
    names = set(os.listdir(workdir))
    assert {"loss.csv", "acc.csv", "val_loss.csv", "val_acc.csv", "flags.txt", "train_r.gin", "tb"} <= names
    assert {
        "r_network_weights.00003.h5",
        "r_network_weights.00006.h5",
        "r_network_weights.00003.summary.txt",
        "r_network_weights.00006.summary.txt",
    } <= names
    assert sorted(n for n in names if n.startswith("r_network_full")) == [
        "r_network_full.00005.h5",
        "r_network_full.00006.h5",
    ]
    assert not [n for n in names if n.endswith(".tmp")]
    with open(workdir / "loss.csv") as f:
        assert f.readline().strip() == "step,loss,timestamp_s"
    losses = [v for _, v, _ in metrics_csv.read_scalars(str(workdir / "loss.csv"))]
    assert [s for s, _, _ in metrics_csv.read_scalars(str(workdir / "val_acc.csv"))] == list(range(6))
    assert np.mean(losses[-2:]) < losses[0]
    summary = (workdir / "r_network_weights.00006.summary.txt").read_text()
    for key in ("episode_length: default", "max_input_env_steps:", "loss:", "acc:", "val_loss:", "val_acc:"):
        assert key in summary
    # The weights file loads into an RNetwork of the same (tiny) configuration.
    import gin  # pylint: disable=g-import-not-at-top

    gin.clear_config()
    gin.parse_config(TINY_BINDINGS[:3])
    try:
        network = r_network.RNetwork(input_shape=SHAPE, weights_path=str(workdir / "r_network_weights.00006.h5"))
        assert network.embed(np.zeros((2, *SHAPE), np.uint8)).shape == (2, 16)
    finally:
        gin.clear_config()


def test_train_r_resumes_after_being_killed(pair_data, tmp_path):
    workdir = tmp_path / "r_net"
    process_helpers.run_until_file_then_kill(
        _command(pair_data, workdir, num_epochs=40), workdir / "r_network_full.00002.h5", REPO_ROOT
    )
    before = metrics_csv.read_scalars(str(workdir / "loss.csv"))
    killed_at = max(int(n.split(".")[1]) for n in os.listdir(workdir) if n.startswith("r_network_full"))
    assert 2 <= killed_at < 40
    _run(pair_data, workdir, num_epochs=killed_at + 2)
    after = metrics_csv.read_scalars(str(workdir / "loss.csv"))
    assert [s for s, _, _ in after] == list(range(killed_at + 2))  # no gap, no repeat
    assert after[: len(before)] == before[: len(after)]  # earlier rows untouched
    assert f"r_network_full.{killed_at + 2:05d}.h5" in os.listdir(workdir)


def test_resumed_train_r_goes_on_through_the_files(pair_data, tmp_path, monkeypatch, clean_gin):
    """A restarted run starts each file where the earlier epochs left it, not at its beginning."""
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import r_training_data  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    gin.parse_config(TINY_BINDINGS[:3])
    calls = []
    make_pair_dataset = r_training_data.make_pair_dataset

    def recording(files, **kwargs):
        calls.append(kwargs["records_already_read"])
        return make_pair_dataset(files, **kwargs)

    monkeypatch.setattr(r_training_data, "make_pair_dataset", recording)
    options = _in_process_options(steps_per_epoch=3, validation_steps=2)
    workdir = str(tmp_path / "r_net")
    train_r.train_r(pair_data, workdir, num_epochs=2, **options)
    assert calls == [0, 0]
    calls.clear()
    train_r.train_r(pair_data, workdir, num_epochs=3, **options)
    # 2 epochs done: 2 * 3 batches of 4 training pairs, 2 * 2 batches of 4 validation pairs.
    assert calls == [24, 16]
    calls.clear()
    assert train_r.train_r(pair_data, workdir, num_epochs=3, **options)["epochs_done"] == 3
    assert calls == []  # nothing left to train: no input pipeline


def test_resumed_train_r_uses_the_learning_rate_it_is_given(pair_data, tmp_path, clean_gin):
    """The full checkpoint stores Adam's step size with its state; a resumed call's own applies."""
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    gin.parse_config(TINY_BINDINGS[:3])
    options = _in_process_options()
    workdir = str(tmp_path / "r_net")

    def saved_learning_rate(epoch):
        trainer = r_network_training.PairTrainer(
            r_network.RNetwork(input_shape=SHAPE), r_network_training.make_optimizer(0.5)
        )
        trainer.load_full_checkpoint(os.path.join(workdir, r_network_training.full_checkpoint_name(epoch)))
        return float(trainer.optimizer.learning_rate)

    train_r.train_r(pair_data, workdir, num_epochs=1, learning_rate=1e-3, **options)
    np.testing.assert_allclose(saved_learning_rate(1), 1e-3, rtol=1e-6)
    train_r.train_r(pair_data, workdir, num_epochs=2, learning_rate=1e-5, **options)
    np.testing.assert_allclose(saved_learning_rate(2), 1e-5, rtol=1e-6)


def test_resume_from_a_full_checkpoint_of_another_architecture_is_refused(pair_data, tmp_path, clean_gin):
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    gin.parse_config(
        [
            "build_embedding_network.stage_filters=(4, 4, 4, 4)",
            "build_embedding_network.embedding_size=8",
            "build_comparator_network.hidden_units=8",
        ]
    )
    workdir = tmp_path / "r_net"
    workdir.mkdir()
    checkpoint = workdir / r_network_training.full_checkpoint_name(1)
    r_network_training.PairTrainer(r_network.RNetwork(input_shape=SHAPE)).save_full_checkpoint(str(checkpoint), 1)
    gin.clear_config()
    gin.parse_config(TINY_BINDINGS[:3])
    with pytest.raises(r_network.CheckpointError) as error:
        train_r.train_r(
            pair_data, str(workdir), num_epochs=2, **_in_process_options(steps_per_epoch=1, shuffle_buffer=1)
        )
    message = str(error.value)
    assert "r_network_full.00001.h5" in message and "cannot resume" in message
    assert "stage filters (4, 4, 4, 4)" in message and "stage filters (4, 8, 8, 8)" in message
    assert "--gin_bindings='build_embedding_network.stage_filters=(4, 4, 4, 4)'" in message
    assert not (workdir / "loss.csv").exists()


def test_explicit_validation_dirs(pair_data, tmp_path, monkeypatch, clean_gin):
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import r_training_data  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    gin.parse_config(TINY_BINDINGS[:3])
    held_out, training = pair_data
    calls = []
    make_pair_dataset = r_training_data.make_pair_dataset

    def recording(files, **kwargs):
        calls.append(sorted(files))
        return make_pair_dataset(files, **kwargs)

    monkeypatch.setattr(r_training_data, "make_pair_dataset", recording)
    options = _in_process_options(percent_validation_files=90)
    result = train_r.train_r([training], str(tmp_path / "r_net"), num_epochs=1, validation_dirs=[held_out], **options)
    assert result["epochs_done"] == 1
    assert calls == [train_r.find_tfrecords([training]), train_r.find_tfrecords([held_out])]
    with pytest.raises(ValueError, match="both in input_dirs and validation_dirs"):
        train_r.train_r(
            pair_data, str(tmp_path / "r_net2"), num_epochs=1, validation_dirs=[os.path.join(held_out, ".")], **options
        )
    assert not (tmp_path / "r_net2").exists()


def test_corrupt_full_checkpoint_is_reported_and_kept(pair_data, tmp_path):
    workdir = tmp_path / "r_net"
    workdir.mkdir()
    corrupt = workdir / r_network_training.full_checkpoint_name(3)
    corrupt.write_bytes(b"garbage")
    result = subprocess.run(
        _command(pair_data, workdir, num_epochs=4),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 2  # one "error: ..." line naming the file, no traceback
    assert "r_network_full.00003.h5" in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.stderr
    assert corrupt.read_bytes() == b"garbage"
    assert not (workdir / "loss.csv").exists()


def test_missing_inputs_are_reported(tmp_path):
    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_r.find_tfrecords([str(tmp_path / "nope")])
    with pytest.raises(FileNotFoundError, match="no .tfrecords"):
        train_r.find_tfrecords([str(tmp_path)])


ORIGINAL_DATA = os.path.join(REPO_ROOT, "..", "shared", "fixtures", "original_r_training_data")


@pytest.mark.skipif(not os.path.isdir(ORIGINAL_DATA), reason="../shared fixtures absent")
def test_train_r_reads_the_originals_tfrecords(tmp_path):
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    gin.clear_config()
    gin.parse_config(TINY_BINDINGS[:3])
    try:
        result = train_r.train_r(
            [ORIGINAL_DATA],
            str(tmp_path / "r_net"),
            num_epochs=1,
            batch_size=4,
            steps_per_epoch=2,
            validation_steps=1,
            percent_validation_files=34,
            shuffle_buffer=50,
            checkpoint_every_epochs=1,
        )
    finally:
        gin.clear_config()
    assert result["epochs_done"] == 1
    assert os.path.basename(result["newest_weights"]) == "r_network_weights.00001.h5"
    assert set(result["metrics"]) == {"loss", "acc", "val_loss", "val_acc"}
    assert np.isfinite(list(result["metrics"].values())).all()


def test_kill_right_after_the_last_full_checkpoint_keeps_the_last_weights(pair_data, tmp_path, monkeypatch, clean_gin):
    """A kill just after the last epoch's full checkpoint must not lose that epoch's weights
    file: a rerun finds every epoch done and trains nothing, so the file must already exist."""
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import train_r  # pylint: disable=g-import-not-at-top

    gin.parse_config(TINY_BINDINGS[:3])
    options = _in_process_options(checkpoint_every_epochs=5)
    save_full_checkpoint = r_network_training.PairTrainer.save_full_checkpoint

    def save_then_die(self, path, epochs_done, metrics):
        save_full_checkpoint(self, path, epochs_done, metrics)
        if epochs_done == 2:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(r_network_training.PairTrainer, "save_full_checkpoint", save_then_die)
    workdir = tmp_path / "r_net"
    with pytest.raises(KeyboardInterrupt):
        train_r.train_r(pair_data, str(workdir), num_epochs=2, **options)
    monkeypatch.setattr(r_network_training.PairTrainer, "save_full_checkpoint", save_full_checkpoint)
    train_r.train_r(pair_data, str(workdir), num_epochs=2, **options)
    assert "r_network_weights.00002.h5" in os.listdir(workdir)
    # The split it used is recorded: the first half of the sorted files held out.
    import json  # pylint: disable=g-import-not-at-top

    split = json.loads((workdir / train_r.DATA_SPLIT_FILE).read_text())
    files = [os.path.abspath(f) for f in train_r.find_tfrecords(pair_data)]
    assert split["validation_files"] + split["train_files"] == files
    assert split["validation_files"] and split["train_files"]
