import copy
from pathlib import Path

import pytest
import yaml
from conftest import reversed_keys

from spurcomp.config import ConfigError, load_config, validate_config
from spurcomp.study import RunKey, study_runs

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_config_is_valid_and_defaults_are_filled():
    config = load_config(REPO / "config" / "config.yaml")
    assert config["device"] == "cpu"
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    del raw["evaluation"]
    filled = validate_config(raw)
    assert filled["evaluation"]["kappas"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert filled["evaluation"]["ig"] == {"baseline": "uniform", "n_samples": 200, "n_baselines": 10, "n_steps": 16}
    # the paper's citation for structured pruning (Li et al. 2017) and its words (κ of the parameters) are the
    # default; every variant computed beside it, the unit budget among them
    pruning = filled["evaluation"]["pruning"]
    assert (pruning["criterion"], pruning["scope"], pruning["budget"]) == ("l1_weight", "layer", "parameters")
    assert len(pruning["variants"]) == 8 and "l1_weight/layer/units" in pruning["variants"]


def test_the_schema_accepts_exactly_the_variants_the_evaluation_knows():
    import re

    from spurcomp.metrics.pruning_variants import BUDGET_VARIANTS, STRUCTURED_VARIANTS, VARIANT_PATTERN
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    pattern = schema["properties"]["evaluation"]["properties"]["pruning"]["properties"]["variants"]["items"]["pattern"]
    assert pattern == VARIANT_PATTERN
    assert all(re.match(pattern, v) for v in STRUCTURED_VARIANTS + BUDGET_VARIANTS)
    bad = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    bad["evaluation"]["pruning"]["variants"] = ["l1_weight/layer/weights"]
    with pytest.raises(ConfigError, match="evaluation.pruning.variants.0"):
        validate_config(bad)


def test_every_schema_key_is_described_in_config_readme():
    readme = (REPO / "config" / "README.md").read_text()
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = set(schema["properties"])
    keys |= set(schema["properties"]["training"]["properties"])
    for generator in ("parity", "moonstar", "semisynthetic", "colored_mnist", "corrupted_cifar10", "double_mnist",
                      "waterbirds", "celeba", "cifar", "imagenet", "segmenter"):
        keys |= set(schema["$defs"][generator]["properties"])
    keys |= set(schema["properties"]["studies"]["additionalProperties"]["properties"])
    keys |= set(schema["properties"]["figures"]["additionalProperties"]["properties"])
    missing = sorted(k for k in keys if f"`{k}`" not in readme)
    assert not missing, f"config/README.md does not document {missing}"


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: c["training"].update(lr=-1), "config key training.lr: -1 is less than or equal to the minimum of 0"),
    (lambda c: c.update(device="tpu"), "config key device: 'tpu' is not one of ['auto', 'cpu', 'cuda']"),
    (lambda c: c["training"].update(learning_rate=0.1), "'learning_rate' was unexpected)"),
    (lambda c: c["datasets"]["parity"].update(rho_train=1.5), "config key datasets.parity.rho_train: 1.5 is greater"),
    (lambda c: c["datasets"]["parity"].update(image_size=32), "allowed keys: ['core_bits'"),
    (lambda c: c["studies"]["fig3"].update(dataset="mnist"),
     "config key studies.fig3.dataset: 'mnist' is not defined; defined datasets: ['parity']"),
    (lambda c: c["studies"]["fig3"]["grid"].update(lr=[]), "config key studies.fig3.grid.lr: [] should be non-empty"),
    (lambda c: c["datasets"].update(cm={"generator": "colored_mnist", "severity": 5}),
     "config key datasets.cm: Unevaluated properties are not allowed ('severity' was unexpected); allowed keys: "
     "['allow_fallback', 'colour_std', 'data_root', 'download', 'generator'"),
    (lambda c: c["datasets"].update(cm={"generator": "colored_mnist", "source": "web"}),
     "config key datasets.cm.source: 'web' is not one of ['embedded', 'torchvision']"),
    (lambda c: c.update(figures={"fig4": {"layout": "fig4", "studies": ["nope"]}}),
     "config key figures.fig4.studies: 'nope' is not defined; defined: ['fig3']"),
    (lambda c: c["studies"]["fig3"].update(plot="fig3"),
     "config key studies.fig3.plot: a study no longer draws its own figure; declare it in the `figures` section "
     "instead: figures: {fig3: {layout: fig3, studies: [fig3]}}"),
    (lambda c: c.update(figures={"fig9": {"layout": "fig99", "studies": ["fig3"]}}),
     "config key figures.fig9.layout: 'fig99' is not one of ['fig1', 'fig10', 'fig11', 'fig12', 'fig13', 'fig2', 'fig3', 'fig4', 'fig5', 'fig6', 'fig7', 'fig8', 'fig9', 'figS_optimizers', 'figS_prunability', 'figS_pruning', 'prop1']"),
    (lambda c: c.update(figures={"fig2": {"layout": "fig2", "studies": ["fig3"]}}),
     "config key figures.fig2: 'datasets' is a required property"),
    (lambda c: c["datasets"].update(c10={"generator": "cifar10", "background_masks": "dlv3"}),
     "config key datasets.c10.background_masks: segmenter 'dlv3' is not defined under `segmenters`; defined: []"),
    (lambda c: c.update(segmenters={"dlv3": {"arch": "deeplabv4"}}),
     "config key segmenters.dlv3.arch: 'deeplabv4' is not one of ['deeplabv3', 'deeplabv3_resnet50']"),
    (lambda c: c["studies"]["fig3"].update(evaluation={"ig": {"n_steps": 1}}),
     "config key studies.fig3.evaluation.ig.n_steps: 1 is less than the minimum of 2"),
    (lambda c: c.update(execution={"side_by_side": {"vgg": 2}}),
     "config key execution.side_by_side: 'vgg' is not a model of `models`; defined: ['fcn']"),
    (lambda c: c.update(execution={"side_by_side": {"fcn": 0}}),
     "config key execution.side_by_side.fcn: 0 is less than the minimum of 1"),
])
def test_bad_config_names_the_key_and_what_is_allowed(tiny_config, mutate, expected):
    mutate(tiny_config)
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_config)
    assert expected in str(err.value)


