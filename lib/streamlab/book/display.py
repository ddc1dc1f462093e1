"""Every table of the book, shown one way.

Chapters show result tables by ending a cell with a DataFrame, by ``display(frame)`` or by gluing one;
pandas' own HTML then printed ``NaN``/``None`` cells, an index column 0…n, snake_case headers and long
text cut with "…". Importing ``streamlab.book`` in a kernel registers :func:`table_html` as the HTML of
every DataFrame (and pandas Styler), so no table can come back in the old form, whichever way a
chapter shows it; :func:`table` adds what a plain frame cannot say: a caption, units, the reason a
value is missing or a table is empty.

The rules, once: numbers with thousands separators and a column-wide number of decimals; units in the
headers (``latency_ms`` reads "latency (ms)", ``records_per_s`` reads "records/s"); a missing value is
"–" and the caption says why; long text wraps (the CSS gives it a column width), never cut; no
positional index (a meaningful index, set with ``set_index``, becomes the first, sticky column); a
table with no rows is one sentence saying so, not a header without a body.
"""

from __future__ import annotations

import html
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

#: What a missing value shows as; the caption says why it is missing.
MISSING = "–"

#: The reason a missing value is given when a chapter names none.
MISSING_REASON = "– marks a value this run did not produce or that does not apply to the row"

#: The sentence a table with no rows becomes when a chapter gives no reason.
EMPTY_REASON = "the run produced no rows for this table"

#: A cell of text longer than this wraps in a column of its own width (CSS class ``sl-wrap``); one longer
#: than PROSE_TEXT is a sentence or more and gets a wider column (``sl-prose``), so it does not become a
#: tower of two-word lines.
LONG_TEXT = 24
PROSE_TEXT = 120

_UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_mb_per_s", " (MB/s)"),
    ("_mib_per_s", " (MiB/s)"),
    ("_per_s", "/s"),
    ("_ms", " (ms)"),
    ("_us", " (µs)"),
    ("_ns", " (ns)"),
    ("_s", " (s)"),
    ("_pct", " (%)"),
    ("_percent", " (%)"),
    ("_bytes", " (bytes)"),
    ("_kb", " (kB)"),
    ("_mb", " (MB)"),
    ("_gb", " (GB)"),
    ("_mib", " (MiB)"),
    ("_gib", " (GiB)"),
    ("_hz", " (Hz)"),
)
_WORDS = {"mb": "MB", "mib": "MiB", "gib": "GiB", "kb": "kB", "cpu": "CPU", "rss": "RSS", "e2e": "e2e",
          "id": "id", "eos": "EOS", "tcp": "TCP", "fp": "FP", "tp": "TP"}


def header(name: Any, unit: str | None = None) -> str:
    """A column's header as a reader reads it: units spelled out, snake_case as words.

    ``unit`` wins over a unit suffix of the name. A name already written for readers (with a space,
    a dot or capitals, e.g. ``"p99 (ms)"`` or ``"min.insync.replicas"``) is kept as it is.
    """
    if isinstance(name, tuple):
        return " · ".join(header(part) for part in name if str(part) != "")
    text = str(name)
    if unit is not None:
        return f"{text.replace('_', ' ')} ({unit})"
    if " " in text or "." in text or "_" not in text or text != text.lower():
        return text
    suffix = ""
    for ending, shown in _UNIT_SUFFIXES:
        if text.endswith(ending) and len(text) > len(ending):
            text, suffix = text[: -len(ending)], shown
            break
    words = " ".join(_WORDS.get(word, word) for word in text.split("_") if word)
    if suffix == " (MB/s)" and words == "":
        return "MB/s"
    return words + suffix


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas' NA (not for empty strings or lists)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | numbers.Real) and not isinstance(value, bool | numbers.Integral):
        return math.isnan(float(value))
    return False


