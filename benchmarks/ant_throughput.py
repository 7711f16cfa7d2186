r"""Agent steps per second of the MuJoCo Ant with head-camera rendering: one env, and vectorized.

Every step simulates 5 physics steps and renders the 120x160 head-camera frame into
`info['frame']`. Prints one JSON line per setting, e.g.

  {"benchmark": "ant_throughput", "scenario": "ant_no_reward", "setting": "vector_async",
   "num_envs": 2, "agent_steps": 2000, "seconds": 2.1, "agent_steps_per_s": 952.4, ...}

plus one line for the camera alone ("render_only": frames per second of the renderer).
Actions are uniform random; auto-resets (new floor texture each) are included.

    python benchmarks/ant_throughput.py [--steps_per_env 1000] [--num_envs 2]
"""

from __future__ import annotations

import json
import os
import platform
import time

from absl import app
from absl import flags
import numpy as np

from episodic_curiosity import environments

_SCENARIO = flags.DEFINE_string("scenario", "ant_no_reward", "Registered scenario name.")
_STEPS_PER_ENV = flags.DEFINE_integer("steps_per_env", 1000, "Timed agent steps per env.")
_WARMUP_STEPS = flags.DEFINE_integer("warmup_steps", 20, "Untimed steps per env first.")
_NUM_ENVS = flags.DEFINE_list("num_envs", ["2"], "Vector sizes to measure (async workers).")


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _result(setting: str, num_envs: int, count: int, seconds: float, load_before, unit: str) -> dict:
    return {
        "benchmark": "ant_throughput",
        "scenario": _SCENARIO.value,
        "setting": setting,
        "num_envs": num_envs,
        unit: count,
        "seconds": round(seconds, 4),
        f"{unit}_per_s": round(count / seconds, 1),
        "mujoco_gl": os.environ.get("MUJOCO_GL", ""),
        "cpu_count": os.cpu_count(),
        # A 1-minute load average well above 0 before the run means the machine was busy.
        "load_average_before": load_before,
        "python": platform.python_version(),
    }


def measure_single(scenario: str, steps: int, warmup: int) -> list[dict]:
    """Stepping one env in this process, then rendering its camera alone."""
    env = environments.make_env(scenario, seed=0)
    env.action_space.seed(0)
    try:
        env.reset()

        def run(count):
            for _ in range(count):
                _, _, terminated, truncated, _ = env.step(env.action_space.sample())
                if terminated or truncated:
                    env.reset()

        run(warmup)
        load = _load_average()
        start = time.perf_counter()
        run(steps)
        results = [_result("single", 1, steps, time.perf_counter() - start, load, "agent_steps")]
        load = _load_average()
        start = time.perf_counter()
        for _ in range(steps):
            env.unwrapped.head_camera_frame()
        results.append(_result("render_only", 1, steps, time.perf_counter() - start, load, "frames"))
        return results
    finally:
        env.close()


def measure_vector(scenario: str, num_envs: int, steps_per_env: int, warmup: int) -> dict:
    """Stepping `num_envs` envs in subprocess workers (`make_vector_env`, asynchronous)."""
    vec = environments.make_vector_env(scenario, num_envs, asynchronous=True)
    try:
        vec.reset()
        vec.action_space.seed(0)
        for _ in range(warmup):
            vec.step(vec.action_space.sample())
        load = _load_average()
        start = time.perf_counter()
        for _ in range(steps_per_env):
            vec.step(vec.action_space.sample())
        seconds = time.perf_counter() - start
        return _result("vector_async", num_envs, steps_per_env * num_envs, seconds, load, "agent_steps")
    finally:
        vec.close()


def main(argv):
    del argv
    for result in measure_single(_SCENARIO.value, _STEPS_PER_ENV.value, _WARMUP_STEPS.value):
        print(json.dumps(result), flush=True)
    for num_envs in (int(n) for n in _NUM_ENVS.value):
        print(json.dumps(measure_vector(_SCENARIO.value, num_envs, _STEPS_PER_ENV.value,
                                        _WARMUP_STEPS.value)), flush=True)


if __name__ == "__main__":
    app.run(main)
