r"""bf16 vs fp32 R-network inference: bonus error, memory-decision flips, embedding speed.

Frames come from random-policy episodes of `--scenario` (one env per episode, seeds
`--seed`, `--seed`+1, ...). Both precisions embed every frame; then one episodic memory per
episode (capacity 200, random replacement, 90th-percentile aggregation, the paper's PPO+EC
settings) is filled by the fp32 decisions, and at every step both precisions compare the frame
with the same memory entries, each through its own embeddings and keys, as the curiosity
wrapper does (`embed`, `query_keys` / `memory_keys`, `memory_similarities`). Reported:

  * `embedding_relative_error`: |e_bf16 - e_fp32| / |e_fp32| per frame (median, max);
  * `pair_similarity_abs_diff`: over every (frame, memory entry) comparison (max, mean);
  * `bonus_abs_diff`: |aggregate_bf16 - aggregate_fp32| per step = the bonus's error (bonus =
    beta - aggregate), max and mean over the steps with a non-empty memory;
  * `add_decision_flips`: steps where "aggregate < 0.5" (add the frame to memory) differs;
  * `fp32_aggregate_range`: spread of the fp32 aggregates (saturated similarities make the
    flips and errors meaningless: check it);
  * `embed_ms`: median time of one `embed` call on a batch of `--batch` frames, per precision,
    and the machine's load average before timing (a busy machine gives pessimistic figures).

    python benchmarks/bf16_fidelity.py --r_checkpoint=r_network_weights.00030.h5 --episodes=3 \
        [--finetune_steps=300]
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from episodic_curiosity import environments  # pylint: disable=g-import-not-at-top,wrong-import-position
from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top,wrong-import-position

_R_CHECKPOINT = flags.DEFINE_string("r_checkpoint", None, "R-network weights (.h5).", required=True)
_SCENARIO = flags.DEFINE_string("scenario", "vizdoom_dense", "Scenario of the frames.")
_EPISODES = flags.DEFINE_integer("episodes", 3, "Random-policy episodes.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the first episode (env, actions, memory).")
_BATCH = flags.DEFINE_integer("batch", 128, "Frames per timed `embed` call.")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed `embed` calls per precision.")
_FINETUNE_STEPS = flags.DEFINE_integer(
    "finetune_steps",
    0,
    "First train the weights this many steps on pairs of other random-policy "
    "episodes (a network whose similarities are saturated on real frames, e.g. one barely "
    "trained, says nothing about the bonus; see fp32_aggregate_range).",
)
_FINETUNE_BATCH = flags.DEFINE_integer("finetune_batch", 16, "Pairs per fine-tuning step.")
_CAPACITY, _PERCENTILE, _THRESHOLD = 200, 90, 0.5


def episode_frames(scenario: str, seed: int) -> np.ndarray:
    env = environments.make_env(scenario, seed=seed)
    env.action_space.seed(seed)
    try:
        observation, _ = env.reset(seed=seed)
        frames = [observation]
        while True:
            observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                break
            frames.append(observation)
    finally:
        env.close()
    return np.stack(frames).astype(np.uint8)


def embed_all(network, frames, batch: int = 64) -> np.ndarray:
    return np.concatenate([network.embed(frames[i : i + batch]) for i in range(0, len(frames), batch)])


def compare_episode(networks, frames, seed: int) -> dict:
    """Per-step comparison of the two precisions against one fp32-driven memory."""
    keys = {}
    for name, network in networks.items():
        embeddings = embed_all(network, frames)
        keys[name] = (embeddings, network.query_keys(embeddings), network.memory_keys(embeddings))
    e32, e16 = keys["float32"][0], keys["bfloat16"][0]
    rng = np.random.default_rng(seed)
    slots: list[int] = []  # frame indices held in memory
    pair_diffs, bonus_diffs, aggregates, flips = [], [], [], 0
    for t in range(len(frames)):
        if slots:
            results = {}
            for name, network in networks.items():
                _, queries, memory = keys[name]
                similarities = network.memory_similarities(queries[t : t + 1], memory[slots][None])[0]
                results[name] = (similarities, float(np.percentile(similarities, _PERCENTILE)))
            (s32, a32), (s16, a16) = results["float32"], results["bfloat16"]
            pair_diffs.append(np.abs(s16 - s32))
            bonus_diffs.append(abs(a16 - a32))
            aggregates.append(a32)
            flips += int((a32 < _THRESHOLD) != (a16 < _THRESHOLD))
            add = a32 < _THRESHOLD
        else:
            add = True  # empty memory: aggregate 0
        if add:
            if len(slots) < _CAPACITY:
                slots.append(t)
            else:
                slots[int(rng.integers(_CAPACITY))] = t
    pair_diffs = np.concatenate(pair_diffs)
    relative = np.linalg.norm(e16 - e32, axis=1) / np.linalg.norm(e32, axis=1)
    return {
        "steps": len(frames),
        "compared_steps": len(bonus_diffs),
        "pairs": int(pair_diffs.size),
        "relative": relative,
        "pair_diffs": pair_diffs,
        "bonus_diffs": np.array(bonus_diffs),
        "aggregates": np.array(aggregates),
        "flips": flips,
    }


def embed_ms(network, frames, batch: int, repeats: int) -> float:
    sample = frames[np.arange(batch) % len(frames)]
    network.embed(sample)  # trace
    network.embed(sample)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        network.embed(sample)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def finetune(path: str, scenario: str, seed: int, steps: int, batch: int, output: str) -> float:
    """Trains `path`'s weights on reachability pairs (gap <= 5 steps: reachable, >= 25: not, as
    the paper's k = 5 and gamma = 5) of two random-policy episodes; writes them to `output`.
    Returns the training accuracy of the last 20 steps."""
    from episodic_curiosity import r_network_training  # pylint: disable=g-import-not-at-top

    trainer = r_network_training.PairTrainer(r_network.RNetwork(weights_path=path))
    episodes = [episode_frames(scenario, seed + i) for i in (1000, 1001)]
    rng = np.random.default_rng(seed)
    accuracies = []
    for step in range(steps):
        first, second, labels = [], [], []
        for _ in range(batch):
            frames = episodes[int(rng.integers(len(episodes)))]
            reachable = bool(rng.random() < 0.5)
            if reachable:
                i = int(rng.integers(len(frames) - 5))
                j = i + int(rng.integers(1, 6))
            else:
                i = int(rng.integers(len(frames) - 25))
                j = int(rng.integers(i + 25, len(frames)))
            if rng.random() < 0.5:
                i, j = j, i
            first.append(frames[i])
            second.append(frames[j])
            labels.append([0.0, 1.0] if reachable else [1.0, 0.0])
        metrics = trainer.train_step(np.stack(first), np.stack(second), np.asarray(labels, np.float32))
        accuracies.append(metrics.accuracy)
        if (step + 1) % 25 == 0:
            print(
                f"fine-tuning step {step + 1}/{steps}: loss {metrics.loss:.3f}, accuracy of the last 25 "
                f"{np.mean(accuracies[-25:]):.3f}",
                file=sys.stderr,
                flush=True,
            )
    trainer.network.save_weights(output)
    return float(np.mean(accuracies[-20:]))


def main(argv) -> None:
    del argv
    weights, finetune_accuracy = _R_CHECKPOINT.value, None
    if _FINETUNE_STEPS.value > 0:
        import tempfile  # pylint: disable=g-import-not-at-top

        weights = os.path.join(tempfile.mkdtemp(), "finetuned.h5")
        finetune_accuracy = finetune(
            _R_CHECKPOINT.value, _SCENARIO.value, _SEED.value, _FINETUNE_STEPS.value, _FINETUNE_BATCH.value, weights
        )
    networks = {
        dtype: r_network.RNetwork(weights_path=weights, inference_dtype=dtype) for dtype in ("float32", "bfloat16")
    }
    episodes = [episode_frames(_SCENARIO.value, _SEED.value + i) for i in range(_EPISODES.value)]
    results = [compare_episode(networks, frames, _SEED.value + i) for i, frames in enumerate(episodes)]
    joined = lambda key: np.concatenate([r[key] for r in results])
    relative, pairs, bonus, aggregates = (
        joined("relative"),
        joined("pair_diffs"),
        joined("bonus_diffs"),
        joined("aggregates"),
    )
    compared = sum(r["compared_steps"] for r in results)
    load_before = os.getloadavg()[0]
    timing = {
        dtype: embed_ms(network, episodes[0], _BATCH.value, _REPEATS.value) for dtype, network in networks.items()
    }
    print(
        json.dumps(
            {
                "r_checkpoint": os.path.abspath(_R_CHECKPOINT.value),
                "finetune_steps": _FINETUNE_STEPS.value,
                "finetune_batch": _FINETUNE_BATCH.value,
                "finetune_last_accuracy": finetune_accuracy,
                "architecture": networks["float32"].architecture,
                "scenario": _SCENARIO.value,
                "episodes": _EPISODES.value,
                "steps": sum(r["steps"] for r in results),
                "compared_steps": compared,
                "pairs": int(pairs.size),
                "cpu_has_fast_bfloat16": r_network.cpu_has_fast_bfloat16(),
                "embedding_relative_error": {"median": float(np.median(relative)), "max": float(relative.max())},
                "pair_similarity_abs_diff": {"max": float(pairs.max()), "mean": float(pairs.mean())},
                "bonus_abs_diff": {"max": float(bonus.max()), "mean": float(bonus.mean())},
                "add_decision_flips": {
                    "count": sum(r["flips"] for r in results),
                    "rate": sum(r["flips"] for r in results) / max(compared, 1),
                },
                "fp32_aggregate_range": {
                    "min": float(aggregates.min()),
                    "p10": float(np.percentile(aggregates, 10)),
                    "median": float(np.median(aggregates)),
                    "p90": float(np.percentile(aggregates, 90)),
                    "max": float(aggregates.max()),
                    "share_below_threshold": float(np.mean(aggregates < _THRESHOLD)),
                },
                "embed_ms": {
                    **timing,
                    "batch": _BATCH.value,
                    "input_shape": list(networks["float32"].input_shape),
                    "speedup": timing["float32"] / timing["bfloat16"],
                    "load_average_1min_before": load_before,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    app.run(main)
