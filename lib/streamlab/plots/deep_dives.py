"""Chart builders of chapter 02 (the Kafka deep dives), in the house style of `streamlab.plots`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from . import bar_compare, line_over_time, machine_caption

if TYPE_CHECKING:
    from IPython.display import Markdown


def durability(frame: pd.DataFrame) -> alt.LayerChart:
    """Acknowledged, read back and acknowledged-but-lost records per durability setting."""
    tidy = frame.melt(id_vars=["setting"], value_vars=["acknowledged", "lost_acknowledged", "duplicates"],
                      var_name="count", value_name="records")
    tidy["count"] = tidy["count"].map({"acknowledged": "acknowledged", "lost_acknowledged": "acknowledged, then lost",
                                       "duplicates": "read twice"})
    return bar_compare(tidy, "setting", "records", "count",
                       "A broker dies with its disk: acknowledged records that did not survive",
                       value_title="records", category_title=" ", color_title="",
                       subtitle=f"{int(frame['sent'].iloc[0]):,} numbered records per setting · {machine_caption()}",
                       sort=list(frame["setting"]))


def cost(frame: pd.DataFrame) -> alt.VConcatChart:
    """Throughput and acknowledgement latency (p50, p99) per durability setting."""
    order = list(dict.fromkeys(frame["setting"]))
    rate = bar_compare(frame.groupby("setting", as_index=False)["records_per_s"].median(), "setting",
                       "records_per_s", title="Producer throughput", value_title="records/s",
                       category_title=" ", sort=order)
    latency = frame.melt(id_vars=["setting"], value_vars=["ack_p50_ms", "ack_p99_ms"], var_name="percentile",
                         value_name="ms")
    latency["percentile"] = latency["percentile"].map({"ack_p50_ms": "p50", "ack_p99_ms": "p99"})
    lat = bar_compare(latency.groupby(["setting", "percentile"], as_index=False)["ms"].median(), "setting", "ms",
                      "percentile", "Send → acknowledgement", value_title="ms", category_title=" ", sort=order,
                      labels=",.1f")
    return alt.vconcat(rate, lat).properties(
        title=alt.TitleParams("What durability costs the producer", subtitle=machine_caption()))


def partition_scaling(frame: pd.DataFrame) -> alt.HConcatChart:
    """Producer throughput and ack latency against the partition count."""
    frame = frame.assign(partitions=frame["partitions"].astype(int))
    rate = line_over_time(frame, "partitions", "records_per_s", title="Throughput", x_title="partitions",
                          y_title="records/s", points=True)
    lat = frame.melt(id_vars=["partitions"], value_vars=["ack_p50_ms", "ack_p99_ms"], var_name="percentile",
                     value_name="ms")
    lat["percentile"] = lat["percentile"].str.extract(r"(p\d+)")[0]
    latency = line_over_time(lat, "partitions", "ms", "percentile", "Send → acknowledgement",
                             x_title="partitions", y_title="ms", points=True)
    return alt.hconcat(rate.properties(width=280), latency.properties(width=280)).properties(
        title=alt.TitleParams("Partitions: one producer, acks=all, RF 3", subtitle=machine_caption()))


def user_error_note(call) -> Markdown:
    """Run ``call``; a `UserError` becomes the one-line note a reader sees instead of a traceback."""
    from IPython.display import Markdown

    from ..errors import UserError

    try:
        call()
    except UserError as error:
        return Markdown(f"> **Refused:** {error}")
    return Markdown("> **Accepted:** these parameters are within what the cluster allows.")


def ordering(frame: pd.DataFrame) -> alt.LayerChart:
    """Inversions per machine, keyed vs unkeyed."""
    summary = frame.groupby("design", as_index=False)["inversions"].sum()
    return bar_compare(
        summary,
        "design",
        "inversions",
        title="Readings that arrived after a later one of their machine",
        value_title="inversions (all machines)",
        category_title=" ",
        subtitle=f"{int(frame['received'].sum() / 2):,} readings per design, one consumer · {machine_caption()}",
    )


def hot_key(per_partition: pd.DataFrame) -> alt.Chart:
    """Records per partition for each key design: the hot key's skew and what salting does to it."""
    per_partition = per_partition.assign(partition=per_partition["partition"].astype(str))
    return alt.Chart(per_partition).mark_bar().encode(
        x=alt.X("partition:N", title="partition"),
        y=alt.Y("records:Q", title="records"),
        color=alt.Color("design:N", title="", legend=None),
        column=alt.Column("design:N", title=None),
    ).properties(width=260, height=220, title=alt.TitleParams(
        "A hot machine: records per partition", subtitle=machine_caption()))


