package org.streamlab.streams;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * Count, mean and max temperature per machine in tumbling event-time windows, one record per closed window.
 *
 * <p>Arguments: bootstrap input-topic output-topic application-id state-dir window-ms. Events (state
 * changes, changelog restores) go to stdout as JSON lines for the Python harness.
 */
public final class WindowedTemperature {
    // --- aggregation
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The aggregate: readings, sum and max of the temperature, 24 bytes in the store and its changelog. */
    record Agg(long count, double sum, double max) {
        static final Agg EMPTY = new Agg(0, 0.0, Double.NEGATIVE_INFINITY);

        Agg add(double temperature) {
            return new Agg(count + 1, sum + temperature, Math.max(max, temperature));
        }
    }

    static final Serde<Agg> AGG = Serdes.serdeFrom(
        (topic, agg) -> ByteBuffer.allocate(24).putLong(agg.count).putDouble(agg.sum).putDouble(agg.max).array(),
        (topic, bytes) -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            return new Agg(b.getLong(), b.getDouble(), b.getDouble());
        });

    static double temperature(String json) {
        try {
            return JSON.readTree(json).get("temperature_c").asDouble();
        } catch (Exception e) {
            throw new IllegalArgumentException("not a telemetry reading: " + json, e);
        }
    }

    static String window(String machine, long startMs, Agg agg) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("machine_id", machine);
        out.put("window_start_ms", startMs);
        out.put("count", agg.count);
        out.put("temp_mean", agg.sum / agg.count);
        out.put("temp_max", agg.max);
        try {
            return JSON.writeValueAsString(out);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static Topology topology(String input, String output, long windowMs) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .mapValues(WindowedTemperature::temperature)
            .groupByKey(Grouped.with(Serdes.String(), Serdes.Double()))
            .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMillis(windowMs)))
            .aggregate(() -> Agg.EMPTY, (machine, temperature, agg) -> agg.add(temperature),
                       Materialized.with(Serdes.String(), AGG))
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream()
            .map((w, agg) -> KeyValue.pair(w.key(), window(w.key(), w.window().start(), agg)))
            .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    static Properties config(String bootstrap, String applicationId, String stateDir) {
        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        // no record cache: every update reaches the store's changelog and the suppression buffer at once
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        // static membership (KIP-345): a restarted instance takes over its predecessor's partitions at once
        props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, applicationId + "-0");
        props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
        return props;
    }
    // --- end of aggregation

    static synchronized void event(String kind, Object... pairs) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("event", kind);
        out.put("time_ms", System.currentTimeMillis());
        for (int i = 0; i + 1 < pairs.length; i += 2) {
            out.put(String.valueOf(pairs[i]), pairs[i + 1]);
        }
        try {
            System.out.println(JSON.writeValueAsString(out));
            System.out.flush();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: WindowedTemperature bootstrap input output application-id state-dir window-ms");
            System.exit(2);
        }
        long windowMs = Long.parseLong(args[5]);
        KafkaStreams streams = new KafkaStreams(topology(args[1], args[2], windowMs), config(args[0], args[3], args[4]));
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                event("restore-start", "changelog", tp.toString(), "store", store, "from", start, "to", end);
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long end, long restored) {
            }

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long restored) {
                event("restore-end", "changelog", tp.toString(), "store", store, "restored", restored);
            }
        });
        streams.setStateListener((now, before) -> event("state", "state", now.toString()));
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(10));
            done.countDown();
        }));
        event("start", "window_ms", windowMs);
        streams.start();
        done.await();
    }
}
