-- failure_rate_trend, counted from order_attempts_minutes: the window's whole
-- minutes ($whole_start to $whole_end) from the minute counts, the part-minutes
-- at its ends from order_attempts (used only when $bucket is whole minutes, so
-- that a minute never straddles two buckets). Same rows as
-- ../failure_rate_trend.sql.
WITH counted AS (
    SELECT minute AS ts, outcome, failure_cause, attempts
    FROM order_attempts_minutes
    WHERE minute >= $whole_start AND minute < $whole_end
    UNION ALL
    SELECT ts, outcome, failure_cause, 1 FROM order_attempts
    WHERE ts >= $start AND ts < $whole_start
    UNION ALL
    SELECT ts, outcome, failure_cause, 1 FROM order_attempts
    WHERE ts >= $whole_end AND ts < $end
),
windowed AS (
    SELECT date_bin($bucket, ts) AS bucket, outcome, failure_cause, attempts
    FROM counted
),
totals AS (
    SELECT bucket, sum(attempts) AS attempts FROM windowed GROUP BY bucket
),
failed AS (
    SELECT bucket, failure_cause, sum(attempts) AS failures
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
