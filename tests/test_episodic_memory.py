"""Episodic memory: aggregations, replacement, and parity with a per-env reference."""

import numpy as np
import pytest

from episodic_curiosity import episodic_memory


def _ragged(rng, num_envs=9, capacity=13):
    sizes = rng.integers(0, capacity + 1, size=num_envs)
    sizes[0], sizes[1] = 0, 1
    values = np.full((num_envs, capacity), np.nan)
    for i, n in enumerate(sizes):
        values[i, :n] = rng.random(n)
    return values, sizes


def test_aggregations_match_numpy_per_row():
    rng = np.random.default_rng(0)
    values, sizes = _ragged(rng)
    expected = {
        "percentile": lambda v: np.percentile(v, 90),
        "nth_largest": lambda v: np.sort(v)[-min(10, len(v))],
        "max": np.max,
        "relative_count": lambda v: np.mean(v > 0.5),
    }
    for method, reference in expected.items():
        got = episodic_memory.aggregate(values, sizes, method)
        want = [reference(values[i, :n]) if n else 0.0 for i, n in enumerate(sizes)]
        np.testing.assert_array_equal(got, want, err_msg=method)  # bit-exact, numpy's lerp included


def test_empty_memory_aggregates_to_zero_and_unknown_method_fails():
    assert episodic_memory.aggregate(np.full((2, 3), np.nan), np.zeros(2), "max").tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="unknown similarity aggregation 'mean'"):
        episodic_memory.aggregate(np.zeros((1, 1)), np.ones(1), "mean")
    with pytest.raises(ValueError, match="unknown memory replacement"):
        episodic_memory.EpisodicMemory(2, 4, replacement="lru")


def test_fifo_overwrites_oldest_and_records_ages():
    memory = episodic_memory.EpisodicMemory(2, embedding_size=1, capacity=3, replacement="fifo")
    for value in range(5):
        memory.add(np.array([[value], [100 + value]]), mask=[True, value % 2 == 0])
    assert memory.sizes.tolist() == [3, 3]
    assert memory.embeddings[0, :, 0].tolist() == [3, 4, 2]
    assert memory.ages[0].tolist() == [3, 4, 2]
    assert memory.embeddings[1, :, 0].tolist() == [100, 102, 104]
    memory.reset([True, False])
    assert memory.sizes.tolist() == [0, 3]
    memory.add(np.array([[7], [7]]), mask=[True, False])
    assert memory.sizes.tolist() == [1, 3] and memory.embeddings[0, 0, 0] == 7


def test_random_replacement_stays_in_capacity_and_is_seeded():
    def fill(seed):
        memory = episodic_memory.EpisodicMemory(1, embedding_size=1, capacity=4, replacement="random", seed=seed)
        for value in range(40):
            memory.add(np.array([[value]]), mask=[True])
        return memory.embeddings[0, :, 0].tolist()

    assert fill(1) == fill(1)
    assert fill(1) != fill(2)
    assert len(fill(1)) == 4


class ReferenceMemory:
    """Straightforward per-env memory, as the original wrote it (lists and a Python loop)."""

    def __init__(self, capacity, replacement, rng, aggregation):
        self.capacity, self.replacement, self.rng, self.aggregation = capacity, replacement, rng, aggregation
        self.entries, self.count = [], 0

    def reset(self):
        self.entries, self.count = [], 0

    def add(self, embedding):
        if len(self.entries) < self.capacity:
            self.entries.append(embedding)
        elif self.replacement == "fifo":
            self.entries[self.count % self.capacity] = embedding
        else:
            self.entries[self.rng.integers(0, self.capacity)] = embedding
        self.count += 1

    def aggregate(self, embedding, similarity):
        if not self.entries:
            return 0.0
        values = np.array([similarity(embedding[None], e[None])[0] for e in self.entries])
        return {
            "percentile": lambda: np.percentile(values, 90),
            "nth_largest": lambda: np.sort(values)[-min(10, len(values))],
            "max": values.max,
            "relative_count": lambda: np.mean(values > 0.5),
        }[self.aggregation]()


def _similarity(a, b):
    return 1.0 / (1.0 + np.exp(-np.sum(a * b, axis=1)))


@pytest.mark.parametrize("replacement", ["fifo", "random"])
@pytest.mark.parametrize("aggregation", ["percentile", "nth_largest", "max", "relative_count"])
def test_batched_memory_matches_per_env_reference(replacement, aggregation):
    num_envs, capacity, beta, tau = 5, 12, 0.5, 0.5
    rng = np.random.default_rng(7)
    batched = episodic_memory.EpisodicMemory(num_envs, 4, capacity, replacement, aggregation, seed=3)
    reference_rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(3).spawn(num_envs)]
    references = [ReferenceMemory(capacity, replacement, r, aggregation) for r in reference_rngs]
    for step in range(250):
        embeddings = rng.normal(size=(num_envs, 4)).astype(np.float32)
        dones = rng.random(num_envs) < 0.03
        aggregates = batched.aggregate_similarity(embeddings, _similarity)
        bonus = np.where(dones, 0.0, beta - aggregates)
        batched.reset(dones)
        batched.add(embeddings, dones | (aggregates < tau))
        for env, reference in enumerate(references):
            expected = reference.aggregate(embeddings[env], _similarity)
            np.testing.assert_allclose(aggregates[env], expected, rtol=1e-6, err_msg=f"step {step}")
            assert bonus[env] == pytest.approx(0.0 if dones[env] else beta - expected, abs=1e-6)
            if dones[env]:
                reference.reset()
            if dones[env] or expected < tau:
                reference.add(embeddings[env])
            size = len(reference.entries)
            assert batched.sizes[env] == size
            np.testing.assert_array_equal(batched.embeddings[env, :size], np.array(reference.entries))


def test_dense_similarity_path_matches_the_pairwise_one():
    rng = np.random.default_rng(4)
    memory = episodic_memory.EpisodicMemory(3, embedding_size=4, capacity=5, seed=0)
    for step in range(7):
        memory.add(rng.normal(size=(3, 4)), np.array([True, step % 2 == 0, step < 3]))
    assert memory.sizes.tolist() == [5, 4, 3]
    current = rng.normal(size=(3, 4))
    pairwise = lambda a, b: np.exp(-np.sum((a - b) ** 2, axis=1))
    calls = []

    def dense(query, entries):
        calls.append(entries.shape)
        return np.exp(-np.sum((query[:, None, :] - entries) ** 2, axis=2))

    expected = memory.similarities(current, pairwise)
    got = memory.similarities(current, pairwise, dense)  # 12 of 15 slots valid: dense
    assert calls == [(3, 5, 4)]
    np.testing.assert_allclose(got, expected)
    assert np.isnan(got[2, 3:]).all() and not np.isnan(got[0]).any()
    memory.reset(np.array([False, True, True]))
    memory.add(rng.normal(size=(3, 4)), np.array([False, True, True]))
    sparse = memory.similarities(current, pairwise, dense)  # 7 of 15 valid: pairwise
    assert len(calls) == 1
    np.testing.assert_allclose(sparse, memory.similarities(current, pairwise))
