"""R-network pairs: the sampler's rules, the original's TFRecord format, and the input pipeline."""

import collections
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from episodic_curiosity import r_training_data as data

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(REPO_ROOT, "..", "shared", "fixtures", "original_r_training_data")
SHAPE = (12, 16, 3)
V1 = data.V1_AFFECT_NUM_TRAINING_EXAMPLES
V2 = data.V2_FIXED_NUM_TRAINING_EXAMPLES


def _fixture_files():
    if not os.path.isdir(os.path.join(REPO_ROOT, "..", "shared")):
        pytest.skip("../shared (fixtures of the original implementation) is absent")
    files = sorted(glob.glob(os.path.join(FIXTURE_DIR, "*.tfrecords")))
    if not files:
        pytest.skip(f"no original TFRecord fixtures in {FIXTURE_DIR}")
    return files


def _read_examples(path):
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def _kinds(example):
    return {key: feature.WhichOneof("kind") for key, feature in example.features.feature.items()}


def _frame(value, shape=SHAPE):
    """A frame whose pixels identify it: every pixel is (value, 2 * value, 255 - value)."""
    frame = np.empty(shape, np.uint8)
    frame[...] = np.array([value, (2 * value) % 256, 255 - value], np.uint8)
    return frame


def _write(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            writer.write(example.SerializeToString(deterministic=True))
    return str(path)


# --- Pair sampling --------------------------------------------------------------------------


def _anchor(pair):
    """The cursor a pair was drawn at: the smaller index of a positive, the first of a negative."""
    return min(pair.first, pair.second) if pair.label == 1 else pair.first


def _many_episodes(mode, seed=0, count=300):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 400, size=count)
    return [(int(length), data.sample_pairs(int(length), rng, mode=mode)) for length in lengths]


@pytest.mark.parametrize("mode", [V1, V2])
def test_pair_gaps_indices_and_balance(mode):
    labels, orders, negative_sides = [], set(), set()
    for length, pairs in _many_episodes(mode):
        for first, second, label in pairs:
            assert 0 <= first < length and 0 <= second < length
            gap = abs(first - second)
            if label == 1:
                assert 1 <= gap <= data.MAX_ACTION_DISTANCE
                orders.add(first < second)
            else:
                assert label == 0 and gap > 25
                negative_sides.add(second > first)
            labels.append(label)
    assert len(labels) > 5000
    assert 0.4 < np.mean(labels) < 0.6
    assert orders == {True, False}  # positives come in both orders
    assert negative_sides == {True, False}  # negatives are drawn on both sides of the cursor


def test_v1_cursor_moves_past_the_positive_candidate():
    """v1: next cursor = q + 1, so after a positive (p, q) the next cursor is exactly q + 1."""
    advances = collections.Counter()
    for _, pairs in _many_episodes(V1):
        assert not pairs or _anchor(pairs[0]) == 0
        for previous, current in zip(pairs, pairs[1:]):
            advance = _anchor(current) - _anchor(previous)
            assert 2 <= advance <= data.MAX_ACTION_DISTANCE + 1
            if previous.label == 1:
                assert _anchor(current) == max(previous.first, previous.second) + 1
            advances[advance] += 1
    assert set(advances) == set(range(2, data.MAX_ACTION_DISTANCE + 2))


def test_v2_cursor_advance_is_independent_of_k():
    """v2: the cursor advances by U{1..5} + 1 whatever k is; positives may overlap."""
    rng = np.random.default_rng(1)
    for k in (2, 5, 8):
        advances, overlapping = collections.Counter(), 0
        for _ in range(200):
            pairs = data.sample_pairs(300, rng, max_action_distance=k, mode=V2)
            assert not pairs or _anchor(pairs[0]) == 0
            for previous, current in zip(pairs, pairs[1:]):
                advances[_anchor(current) - _anchor(previous)] += 1
                if previous.label == 1 and _anchor(current) <= max(previous.first, previous.second):
                    overlapping += 1
            for first, second, label in pairs:
                assert 1 <= abs(first - second) <= k if label == 1 else abs(first - second) > 5 * k
        assert set(advances) == set(range(2, 7)), k
        if k >= 5:
            assert overlapping > 0


@pytest.mark.parametrize("mode", [V1, V2])
def test_short_episodes_have_no_negatives_and_stop(mode):
    """Below 28 frames at most one index is > 25 away: the negative draw stops the episode."""
    rng = np.random.default_rng(2)
    for length in (0, 1, 2, 6, 20, 26, 27):
        counts = []
        for _ in range(300):
            pairs = data.sample_pairs(length, rng, mode=mode)
            assert all(label == 1 for _, _, label in pairs)
            counts.append(len(pairs))
        if length >= 20:
            # Without the stop there would be ~length/4 pairs; each cursor stops with p = 1/2.
            assert np.mean(counts) < 1.5
            assert 0 in counts


