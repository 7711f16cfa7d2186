"""TensorFlow thread-pool settings of the entry points."""

import subprocess
import sys

import pytest

from episodic_curiosity import runtime


def test_configure_threads_sets_both_pools_in_a_fresh_process():
    code = "from episodic_curiosity import runtime; print(runtime.configure_threads(3, 2))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "{'intra_op_threads': 3, 'inter_op_threads': 2}" in out


def test_negative_thread_counts_are_rejected():
    with pytest.raises(ValueError, match="intra_op_threads must be >= 0"):
        runtime.configure_threads(-1, 0)
