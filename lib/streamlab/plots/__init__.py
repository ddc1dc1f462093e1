"""One house style for every chart in the book, rendered offline to static SVG.

Importing this module registers and enables the ``streamlab`` altair theme and
the ``svg`` renderer, so a notebook cell that ends with a chart stores an
``image/svg+xml`` output made by vl-convert in-process: the executed notebook
and the HTML book need no network and no JavaScript to show a figure.

The chart builders here are deliberately few and generic (a line over time, a
bar comparison, a latency-percentile curve); the charts of one chapter live in
a module of their own (`streamlab.plots.cluster_tour` for chapter 00,
`streamlab.plots.application` for chapter 01), so chapters build no chart
inline. Each builder puts the machine the numbers were
measured on into the subtitle, because the measuring rules of the book say
every figure carries its machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import altair as alt
import pandas as pd

# The machine's facts and load are measured in streamlab.measure.machine; re-exported for the chapters,
# which call plots.machine_facts() for the charts' subtitle (a build's run facts: streamlab.book.run_facts).
from ..measure.machine import machine_facts
from ..measure.machine import sample_cpu_load as sample_cpu_load
from .fit import EM_REGULAR, fit_titles

THEME_NAME = "streamlab"

#: DejaVu Sans first: vl-convert lays a chart out with the first of these fonts it finds, and the
#: browser draws it with the first it has. On Debian (and in CI) that is DejaVu for both; with
#: Liberation first, vl-convert and Chromium picked different fonts here (Liberation is not always
#: installed), so labels measured for one were drawn wider in the other and ran into each other or
#: out of the picture. Elsewhere the browser falls back to Arial or Helvetica, which are narrower
#: than DejaVu: what fits in DejaVu fits there too.
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"

#: Okabe-Ito, a palette that stays distinguishable for colour-blind readers.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#CC79A7",  # purple
    "#56B4E9",  # sky
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)

#: Series that appear across chapters keep one colour everywhere, so a reader
#: who learnt "orange is RabbitMQ" in chapter 03 can trust it in chapter 04.
SERIES_COLORS: dict[str, str] = {
    "kafka": PALETTE[0],
    "rabbitmq": PALETTE[1],
    "python": PALETTE[2],
    "java": PALETTE[3],
}

WIDTH = 640
HEIGHT = 300
#: The widest a whole figure (plot, axes, legend) may be: the book's column at a 1280-px window is about
#: 800 px (book/_static), so a figure up to this width is shown at its own size and its text stays legible.
MAX_FIGURE_WIDTH = 760
BAR_WIDTH = 480  # bar charts: category labels take the rest
_INK = "#1f2933"
_INK_SOFT = "#52606d"
_GRID = "#e4e7eb"
_DOMAIN = "#9aa5b1"


def theme() -> alt.theme.ThemeConfig:
    """The house style as a Vega-Lite config (also usable outside altair)."""
    axis = {
        "labelFont": FONT,
        "titleFont": FONT,
        "labelFontSize": 12,
        "titleFontSize": 13,
        "titleFontWeight": "normal",
        "labelColor": _INK_SOFT,
        "titleColor": _INK,
        "domainColor": _DOMAIN,
        "tickColor": _DOMAIN,
        "gridColor": _GRID,
        "titlePadding": 8,
        # Tick labels that would touch are dropped, not drawn edge to edge ("28,00030,000").
        "labelOverlap": True,
        "labelSeparation": 6,
    }
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "padding": 8,
            "view": {"continuousWidth": WIDTH, "continuousHeight": HEIGHT, "stroke": None},
            "title": {
                "font": FONT,
                "fontSize": 16,
                "fontWeight": "bold",
                "color": _INK,
                "anchor": "start",
                "offset": 12,
                "subtitleFont": FONT,
                "subtitleFontSize": 12,
                "subtitleColor": _INK_SOFT,
                "subtitlePadding": 4,
            },
            "axis": axis,
            # Fewer x ticks than Vega's default, and the outer labels kept inside the plot's width.
            "axisX": {"grid": False, "labelAngle": 0, "tickCount": 6, "labelFlush": True},
            "axisY": {"grid": True, "domain": False, "ticks": False},
            "axisBand": {"grid": False},
            "legend": {
                "labelFont": FONT,
                "titleFont": FONT,
                "labelFontSize": 12,
                "titleFontSize": 12,
                "titleFontWeight": "normal",
                "labelColor": _INK,
                "titleColor": _INK_SOFT,
                # Below the plot, entries side by side in rows: a legend beside a 640-px plot made the
                # picture too wide for the column, and one above it ran into the title.
                "orient": "bottom",
                "direction": "horizontal",
                "columns": 4,
                "labelLimit": 260,
                "symbolStrokeWidth": 2.5,
            },
            "header": {"labelFont": FONT, "titleFont": FONT, "labelFontSize": 12},
            "range": {"category": list(PALETTE)},
            "mark": {"color": PALETTE[0]},
            "line": {"strokeWidth": 2},
            "point": {"filled": True, "size": 36},
            "bar": {"cornerRadiusEnd": 2},
            "text": {"font": FONT, "fontSize": 12, "color": _INK},
        }
    }


@cache
def _register_theme() -> None:
    """Register the theme once per process; altair keeps a global registry."""
    alt.theme.register(THEME_NAME, enable=False)(theme)


RENDERER_NAME = "streamlab-svg"


def svg_renderer(spec: dict[str, Any], **metadata: Any) -> dict[str, str]:
    """altair's offline SVG renderer, after the titles were wrapped to their chart's width (`fit`)."""
    from altair.vegalite.v6.display import svg_renderer as altair_svg

    return altair_svg(fit_titles(spec, WIDTH), **metadata)


@cache
def _register_renderer() -> None:
    alt.renderers.register(RENDERER_NAME, svg_renderer)


def use_house_style() -> None:
    """Enable the house theme and the offline SVG renderer.

    Called on import; call it again after something else changed the global
    altair state (another theme, the default HTML renderer).
    """
    _register_theme()
    _register_renderer()
    alt.theme.enable(THEME_NAME)
    alt.renderers.enable(RENDERER_NAME)
    # The SVG renderer stores only the picture, not the data; large frames
    # cost conversion time, not notebook size, so the 5000-row guard only gets
    # in the way of an honest raw-data plot.
    alt.data_transformers.disable_max_rows()


def show(chart: alt.TopLevelMixin) -> None:
    """Display ``chart`` as static SVG, e.g. from inside a loop or a function."""
    from IPython.display import display

    use_house_style()
    display(chart)


# --------------------------------------------------------------------------- machine


def machine_caption() -> str:
    """One short line naming the machine, used as the default chart subtitle."""
    facts = machine_facts()
    return (
        f"measured on {facts['logical cores']} cores, {facts['memory (GiB)']:g} GiB RAM, "
        f"{facts['cpu']}, Python {facts['python']}"
    )


# --------------------------------------------------------------------------- builders


def series_scale(names: Iterable[str]) -> alt.Scale:
    """A colour scale giving known series their fixed colour and others the palette."""
    domain = list(dict.fromkeys(str(name) for name in names))
    spare = iter(c for c in PALETTE if c not in SERIES_COLORS.values())
    colors = [SERIES_COLORS.get(name.lower()) or next(spare, PALETTE[-1]) for name in domain]
    return alt.Scale(domain=domain, range=colors)


def _title(title: str, subtitle: str | None) -> alt.TitleParams | str:
    """Title with the machine as subtitle unless the caller opts out with ``""``."""
    sub = machine_caption() if subtitle is None else subtitle
    return alt.TitleParams(title, subtitle=sub) if sub else title


def _field_type(df: pd.DataFrame, column: str) -> str:
    """Vega-Lite type shorthand for a column: time, number or category."""
    dtype = df[column].dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "T"
    if pd.api.types.is_numeric_dtype(dtype):
        return "Q"
    return "N"


def _color(df: pd.DataFrame, color: str | None, title: str | None = None) -> dict[str, Any]:
    """Encoding kwargs for an optional colour column, with stable series colours."""
    if color is None:
        return {}
    names = df[color].astype(str).unique()
    return {"color": alt.Color(f"{color}:N", scale=series_scale(names), title=title or color)}


def line_over_time(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str | None = None,
    title: str = "",
    *,
    x_title: str | None = None,
    y_title: str | None = None,
    color_title: str | None = None,
    subtitle: str | None = None,
    points: bool = False,
) -> alt.Chart:
    """A value over time (a timestamp or seconds since start), one line per ``color``."""
    chart = alt.Chart(df, title=_title(title, subtitle)).mark_line(point=points)
    return chart.encode(
        x=alt.X(f"{x}:{_field_type(df, x)}", title=x_title or x),
        y=alt.Y(f"{y}:Q", title=y_title or y),
        **_color(df, color, color_title),
    )


def bar_compare(
    df: pd.DataFrame,
    category: str,
    value: str,
    color: str | None = None,
    title: str = "",
    *,
    value_title: str | None = None,
    category_title: str | None = None,
    color_title: str | None = None,
    subtitle: str | None = None,
    sort: Sequence[str] | None = None,
    labels: str | None = ",.0f",
) -> alt.LayerChart:
    """Horizontal bars comparing one value across categories, grouped by ``color``.

    Horizontal, because category names (client, codec, broker setting) are long
    and stay readable that way; each bar carries its value (format ``labels``,
    ``None`` for none) so the figure can be read without the axis. The bars get
    less than the house width so that the category labels fit beside them.
    """
    offset = {"yOffset": alt.YOffset(f"{color}:N")} if color else {}
    # The category labels are drawn whole (Vega cut them at 180 px with "…"); the bars take what is left
    # of the figure's width.
    label_px = category_label_width(df[category])
    base = alt.Chart(df, title=_title(title, subtitle)).encode(
        y=alt.Y(f"{category}:N", title=category_title or category, sort=list(sort) if sort else None,
                axis=alt.Axis(labelLimit=label_px + 40)),
        x=alt.X(f"{value}:Q", title=value_title or value),
        **offset,
    )
    bars = base.mark_bar().encode(**_color(df, color, color_title))
    layers: list[alt.Chart] = [bars]
    if labels:
        layers.append(
            base.mark_text(align="left", dx=4, color=_INK_SOFT).encode(text=alt.Text(f"{value}:Q", format=labels))
        )
    return alt.layer(*layers).properties(width=bar_width(label_px))


def category_label_width(values: Iterable[Any], font_size: float = 12) -> int:
    """Estimated width in px of the longest category label (house font; see `fit`)."""
    longest = max((len(str(v)) for v in values), default=0)
    return math.ceil(longest * font_size * EM_REGULAR)


def bar_width(label_px: int) -> int:
    """The bars' width beside labels ``label_px`` wide: the house bar width, less where the labels are long,
    so the figure stays within MAX_FIGURE_WIDTH (room for the value labels and the axis title kept)."""
    return max(240, min(BAR_WIDTH, MAX_FIGURE_WIDTH - label_px - 110))


#: Percentiles shown on the x axis of latency plots, as the HdrHistogram convention.
PERCENTILE_TICKS: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9, 99.99, 99.999)


def _nines(percentile: float) -> float:
    """Position of a percentile on a "number of nines" axis: 90 → 1, 99 → 2, 99.9 → 3."""
    p = min(float(percentile), 99.9999)
    return -math.log10(1.0 - p / 100.0)


def latency_percentiles(
    df: pd.DataFrame,
    percentile: str = "percentile",
    latency: str = "latency_ms",
    series: str | None = "series",
    title: str = "End-to-end latency by percentile",
    *,
    latency_title: str = "latency (ms)",
    series_title: str | None = None,
    subtitle: str | None = None,
    log_latency: bool = False,
) -> alt.Chart:
    """Latency against percentile on a "nines" axis, so the tail is as wide as the median.

    ``df`` is tidy: one row per (series, percentile) with ``percentile`` in
    0..100 (100 = max, drawn at 99.9999). A linear percentile axis would squash
    p99.9 against the right edge, where the interesting behaviour is.
    """
    data = df.assign(_nines=df[percentile].map(_nines))
    top = max(3.0, math.ceil(float(data["_nines"].max())))
    ticks = [_nines(p) for p in PERCENTILE_TICKS if _nines(p) <= top]
    x = alt.X(
        "_nines:Q",
        title="percentile",
        scale=alt.Scale(domain=[0, top]),
        axis=alt.Axis(values=ticks, labelExpr="format(100 - 100 * pow(10, -datum.value), '.5~') + '%'", grid=True),
    )
    y = alt.Y(f"{latency}:Q", title=latency_title, scale=alt.Scale(type="log") if log_latency else alt.Undefined)
    chart = alt.Chart(data, title=_title(title, subtitle)).mark_line(point=True, interpolate="monotone")
    return chart.encode(x=x, y=y, **_color(data, series, series_title))


def facts_table(facts: Mapping[str, Any], title: str = "value") -> pd.DataFrame:
    """A one-column frame indexed by fact name, for showing facts such as the machine."""
    return pd.DataFrame({title: [str(v) for v in facts.values()]}, index=pd.Index(list(facts)))


use_house_style()