def test_exactly_one_valid_negative_index_stops():
    """L = 27, cursor 0: only j = 26 is > 25 away, and the original gives up (its quirk)."""
    found_stop = False
    for seed in range(200):
        pairs = data.sample_pairs(27, np.random.default_rng(seed))
        found_stop |= not pairs
        assert all(label == 1 for *_, label in pairs)
    assert found_stop
    # With 28 frames, cursor 0 has two valid indices (26, 27): negatives become possible.
    negatives = [p for seed in range(200) for p in data.sample_pairs(28, np.random.default_rng(seed)) if p.label == 0]
    assert negatives and all(p.first in (0, 1) and abs(p.second - p.first) > 25 for p in negatives)


def test_about_a_quarter_of_frames_become_examples():
    rng = np.random.default_rng(3)
    counts = [len(data.sample_pairs(2000, rng)) for _ in range(20)]
    assert 450 < np.mean(counts) < 550  # cursor advances by 4 on average


@pytest.mark.parametrize("mode", [V1, V2])
def test_same_generator_seed_same_pairs(mode):
    first = data.sample_pairs(500, np.random.default_rng(7), mode=mode)
    assert first == data.sample_pairs(500, np.random.default_rng(7), mode=mode)
    assert first != data.sample_pairs(500, np.random.default_rng(8), mode=mode)


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown pair sampling mode 'v9'.*v1_affect"):
        data.sample_pairs(100, np.random.default_rng(0), mode="v9")
    with pytest.raises(ValueError, match="max_action_distance"):
        data.sample_pairs(100, np.random.default_rng(0), max_action_distance=0)


# --- Record format --------------------------------------------------------------------------


