"""Checks of a built book page as a reader's browser sees it.

A page fails when it shows an error output cell, an image whose file is not
in the build (or is remote: the book must work offline), anything else it would
fetch from the network (a script, stylesheet, font or frame, or a ``url()`` in
its CSS), a figure with nothing drawn in it, a local link to a file that does
not exist, or an uncaught JavaScript error; and (issue 32) when it shows broken
output a reader sees as unfinished: a NaN/None cell or "nan" in the text, "not
measured yet", a table with a header and no rows, a cell cut with "…", a stderr
block or a client library's log line, a table or chart wider than the article
column at 1280 px that does not scroll in a box of its own, or SVG text smaller
than ``MIN_SVG_TEXT_PX`` as displayed. The widths and sizes are measured by a
script run in the page by Chromium (`measure_layout`), not read from the source. The checks read the DOM that
headless Chromium produced after running the page's scripts, so they see the
page as displayed, not only the HTML Sphinx wrote; Chromium runs with no
network at all (a network namespace of its own, where the system allows one),
so the screenshots show the page as a reader offline sees it.

Kept separate from the tests so the checker itself is unit-tested on crafted
HTML and on a deliberately broken myst-nb build.
"""

from __future__ import annotations

import functools
import json
import math
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)

#: What myst-nb 1.x emits for an ``error`` output, and papermill's marker of
#: the cell where execution stopped (a raw-HTML markdown cell).
ERROR_OUTPUT_SELECTORS = (
    ".cell_output .output.traceback",
    ".cell_output .output_error",
    ".output.error",
    "#papermill-error-cell",
)

_DRAWN = {"path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "image", "use"}
_DRAWN_NOT_BACKGROUND = _DRAWN - {"rect", "polygon"}


@dataclass(frozen=True)
class Problem:
    """One reason a page is not fit to publish."""

    # error-output | missing-image | remote-image | remote-resource | empty-figure | missing-link | js-error | no-title
    # | missing-value | not-measured | empty-table | too-many-columns | cut-cell | stderr-output | client-log
    # | too-wide | small-svg-text | data-link-without-table | unresolved-paste | unnumbered-figure
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass(frozen=True)
class LoadedPage:
    """A page as headless Chromium rendered it."""

    dom: str
    console: list[str]


def load_page(page: Path, screenshot: Path | None = None, window: str = "1280,2000", timeout: float = 90) -> LoadedPage:
    """Load ``page`` in headless Chromium: its DOM after scripts ran, its console, optionally a PNG."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [*offline_prefix(), CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--window-size={window}"]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            command.append(f"--screenshot={screenshot}")
        command += ["--dump-dom", page.resolve().as_uri()]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"chromium could not load {page} (exit {proc.returncode}): {proc.stderr[-500:]}")
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return LoadedPage(proc.stdout, console)


@functools.cache
def offline_prefix() -> tuple[str, ...]:
    """The command prefix that runs a program with no network (only a loopback that is down), or ()
    where this system allows no network namespace; the static check of remote resources holds either way."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    for prefix in ((unshare, "--net"), (unshare, "--net", "--map-root-user")):
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return prefix
    return ()


def js_errors(console: list[str]) -> list[Problem]:
    """Uncaught exceptions from the console log Chromium wrote to stderr."""
    return [Problem("js-error", _console_message(line)) for line in console if "Uncaught" in line]


def _console_message(line: str) -> str:
    match = re.search(r'"(.*)", source: (\S+)', line)
    return f"{match.group(1)} ({match.group(2)})" if match else line


def check_dom(dom: str, page: Path, site_root: Path) -> list[Problem]:
    """Every problem of one rendered page; ``page`` is its file inside ``site_root``."""
    soup = BeautifulSoup(dom, "html.parser")
    problems = error_outputs(soup)
    problems += image_problems(soup, page, site_root)
    problems += remote_resources(soup, page, site_root)
    problems += inline_svg_problems(soup)
    problems += link_problems(soup, page, site_root)
    problems += broken_output(soup, appendix=is_appendix(page, site_root))
    problems += unshown_tables(soup)
    if is_chapter(page, site_root):
        problems += unnumbered_figures(soup)
    problems += unresolved_pastes(soup, page, site_root)
    if soup.select_one("article h1, main h1, h1") is None:
        problems.append(Problem("no-title", "the page has no <h1>"))
    return problems


PASTE_ROLE = re.compile(r"\{glue:text\}`[^`]+`")


def unresolved_pastes(soup: BeautifulSoup, page: Path, site_root: Path) -> list[Problem]:
    """Fewer pasted figures on the page than its source pastes: myst-nb drops a ``{glue:text}`` it cannot resolve
    after a warning (a key the chapter never glued, or the answers page's cross-page paste of one), leaving a
    sentence with a hole. The source is Sphinx's copy beside the HTML (``_sources/``)."""
    relative = page.resolve().relative_to(site_root.resolve()).with_suffix("")
    copies = [site_root / "_sources" / relative.with_suffix(suffix) for suffix in (".md", ".ipynb")]
    source = next((path for path in copies if path.is_file()), None)
    if source is None:
        return []
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".ipynb":
        cells = json.loads(text).get("cells", [])
        text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "markdown")
    expected, shown = len(PASTE_ROLE.findall(text)), len(soup.select("span.pasted-text"))
    if shown >= expected:
        return []
    return [Problem("unresolved-paste", f"{expected - shown} of the {expected} figures its source pastes are missing")]


