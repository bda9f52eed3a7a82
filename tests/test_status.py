"""`spurcomp status`: where each run of a study stands, from its files."""
import copy
import json
import os

from spurcomp.cli import main
from spurcomp.config import validate_config
from spurcomp.data import build_dataset
from spurcomp.settings import TrainingSetting
from spurcomp.status import study_status
from spurcomp.study import EVALUATION_FAMILIES, evaluation_path, study_runs
from spurcomp.train.engine import TrainOptions, train_run


def test_status_of_finished_diverged_interrupted_and_missing_runs(tmp_path, tiny_config, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny_config["studies"]["fig3"].update(grid={"lr": [0.5, 5.0, 0.05, 0.1]}, seeds=[0])
    config = validate_config(copy.deepcopy(tiny_config))
    runs = {run.setting: run for run in study_runs(config, "fig3")}
    dataset = build_dataset(config["datasets"]["parity"], seed=0)

    def train(setting, max_epochs):
        lr = float(setting.removeprefix("lr="))
        return train_run(dataset, config["models"]["fcn"], TrainingSetting(lr=lr, batch_size=50, max_epochs=max_epochs),
                         0, runs[setting].directory, options=TrainOptions(), keys=runs[setting].as_dict())

    train("lr=0.5", 15)  # converges, and is evaluated below
    for family in EVALUATION_FAMILIES:
        path = evaluation_path(runs["lr=0.5"], family)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    train("lr=5.0", 15)  # diverges
    train("lr=0.05", 3)  # then interrupted: its outputs gone, its state at epoch 3 left
    for name in ("run.json", "weights.pt", "history.parquet"):
        os.remove(runs["lr=0.05"].directory / name)

    rows, summary = study_status(config, "fig3")
    by_setting = {row["setting"]: row for row in rows}
    assert by_setting["lr=0.5"]["state"] == "converged" and by_setting["lr=0.5"]["evaluated"]
    assert by_setting["lr=5.0"]["state"] == "diverged" and not by_setting["lr=5.0"]["evaluated"]
    assert by_setting["lr=0.05"]["state"] == "incomplete (state at epoch 3/3)"
    assert by_setting["lr=0.1"]["state"] == "not started" and by_setting["lr=0.1"]["epochs"] is None
    assert summary == "fig3: 4 runs: 1 converged, 1 diverged, 1 incomplete, 1 not started; 1 evaluated"

    (tmp_path / "config.yaml").write_text(json.dumps(tiny_config))
    assert main(["--base", "none", "--config", str(tmp_path / "config.yaml"), "status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == summary and "lr=5.0" in out and "diverged" in out and "not started" in out


def test_a_config_overlay_is_merged_over_the_base_as_snakemake_does(tmp_path, capsys):
    from pathlib import Path

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("studies: {fig3: {seeds: [0]}}\ntraining: {max_epochs: 5}\n")
    base = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
    assert main(["--base", str(base), "--config", str(overlay), "runs", "fig3"]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 7 and all(p.endswith("seed=0") for p in printed)  # 7 learning rates, the one seed
    assert main(["--base", str(tmp_path / "none.yaml"), "runs", "fig3"]) == 2
    assert "no config" in capsys.readouterr().err
