"""R-network: architecture, parity with the original's .h5 and reference outputs, checkpoints."""

import os

import gin
import numpy as np
import pytest

from episodic_curiosity import r_network

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "..", "shared", "fixtures", "original_r_network")
WEIGHTS = os.path.join(FIXTURES, "r_network_weights.00002.h5")
REFERENCE = os.path.join(FIXTURES, "rnet_reference_io.npz")
needs_fixture = pytest.mark.skipif(not os.path.exists(WEIGHTS), reason="../shared fixtures absent")

TINY_SHAPE = (24, 32, 3)


@pytest.fixture
def tiny_config():
    gin.clear_config()
    gin.bind_parameter("build_embedding_network.stage_filters", (4, 8, 8, 8))
    gin.bind_parameter("build_embedding_network.embedding_size", 16)
    gin.bind_parameter("build_comparator_network.hidden_units", 8)
    yield
    gin.clear_config()


def test_paper_architecture_sizes():
    network = r_network.RNetwork()
    embedding = network.embedding_network
    assert embedding.input_shape == (None, 120, 160, 3)
    assert embedding.output_shape == (None, 512)
    # Spatial sizes as in the original code: 60x80 after conv1, 4x5 after stage 4.
    shapes = [tuple(layer.output.shape[1:3]) for layer in embedding.layers if layer.__class__.__name__ == "Add"]
    assert shapes == [(30, 40)] * 2 + [(15, 20)] * 2 + [(8, 10)] * 2 + [(4, 5)] * 2
    # 110 embedding arrays and 30 comparator arrays, as in the original's file.
    groups = network._groups()
    assert (len(groups["model"]), len(groups["model_1"])) == (110, 30)
    assert network.comparator.output_shape == (None, 2)


@needs_fixture
def test_original_h5_reproduces_reference_outputs():
    reference = np.load(REFERENCE)
    network = r_network.RNetwork(weights_path=WEIGHTS)
    pairs = reference["pairs"]
    for suffix, frames in (("", reference["x"]), ("_small", reference["x_small"])):
        embeddings = network.embed(frames)
        expected = reference["embeddings" + suffix]
        # Two runs of the original agree to ~4e-7 relative (batch composition changes the
        # float32 summation order); 1e-5 leaves room for other CPUs' kernels while being far
        # below any architectural error (a wrong shortcut or BN epsilon gives >= 5e-3).
        np.testing.assert_allclose(embeddings, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
        logits = network.similarity_logits(expected[pairs[:, 0]], expected[pairs[:, 1]])
        expected_logits = reference["similarity_logits" + suffix]
        np.testing.assert_allclose(logits, expected_logits, rtol=0, atol=1e-5 * np.abs(expected_logits).max())
        similarity = network.similarity(expected[pairs[:, 0]], expected[pairs[:, 1]])
        np.testing.assert_allclose(similarity, reference["similarity" + suffix], atol=1e-5)
        full = network.pair_model(
            [frames[pairs[:, 0]].astype(np.float32), frames[pairs[:, 1]].astype(np.float32)], training=False
        )
        np.testing.assert_allclose(np.asarray(full), reference["similarity_full_model" + suffix], atol=1e-5)


@needs_fixture
def test_own_checkpoint_round_trip_of_original_weights(tmp_path):
    reference = np.load(REFERENCE)
    network = r_network.RNetwork(weights_path=WEIGHTS)
    path = str(tmp_path / "r_network_weights.00001.h5")
    network.save_weights(path)
    reloaded = r_network.RNetwork(weights_path=path)
    np.testing.assert_array_equal(reloaded.embed(reference["x"]), network.embed(reference["x"]))


def test_uint8_and_float_frames_give_the_same_embedding(tiny_config):
    network = r_network.RNetwork(input_shape=TINY_SHAPE)
    frames = np.random.default_rng(0).integers(0, 256, size=(5, *TINY_SHAPE), dtype=np.uint8)
    np.testing.assert_allclose(network.embed(frames), network.embed(frames.astype(np.float32)), rtol=1e-6)
    assert network.embed(frames).shape == (5, 16)


def test_similarity_is_softmax_of_logits(tiny_config):
    network = r_network.RNetwork(input_shape=TINY_SHAPE)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 7, 16)).astype(np.float32)
    logits = network.similarity_logits(a, b)
    assert logits.shape == (7, 2)
    expected = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(network.similarity(a, b), expected, rtol=1e-5)
    # Batch composition does not change a pair's result.
    np.testing.assert_allclose(network.similarity(a[:3], b[:3]), network.similarity(a, b)[:3], rtol=1e-5)


