"""The documentation a reader meets: a short README, a site that builds without broken links, a valid citation, a
lock file true to the package's requirements, and numbers the config still produces."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROSE = [REPO / "README.md", REPO / "AE.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_readme_is_short_and_points_to_every_figure():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for figure in ("fig1", "fig2", "fig3", "fig3_moonstar", "fig4", "fig5", "fig6", "fig7", "fig7_waterbirds", "fig8",
                   "fig9", "fig10", "fig11", "fig12", "fig13", "figS_optimizers", "figS_pruning", "prop1"):
        assert f"figures/{figure}.pdf" in readme, figure
    assert "arxiv.org/abs/2507.17748" in readme and "CITATION.cff" in readme


def test_the_documentation_site_builds_strict(tmp_path):
    """`mkdocs build --strict`: no broken link, anchor or missing page (AE.md and config/README.md included)."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                                           "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "site" / "artifact-evaluation" / "index.html").read_text()
    assert "How to read the claims table" in page  # AE.md, included as it is


@pytest.mark.parametrize("path", PROSE, ids=lambda p: str(p.relative_to(REPO)))
def test_prose_holds_no_commit_hash_and_no_account_of_its_making(path):
    text = path.read_text()
    # a commit-like token: 7-12 hex digits with letters and digits, not part of a file name, URL or checksum
    hashes = [m for m in re.findall(r"(?<![-\w/.])[0-9a-f]{7,12}(?![-\w.])", text)
              if re.search(r"[a-f]", m) and re.search(r"\d", m)]
    assert not hashes, hashes
    for phrase in (r"\bcommit\b", r"\bsessions?\b", r"\blent\b", r"\bborrowed\b", r"this machine", r"this CPU",
                   r"\bdevice\b tool", r"`device` tool"):
        assert not re.search(phrase, text), f"{path.name}: {phrase}"


def test_citation_cff_is_valid():
    """CITATION.cff (CFF 1.2.0): the required keys, and the paper as the preferred citation."""
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["message"] and cff["title"] and cff["type"] == "software"
    assert all("name" in author or {"family-names", "given-names"} <= set(author) for author in cff["authors"])
    paper = cff["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2025
    assert [a["family-names"] for a in paper["authors"]] == ["Barsbey", "Prieto", "Zafeiriou", "Birdal"]
    assert paper["title"].startswith("Large Learning Rates Simultaneously Achieve Robustness")


def test_the_lock_file_pins_every_requirement_within_its_bounds():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = Requirement(spec)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"requirements.lock does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {spec}"
    assert project["requires-python"] == ">=3.11"  # tomllib: the tests need 3.11


def test_the_claims_count_in_ae_md_is_the_configs():
    from spurcomp.figures import config_claims
    from spurcomp.cli import merged_config
    from spurcomp.config import validate_config

    config, _ = merged_config(str(REPO / "config" / "config.yaml"), [])
    claims = config_claims(validate_config(config))
    stated = re.search(r"test (\d+) of the paper's claims and (\d+) supplementary checks",
                       (REPO / "AE.md").read_text().replace("\n  ", " "))
    assert stated, "AE.md no longer states how many claims the default config tests"
    assert (int(stated[1]), int(stated[2])) == (sum(not c.supplementary for c in claims),
                                                sum(c.supplementary for c in claims))


def test_the_cli_says_its_version():
    from importlib import metadata

    result = subprocess.run([sys.executable, "-m", "spurcomp.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"spurcomp {metadata.version('spurcomp')}"


def test_the_lock_file_resolves(tmp_path):
    """Every pinned version of requirements.lock exists in the package index (pip's dry run; skipped, with the
    reason, where no index can be reached)."""
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet", "--target",
                             str(tmp_path / "t"), "-r", str(REPO / "requirements.lock")], capture_output=True, text=True)
    if result.returncode and re.search(r"Could not fetch|connection|Network is unreachable|timed out", result.stderr, re.I):
        pytest.skip(f"no package index here: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr[-3000:]
