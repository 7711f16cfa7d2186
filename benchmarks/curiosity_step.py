r"""Curiosity wrapper step time: 12 envs, memories full at 200 entries, 120x160 frames.

The envs are the fake env in this process (its cost is ~0), the R-network has the paper's
sizes. Prints one JSON line per setting with ms per vector step split into the embedding call,
the memory comparison (comparator keys and one comparator call for all 12 x 200 pairs) and the
rest (aggregation, (env, memory update, resizing to 84x84, bookkeeping).

    python benchmarks/curiosity_step.py [--steps 30] [--num_envs 12] [--capacity 200]
"""

from __future__ import annotations

import functools
import json
import os
import time

from absl import app
from absl import flags
import numpy as np

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import intrinsic
from episodic_curiosity import r_network

_STEPS = flags.DEFINE_integer("steps", 30, "Timed vector steps.")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 12, "Parallel envs.")
_CAPACITY = flags.DEFINE_integer("capacity", 200, "Memory capacity (filled before timing).")


class _Timed:
    """Wraps an R-network, accumulating the seconds spent embedding and comparing."""

    def __init__(self, network):
        self._network = network
        self.input_shape = network.input_shape
        self.seconds = {"embed": 0.0, "similarity": 0.0}

    def _timed(self, bucket, method, *args):
        start = time.perf_counter()
        result = getattr(self._network, method)(*args)
        self.seconds[bucket] += time.perf_counter() - start
        return result

    def embed(self, frames):
        return self._timed("embed", "embed", frames)

    def similarity(self, a, b):
        return self._timed("similarity", "similarity", a, b)

    def query_keys(self, embeddings):
        return self._timed("similarity", "query_keys", embeddings)

    def memory_keys(self, embeddings):
        return self._timed("similarity", "memory_keys", embeddings)

    def similarity_from_keys(self, query, keys):
        return self._timed("similarity", "similarity_from_keys", query, keys)

    def memory_similarities(self, query, keys):
        return self._timed("similarity", "memory_similarities", query, keys)


def measure(inference_dtype: str, jit_compile: bool) -> dict:
    num_envs, capacity = _NUM_ENVS.value, _CAPACITY.value
    network = _Timed(r_network.RNetwork(inference_dtype=inference_dtype, jit_compile=jit_compile))
    vec = environments.make_vector_env(
        "fake", num_envs, asynchronous=False, env_kwargs={"episode_length": 10**6, "grid_size": 30}
    )
    env = curiosity_env_wrapper.CuriosityEnvWrapper(
        vec,
        functools.partial(intrinsic.EpisodicCuriosity, network=network),
        intrinsic.RewardScales(scale_surrogate_reward=0.03),
    )
    env.reset()
    rng = np.random.default_rng(0)
    # Fill every memory to capacity with random embeddings (as after a long episode).
    for _ in range(capacity):
        embeddings = rng.normal(size=(num_envs, env.memory.embeddings.shape[2])).astype(np.float32)
        env.memory.add(embeddings, np.ones(num_envs, bool), keys=network.memory_keys(embeddings))
    for _ in range(3):  # warm-up: tracing
        env.step(rng.integers(0, 4, size=num_envs))
    network.seconds = {"embed": 0.0, "similarity": 0.0}
    start = time.perf_counter()
    for _ in range(_STEPS.value):
        env.step(rng.integers(0, 4, size=num_envs))
    total = (time.perf_counter() - start) / _STEPS.value
    embed = network.seconds["embed"] / _STEPS.value
    compare = network.seconds["similarity"] / _STEPS.value
    vec.close()
    return {
        "benchmark": "curiosity_step",
        "num_envs": num_envs,
        "memory_entries": capacity,
        "inference_dtype": inference_dtype,
        "xla": jit_compile,
        "ms_per_step": round(total * 1e3, 2),
        "ms_embedding": round(embed * 1e3, 2),
        "ms_comparison": round(compare * 1e3, 2),
        "ms_rest": round((total - embed - compare) * 1e3, 2),
        "non_embedding_fraction": round((total - embed) / total, 3),
        "memory_full": bool((env.memory.sizes == capacity).all()),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }


def main(argv):
    del argv
    for dtype, jit in (("float32", False), ("float32", True), ("bfloat16", False)):
        print(json.dumps(measure(dtype, jit)), flush=True)


if __name__ == "__main__":
    app.run(main)