def is_appendix(page: Path, site_root: Path) -> bool:
    """An appendix page: under book/appendix/ (the TOC's appendices), or a page whose name says so."""
    try:
        parts = page.resolve().relative_to(site_root.resolve()).parts
    except ValueError:
        parts = (page.name,)
    return any("appendix" in part.lower() for part in parts)


def is_chapter(page: Path, site_root: Path) -> bool:
    """A chapter page (book/chapters/): its charts are figures numbered per chapter ("Figure 4.2")."""
    try:
        return "chapters" in page.resolve().relative_to(site_root.resolve()).parts
    except ValueError:
        return False


def unnumbered_figures(soup: BeautifulSoup) -> list[Problem]:
    """A chart (an image or SVG a cell drew) that is not a numbered figure: the prose cannot point at it by
    number, only at "the chart above" (issue 32). A cell gets its number from its `mystnb: figure:` metadata,
    which myst-nb gives to every output of the cell, so a chart sits in a cell of its own."""
    problems = []
    for output in _content(soup).select(".cell_output"):
        for chart in output.find_all(["img", "svg"]):
            if chart.find_parent("svg") is not None or chart.find_parent("button") is not None:
                continue   # a part of a drawing, or a button's icon (the copy button scripts add to code blocks)
            figure = chart.find_parent("figure")
            if figure is None or figure.select_one(".caption-number") is None:
                what = chart.get("src") or _short(chart.get_text(" ", strip=True), 60) or chart.name
                problems.append(Problem("unnumbered-figure", f"a chart without a figure number: {what}"))
    return problems


def error_outputs(soup: BeautifulSoup) -> list[Problem]:
    """Error outputs of executed cells, and papermill's 'stopped here' marker."""
    problems = []
    for selector in ERROR_OUTPUT_SELECTORS:
        for node in soup.select(selector):
            text = " ".join(node.get_text(" ", strip=True).split())
            problems.append(Problem("error-output", text[:200] or selector))
    return problems


def image_problems(soup: BeautifulSoup, page: Path, site_root: Path) -> list[Problem]:
    """Images that are remote, missing from the build, or empty figures."""
    problems = []
    for img in soup.find_all("img"):
        src = str(img.get("src", ""))
        if not src:
            problems.append(Problem("missing-image", "an <img> without src"))
        elif src.startswith("data:"):
            if len(src) < 100:
                problems.append(Problem("empty-figure", f"tiny inline image {src[:40]}"))
        elif urlsplit(src).scheme in {"http", "https"} or src.startswith("//"):
            problems.append(Problem("remote-image", src))
        else:
            target = resolve_local(src, page, site_root)
            if target is None or not target.is_file() or target.stat().st_size == 0:
                problems.append(Problem("missing-image", src))
            elif target.suffix.lower() == ".svg":
                reason = svg_emptiness(target.read_text(encoding="utf-8", errors="replace"))
                if reason:
                    problems.append(Problem("empty-figure", f"{src}: {reason}"))
    return problems


