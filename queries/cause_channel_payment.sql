-- cause_channel_payment: failures broken down three ways (failure cause x
-- channel x payment method), with each combination's share of all failures.
-- Finds the slice behind a spike, e.g. payment_declined on alipay in the app.
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: failure_cause text -- the cause
-- column: channel text -- the channel
-- column: payment_method text -- the payment method (NULL when not sent)
-- column: failures bigint -- failed attempts in this combination
-- column: share double -- failures / all failures in the window (0..1, 4 decimals)
SELECT
    failure_cause,
    channel,
    payment_method,
    count(*) AS failures,
    round(CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (), 4) AS share
FROM order_attempts
WHERE outcome = 'failure' AND ts >= $start AND ts < $end
GROUP BY failure_cause, channel, payment_method
ORDER BY failures DESC, failure_cause, channel, payment_method
