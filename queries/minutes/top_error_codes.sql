-- top_error_codes, counted from order_attempts_minutes: the window's whole
-- minutes ($whole_start to $whole_end) from the minute counts, the part-minutes
-- at its ends from order_attempts. Same rows as ../top_error_codes.sql.
WITH counted AS (
    SELECT error_code, failure_cause, attempts
    FROM order_attempts_minutes
    WHERE outcome = 'failure' AND error_code IS NOT NULL
        AND minute >= $whole_start AND minute < $whole_end
    UNION ALL
    SELECT error_code, failure_cause, 1 FROM order_attempts
    WHERE outcome = 'failure' AND error_code IS NOT NULL
        AND ts >= $start AND ts < $whole_start
    UNION ALL
    SELECT error_code, failure_cause, 1 FROM order_attempts
    WHERE outcome = 'failure' AND error_code IS NOT NULL
        AND ts >= $whole_end AND ts < $end
)
SELECT
    error_code,
    failure_cause,
    sum(attempts) AS failures
FROM counted
GROUP BY error_code, failure_cause
ORDER BY failures DESC, error_code, failure_cause
LIMIT 20
