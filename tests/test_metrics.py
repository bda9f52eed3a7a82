import math

import pytest
import torch
from torch import nn

from spurcomp.metrics.accuracy import group_accuracies, unbiased_accuracy, worst_group_accuracy
from spurcomp.metrics.attribution import (attribution_density, attribution_entropy, attribution_shares,
                                          background_attribution_percentage,
                                          integrated_gradients, mean_over_baselines)
from spurcomp.metrics.pruning import (activation_scores, kappa_prunability, magnitude_pruned, masked_units,
                                      pruned_parameter_fraction, structured_masks, unit_scores)
from spurcomp.models import UnitLayer, unit_layers
from spurcomp.metrics.representation import (activation_sparsity, class_separation_r2, penultimate_activations,
                                             qk_compressibility, selectivity_index)
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


def test_structured_masks_drop_the_lowest_scores_per_layer():
    scores = torch.tensor([1.0, 2.0, 0.5])
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
    result = kappa_prunability(model, x, y, b, kappas=[0.4, 0.7, 1.0],
                               scores=[torch.tensor([1.0, 2.0, 0.5])])
    assert [p.kappa for p in result] == [0.4, 0.7, 1.0]
    assert [p.accuracy for p in result] == pytest.approx([0.75, 0.75, 0.5])
    assert [p.retained for p in result] == pytest.approx([1.0, 1.0, 0.5 / 0.75])
    # above chance (1/2 for 2 classes): (0.75 - 0.5) / (0.75 - 0.5) = 1; all pruned: (0.5 - 0.5) / 0.25 = 0
    assert [p.retained_above_chance for p in result] == pytest.approx([1.0, 1.0, 0.0])
    # 17 parameters (6 + 3 in, 6 + 2 out); a hidden neuron owns its 2 incoming weights, its bias and its 2
    # outgoing weights: 5 each; the output bias is never pruned
    assert [p.parameter_fraction for p in result] == pytest.approx([5 / 17, 10 / 17, 15 / 17])
    unstructured = kappa_prunability(model, x, y, b, kappas=[0.5], structured=False)
    assert unstructured[0].parameter_fraction == 0.5


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
    (result,) = kappa_prunability(model, x, torch.tensor([1]), torch.tensor([1]), kappas=[0.5],
                                  scores=[torch.ones(3)])
    assert math.isnan(result.retained) and math.isnan(result.retained_above_chance) and result.accuracy == 0.0


class HandNet(nn.Module):
    """2 inputs -> 4 units -> 2 units -> 2 classes, Linear -> BatchNorm -> ReLU, weights written out so that every
    criterion ranks the units the same way: layer 0 scores ∝ (0.4, 0.1, 0.3, 0.2), layer 1 ∝ (0.05, 0.5).

    Parameters: Linear(2, 4) 12, BN 8, Linear(4, 2) 10, BN 4, Linear(2, 2) 6: 40. A layer-0 unit owns 7 of them
    (2 weights in, bias, γ and β, 2 weights out), a layer-1 unit 9 (4 in, bias, γ, β, 2 out)."""

    def __init__(self):
        super().__init__()
        self.l0, self.n0, self.r0 = nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU()
        self.l1, self.n1, self.r1 = nn.Linear(4, 2), nn.BatchNorm1d(2), nn.ReLU()
        self.out = nn.Linear(2, 2)
        s0, s1 = torch.tensor([0.4, 0.1, 0.3, 0.2]), torch.tensor([0.05, 0.5])
        with torch.no_grad():
            self.l0.weight.copy_(s0[:, None].expand(4, 2))
            self.l1.weight.copy_(s1[:, None].expand(2, 4))
            self.n0.weight.copy_(s0)
            self.n1.weight.copy_(s1)
            for module in (self.l0, self.l1, self.n0, self.n1):
                module.bias.zero_()
        self.eval()

    def forward(self, x):
        return self.out(self.r1(self.n1(self.l1(self.r0(self.n0(self.l0(x)))))))

    def unit_layers(self):
        return [UnitLayer(self.r0, self.l0, self.n0, self.l1), UnitLayer(self.r1, self.l1, self.n1, self.out)]

    def representation(self):
        return self.r1