def test_encode_parse_round_trip(tmp_path):
    x1, x2 = _frame(10), _frame(200)
    x2[0, 0] = (1, 2, 3)  # not a constant image: channel order must survive
    metadata = data.PairMetadata(seed=125, example_index=17, global_env_steps_at_episode=320)
    example = data.encode_pair_example(x1, x2, 1, metadata)
    path = _write(tmp_path / "a.tfrecords", [example, data.encode_pair_example(x2, x1, 0)])
    records = list(tf.data.TFRecordDataset(path))
    parsed = data.parse_pair_example(records[0], image_shape=SHAPE)
    np.testing.assert_array_equal(parsed["x1"].numpy(), x1)
    np.testing.assert_array_equal(parsed["x2"].numpy(), x2)
    assert parsed["x1"].dtype == tf.uint8
    np.testing.assert_array_equal(parsed["label"].numpy(), np.array([0.0, 1.0], np.float32))
    assert parsed["label"].dtype == tf.float32
    assert int(parsed["example_index"]) == 17
    assert int(parsed["global_env_steps_at_episode"]) == 320
    assert parsed["episode_length"].numpy() == b"default"
    negative = data.parse_pair_example(records[1].numpy(), image_shape=SHAPE)
    np.testing.assert_array_equal(negative["label"].numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(negative["x1"].numpy(), x2)


def test_frame_metadata_from_info():
    info = {"position": np.array([3.0, 4.0, 0.0]), "angle": 90.0}
    frame = data.frame_metadata_from_info(info, start_position=(0.0, 0.0, 0.0))
    assert frame.position == (3.0, 4.0, 0.0) and frame.dist_from_start == pytest.approx(5.0)
    assert frame.maze_layout == b"" and frame.rotation == (0.0, 0.0, 0.0) and frame.velocity == (0.0, 0.0, 0.0)
    dmlab_like = data.frame_metadata_from_info(
        {"position": [1, 2, 3], "maze_layout": "*P*", "rotation": [0, 90, 0], "velocity": [1, 0, 0]}
    )
    assert dmlab_like.maze_layout == b"*P*" and dmlab_like.rotation == (0.0, 90.0, 0.0)
    assert dmlab_like.dist_from_start == 0.0


def test_original_fixture_files_parse():
    files = _fixture_files()
    labels = collections.Counter()
    for path in files:
        assert data.validate_tfrecord_file(path) == len(_read_examples(path))
        for example in _read_examples(path):
            assert set(example.features.feature) == set(data.FEATURE_KEYS)
            assert len(data.FEATURE_KEYS) == 26
        for record in tf.data.TFRecordDataset(path):
            parsed = data.parse_pair_example(record)
            assert parsed["x1"].shape == (120, 160, 3) and parsed["x1"].dtype == tf.uint8
            assert parsed["x2"].shape == (120, 160, 3)
            assert parsed["label"].shape == (2,) and parsed["label"].dtype == tf.float32
            assert parsed["episode_length"].numpy() == b"default"
            labels[int(np.argmax(parsed["label"]))] += 1
    assert sum(labels.values()) == 108
    assert labels == {1: 58, 0: 50}


def test_written_records_have_the_fixture_keys_and_types():
    reference = _kinds(_read_examples(_fixture_files()[0])[0])
    reference_example = _read_examples(_fixture_files()[0])[0]
    ours = data.encode_pair_example(
        _frame(1, (120, 160, 3)),
        _frame(2, (120, 160, 3)),
        1,
        data.PairMetadata(),
        data.frame_metadata_from_info({"position": [1.0, 2.0, 3.0]}, (0.0, 0.0, 0.0)),
    )
    assert _kinds(ours) == reference
    for key, feature in ours.features.feature.items():
        kind = feature.WhichOneof("kind")
        expected = getattr(reference_example.features.feature[key], kind).value
        assert len(getattr(feature, kind).value) == len(expected), key
    # Our PNGs decode like the original's (8-bit RGB, 120 x 160).
    x1 = tf.io.decode_png(ours.features.feature["x1"].bytes_list.value[0])
    assert x1.shape == (120, 160, 3)


# --- Files and the pipeline -----------------------------------------------------------------


def _records_file(path, values, steps=0, episode_length="default", label=1):
    """A file of pairs whose frames are `_frame(v)`, v in `values`."""
    examples = [
        data.encode_pair_example(
            _frame(v),
            _frame(v),
            label,
            data.PairMetadata(global_env_steps_at_episode=steps, episode_length=episode_length),
        )
        for v in values
    ]
    return _write(path, examples)


def _first_pixels(dataset):
    return [int(x1[i, 0, 0, 0]) for (x1, _), _ in dataset for i in range(x1.shape[0])]


def test_pipeline_interleaves_files_one_element_each(tmp_path):
    a = _records_file(tmp_path / "a.tfrecords", [10, 11, 12])
    b = _records_file(tmp_path / "b.tfrecords", [20, 21])
    once = data.make_pair_dataset([a, b], batch_size=2, image_shape=SHAPE, shuffle_buffer=0, repeat=False)
    assert _first_pixels(once) == [10, 20, 11, 21, 12]
    (x1, x2), label = next(iter(once))
    assert x1.dtype == tf.uint8 and x1.shape == (2, *SHAPE) and x2.shape == (2, *SHAPE)
    assert label.dtype == tf.float32 and label.shape == (2, 2)
    forever = data.make_pair_dataset([a, b], batch_size=5, image_shape=SHAPE, shuffle_buffer=0)
    # Each file repeats on its own.
    assert _first_pixels(forever.take(2)) == [10, 20, 11, 21, 12, 20, 10, 21, 11, 20]


def test_pipeline_goes_on_where_an_earlier_reader_stopped(tmp_path):
    a = _records_file(tmp_path / "a.tfrecords", [10, 11, 12])
    b = _records_file(tmp_path / "b.tfrecords", [20, 21])
    empty = _records_file(tmp_path / "empty.tfrecords", [])
    # 8 records already read from 2 non-empty files: each starts at record (4 mod its length)
    # and wraps around; the empty file changes nothing.
    once = data.make_pair_dataset(
        [a, b, empty], batch_size=2, image_shape=SHAPE, shuffle_buffer=0, repeat=False, records_already_read=8
    )
    assert _first_pixels(once) == [11, 20, 12, 21, 10]
    forever = data.make_pair_dataset(
        [a, empty, b], batch_size=4, image_shape=SHAPE, shuffle_buffer=0, records_already_read=4
    )
    assert _first_pixels(forever.take(2)) == [12, 20, 10, 21, 11, 20, 12, 21]
    # Reading N records from the start, then resuming with records_already_read=N, sees the
    # same stream as one uninterrupted reader.
    whole = _first_pixels(data.make_pair_dataset([a, b], 2, SHAPE, shuffle_buffer=0).take(5))
    resumed = _first_pixels(data.make_pair_dataset([a, b], 2, SHAPE, shuffle_buffer=0, records_already_read=4).take(3))
    assert resumed == whole[4:]
    unchecked = data.make_pair_dataset(
        [a, b], 2, SHAPE, shuffle_buffer=0, repeat=False, validate_files=False, records_already_read=2
    )
    assert _first_pixels(unchecked) == [11, 21, 12, 20, 10]
    with pytest.raises(ValueError, match="records_already_read"):
        data.make_pair_dataset([a, b], 2, SHAPE, records_already_read=-1)


def test_pipeline_shuffles_deterministically_with_a_seed(tmp_path):
    a = _records_file(tmp_path / "a.tfrecords", range(0, 40))
    b = _records_file(tmp_path / "b.tfrecords", range(100, 140))

    def first(seed):
        return _first_pixels(data.make_pair_dataset([a, b], 80, SHAPE, shuffle_buffer=100, seed=seed, repeat=False))

    assert first(1) == first(1)
    assert first(1) != first(2)
    assert sorted(first(1)) == sorted(list(range(0, 40)) + list(range(100, 140)))


def test_pipeline_filters_steps_and_episode_length(tmp_path):
    files = [
        _records_file(tmp_path / "early.tfrecords", [1, 2], steps=1000),
        _records_file(tmp_path / "at_limit.tfrecords", [3], steps=2_500_000),
        _records_file(tmp_path / "late.tfrecords", [4, 5], steps=2_500_001),
        _records_file(tmp_path / "other_length.tfrecords", [6], steps=0, episode_length="180"),
    ]
    kept = _first_pixels(data.make_pair_dataset(files, 8, SHAPE, shuffle_buffer=0, repeat=False))
    assert sorted(kept) == [1, 2, 3]
    kept = _first_pixels(
        data.make_pair_dataset(
            files, 8, SHAPE, shuffle_buffer=0, repeat=False, max_input_env_steps=999, episode_length="180"
        )
    )
    assert kept == [6]
    kept = _first_pixels(
        data.make_pair_dataset(
            files, 8, SHAPE, shuffle_buffer=0, repeat=False, max_input_env_steps=None, episode_length=None
        )
    )
    assert sorted(kept) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="no record .* passes the filter"):
        data.make_pair_dataset(files, 8, SHAPE, max_input_env_steps=10, episode_length="600")


