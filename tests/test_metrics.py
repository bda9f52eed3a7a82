import math

import pytest
import torch
from torch import nn

from spurcomp.metrics.accuracy import group_accuracies, unbiased_accuracy, worst_group_accuracy
from spurcomp.metrics.attribution import attribution_shares, integrated_gradients_shares
from spurcomp.metrics.pruning import (activation_scores, kappa_prunability, masked_units, structured_masks,
                                      weight_norm_scores)
from spurcomp.metrics.representation import activation_sparsity, penultimate_activations
from spurcomp.models.fcn import FCN


def test_unbiased_accuracy_is_the_mean_of_group_accuracies():
    # groups (y,b): (0,0) 3 samples 2 right; (0,1) 1 sample right; (1,0) 2 samples 0 right; (1,1) 2 samples 2 right
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    b = torch.tensor([0, 0, 0, 1, 0, 0, 1, 1])
    correct = torch.tensor([1, 1, 0, 1, 0, 0, 1, 1], dtype=torch.bool)
    assert group_accuracies(correct, y, b) == {(0, 0): pytest.approx(2 / 3), (0, 1): 1.0, (1, 0): 0.0, (1, 1): 1.0}
    assert unbiased_accuracy(correct, y, b) == pytest.approx((2 / 3 + 1 + 0 + 1) / 4)
    assert worst_group_accuracy(correct, y, b) == 0.0
    # plain accuracy would be 5/8; the unbiased one does not depend on group sizes
    assert unbiased_accuracy(correct, y, b) != pytest.approx(5 / 8)


def hand_fcn():
    """2 inputs -> 3 hidden (one layer) -> 2 classes, weights written out by hand."""
    model = FCN((2,), [3], 2)
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.1, 0.1]]))
        model[1].bias.zero_()
        model[3].weight.copy_(torch.tensor([[1.0, -1.0, 10.0], [-1.0, 1.0, 0.0]]))
        model[3].bias.zero_()
    return model


def test_neuron_scores_are_incoming_weight_norms_and_masks_drop_the_smallest():
    model = hand_fcn()
    (scores,) = weight_norm_scores(model)
    assert scores.tolist() == pytest.approx([1.0, 2.0, math.sqrt(0.02)])
    assert structured_masks([scores], 0.3)[0].tolist() == [True, True, True]  # floor(0.9) = 0 pruned
    assert structured_masks([scores], 0.34)[0].tolist() == [True, True, False]  # floor(1.02) = 1 pruned
    assert structured_masks([scores], 0.4)[0].tolist() == [True, True, False]
    assert structured_masks([scores], 0.7)[0].tolist() == [False, True, False]
    assert structured_masks([scores], 1.0)[0].tolist() == [False, False, False]
    with pytest.raises(ValueError, match="kappa"):
        structured_masks([scores], 1.5)


def test_masking_a_neuron_equals_zeroing_its_incoming_weights():
    model = hand_fcn()
    x = torch.randn(16, 2)
    with masked_units(model, [torch.tensor([True, True, False])]):
        masked = model(x)
    with torch.no_grad():
        model[1].weight[2].zero_()
    torch.testing.assert_close(masked, model(x))
    assert not model[2]._forward_hooks  # hooks removed after the block


