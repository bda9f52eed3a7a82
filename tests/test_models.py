import math

import pytest
import torch

from spurcomp.metrics.pruning import (activation_scores, masked_units, pruned_parameter_fraction, structured_masks,
                                      unit_scores)
from spurcomp.metrics.representation import penultimate_activations
from spurcomp.models import build_model, prunable_units, unit_layers


@pytest.mark.parametrize("spec, units, width", [
    ({"arch": "fcn", "hidden": [7, 5]}, 2, 5),
    ({"arch": "cnn", "width": 0.125}, 8, 64),
    ({"arch": "resnet", "depth": "resnet18"}, 8, 512),
    ({"arch": "resnet", "depth": "resnet18", "width": 0.125}, 8, 64),  # every stage's channels / 8
    ({"arch": "swin", "size": "small"}, 5, 1024),  # every block's MLP; the last one's 4 x 256 hidden units
])
def test_models_expose_prunable_units_and_a_representation(spec, units, width):
    torch.manual_seed(0)
    model = build_model(spec, (3, 16, 16), 4).eval()
    x = torch.randn(6, 3, 16, 16)
    assert model(x).shape == (6, 4)
    assert len(prunable_units(model)) == units
    assert penultimate_activations(model, x).shape == (6, width)
    scores = activation_scores(model, x)
    assert len(scores) == units and all((s >= 0).all() for s in scores)
    # each unit layer's producer makes its units and its consumer reads them
    for layer, s in zip(unit_layers(model), scores):
        assert layer.producer.weight.shape[0] == len(s) == layer.consumer.weight.shape[1]
        assert layer.norm is None or layer.norm.num_features == len(s)


def test_masking_a_cnn_filter_equals_zeroing_it_with_its_batchnorm_channel():
    torch.manual_seed(0)
    model = build_model({"arch": "cnn", "width": 0.125}, (3, 16, 16), 4)
    x = torch.randn(5, 3, 16, 16)
    model.train()
    model(x)  # populate the batch-norm running statistics
    model.eval()
    masks = [torch.ones(len(s), dtype=torch.bool) for s in activation_scores(model, x)]
    masks[1][3] = False
    with masked_units(model, masks):
        masked = model(x)
    conv, bn = model.features[4], model.features[5]  # second conv block (after the first max-pool)
    assert isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)
    with torch.no_grad():
        conv.weight[3].zero_()
        bn.weight[3], bn.bias[3] = 0.0, 0.0
    torch.testing.assert_close(masked, model(x))


