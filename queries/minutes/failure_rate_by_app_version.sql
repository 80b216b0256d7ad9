-- failure_rate_by_app_version, counted from order_attempts_minutes: the
-- window's whole minutes ($whole_start to $whole_end) from the minute counts,
-- the part-minutes at its ends from order_attempts. Same rows as
-- ../failure_rate_by_app_version.sql.
WITH counted AS (
    SELECT app_version, channel, outcome, attempts
    FROM order_attempts_minutes
    WHERE app_version IS NOT NULL AND minute >= $whole_start AND minute < $whole_end
    UNION ALL
    SELECT app_version, channel, outcome, 1 FROM order_attempts
    WHERE app_version IS NOT NULL AND ts >= $start AND ts < $whole_start
    UNION ALL
    SELECT app_version, channel, outcome, 1 FROM order_attempts
    WHERE app_version IS NOT NULL AND ts >= $whole_end AND ts < $end
),
grouped AS (
    SELECT
        app_version,
        channel,
        sum(attempts) AS attempts,
        coalesce(sum(attempts) FILTER (WHERE outcome = 'failure'), 0) AS failures
    FROM counted
    GROUP BY app_version, channel
)
SELECT
    app_version,
    channel,
    attempts,
    failures,
    round(CAST(failures AS DOUBLE) / attempts, 4) AS failure_rate
FROM grouped
ORDER BY failure_rate DESC, attempts DESC, app_version, channel
