"""The book: the runner (jupytext -> papermill -> jupyter-book) and the small API chapters import.

Chapters import from here only (`from streamlab.book import results_dir, save_table, table`), which loads
nothing of papermill or jupyter-book. The runner is `python -m streamlab.book` (`make book`,
`make chapter`); its parts: `layout` (the TOC's chapters, the mirror tree), `parameters`
(profiles.yaml and overrides), `execute` (one chapter through papermill), `build` (jupyter-book),
`runner` (the command line and the order of a run). `display` is how every table looks on a page:
importing this package inside a kernel makes it the HTML of every DataFrame, as importing
`streamlab.plots` makes the house style the look of every chart.
"""

from .chapter_api import data_links, executed_summary, results_dir, save_table
from .display import show_table, table, use_book_tables
from .run_facts import save_run_facts

use_book_tables()

__all__ = ["data_links", "executed_summary", "results_dir", "save_run_facts", "save_table", "show_table", "table",
           "use_book_tables"]
