"""The application's component diagram, generated from the code so it cannot drift from it.

Two sources of truth feed the picture:

* the topics and their settings come from :data:`streamlab.pipeline.topics.ALL_TOPICS`;
* the services, their groups and what each reads, writes and leaves on disk
  come from :data:`streamlab.pipeline.wiring.SERVICES`, the one place the
  application's wiring is written.

``component_graph()`` returns a :class:`graphviz.Digraph` (the ``graphviz``
package of the book extras, rendered by Debian's ``dot``); a notebook cell
that ends with it shows an inline SVG.
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..domain import MESSAGE_TYPES
from ..transport.spec import TopicSpec
from .topics import ALL_TOPICS, DEAD_LETTER
from .wiring import consumers_of, producers_of, services

if TYPE_CHECKING:  # graphviz is a book extra; importing this module must not need it
    import graphviz

FONT = "Liberation Sans"
_INK = "#1f2933"
_SOFT = "#52606d"
_KAFKA = "#0072B2"       # the house colour of Kafka (plots.SERIES_COLORS)
_DEAD = "#D55E00"        # vermillion: the error path
_FILES = "#009E73"


# --------------------------------------------------------------------------- settings in words


def retention_text(spec: TopicSpec) -> str:
    """``1 d``, ``7 d``, ``compacted``: how long a topic keeps its records."""
    if "compact" in spec.config.get("cleanup.policy", "delete"):
        return "compacted (latest per key)"
    ms = spec.config.get("retention.ms")
    if ms is None:
        return "broker default"
    ms_int = int(ms)
    if ms_int < 0:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms_int >= size and ms_int % size == 0:
            return f"{ms_int // size} {unit}"
    return f"{ms_int} ms"


def topic_table(topics: Sequence[TopicSpec] = ALL_TOPICS) -> Any:
    """The declared topics with their settings, one row per topic (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for spec in topics:
        message = MESSAGE_TYPES.get(spec.message_type)
        rows.append({
            "topic": spec.name,
            "message": message.__name__ if message else "original bytes + error headers",
            "partitions": spec.partitions,
            "replication": spec.replication,
            "min.insync.replicas": int(spec.config.get("min.insync.replicas", 1)),
            "retention": retention_text(spec),
            "cleanup.policy": spec.config.get("cleanup.policy", "delete"),
            "written by": ", ".join(s.name for s in producers_of(spec.name)) or "—",
            "read by": ", ".join(s.name for s in consumers_of(spec.name)) or "(no app consumer)",
            "purpose": spec.purpose,
        })  # fmt: skip
    return pd.DataFrame(rows)


def service_table() -> Any:
    """One row per service: command, role, inputs, outputs, group, files (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for svc in services():
        outputs = list(svc.writes) + ([f"{DEAD_LETTER.name} (bad input)"] if svc.dead_letters else [])
        rows.append({
            "service": svc.name,
            "role": svc.role,
            "task": svc.task,
            "reads": ", ".join(svc.reads) or "—",
            "writes": ", ".join(outputs) or "—",
            "consumer group": svc.group or "—",
            "files": ", ".join(svc.files) or "—",
        })  # fmt: skip
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the graph


def _label(title: str, *lines: str, color: str = _INK) -> str:
    """A graphviz HTML-like label: a bold title over small grey lines."""
    parts = [f'<B><FONT COLOR="{color}">{html.escape(title)}</FONT></B>']
    parts += [f'<FONT POINT-SIZE="9" COLOR="{_SOFT}">{html.escape(line)}</FONT>' for line in lines if line]
    return "<" + "<BR/>".join(parts) + ">"


def _topic_lines(spec: TopicSpec, brokers: int | None) -> list[str]:
    sized = spec.for_cluster(brokers) if brokers else spec
    isr = sized.config.get("min.insync.replicas", "1")
    parts = f"{sized.partitions} partition{'s' if sized.partitions != 1 else ''}"
    key = "key: machine id" if spec.message_type != "raw" else "key: as received"
    return [f"{parts} · RF {sized.replication} · min ISR {isr}", f"retention: {retention_text(sized)}", key]


def component_graph(topics: Sequence[TopicSpec] = ALL_TOPICS, brokers: int | None = None,
                    namespace: str = "", rankdir: str = "TB") -> graphviz.Digraph:
    """Generators → topics → processor → topics → sinks → files, with the dead-letter path.

    ``brokers`` sizes the topic settings to a cluster as topic creation does
    (RF ≤ brokers); ``namespace`` prefixes topic names as a namespaced run does.
    ``rankdir`` is graphviz's flow direction: ``TB`` (top to bottom) fits a
    book page, ``LR`` a wide screen.
    """
    import graphviz

    by_name = {spec.name: spec for spec in topics}
    prefix = f"{namespace}." if namespace else ""
    graph = graphviz.Digraph("streamlab", format="svg")
    graph.attr(rankdir=rankdir, fontname=FONT, fontsize="11", nodesep="0.25", ranksep="0.55", newrank="true",
               bgcolor="white", pad="0.2")
    graph.attr("node", fontname=FONT, fontsize="11", color=_SOFT, penwidth="1.2")
    graph.attr("edge", fontname=FONT, fontsize="9", color=_SOFT, fontcolor=_SOFT, arrowsize="0.7")

    svc_list = services()
    for svc in svc_list:
        lines = [svc.command.replace("python -m ", "-m ")]
        if svc.group:
            lines.append(f"group: {prefix}{svc.group}")
        fill = {"generator": "#e8f1f8", "processor": "#fdf1dc", "sink": "#e6f5ef"}[svc.role]
        graph.node(f"svc_{svc.name}", _label(svc.name, *lines), shape="box", style="rounded,filled",
                   fillcolor=fill)

    for spec in topics:
        dead = spec.name == DEAD_LETTER.name
        graph.node(f"topic_{spec.name}", _label(prefix + spec.name, *_topic_lines(spec, brokers),
                                                color=_DEAD if dead else _KAFKA),
                   shape="cylinder", style="filled", fillcolor="#fbeee6" if dead else "#eef5fb",
                   color=_DEAD if dead else _KAFKA)

    for svc in svc_list:
        for path in svc.files:
            graph.node(_file_id(path), _label(path, "temp file + fsync + rename"), shape="note",
                       style="filled", fillcolor="#f3faf6", color=_FILES)

    # One rank per kind along the flow: generators, input topics, processor, output topics, sinks, files.
    _same_rank(graph, [f"svc_{s.name}" for s in svc_list if s.role == "generator"])
    _same_rank(graph, [f"svc_{s.name}" for s in svc_list if s.role == "sink"])

    for svc in svc_list:
        for topic in svc.writes:
            spec = by_name[topic]
            message = MESSAGE_TYPES.get(spec.message_type)
            graph.edge(f"svc_{svc.name}", f"topic_{topic}", label=message.__name__ if message else "",
                       color=_KAFKA if svc.role != "processor" else _SOFT)
        for topic in svc.reads:
            graph.edge(f"topic_{topic}", f"svc_{svc.name}", label="poll · commit after work")
        if svc.dead_letters:
            first = svc.role == "processor"  # label the path once; sink edges must not pull the layout back up
            graph.edge(f"svc_{svc.name}", f"topic_{DEAD_LETTER.name}", label="bad input + reason" if first else "",
                       style="dashed", color=_DEAD, fontcolor=_DEAD, constraint="true" if first else "false")
        for path in svc.files:
            graph.edge(f"svc_{svc.name}", _file_id(path), color=_FILES)
    return graph


def _file_id(path: str) -> str:
    return "file_" + re.sub(r"[^A-Za-z0-9]+", "_", path)


def _same_rank(graph: graphviz.Digraph, nodes: list[str]) -> None:
    if len(nodes) > 1:
        with graph.subgraph() as rank:
            rank.attr(rank="same")
            for node in nodes:
                rank.node(node)


# --------------------------------------------------------------------------- code excerpts


def dict_literal(obj: Any, name: str = "config") -> str:
    """The source lines of ``<name> = {...}`` inside ``obj`` (a function or class), dedented.

    For showing a client configuration (acks, idempotence, commit mode) in the
    book straight from the code that uses it, so the text cannot disagree with it.
    """
    source = inspect.getsource(obj)
    match = re.search(rf"^([ \t]*){re.escape(name)}\s*=\s*\{{.*?^\1\}}", source, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        raise LookupError(f"no `{name} = {{...}}` in {getattr(obj, '__qualname__', obj)!r}")
    return inspect.cleandoc("\n" + match.group(0)) if not match.group(1) else "\n".join(
        line[len(match.group(1)):] for line in match.group(0).splitlines())
