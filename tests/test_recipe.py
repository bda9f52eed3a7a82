"""Each training knob's exact effect: one hand-computed step on a two-parameter model (logits z = w * x, x = 1,
label 0), each schedule's learning rate at chosen steps, and whole runs with every knob, resumed bit for bit."""
import contextlib
import math

import pandas as pd
import pytest
import torch
from torch import nn

from spurcomp.data import build_dataset
from spurcomp.settings import TrainingSetting, parse_setting_key, setting_key
from spurcomp.train import engine
from spurcomp.train.engine import TrainOptions, train_run
from spurcomp.train.recipe import build_optimizer, learning_rate, per_sample_loss, training_step

W0 = (0.5, -0.5)
LR = 0.1


def model_at(w):
    """Logits z = (w0 x, w1 x): two parameters, one Linear named like any layer (its ``weight``)."""
    model = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[w[0]], [w[1]]]))
    return model


def ce_gradient(w):
    """d CE / d w at x = 1, y = 0: softmax(z) - e_0."""
    p0 = 1 / (1 + math.exp(w[1] - w[0]))
    return (p0 - 1, 1 - p0)


def step(setting, w=W0, steps=1, lr=LR):
    model = model_at(w)
    optimizer = build_optimizer(model.parameters(), setting)
    x, y = torch.ones(1, 1), torch.zeros(1, dtype=torch.long)
    for _ in range(steps):
        training_step(model, optimizer, x, y, setting, lr, contextlib.nullcontext())
    return tuple(model.weight.detach().flatten().tolist())


def close(a, b):
    assert a == pytest.approx(b, abs=1e-6)


def test_plain_sgd_step():
    g = ce_gradient(W0)
    close(step(TrainingSetting(LR, 1)), (W0[0] - LR * g[0], W0[1] - LR * g[1]))


def test_momentum_and_nesterov_over_two_steps():
    g1 = ce_gradient(W0)
    w1 = (W0[0] - LR * g1[0], W0[1] - LR * g1[1])  # the buffer starts as the first gradient
    g2 = ce_gradient(w1)
    buffer = (0.9 * g1[0] + g2[0], 0.9 * g1[1] + g2[1])
    close(step(TrainingSetting(LR, 1, momentum=0.9), steps=2), (w1[0] - LR * buffer[0], w1[1] - LR * buffer[1]))
    # Nesterov: the step is g + momentum * buffer
    close(step(TrainingSetting(LR, 1, momentum=0.9, nesterov=True)), (W0[0] - LR * 1.9 * g1[0], W0[1] - LR * 1.9 * g1[1]))


def test_l1_and_l2_penalties():
    g = ce_gradient(W0)
    sign = (1, -1)
    close(step(TrainingSetting(LR, 1, l1=0.3)), tuple(W0[i] - LR * (g[i] + 0.3 * sign[i]) for i in range(2)))
    close(step(TrainingSetting(LR, 1, l2=0.3)), tuple(W0[i] - LR * (g[i] + 0.3 * W0[i]) for i in range(2)))
    # torch's SGD weight decay is the L2 term's gradient: the same step
    close(step(TrainingSetting(LR, 1, weight_decay=0.3)), step(TrainingSetting(LR, 1, l2=0.3)))


def test_focal_loss_step_and_gamma_zero_is_cross_entropy():
    logits, y = torch.randn(50, 10), torch.randint(0, 10, (50,))
    assert torch.equal(per_sample_loss(logits, y, 0.0), nn.functional.cross_entropy(logits, y, reduction="none"))
    gamma = 2.0
    p = 1 / (1 + math.exp(W0[1] - W0[0]))
    # FL(p) = -(1 - p)^gamma log p; dFL/dp, and dp/dz0 = p (1 - p) = -dp/dz1
    d_fl_dp = gamma * (1 - p) ** (gamma - 1) * math.log(p) - (1 - p) ** gamma / p
    g = (d_fl_dp * p * (1 - p), -d_fl_dp * p * (1 - p))
    close(step(TrainingSetting(LR, 1, focal_gamma=gamma)), (W0[0] - LR * g[0], W0[1] - LR * g[1]))
    value = per_sample_loss(torch.tensor([list(W0)]), torch.tensor([0]), gamma).item()
    assert value == pytest.approx(-(1 - p) ** gamma * math.log(p), rel=1e-6)


def test_asam_two_step_update():
    rho, eta = 0.5, 0.01
    g = ce_gradient(W0)
    t = [abs(w) + eta for w in W0]
    norm = math.sqrt(sum((t[i] * g[i]) ** 2 for i in range(2)))
    eps = [rho * t[i] ** 2 * g[i] / norm for i in range(2)]
    g_perturbed = ce_gradient([W0[i] + eps[i] for i in range(2)])
    # the gradient at w + eps, applied at w
    close(step(TrainingSetting(LR, 1, asam_rho=rho)), tuple(W0[i] - LR * g_perturbed[i] for i in range(2)))


