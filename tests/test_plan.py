"""`spurcomp plan`: the grid's cost from the step-time table, against a hand-computed case."""
import subprocess
import sys

import pytest

from spurcomp.config import validate_config
from spurcomp.plan import StepTime, plan, plan_markdown, read_step_times, step_ms

TABLE = "device,model,input,batch,precision,ms_per_step,measured_with\n" \
        "testdev,fcn 32-32-32,8,50,fp32,2.0,by hand\n" \
        "otherdev,fcn 32-32-32,8,100,fp32,4.0,by hand\n"


def test_the_plan_of_the_tiny_grid_by_hand(tiny_config, tmp_path):
    """fig3: 2 learning rates x 2 seeds of the FCN (3 x 32) on parity (3 + 1 + 4 = 8 bits), 400 training samples
    in batches of 50 for 15 epochs: 8 steps an epoch, 120 a run, 480 in all; at 2 ms a step 0.96 s, 0.000267 h."""
    (tmp_path / "times.csv").write_text(TABLE)
    times = read_step_times(tmp_path / "times.csv")
    config = validate_config(tiny_config)
    [cost] = plan(config, "testdev", times)["fig3"]
    assert (cost.model, cost.runs, cost.max_epochs, cost.images, cost.steps) == ("fcn 32-32-32", 4, 15, 400, 480)
    assert cost.ms_per_step == 2.0 and cost.how == "measured" and cost.hours == pytest.approx(480 * 2 / 3.6e6)
    # measured at batch 100 on another device: half the images a step, half the time (estimated)
    [other] = plan(config, "otherdev", times)["fig3"]
    assert other.ms_per_step == pytest.approx(2.0) and other.how == "estimated"
    # a model never measured on the device: no time, and the total says what it leaves out
    assert step_ms(times, "testdev", "resnet18 x1", (3, 32, 32), 100, "fp32") == (None, "not measured")
    tiny_config["models"]["fcn"]["hidden"] = [64, 64, 64]
    unknown = plan(validate_config(tiny_config), "testdev", times)
    assert "without the studies of models never measured on it: fcn 64-64-64" in plan_markdown(unknown, "testdev")


def test_the_cli_prints_the_paper_configs_plan_from_the_shipped_table():
    result = subprocess.run([sys.executable, "-m", "spurcomp.cli", "--configfile", "config/paper.yaml", "plan",
                             "--device", "nvidia-h100"], capture_output=True, text=True,
                            cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert "| fig4 | colored_mnist_cnn | cnn x1 |" in result.stdout and "(measured)" in result.stdout
    assert "hours** of training on nvidia-h100" in result.stdout
    assert all(isinstance(t, StepTime) for t in read_step_times())
    unknown = subprocess.run([sys.executable, "-m", "spurcomp.cli", "plan", "--device", "tpu"], capture_output=True,
                             text=True, cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert unknown.returncode == 2 and "no step times for device 'tpu'; the table has [" in unknown.stderr
