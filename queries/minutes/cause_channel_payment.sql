-- cause_channel_payment, counted from order_attempts_minutes: the window's
-- whole minutes ($whole_start to $whole_end) from the minute counts, the
-- part-minutes at its ends from order_attempts. Same rows as
-- ../cause_channel_payment.sql.
WITH counted AS (
    SELECT failure_cause, channel, payment_method, attempts
    FROM order_attempts_minutes
    WHERE outcome = 'failure' AND minute >= $whole_start AND minute < $whole_end
    UNION ALL
    SELECT failure_cause, channel, payment_method, 1 FROM order_attempts
    WHERE outcome = 'failure' AND ts >= $start AND ts < $whole_start
    UNION ALL
    SELECT failure_cause, channel, payment_method, 1 FROM order_attempts
    WHERE outcome = 'failure' AND ts >= $whole_end AND ts < $end
)
SELECT
    failure_cause,
    channel,
    payment_method,
    sum(attempts) AS failures,
    round(CAST(sum(attempts) AS DOUBLE) / sum(sum(attempts)) OVER (), 4) AS share
FROM counted
GROUP BY failure_cause, channel, payment_method
ORDER BY failures DESC, failure_cause, channel, payment_method
