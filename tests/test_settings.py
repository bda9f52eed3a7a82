import pytest

from spurcomp.settings import TrainingSetting, parse_setting_key, setting_key

DEFAULTS = {"lr": 0.1, "batch_size": 100, "momentum": 0.0, "weight_decay": 0.0, "max_epochs": 50,
            "checkpoint_epochs": [0, 1]}


def test_key_lists_lr_and_only_knobs_that_differ_from_defaults():
    assert setting_key({"lr": 0.05}, DEFAULTS) == "lr=0.05"
    assert setting_key({}, DEFAULTS) == "lr=0.1"
    assert setting_key({"lr": 0.05, "batch_size": 50, "momentum": 0.0}, DEFAULTS) == "lr=0.05,bs=50"
    assert setting_key({"lr": 1e-5, "max_epochs": 7}, DEFAULTS) == "lr=1e-05,ep=7"


@pytest.mark.parametrize("values", [{"lr": 0.05}, {"lr": 0.3, "batch_size": 10, "weight_decay": 1e-4},
                                    {"lr": 2.0, "momentum": 0.9, "max_epochs": 3}])
def test_key_round_trips_to_the_full_setting(values):
    setting = parse_setting_key(setting_key(values, DEFAULTS), DEFAULTS)
    expected = {**{k: DEFAULTS[k] for k in ("lr", "batch_size", "momentum", "weight_decay", "max_epochs")}, **values}
    assert setting == TrainingSetting(**expected)


@pytest.mark.parametrize("key, message", [
    ("lr=0.050", "canonical"),
    ("lr=abc", "not a number"),
    ("foo=1", "NAME=VALUE"),
    ("bs=10", "canonical"),  # lr is always part of the key
    ("lr=-1", "lr must be > 0"),
])
def test_bad_keys_are_rejected_with_a_reason(key, message):
    with pytest.raises(ValueError, match=message):
        parse_setting_key(key, DEFAULTS)


def test_unknown_knob_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed"):
        setting_key({"learning_rate": 0.1}, DEFAULTS)


def test_precision_is_a_knob_whose_float32_default_keeps_old_identities():
    assert setting_key({"lr": 0.05, "precision": "bf16"}, DEFAULTS) == "lr=0.05,prec=bf16"
    bf16 = parse_setting_key("lr=0.05,prec=bf16", DEFAULTS)
    assert bf16.precision == "bf16" and bf16.as_dict()["precision"] == "bf16"
    # float32 is what runs did before the knob: it stays out of the key and of the identity (train params), so
    # runs made before it are not retrained
    fp32 = parse_setting_key("lr=0.05", DEFAULTS)
    assert fp32.precision == "fp32" and "precision" not in fp32.as_dict() and fp32.knobs()["precision"] == "fp32"
    # with bf16 as the global default, a float32 run is the one that says so
    assert setting_key({"lr": 0.05, "precision": "fp32"}, {**DEFAULTS, "precision": "bf16"}) == "lr=0.05,prec=fp32"
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16'\]"):
        parse_setting_key("lr=0.05,prec=fp16", DEFAULTS)