def test_truncated_file_gives_one_clear_error(tmp_path):
    good = _records_file(tmp_path / "good.tfrecords", range(5))
    content = open(good, "rb").read()
    truncated = tmp_path / "r_training_data_3_0.tfrecords"
    truncated.write_bytes(content[:-40])
    with pytest.raises(data.CorruptDataError, match="r_training_data_3_0.tfrecords.*truncated record") as info:
        data.make_pair_dataset([good, str(truncated)], 4, SHAPE)
    assert info.value.path == str(truncated)
    assert isinstance(info.value, ValueError)
    flipped = bytearray(content)
    flipped[len(content) // 2] ^= 0xFF
    (tmp_path / "flipped.tfrecords").write_bytes(bytes(flipped))
    with pytest.raises(data.CorruptDataError, match="flipped.tfrecords"):
        data.validate_tfrecord_file(str(tmp_path / "flipped.tfrecords"))
    with pytest.raises(FileNotFoundError, match="missing.tfrecords"):
        data.validate_tfrecord_file(str(tmp_path / "missing.tfrecords"))
    assert data.validate_tfrecord_file(good) == 5


def test_image_shape_mismatch_is_reported(tmp_path):
    path = _records_file(tmp_path / "small.tfrecords", [1, 2])
    with pytest.raises(data.ImageShapeError, match=r"small.tfrecords.*\(12, 16, 3\).*\(120, 160, 3\)"):
        data.make_pair_dataset([path], 2, image_shape=(120, 160, 3))
    unchecked = data.make_pair_dataset([path], 2, image_shape=(120, 160, 3), validate_files=False, repeat=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not have image_shape"):
        next(iter(unchecked))


def test_split_train_validation_takes_the_first_sorted_files():
    files = [f"/d/VALIDATION/f{i}.tfrecords" for i in range(2)] + [f"/d/R_TRAINING/f{i}.tfrecords" for i in range(2)]
    train, validation = data.split_train_validation(files, 50)
    assert validation == ["/d/R_TRAINING/f0.tfrecords", "/d/R_TRAINING/f1.tfrecords"]
    assert train == ["/d/VALIDATION/f0.tfrecords", "/d/VALIDATION/f1.tfrecords"]
    train, validation = data.split_train_validation([f"f{i}" for i in range(10)], 10)
    assert validation == ["f0"] and len(train) == 9
    train, validation = data.split_train_validation(["b", "a"], 10)  # at least one each
    assert (train, validation) == (["b"], ["a"])
    assert data.split_train_validation(["b", "a"], 0) == (["a", "b"], [])
    with pytest.raises(ValueError, match="single file"):
        data.split_train_validation(["a"], 10)
    with pytest.raises(ValueError, match="percent_validation_files"):
        data.split_train_validation(["a", "b"], 150)


def test_mixer_seeds():
    assert data.MIXER_SEEDS == {
        "R_TRAINING": 0,
        "POLICY_TRAINING": 0x3D23BE66,
        "VALIDATION": 0x2B79ED94,
        "TEST": 0x600D5EED,
        "R_VALIDATION": 0x1C0FFEE5,
    }


def test_records_that_are_not_pairs_are_reported(tmp_path):
    other = tf.train.Example(
        features=tf.train.Features(feature={"something": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))})
    )
    path = _write(tmp_path / "other.tfrecords", [other])
    with pytest.raises(data.CorruptDataError, match="other.tfrecords.*not an R-network pair"):
        data.make_pair_dataset([path], 2, SHAPE)
