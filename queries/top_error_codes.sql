-- top_error_codes: the 20 most frequent error codes of failed attempts, with
-- the cause they were reported under.
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: error_code text -- provider or app code, e.g. CARD_DECLINED_51
-- column: failure_cause text -- the cause the failures carried
-- column: failures bigint -- failed attempts with this code and cause
SELECT
    error_code,
    failure_cause,
    count(*) AS failures
FROM order_attempts
WHERE outcome = 'failure' AND error_code IS NOT NULL AND ts >= $start AND ts < $end
GROUP BY error_code, failure_cause
ORDER BY failures DESC, error_code, failure_cause
LIMIT 20
