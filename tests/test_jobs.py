"""Each step is described once (spurcomp.jobs): the rules take their input and params from it, their one script
runs it, and the CLI's step verbs build and run the same description."""
import re
from pathlib import Path

import yaml

from spurcomp import cli, jobs
from spurcomp.config import validate_config
from spurcomp.study import run_chunks

REPO = Path(__file__).resolve().parents[1]


def default_config() -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    validate_config(config)
    return config


def described(config: dict) -> list[jobs.Job]:
    """One job of every step of the default config."""
    chunk = run_chunks(config)[0]
    study = next(iter(config["studies"]))
    return [jobs.dataset(config, "parity"), jobs.dataset_summary(config, "parity"), jobs.segmenter(config, "deeplabv3"),
            jobs.background_masks(config, "cifar10"), jobs.train(config, chunk), jobs.evaluate(config, chunk),
            jobs.aggregate(config, study), jobs.lr_extension(config, "fig3", 0), jobs.figure(config, "fig4"),
            jobs.table(config, "fig4"), jobs.claims(config), jobs.fidelity(config)]


def test_every_step_has_one_description_and_one_runner():
    config = default_config()
    found = described(config)
    assert {job.step for job in found} == set(jobs.PARAMS) == set(jobs.RUNNERS)
    for job in found:
        assert tuple(job.params) == jobs.PARAMS[job.step], job.step  # what the rule declares
    train, evaluate = found[4], found[5]
    assert evaluate.input["trained"] == train.output["record"]
    assert train.params["runs"] == evaluate.params["runs"]
    # a CLI job is the same job without the workflow's record
    chunk = run_chunks(config)[0]
    assert jobs.train(config, chunk, record=False).params == train.params
    assert jobs.train(config, chunk, record=False).output == {}


def test_every_rule_runs_its_job_through_the_one_script():
    scripts = sorted(p.name for p in (REPO / "workflow/scripts").glob("*.py"))
    assert scripts == ["job.py"]
    rules = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    names = re.findall(r"^(?:rule|checkpoint) (\w+):", rules, flags=re.M)
    assert set(names) == set(jobs.PARAMS)
    assert rules.count('"../scripts/job.py"') == len(names)
    # no rule spells out a param: each comes from its job
    for block in re.split(r"^(?:rule|checkpoint) ", rules, flags=re.M)[1:]:
        params = re.search(r"\n    params:\n(.*?)\n    script:", block, flags=re.S)
        if params:
            lines = [line.strip() for line in params.group(1).splitlines() if not line.strip().startswith("#")]
            assert all(line.startswith("**") for line in lines), (block.split(":")[0], lines)


def test_the_cli_runs_the_rules_jobs(tmp_path, monkeypatch, tiny_config_file):
    """`spurcomp dataset` and `spurcomp figure` build the rule's job (with --out where given) and run it."""
    ran = []
    monkeypatch.setattr(jobs, "run", lambda job, threads, runtime: ran.append((job, threads)))
    monkeypatch.chdir(tmp_path)
    base = ["--base", "none", "--configfile", str(tiny_config_file)]
    assert cli.main([*base, "dataset", "parity"]) == 0
    assert cli.main([*base, "dataset", "parity", "--out", "elsewhere.npz"]) == 0
    assert cli.main([*base, "figure", "fig3", "--out", "f/x.pdf"]) == 0
    assert cli.main([*base, "train", "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.5",
                     "--seed", "1", "--threads", "2"]) == 0
    config = yaml.safe_load(tiny_config_file.read_text())
    validate_config(config)  # the defaults filled, as the CLI reads it
    assert ran[0][0] == jobs.dataset(config, "parity")
    assert ran[1][0].output == {"data": "elsewhere.npz"} and ran[1][0].params == ran[0][0].params
    assert ran[2][0].output == {"pdf": "f/x.pdf", "png": "f/x.png", "values": "f/x.csv"}
    assert ran[2][0].params == jobs.figure(config, "fig3").params
    train, threads = ran[3]
    assert threads == 2 and train.output == {} and train.params["runs"][0]["seed"] == 1
    assert set(cli.STEP_JOBS) <= set(cli.VERBS)
