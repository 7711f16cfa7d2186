"""PPO2-style `progress.csv` / `log.txt` after a run was killed mid-write."""

import numpy as np
import pytest

from episodic_curiosity import progress_log

HEADER = "eprewmean,nupdates,total_timesteps\n"
INTACT = HEADER + "0.5,1,64\n1.5,2,128\n"


def _record(update):
    return {"eprewmean": 2.5, "nupdates": update, "total_timesteps": 64 * update}


@pytest.mark.parametrize("tail", ["2", "2.5,", "2.5,3", "2.5,3,", "2.5,3,19", "2.5,3\n"])
def test_a_torn_last_row_is_skipped_and_the_next_write_truncates_it(tmp_path, caplog, tail):
    csv_path = tmp_path / "progress.csv"
    csv_path.write_text(INTACT + tail)
    (tmp_path / "log.txt").write_text("-----\n| nupdates | 2 |\n-----\n| eprewm")
    with caplog.at_level("WARNING"):
        log = progress_log.ProgressLog(str(tmp_path))
        assert log.last_logged() == 2
        assert str(csv_path) in caplog.text
        text = log.write(_record(3))
    assert csv_path.read_text() == INTACT + "2.5,3,192\n"
    assert (tmp_path / "log.txt").read_text() == "-----\n| nupdates | 2 |\n-----\n" + text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert progress_log.ProgressLog(str(tmp_path)).last_logged() == 3
    assert not caplog.text


def test_a_torn_header_is_a_new_log(tmp_path, caplog):
    csv_path = tmp_path / "progress.csv"
    csv_path.write_text("eprewmean,nupd")
    with caplog.at_level("WARNING"):
        log = progress_log.ProgressLog(str(tmp_path))
        assert log.last_logged() is None
        log.write(_record(1))
    assert csv_path.read_text() == HEADER + "2.5,1,64\n"
    assert str(csv_path) in caplog.text


def test_a_malformed_row_before_the_last_names_the_file_and_line(tmp_path):
    (tmp_path / "progress.csv").write_text(HEADER + "0.5,1,64\n1.5,2\n2.5,3,192\n")
    with pytest.raises(ValueError, match=r"progress\.csv.*line 3"):
        progress_log.ProgressLog(str(tmp_path)).last_logged()


def test_new_and_intact_logs(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        log = progress_log.ProgressLog(str(tmp_path))
        assert log.last_logged() is None
        log.write(_record(1))
        log.write(_record(2))
        assert progress_log.ProgressLog(str(tmp_path)).last_logged() == 2
    assert (tmp_path / "progress.csv").read_text() == HEADER + "2.5,1,64\n2.5,2,128\n"
    assert not caplog.text


def test_a_resumed_log_keeps_its_columns(tmp_path, caplog):
    """A run resumed by a version that logs other keys keeps the file's header: new keys are
    left out (one warning), keys it no longer logs are written as nan."""
    log = progress_log.ProgressLog(str(tmp_path))
    log.write(_record(1))
    resumed = progress_log.ProgressLog(str(tmp_path))
    with caplog.at_level("WARNING"):
        resumed.write({"nupdates": 2, "total_timesteps": 128, "new_key": 7.0})
        resumed.write({"nupdates": 3, "total_timesteps": 192, "new_key": 8.0})
    assert caplog.text.count("keeps the columns") == 1 and "new_key" in caplog.text
    lines = (tmp_path / "progress.csv").read_text().splitlines()
    assert lines[0] == HEADER.strip() and lines[2:] == ["nan,2,128", "nan,3,192"]
    assert progress_log.ProgressLog(str(tmp_path)).last_logged() == 3


def test_read_columns_gives_float_columns_of_the_complete_rows(tmp_path):
    log = progress_log.ProgressLog(str(tmp_path), "diagnostics.csv", text_name=None)
    for update in (1, 2):
        log.write({"nupdates": update, "total_timesteps": 100 * update, "bonus": float("nan") if update == 1 else 0.5})
    with open(tmp_path / "diagnostics.csv", "a") as handle:
        handle.write("0.7,3")  # cut by a kill mid-write: skipped
    columns = progress_log.read_columns(str(tmp_path / "diagnostics.csv"))
    assert sorted(columns) == ["bonus", "nupdates", "total_timesteps"]
    np.testing.assert_array_equal(columns["total_timesteps"], [100.0, 200.0])
    assert np.isnan(columns["bonus"][0]) and columns["bonus"][1] == 0.5
    assert list(progress_log.read_columns(str(tmp_path / "diagnostics.csv"), ["bonus", "absent"])) == ["bonus"]
    assert progress_log.read_columns(str(tmp_path / "missing.csv")) == {}
