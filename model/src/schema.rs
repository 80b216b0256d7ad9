//! The Arrow schemas of the SQL tables `order_attempts` and `rejected_events`
//! (CONTRACT section 4). Every crate builds, writes and reads these exact
//! schemas; nothing else defines a column.
//!
//! Low-cardinality strings are `Dictionary(Int32, Utf8)`: the five vocabulary
//! columns (whose dictionary is the vocabulary itself plus any unknown values
//! seen in the batch) and the open but repetitive ones (`error_code`, `region`,
//! `locale`, `app_version`, `os`, `browser`, `network`, `currency`,
//! `kafka_topic`). Identifiers and free text stay `Utf8`. Keys are `Int32` so
//! that a hostile producer with many distinct values cannot overflow a batch's
//! dictionary.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// SQL table name of accepted events.
pub const ORDER_ATTEMPTS: &str = "order_attempts";
/// SQL table name of rejected records.
pub const REJECTED_EVENTS: &str = "rejected_events";
/// SQL table name of alert state changes.
pub const ALERTS: &str = "alerts";

/// The Arrow type of dictionary-encoded string columns.
pub fn dict_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The Arrow type of `ts` and `ingested_at`: UTC milliseconds.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Column positions in [`order_attempts_schema`], so builders and readers
/// never depend on a column's name being spelled twice.
pub mod col {
    pub const EVENT_ID: usize = 0;
    pub const TS: usize = 1;
    pub const OUTCOME: usize = 2;
    pub const CHANNEL: usize = 3;
    pub const FAILURE_CAUSE: usize = 4;
    pub const PAYMENT_METHOD: usize = 5;
    pub const STAGE: usize = 6;
    pub const ORDER_ID: usize = 7;
    pub const SESSION_ID: usize = 8;
    pub const USER_KEY: usize = 9;
    pub const ERROR_CODE: usize = 10;
    pub const ERROR_MESSAGE: usize = 11;
    pub const REGION: usize = 12;
    pub const LOCALE: usize = 13;
    pub const APP_VERSION: usize = 14;
    pub const OS: usize = 15;
    pub const BROWSER: usize = 16;
    pub const NETWORK: usize = 17;
    pub const LATENCY_MS: usize = 18;
    pub const AMOUNT_MINOR: usize = 19;
    pub const CURRENCY: usize = 20;
    pub const ATTEMPT: usize = 21;
    pub const KAFKA_TOPIC: usize = 22;
    pub const KAFKA_PARTITION: usize = 23;
    pub const KAFKA_OFFSET: usize = 24;
    pub const INGESTED_AT: usize = 25;
}

static ORDER_ATTEMPTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let dict = |name: &str, nullable| Field::new(name, dict_type(), nullable);
    Arc::new(Schema::new(vec![
        utf8("event_id", false),
        Field::new("ts", ts_type(), false),
        dict("outcome", false),
        dict("channel", false),
        dict("failure_cause", true),
        dict("payment_method", true),
        dict("stage", true),
        utf8("order_id", true),
        utf8("session_id", true),
        utf8("user_key", true),
        dict("error_code", true),
        utf8("error_message", true),
        dict("region", true),
        dict("locale", true),
        dict("app_version", true),
        dict("os", true),
        dict("browser", true),
        dict("network", true),
        Field::new("latency_ms", DataType::Int64, true),
        Field::new("amount_minor", DataType::Int64, true),
        dict("currency", true),
        Field::new("attempt", DataType::Int32, true),
        dict("kafka_topic", false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        Field::new("ingested_at", ts_type(), false),
    ]))
});

static REJECTED_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("reason", dict_type(), false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("kafka_topic", dict_type(), false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        Field::new("ingested_at", ts_type(), false),
    ]))
});

static ALERTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let f64 = |name: &str| Field::new(name, DataType::Float64, false);
    let i64 = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("slice", DataType::Utf8, false),
        Field::new("started_at", ts_type(), false),
        Field::new("resolved_at", ts_type(), true),
        i64("window_seconds"),
        i64("attempts"),
        i64("failures"),
        f64("failure_rate"),
        f64("baseline_rate"),
        f64("score"),
        Field::new("contributors", DataType::Utf8, false),
        Field::new("runbook", DataType::Utf8, false),
    ]))
});

/// Schema of the `alerts` table: one row per alert state change (CONTRACT
/// section 7). `status` is `firing` or `resolved`; `slice` (an object of
/// dimension → value) and `contributors` (a list of `{dimension, value,
/// share}`) are JSON text.
pub fn alerts_schema() -> SchemaRef {
    ALERTS_SCHEMA.clone()
}

/// Schema of the `order_attempts` table: one row per accepted event.
pub fn order_attempts_schema() -> SchemaRef {
    ORDER_ATTEMPTS_SCHEMA.clone()
}

/// Schema of the `rejected_events` table: one row per rejected record or line.
pub fn rejected_events_schema() -> SchemaRef {
    REJECTED_EVENTS_SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_constants_match_names() {
        let s = order_attempts_schema();
        let expect = [
            (col::EVENT_ID, "event_id"),
            (col::TS, "ts"),
            (col::OUTCOME, "outcome"),
            (col::CHANNEL, "channel"),
            (col::FAILURE_CAUSE, "failure_cause"),
            (col::PAYMENT_METHOD, "payment_method"),
            (col::STAGE, "stage"),
            (col::ORDER_ID, "order_id"),
            (col::SESSION_ID, "session_id"),
            (col::USER_KEY, "user_key"),
            (col::ERROR_CODE, "error_code"),
            (col::ERROR_MESSAGE, "error_message"),
            (col::REGION, "region"),
            (col::LOCALE, "locale"),
            (col::APP_VERSION, "app_version"),
            (col::OS, "os"),
            (col::BROWSER, "browser"),
            (col::NETWORK, "network"),
            (col::LATENCY_MS, "latency_ms"),
            (col::AMOUNT_MINOR, "amount_minor"),
            (col::CURRENCY, "currency"),
            (col::ATTEMPT, "attempt"),
            (col::KAFKA_TOPIC, "kafka_topic"),
            (col::KAFKA_PARTITION, "kafka_partition"),
            (col::KAFKA_OFFSET, "kafka_offset"),
            (col::INGESTED_AT, "ingested_at"),
        ];
        assert_eq!(s.fields().len(), expect.len());
        for (i, name) in expect {
            assert_eq!(s.field(i).name(), name, "column {i}");
        }
    }
}
