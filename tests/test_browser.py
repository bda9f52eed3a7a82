"""The documentation site and the Snakemake report as a reader sees them: opened in headless Chromium (Debian's
`chromium`, driven by Playwright). Skipped, with the reason, where either is absent (`pip install -e '.[browser]'`
and `apt install chromium`). Screenshots are kept in test-artifacts/."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path), None)

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt install chromium)"),
    pytest.mark.workflow,
]
sync_playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                      "(pip install -e '.[browser]')").sync_playwright


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser, url: str):
    """The page at ``url``, loaded, with the console errors and uncaught exceptions it raised."""
    page = browser.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(500)
    return page, errors


def test_every_page_of_the_documentation_site_loads_without_errors(browser, tmp_path):
    site = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=REPO,
                           capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert built.returncode == 0, built.stderr[-2000:]
    pages = sorted(site.glob("**/index.html"))
    assert len(pages) >= 15
    for path in pages:
        page, errors = open_page(browser, path.as_uri())
        assert not errors, (path, errors)
        assert page.title().endswith("spurcomp") and page.locator("article h1").count() == 1, path
        if path.parent == site:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / "docs.png", full_page=True)
        page.close()


def test_the_snakemake_report_shows_every_figure_and_the_claims(browser, tmp_path, tiny_config):
    tiny_config["training"]["max_epochs"] = 4
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory",
                 str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    made = subprocess.run([*snakemake, "--cores", "2", "figures/fig3.pdf", "results/claims.md", "results/tables/fig3.md",
                           "results/fidelity.md"], capture_output=True, text=True, cwd=REPO)
    assert made.returncode == 0, made.stderr[-3000:]
    report = tmp_path / "report.html"
    reported = subprocess.run([*snakemake, "--report", str(report)], capture_output=True, text=True, cwd=REPO)
    assert reported.returncode == 0, reported.stderr[-3000:]
    page, errors = open_page(browser, report.as_uri())
    assert not errors, errors
    # every image the report holds decodes in the browser (the figures' PNGs, shown inline)
    html = report.read_text()
    images = re.findall(r'"data_uri": "(data:image/png;[^"]+)"', html)
    assert images, "the report holds no figure image"
    sizes = page.evaluate("""async uris => Promise.all(uris.map(async uri => {
        const image = new Image(); image.src = uri; await image.decode(); return image.naturalWidth; }))""", images)
    assert all(width > 100 for width in sizes), sizes
    # the categories a reader clicks through, the claims table among them, are on the page
    text = page.inner_text("body")
    assert "Claims" in text and "Figures" in text, text[:2000]
    import base64

    claims = html[html.index('"results/claims.md": {'):]
    markdown = re.search(r'"data_uri": "data:text/markdown;[^,]*,([^"]+)"', claims)[1]
    assert "Claims of the paper tested on the computed tables" in base64.b64decode(markdown).decode()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
