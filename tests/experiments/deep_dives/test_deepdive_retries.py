"""Deep dive 8 on one broker: a frozen broker makes plain retries duplicate; idempotence does not; retry topics."""

from __future__ import annotations

import pytest

from streamlab.errors import UserError
from streamlab.experiments.deep_dives import retries

pytestmark = pytest.mark.kafka


def test_idempotent_producer_writes_no_duplicate_while_the_leader_is_frozen(kafka_stack):
    settings = (retries.ProducerSetting("idempotent, in-flight 5", True, 5),)
    frame = retries.producer_matrix(kafka_stack.part("kafka"), kafka_stack.endpoints.kafka_bootstrap, settings,
                                    records=1000, rate_per_s=400, pause_s=2.5).set_index("setting")
    idem = frame.loc["idempotent, in-flight 5"]
    assert idem["acknowledged"] == 1000 and idem["duplicates"] == 0 and idem["reordered"] == 0
    assert frame["lost_acknowledged"].eq(0).all()
    assert kafka_stack.part("kafka").is_ready()                 # the broker was resumed


def test_retry_topics_dead_letter_poison_and_account_for_every_message(kafka_stack):
    per_message, summary = retries.consumer_retries(kafka_stack.endpoints.kafka_bootstrap, messages=200,
                                                    backoffs_s=(0.02, 0.05))
    topics = summary.set_index("design").loc["retry topics + DLQ"]
    assert topics["unaccounted"] == 0 and topics["dead_lettered"] == 2     # messages 99 and 199: poison
    assert topics["after_retries"] == 10                                   # every 20th, failing twice
    dead = per_message[(per_message["design"] == "retry topics + DLQ") & (per_message["outcome"] == "dead letter")]
    assert (dead["attempts"] == 3).all() and (dead["dead_letters_in_topic"] == 2).all()


def test_bad_retry_parameters_are_user_errors():
    with pytest.raises(UserError, match="at most 5"):
        retries.check_producer_settings((retries.ProducerSetting("x", True, 10),))
