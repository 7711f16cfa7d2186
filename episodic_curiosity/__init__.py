"""Episodic Curiosity through Reachability, in TensorFlow 2 / Keras 3 / Gymnasium."""

__version__ = "0.1.0"
