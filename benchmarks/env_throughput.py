r"""Agent steps per second of a scenario: one env, and vectorized (subprocess workers).

Prints one JSON line per setting, e.g.

  {"benchmark": "env_throughput", "scenario": "vizdoom_sparse", "setting": "vector_async",
   "num_envs": 12, "agent_steps": 6000, "seconds": 2.1, "agent_steps_per_s": 2857.1, ...}

An agent step is one action of one env (VizDoom: `action_repeat` = 4 game tics; Ant: 5 physics
steps and the 120x160 head-camera frame into `info['frame']`). Actions are uniform random;
auto-resets are included. For envs with a head camera (the Ant) one more line gives the camera
alone ("render_only", frames per second of the renderer), and `mujoco_gl` the OpenGL backend.

    python benchmarks/env_throughput.py [--scenario vizdoom_sparse] [--steps_per_env 1000]
    python benchmarks/env_throughput.py --scenario ant_no_reward --num_envs 2 --warmup_steps 20
"""

from __future__ import annotations

import json
import os
import platform
import time

from absl import app
from absl import flags

from episodic_curiosity import environments

_SCENARIO = flags.DEFINE_string("scenario", "vizdoom_sparse", "Registered scenario name.")
_STEPS_PER_ENV = flags.DEFINE_integer("steps_per_env", 1000, "Timed agent steps per env.")
_WARMUP_STEPS = flags.DEFINE_integer("warmup_steps", 50, "Untimed steps per env first.")
_NUM_ENVS = flags.DEFINE_list("num_envs", ["2", "12"], "Vector sizes to measure.")


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _result(setting: str, num_envs: int, count: int, seconds: float, load_before, unit: str = "agent_steps") -> dict:
    result = {
        "benchmark": "env_throughput",
        "scenario": _SCENARIO.value,
        "setting": setting,
        "num_envs": num_envs,
        unit: count,
        "seconds": round(seconds, 4),
        f"{unit}_per_s": round(count / seconds, 1),
        "cpu_count": os.cpu_count(),
        # A 1-minute load average well above 0 before the run means the machine was busy.
        "load_average_before": load_before,
        "python": platform.python_version(),
    }
    if os.environ.get("MUJOCO_GL"):
        result["mujoco_gl"] = os.environ["MUJOCO_GL"]
    return result


def measure_single(scenario: str, steps: int, warmup: int) -> list[dict]:
    """Stepping one env in this process (then its head camera alone, if it has one)."""
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
        results = [_result("single", 1, steps, time.perf_counter() - start, load)]
        render = getattr(env.unwrapped, "head_camera_frame", None)
        if render is not None:
            load = _load_average()
            start = time.perf_counter()
            for _ in range(steps):
                render()
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
        return _result("vector_async", num_envs, steps_per_env * num_envs, seconds, load)
    finally:
        vec.close()


def main(argv):
    del argv
    for result in measure_single(_SCENARIO.value, _STEPS_PER_ENV.value, _WARMUP_STEPS.value):
        print(json.dumps(result), flush=True)
    for num_envs in (int(n) for n in _NUM_ENVS.value):
        print(
            json.dumps(measure_vector(_SCENARIO.value, num_envs, _STEPS_PER_ENV.value, _WARMUP_STEPS.value)), flush=True
        )


if __name__ == "__main__":
    app.run(main)
