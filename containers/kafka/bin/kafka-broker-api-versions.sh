#!/bin/bash
# The tool compose/kafka.yml's healthcheck runs (same name and place as in the apache/kafka image).
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx96m} -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
  -cp "/opt/kafka/libs/*" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
