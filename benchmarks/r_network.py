r"""R-network speed: embedding, comparator and training throughput vs. the machine's matmul peak.

Prints one JSON line per measurement:

  * `matmul_peak`: float32 dense matmul GFLOP/s in this process (the practical peak);
  * `embed`: images/s at batch 12 and 64 (120x160x3, paper sizes), with and without XLA, and
    with bf16 inference (`RNetwork(inference_dtype='bfloat16')`);
  * `compare`: pairs/s for 12 envs x 200 memory entries (one comparator call of 2,400 pairs);
  * `train_step`: steps/s and pairs/s at 64 pairs per step.

Each carries `gflops_per_s` (from the layers' multiply-adds x 2; a training step counts as 3x
the forward pass of its 2 x 64 images + comparator) and `fraction_of_peak`.

    python benchmarks/r_network.py [--repeats 10] [--xla both|on|off]
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

from episodic_curiosity import r_network
from episodic_curiosity import r_network_training

_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed calls per measurement.")
_XLA = flags.DEFINE_enum("xla", "both", ["both", "on", "off"], "XLA settings to measure.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 3, "Timed training steps.")


def layer_flops(model: keras.Model) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass of `model` for a single example."""
    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            kernel_h, kernel_w, in_channels, _ = layer.kernel.shape
            total += 2.0 * height * width * out_channels * kernel_h * kernel_w * in_channels
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * np.prod(layer.kernel.shape)
    return total


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _time(fn, repeats: int) -> float:
    fn()  # warm-up / trace
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def _emit(record: dict, peak: float | None) -> None:
    if peak and "gflops_per_s" in record:
        record["fraction_of_peak"] = round(record["gflops_per_s"] / peak, 3)
    record["load_average_1min"] = _load()  # well above 0 before a run: the machine was busy
    record["cpu_count"] = os.cpu_count()
    print(json.dumps(record), flush=True)


def matmul_peak(sizes=(2048, 4096), repeats: int = 10) -> tuple[float, int]:
    """Best float32 matmul GFLOP/s over `sizes`: the practical peak of this process."""
    best = (0.0, 0)
    for size in sizes:
        a = tf.random.normal([size, size])
        b = tf.random.normal([size, size])
        matmul = tf.function(lambda a=a, b=b: tf.reduce_sum(tf.matmul(a, b)))
        seconds = _time(lambda matmul=matmul: matmul().numpy(), max(2, repeats * 2048**3 // size**3))
        best = max(best, (2.0 * size**3 / seconds / 1e9, size))
    return best


def main(argv):
    del argv
    repeats = _REPEATS.value
    peak, size = matmul_peak(repeats=repeats)
    _emit({"benchmark": "matmul_peak", "size": size, "gflops_per_s": round(peak, 1)}, None)
    settings = [(jit, "float32") for jit in {"both": [False, True], "on": [True], "off": [False]}[_XLA.value]]
    settings.append((False, "bfloat16"))
    rng = np.random.default_rng(0)
    for jit, dtype in settings:
        network = r_network.RNetwork(jit_compile=jit, inference_dtype=dtype)
        embed_flops = layer_flops(network.embedding_network)
        compare_flops = layer_flops(network.comparator_logits)
        for batch in (12, 64):
            frames = rng.integers(0, 256, size=(batch, 120, 160, 3), dtype=np.uint8)
            seconds = _time(lambda network=network, frames=frames: network.embed(frames), repeats)
            _emit(
                {
                    "benchmark": "embed",
                    "xla": jit,
                    "dtype": dtype,
                    "batch": batch,
                    "gflop_per_image": round(embed_flops / 1e9, 3),
                    "images_per_s": round(batch / seconds, 1),
                    "ms_per_call": round(seconds * 1e3, 2),
                    "gflops_per_s": round(batch * embed_flops / seconds / 1e9, 1),
                },
                peak,
            )
        pairs = 12 * 200
        a = rng.normal(size=(pairs, 512)).astype(np.float32)
        b = rng.normal(size=(pairs, 512)).astype(np.float32)
        seconds = _time(lambda network=network, a=a, b=b: network.similarity(a, b), repeats)
        _emit(
            {
                "benchmark": "compare",
                "xla": jit,
                "dtype": "float32",
                "pairs": pairs,
                "pairs_per_s": round(pairs / seconds, 1),
                "ms_per_call": round(seconds * 1e3, 2),
                "gflops_per_s": round(pairs * compare_flops / seconds / 1e9, 1),
            },
            peak,
        )
    # Training: XLA did not help training in earlier measurements; measured without it.
    network = r_network.RNetwork()
    trainer = r_network_training.PairTrainer(network)
    x1 = tf.constant(rng.integers(0, 256, size=(64, 120, 160, 3), dtype=np.uint8))
    x2 = tf.constant(rng.integers(0, 256, size=(64, 120, 160, 3), dtype=np.uint8))
    labels = tf.one_hot(rng.integers(0, 2, size=64), 2)
    seconds = _time(lambda: trainer.train_step(x1, x2, labels), _TRAIN_STEPS.value)
    step_flops = 3.0 * (128 * layer_flops(network.embedding_network) + 64 * layer_flops(network.comparator_logits))
    _emit(
        {
            "benchmark": "train_step",
            "xla": False,
            "pairs_per_step": 64,
            "seconds_per_step": round(seconds, 3),
            "pairs_per_s": round(64 / seconds, 1),
            "gflops_per_s": round(step_flops / seconds / 1e9, 1),
        },
        peak,
    )


if __name__ == "__main__":
    app.run(main)