def test_additional_key_error_lists_allowed_keys(tiny_config):
    tiny_config["training"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match=r"allowed keys: \['asam_rho', 'batch_size', 'checkpoint_epochs'"):
        validate_config(tiny_config)


def test_jobs_hold_the_seeds_of_one_setting_up_to_runs_per_job(tiny_config):
    from spurcomp.study import run_chunks

    tiny_config["studies"]["fig3"]["seeds"] = [0, 1, 2, 3]
    config = validate_config(copy.deepcopy(tiny_config))
    assert config["execution"] == {"runs_per_job": 3, "side_by_side": {}, "vectorise": False, "read_cache_gb": 8}  # the schema's defaults
    chunks = run_chunks(config)
    assert [[(r.setting, r.seed) for r in c.runs] for c in chunks] == [
        [("lr=0.05", 0), ("lr=0.05", 1), ("lr=0.05", 2)], [("lr=0.05", 3)],
        [("lr=0.5", 0), ("lr=0.5", 1), ("lr=0.5", 2)], [("lr=0.5", 3)]]
    assert [c.name for c in chunks[:2]] == ["parity_fcn_lr0p05_seeds_0_1_2", "parity_fcn_lr0p05_seeds_3"]
    config["execution"]["runs_per_job"] = 1
    assert [len(c.runs) for c in run_chunks(config)] == [1] * 8
    # a run shared by two studies is trained by one job
    config["studies"]["again"] = copy.deepcopy(config["studies"]["fig3"])
    assert len(run_chunks(config)) == 8


def test_study_runs_are_the_grid_times_seeds(tiny_config):
    config = validate_config(copy.deepcopy(tiny_config))
    runs = study_runs(config, "fig3")
    assert runs == sorted(RunKey("parity", "fcn", f"lr={lr}", s) for lr in (0.05, 0.5) for s in (0, 1))
    assert runs[0].directory == Path("results/runs/parity/fcn/lr=0.05/seed=0")
    config["studies"]["fig3"]["overrides"] = {"batch_size": 20}
    assert study_runs(config, "fig3")[0].setting == "lr=0.05,bs=20"


def test_the_layouts_are_the_figure_modules(tmp_path, monkeypatch, tiny_config):
    """A layout is its module: the config accepts the modules of spurcomp.figures (read from their sources, so that
    adding a figure is a module and a config entry), and each module's INPUTS says what it is drawn from."""
    from spurcomp import config as config_module
    from spurcomp.config import layout_inputs, load_schema
    from spurcomp.figures import LAYOUTS, layout_module

    layouts = layout_inputs()
    assert tuple(layouts) == LAYOUTS and {"fig2", "fig3", "fig4", "prop1", "figS_pruning"} <= set(layouts)
    assert all(layout_module(name).INPUTS == inputs for name, inputs in layouts.items())
    assert load_schema()["properties"]["figures"]["additionalProperties"]["properties"]["layout"]["enum"] == list(layouts)
    # a new module is a new layout, drawn from what its INPUTS says
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "figS_new.py").write_text('INPUTS = "datasets"\n')
    monkeypatch.setattr(config_module, "__file__", str(tmp_path / "config.py"))
    layout_inputs.cache_clear()
    try:
        tiny_config["figures"]["new"] = {"layout": "figS_new", "datasets": ["parity"]}
        del tiny_config["figures"]["fig3"]
        validate_config(tiny_config)
        tiny_config["figures"]["new"] = {"layout": "figS_new", "studies": ["fig3"]}
        with pytest.raises(ConfigError, match="'datasets' is a required property"):
            validate_config(tiny_config)
    finally:
        layout_inputs.cache_clear()


