-- failure_rate_by_app_version: attempts, failures and failure rate per app
-- version and channel (events that carry an app_version): spots a bad release.
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: app_version text -- the app version
-- column: channel text -- the channel
-- column: attempts bigint -- all attempts
-- column: failures bigint -- failed attempts
-- column: failure_rate double -- failures / attempts (0..1, 4 decimals)
SELECT
    app_version,
    channel,
    count(*) AS attempts,
    count(*) FILTER (WHERE outcome = 'failure') AS failures,
    round(CAST(count(*) FILTER (WHERE outcome = 'failure') AS DOUBLE) / count(*), 4) AS failure_rate
FROM order_attempts
WHERE app_version IS NOT NULL AND ts >= $start AND ts < $end
GROUP BY app_version, channel
ORDER BY failure_rate DESC, attempts DESC, app_version, channel
