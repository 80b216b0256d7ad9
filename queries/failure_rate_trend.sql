-- failure_rate_trend: failure rate per time bucket and failure cause: how
-- each cause moves over time (one row per bucket and cause with failures).
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- param: bucket interval = 1 hour -- bucket length, e.g. 1 minute, 5 minutes, 1 hour, 1 day
-- column: bucket timestamp -- bucket start (UTC, aligned to the Unix epoch)
-- column: failure_cause text -- the cause
-- column: attempts bigint -- all attempts in the bucket
-- column: failures bigint -- failed attempts with this cause in the bucket
-- column: failure_rate double -- failures / attempts (0..1, 4 decimals)
WITH windowed AS (
    SELECT date_bin($bucket, ts) AS bucket, outcome, failure_cause
    FROM order_attempts
    WHERE ts >= $start AND ts < $end
),
totals AS (
    SELECT bucket, count(*) AS attempts FROM windowed GROUP BY bucket
),
failed AS (
    SELECT bucket, failure_cause, count(*) AS failures
    FROM windowed
    WHERE outcome = 'failure'
    GROUP BY bucket, failure_cause
)
SELECT
    f.bucket,
    f.failure_cause,
    t.attempts,
    f.failures,
    round(CAST(f.failures AS DOUBLE) / t.attempts, 4) AS failure_rate
FROM failed f
JOIN totals t ON f.bucket = t.bucket
ORDER BY f.bucket, f.failure_cause