def decimals_for(values: pd.Series) -> int:
    """How many decimals a column of floats gets: fewer the larger its typical value (one choice per column)."""
    finite = [abs(float(v)) for v in values if not is_missing(v) and math.isfinite(float(v)) and float(v) != 0]
    if not finite:
        return 0
    if all(float(v).is_integer() for v in finite):
        return 0
    typical = sorted(finite)[(len(finite) - 1) // 2]
    if typical >= 100:
        return 0
    if typical >= 10:
        return 1
    if typical >= 1:
        return 2
    return max(2, min(6, 1 - math.floor(math.log10(typical))))  # two significant digits


#: Words of a column name that make its whole numbers identifiers, written without separators
#: (port 6022, pid 16223, offset 1042, not "6,022").
_ID_WORDS = frozenset({"port", "pid", "id", "offset", "offsets", "partition", "node", "epoch", "broker", "seq",
                       "year", "voter", "leader", "replica", "replicas", "run", "round"})


def is_identifier(column: Any) -> bool:
    """True when a column's whole numbers name things rather than count them (see ``_ID_WORDS``)."""
    words = re.split(r"[^a-z0-9]+", str(column).lower())
    return any(word in _ID_WORDS for word in words)


def format_value(value: Any, decimals: int = 2, spec: str | None = None, separators: bool = True) -> str:
    """One cell as text: "–" when missing, yes/no, integers with separators (unless ``separators`` is off,
    for identifiers), floats to ``decimals``."""
    if is_missing(value):
        return MISSING
    if spec is not None:
        return format(value, spec)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if separators else str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isinf(number):
            return "∞" if number > 0 else "−∞"
        return f"{number:,.{decimals}f}"
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | timedelta):
        return f"{pd.Timedelta(value).total_seconds():,.{decimals}f} s"
    return str(value)


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its index as columns (a positional 0…n index dropped) and its columns flat."""
    shown = frame.copy()
    index = shown.index
    positional = (isinstance(index, pd.RangeIndex) and index.name is None) or (
        index.nlevels == 1 and index.name is None and pd.api.types.is_integer_dtype(index.dtype)
        and list(index) == list(range(len(index))))
    if positional:
        shown = shown.reset_index(drop=True)
    else:
        if index.nlevels == 1 and index.name is None and not pd.api.types.is_numeric_dtype(index.dtype):
            # an unnamed index of labels, as a transposed table has (its former column names): read as headers
            shown.index = pd.Index([header(label) if isinstance(label, str) else label for label in index])
            index = shown.index
        names = [name if name is not None else "" for name in index.names]
        if len(names) == 1 and names[0] == "" and "" in shown.columns:
            names = [" "]
        shown.index = index.set_names(names)
        shown = shown.reset_index()
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = [header(col) for col in shown.columns]
    return shown


@dataclass(frozen=True)
class Table:
    """A DataFrame as the book shows it. Built by :func:`table`; displays as HTML in a notebook."""

    frame: pd.DataFrame
    caption: str = ""
    missing: str = MISSING_REASON
    empty: str = EMPTY_REASON
    units: Mapping[str, str] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)
    data_link: str = ""

    def _repr_html_(self) -> str:
        return table_html(self.frame, self.caption, missing=self.missing, empty=self.empty, units=self.units,
                          formats=self.formats, data_link=self.data_link)

    def __repr__(self) -> str:
        return f"Table({self.caption!r}, {len(self.frame)} rows)"


def table(frame: pd.DataFrame, caption: str = "", *, missing: str = MISSING_REASON, empty: str = EMPTY_REASON,
          units: Mapping[str, str] | None = None, formats: Mapping[str, str] | None = None,
          data: Any = None) -> Table:
    """A result table for a page: ``caption`` says what it shows; ``missing`` why a "–" cell has no value;
    ``empty`` why there are no rows (then the table is that one sentence); ``units`` names a column's unit
    where its name does not; ``formats`` a column's format spec (``",.0f"``) where the default is wrong;
    ``data`` a path of the saved CSV, linked from the caption."""
    link = ""
    if data is not None:
        from pathlib import Path

        from .chapter_api import _link

        link = _link(Path(data))
    return Table(frame, caption, missing, empty, dict(units or {}), dict(formats or {}), link)


def show_table(frame: pd.DataFrame, folder: Any, name: str, caption: str = "", **options: Any) -> Table:
    """Save ``frame`` as the CSV ``name`` in ``folder`` and show it, the file linked from its caption.

    For a table the prose talks about: `save_table` alone puts only a "Data:" link on the page, and a
    chapter once referred to "the first table" of a section that showed five links and no table.
    The CSV holds what the page shows (a meaningful index as its first columns).
    """
    from pathlib import Path

    path = Path(folder) / name
    tidy(frame).to_csv(path, index=False)
    return table(frame, caption, data=path, **options)


_MD_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def _inline(text: str) -> str:
    """Caption text as HTML: escaped, with Markdown links and `code` kept."""
    escaped = html.escape(text, quote=False)
    escaped = _MD_LINK.sub(lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def table_html(frame: pd.DataFrame, caption: str = "", *, missing: str = MISSING_REASON,
               empty: str = EMPTY_REASON, units: Mapping[str, str] | None = None,
               formats: Mapping[str, str] | None = None, data_link: str = "") -> str:
    """The HTML of one table: a horizontally scrolling wrapper, a caption, a header row, the cells."""
    units, formats = dict(units or {}), dict(formats or {})
    shown = tidy(frame)
    link = f" Data: {_inline(data_link)}." if data_link else ""
    if shown.empty:
        said = f"{caption.rstrip('. ')}: {empty}" if caption else empty[:1].upper() + empty[1:]
        return f'<p class="sl-table-empty">{_inline(said.rstrip("."))}.{link}</p>'
    head, columns = [], []
    for column in shown.columns:
        values = shown[column]
        numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
        if not numeric and values.dtype == object:
            present = [v for v in values if not is_missing(v)]
            numeric = bool(present) and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in present)
        decimals = decimals_for(values) if numeric else 0
        separators = not is_identifier(column)
        # a column of mixed kinds (a transposed table: one row per measure) gets each number's own precision
        texts = [format_value(v, decimals if numeric else _own_decimals(v), formats.get(str(column)), separators)
                 for v in values]
        longest = 0 if numeric else max((len(t) for t in texts), default=0)
        size = "sl-wrap sl-prose" if longest > PROSE_TEXT else "sl-wrap" if longest > LONG_TEXT else ""
        classes = " ".join(c for c in ("sl-num" if numeric else "", size) if c)
        columns.append((texts, classes))
        name = header(column, units.get(str(column)))
        head.append(f'<th scope="col"{_class(classes)}>{html.escape(name)}</th>')
    rows = []
    for i in range(len(shown)):
        cells = "".join(f"<td{_class(classes)}>{html.escape(texts[i])}</td>" for texts, classes in columns)
        rows.append(f"<tr>{cells}</tr>")
    has_missing = any(MISSING in texts for texts, _ in columns)
    notes = [_inline(caption)] if caption else []
    if has_missing and missing:
        notes.append(_inline(missing[:1].upper() + missing[1:] if not caption else missing))
    caption_html = " ".join(n if n.endswith((".", ":", ")")) else n + "." for n in notes) + link
    caption_tag = f"<caption>{caption_html.strip()}</caption>" if caption_html.strip() else ""
    return (f'<div class="sl-table-wrap"><table class="sl-table dataframe">{caption_tag}'
            f'<thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _own_decimals(value: Any) -> int:
    """The decimals of a lone number (a cell in a column of mixed kinds)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        return decimals_for(pd.Series([value]))
    return 0


def _class(classes: str) -> str:
    return f' class="{classes}"' if classes else ""


def _styler_html(styler: Any) -> str:
    """A pandas Styler shown as a book table: its data and caption, the book's formats."""
    return table_html(styler.data, str(styler.caption or ""))


def use_book_tables() -> bool:
    """Make :func:`table_html` the HTML of every DataFrame, Series and Styler the running kernel displays.

    Called when ``streamlab.book`` is imported; outside IPython (the runner, tests) it does nothing and
    returns False.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book extra
        return False
    shell = get_ipython()
    if shell is None:
        return False
    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type(pd.DataFrame, lambda frame: table_html(frame))
    # a Series otherwise prints as text with its "dtype: float64" line
    formatter.for_type(pd.Series, lambda series: table_html(series.to_frame(series.name or "value")))
    formatter.for_type_by_name("pandas.io.formats.style", "Styler", _styler_html)
    return True
