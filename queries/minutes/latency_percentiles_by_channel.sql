-- latency_percentiles_by_channel, counted from order_attempts_latency_hours: the
-- window's whole hours ($whole_hour_start to $whole_hour_end) from the latency
-- counts, the part-hours at its ends from order_attempts. The percentiles are
-- exact, computed as percentile_cont does (p * (n - 1) from 0, linear between the
-- two values around it, the weight cut to 6 decimals). Same rows as
-- ../latency_percentiles_by_channel.sql.
WITH counted AS (
    SELECT channel, latency_ms, attempts
    FROM order_attempts_latency_hours
    WHERE latency_ms IS NOT NULL AND hour >= $whole_hour_start AND hour < $whole_hour_end
    UNION ALL
    SELECT channel, latency_ms, 1 FROM order_attempts
    WHERE latency_ms IS NOT NULL AND ts >= $start AND ts < $whole_hour_start
    UNION ALL
    SELECT channel, latency_ms, 1 FROM order_attempts
    WHERE latency_ms IS NOT NULL AND ts >= $whole_hour_end AND ts < $end
),
latencies AS (
    -- How many attempts of each channel had each latency.
    SELECT channel, latency_ms, sum(attempts) AS n
    FROM counted
    GROUP BY channel, latency_ms
),
ranked AS (
    -- upto: the channel's attempts at or below this latency. The k-th
    -- smallest latency (k from 0) is the smallest whose upto exceeds k.
    SELECT
        channel,
        latency_ms,
        sum(n) OVER (PARTITION BY channel ORDER BY latency_ms ROWS UNBOUNDED PRECEDING) AS upto,
        sum(n) OVER (PARTITION BY channel) AS total
    FROM latencies
),
positions AS (
    SELECT
        channel,
        latency_ms,
        upto,
        total,
        0.5 * CAST(total - 1 AS DOUBLE) AS i50,
        0.9 * CAST(total - 1 AS DOUBLE) AS i90,
        0.99 * CAST(total - 1 AS DOUBLE) AS i99
    FROM ranked
),
picked AS (
    SELECT
        channel,
        max(total) AS attempts,
        max(i50) AS i50,
        max(i90) AS i90,
        max(i99) AS i99,
        CAST(min(latency_ms) FILTER (WHERE upto > floor(i50)) AS DOUBLE) AS lo50,
        CAST(min(latency_ms) FILTER (WHERE upto > ceil(i50)) AS DOUBLE) AS hi50,
        CAST(min(latency_ms) FILTER (WHERE upto > floor(i90)) AS DOUBLE) AS lo90,
        CAST(min(latency_ms) FILTER (WHERE upto > ceil(i90)) AS DOUBLE) AS hi90,
        CAST(min(latency_ms) FILTER (WHERE upto > floor(i99)) AS DOUBLE) AS lo99,
        CAST(min(latency_ms) FILTER (WHERE upto > ceil(i99)) AS DOUBLE) AS hi99,
        max(latency_ms) AS max_ms
    FROM positions
    GROUP BY channel
)
SELECT
    channel,
    attempts,
    lo50 + (hi50 - lo50) * (floor((i50 - floor(i50)) * 1000000.0) / 1000000.0) AS p50_ms,
    lo90 + (hi90 - lo90) * (floor((i90 - floor(i90)) * 1000000.0) / 1000000.0) AS p90_ms,
    lo99 + (hi99 - lo99) * (floor((i99 - floor(i99)) * 1000000.0) / 1000000.0) AS p99_ms,
    max_ms
FROM picked
ORDER BY channel
