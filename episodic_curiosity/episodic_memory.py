"""Episodic memories of N parallel envs as arrays, and the similarity aggregations.

Semantics (the original code): each env's memory holds up to `capacity` embeddings. While
not full, new entries are appended; when full, `fifo` overwrites the oldest entry and `random`
a uniformly drawn slot. Each entry remembers its insertion index ("age"). The similarity of a
new embedding to a memory is aggregated over the memory's entries by

  * `percentile`: the 90th percentile (numpy's default linear interpolation);
  * `nth_largest`: the n-th largest, n = min(10, size);
  * `max`: the largest;
  * `relative_count`: the fraction of similarities > 0.5;

and is 0.0 for an empty memory. Everything is vectorized over envs: one comparator call for
all (env, entry) pairs, ragged fill levels handled by masking.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gin
import numpy as np

AGGREGATIONS = ("percentile", "nth_largest", "max", "relative_count")
REPLACEMENTS = ("fifo", "random")
_PERCENTILE = 90
_NTH_LARGEST = 10

SimilarityFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _lerp(low: np.ndarray, high: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Linear interpolation computed exactly as numpy's percentile does it."""
    difference = high - low
    return np.where(weight >= 0.5, high - difference * (1 - weight), low + difference * weight)


def aggregate(similarities: np.ndarray, sizes: np.ndarray, method: str = "percentile") -> np.ndarray:
    """Aggregates each row's first `sizes[i]` valid similarities (NaN marks empty slots).

    Args:
      similarities: float [N, capacity], NaN where a slot is empty.
      sizes: int [N], number of valid entries per row.
      method: str, one of AGGREGATIONS.

    Returns:
      float64 [N]; 0.0 for rows with no entries.
    """
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown similarity aggregation {method!r}; valid: {', '.join(AGGREGATIONS)}")
    similarities = np.asarray(similarities, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    rows = np.arange(similarities.shape[0])
    empty = sizes == 0
    last = np.maximum(sizes - 1, 0)
    if method == "relative_count":
        counts = np.sum(np.nan_to_num(similarities, nan=0.0) > 0.5, axis=1)
        result = counts / np.maximum(sizes, 1)
    else:
        ordered = np.sort(similarities, axis=1)  # NaN (empty slots) sort last
        if method == "max":
            result = ordered[rows, last]
        elif method == "nth_largest":
            n = np.minimum(_NTH_LARGEST, sizes)
            result = ordered[rows, np.maximum(sizes - n, 0)]
        else:
            position = (_PERCENTILE / 100) * last
            below = np.floor(position).astype(np.int64)
            above = np.minimum(below + 1, last)
            result = _lerp(ordered[rows, below], ordered[rows, above], position - below)
    return np.where(empty, 0.0, result)


@gin.configurable(denylist=["num_envs", "embedding_size"])
class EpisodicMemory:
    """Memories of `num_envs` envs: embeddings [N, capacity, E], sizes and ages per env."""

    def __init__(
        self,
        num_envs: int,
        embedding_size: int = 512,
        capacity: int = 200,
        replacement: str = "fifo",
        similarity_aggregation: str = "percentile",
        store_info: bool = False,
        seed: int = 0,
        key_size: int | None = None,
    ):
        """Args:
        num_envs: int, number of envs (one memory each).
        embedding_size: int, embedding width.
        capacity: int, entries per memory (paper: 200; Ant: 1000).
        replacement: str, 'fifo' or 'random' (what a full memory overwrites).
        similarity_aggregation: str, one of AGGREGATIONS.
        store_info: bool, keep each entry's env `info` dict (for visualization).
        seed: int, seeds the per-env generators of `random` replacement.
        key_size: int or None, width of an optional per-entry comparison key (e.g. the
          R-network's `memory_keys`), stored beside the embedding and compared instead of it.
        """
        if replacement not in REPLACEMENTS:
            raise ValueError(f"unknown memory replacement {replacement!r}; valid: {', '.join(REPLACEMENTS)}")
        if similarity_aggregation not in AGGREGATIONS:
            raise ValueError(
                f"unknown similarity aggregation {similarity_aggregation!r}; valid: {', '.join(AGGREGATIONS)}"
            )
        if capacity < 1 or num_envs < 1:
            raise ValueError(f"capacity and num_envs must be >= 1, got {capacity} and {num_envs}")
        self.num_envs = num_envs
        self.capacity = capacity
        self.replacement = replacement
        self.similarity_aggregation = similarity_aggregation
        self.embeddings = np.zeros((num_envs, capacity, embedding_size), np.float32)
        self.keys = None if key_size is None else np.zeros((num_envs, capacity, key_size), np.float32)
        self.ages = np.zeros((num_envs, capacity), np.int64)
        self.counts = np.zeros(num_envs, np.int64)  # insertions since the last reset
        self.infos: list[list[Any]] | None = [[None] * capacity for _ in range(num_envs)] if store_info else None
        self._rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(num_envs)]

    @property
    def sizes(self) -> np.ndarray:
        """Number of stored entries per env, [N]."""
        return np.minimum(self.counts, self.capacity)

    def valid_mask(self) -> np.ndarray:
        """bool [N, capacity]: which slots hold an entry."""
        return np.arange(self.capacity)[None, :] < self.sizes[:, None]

    def reset(self, mask: Sequence[bool] | np.ndarray | None = None) -> None:
        """Empties the memories of the envs where `mask` is True (all if None)."""
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self.counts[mask] = 0
        if self.infos is not None:
            for env in np.flatnonzero(mask):
                self.infos[env] = [None] * self.capacity

    def add(
        self,
        embeddings: np.ndarray,
        mask: Sequence[bool] | np.ndarray,
        infos: Sequence[Any] | None = None,
        keys: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adds `embeddings[i]` to memory i for every i where `mask[i]`; returns (envs, slots),
        the envs that added and the slot each wrote.

        Args:
          embeddings: float [N, E].
          mask: bool [N].
          infos: optional per-env info objects, kept if the memory stores infos.
          keys: float [N, K], the entries' comparison keys (required iff the memory has keys).
        """
        if (keys is None) != (self.keys is None):
            raise ValueError("keys must be given exactly when the memory was built with key_size")
        envs = np.flatnonzero(np.asarray(mask, bool))
        if envs.size == 0:
            return envs, envs.copy()
        counts = self.counts[envs]
        slots = np.where(counts < self.capacity, counts, counts % self.capacity)
        if self.replacement == "random":
            for k in np.flatnonzero(counts >= self.capacity):
                slots[k] = self._rngs[envs[k]].integers(0, self.capacity)
        self.embeddings[envs, slots] = np.asarray(embeddings, np.float32)[envs]
        if self.keys is not None:
            self.keys[envs, slots] = np.asarray(keys, np.float32)[envs]
        self.ages[envs, slots] = counts
        self.counts[envs] += 1
        if self.infos is not None and infos is not None:
            for env, slot in zip(envs, slots):
                self.infos[env][slot] = infos[env]
        return envs, slots

    def similarities(self, current: np.ndarray, similarity_fn: SimilarityFn, dense_similarity_fn=None) -> np.ndarray:
        """Similarity of `current[i]` to every entry of memory i, NaN for empty slots.

        All valid (env, entry) pairs go to `similarity_fn` in one call, the current embedding
        first and the memory entry second, as in the original. With keys, `current` holds the
        query keys and the stored keys stand for the entries.

        Args:
          current: float [N, E] (or [N, K] query keys).
          similarity_fn: (current pairs [P, E], entries [P, E]) -> [P].
          dense_similarity_fn: optional (current [N, E], entries [N, W, E]) -> [N, W]: used
            when the memories are nearly equally full (valid slots are always the first
            `size` ones), which skips gathering P copies of the inputs; W = the largest size.

        Returns:
          float [N, capacity].
        """
        result = np.full((self.num_envs, self.capacity), np.nan)
        stored = self.embeddings if self.keys is None else self.keys
        width = int(self.sizes.max(initial=0))
        if width == 0:
            return result
        valid = self.valid_mask()
        if dense_similarity_fn is not None and valid.sum() >= 0.75 * self.num_envs * width:
            dense = np.asarray(dense_similarity_fn(np.asarray(current, np.float32), stored[:, :width]))
            result[:, :width] = np.where(valid[:, :width], dense, np.nan)
            return result
        envs, slots = np.nonzero(valid)
        result[envs, slots] = similarity_fn(np.asarray(current, np.float32)[envs], stored[envs, slots])
        return result

    def aggregate_similarity(
        self, current: np.ndarray, similarity_fn: SimilarityFn, dense_similarity_fn=None
    ) -> np.ndarray:
        """The configured aggregation of `similarities(current)`, [N]; 0.0 for empty memories."""
        return aggregate(
            self.similarities(current, similarity_fn, dense_similarity_fn), self.sizes, self.similarity_aggregation
        )
