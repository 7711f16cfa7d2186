"""Process-wide TensorFlow settings of the entry points (thread pools).

TensorFlow sizes both pools to the machine's cores by default, which suits a 2-core laptop
(the env workers mostly wait for the learner there). On a 16+ core machine running 12 env
workers beside the learner, giving TensorFlow all cores oversubscribes them; pass e.g.
`--intra_op_threads=8 --inter_op_threads=2` to leave cores to the envs.
"""

from __future__ import annotations

import tensorflow as tf


def configure_threads(intra_op_threads: int = 0, inter_op_threads: int = 0) -> dict[str, int]:
    """Sets TensorFlow's thread pools; 0 keeps TensorFlow's default (one thread per core).

    Must run before TensorFlow executes its first op (TensorFlow refuses later changes).

    Args:
      intra_op_threads: int, threads inside one op (matmul, convolution).
      inter_op_threads: int, ops run concurrently.

    Returns:
      the effective settings (0 = TensorFlow's default).
    """
    for name, value in (("intra_op_threads", intra_op_threads), ("inter_op_threads", inter_op_threads)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0 (0 = TensorFlow's default), got {value}")
    try:
        if intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
        if inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    except RuntimeError as e:
        raise RuntimeError("TensorFlow thread pools must be configured before TensorFlow runs its first op") from e
    return {
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }
