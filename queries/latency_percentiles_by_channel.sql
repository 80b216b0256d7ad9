-- latency_percentiles_by_channel: exact latency percentiles (p50, p90, p99)
-- and the maximum per channel, for attempts that reported latency_ms.
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: channel text -- the channel
-- column: attempts bigint -- attempts with a latency
-- column: p50_ms double -- median latency (linear interpolation)
-- column: p90_ms double -- 90th percentile
-- column: p99_ms double -- 99th percentile
-- column: max_ms bigint -- slowest attempt
SELECT
    channel,
    count(*) AS attempts,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(latency_ms AS DOUBLE)) AS p50_ms,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY CAST(latency_ms AS DOUBLE)) AS p90_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY CAST(latency_ms AS DOUBLE)) AS p99_ms,
    max(latency_ms) AS max_ms
FROM order_attempts
WHERE latency_ms IS NOT NULL AND ts >= $start AND ts < $end
GROUP BY channel
ORDER BY channel
