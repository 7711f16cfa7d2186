"""Helpers for tests that kill a training process mid-run."""

import signal
import subprocess
import time


def run_until_file_then_kill(command, path, cwd, timeout_s=300.0):
    """Starts `command`, waits until `path` exists, then SIGKILLs the process.

    Fails the test if the process ends first or `path` does not appear within `timeout_s`.
    """
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout_s
        while not path.exists():
            assert process.poll() is None, f"{command[2]} ended before it could be killed"
            assert time.time() < deadline, f"{path} did not appear within {timeout_s} s"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