def test_resnet_structured_masks_change_the_output_and_keep_the_rate():
    torch.manual_seed(0)
    model = build_model({"arch": "resnet", "depth": "resnet18"}, (3, 16, 16), 4).eval()
    x = torch.randn(3, 3, 16, 16)
    masks = structured_masks(activation_scores(model, x), 0.5)
    assert all((~m).sum() == len(m) // 2 for m in masks)
    with masked_units(model, masks):
        pruned = model(x)
    assert not torch.allclose(pruned, model(x))


def test_unknown_architecture_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed"):
        build_model({"arch": "vit"}, (3, 8, 8), 2)
    with pytest.raises(ValueError, match="allowed"):
        build_model({"arch": "resnet", "depth": "resnet7"}, (3, 8, 8), 2)


@pytest.mark.parametrize("spec, input_shape, units, width", [
    ({"arch": "cnn", "width": 0.125}, (1, 28, 56), 8, 64),          # Double MNIST's shape
    ({"arch": "resnet", "depth": "resnet18"}, (3, 64, 32), 8, 512),  # MNIST-CIFAR's shape
    ({"arch": "resnet", "depth": "resnet50"}, (3, 32, 32), 32, 2048),
    ({"arch": "resnet", "depth": "wide_resnet101_2"}, (1, 28, 28), 66, 2048),
])
def test_kappa_prunability_works_for_every_paper_architecture(spec, input_shape, units, width):
    from spurcomp.metrics.pruning import kappa_prunability

    torch.manual_seed(0)
    model = build_model(spec, input_shape, 10).eval()
    x, y = torch.randn(20, *input_shape), torch.arange(20) % 10
    b = (y + 1) % 10
    assert len(prunable_units(model)) == units and penultimate_activations(model, x).shape == (20, width)
    logits = model(x)
    y = logits.argmax(dim=1)  # make the unpruned model fully accurate, so κP = pruned accuracy
    scores = unit_scores(model, "l1_weight")
    nothing, most = kappa_prunability(model, x, y, b, kappas=[0.0, 0.9], scores=scores)
    assert (nothing.retained, nothing.accuracy, nothing.parameter_fraction) == (1.0, 1.0, 0.0)
    assert 0.0 <= most.accuracy <= 1.0 and most.retained == most.accuracy
    masks = structured_masks(scores, 0.9)
    assert all((~m).sum() == math.floor(0.9 * len(m) + 1e-9) for m in masks)  # filters of every layer
    # the parameters budget removes at least κ of the prunable parameters, with the fewest units
    layers = unit_layers(model)
    for scope in ("layer", "global"):
        by_parameters = structured_masks(scores, 0.5, scope, "parameters", layers)
        assert 0.5 <= pruned_parameter_fraction(layers, by_parameters) < 1.0


def test_a_narrow_resnet_keeps_the_design_and_says_its_width_in_its_name():
    from spurcomp.names import model_name

    full = build_model({"arch": "resnet", "depth": "resnet18"}, (3, 32, 32), 10)
    narrow = build_model({"arch": "resnet", "depth": "resnet18", "width": 0.125}, (3, 32, 32), 10)
    assert [type(m).__name__ for m in full.modules()] == [type(m).__name__ for m in narrow.modules()]
    assert [layer.producer.weight.shape[0] for layer in unit_layers(narrow)] == [8, 8, 16, 16, 32, 32, 64, 64]
    assert narrow.net.conv1.out_channels == 8 and narrow.net.fc.in_features == 64
    assert model_name({"arch": "resnet", "depth": "resnet18", "width": 0.125}) == "ResNet18 (width ×1/8)"
    assert model_name({"arch": "resnet", "depth": "resnet18"}) == "ResNet18"


def test_masking_a_swin_mlp_unit_equals_zeroing_its_incoming_weights():
    from spurcomp.metrics.pruning import masked_units

    torch.manual_seed(0)
    model = build_model({"arch": "swin", "size": "small"}, (3, 32, 32), 3).eval()
    x = torch.rand(4, 3, 32, 32)
    layer = unit_layers(model)[2]
    masks = [torch.ones(other.producer.weight.shape[0]) for other in unit_layers(model)]
    masks[2][5] = 0
    with masked_units(model, masks):
        masked = model(x)
    with torch.no_grad():  # GELU(0) = 0: a unit with zero incoming weights and bias outputs nothing
        layer.producer.weight[5] = 0
        layer.producer.bias[5] = 0
    assert torch.allclose(masked, model(x), atol=1e-6) and not torch.allclose(masked, model(x) * 0)


def test_swin_starts_from_pretrained_weights_and_says_so(tmp_path):
    from spurcomp.names import model_name

    torch.manual_seed(1)
    source = build_model({"arch": "swin", "size": "small"}, (3, 32, 32), 1000)
    torch.save(source.net.state_dict(), tmp_path / "swin.pth")
    model = build_model({"arch": "swin", "size": "small", "pretrained": str(tmp_path / "swin.pth")}, (3, 32, 32), 2)
    mine, theirs = model.net.state_dict(), source.net.state_dict()
    # every weight but the classifier head (2 classes here, 1000 there)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs if not k.startswith("head."))
    assert model.net.head.out_features == 2
    with pytest.raises(ValueError, match="do not fit size 't'"):
        build_model({"arch": "swin", "size": "t", "pretrained": str(tmp_path / "swin.pth")}, (3, 32, 32), 2)
    with pytest.raises(FileNotFoundError, match="remove `pretrained` to train from scratch"):
        build_model({"arch": "swin", "pretrained": str(tmp_path / "none.pth")}, (3, 32, 32), 2)
    assert model_name({"arch": "swin", "size": "t", "pretrained": "torchvision"}) == "Swin-T, ImageNet-pretrained"
    assert model_name({"arch": "swin"}) == "Swin (small: embedding 32, depths 1-1-2-1), from scratch"
