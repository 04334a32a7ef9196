"""report.html in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run)
loads a fixture's report; every image decodes to a non-zero size and the screenshot is not blank.

The report has no script; the check is a script injected into the test's own copy of the page,
which writes what it found into the DOM that `--dump-dom` prints."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from webbench_lab.bench import rerender

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({alt: i.alt, complete: i.complete,
    width: i.naturalWidth, height: i.naturalHeight}));
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify(images);
  document.body.appendChild(out);
});
</script>"""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)"
)


def chromium(tmp_path: Path, *args: str) -> str:
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", *args]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_every_image_of_report_html_loads_and_the_page_is_not_blank(tmp_path):
    page = rerender.render(FIXTURES / "lab-a")["report.html"]
    shown = tmp_path / "report.html"
    shown.write_text(page)
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", CHECK + "</body>"))

    dom = chromium(tmp_path, "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.S)
    assert found, "the check did not run: the page did not finish loading"
    images = json.loads(found[1].replace("&quot;", '"').replace("&amp;", "&"))
    assert len(images) == page.count("<img ") >= 7  # 3 levels, scaling, samples of 3 cases
    bad = [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert bad == []

    png = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,2400", shown.as_uri())
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1200, 2400)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, bars, hatching: far more than a blank page
    white = max(count for count, rgb in colours if rgb == (255, 255, 255))
    assert white < 0.97 * 1200 * 2400
