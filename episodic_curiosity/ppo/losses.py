"""PPO2's losses and diagnostics as pure TF functions (the original code).

All take 1-d tensors over a minibatch; `neglogp` is -log pi(a|s) under the current policy,
`old_neglogp` under the policy that collected the data, so ratio = exp(old_neglogp - neglogp).
"""

from __future__ import annotations

import tensorflow as tf

ADVANTAGE_EPSILON = 1e-8


def probability_ratio(neglogp, old_neglogp) -> tf.Tensor:
    """pi(a|s) / pi_old(a|s) = exp(old_neglogp - neglogp).

    Args:
      neglogp: tensor [B], -log pi(a|s) now.
      old_neglogp: tensor [B], -log pi_old(a|s) at collection.
    """
    return tf.exp(old_neglogp - neglogp)


def policy_loss(neglogp, old_neglogp, advantages, cliprange) -> tf.Tensor:
    """Clipped surrogate: mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps))).

    Args:
      neglogp: tensor [B], -log pi(a|s) now.
      old_neglogp: tensor [B], -log pi_old(a|s).
      advantages: tensor [B], (normalised) advantages A.
      cliprange: scalar, eps.
    Returns: scalar tensor.
    """
    ratio = probability_ratio(neglogp, old_neglogp)
    unclipped = -advantages * ratio
    clipped = -advantages * tf.clip_by_value(ratio, 1.0 - cliprange, 1.0 + cliprange)
    return tf.reduce_mean(tf.maximum(unclipped, clipped))


def value_loss(values, old_values, returns, cliprange) -> tf.Tensor:
    """Clipped value loss: 0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)).

    Args:
      values: tensor [B], V(s) now.
      old_values: tensor [B], V(s) at collection.
      returns: tensor [B], GAE returns R.
      cliprange: scalar, eps (the policy's clip range, as in PPO2).
    Returns: scalar tensor.
    """
    clipped_values = old_values + tf.clip_by_value(values - old_values, -cliprange, cliprange)
    unclipped_error = tf.square(values - returns)
    clipped_error = tf.square(clipped_values - returns)
    return 0.5 * tf.reduce_mean(tf.maximum(unclipped_error, clipped_error))


def approx_kl(neglogp, old_neglogp) -> tf.Tensor:
    """PPO2's KL estimate 0.5 * mean((neglogp - old_neglogp)^2).

    Args:
      neglogp: tensor [B], -log pi(a|s) now.
      old_neglogp: tensor [B], -log pi_old(a|s).
    """
    return 0.5 * tf.reduce_mean(tf.square(neglogp - old_neglogp))


def clip_fraction(neglogp, old_neglogp, cliprange) -> tf.Tensor:
    """Fraction of samples with |ratio - 1| > eps.

    Args:
      neglogp: tensor [B], -log pi(a|s) now.
      old_neglogp: tensor [B], -log pi_old(a|s).
      cliprange: scalar, eps.
    """
    ratio = probability_ratio(neglogp, old_neglogp)
    return tf.reduce_mean(tf.cast(tf.abs(ratio - 1.0) > cliprange, tf.float32))


def normalize_advantages(advantages) -> tf.Tensor:
    """(A - mean(A)) / (std(A) + 1e-8), std being the population standard deviation.

    Args:
      advantages: tensor [B].
    """
    mean, variance = tf.nn.moments(advantages, axes=[0])
    return (advantages - mean) / (tf.sqrt(variance) + ADVANTAGE_EPSILON)