def test_wrong_shapes_are_rejected(tiny_config):
    network = r_network.RNetwork(input_shape=TINY_SHAPE)
    with pytest.raises(ValueError, match=r"frames must have shape \[B, 24, 32, 3\]"):
        network.embed(np.zeros((2, 120, 160, 3), np.uint8))
    with pytest.raises(ValueError, match="embeddings must have shape"):
        network.similarity(np.zeros((2, 512)), np.zeros((2, 512)))
    with pytest.raises(ValueError, match="differ"):
        network.similarity(np.zeros((2, 16)), np.zeros((3, 16)))


def test_save_load_round_trip_tiny(tiny_config, tmp_path):
    network = r_network.RNetwork(input_shape=TINY_SHAPE)
    frames = np.random.default_rng(2).integers(0, 256, size=(3, *TINY_SHAPE), dtype=np.uint8)
    path = str(tmp_path / "weights.h5")
    network.save_weights(path)
    other = r_network.RNetwork(input_shape=TINY_SHAPE)
    assert not np.allclose(other.embed(frames), network.embed(frames))
    other.load_weights(path)
    np.testing.assert_array_equal(other.embed(frames), network.embed(frames))
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_corrupt_checkpoint_gives_one_clear_error_and_changes_nothing(tiny_config, tmp_path):
    network = r_network.RNetwork(input_shape=TINY_SHAPE)
    frames = np.full((1, *TINY_SHAPE), 7, np.uint8)
    before = network.embed(frames)
    good = str(tmp_path / "good.h5")
    network.save_weights(good)
    corrupt = str(tmp_path / "corrupt.h5")
    with open(good, "rb") as f:
        data = f.read()
    with open(corrupt, "wb") as f:
        f.write(data[: len(data) // 3])
    with pytest.raises(r_network.CheckpointError, match="corrupt.h5"):
        network.load_weights(corrupt)
    garbage = str(tmp_path / "garbage.h5")
    with open(garbage, "wb") as f:
        f.write(b"not an hdf5 file at all")
    with pytest.raises(r_network.CheckpointError, match="not a readable HDF5 file"):
        network.load_weights(garbage)
    np.testing.assert_array_equal(network.embed(frames), before)
    with open(good, "rb") as f:
        assert f.read() == data  # the failed loads wrote nothing


@needs_fixture
def test_architecture_mismatch_names_the_problem(tiny_config, tmp_path):
    network = r_network.RNetwork(input_shape=TINY_SHAPE)
    with pytest.raises(r_network.CheckpointError, match="shape"):
        network.load_weights(WEIGHTS)


@needs_fixture
def test_bfloat16_inference_stays_close_to_float32():
    reference = np.load(REFERENCE)
    fp32 = r_network.RNetwork(weights_path=WEIGHTS)
    bf16 = r_network.RNetwork(weights_path=WEIGHTS, inference_dtype="bfloat16")
    expected, got = fp32.embed(reference["x"]), bf16.embed(reference["x"])
    assert got.dtype == np.float32
    relative = np.linalg.norm(got - expected) / np.linalg.norm(expected)
    assert 0 < relative < 2e-2  # measured ~3.5e-3 on AVX512-BF16 CPUs
    with pytest.raises(ValueError, match="inference_dtype"):
        r_network.RNetwork(inference_dtype="float16")


@needs_fixture
def test_factored_comparison_matches_the_comparator():
    reference = np.load(REFERENCE)
    network = r_network.RNetwork(weights_path=WEIGHTS)
    rng = np.random.default_rng(0)
    for embeddings in (reference["embeddings_small"], rng.normal(size=(8, 512)).astype(np.float32)):
        a, b = embeddings, embeddings[::-1].copy()
        expected = network.similarity(a, b)
        got = network.similarity_from_keys(network.query_keys(a), network.memory_keys(b))
        np.testing.assert_allclose(got, expected, atol=1e-5)
        expected_logits = network.similarity_logits(a, b)
        assert np.ptp(expected) > 0 or np.ptp(expected_logits) > 0


@needs_fixture
def test_bfloat16_comparison_stays_within_the_bonus_tolerance():
    # The bonus is beta - (a percentile of similarities): its error is the similarity error.
    # Embeddings of this spread give similarities across 0.05..0.6 with the fixture's comparator.
    embeddings = np.random.default_rng(0).normal(size=(48, 512)).astype(np.float32) * 0.5
    first, second = np.repeat(np.arange(48), 48), np.tile(np.arange(48), 48)
    results = {}
    for dtype in ("float32", "bfloat16"):
        network = r_network.RNetwork(weights_path=WEIGHTS, inference_dtype=dtype)
        results[dtype] = network.similarity_from_keys(
            network.query_keys(embeddings[first]), network.memory_keys(embeddings[second])
        )
    assert np.ptp(results["float32"]) > 0.3
    error = np.abs(results["bfloat16"] - results["float32"])
    assert 0 < error.max() < 0.01, error.max()  # measured: max 3.0e-3, mean 6.7e-4
    percentile_error = np.abs(
        np.percentile(results["bfloat16"].reshape(48, 48), 90, axis=1)
        - np.percentile(results["float32"].reshape(48, 48), 90, axis=1)
    )
    assert percentile_error.max() < 0.005  # the bonus's aggregate: measured 1.7e-3


def test_auto_inference_dtype_follows_the_hardware(tmp_path, monkeypatch):
    with_bf16, without = tmp_path / "with", tmp_path / "without"
    with_bf16.write_text("processor : 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor : 0\nflags\t\t: fpu sse avx2\n")
    assert r_network.cpu_has_fast_bfloat16(str(with_bf16))
    assert not r_network.cpu_has_fast_bfloat16(str(without))
    assert not r_network.cpu_has_fast_bfloat16(str(tmp_path / "missing"))
    monkeypatch.setattr(r_network, "cpu_has_fast_bfloat16", lambda: False)
    monkeypatch.setattr(r_network.tf.config, "list_physical_devices", lambda kind: [])
    assert r_network.resolve_inference_dtype("auto") == "float32"
    monkeypatch.setattr(r_network, "cpu_has_fast_bfloat16", lambda: True)
    assert r_network.resolve_inference_dtype("auto") == "bfloat16"
    assert r_network.resolve_inference_dtype("float32") == "float32"
    with pytest.raises(ValueError, match="inference_dtype must be one of"):
        r_network.resolve_inference_dtype("float16")


def test_memory_similarities_equal_pairwise_key_comparisons(tiny_config):
    network = r_network.RNetwork(input_shape=TINY_SHAPE)
    rng = np.random.default_rng(2)
    queries = network.query_keys(rng.normal(size=(3, 16)).astype(np.float32))
    memory = network.memory_keys(rng.normal(size=(3 * 6, 16)).astype(np.float32)).reshape(3, 6, -1)
    dense = network.memory_similarities(queries, memory)
    assert dense.shape == (3, 6)
    pairwise = network.similarity_from_keys(np.repeat(queries, 6, axis=0), memory.reshape(18, -1))
    np.testing.assert_allclose(dense, pairwise.reshape(3, 6), atol=1e-6)
