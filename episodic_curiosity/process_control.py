"""Stopping cleanly: SIGTERM handled like Ctrl-C, and no worker process outlives its parent.

Entry points (`main()` of every long job) call `install_stop_handlers()`. SIGINT and SIGTERM
then both raise `StopRequested`, a KeyboardInterrupt, in the main thread: `finally:` blocks
close vector envs and process pools, and an interrupted atomic write removes its temporary
file (`atomic_files`), so the folder keeps the previous or a complete new checkpoint. While
the process is stopping (`stopping()`), closing an env pool terminates its workers instead of
waiting on them. A second signal ends the process at once.

Worker processes (the env workers of `environments.make_vector_env`, the pool of
`generate_r_training_data`) call `die_with_parent(parent)` before doing anything else:

  * SIGINT is ignored. Ctrl-C in a terminal signals the whole process group; only the parent
    acts on it (and closes the workers). The ignored disposition is inherited by programs the
    worker starts, so a VizDoom engine survives Ctrl-C until its env is closed.
  * SIGTERM raises `WorkerStopped`, a SystemExit, so the worker's `finally:` blocks still close
    its env (and the engine); a hard deadline (SIGALRM, `grace_s`) ends a worker whose clean-up
    hangs.
  * The parent is watched. With the forkserver start method a worker's OS parent is the fork
    server, and the fork server only exits once every process started by it has closed its
    end of the server's "alive" pipe -- the workers themselves hold one. So neither the
    parent's death nor a parent-death signal reaches a worker by itself. A daemon thread
    therefore waits on the *parent* (the process that built the pool, given explicitly): on a
    pidfd where Linux has them, else by polling; when it has gone, the worker stops as on
    SIGTERM. A parent-death signal (SIGTERM via `prctl(PR_SET_PDEATHSIG)`) is set as well, for
    workers whose OS parent is the parent (spawn and fork start methods).
  * Open file descriptors are made non-inheritable. Descriptors received from the fork server
    are inheritable, and a program the worker starts (the VizDoom engine) would otherwise keep
    the parent's end of the worker's pipe open -- the worker then never sees EOF on it -- and
    the fork server's alive pipe, so that the fork server never exits either.

`shutdown_pool_now(pool)` stops a ProcessPoolExecutor without waiting for its running tasks.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import select
import signal
import sys
import threading
import time
import traceback
from typing import Iterable

DEFAULT_GRACE_S = 3.0  # a stopped worker's clean-up time before it is killed
_POLL_S = 0.2  # parent polling period where pidfds are unavailable
_PR_SET_PDEATHSIG = 1

_stop_signal: int | None = None  # the signal that started the stop, in an entry point
_worker_grace_s: float | None = None  # set once die_with_parent has run in this process
_worker_stopping = False


class StopRequested(KeyboardInterrupt):
    """Raised in an entry point's main thread by SIGINT or SIGTERM (`install_stop_handlers`)."""


class WorkerStopped(SystemExit):
    """Raised in a worker's main thread by SIGTERM, or when its parent has gone."""


# --- Processes ----------------------------------------------------------------------------------