def test_params_are_canonical_so_key_order_never_reruns_a_job(tiny_config):
    from spurcomp.study import dataset_job, run_evaluation, train_job

    config = validate_config(copy.deepcopy(tiny_config))
    reordered = validate_config(yaml.safe_load(yaml.safe_dump(
        reversed_keys(copy.deepcopy(tiny_config)), sort_keys=False)))
    run = RunKey("parity", "fcn", "lr=0.5", 0)
    for job in (lambda c: dataset_job(c, "parity"), lambda c: train_job(c, run), lambda c: run_evaluation(c, run)):
        # Snakemake compares params by repr: the same content must give the same repr
        assert repr(job(config)) == repr(job(reordered))
    assert list(reordered["datasets"]["parity"]) != list(config["datasets"]["parity"])  # really reordered


def test_conda_env_lists_every_dependency_of_pyproject():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "spurcomp.yaml").read_text())["dependencies"]
    pip = [d for entry in env if isinstance(entry, dict) for d in entry.get("pip", [])]
    conda_names = {d.split(">")[0].split("=")[0] for d in env + pip if isinstance(d, str)}
    for dep in deps:
        name = dep.split(">")[0].split("=")[0].split("<")[0].split("[")[0]
        if name == "snakemake":  # runs the jobs, outside their environment
            assert "snakemake" not in conda_names
            continue
        assert {"torch": "pytorch"}.get(name, name) in conda_names, f"envs/spurcomp.yaml lacks {name}"


def test_conda_env_pip_list_is_a_valid_requirements_file(tmp_path):
    """conda writes an env file's `pip:` list to a requirements file and runs `pip install -r` on it: pip must
    accept every line (options such as --no-deps are not allowed there)."""
    import subprocess
    import sys

    env = yaml.safe_load((REPO / "envs" / "spurcomp.yaml").read_text())["dependencies"]
    pip = [d for entry in env if isinstance(entry, dict) for d in entry.get("pip", [])]
    requirements = tmp_path / "condaenv.requirements.txt"
    requirements.write_text("\n".join(pip) + "\n")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet",
                             "--target", str(tmp_path / "t"), "-r", str(requirements)], capture_output=True, text=True)
    assert "no such option" not in result.stderr and "Invalid requirement" not in result.stderr, result.stderr
    if result.returncode:
        pytest.skip(f"no package index here to resolve {pip}: {result.stderr.strip()[-300:]}")


