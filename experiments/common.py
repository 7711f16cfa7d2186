"""Settings shared by the laptop-scale experiments (issue #13).

The R-network used by every experiment is the reduced-width one trained by
`r_network_quality.py`: stage filters (16, 32, 64, 128) instead of (64, 128, 256, 512),
128-d embeddings instead of 512, 128-unit comparator layers instead of 512: the gin parameters
`R_NETWORK_BINDINGS`, which training it binds. Loading it needs none (`load_r_network`: the
weight file gives the architecture).
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run as `python experiments/<name>.py` from anywhere
    sys.path.insert(0, REPO_ROOT)

# Big intermediate files (TFRecords, checkpoints, policy runs) go here, never into the repo.
SCRATCH_DIR = os.environ.get("EC_EXPERIMENTS_SCRATCH", "/tmp/ec_experiments")
RESULTS_DIR = os.path.join(REPO_ROOT, "experiments", "results")

R_NETWORK_BINDINGS = (
    "build_embedding_network.stage_filters = (16, 32, 64, 128)",
    "build_embedding_network.embedding_size = 128",
    "build_comparator_network.hidden_units = 128",
)
# Where r_network_quality.py leaves its final weights (r_network_weights.NNNNN.h5): the folder
# of its last stage (1.6 M steps of training data).
R_NETWORK_DIR = os.path.join(SCRATCH_DIR, "r_network_quality_1600k", "r_networks")

# The episodic-curiosity settings of method_ppo_plus_ec.gin (the paper's PPO+EC settings).
MEMORY_CAPACITY = 200
BETA = 0.5
TAU = 0.5


def scrub_paths(text: str, placeholders: dict[str, str]) -> str:
    """`text` with each folder of `placeholders` replaced by its placeholder (e.g. `<repo>`).

    Only whole path prefixes are replaced (the folder itself, or followed by `/`): `/home` leaves
    `/home2/x` alone. The root folder and empty paths are never replaced (that would turn every
    `/` into a placeholder). Longer folders go first, so a workdir inside the repository keeps
    its own placeholder.
    """
    for folder in sorted(placeholders, key=lambda f: len(os.path.abspath(f)) if f else 0, reverse=True):
        folder_path = os.path.abspath(folder).rstrip(os.sep) if folder else ""
        if not folder_path or folder_path == os.path.abspath(os.sep).rstrip(os.sep):
            continue
        pattern = re.escape(folder_path) + r"(?=[/\s'\",;:]|$)"
        placeholder = placeholders[folder]
        text = re.sub(pattern, lambda _, p=placeholder: p, text)  # taken literally, not as a template
    return text


def default_output_dir(name: str) -> str:
    return os.path.join(RESULTS_DIR, name)


def newest_r_network(directory: str = R_NETWORK_DIR) -> str:
    """The greatest `r_network_weights.*.h5` in `directory`; a clear error if none."""
    found = sorted(glob.glob(os.path.join(directory, "r_network_weights.*.h5")))
    if not found:
        raise FileNotFoundError(
            f"no r_network_weights.*.h5 in {directory!r}: run experiments/r_network_quality.py first"
        )
    return found[-1]


def load_r_network(weights_path: str):
    """The RNetwork of `weights_path`, built with the file's architecture (recorded, or for
    files written before that was recorded, deduced from the weights): no gin bindings."""
    from episodic_curiosity import r_network

    return r_network.RNetwork(weights_path=weights_path, inference_dtype="float32")


def write_json(path: str, payload: dict) -> None:
    from episodic_curiosity import atomic_files

    atomic_files.write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def embed_all(r_net, frames, batch: int = 64):
    """Embeddings [T, E] of uint8 frames [T, H, W, 3]."""
    import numpy as np

    return np.concatenate([r_net.embed(frames[i : i + batch]) for i in range(0, len(frames), batch)])


def episodic_bonus_along(r_net, frames, seed: int = 0) -> dict:
    """The EC bonus of each frame of one episode, by the package's rule
    (`intrinsic.EpisodicCuriosity`, one env, the episode never ends).

    One memory (capacity 200, random replacement, 90th-percentile aggregation: the PPO+EC
    settings), empty at the start; per step: aggregate = percentile of C(e, m_j) over the
    memory (0 if empty), bonus = beta - aggregate, e added iff aggregate < tau.

    Returns:
      dict of float arrays [T]: 'bonus', 'aggregate', 'memory_size' (before the step's insert).
    """
    import gymnasium as gym
    import numpy as np

    from episodic_curiosity import episodic_memory
    from episodic_curiosity import intrinsic

    frames = np.asarray(frames)
    probe = r_net.embed(frames[:1])
    keyed = all(hasattr(r_net, name) for name in ("query_keys", "memory_keys", "similarity_from_keys"))
    memory = episodic_memory.EpisodicMemory(
        1,
        embedding_size=probe.shape[1],
        capacity=MEMORY_CAPACITY,
        replacement="random",
        similarity_aggregation="percentile",
        seed=seed,
        key_size=r_net.memory_keys(probe).shape[1] if keyed else None,
    )
    setup = intrinsic.Setup(
        num_envs=1,
        observation_space=gym.spaces.Box(0, 255, frames.shape[1:], np.uint8),
        action_space=gym.spaces.Discrete(1),
        seed=seed,
    )
    rule = intrinsic.EpisodicCuriosity(
        setup, network=r_net, bonus_reward_additive_term=BETA - 0.5, similarity_threshold=TAU, memory=memory
    )
    bonus, sizes = [], []
    for frame in frames:
        sizes.append(int(memory.sizes[0]))
        bonus.append(float(rule.step_bonus(frame[None], np.zeros(1, bool))[0]))
    bonus = np.array(bonus)
    return {"bonus": bonus, "aggregate": BETA - bonus, "memory_size": np.array(sizes)}


def write_rows_csv(path: str, rows: list) -> None:
    """Writes a list of dicts as CSV (floats with 4 decimals), atomically."""
    import csv
    import io

    from episodic_curiosity import atomic_files

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_files.write_text(path, buffer.getvalue())
