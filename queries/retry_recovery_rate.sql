-- retry_recovery_rate: of the orders that had a failed attempt in the window,
-- how many still succeeded (a retry recovered them), per channel of the
-- order's first attempt.
-- param: start timestamp = now-24h -- window start, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: channel text -- channel of the order's first attempt in the window
-- column: failed_orders bigint -- orders with at least one failed attempt
-- column: recovered_orders bigint -- of those, orders with a successful attempt
-- column: recovery_rate double -- recovered_orders / failed_orders (0..1, 4 decimals)
-- column: avg_attempts double -- mean attempts per failed order (2 decimals)
WITH failed AS (
    -- The orders with a failure first, then only their attempts grouped:
    -- ordering every order's attempts to find its first channel would hold
    -- all of the window's orders in memory.
    SELECT DISTINCT order_id
    FROM order_attempts
    WHERE outcome = 'failure' AND order_id IS NOT NULL AND ts >= $start AND ts < $end
),
orders AS (
    SELECT
        a.order_id,
        -- As text: DataFusion keeps first_value per group in one column
        -- for text (a dictionary column takes a slow path, ~1.3x the time).
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
