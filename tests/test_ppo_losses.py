"""PPO2 losses and diagnostics against hand-computed numbers."""

import math

import numpy as np
import pytest
import tensorflow as tf

from episodic_curiosity.ppo import losses

EPS = 0.2


def _neglogps_for_ratios(ratios):
    """(neglogp, old_neglogp) whose ratio exp(old - new) is `ratios`."""
    old = np.full(len(ratios), 2.0, np.float32)
    return (old - np.log(np.asarray(ratios, np.float32))).astype(np.float32), old


def _value(tensor):
    return float(tensor.numpy())


@pytest.mark.parametrize(
    "ratio, advantage, expected",
    [
        (1.5, 1.0, -1.2),  # A > 0, ratio above 1 + eps: the clipped term binds.
        (1.5, -1.0, 1.5),  # A < 0, ratio above 1 + eps: the unclipped (pessimistic) term wins.
        (0.5, -1.0, 0.8),  # A < 0, ratio below 1 - eps: the clipped term binds.
        (0.5, 1.0, -0.5),  # A > 0, ratio below 1 - eps: unclipped.
        (1.1, 2.0, -2.2),  # inside the clip range: plain -A * ratio.
    ],
)
def test_policy_loss_single_sample(ratio, advantage, expected):
    neglogp, old = _neglogps_for_ratios([ratio])
    loss = losses.policy_loss(neglogp, old, np.array([advantage], np.float32), EPS)
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_policy_loss_is_mean_over_samples():
    neglogp, old = _neglogps_for_ratios([1.5, 1.5, 0.5, 0.5, 1.1])
    advantages = np.array([1.0, -1.0, -1.0, 1.0, 2.0], np.float32)
    loss = losses.policy_loss(neglogp, old, advantages, EPS)
    assert _value(loss) == pytest.approx((-1.2 + 1.5 + 0.8 - 0.5 - 2.2) / 5, rel=1e-5)


def test_value_loss_clipping_on_both_sides():
    old_values = np.ones(4, np.float32)
    values = np.array([1.5, 0.5, 1.1, 1.5], np.float32)
    returns = np.array([2.0, 0.0, 1.0, 1.0], np.float32)
    # 1: (1.5-2)^2 = .25 vs clipped V = 1.2: (1.2-2)^2 = .64 -> .64 (upper clip binds)
    # 2: (0.5-0)^2 = .25 vs clipped V = 0.8: .64 -> .64 (lower clip binds)
    # 3: inside the range: .01 both
    # 4: (1.5-1)^2 = .25 vs clipped V = 1.2: .04 -> .25 (unclipped larger)
    expected = 0.5 * (0.64 + 0.64 + 0.01 + 0.25) / 4
    loss = losses.value_loss(values, old_values, returns, EPS)
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_approx_kl():
    neglogp = np.array([1.0, 2.0], np.float32)
    old = np.array([1.5, 1.0], np.float32)
    assert _value(losses.approx_kl(neglogp, old)) == pytest.approx(0.5 * (0.25 + 1.0) / 2)


def test_clip_fraction():
    neglogp, old = _neglogps_for_ratios([1.5, 0.5, 1.05, 1.0, 0.85])
    assert _value(losses.clip_fraction(neglogp, old, EPS)) == pytest.approx(2 / 5)
    assert _value(losses.clip_fraction(neglogp, old, 0.1)) == pytest.approx(3 / 5)


def test_normalize_advantages():
    normalized = losses.normalize_advantages(np.array([1.0, 2.0, 3.0, 4.0], np.float32)).numpy()
    std = math.sqrt(1.25)  # population std, as numpy's default
    np.testing.assert_allclose(normalized, np.array([-1.5, -0.5, 0.5, 1.5]) / (std + 1e-8), rtol=1e-6)
    constant = losses.normalize_advantages(np.full(3, 7.0, np.float32)).numpy()
    np.testing.assert_array_equal(constant, np.zeros(3))


def test_losses_are_differentiable():
    neglogp = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        loss = losses.policy_loss(neglogp, tf.constant([1.0, 2.0]), tf.constant([1.0, -1.0]), EPS)
    gradient = tape.gradient(loss, neglogp).numpy()
    # At ratio 1: d/dneglogp of -A * exp(old - neglogp) = A * ratio, halved by the mean.
    np.testing.assert_allclose(gradient, [0.5, -0.5], rtol=1e-6)
