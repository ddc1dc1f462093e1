"""Coordinator and leader moves: the routine changes of a healthy cluster, made on purpose under the app.

Nothing here breaks a broker. A Kafka consumer group's coordinator is the
leader of one `__consumer_offsets` partition (the group id's Java hash modulo
`offsets.topic.num.partitions`), so it moves whenever that leader moves: a
preferred-leader election (`kafka-leader-election.sh`, or the controller's
own every `leader.imbalance.check.interval.seconds` under
`auto.leader.rebalance.enable`), a reassignment (`kafka-reassign-partitions.sh`),
a broker's controlled shutdown or restart. The new coordinator loads the
group's offsets first and answers COORDINATOR_LOAD_IN_PROGRESS or
NOT_COORDINATOR meanwhile: a full chapter 01 run crashed two services on one
such move (issue 36). `KafkaCoordinatorMoves` makes these moves through the
same Admin API calls those scripts make (AlterPartitionReassignments and
ElectLeaders, from kafka-python's admin client).

RabbitMQ's counterpart is a quorum queue's leader moving to another node
(`rabbit_quorum_queue:transfer_leadership`, what maintenance mode and a node
drain do): `RabbitLeaderMoves`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ...polling import wait_until

OFFSETS_TOPIC = "__consumer_offsets"


def java_string_hash(text: str) -> int:
    """Java's `String.hashCode` (UTF-16 code units, 32-bit overflow), which Kafka hashes a group id with."""
    value = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        value = (31 * value + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def offsets_partition(group: str, partitions: int) -> int:
    """The `__consumer_offsets` partition holding `group` (Kafka's `Utils.abs(groupId.hashCode()) % n`,
    where `Utils.abs(Integer.MIN_VALUE)` is 0): its leader is the group's coordinator."""
    value = java_string_hash(group)
    return (0 if value == -(1 << 31) else abs(value)) % partitions


@dataclass(frozen=True)
class Move:
    """One move made: what moved, from where to where, and how long the cluster took to show it."""

    kind: str            # "election" | "broker restart" | "all partitions election" | "queue leader transfer"
    target: str          # the partition or queue (or broker) it was made on
    before: str
    after: str
    took_s: float


class KafkaCoordinatorMoves:
    """Moves the coordinators of `groups`: rotate the replica list of each group's offsets partition (a
    reassignment onto the same brokers: no data copied, only the preferred replica changes), then a
    preferred-leader election; a controlled restart of a coordinator's broker; an election of every
    partition's preferred leader, as the controller's periodic rebalance runs one."""

    def __init__(self, bootstrap: str, groups: list[str]) -> None:
        from ...transport.kafka_admin import metadata

        self.bootstrap = bootstrap
        count = len(metadata(bootstrap, OFFSETS_TOPIC).topics[OFFSETS_TOPIC].partitions)  # the cluster's setting
        self.partitions = sorted({offsets_partition(group, count) for group in groups})

    def leaders(self) -> dict[int, tuple[int, list[int]]]:
        """offsets partition → (leader, replicas) as the cluster's metadata has it now."""
        from ...transport.kafka_admin import metadata

        parts = metadata(self.bootstrap, OFFSETS_TOPIC).topics[OFFSETS_TOPIC].partitions
        return {p: (parts[p].leader, list(parts[p].replicas)) for p in self.partitions}

    def move_coordinators(self, timeout_s: float = 30.0) -> list[Move]:
        """Each offsets partition's preferred replica rotated and elected: every coordinator moves."""
        from kafka import TopicPartition

        admin = self._admin()
        try:
            before = self.leaders()
            started = time.monotonic()
            wanted = {p: replicas[1:] + replicas[:1] for p, (_leader, replicas) in before.items()}
            admin.alter_partition_reassignments({TopicPartition(OFFSETS_TOPIC, p): r for p, r in wanted.items()})
            wait_until(lambda: not admin.list_partition_reassignments(
                [TopicPartition(OFFSETS_TOPIC, p) for p in wanted]), timeout_s, "the reassignment to complete",
                interval=0.1, error=RuntimeError)
            admin.elect_leaders(0, {OFFSETS_TOPIC: list(wanted)})      # 0: preferred
            wait_until(lambda: all(self.leaders()[p][0] == r[0] for p, r in wanted.items()), timeout_s,
                       "the preferred leaders to be elected", interval=0.1, error=RuntimeError)
            took = round(time.monotonic() - started, 2)
        finally:
            admin.close()
        return [Move("election", f"{OFFSETS_TOPIC}/{p}", f"leader {before[p][0]}", f"leader {r[0]}", took)
                for p, r in wanted.items()]

    def elect_all_preferred(self) -> Move:
        """What `auto.leader.rebalance.enable` does every `leader.imbalance.check.interval.seconds`: every
        partition whose preferred replica is in sync and not the leader gets it back as leader. A partition
        already led by it (ELECTION_NOT_NEEDED) or whose preferred replica is still catching up after a
        restart (PREFERRED_LEADER_NOT_AVAILABLE) is left as it is, as the controller's own task leaves it."""
        admin = self._admin()
        started = time.monotonic()
        try:
            answer = admin.elect_leaders(0, None, raise_errors=False)
        finally:
            admin.close()
        codes = [p.error_code for result in answer.replica_election_results for p in result.partition_result]
        return Move("all partitions election", "every partition", f"{len(codes)} partitions",
                    f"{codes.count(0)} leaders moved", round(time.monotonic() - started, 2))

    def restart_coordinator(self, part) -> Move:
        """A controlled restart (SIGTERM, start, wait until the cluster serves) of the broker coordinating
        the first group: its leaderships move away and, after a preferred election, back."""
        leader = self.leaders()[self.partitions[0]][0]
        started = time.monotonic()
        part.restart_node(leader)
        return Move("broker restart", f"broker {leader}", "running", "restarted, cluster ready",
                    round(time.monotonic() - started, 2))

    def _admin(self):
        from ...transport.kafka_admin import quorum_client

        return quorum_client(self.bootstrap, client_id="streamlab-moves", timeout_ms=15000)


#: Erlang evaluated on a node: each quorum queue whose name starts with PREFIX hands its leadership to the
#: next running node (sorted), via rabbit_quorum_queue:transfer_leadership/2; prints one term per queue.
_TRANSFER = """
Nodes = lists:sort(rabbit_nodes:all_running()),
Next = fun(N) -> case lists:dropwhile(fun(X) -> X =/= N end, Nodes) of [_, M | _] -> M; _ -> hd(Nodes) end end,
Prefix = <<"PREFIX">>,
[begin
   {_, Leader} = amqqueue:get_pid(Q),
   {element(4, amqqueue:get_name(Q)), Leader, rabbit_quorum_queue:transfer_leadership(Q, Next(Leader))}
 end || Q <- rabbit_amqqueue:list(), amqqueue:get_type(Q) =:= rabbit_quorum_queue,
        binary:longest_common_prefix([element(4, amqqueue:get_name(Q)), Prefix]) =:= byte_size(Prefix)].
"""


class RabbitLeaderMoves:
    """Moves the leader of every quorum queue of a run (its names start with `prefix`) to the next node."""

    def __init__(self, part, prefix: str) -> None:
        self.part, self.prefix = part, prefix

    def move_leaders(self) -> list[Move]:
        started = time.monotonic()
        answer = self.part.ctl(self.part.node(1), "eval", _TRANSFER.replace("PREFIX", self.prefix))
        if answer.returncode != 0:
            raise RuntimeError(f"transfer_leadership failed: {(answer.stderr or answer.stdout).strip()[-300:]}")
        took = round(time.monotonic() - started, 2)
        return [Move("queue leader transfer", queue, f"leader {before}", after, took)
                for queue, before, after in _parse_transfers(answer.stdout)]


def _parse_transfers(text: str) -> list[tuple[str, str, str]]:
    """(queue, old leader, outcome) from the printed list `[{<<"q">>, 'n@h', {migrated, 'm@h'}}, ...]`."""
    found = re.findall(r"\{<<\"([^\"]+)\">>,\s*'?([^',]+)'?,\s*\{(\w+),\s*'?([^'}]+)'?\}\}", text)
    return [(queue, leader, f"{outcome} {where}" if outcome == "migrated" else f"{outcome}: {where}")
            for queue, leader, outcome, where in found]

