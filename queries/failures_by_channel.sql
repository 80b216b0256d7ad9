-- failures_by_channel: attempts, failures and failure rate per channel in a time
-- window, most failures first.
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: channel text -- the channel (NULL when events did not say)
-- column: attempts bigint -- all attempts
-- column: failures bigint -- failed attempts
-- column: failure_rate double -- failures / attempts (0..1, 4 decimals)
SELECT
    channel,
    count(*) AS attempts,
    count(*) FILTER (WHERE outcome = 'failure') AS failures,
    round(CAST(count(*) FILTER (WHERE outcome = 'failure') AS DOUBLE) / count(*), 4) AS failure_rate
FROM order_attempts
WHERE ts >= $start AND ts < $end
GROUP BY channel
ORDER BY failures DESC, channel
