"""The installed stack is the decided one: TensorFlow 2 with Keras 3, gin, Gymnasium >= 1.1."""

import importlib

import episodic_curiosity


def test_version_string():
    assert episodic_curiosity.__version__.count(".") == 2


def test_keras_3_and_tensorflow_2():
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    assert int(keras.__version__.split(".")[0]) == 3
    assert int(tf.__version__.split(".")[0]) == 2
    assert tf.keras.__name__.startswith("keras")  # tf.keras is Keras 3, not tf_keras


def test_core_dependencies_import():
    for module in ["gin", "absl.flags", "cv2", "numpy", "h5py", "gymnasium"]:
        importlib.import_module(module)
    from gymnasium.vector import AutoresetMode  # pylint: disable=g-import-not-at-top

    assert AutoresetMode.SAME_STEP
