-- failures_by_cause: failed attempts per failure cause in a time window, with
-- each cause's share of all failures. Which causes hurt most right now?
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: failure_cause text -- the cause (CONTRACT vocabulary, or as sent)
-- column: failures bigint -- failed attempts with this cause
-- column: share double -- failures / all failures in the window (0..1, 4 decimals)
SELECT
    failure_cause,
    count(*) AS failures,
    round(CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (), 4) AS share
FROM order_attempts
WHERE outcome = 'failure' AND ts >= $start AND ts < $end
GROUP BY failure_cause
ORDER BY failures DESC, failure_cause