def stat_fields(pid: int) -> list[bytes] | None:
    """Fields of /proc/<pid>/stat from the state on (field 3), or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


@dataclasses.dataclass(frozen=True)
class ProcessIdentity:
    """A process, told apart from a later one reusing its PID by its start time (picklable).

    Attributes:
      pid: int, the process id.
      start_time: int or None, start time in clock ticks after boot (/proc/<pid>/stat field 22);
        None where /proc is unavailable.
    """

    pid: int
    start_time: int | None = None

    @classmethod
    def of(cls, pid: int | None = None) -> "ProcessIdentity":
        """The identity of process `pid` (default: this process)."""
        pid = os.getpid() if pid is None else int(pid)
        fields = stat_fields(pid)
        return cls(pid, int(fields[19]) if fields is not None else None)

    def is_running(self) -> bool:
        """Whether the process exists and has not exited (a zombie has exited)."""
        if self.start_time is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        fields = stat_fields(self.pid)
        return fields is not None and int(fields[19]) == self.start_time and fields[0] not in (b"Z", b"X")


# --- Entry points -------------------------------------------------------------------------------


def install_stop_handlers(signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> bool:
    """Makes SIGINT and SIGTERM raise `StopRequested` in the main thread (call from `main()`).

    The first signal raises; a second one, while the first one's clean-up runs, ends the process
    at once (exit status 128 + signal). An uncaught `StopRequested` is reported in one line.

    Returns:
      bool, whether the handlers were installed (False outside the main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in signals:
        signal.signal(signum, _on_stop_signal)
    if not getattr(sys.excepthook, "_reports_stops", False):
        sys.excepthook = _stop_reporting_excepthook(sys.excepthook)
    return True


def _on_stop_signal(signum, frame) -> None:
    del frame
    global _stop_signal
    if _stop_signal is not None:
        os._exit(128 + signum)  # pylint: disable=protected-access
    _stop_signal = signum
    raise StopRequested(f"stopped by {signal.Signals(signum).name}")


def _stop_reporting_excepthook(previous):
    def excepthook(exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, StopRequested):
            frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__]
            place = f" (in {frames[-1].name}, {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
            print(f"{exc}{place}", file=sys.stderr, flush=True)
            return
        previous(exc_type, exc, tb)

    excepthook._reports_stops = True  # pylint: disable=protected-access
    return excepthook


def stop_requested() -> bool:
    """Whether a stop signal reached this process (after `install_stop_handlers`)."""
    return _stop_signal is not None


def stopping() -> bool:
    """Whether this process is on its way out: a stop signal came, or a KeyboardInterrupt or
    SystemExit is being raised or handled in this thread (e.g. in a `finally:` block)."""
    exception = sys.exc_info()[1]
    return stop_requested() or isinstance(exception, (KeyboardInterrupt, SystemExit))