def test_conda_post_deploy_installs_this_checkout(tmp_path):
    """Snakemake copies envs/spurcomp.yaml into .snakemake/conda/ before creating the env, so the package is
    installed by the post-deploy script from SPURCOMP_SOURCE (set by the workflow); run it in a fresh venv."""
    import subprocess
    import sys

    env = yaml.safe_load((REPO / "envs" / "spurcomp.yaml").read_text())["dependencies"]
    pip = [d for entry in env if isinstance(entry, dict) for d in entry.get("pip", [])]
    assert not [d for d in pip if d.startswith(("-e", ".", "/"))], "a path in the env file points nowhere once copied"
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    setup = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "setuptools>=68"], capture_output=True, text=True)
    if setup.returncode:
        pytest.skip(f"setuptools cannot be installed here: {setup.stderr[-300:]}")
    script = REPO / "envs" / "spurcomp.post-deploy.sh"
    path = f"{venv / 'bin'}:/usr/bin:/bin"
    unset = subprocess.run(["bash", str(script)], env={"PATH": path}, capture_output=True, text=True)
    assert unset.returncode != 0 and "SPURCOMP_SOURCE" in unset.stderr
    deployed = subprocess.run(["bash", str(script)], env={"PATH": path, "SPURCOMP_SOURCE": str(REPO)},
                              capture_output=True, text=True, cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    found = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print(u.find_spec('spurcomp').origin)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert found.stdout.strip() == str(REPO / "src" / "spurcomp" / "__init__.py")


def test_study_evaluation_overrides_reach_only_their_runs(tiny_config):
    from spurcomp.study import run_evaluation

    tiny_config["studies"]["other"] = {**copy.deepcopy(tiny_config["studies"]["fig3"]), "grid": {"lr": [2.0]},
                                       "evaluation": {"ig": {"n_samples": 7}}}
    config = validate_config(tiny_config)
    overridden = run_evaluation(config, RunKey("parity", "fcn", "lr=2.0", 0))
    assert overridden["ig"] == {"baseline": "uniform", "n_samples": 7, "n_baselines": 2, "n_steps": 8}  # merged over the global section
    assert run_evaluation(config, RunKey("parity", "fcn", "lr=0.5", 0))["ig"]["n_samples"] == 20
    # the same run in two studies with different overrides is ambiguous: a clear error
    config["studies"]["fig3"]["evaluation"] = {"ig": {"n_samples": 9}}
    config["studies"]["fig3"]["grid"]["lr"] = [0.5, 2.0]
    with pytest.raises(ValueError, match="different evaluation overrides"):
        run_evaluation(config, RunKey("parity", "fcn", "lr=2.0", 0))


def test_a_yaml_error_names_the_file_and_line(tmp_path):
    from spurcomp.config import read_config_file

    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  lr: 0.1\n  batch_size: [1, 2\n")
    with pytest.raises(ConfigError, match=r"config file .*bad.yaml is not valid YAML at line 4, column 1: expected ','"):
        read_config_file(bad)
    with pytest.raises(ConfigError, match=r"config file .*missing.yaml does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="holds a list, not a mapping"):
        read_config_file(tmp_path / "list.yaml")


def test_spurcomp_check_merges_like_snakemake_and_names_problems(tmp_path, capsys):
    from spurcomp.cli import main

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("training: {max_epochs: 5}\nstudies: {fig3: {seeds: [0]}}\n")
    assert main(["--config", str(REPO / "config" / "config.yaml"), "check", str(overlay)]) == 0
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert f"valid ({len(default['studies'])} studies, {len(default['figures'])} figures)" in capsys.readouterr().out
    overlay.write_text("training: {max_epochs: 0}\n")
    assert main(["--config", str(REPO / "config" / "config.yaml"), "check", str(overlay)]) == 2
    assert "config key training.max_epochs: 0 is less than the minimum of 1" in capsys.readouterr().err


def test_evaluate_without_families_means_all_of_them():
    from spurcomp.cli import _parser

    args = _parser().parse_args(["evaluate", "--dataset", "parity", "--model", "fcn", "--setting", "lr=0.1",
                                 "--seed", "0"])
    assert args.families == []


def test_a_new_generator_version_rebuilds_the_dataset(tiny_config, monkeypatch):
    from spurcomp.data import build_dataset
    from spurcomp.data.versions import GENERATOR_VERSIONS
    from spurcomp.study import dataset_job

    config = validate_config(tiny_config)
    job = dataset_job(config, "parity")
    assert job["generator_version"] == GENERATOR_VERSIONS["parity"] == build_dataset(
        config["datasets"]["parity"], seed=0).metadata["version"]
    monkeypatch.setitem(GENERATOR_VERSIONS, "parity", GENERATOR_VERSIONS["parity"] + 1)
    assert repr(dataset_job(config, "parity")) != repr(job)  # another param: Snakemake rebuilds the file


def test_command_line_values_are_read_as_a_config_file_would_be():
    from spurcomp.config import command_line_values

    # what Snakemake hands over for --config 'training={max_epochs: 5, checkpoint_epochs: [0, 1]}' device=cuda
    given = {"training": {"max_epochs": "5", "checkpoint_epochs": ["0", "1"], "lr": "0.1"}, "device": "cuda",
             "seed": 3}
    assert command_line_values(given) == {"training": {"max_epochs": 5, "checkpoint_epochs": [0, 1], "lr": 0.1},
                                          "device": "cuda", "seed": 3}
    assert command_line_values({"a": "{b: [1, x]}"}) == {"a": {"b": [1, "x"]}}
    assert command_line_values({"a": "[unclosed"}) == {"a": "[unclosed"}  # not YAML: left as it is


# import name -> distribution, where they differ
DISTRIBUTIONS = {"PIL": "pillow", "yaml": "pyyaml", "skimage": "scikit-image", "sklearn": "scikit-learn",
                 "psgd_torch": "psgd-torch", "segmentation_models_pytorch": "segmentation-models-pytorch"}
# declared without an import in src/: what runs the workflow, and package data read without importing the package
NOT_IMPORTED = {"snakemake": "runs the workflow (the rules and scripts)",
                "imagecorruptions": "its frost photographs are read as package data; its module is never imported"}


def test_declared_dependencies_are_the_imported_ones():
    import ast
    import sys
    import tomllib

    imported = set()
    for path in (REPO / "src" / "spurcomp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {DISTRIBUTIONS.get(name, name).lower() for name in imported
                   if name not in sys.stdlib_module_names and name != "spurcomp"}
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {dep.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower() for dep in deps}
    assert third_party - declared == set(), "imported but not declared"
    assert declared - third_party == set(NOT_IMPORTED), "declared but never imported"
