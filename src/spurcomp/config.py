"""Load and validate the workflow config against ``schemas/config.schema.yaml`` (the one documented schema).

Validation fills the schema's defaults, reports every problem with the key's dotted path and what is allowed,
and checks what a schema cannot (a study naming an unknown dataset). It runs before any job.
"""
from __future__ import annotations

import ast
import copy
import functools
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from spurcomp.runtime import PlainError

SCHEMA_PATH = Path(str(resources.files("spurcomp") / "schemas" / "config.schema.yaml"))


class ConfigError(PlainError, ValueError):
    """A config, or a name given on the command line, that the workflow cannot use: the message says what is
    allowed."""


class UnknownName(ConfigError, KeyError):
    """A study, dataset, model, segmenter or figure name the config does not define (the message lists those it
    does)."""

    def __str__(self):
        return str(self.args[0])


@functools.lru_cache(maxsize=1)
def layout_inputs() -> dict[str, str]:
    """Each layout (a module of ``spurcomp.figures`` that draws a figure) and what it is drawn from (its
    ``INPUTS``: "studies" or "datasets"), read from the modules' sources: a new module is a new layout, and the config
    is checked before any figure module, or the libraries they need, is imported."""
    found = {}
    for path in sorted((Path(__file__).parent / "figures").glob("*.py")):
        if path.name.startswith("_"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "INPUTS" for t in node.targets):
                found[path.stem] = ast.literal_eval(node.value)
    return found


def load_schema() -> dict:
    """The schema, with the layouts of the figures package as the allowed values of a figure's ``layout`` and
    ``datasets`` required where a layout is drawn from datasets."""
    schema = copy.deepcopy(_schema_file())
    figure = schema["properties"]["figures"]["additionalProperties"]
    layouts = layout_inputs()
    figure["properties"]["layout"]["enum"] = sorted(layouts)
    from_datasets = sorted(name for name, inputs in layouts.items() if inputs == "datasets")
    figure["allOf"] = [{"if": {"properties": {"layout": {"enum": from_datasets}}}, "then": {"required": ["datasets"]},
                        "else": {"required": ["studies"]}}]
    return schema


