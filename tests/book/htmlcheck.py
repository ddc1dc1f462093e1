"""Checks of a built book page as a reader's browser sees it.

A page fails when it shows an error output cell, an image whose file is not
in the build (or is remote: the book must work offline), anything else it would
fetch from the network (a script, stylesheet, font or frame, or a ``url()`` in
its CSS), a figure with nothing drawn in it, a local link to a file that does
not exist, or an uncaught JavaScript error. The checks read the DOM that
headless Chromium produced after running the page's scripts, so they see the
page as displayed, not only the HTML Sphinx wrote; Chromium runs with no
network at all (a network namespace of its own, where the system allows one),
so the screenshots show the page as a reader offline sees it.

Kept separate from the tests so the checker itself is unit-tested on crafted
HTML and on a deliberately broken myst-nb build.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
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
    if soup.select_one("article h1, main h1, h1") is None:
        problems.append(Problem("no-title", "the page has no <h1>"))
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