def test_unit_scores_of_every_criterion_on_a_hand_built_model():
    model, x = HandNet(), torch.ones(3, 2)
    l1 = unit_scores(model, "l1_weight")  # mean |w| of each unit's incoming weights
    assert [s.tolist() for s in l1] == [pytest.approx([0.4, 0.1, 0.3, 0.2]), pytest.approx([0.05, 0.5])]
    bn = unit_scores(model, "bn_scale")
    assert [s.tolist() for s in bn] == [pytest.approx([0.4, 0.1, 0.3, 0.2]), pytest.approx([0.05, 0.5])]
    # x = (1, 1): layer 0 pre-BN 2·s0, after BN (running mean 0, var 1) γ·2·s0 = 2·s0²; layer 1: s1·Σh0·s1
    activation = unit_scores(model, "mean_activation", x)
    h0 = 2 * torch.tensor([0.4, 0.1, 0.3, 0.2]) ** 2 / math.sqrt(1 + 1e-5)
    h1 = torch.tensor([0.05, 0.5]) ** 2 * h0.sum() / math.sqrt(1 + 1e-5)
    assert [s.tolist() for s in activation] == [pytest.approx(h0.tolist()), pytest.approx(h1.tolist())]
    first, again, other = (unit_scores(model, "random", seed=s) for s in (3, 3, 4))
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and not torch.equal(first[0], other[0])
    assert [len(s) for s in first] == [4, 2] and all(((s >= 0) & (s < 1)).all() for s in first)
    with pytest.raises(ValueError, match="batch norm"):
        unit_scores(hand_fcn(), "bn_scale")
    with pytest.raises(ValueError, match="allowed"):
        unit_scores(model, "taylor")


# (scope, budget, κ) -> expected keep-masks and removed parameter fraction, worked out on HandNet (every
# criterion but random ranks its units alike: layer 0 u1 < u3 < u2 < u0, layer 1 u0 < u1; globally, leaving
# each layer's best unit: L1u0 < L0u1 < L0u3 < L0u2)
MASK_CASES = {
    # floor(0.34·4) = 1 unit of layer 0, floor(0.34·2) = 0 of layer 1: 7 of 40 parameters
    ("layer", "units", 0.34): ([[1, 0, 1, 1], [1, 1]], 7 / 40),
    # floor(0.34·6) = 2 units ranked together: L1u0, L0u1; remaining 9 + 6 + 4 + 2 + 4 = 25 of 40
    ("global", "units", 0.34): ([[1, 0, 1, 1], [0, 1]], 15 / 40),
    # per layer 1/4 of the units removes 7/40 < 0.2; 1/2 removes 2 + 1 of layer 0 and 1 of layer 1: 21/40
    ("layer", "parameters", 0.2): ([[1, 0, 1, 0], [0, 1]], 21 / 40),
    # globally the first unit, L1u0, already removes 9/40 >= 0.2
    ("global", "parameters", 0.2): ([[1, 1, 1, 1], [0, 1]], 9 / 40),
}


@pytest.mark.parametrize("criterion", ["l1_weight", "bn_scale", "mean_activation"])
@pytest.mark.parametrize("scope,budget,kappa", list(MASK_CASES))
def test_every_criterion_scope_and_budget_prunes_the_expected_units(criterion, scope, budget, kappa):
    model = HandNet()
    scores = unit_scores(model, criterion, torch.ones(3, 2))
    masks = structured_masks(scores, kappa, scope, budget, unit_layers(model))
    expected, fraction = MASK_CASES[(scope, budget, kappa)]
    assert [m.int().tolist() for m in masks] == expected
    assert pruned_parameter_fraction(unit_layers(model), masks) == pytest.approx(fraction)


def test_global_scope_never_empties_a_layer_and_random_pruning_is_seeded():
    model = HandNet()
    scores = unit_scores(model, "l1_weight")
    masks = structured_masks(scores, 1.0, "global", "units")
    assert [m.int().tolist() for m in masks] == [[1, 0, 0, 0], [0, 1]]  # each layer keeps its best unit
    layers = unit_layers(model)
    # a budget the model cannot meet (every layer keeps a unit): the most that can be pruned
    most = structured_masks(scores, 0.99, "layer", "parameters", layers)
    assert [int(m.sum()) for m in most] == [1, 1]
    assert pruned_parameter_fraction(layers, [torch.ones(4, dtype=torch.bool), torch.ones(2, dtype=torch.bool)]) == 0
    with pytest.raises(ValueError, match="scope"):
        structured_masks(scores, 0.5, "network")
    with pytest.raises(ValueError, match="unit layers"):
        structured_masks(scores, 0.5, "layer", "parameters")


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
    # a kind with no feature in any sample has no share (Colored MNIST's spurious colour lies on the digit)
    absent = attribution_shares(attributions, {"core": core | spurious, "spurious": torch.zeros_like(core)})
    assert math.isnan(absent["spurious"]) and absent["core"] == pytest.approx(0.875)


