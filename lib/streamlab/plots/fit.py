"""Titles that fit their chart: every title and subtitle of a Vega-Lite spec wrapped to the chart's width.

Why here and not in each builder: the book's charts set their titles in some hundred places (the
house ``_title`` helper, ``alt.TitleParams`` with the machine caption, concatenated panels), and
Vega draws a title on one line however long it is: the subtitle naming the machine ran past the
right edge of the picture, and a title wider than a narrow facet was cut short with "…". The
house SVG renderer passes every spec through :func:`fit_titles` before vl-convert draws it, so a
title fits wherever it was set.

Widths are estimated from the characters, with per-font-size factors measured for DejaVu Sans, the
widest of the fonts the house style names and the one Debian's Chromium draws with: a title that
fits in DejaVu fits in Liberation Sans or Arial.
"""

from __future__ import annotations

import textwrap
from typing import Any

#: Average advance of a character, in ems, for the house fonts (DejaVu Sans, measured in Chromium
#: on the book's titles and subtitles, rounded up).
EM_REGULAR = 0.56
EM_BOLD = 0.64
TITLE_SIZE = 16
SUBTITLE_SIZE = 12
#: Narrowest width a title is wrapped to: a very narrow panel still gets a readable line.
MIN_WIDTH = 280

_COMPOSED = ("hconcat", "vconcat", "concat", "layer")


def chars_per_line(width: float, font_size: float, bold: bool = False) -> int:
    """How many characters of the house font fit on a line ``width`` px wide."""
    return max(12, int(width / (font_size * (EM_BOLD if bold else EM_REGULAR))))


def wrap(text: str | list[str], width: float, font_size: float, bold: bool = False) -> str | list[str]:
    """``text`` as the lines that fit ``width`` (a list when more than one), keeping given line breaks."""
    lines = text if isinstance(text, list) else str(text).split("\n")
    limit = chars_per_line(width, font_size, bold)
    out = [part for line in lines for part in (textwrap.wrap(line, limit, break_on_hyphens=False) or [""])]
    return out[0] if len(out) == 1 else out


def spec_width(spec: dict[str, Any], default: float) -> float:
    """The drawing width of a (sub)spec in px, from its own ``width`` or its parts'; ``default`` where unset.

    A facet's or a repeat's panels count once: their number is in the data, and one panel's width
    is the narrow case a title must fit anyway.
    """
    own = spec.get("width")
    if isinstance(own, int | float):
        return float(own)
    if "hconcat" in spec:
        return sum(spec_width(part, default) for part in spec["hconcat"])
    for key in ("vconcat", "concat", "layer"):
        if key in spec:
            return max((spec_width(part, default) for part in spec[key]), default=default)
    if isinstance(spec.get("spec"), dict):  # facet, repeat
        return spec_width(spec["spec"], default)
    return default


def fit_title(title: Any, width: float) -> Any:
    """One Vega-Lite ``title`` (a string, lines, or TitleParams as a dict) with text and subtitle wrapped."""
    width = max(width, MIN_WIDTH)
    if isinstance(title, str | list):
        return wrap(title, width, TITLE_SIZE, bold=True)
    if isinstance(title, dict):
        fitted = dict(title)
        if "text" in fitted and isinstance(fitted["text"], str | list):
            fitted["text"] = wrap(fitted["text"], width, fitted.get("fontSize", TITLE_SIZE), bold=True)
        if isinstance(fitted.get("subtitle"), str | list):
            fitted["subtitle"] = wrap(fitted["subtitle"], width, fitted.get("subtitleFontSize", SUBTITLE_SIZE))
        return fitted
    return title


def fit_titles(spec: dict[str, Any], default_width: float) -> dict[str, Any]:
    """A copy of ``spec`` whose titles (top level and every part's) are wrapped to their chart's width."""
    fitted = dict(spec)
    width = spec_width(spec, default_width)
    if "title" in fitted:
        fitted["title"] = fit_title(fitted["title"], width)
    for key in _COMPOSED:
        if isinstance(fitted.get(key), list):
            fitted[key] = [fit_titles(part, default_width) if isinstance(part, dict) else part
                           for part in fitted[key]]  # fmt: skip
    if isinstance(fitted.get("spec"), dict):
        fitted["spec"] = fit_titles(fitted["spec"], default_width)
    return fitted
