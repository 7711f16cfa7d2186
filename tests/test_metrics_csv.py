"""Append-only scalar CSVs in the original's `step,<name>,timestamp_s` format."""

import os

import pytest

from episodic_curiosity import metrics_csv

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared",
                       "fixtures", "original_workdirs", "train_r", "loss.csv")


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