def test_integrated_gradients_of_a_linear_model_is_exact():
    # for f(x) = w.x the IG attribution of feature i is (x_i - baseline_i) * w_i, whatever the baseline path
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [3.0, 1.0, 0.0]]))
    x = torch.tensor([[1.0, 1.0, 1.0]])
    masks = {"core": torch.tensor([[True, False, False]]), "spurious": torch.tensor([[False, True, False]]),
             "noise": torch.tensor([[False, False, True]])}
    # baselines uniform in [-1e-9, 1e-9] ~ 0: attributions (3, 1, 0)
    maps = integrated_gradients(model, x, torch.tensor([1]), (-1e-9, 1e-9), n_baselines=3, n_steps=4)
    assert maps.shape == (3, 1, 3)
    torch.testing.assert_close(maps[0], torch.tensor([[3.0, 1.0, 0.0]]))
    shares = mean_over_baselines(maps, attribution_shares, masks)
    assert shares == {"core": pytest.approx(0.75), "spurious": pytest.approx(0.25), "noise": pytest.approx(0.0)}
    # entropy of (3/4, 1/4, 0)
    assert mean_over_baselines(maps, attribution_entropy) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_attribution_entropy_hand_computed_and_pixel_maps():
    # uniform over 4 features: ln 4; one feature: 0; all-zero sample left out
    attributions = torch.tensor([[1.0, -1.0, 1.0, -1.0], [0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert attribution_entropy(attributions) == pytest.approx(math.log(4) / 2)
    # images: channels are summed into one map per pixel: 2 pixels of equal mass -> ln 2
    image = torch.zeros(1, 3, 1, 2)
    image[0, 0, 0, 0], image[0, 1, 0, 0], image[0, 2, 0, 1] = 1.0, -1.0, 2.0
    assert attribution_entropy(image) == pytest.approx(math.log(2))
    assert math.isnan(attribution_entropy(torch.zeros(2, 3)))


def test_background_attribution_percentage_with_an_image_mask():
    attributions = torch.zeros(2, 3, 2, 2)
    attributions[0, :, 0, 0] = 1.0     # sample 1: all of it on pixel (0, 0), background
    attributions[1, 0, 1, 1] = 3.0     # sample 2: 3 on pixel (1, 1), foreground...
    attributions[1, 2, 0, 1] = -1.0    # ...and 1 on pixel (0, 1), background
    background = torch.tensor([[[True, True], [False, False]]] * 2)
    assert background_attribution_percentage(attributions, background) == pytest.approx(100 * (1.0 + 0.25) / 2)


def r2_by_pairs(acts, labels):
    """The paper's literal O(N²) double sums with cosine similarity."""
    u = nn.functional.normalize(acts.double(), dim=1)
    sim = u @ u.T
    classes = torch.unique(labels)
    K = len(classes)
    within = sum((1 - sim[labels == c][:, labels == c]).sum() / (K * (labels == c).sum() ** 2) for c in classes)
    total = sum((1 - sim[labels == j][:, labels == k]).sum() / (K**2 * (labels == j).sum() * (labels == k).sum())
                for j in classes for k in classes)
    return float(1 - within / total)


@pytest.mark.parametrize("seed, classes", [(0, 2), (1, 3), (2, 5)])
def test_class_separation_r2_matches_the_literal_pairwise_formula(seed, classes):
    generator = torch.Generator().manual_seed(seed)
    acts = torch.relu(torch.randn(40, 6, generator=generator))
    labels = torch.randint(0, classes, (40,), generator=generator)
    labels[:classes] = torch.arange(classes)
    assert class_separation_r2(acts, labels) == pytest.approx(r2_by_pairs(acts, labels), abs=1e-9)


def test_class_separation_r2_properties():
    # orthogonal, perfectly separated classes: within-class distance 0 -> R² = 1
    acts = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert class_separation_r2(acts, labels) == pytest.approx(1.0)
    # hand-computed: class 0 = {(1,0), (0,1)}, class 1 = {(1,0)}: ū0 = (.5,.5), ū1 = (1,0)
    # d_within = 1 - (0.5 + 1)/2 = 0.25; mean of means = (.75,.25): d_total = 1 - 0.625 = 0.375; R² = 1/3
    acts = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    assert class_separation_r2(acts, torch.tensor([0, 0, 1])) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        class_separation_r2(acts, torch.tensor([1, 1, 1]))
    # every row the same direction: no spread, R² defined as 0
    assert class_separation_r2(torch.ones(4, 3), torch.tensor([0, 0, 1, 1])) == 0.0


def test_selectivity_index_hand_computed():
    # 4 samples, 2 classes; unit 0 fires for class 0 only (on 1 of its 2 samples), unit 1 for both equally,
    # unit 2 is dead, unit 3: class means 3 and 1, active on all samples
    acts = torch.tensor([[2.0, 1.0, 0.0, 3.0], [0.0, 1.0, 0.0, 3.0], [0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    result = selectivity_index(acts, labels, eps=0.0)
    per_unit = result["per_unit"]
    # unit 0: π_max = 1, π_-max = 0, ρ_max = 1/2 -> CSI = ρ_max (the coverage factor); unit 1: 0
    assert per_unit[0].item() == pytest.approx(0.5) and per_unit[1].item() == pytest.approx(0.0)
    assert math.isnan(per_unit[2].item())  # dead: left out of the mean
    assert per_unit[3].item() == pytest.approx((3 - 1) / (3 + 1))
    assert result["mean"] == pytest.approx((0.5 + 0.0 + 0.5) / 3) and result["dead_fraction"] == 0.25
    assert result["mean_all"] == pytest.approx((0.5 + 0.0 + 0.0 + 0.5) / 4)  # the dead unit counts 0
    # one more dead unit: the live-unit mean (the authors') does not move, the all-unit mean falls
    more_dead = selectivity_index(torch.cat([acts, torch.zeros(4, 1)], dim=1), labels, eps=0.0)
    assert more_dead["mean"] == pytest.approx(result["mean"])
    assert more_dead["mean_all"] == pytest.approx(1.0 / 5) and more_dead["dead_fraction"] == 0.4
    with pytest.raises(ValueError, match="at least 2 classes"):
        selectivity_index(acts, torch.zeros(4, dtype=torch.long))
    assert math.isnan(selectivity_index(torch.zeros(4, 2), labels)["mean"])
    # GELU units' small negative outputs count as inactive: class means -0.1 and 0.05 would give
    # (0.05 + 0.1) / (0.05 - 0.1) = -3; as positive parts, 0 and 0.05: ρ_max = 1/2, CSI = 1/2
    gelu = torch.tensor([[-0.1], [-0.1], [0.1], [0.0]])
    assert selectivity_index(gelu, labels, eps=0.0)["per_unit"][0].item() == pytest.approx(0.5)


def test_qk_compressibility_hand_computed_and_properties():
    # 1-sparse vector: exactly represented by one term
    assert qk_compressibility(torch.tensor([0.0, 0.0, 5.0, 0.0]), q=2, kappa=0.1).item() == pytest.approx(1.0)
    # z = (3, 4, 0, 0), κ = 0.25 -> keep 1 term (4): error ‖(3,0,0,0)‖₂ = 3, ‖z‖₂ = 5 -> 1 - 3/5
    assert qk_compressibility(torch.tensor([3.0, -4.0, 0.0, 0.0]), q=2, kappa=0.25).item() == pytest.approx(0.4)
    # q = 1: error 3, ‖z‖₁ = 7
    assert qk_compressibility(torch.tensor([3.0, -4.0, 0.0, 0.0]), q=1, kappa=0.25).item() == pytest.approx(4 / 7)
    # rows: a uniform vector keeping ⌈0.5·4⌉ = 2 of 4 entries -> 1 - sqrt(2/4); an all-zero row -> 1
    rows = qk_compressibility(torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]), q=2, kappa=0.5)
    assert rows.tolist() == pytest.approx([1 - math.sqrt(0.5), 1.0])
    with pytest.raises(ValueError, match="kappa"):
        qk_compressibility(torch.ones(3), kappa=0.0)


def test_qk_compressibility_keeps_its_precision_for_q_other_than_2():
    # a κ-sparse row (k = ⌈0.1·10⌉ = 1 non-zero) is represented exactly, for any q
    sparse = torch.zeros(10, dtype=torch.float64)
    sparse[3] = 3.7
    assert qk_compressibility(sparse, q=3, kappa=0.1).item() == 1.0
    # a residual far below the kept entry's digits: ‖(1e-6)‖₃ / ‖(1.1, 1e-6)‖₃ = 1e-6 / 1.1 (total minus kept
    # would round the residual 1e-18 away and give exactly 1)
    row = torch.tensor([1.1, 1e-6] + [0.0] * 8, dtype=torch.float64)
    assert qk_compressibility(row, q=3, kappa=0.1).item() == pytest.approx(1 - 1e-6 / 1.1, rel=0, abs=1e-15)


def test_unstructured_pruning_zeroes_the_smallest_weights_and_restores_them():
    model = hand_fcn()  # weights: [[1,0],[0,2],[.1,.1]] and [[1,-1,10],[-1,1,0]]: 12 entries
    before = [p.detach().clone() for p in model.parameters()]
    with magnitude_pruned(model, 0.5):  # 6 smallest magnitudes: the three 0s, 0.1, 0.1 and one of the 1s
        assert sum(int((p == 0).sum()) for p in (model[1].weight, model[3].weight)) == 6
        assert model[3].weight[0, 2].item() == 10.0 and model[1].weight[1, 1].item() == 2.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_attribution_density_is_per_feature_and_size_invariant():
    # core: 1 feature with mass 2; noise: 3 features with mass 1 each -> per feature 2 and 1 -> (2/3, 1/3)
    attributions = torch.tensor([[2.0, 1.0, -1.0, 1.0]])
    core = torch.tensor([[True, False, False, False]])
    masks = {"core": core, "spurious": torch.zeros_like(core), "noise": ~core}
    density = attribution_density(attributions, masks)
    assert density["core"] == pytest.approx(2 / 3) and density["noise"] == pytest.approx(1 / 3)
    assert math.isnan(density["spurious"])  # no spurious features: left out, not zero
    # the share, by contrast, follows the feature count: core 2/5, noise 3/5
    assert attribution_shares(attributions, masks)["core"] == pytest.approx(0.4)


def test_batched_integrated_gradients_equal_captum_per_baseline():
    from captum.attr import IntegratedGradients

    from spurcomp.runtime import derived_seed

    torch.manual_seed(0)
    model = FCN((6,), [16, 16], 3).eval()
    x = torch.randn(5, 6)
    target = torch.tensor([0, 1, 2, 1, 0])
    maps = integrated_gradients(model, x, target, (-1.0, 1.0), n_baselines=3, n_steps=8, seed=4)
    for k in range(3):
        generator = torch.Generator().manual_seed(derived_seed("ig-baseline", 4, k))
        baseline = -1.0 + 2.0 * torch.rand(6, generator=generator)
        direct = IntegratedGradients(model).attribute(x, baselines=baseline[None], target=target, n_steps=8)
        torch.testing.assert_close(maps[k], direct, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("baseline, n_baselines, internal_batch_size", [("zero", 1, 8192), ("uniform", 2, 8192),
                                                                         ("uniform", 2, 48)])
def test_integrated_gradients_in_groups_of_samples_equal_one_call_over_every_sample(monkeypatch, baseline,
                                                                                     n_baselines,
                                                                                     internal_batch_size):
    """The samples go through captum in groups (attribution.PASS_ELEMENTS), each with the steps per pass one
    call would have: the maps are those of one captum call over every sample, to float rounding (a batch's size
    can change a convolution's order of summation; 48: two steps per pass of 12 samples x 2 baselines)."""
    from captum.attr import IntegratedGradients

    from spurcomp.metrics import attribution
    from spurcomp.models import build_model

    torch.manual_seed(0)
    model = build_model({"arch": "cnn", "width": 0.125}, (3, 28, 28), 10).eval()
    x, target = torch.rand(12, 3, 28, 28), torch.arange(12) % 10
    steps_per_pass = min(8, max(internal_batch_size, 12 * n_baselines) // (12 * n_baselines))
    # passes of 5 samples: groups of 5, 5 and 2
    monkeypatch.setattr(attribution, "PASS_ELEMENTS", 5 * n_baselines * steps_per_pass * x[0].numel())
    grouped = integrated_gradients(model, x, target, (0.0, 1.0), n_baselines=n_baselines, n_steps=8, seed=1,
                                   baseline=baseline, internal_batch_size=internal_batch_size)
    monkeypatch.setattr(attribution, "PASS_ELEMENTS", 10**9)
    whole = integrated_gradients(model, x, target, (0.0, 1.0), n_baselines=n_baselines, n_steps=8, seed=1,
                                 baseline=baseline, internal_batch_size=internal_batch_size)
    torch.testing.assert_close(grouped, whole, rtol=1e-6, atol=1e-12)
    # and one call is captum's own over the repeated samples, from the same baselines in the same passes
    baselines = torch.zeros(1, 3, 28, 28) if baseline == "zero" else torch.stack(
        [torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(attribution.derived_seed("ig-baseline", 1, k)))
         for k in range(n_baselines)])
    direct = IntegratedGradients(attribution._SummedTargetLogit(model)).attribute(
        x.repeat(n_baselines, 1, 1, 1), baselines=baselines.repeat_interleave(12, dim=0),
        additional_forward_args=(target.repeat(n_baselines),), n_steps=8,
        internal_batch_size=max(internal_batch_size, 12 * n_baselines))
    assert torch.equal(whole, direct.reshape(n_baselines, *x.shape))


def test_zero_baseline_integrated_gradients_is_input_times_weight():
    # for f(x) = w.x and the all-zero baseline, IG of feature i is x_i · w_i: one map, n_baselines unused
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]]))
    x = torch.tensor([[2.0, 1.0, -4.0]])
    maps = integrated_gradients(model, x, torch.tensor([0]), (-1.0, 1.0), n_baselines=5, baseline="zero")
    assert maps.shape == (1, 1, 3)
    torch.testing.assert_close(maps[0], torch.tensor([[2.0, -2.0, -2.0]]))
    with pytest.raises(ValueError, match="allowed"):
        integrated_gradients(model, x, torch.tensor([0]), (-1.0, 1.0), baseline="blurred")


def test_pruned_dead_share_counts_the_dead_among_the_pruned_units():
    from spurcomp.metrics.pruning import dead_fraction, pruned_dead_share

    activity = [torch.tensor([0.0, 0.5, 0.0, 2.0]), torch.tensor([0.0, 1.0])]  # 3 of 6 units never active
    masks = [torch.tensor([False, False, True, True]), torch.tensor([False, True])]  # prunes 3: 2 of them dead
    assert dead_fraction(activity) == 0.5
    assert pruned_dead_share(masks, activity) == 2 / 3
    assert math.isnan(pruned_dead_share([torch.ones(4, dtype=torch.bool), torch.ones(2, dtype=torch.bool)], activity))


@pytest.mark.parametrize("spec, shape", [({"arch": "fcn", "hidden": [16, 16, 16]}, (12,)),
                                         ({"arch": "cnn", "width": 0.125}, (3, 16, 16)),
                                         ({"arch": "resnet", "depth": "resnet18", "width": 0.125}, (3, 16, 16)),
                                         ({"arch": "resnet", "depth": "resnet50", "width": 0.0625}, (3, 16, 16))])
def test_cutting_pruned_units_out_computes_what_masking_them_does(spec, shape):
    """A unit cut out of its producer, batch norm and consumer is a unit whose output is zero: the same logits to
    float precision (sums over fewer channels), and every weight and statistic restored after."""
    from spurcomp.metrics.accuracy import predict_logits
    from spurcomp.metrics.pruning import separable_units, sliced_units
    from spurcomp.models import build_model

    torch.manual_seed(0)
    model = build_model(spec, shape, 10).eval()
    for module in model.modules():  # statistics other than the fresh ones, so that a wrong channel shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.uniform_(-0.2, 0.2)
    assert separable_units(model)
    masks = [torch.rand(layer.producer.weight.shape[0]) > 0.5 for layer in unit_layers(model)]
    for mask in masks:
        mask[0] = True
    state = {name: value.clone() for name, value in model.state_dict().items()}
    x = torch.randn(64, *shape)
    with masked_units(model, masks):
        masked = predict_logits(model, x)
    with sliced_units(model, masks):
        cut = predict_logits(model, x)
    assert masked.abs().max() > 0.05
    torch.testing.assert_close(cut, masked, rtol=1e-5, atol=1e-5)
    assert all(torch.equal(value, state[name]) for name, value in model.state_dict().items())
    assert not torch.equal(predict_logits(model, x), masked)  # the unpruned model again


def test_only_models_that_say_so_have_their_units_cut_out():
    from spurcomp.metrics.pruning import separable_units

    class Residual(nn.Module):  # a unit's output also reaches the output directly: cutting it would be wrong
        def __init__(self):
            super().__init__()
            self.a, self.relu, self.b = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)

        def forward(self, x):
            h = self.relu(self.a(x))
            return self.b(h) + h

        def unit_layers(self):
            return [UnitLayer(self.relu, self.a, None, self.b)]

    assert not separable_units(Residual())
    assert separable_units(FCN((4,), [8, 8], 2))