def group_scaling(frame: pd.DataFrame) -> alt.FacetChart:
    """Partitions owned per member for each group size; idle members are labelled, not just missing bars."""
    frame = frame.assign(member=frame["member"].map(lambda i: f"member {i + 1}"),
                         consumers=frame["consumers"].map(lambda n: f"{n} consumer{'s' if n > 1 else ''}"),
                         label=frame["idle"].map(lambda idle: "idle" if idle else ""))
    base = alt.Chart().encode(y=alt.Y("member:N", title=None))
    bars = base.mark_bar(color="#0072B2").encode(
        x=alt.X("partitions_owned:Q", title="partitions owned", axis=alt.Axis(tickMinStep=1),
                scale=alt.Scale(domain=[0, 6])))
    idle = base.mark_text(align="left", dx=4, color="#D55E00", fontWeight="bold").encode(
        x=alt.X("partitions_owned:Q"), text="label:N")
    return alt.layer(bars, idle, data=frame).properties(width=360).facet(
        row=alt.Row("consumers:N", title=None, sort=list(dict.fromkeys(frame["consumers"])),
                    header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start", labelFontWeight="bold")),
    ).resolve_scale(y="independent").properties(
        title=alt.TitleParams("A consumer group on 6 partitions: who owns what", subtitle=machine_caption()))


# --------------------------------------------------------------------------- ch02b: deep dives 1 (rebalance), 3


def rebalance_pause(frame: pd.DataFrame) -> alt.VConcatChart:
    """Per protocol: the longest consumption gap of kept and of moved partitions, and kept partitions revoked."""
    order = list(frame["protocol"])
    gaps = frame.melt(id_vars=["protocol"], value_vars=["kept_longest_gap_s", "moved_longest_gap_s"],
                      var_name="partitions", value_name="seconds")
    gaps["partitions"] = gaps["partitions"].map({"kept_longest_gap_s": "kept", "moved_longest_gap_s": "moved"})
    gap = bar_compare(gaps, "protocol", "seconds", "partitions", "Longest stretch without a record consumed",
                      value_title="seconds", category_title=" ", color_title="partitions", sort=order,
                      labels=",.1f")
    revoked = bar_compare(frame, "protocol", "kept_partitions_revoked",
                          title="Partitions revoked from a member that kept them", value_title="partitions",
                          category_title=" ", sort=order)
    return alt.vconcat(gap, revoked).properties(title=alt.TitleParams(
        "A fourth consumer joins a group of three on 6 partitions", subtitle=machine_caption()))


def member_failure(frame: pd.DataFrame) -> alt.LayerChart:
    """Seconds until a departed member's partitions are owned and served again, graceful leave vs kill."""
    tidy = frame.melt(id_vars=["ending"], value_vars=["seconds_until_reassigned", "seconds_until_served"],
                      var_name="until", value_name="seconds")
    tidy["until"] = tidy["until"].map({"seconds_until_reassigned": "reassigned",
                                       "seconds_until_served": "served again"})
    session = frame["session_timeout_s"].iloc[0]
    return bar_compare(
        tidy,
        "ending",
        "seconds",
        "until",
        "A member leaves: until its partitions are reassigned and served again",
        value_title="seconds after the signal",
        category_title=" ",
        color_title="",
        subtitle=f"session.timeout.ms = {session * 1000:,.0f} · {machine_caption()}",
        sort=list(frame["ending"]),
        labels=",.1f",
    )


def leader_skew(frame: pd.DataFrame) -> alt.FacetChart:
    """Leaders per broker in each phase of the stop/restart/election sequence."""
    frame = frame.assign(broker=frame["broker"].map(lambda b: f"broker {b}"))
    phases = list(dict.fromkeys(frame["phase"]))
    return alt.Chart(frame).mark_bar(color="#0072B2").encode(
        y=alt.Y("broker:N", title=None),
        x=alt.X("leaders:Q", title="partition leaders", axis=alt.Axis(tickMinStep=1)),
    ).properties(width=300, height=80).facet(
        row=alt.Row("phase:N", title=None, sort=phases,
                    header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start", labelFontWeight="bold")),
    ).properties(title=alt.TitleParams("Leaders per broker: stop, return, election",
                                       subtitle=machine_caption()))


def reassignment(timeline: pd.DataFrame, brokers: pd.DataFrame) -> alt.VConcatChart:
    """Acknowledged records/s over time with the move shaded, and the topic's bytes per broker before/after."""
    start, length = float(timeline["move_start_s"].iloc[0]), float(timeline["move_s"].iloc[0])
    band = alt.Chart(pd.DataFrame({"start": [start], "end": [start + length]})).mark_rect(
        color="#E69F00", opacity=0.2).encode(x="start:Q", x2="end:Q")
    rate = line_over_time(timeline, "t_s", "records_per_s", title="Producer: acknowledged records/s",
                          x_title="seconds (shaded: the reassignment)", y_title="records/s")
    sizes = brokers[brokers["phase"] != "after a preferred election"].assign(
        broker=lambda f: f["broker"].map(lambda b: f"broker {b}"))
    disk = bar_compare(sizes, "broker", "log_mb", "phase", "The topic's log bytes per broker", value_title="MB",
                       category_title=" ", color_title="", labels=",.1f")
    return alt.vconcat(alt.layer(band, rate).properties(width=520), disk).properties(title=alt.TitleParams(
        "Spreading a 2-broker topic over 3 brokers under load", subtitle=machine_caption()))
# --------------------------------------------------------------------------- deep dives 5, 6, 8 (ch02a)


def crash_matrix(frame: pd.DataFrame) -> alt.LayerChart:
    """Records lost and written twice per commit mode and crash point (deep dive 5)."""
    frame = frame.assign(scenario=frame["mode"] + " · killed " + frame["crash_point"])
    tidy = frame[["scenario", "lost", "duplicates"]].melt(id_vars=["scenario"], var_name="count",
                                                          value_name="records")
    tidy["count"] = tidy["count"].map({"lost": "lost", "duplicates": "written twice"})
    return bar_compare(tidy, "scenario", "records", "count", "A consumer SIGKILLed at the worst moment of its commit",
                       value_title="records", category_title=" ", color_title="",
                       subtitle=f"{int(frame['records'].iloc[0]):,} numbered records, batches of "
                                f"{int(frame['batch'].iloc[0])} · {machine_caption()}",
                       sort=list(frame["scenario"]))


def reprocessing(summary: pd.DataFrame) -> alt.LayerChart:
    """Reprocessed health records identical to / different from the first output (deep dive 5)."""
    tidy = summary.melt(id_vars=["reprocessing"], value_vars=["identical", "differing"], var_name="compared",
                        value_name="records")
    return bar_compare(tidy, "reprocessing", "records", "compared", "Reprocessing the last seconds: same output?",
                       value_title="health records since the instant", category_title=" ", color_title="",
                       subtitle=machine_caption(), sort=list(summary["reprocessing"]))


def segments_over_time(over: pd.DataFrame) -> alt.VConcatChart:
    """Bytes on disk and the log start offset over time, per retention policy (deep dive 6)."""
    disk = line_over_time(over, "t_s", "mib_on_disk", "policy", "On disk (segment files of the partition)",
                          x_title="seconds", y_title="MiB", color_title="")
    start = line_over_time(over, "t_s", "log_start_offset", "policy", "First offset a consumer can still read",
                           x_title="seconds", y_title="log start offset", color_title="")
    return alt.vconcat(disk.properties(width=520, height=180), start.properties(width=520, height=180)).properties(
        title=alt.TitleParams("Retention deletes whole segments", subtitle=machine_caption())
    ).configure_legend(labelLimit=0, orient="bottom", direction="vertical")


def compaction_timeline(timeline: pd.DataFrame) -> alt.Chart:
    """Records in the compacted log over time, per min.cleanable.dirty.ratio (deep dive 6)."""
    frame = timeline.assign(ratio=timeline["min_cleanable_dirty_ratio"].map(lambda r: f"dirty ratio {r:g}"))
    return line_over_time(frame, "t_s", "records_in_log", "ratio", "Records in the compacted log",
                          x_title="seconds", y_title="records in the log", color_title="", points=True,
                          subtitle=machine_caption())


def producer_retries(frame: pd.DataFrame) -> alt.LayerChart:
    """Failed, duplicated and reordered records per producer setting while a leader was frozen (deep dive 8)."""
    tidy = frame.melt(id_vars=["setting"], value_vars=["failed", "duplicates", "reordered", "lost_acknowledged"],
                      var_name="count", value_name="records")
    tidy["count"] = tidy["count"].map(
        {
            "failed": "failed (reported to the app)",
            "duplicates": "written twice",
            "reordered": "out of order per key",
            "lost_acknowledged": "acknowledged, then lost",
        }
    )
    return bar_compare(tidy, "setting", "records", "count", "A partition leader frozen mid-stream",
                       value_title="records", category_title=" ", color_title="",
                       subtitle=f"{int(frame['sent'].iloc[0]):,} records per setting, broker paused "
                                f"{frame['pause_s'].iloc[0]:g} s · {machine_caption()}",
                       sort=list(frame["setting"]))


def consumer_retries(summary: pd.DataFrame) -> alt.LayerChart:
    """Delay of messages that succeed on the first try, per retry design (deep dive 8)."""
    tidy = summary.melt(id_vars=["design"], value_vars=["first_try_p50_ms", "first_try_p99_ms"],
                        var_name="percentile", value_name="ms")
    tidy["percentile"] = tidy["percentile"].str.extract(r"(p\d+)")[0]
    return bar_compare(tidy, "design", "ms", "percentile", "Healthy messages wait behind failing ones?",
                       value_title="send → processed (ms), first-try messages", category_title=" ",
                       color_title="", subtitle=machine_caption(), sort=list(summary["design"]))


# --------------------------------------------------------------------------- deep dive 2: limits of send/receive


def send_limits(frame: pd.DataFrame) -> alt.VConcatChart:
    """The producer's ceiling per grid point, the Python client beside kafka-producer-perf-test (deep dive 2)."""
    order = list(dict.fromkeys(frame["point"]))
    ok = frame[frame["error"] == ""]
    rate = bar_compare(ok, "point", "records_per_s", "driver", "Records/s", value_title="records/s",
                       category_title=" ", color_title="", sort=order)
    volume = bar_compare(ok, "point", "mb_per_s", "driver", "MB/s", value_title="MB/s (2²⁰ bytes)",
                         category_title=" ", color_title="", sort=order, labels=",.1f")
    return alt.vconcat(rate, volume).properties(title=alt.TitleParams(
        "How fast one producer sends, at max rate", subtitle=f"same stack, one driver after the other · "
                                                             f"{machine_caption()}"))


def knee(frame: pd.DataFrame) -> alt.Chart:
    """End-to-end latency (p50, p99) against the rate achieved, at fractions of the measured maximum (deep dive 2)."""
    ok = frame[frame["error"] == ""]
    tidy = ok.melt(id_vars=["fraction", "received_per_s"], value_vars=["e2e_p50_ms", "e2e_p99_ms"],
                   var_name="percentile", value_name="ms")
    tidy["percentile"] = tidy["percentile"].str.extract(r"(p\d+)")[0]
    chart = line_over_time(tidy, "received_per_s", "ms", "percentile", "Where latency turns up",
                           x_title="records/s received (producer and consumer at once)",
                           y_title="send → receive (ms, log scale)", color_title="", points=True,
                           subtitle=f"confluent-kafka at {', '.join(f'{f:.0%}' for f in ok['fraction'])} of its "
                                    f"max · {machine_caption()}")
    return chart.encode(y=alt.Y("ms:Q", title="send → receive (ms, log scale)", scale=alt.Scale(type="log")))


def read_paths(frame: pd.DataFrame) -> alt.LayerChart:
    """Records/s of each read path over the same topic, Java's tool first (deep dive 2)."""
    return bar_compare(frame, "path", "records_per_s", title="Reading the same topic to its end",
                       value_title="records/s", category_title=" ", sort=list(frame["path"]),
                       subtitle=f"{int(frame['topic_records'].iloc[0]):,} telemetry records of "
                                f"{frame['payload_b'].iloc[0]:.0f} B, {int(frame['partitions'].iloc[0])} partitions "
                                f"· {machine_caption()}")
# --------------------------------------------------------------------------- deep dive 7: Kafka Streams


def streams_speed(check: pd.DataFrame) -> alt.VConcatChart:
    """Records/s once output flows, and seconds from the start to the first and to the last window, per way."""
    order = list(check["implementation"])
    rate = bar_compare(check, "implementation", "records_per_s", title="Input records/s once windows flow",
                       value_title="records/s", category_title=" ", sort=order)
    times = check.melt(id_vars=["implementation"], value_vars=["process_up_s", "first_output_s", "all_output_s"],
                       var_name="moment", value_name="s")
    times["moment"] = times["moment"].map({"process_up_s": "process up", "first_output_s": "first window",
                                           "all_output_s": "last window"})
    when = bar_compare(times, "implementation", "s", "moment", "Seconds from the start of the process",
                       value_title="s", category_title=" ", color_title="", sort=order, labels=",.1f")
    return alt.vconcat(rate, when).resolve_scale(color="independent").properties(title=alt.TitleParams(
        "One windowed aggregation, three ways, the same preloaded topic",
        subtitle=f"{int(check['input_records'].iloc[0]):,} readings · {machine_caption()}"))


def streams_restart(restarted: pd.DataFrame) -> alt.VConcatChart:
    """Windows right and wrong after a kill and a restart on an empty disk; restore and resume times."""
    order = list(restarted["implementation"])
    tidy = restarted.assign(wrong=restarted["differing"] + restarted["missing"] + restarted["duplicates"]).melt(
        id_vars=["implementation"], value_vars=["identical", "wrong"], var_name="windows", value_name="count")
    tidy["windows"] = tidy["windows"].map({"identical": "as expected", "wrong": "wrong, missing or twice"})
    right = bar_compare(tidy, "implementation", "count", "windows", "Output windows after kill + restart",
                        value_title="windows", category_title=" ", color_title="", sort=order)
    times = restarted.melt(id_vars=["implementation"], value_vars=["restore_s", "first_output_after_restart_s"],
                           var_name="phase", value_name="s").dropna()
    times["phase"] = times["phase"].map({"restore_s": "changelog restore",
                                         "first_output_after_restart_s": "restart → first window"})
    slow = bar_compare(times, "implementation", "s", "phase", "Seconds after the restart", value_title="s",
                       category_title=" ", color_title="", sort=order, labels=",.1f")
    return alt.vconcat(right, slow).resolve_scale(color="independent").properties(title=alt.TitleParams(
        "SIGKILL half-way, restart on an empty state folder", subtitle=machine_caption()))