def test_kappa_prunability_on_a_hand_computed_case():
    model = hand_fcn()
    # inputs where the third (smallest) neuron decides: x = (1, 1) -> h = (1, 2, 0.2) -> logits (1.0, 1.0)
    # class 0 wins ties (argmax picks the first); with h3 pruned, logits (-1, 1) -> class 1.
    x = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    b = torch.tensor([0, 1, 0, 1])
    # unpruned: predictions 0 (right), 0 (right), 1 (right), 0 (wrong) -> group acc 1,1,1,0 -> 0.75
    # κ=0.4 prunes neuron 3: predictions 1, 0, 1, 1 -> right: no, yes, yes, yes -> 0.75 -> κP = 1
    # κ=0.7 prunes neurons 3 and 1: h = (0, 2x2) -> logits (-2x2, 2x2): preds 1, 0 (tie), 1, 1 -> 0.75
    # κ=1.0 prunes all: logits 0 -> all class 0: right, right, wrong, wrong -> 0.5 -> κP = 2/3
    result = kappa_prunability(model, x, y, b, kappas=[0.4, 0.7, 1.0], scores=weight_norm_scores(model))
    assert result == {0.4: (pytest.approx(1.0), pytest.approx(0.75)), 0.7: (pytest.approx(1.0), pytest.approx(0.75)),
                      1.0: (pytest.approx(0.5 / 0.75), pytest.approx(0.5))}


def test_activation_scores_are_mean_absolute_post_activations():
    model = hand_fcn()
    # x = (1, 1) -> h = relu(1, 2, 0.2); x = (1, 0) -> h = relu(1, 0, 0.1); x = (-1, 0) -> h = 0 (dead for it)
    (scores,) = activation_scores(model, torch.tensor([[1.0, 1.0], [1.0, 0.0], [-1.0, 0.0]]), batch_size=2)
    assert scores.tolist() == pytest.approx([2 / 3, 2 / 3, 0.1])
    # the default criterion prunes the least active neuron first
    assert structured_masks([scores], 0.4)[0].tolist() == [True, True, False]


def test_kappa_prunability_of_a_model_with_no_accuracy_is_nan_not_a_crash():
    model = hand_fcn()
    x = torch.tensor([[1.0, 0.0]])
    result = kappa_prunability(model, x, torch.tensor([1]), torch.tensor([1]), kappas=[0.5])
    assert math.isnan(result[0.5][0]) and result[0.5][1] == 0.0


def test_activation_sparsity_and_penultimate_activations():
    assert activation_sparsity(torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 3.0]])) == pytest.approx(5 / 8)
    with pytest.raises(ValueError, match="non-empty"):
        activation_sparsity(torch.zeros(0, 3))
    model = hand_fcn()
    acts = penultimate_activations(model, torch.tensor([[1.0, -1.0]]))
    assert acts.tolist() == [[1.0, 0.0, 0.0]]  # relu(1, -2, 0)


def test_attribution_shares_hand_computed_and_all_zero_samples():
    attributions = torch.tensor([[1.0, -1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 1.0]])
    core = torch.tensor([[True, True, False, False]] * 3)
    spurious = torch.tensor([[False, False, True, False]] * 3)
    noise = ~(core | spurious)
    shares = attribution_shares(attributions, {"core": core, "spurious": spurious, "noise": noise})
    # sample 1: core 2/4, spurious 2/4, noise 0; sample 2 is all zero and left out; sample 3: core 3/4, noise 1/4
    assert shares == {"core": pytest.approx(0.625), "spurious": pytest.approx(0.25), "noise": pytest.approx(0.125)}
    none = attribution_shares(torch.zeros(2, 4), {"core": core[:2]})
    assert math.isnan(none["core"])


def test_integrated_gradients_of_a_linear_model_is_exact():
    # for f(x) = w.x the IG attribution of feature i is (x_i - baseline_i) * w_i, whatever the baseline path
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [3.0, 1.0, 0.0]]))
    x = torch.tensor([[1.0, 1.0, 1.0]])
    masks = {"core": torch.tensor([[True, False, False]]), "spurious": torch.tensor([[False, True, False]]),
             "noise": torch.tensor([[False, False, True]])}
    # baselines uniform in [-1e-9, 1e-9] ~ 0: attributions (3, 1, 0)
    shares = integrated_gradients_shares(model, x, torch.tensor([1]), masks, (-1e-9, 1e-9), n_baselines=3, n_steps=4)
    assert shares == {"core": pytest.approx(0.75), "spurious": pytest.approx(0.25), "noise": pytest.approx(0.0)}
