"""Append-only scalar CSVs in the original's `step,<name>,timestamp_s` format."""

import os

import pytest

from episodic_curiosity import metrics_csv

FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "..",
    "shared",
    "fixtures",
    "original_workdirs",
    "train_r",
    "loss.csv",
)


def test_append_writes_header_once_and_appends(tmp_path):
    path = str(tmp_path / "loss.csv")
    metrics_csv.append_scalar(path, "loss", 0, 1.5, timestamp=100)
    metrics_csv.append_scalar(path, "loss", 1, 0.25, timestamp=200.7)
    with open(path) as f:
        assert f.read() == "step,loss,timestamp_s\n0,1.5,100\n1,0.25,200\n"
    assert metrics_csv.read_scalars(path) == [(0, 1.5, 100), (1, 0.25, 200)]
    assert metrics_csv.last_step(path) == 1
    assert metrics_csv.last_step(str(tmp_path / "missing.csv")) is None


def test_rejects_other_csvs(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a scalar CSV"):
        metrics_csv.read_scalars(str(path))


@pytest.mark.skipif(not os.path.exists(FIXTURE), reason="../shared fixtures absent")
def test_reads_the_originals_csv():
    rows = metrics_csv.read_scalars(FIXTURE)
    assert [r[0] for r in rows] == [0, 1]
    assert rows[0][1] == pytest.approx(1.6202755570411682)


# A kill or a full disk can leave the last row cut anywhere: these are the ways it can end.
TORN_TAILS = ["1", "13", "130", "130,", "130,0.7", "130,0.75,", "130,0.75,12", "130,nan_x,1\n", "130\n", "130,0.75\n"]
INTACT = "step,reward_train,timestamp_s\n0,1.5,100\n64,2.0,110\n"


@pytest.mark.parametrize("tail", TORN_TAILS)
def test_a_torn_last_row_is_skipped_with_a_warning(tmp_path, caplog, tail):
    path = tmp_path / "reward_train.csv"
    path.write_text(INTACT + tail)
    with caplog.at_level("WARNING"):
        assert metrics_csv.read_scalars(str(path)) == [(0, 1.5, 100), (64, 2.0, 110)]
        assert metrics_csv.last_step(str(path)) == 64
    assert str(path) in caplog.text and "line 4" in caplog.text


@pytest.mark.parametrize("tail", TORN_TAILS)
def test_an_append_after_a_torn_row_leaves_a_well_formed_file(tmp_path, caplog, tail):
    path = tmp_path / "reward_train.csv"
    path.write_text(INTACT + tail)
    with caplog.at_level("WARNING"):
        metrics_csv.append_scalar(str(path), "reward_train", 128, 3.0, timestamp=120)
    assert path.read_text() == INTACT + "128,3.0,120\n"  # the partial row is truncated away
    assert str(path) in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert metrics_csv.read_scalars(str(path)) == [(0, 1.5, 100), (64, 2.0, 110), (128, 3.0, 120)]
    assert not caplog.text


def test_a_torn_header_restarts_the_file(tmp_path, caplog):
    path = tmp_path / "loss.csv"
    path.write_text("step,lo")
    with caplog.at_level("WARNING"):
        assert metrics_csv.read_scalars(str(path)) == []
        metrics_csv.append_scalar(str(path), "loss", 0, 1.5, timestamp=100)
    assert path.read_text() == "step,loss,timestamp_s\n0,1.5,100\n"
    assert str(path) in caplog.text


def test_a_malformed_row_before_the_last_names_the_file_and_line(tmp_path):
    path = tmp_path / "reward_train.csv"
    path.write_text("step,reward_train,timestamp_s\n0,1.5,100\n64,2.0\n128,3.0,120\n")
    with pytest.raises(ValueError, match=r"reward_train\.csv.*line 3"):
        metrics_csv.read_scalars(str(path))
    with pytest.raises(ValueError, match=r"reward_train\.csv.*line 3"):
        metrics_csv.last_step(str(path))


def test_an_intact_file_logs_nothing_and_blank_lines_are_ignored(tmp_path, caplog):
    path = tmp_path / "loss.csv"
    path.write_text("step,loss,timestamp_s\n0,1.5,100\n\n1,nan,200\n")
    with caplog.at_level("WARNING"):
        rows = metrics_csv.read_scalars(str(path))
        metrics_csv.append_scalar(str(path), "loss", 2, 0.5, timestamp=300)
    assert [r[0] for r in rows] == [0, 1]
    assert path.read_text() == "step,loss,timestamp_s\n0,1.5,100\n\n1,nan,200\n2,0.5,300\n"
    assert not caplog.text