def test_adam_and_adamw_first_step():
    g = ce_gradient(W0)
    adam = [W0[i] - LR * g[i] / (abs(g[i]) + 1e-8) for i in range(2)]  # bias-corrected moments: g and g^2
    close(step(TrainingSetting(LR, 1, optimizer="adam")), adam)
    # AdamW decays the weights first, decoupled from the gradient: w (1 - lr wd), then Adam's step
    close(step(TrainingSetting(LR, 1, optimizer="adamw", weight_decay=0.3)),
          [W0[i] * (1 - LR * 0.3) - LR * g[i] / (abs(g[i]) + 1e-8) for i in range(2)])


def test_psgd_steps_descend_and_its_state_round_trips():
    torch.manual_seed(0)
    setting = TrainingSetting(0.05, 1, optimizer="psgd")
    model = model_at(W0)
    optimizer = build_optimizer(model.parameters(), setting)
    x, y = torch.ones(1, 1), torch.zeros(1, dtype=torch.long)
    losses = [training_step(model, optimizer, x, y, setting, 0.05, contextlib.nullcontext())[0].item()
              for _ in range(20)]
    assert losses[-1] < losses[0]
    # a copy resumed from the state dict takes exactly the same next step, and leaves torch's generator alone
    twin = model_at(model.weight.detach().flatten().tolist())
    twin_optimizer = build_optimizer(twin.parameters(), setting)
    twin_optimizer.load_state_dict(optimizer.state_dict())
    before = torch.random.get_rng_state()
    for m, o in ((model, optimizer), (twin, twin_optimizer)):
        training_step(m, o, x, y, setting, 0.05, contextlib.nullcontext())
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(model.weight, twin.weight)


def test_schedules_at_chosen_steps():
    constant, cosine, wsd = (TrainingSetting(1.0, 1, schedule=s) for s in ("constant", "cosine", "wsd"))
    assert [learning_rate(constant, s, 100) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert [learning_rate(cosine, s, 100) for s in (0, 25, 50, 100)] == pytest.approx([1.0, 0.853553, 0.5, 0.0])
    # 5 warmup steps (1/5 .. 5/5), constant, then the last 10 steps decay linearly to 0
    assert [learning_rate(wsd, s, 100) for s in (0, 2, 4, 5, 50, 90, 95, 99)] == \
        pytest.approx([0.2, 0.6, 1.0, 1.0, 1.0, 1.0, 0.5, 0.1])


def test_knobs_live_in_setting_keys_and_neutral_values_stay_out():
    defaults = {"lr": 0.1, "batch_size": 100, "max_epochs": 10}
    key = setting_key({"lr": 0.1, "focal_gamma": 2.0, "optimizer": "adam", "schedule": "cosine"}, defaults)
    assert key == "lr=0.1,fl=2.0,opt=adam,sched=cosine"
    assert parse_setting_key(key, defaults).optimizer == "adam"
    nesterov = setting_key({"lr": 0.1, "momentum": 0.9, "nesterov": True}, defaults)
    assert nesterov == "lr=0.1,mom=0.9,nest=true" and parse_setting_key(nesterov, defaults).nesterov is True
    # a run before the knobs existed keeps its identity: neutral knobs are not in it
    assert TrainingSetting(0.1, 100).as_dict() == {"lr": 0.1, "batch_size": 100, "momentum": 0.0,
                                                   "weight_decay": 0.0, "max_epochs": 100}
    with pytest.raises(ValueError, match="nesterov needs optimizer sgd with momentum > 0"):
        TrainingSetting(0.1, 100, nesterov=True)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainingSetting(0.1, 100, optimizer="lion")
    with pytest.raises(ValueError, match="momentum is SGD's"):
        TrainingSetting(0.1, 100, momentum=0.9, optimizer="adam")


PARITY = {"generator": "parity", "core_bits": 3, "spurious_bits": 1, "noise_bits": 4, "n_train": 400, "n_test": 400,
          "rho_train": 0.1, "rho_test": 0.5}


@pytest.mark.parametrize("knobs", [{"optimizer": "psgd", "schedule": "wsd"},
                                   {"optimizer": "adamw", "weight_decay": 0.01, "schedule": "cosine"},
                                   {"asam_rho": 0.5, "focal_gamma": 2.0, "l1": 1e-4, "momentum": 0.9,
                                    "nesterov": True}])
def test_a_run_with_the_knobs_resumes_bit_for_bit(tmp_path, monkeypatch, knobs):
    dataset = build_dataset(PARITY, seed=0)
    fcn = {"arch": "fcn", "hidden": [32, 32, 32]}
    setting = TrainingSetting(lr=0.01 if knobs.get("optimizer", "sgd") != "sgd" else 0.1, batch_size=50,
                              max_epochs=5, **knobs)
    straight = train_run(dataset, fcn, setting, 0, tmp_path / "straight", options=TrainOptions())
    assert straight["setting"] == setting.as_dict() and straight["epochs"] == 5

    saved, real = [], engine.save_state

    def crash_after_two(*args):
        if len(saved) == 2:
            raise KeyboardInterrupt("killed")
        saved.append(args[0])
        real(*args)

    monkeypatch.setattr(engine, "save_state", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        train_run(dataset, fcn, setting, 0, tmp_path / "killed", options=TrainOptions())
    monkeypatch.setattr(engine, "save_state", real)
    train_run(dataset, fcn, setting, 0, tmp_path / "killed", options=TrainOptions())
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "killed" / "history.parquet"),
                                  pd.read_parquet(tmp_path / "straight" / "history.parquet"))