# --- Workers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def stderr_silenced():
    """Points file descriptor 2 at /dev/null for the block (C++ libraries write there directly,
    past Python's sys.stderr); restores it afterwards, also on errors."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def init_tensorflow_worker(parent: "ProcessIdentity | None" = None) -> None:
    """Pool initializer of workers that use TensorFlow (the R-network data generator's):
    `die_with_parent(parent)`, then TensorFlow loaded without its C++ start-up lines, which
    this TensorFlow prints once per process whatever TF_CPP_MIN_LOG_LEVEL says. (This module
    imports no TensorFlow, so unpickling the initializer loads none before the silencing.)"""
    die_with_parent(parent)
    with stderr_silenced():
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        tf.constant(0).numpy()  # the runtime's own start-up lines come with the first op


def die_with_parent(parent: ProcessIdentity | None = None, grace_s: float = DEFAULT_GRACE_S) -> None:
    """Makes this (worker) process stop when `parent` does; call first thing in the worker.

    See the module docstring for what it sets up. Idempotent; the signal dispositions are only
    set when called in the main thread (as pool initializers and env constructors are).

    Args:
      parent: ProcessIdentity of the process the worker serves (the one that created the pool,
        taken there with `ProcessIdentity.of()`); None: this process's OS parent.
      grace_s: float, seconds a stopping worker gets to clean up before it is killed.
    """
    global _worker_grace_s
    if _worker_grace_s is not None:
        return
    _worker_grace_s = float(grace_s)
    os_parent = os.getppid()
    if parent is None:
        parent = ProcessIdentity.of(os_parent)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the hard deadline
        signal.signal(signal.SIGTERM, _on_worker_stop_signal)
        if _set_parent_death_signal(signal.SIGTERM) and os.getppid() != os_parent:
            _stop_this_process()  # the OS parent died before the signal was set
    _make_open_fds_non_inheritable()
    threading.Thread(target=_watch_parent, args=(parent,), name="die_with_parent", daemon=True).start()


def _on_worker_stop_signal(signum, frame) -> None:
    del frame
    global _worker_stopping
    _arm_deadline()
    if _worker_stopping:
        return  # already on the way out; the deadline bounds it
    _worker_stopping = True
    if sys.exc_info()[1] is not None:
        # Already unwinding (e.g. the worker loop ended on its pipe's EOF and a `finally:` is
        # closing the env): raising here would cut that clean-up short; the deadline bounds it.
        return
    raise WorkerStopped(128 + signum)


def _arm_deadline() -> None:
    """SIGKILL-like end (SIGALRM, default action) after the grace time, unless due sooner."""
    grace_s = _worker_grace_s or DEFAULT_GRACE_S
    try:
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        if remaining == 0 or remaining > grace_s:
            signal.setitimer(signal.ITIMER_REAL, grace_s)
    except (AttributeError, OSError, ValueError):
        pass


def _stop_this_process() -> None:
    """Stops this worker as SIGTERM does (its handler raises in the main thread)."""
    _arm_deadline()
    os.kill(os.getpid(), signal.SIGTERM)


def _set_parent_death_signal(signum: int) -> bool:
    """prctl(PR_SET_PDEATHSIG, signum) on Linux; whether it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _make_open_fds_non_inheritable() -> None:
    """Marks every descriptor above stderr close-on-exec (programs started later get none)."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            fd = int(name)
            if fd > 2:
                try:
                    os.set_inheritable(fd, False)
                except OSError:
                    pass  # e.g. the descriptor of the listing itself, closed by now
        return


def _watch_parent(parent: ProcessIdentity) -> None:
    """Returns (stopping this process) once `parent` has exited."""
    pidfd = None
    try:
        pidfd = os.pidfd_open(parent.pid)
    except ProcessLookupError:
        _stop_this_process()
        return
    except (AttributeError, OSError):
        pidfd = None  # no pidfds here: poll
    try:
        if pidfd is not None:
            if parent.is_running():  # the pidfd is of that process, not of a later one with its PID
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                while not poller.poll():
                    pass
        else:
            while parent.is_running():
                time.sleep(_POLL_S)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    _stop_this_process()


def call_in_pool_worker(function, *args, **kwargs):
    """Runs one pool task; if the worker is stopped meanwhile it exits once the task's
    `finally:` blocks have run, rather than going back to the pool for the next task.

    Submit `functools.partial(call_in_pool_worker, function)` to a pool whose initializer is
    `die_with_parent`.
    """
    try:
        return function(*args, **kwargs)
    except WorkerStopped as stop:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(stop.code if isinstance(stop.code, int) else 1)  # pylint: disable=protected-access


# --- Pools --------------------------------------------------------------------------------------


def shutdown_pool_now(pool, timeout_s: float = DEFAULT_GRACE_S + 1.0) -> None:
    """Shuts a ProcessPoolExecutor down without waiting for its running tasks.

    Pending tasks are cancelled and every worker gets SIGTERM (so, with `die_with_parent`, its
    `finally:` blocks run); a worker still alive after `timeout_s` is killed. Returns once all
    workers have exited.
    """
    # CPython keeps the workers in `_processes` ({pid: Process}); shutdown() forgets them.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    terminate_processes(processes, timeout_s)


def terminate_processes(processes, timeout_s: float = DEFAULT_GRACE_S + 1.0) -> None:
    """SIGTERM to each multiprocessing Process, SIGKILL to those still alive after `timeout_s`."""
    for process in processes:
        try:
            if process.is_alive():
                process.terminate()
        except (OSError, ValueError, AssertionError):
            pass
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.join(max(0.0, deadline - time.monotonic()))
        except (OSError, ValueError, AssertionError):
            pass
    for process in processes:
        try:
            if process.is_alive():
                process.kill()
                process.join(1.0)
        except (OSError, ValueError, AssertionError):
            pass
