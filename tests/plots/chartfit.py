"""Whether a chart's text fits: measured in headless Chromium, the browser the book is checked in.

A chart's SVG (rendered offline by vl-convert, as the book stores it) is put inline into one page
per batch; a script there measures every visible ``<text>`` with the browser's own fonts
(``getBoundingClientRect``, after transforms and rotation) and writes the boxes into the DOM, which
``--dump-dom`` returns. Measuring in the browser and not from font metrics computed here matters:
a tick label that vl-convert placed for one font and the browser draws in another is exactly how
"28,00030,000" reached a page.

The problems (`text_problems`): a title or guide cut short with "…" (Vega's ``limit``), text reaching
outside the picture, and two texts overlapping each other.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import htmlcheck

_SCRIPT = """
<script>
const out = [];
for (const fig of document.querySelectorAll('div.fig')) {
  const svg = fig.querySelector('svg');
  const frame = svg.getBoundingClientRect();
  const texts = [];
  for (const t of svg.querySelectorAll('text')) {
    let hidden = false;
    for (let n = t; n && n !== svg; n = n.parentElement) {
      const style = getComputedStyle(n);
      if (style.opacity === '0' || style.display === 'none' || style.visibility === 'hidden'
          || n.getAttribute('opacity') === '0' || n.getAttribute('fill-opacity') === '0') { hidden = true; }
    }
    const content = t.textContent.trim();
    if (hidden || !content) continue;
    const r = t.getBoundingClientRect();
    const group = t.closest('g[class*="role-"]');
    const role = group ? (group.getAttribute('class').match(/role-[a-z-]+/) || [''])[0] : '';
    texts.push({text: content, role: role, x0: r.left - frame.left, y0: r.top - frame.top,
                x1: r.right - frame.left, y1: r.bottom - frame.top,
                size: parseFloat(getComputedStyle(t).fontSize)});
  }
  out.push({name: fig.dataset.name, width: frame.width, height: frame.height, texts: texts});
}
const pre = document.createElement('pre');
pre.id = 'measured';
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>
"""


@dataclass(frozen=True)
class Box:
    text: str
    role: str  # Vega's role of the text: role-mark (a text mark), role-axis-label, role-title-text, ...
    x0: float
    y0: float
    x1: float
    y1: float
    size: float

    def overlap(self, other: Box) -> float:
        """Area shared with ``other`` (px²)."""
        dx = min(self.x1, other.x1) - max(self.x0, other.x0)
        dy = min(self.y1, other.y1) - max(self.y0, other.y0)
        return dx * dy if dx > 0 and dy > 0 else 0.0

    def runs_into(self, other: Box, min_gap: float) -> bool:
        """Two tick labels on one line closer than ``min_gap`` px read as one number ("28,00030,000")."""
        same_line = min(self.y1, other.y1) - max(self.y0, other.y0) > 0.5 * min(self.y1 - self.y0, other.y1 - other.y0)
        gap = max(self.x0, other.x0) - min(self.x1, other.x1)
        return same_line and -1.0 < gap < min_gap


@dataclass(frozen=True)
class Measured:
    name: str
    width: float
    height: float
    texts: list[Box]


def measure(svgs: dict[str, str]) -> dict[str, Measured]:
    """Every visible text's box in each SVG, drawn at its own size (1 SVG unit = 1 CSS px)."""
    figures = "\n".join(
        f'<div class="fig" data-name="{html.escape(name)}" style="display:inline-block">{_strip_xml(svg)}</div>'
        for name, svg in svgs.items()
    )
    head = "<!doctype html><html><head><meta charset='utf-8'></head><body style='margin:0'>"
    page = f"{head}{figures}{_SCRIPT}</body></html>"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "charts.html"
        path.write_text(page, encoding="utf-8")
        proc = subprocess.run([htmlcheck.CHROMIUM, *htmlcheck.CHROMIUM_FLAGS, "--dump-dom", path.as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    match = re.search(r'<pre id="measured">(.*?)</pre>', proc.stdout, flags=re.DOTALL)
    if not match:
        raise RuntimeError(f"Chromium measured nothing (exit {proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(html.unescape(match.group(1)))
    return {fig["name"]: Measured(fig["name"], fig["width"], fig["height"], [Box(**t) for t in fig["texts"]])
            for fig in data}  # fmt: skip


def _strip_xml(svg: str) -> str:
    return re.sub(r"^<\?xml[^>]*>\s*", "", svg.strip())


def text_problems(fig: Measured, tolerance: float = 1.0, min_overlap: float = 4.0, min_gap: float = 2.0) -> list[str]:
    """What a reader would see wrong with the chart's text; empty when it all fits."""
    # Vega cuts titles, axis and legend labels at their `limit` with "…"; a text mark cut by its builder on
    # purpose (an icicle's name in a narrow block) is not a guide cut short.
    problems = [f"cut short: {box.text!r}" for box in fig.texts if box.text.endswith("…") and box.role != "role-mark"]
    for box in fig.texts:
        if box.x0 < -tolerance or box.y0 < -tolerance or box.x1 > fig.width + tolerance \
                or box.y1 > fig.height + tolerance:
            problems.append(f"outside the picture ({fig.width:.0f}×{fig.height:.0f}): {box.text!r} at "
                            f"x {box.x0:.0f}–{box.x1:.0f}, y {box.y0:.0f}–{box.y1:.0f}")
    for i, box in enumerate(fig.texts):
        for other in fig.texts[i + 1:]:
            if box.overlap(other) > min_overlap:
                problems.append(f"overlapping: {box.text!r} and {other.text!r}")
            elif box.runs_into(other, min_gap):
                problems.append(f"run together: {box.text!r} and {other.text!r}")
    return problems


def encodings(spec: dict) -> list[dict]:
    """Every ``encoding`` block in a (possibly layered, faceted or concatenated) Vega-Lite spec."""
    found = []
    if isinstance(spec, dict):
        if isinstance(spec.get("encoding"), dict):
            found.append(spec["encoding"])
        for value in spec.values():
            found += encodings(value)
    elif isinstance(spec, list):
        for item in spec:
            found += encodings(item)
    return found
