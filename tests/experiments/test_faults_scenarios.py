"""Services SIGKILLed at their worst moments under the running app: nothing lost, nothing duplicated on disk.

One run per broker (the session's single-node stacks): the processor is killed
after publishing and before committing, the Parquet sink and the CSV sink after
writing and before committing (`streamlab.crashpoints`), each restarted by the
harness; then the ledger compares the broker's copy with the files.
"""

from __future__ import annotations

import pytest

from streamlab.experiments.faults import scenarios

BROKERS = [pytest.param("kafka", marks=pytest.mark.kafka, id="kafka"),
           pytest.param("rabbitmq", marks=pytest.mark.rabbitmq, id="rabbitmq")]


def _env(broker: str, stack) -> dict[str, str]:
    if broker == "kafka":
        return {"KAFKA_BOOTSTRAP": stack.endpoints.kafka_bootstrap}
    return {"AMQP_URL": stack.endpoints.amqp_url, "RABBIT_MGMT_PORT": str(stack.config.rabbit_mgmt_port)}


@pytest.mark.parametrize("broker", BROKERS)
def test_services_killed_between_write_and_commit_lose_and_duplicate_nothing(broker, request, tmp_path):
    stack = request.getfixturevalue("kafka_stack" if broker == "kafka" else "rabbit_stack")
    result = scenarios.run_scenario(scenarios.SCENARIOS["services-after-write"], broker, tmp_path / "app",
                                    env=_env(broker, stack), duration_s=9.0, machines=4)
    killed = set(result.events["event"][result.events["event"].str.endswith(" killed")])
    # the crash points were really reached: otherwise the test proves nothing
    assert {"health-processor killed", "health-parquet-sink killed"} <= killed, result.events
    assert all(code == 0 for code in result.exit_codes.values()), result.exit_codes
    parquet = result.rows.set_index("sink").loc["Parquet"]
    assert parquet["sent"] >= 4 * 10 * 5 and parquet["on_broker"] == parquet["sent"]
    assert parquet["on_disk"] == parquet["sent"]
    for sink, row in result.rows.set_index("sink").iterrows():
        assert (row["lost"], row["duplicated"], row["temp_files_left"]) == (0, 0, 0), (sink, row.to_dict())
