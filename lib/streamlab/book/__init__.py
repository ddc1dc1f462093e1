"""The book: the runner (jupytext -> papermill -> jupyter-book) and the small API chapters import.

Chapters import from here only (`from streamlab.book import results_dir, save_table`), which loads
nothing of papermill or jupyter-book. The runner is `python -m streamlab.book` (`make book`,
`make chapter`); its parts: `layout` (the TOC's chapters, the mirror tree), `parameters`
(profiles.yaml and overrides), `execute` (one chapter through papermill), `build` (jupyter-book),
`runner` (the command line and the order of a run).
"""

from .chapter_api import data_links, executed_summary, results_dir, save_table

__all__ = ["data_links", "executed_summary", "results_dir", "save_table"]
