-- retry_recovery_rate, with the failed orders taken from order_attempts_failures
-- (the failed attempts that name an order, as rows) instead of a scan of every
-- attempt's outcome and order_id: exact for any window, whole minutes or not.
-- Same rows as ../retry_recovery_rate.sql.
WITH failed AS (
    SELECT DISTINCT order_id
    FROM order_attempts_failures
    WHERE ts >= $start AND ts < $end
),
orders AS (
    SELECT
        a.order_id,
        first_value(CAST(a.channel AS VARCHAR) ORDER BY a.ts, a.event_id) AS channel,
        bool_or(a.outcome = 'success') AS succeeded,
        count(*) AS attempts
    FROM order_attempts a
    JOIN failed f ON a.order_id = f.order_id
    WHERE a.ts >= $start AND a.ts < $end
    GROUP BY a.order_id
)
SELECT
    channel,
    count(*) AS failed_orders,
    count(*) FILTER (WHERE succeeded) AS recovered_orders,
    round(CAST(count(*) FILTER (WHERE succeeded) AS DOUBLE) / count(*), 4) AS recovery_rate,
    round(avg(attempts), 2) AS avg_attempts
FROM orders
GROUP BY channel
ORDER BY failed_orders DESC, channel
