"""Profiling the application's services: where their time goes, and why.

* :mod:`.runner` -- runs one service (``python -m streamlab.services.<name>``'s
  command) in its own process under cProfile, or under line_profiler for named
  hot functions, and saves the result files;
* :mod:`.stats` -- reads those files back: top-N tables from pstats, the call
  tree for an icicle picture, the gprof2dot → graphviz call graph, and
  line_profiler's per-line table;
* :mod:`.runs` -- the experiments: each service unthrottled (stage by stage over
  a fresh namespace, ≥ 5 runs) and the whole pipeline at its nominal rate, with
  time per record through each service's loop read from its metrics;
* :mod:`.waiting` -- how much of a profile is blocking calls (sleep, the client's
  poll, flush, commit) rather than work, and the largest wait;
* :mod:`.crossover` -- the processor's two scoring paths per run size, without
  a broker: where vectorising a poll batch starts to pay.
"""

from .crossover import crossover_point, crossover_summary, record_sizes, scoring_crossover
from .runs import (
                   LINE_TARGETS,
                   LOOP_COUNTERS,
                   THROUGHPUT_TARGETS,
                   ProfiledRun,
                   against_targets,
                   kafka_producer_ceiling,
                   loop_summary,
                   loop_times,
                   nominal_profiles,
                   processor_rate,
                   profile_links,
                   retried,
                   scoring_comparison,
                   speedups,
                   staged_runs,
                   target_vs_ceiling,
                   targets_met,
)
from .stats import call_graph_svg, icicle_frame, line_table, load_line_stats, top_functions
from .waiting import blocking_calls, largest_wait, short_name, waiting_pct

__all__ = [
    "LINE_TARGETS", "LOOP_COUNTERS", "THROUGHPUT_TARGETS", "ProfiledRun", "against_targets", "blocking_calls",
    "call_graph_svg", "crossover_point", "crossover_summary", "icicle_frame", "kafka_producer_ceiling",
    "largest_wait", "line_table", "load_line_stats", "loop_summary", "loop_times", "nominal_profiles",
    "processor_rate", "profile_links", "record_sizes", "retried", "scoring_comparison", "scoring_crossover",
    "short_name", "speedups", "staged_runs", "target_vs_ceiling", "targets_met", "top_functions", "waiting_pct",
]
