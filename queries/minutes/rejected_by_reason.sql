-- rejected_by_reason, counted from rejected_events_minutes: the window's whole
-- minutes ($whole_start to $whole_end) from the per-minute counts, the
-- part-minutes at its ends from rejected_events. Same rows as
-- ../rejected_by_reason.sql.
WITH counted AS (
    SELECT reason, records, first_seen, last_seen
    FROM rejected_events_minutes
    WHERE minute >= $whole_start AND minute < $whole_end
    UNION ALL
    SELECT reason, 1, ingested_at AS first_seen, ingested_at AS last_seen FROM rejected_events
    WHERE ingested_at >= $start AND ingested_at < $whole_start
    UNION ALL
    SELECT reason, 1, ingested_at AS first_seen, ingested_at AS last_seen FROM rejected_events
    WHERE ingested_at >= $whole_end AND ingested_at < $end
)
SELECT
    reason,
    sum(records) AS records,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM counted
GROUP BY reason
ORDER BY records DESC, reason
