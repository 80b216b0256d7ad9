-- rejected_by_reason: records ingest rejected, per reason code, by ingest
-- time: which producers send what kind of broken data, and since when.
-- param: start timestamp = now-24h -- window start on ingested_at, inclusive (RFC 3339 or now-24h)
-- param: end timestamp = now -- window end, exclusive
-- column: reason text -- rejection reason code (CONTRACT section 1)
-- column: records bigint -- rejected records or lines
-- column: first_seen timestamp -- earliest ingested_at
-- column: last_seen timestamp -- latest ingested_at
SELECT
    reason,
    count(*) AS records,
    min(ingested_at) AS first_seen,
    max(ingested_at) AS last_seen
FROM rejected_events
WHERE ingested_at >= $start AND ingested_at < $end
GROUP BY reason
ORDER BY records DESC, reason