#: Elements and the attribute through which a browser fetches something while showing the page
#: (links to follow are not fetched: <a href> is left out, and so are <link rel="canonical"> and the like).
_FETCHED = (("script", "src"), ("iframe", "src"), ("frame", "src"), ("embed", "src"), ("object", "data"),
            ("source", "src"), ("source", "srcset"), ("video", "src"), ("video", "poster"), ("audio", "src"),
            ("track", "src"), ("input", "src"))
_FETCHED_LINK_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon", "shortcut", "manifest",
                      "apple-touch-icon", "mask-icon"}
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


def remote_resources(soup: BeautifulSoup, page: Path, site_root: Path) -> list[Problem]:
    """Everything the page would fetch from the network besides images: scripts, stylesheets, fonts,
    frames, and the ``url()``/``@import`` of its inline CSS and of the local stylesheets it loads."""
    found: list[str] = []
    for tag, attribute in _FETCHED:
        found += [str(node[attribute]) for node in soup.find_all(tag) if node.get(attribute)]
    for node in soup.find_all("link", href=True):
        rels = {str(r).lower() for r in (node.get("rel") or [])}
        if rels & _FETCHED_LINK_RELS:
            href = str(node["href"])
            found.append(href)
            if "stylesheet" in rels and not _is_remote(href):
                target = resolve_local(href, page, site_root)
                if target is not None and target.is_file():
                    found += css_references(target.read_text(encoding="utf-8", errors="replace"))
    for node in soup.find_all("style"):
        found += css_references(node.get_text())
    for node in soup.find_all(style=True):
        found += css_references(str(node["style"]))
    return [Problem("remote-resource", ref) for ref in dict.fromkeys(found) if _is_remote(ref)]


