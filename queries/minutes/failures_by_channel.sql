-- failures_by_channel, counted from order_attempts_minutes: the window's whole
-- minutes ($whole_start to $whole_end) from the minute counts, the part-minutes
-- at its ends from order_attempts. Same rows as ../failures_by_channel.sql.
WITH counted AS (
    SELECT channel, outcome, attempts
    FROM order_attempts_minutes
    WHERE minute >= $whole_start AND minute < $whole_end
    UNION ALL
    SELECT channel, outcome, 1 FROM order_attempts WHERE ts >= $start AND ts < $whole_start
    UNION ALL
    SELECT channel, outcome, 1 FROM order_attempts WHERE ts >= $whole_end AND ts < $end
),
grouped AS (
    SELECT
        channel,
        sum(attempts) AS attempts,
        coalesce(sum(attempts) FILTER (WHERE outcome = 'failure'), 0) AS failures
    FROM counted
    GROUP BY channel
)
SELECT
    channel,
    attempts,
    failures,
    round(CAST(failures AS DOUBLE) / attempts, 4) AS failure_rate
FROM grouped
ORDER BY failures DESC, channel
