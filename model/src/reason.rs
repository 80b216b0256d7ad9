//! Why a Kafka record (or one NDJSON line of it) could not become an event.

use std::fmt;

/// One rejection reason code (CONTRACT section 1). The string form is what
/// users see in metrics labels, dead-letter headers and `rejected_events.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    MissingField,
    WrongType,
    InvalidValue,
    InvalidTimestamp,
    TimestampOutOfRange,
    MissingFailureCause,
    FieldTooLong,
    MessageTooLarge,
}

impl Reason {
    /// Every reason, in a fixed order (used to pre-register metric labels).
    pub const ALL: [Reason; 11] = [
        Reason::InvalidUtf8,
        Reason::InvalidJson,
        Reason::NotAnObject,
        Reason::MissingField,
        Reason::WrongType,
        Reason::InvalidValue,
        Reason::InvalidTimestamp,
        Reason::TimestampOutOfRange,
        Reason::MissingFailureCause,
        Reason::FieldTooLong,
        Reason::MessageTooLarge,
    ];

    /// The reason code as written in CONTRACT section 1.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::NotAnObject => "not_an_object",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::InvalidValue => "invalid_value",
            Reason::InvalidTimestamp => "invalid_timestamp",
            Reason::TimestampOutOfRange => "timestamp_out_of_range",
            Reason::MissingFailureCause => "missing_failure_cause",
            Reason::FieldTooLong => "field_too_long",
            Reason::MessageTooLarge => "message_too_large",
        }
    }

    /// Position in [`Reason::ALL`], for array-indexed counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Parses a reason code.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_index_matches_position() {
        for (i, r) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("nope"), None);
    }
}
