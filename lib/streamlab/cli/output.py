"""What every command prints with: one console each for output and errors, and tables that fit the width.

A table wider than the console is not squeezed (rich would cut every cell to `app…`): its columns are
split into panels that each fit, the first `keys` columns repeated in every panel so each row stays
identifiable — what pandas does with a wide frame. Prose columns (descriptions) may wrap instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

GAP = 2            # cells are separated by two spaces in the light box below
PROSE_WIDTH = 24   # a prose column gets at least this much, then wraps


@dataclass(frozen=True)
class Column:
    name: str
    justify: str = "left"
    prose: bool = False      # may wrap; every other column keeps its values whole


def _cell_width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.splitlines()), default=0)


def panels(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, keys: int = 1) -> list[list[int]]:
    """Column indexes per panel: as many columns as fit `width` after the `keys` columns, in order.

    A prose column joins a panel when at least PROSE_WIDTH is left for it: rich wraps it into the rest."""
    natural = [max([len(c.name), *(_cell_width(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    natural = [min(w, max(PROSE_WIDTH, width - sum(natural[:keys]) - GAP * (keys + 1))) if c.prose else w
               for w, c in zip(natural, columns)]
    key_width = sum(natural[:keys]) + GAP * keys
    result: list[list[int]] = []
    current, used = list(range(keys)), key_width
    for i in range(keys, len(columns)):
        fits = used + natural[i] + GAP <= width or (columns[i].prose and used + PROSE_WIDTH + GAP <= width)
        if len(current) > keys and not fits:
            result.append(current)
            current, used = list(range(keys)), key_width
        current.append(i)
        used += natural[i] + GAP
    result.append(current)
    return result


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str = "",
                caption: str = "", keys: int = 1, out: Console | None = None) -> None:
    """Print rows under `columns`, split into panels when the console is too narrow for one table."""
    out = out or console
    parts = panels(columns, rows, out.width, keys)
    for n, part in enumerate(parts):
        table = Table(title=(title + (f" ({n + 1}/{len(parts)})" if len(parts) > 1 else "")) or None,
                      caption=caption or None if n == len(parts) - 1 else None, box=box.SIMPLE_HEAD,
                      pad_edge=False, collapse_padding=True, title_justify="left", caption_justify="left")
        for i in part:
            column = columns[i]
            table.add_column(column.name, justify=column.justify, no_wrap=not column.prose,
                             overflow="fold")
        for row in rows:
            table.add_row(*[row[i] for i in part])
        out.print(table)


def print_frame(frame, title: str) -> None:
    numeric = {str(c) for c, kind in frame.dtypes.items() if kind.kind in "iuf"}
    columns = [Column(str(c), "right" if str(c) in numeric else "left") for c in frame.columns]
    rows = [["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in row]
            for row in frame.itertuples(index=False)]
    print_table(columns, rows, title)
