-- failures_by_payment_method: attempts, failures and failure rate per payment_method in a time
-- window, most failures first.
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: payment_method text -- the payment_method (NULL when events did not say)
-- column: attempts bigint -- all attempts
-- column: failures bigint -- failed attempts
-- column: failure_rate double -- failures / attempts (0..1, 4 decimals)
SELECT
    payment_method,
    count(*) AS attempts,
    count(*) FILTER (WHERE outcome = 'failure') AS failures,
    round(CAST(count(*) FILTER (WHERE outcome = 'failure') AS DOUBLE) / count(*), 4) AS failure_rate
FROM order_attempts
WHERE ts >= $start AND ts < $end
GROUP BY payment_method
ORDER BY failures DESC, payment_method