@functools.lru_cache(maxsize=1)
def _schema_file() -> dict:
    """The schema file, parsed once per process (every config check and section default reads it)."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = _copy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = _allowed_keys(error.schema)
        if allowed:
            message += f"; allowed keys: {allowed}"
    return f"config key {where}: {message}"


def _allowed_keys(schema: dict) -> list[str]:
    """Property names a (sub)schema allows, including those of the ``$defs`` its ``allOf`` refers to."""
    keys = set(schema.get("properties") or {})
    definitions = load_schema()["$defs"]
    for part in schema.get("allOf", []):
        ref = part.get("$ref", "")
        if ref.startswith("#/$defs/"):
            keys |= set(definitions[ref.removeprefix("#/$defs/")].get("properties") or {})
    return sorted(keys)


# Sections whose entries a later config file can remove by setting them to null (``studies: {fig6_dm_l1: null}``):
# Snakemake merges config files key by key and cannot delete a key, so a scale that does not run a study of the
# base config says so this way instead of inheriting it.
REMOVABLE_SECTIONS = ("datasets", "segmenters", "models", "studies", "figures", "departures")


def drop_removed_entries(config: dict) -> dict:
    """Delete (in place) the entries of :data:`REMOVABLE_SECTIONS` that a config file set to null."""
    for section in REMOVABLE_SECTIONS:
        entries = config.get(section)
        if isinstance(entries, dict):
            for name in [name for name, value in entries.items() if value is None]:
                del entries[name]
    return config


def validate_config(config: dict) -> dict:
    """Validate ``config`` in place (defaults filled, entries set to null removed) and return it; raise
    ConfigError naming every problem."""
    drop_removed_entries(config)
    validator = _with_defaults(jsonschema.Draft202012Validator)(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [_describe(e) for e in errors]
    for name, study in (config.get("studies") or {}).items():
        if not isinstance(study, dict):
            continue
        for section in ("dataset", "model"):
            known = sorted((config.get(section + "s") or {}).keys())
            if study.get(section) is not None and study.get(section) not in known:
                problems.append(f"config key studies.{name}.{section}: {study.get(section)!r} is not defined; "
                                f"defined {section}s: {known}")
    problems += _cross_reference_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def _cross_reference_problems(config: dict) -> list[str]:
    """What the schema cannot check: figures naming defined studies/datasets, datasets naming defined segmenters,
    lazily read datasets that are not read from a folder, study evaluation overrides."""
    problems = []
    studies, datasets = config.get("studies") or {}, config.get("datasets") or {}
    for name, study in studies.items():
        if isinstance(study, dict) and "plot" in study:
            problems.append(f"config key studies.{name}.plot: a study no longer draws its own figure; declare it in "
                            f"the `figures` section instead: figures: {{{name}: {{layout: {study['plot']}, "
                            f"studies: [{name}]}}}}")
    for name, figure in (config.get("figures") or {}).items():
        if not isinstance(figure, dict):
            continue
        for section, known in (("studies", studies), ("datasets", datasets)):
            for item in figure.get(section) or []:
                if item not in known:
                    problems.append(f"config key figures.{name}.{section}: {item!r} is not defined; defined: "
                                    f"{sorted(known)}")
    for name, study in studies.items():
        if isinstance(study, dict) and study.get("lr_until_failure") and "lr" not in (study.get("grid") or {}):
            problems.append(f"config key studies.{name}.lr_until_failure: extends the study's learning rates, but its "
                            f"grid has no `lr`; add grid.lr or remove lr_until_failure")
    models = config.get("models") or {}
    for model in ((config.get("execution") or {}).get("side_by_side") or {}):
        if model not in models:
            problems.append(f"config key execution.side_by_side: {model!r} is not a model of `models`; defined: "
                            f"{sorted(models)}")
    segmenters = config.get("segmenters") or {}
    for name, dataset in datasets.items():
        if isinstance(dataset, dict) and dataset.get("lazy") and dataset.get("source") != "folder":
            problems.append(f"config key datasets.{name}.lazy: true reads a release's images from their files, so it "
                            f"needs source: folder (not {dataset.get('source')!r}, which is built in memory); "
                            f"remove lazy or set source: folder")
        if isinstance(dataset, dict) and "background_masks" in dataset and dataset["background_masks"] not in segmenters:
            problems.append(f"config key datasets.{name}.background_masks: segmenter {dataset['background_masks']!r} "
                            f"is not defined under `segmenters`; defined: {sorted(segmenters)}")
    schema = load_schema()
    evaluation_schema = {**schema["properties"]["evaluation"], "$defs": schema["$defs"]}
    for name, study in studies.items():
        if not isinstance(study, dict) or not study.get("evaluation"):
            continue
        merged = deep_merge(config.get("evaluation") or {}, study["evaluation"])
        for error in jsonschema.Draft202012Validator(evaluation_schema).iter_errors(merged):
            where = ".".join(str(p) for p in error.absolute_path)
            problems.append(f"config key studies.{name}.evaluation.{where}: {error.message}")
    return problems


def read_config_file(path: str | Path) -> dict:
    """The YAML mapping in ``path``; a missing file or a YAML error is a ConfigError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (working directory: {Path.cwd()})")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        context = f" ({err.context})" if getattr(err, "context", None) else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}{context}; fix it there (mind "
                          f"tabs, unclosed brackets and a missing space after ':')") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"config file {path} holds a {type(content).__name__}, not a mapping of config keys")
    return content


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    config = read_config_file(path)
    if overrides:
        config = deep_merge(config, overrides)
    return validate_config(config)


def canonical(value):
    """``value`` with every dict's keys sorted (recursively): one repr for one content, so Snakemake, which
    compares params by their repr, never reruns a job because config keys were written in another order."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def command_line_values(overrides: dict) -> dict:
    """``snakemake --config KEY=VALUE`` values read as a config file's would be. Snakemake parses a top-level
    VALUE as a number or boolean but everything inside a mapping (``training={max_epochs: 5}``) with YAML's
    BaseLoader, as strings: each such string is read again with the safe loader, so ``5`` is 5 and ``[0, 1]`` a
    list, exactly as in a YAML file."""
    if isinstance(overrides, dict):
        return {key: command_line_values(value) for key, value in overrides.items()}
    if isinstance(overrides, list):
        return [command_line_values(item) for item in overrides]
    if isinstance(overrides, str):
        try:
            return yaml.safe_load(overrides)
        except yaml.YAMLError:
            return overrides
    return overrides


def deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def section_defaults(section: str) -> dict:
    """The defaults the schema gives a top-level section (e.g. ``evaluation``), for callers without a config."""
    schema = load_schema()
    filled: dict = {}
    _with_defaults(jsonschema.Draft202012Validator)({**schema["properties"][section], "$defs": schema["$defs"]}).validate(filled)
    return filled