def css_references(css: str) -> list[str]:
    """The URLs a stylesheet fetches (``url(...)``, ``@import``), comments left out (licence headers)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return [m.group(1) or m.group(2) for m in _CSS_URL.finditer(css)]


def _is_remote(reference: str) -> bool:
    return urlsplit(reference.strip()).scheme in {"http", "https", "ws", "wss"} or reference.strip().startswith("//")


def inline_svg_problems(soup: BeautifulSoup) -> list[Problem]:
    """SVG figures embedded directly in cell outputs (not theme icons)."""
    problems = []
    for svg in soup.select(".cell_output svg"):
        if svg.find_parent("svg") is not None:
            continue
        reason = svg_emptiness(str(svg))
        if reason:
            problems.append(Problem("empty-figure", f"inline <svg>: {reason}"))
    return problems


def link_problems(soup: BeautifulSoup, page: Path, site_root: Path) -> list[Problem]:
    """Local links (pages, result files, downloads) whose target is not in the build."""
    problems = []
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"])
        parts = urlsplit(href)
        if parts.scheme or href.startswith(("#", "//")) or not parts.path:
            continue
        target = resolve_local(href, page, site_root)
        if target is None or not target.exists():
            problems.append(Problem("missing-link", href))
    return problems


def resolve_local(reference: str, page: Path, site_root: Path) -> Path | None:
    """The file a relative (or file://) reference on ``page`` points to; None if outside the site."""
    parts = urlsplit(reference)
    if parts.scheme == "file":
        target = Path(unquote(parts.path))
    elif parts.scheme:
        return None
    else:
        target = (page.parent / unquote(parts.path)).resolve()
    try:
        target.resolve().relative_to(site_root.resolve())
    except ValueError:
        return None
    return target


def svg_emptiness(svg_text: str) -> str | None:
    """Why an SVG figure shows nothing (zero size, no marks), or None if it draws something.

    Vega SVGs (altair) put each mark's items in a ``role-mark`` group; a chart
    of no data keeps its axes but leaves those groups empty, so axes alone do
    not count. Other SVGs (graphviz, matplotlib) need one drawn element that
    is not a plain background rectangle or polygon.
    """
    try:
        root = ET.fromstring(svg_text)
    except ET.ParseError as exc:
        return f"not parseable SVG ({exc})"
    width, height = _svg_size(root)
    if not width or not height:
        return f"zero size ({width} x {height})"
    elements = list(root.iter())
    mark_groups = [el for el in elements if "role-mark" in el.get("class", "").split()]
    if mark_groups:
        if not any(_drawn(child) for group in mark_groups for child in group.iter() if child is not group):
            return "no data marks drawn (only axes and frame)"
        return None
    if not any(_tag(el) in _DRAWN_NOT_BACKGROUND and _drawn(el) for el in elements):
        return "nothing drawn"
    return None


def _tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _drawn(element: ET.Element) -> bool:
    tag = _tag(element)
    if tag not in _DRAWN:
        return False
    if tag == "path":
        return bool(element.get("d", "").strip())
    if tag == "text":
        return bool("".join(element.itertext()).strip())
    return True


def _svg_size(root: ET.Element) -> tuple[float, float]:
    """Width and height from the attributes (px/pt), else from the viewBox."""

    def number(value: str | None) -> float | None:
        match = re.match(r"\s*([0-9.]+)", value or "")
        return float(match.group(1)) if match and not (value or "").strip().endswith("%") else None

    width, height = number(root.get("width")), number(root.get("height"))
    if width is None or height is None:
        box = (root.get("viewBox") or "").replace(",", " ").split()
        if len(box) == 4:
            width = width if width is not None else float(box[2])
            height = height if height is not None else float(box[3])
    return width or 0.0, height or 0.0


# --------------------------------------------------------------------------- broken output (issue 32)

#: How pandas and Python spell a missing value; a cell showing one of these was never meant for a reader.
MISSING_CELL = re.compile(r"^(?:nan|NaN|None|NaT|<NA>|null|-?inf)$")
#: "nan" inside a sentence ("fenced … nan s later", "(nan %)").
NAN_IN_TEXT = re.compile(r"(?<![\w.-])(?:nan|NaN)(?![\w-])")
NOT_MEASURED = re.compile(r"not measured yet", re.IGNORECASE)
#: Log lines of the client libraries: librdkafka through Python logging ("SESSTMOUT [x#consumer-17] [thrd:main]")
#: or its own stderr format ("%4|1701...|GETPID|rdkafka#consumer-1|"), log4j's "[2024-01-01 12:00:00,123] WARN",
#: and Python logging's default "WARNING:pika...".
CLIENT_LOG = re.compile(
    r"\[thrd:|%\d\|\d+\.\d+\|[A-Z_]+\||#(?:consumer|producer|admin)-\d+\]"
    r"|^\s*\[\d{4}-\d\d-\d\d[ T][\d:,.]+\]\s+(?:TRACE|DEBUG|INFO|WARN|ERROR)\b"
    r"|^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):(?:pika|aio_pika|aiormq|kafka|confluent_kafka|paho)\b",
    re.MULTILINE,
)
#: The most columns a table in the main text may have (issue 32): a wider one is pivoted, split, or moved to
#: an appendix page (a page whose name says "appendix").
MAX_COLUMNS = 8

#: Smallest text an SVG figure may show, in CSS px as displayed (the body text is 16 px; chart labels 12).
MIN_SVG_TEXT_PX = 8.0


def _content(soup: BeautifulSoup) -> Any:
    """The page's article (the theme's navigation and sidebars left out)."""
    return soup.select_one("article.bd-article") or soup.select_one("main") or soup.body or soup


def _prose_and_outputs(soup: BeautifulSoup) -> BeautifulSoup:
    """A copy of the article without code a reader reads as code (cell inputs, literals, code blocks)."""
    copy = BeautifulSoup(str(_content(soup)), "html.parser")
    for node in copy.select(".cell_input, script, style, code, div.highlight"):
        if node.find_parent(class_="cell_output") is None:
            node.decompose()
    return copy


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def broken_output(soup: BeautifulSoup, appendix: bool = False) -> list[Problem]:
    """Everything of issue 32's broken-output list that the DOM alone shows; ``appendix`` allows wide tables."""
    problems: list[Problem] = []
    article = _prose_and_outputs(soup)
    for table in article.find_all("table"):
        caption = table.find("caption")
        name = _short(caption.get_text(" ", strip=True), 60) if caption else _short(table.get_text(" ", strip=True), 60)
        if not [td for td in table.find_all("td") if td.find_parent("thead") is None]:
            problems.append(Problem("empty-table", f"a table with a header and no rows: {name}"))
        columns = max((sum(int(c.get("colspan", 1) or 1) for c in row.find_all(["td", "th"]))
                       for row in table.find_all("tr")), default=0)
        if columns > MAX_COLUMNS and not appendix:
            problems.append(Problem("too-many-columns", f"{columns} columns (at most {MAX_COLUMNS}): {name}"))
        for cell in table.find_all(["td", "th"]):
            text = cell.get_text(" ", strip=True)
            if MISSING_CELL.match(text):
                problems.append(Problem("missing-value", f"a cell shows {text!r} in table {name}"))
            elif len(text) > 1 and text.endswith(("…", "...")):
                problems.append(Problem("cut-cell", f"{_short(text, 80)!r} in table {name}"))
    for block in article.select(".cell_output .output.stderr, .cell_output .stderr"):
        problems.append(Problem("stderr-output", _short(block.get_text(" ", strip=True)) or "an empty stderr block"))
    for output in article.select(".cell_output"):
        for line in output.get_text("\n").splitlines():
            if CLIENT_LOG.search(line):
                problems.append(Problem("client-log", _short(line)))
    for node in article.find_all(string=True):
        text = str(node)
        if NOT_MEASURED.search(text):
            problems.append(Problem("not-measured", _short(text)))
        if NAN_IN_TEXT.search(text) and not MISSING_CELL.match(text.strip()):
            problems.append(Problem("missing-value", f"'nan' in the text: {_short(text)}"))
    return problems


#: Prose that points at a table on the page ("the first table", "the table below", "tables").
TABLE_WORD = re.compile(r"\btables?\b", re.IGNORECASE)


def unshown_tables(soup: BeautifulSoup) -> list[Problem]:
    """A section whose outputs link result files ("Data: x.csv") and whose prose speaks of a table, but which
    shows no table: the reader is promised a table and given a download (issue 32, chapter 01's five links).

    Sections are taken one by one without their subsections, so a table further down does not count.
    """
    problems = []
    article = _prose_and_outputs(soup)
    for section in article.find_all("section"):
        own = BeautifulSoup(str(section), "html.parser").find("section")
        for nested in own.find_all("section"):
            nested.decompose()
        links = [a for output in own.select(".cell_output") for a in output.find_all("a")
                 if str(a.get("href", "")).split("#")[0].endswith((".csv", ".parquet", ".json"))]
        prose = " ".join(p.get_text(" ", strip=True) for p in own.find_all("p")
                         if p.find_parent(class_="cell_output") is None)
        if links and TABLE_WORD.search(prose) and own.find("table") is None:
            heading = own.find(["h1", "h2", "h3", "h4"])
            title = _short(heading.get_text(" ", strip=True), 60) if heading else "a section"
            problems.append(Problem("data-link-without-table",
                                    f"{title}: its prose speaks of a table, the page links "
                                    f"{', '.join(a.get_text(strip=True) for a in links[:3])} and shows none"))
    return problems


#: Run in the page by Chromium after it loaded: the article's content width, every table, image and figure
#: that reaches past it without a scrolling box of its own between them, each image's shown and natural
#: width, and the smallest text of each inline SVG as displayed. Written into the DOM as JSON, which
#: --dump-dom returns.
_MEASURE_JS = r"""
(function () {
  function run() {
    var article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
    var style = getComputedStyle(article), box = article.getBoundingClientRect();
    var left = box.left + parseFloat(style.paddingLeft || 0), right = box.right - parseFloat(style.paddingRight || 0);
    var out = {column: Math.round(right - left), wide: [], images: [], svg_text: []};
    function scrolls(el) {
      for (var node = el.parentElement; node && node !== article; node = node.parentElement) {
        var ox = getComputedStyle(node).overflowX;
        if ((ox === 'auto' || ox === 'scroll') && node.getBoundingClientRect().right <= right + 1) { return true; }
      }
      var own = getComputedStyle(el).overflowX;
      return (own === 'auto' || own === 'scroll') && el.getBoundingClientRect().right <= right + 1;
    }
    function name(el) {
      var tag = el.tagName.toLowerCase();
      if (tag === 'img') { return 'image ' + el.getAttribute('src'); }
      var caption = el.querySelector('caption, title');
      var text = (caption ? caption.textContent : el.textContent).replace(/\s+/g, ' ').trim();
      return tag + ' "' + text.slice(0, 60) + '"';
    }
    var figures = article.querySelectorAll('table, img, svg');
    for (var i = 0; i < figures.length; i++) {
      var el = figures[i];
      var icon = el.parentElement.closest('svg') || !el.closest('.cell_output, figure');
      if (el.tagName.toLowerCase() === 'svg' && icon) { continue; }
      var r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > right + 1 && !scrolls(el)) {
        out.wide.push({what: name(el), width: Math.round(r.width), room: Math.round(right - r.left)});
      }
      if (el.tagName.toLowerCase() === 'img') {
        out.images.push({src: el.getAttribute('src'), shown: r.width, natural: el.naturalWidth});
      }
      if (el.tagName.toLowerCase() === 'svg') {
        var texts = el.querySelectorAll('text'), smallest = null;
        for (var j = 0; j < texts.length; j++) {
          if (!texts[j].textContent.trim()) { continue; }
          var m = texts[j].getScreenCTM(), scale = m ? Math.sqrt(m.a * m.a + m.b * m.b) : 1;
          var px = parseFloat(getComputedStyle(texts[j]).fontSize) * scale;
          if (smallest === null || px < smallest) { smallest = px; }
        }
        if (smallest !== null) { out.svg_text.push({what: name(el), px: smallest}); }
      }
    }
    var pre = document.createElement('pre');
    pre.id = 'streamlab-layout';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (document.readyState === 'complete') { run(); } else { window.addEventListener('load', run); }
})();
"""


@dataclass(frozen=True)
class Layout:
    """What the measuring script saw of one page at one window size."""

    column: float
    wide: list[dict[str, Any]]
    images: list[dict[str, Any]]
    svg_text: list[dict[str, Any]]


def measure_layout(page: Path, window: str = "1280,2000", timeout: float = 90) -> Layout:
    """Load ``page`` in headless Chromium at ``window`` with the measuring script added, and read its result.

    The script goes into a copy of the page beside it (so every relative link still resolves), removed after.
    """
    html = page.read_text(encoding="utf-8")
    tag = f"<script>{_MEASURE_JS}</script>"
    html = html.replace("</body>", tag + "</body>", 1) if "</body>" in html else html + tag
    probe = page.with_name(f".measure-{page.name}")
    probe.write_text(html, encoding="utf-8")
    node = None
    try:
        for _attempt in range(2):  # a loaded machine may dump the DOM before the load event; once more then
            with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
                command = [*offline_prefix(), CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           f"--window-size={window}", "--virtual-time-budget=5000", "--dump-dom",
                           probe.resolve().as_uri()]
                proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
            node = BeautifulSoup(proc.stdout, "html.parser").find(id="streamlab-layout")
            if node is not None:
                break
    finally:
        probe.unlink(missing_ok=True)
    if node is None:
        raise RuntimeError(f"the layout of {page} could not be measured (exit {proc.returncode}): {proc.stderr[-500:]}")
    data = json.loads(node.get_text())
    return Layout(float(data["column"]), data["wide"], data["images"], data["svg_text"])


def layout_problems(layout: Layout, page: Path, site_root: Path, min_px: float = MIN_SVG_TEXT_PX) -> list[Problem]:
    """Figures and tables wider than the column, and SVG text (inline or in an SVG image) below ``min_px``."""
    problems = [Problem("too-wide", f"{w['what']}: {w['width']} px in a column with {w['room']} px left")
                for w in layout.wide]
    for image in layout.images:
        src = str(image.get("src") or "")
        target = resolve_local(src, page, site_root) if src else None
        if target is None or target.suffix.lower() != ".svg" or not target.is_file() or not image.get("shown"):
            continue
        smallest = svg_smallest_text(target.read_text(encoding="utf-8", errors="replace"), float(image["shown"]))
        if smallest is not None and smallest < min_px:
            problems.append(Problem("small-svg-text", f"{src}: text {smallest:.1f} px as shown (minimum {min_px:g})"))
    for inline in layout.svg_text:
        if float(inline["px"]) < min_px:
            problems.append(Problem("small-svg-text", f"{inline['what']}: text {float(inline['px']):.1f} px as shown"))
    return problems


_FONT_SIZE = re.compile(r"font-size\s*:\s*([0-9.]+)(px|pt)?")
_FONT_SHORTHAND = re.compile(r"(?:^|;)\s*font\s*:[^;]*?([0-9.]+)(px|pt)")
_SCALE = re.compile(r"scale\(\s*([-0-9.e]+)(?:[\s,]+([-0-9.e]+))?\s*\)")
_MATRIX = re.compile(r"matrix\(\s*([-0-9.e]+)[\s,]+([-0-9.e]+)")


def svg_smallest_text(svg_text: str, shown_width: float) -> float | None:
    """The smallest font size of the SVG's text in CSS px when the SVG is drawn ``shown_width`` px wide.

    Font sizes come from ``font-size`` attributes or styles (inherited from groups), times the ``scale()``
    of the enclosing groups, times the ratio of the shown width to the SVG's own width (its viewBox, else
    its width attribute): graphviz's call graphs are scaled this way, not by their font size.
    """
    try:
        root = ET.fromstring(svg_text)
    except ET.ParseError:
        return None
    box = (root.get("viewBox") or "").replace(",", " ").split()
    own = float(box[2]) if len(box) == 4 else _svg_size(root)[0]
    if not own:
        return None
    ratio = shown_width / own
    sizes: list[float] = []

    def walk(element: ET.Element, size: float, scale: float) -> None:
        size = _font_size(element) or size
        scale *= _transform_scale(element.get("transform") or "")
        if _tag(element) == "text" and "".join(element.itertext()).strip():
            sizes.append(size * scale * ratio)
        for child in element:
            walk(child, size, scale)

    walk(root, 16.0, 1.0)
    return min(sizes) if sizes else None


def _font_size(element: ET.Element) -> float | None:
    def px(value: str, unit: str | None) -> float:
        return float(value) * (4 / 3 if unit == "pt" else 1)

    attribute = element.get("font-size")
    if attribute:
        match = re.match(r"\s*([0-9.]+)\s*(px|pt)?", attribute)
        if match:
            return px(match.group(1), match.group(2))
    style = element.get("style") or ""
    match = _FONT_SIZE.search(style) or _FONT_SHORTHAND.search(style)
    return px(match.group(1), match.group(2)) if match else None


def _transform_scale(transform: str) -> float:
    scale = 1.0
    for match in _SCALE.finditer(transform):
        scale *= abs(float(match.group(1)))
    for match in _MATRIX.finditer(transform):
        scale *= math.hypot(float(match.group(1)), float(match.group(2)))
    return scale
