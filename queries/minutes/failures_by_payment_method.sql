-- failures_by_payment_method, counted from order_attempts_minutes: the window's
-- whole minutes ($whole_start to $whole_end) from the minute counts, the
-- part-minutes at its ends from order_attempts. Same rows as
-- ../failures_by_payment_method.sql.
WITH counted AS (
    SELECT payment_method, outcome, attempts
    FROM order_attempts_minutes
    WHERE minute >= $whole_start AND minute < $whole_end
    UNION ALL
    SELECT payment_method, outcome, 1 FROM order_attempts WHERE ts >= $start AND ts < $whole_start
    UNION ALL
    SELECT payment_method, outcome, 1 FROM order_attempts WHERE ts >= $whole_end AND ts < $end
),
grouped AS (
    SELECT
        payment_method,
        sum(attempts) AS attempts,
        coalesce(sum(attempts) FILTER (WHERE outcome = 'failure'), 0) AS failures
    FROM counted
    GROUP BY payment_method
)
SELECT
    payment_method,
    attempts,
    failures,
    round(CAST(failures AS DOUBLE) / attempts, 4) AS failure_rate
FROM grouped
ORDER BY failures DESC, payment_method
