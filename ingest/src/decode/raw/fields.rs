//! The fields of CONTRACT section 1 the scanner captures, and the key
//! lookup of the slow path (escaped or long keys).

macro_rules! fields {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// The fields of CONTRACT section 1, in a fixed order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum F { $($variant),+ }

        impl F {
            pub(crate) const COUNT: usize = [$($name),+].len();

            pub(crate) const fn name(self) -> &'static str {
                match self { $(F::$variant => $name),+ }
            }

            pub(crate) const ALL: [F; Self::COUNT] = [$(F::$variant),+];
        }
    };
}

fields! {
    EventId => "event_id",
    Ts => "ts",
    Outcome => "outcome",
    Channel => "channel",
    FailureCause => "failure_cause",
    PaymentMethod => "payment_method",
    Stage => "stage",
    OrderId => "order_id",
    SessionId => "session_id",
    UserId => "user_id",
    ErrorCode => "error_code",
    ErrorMessage => "error_message",
    Region => "region",
    Locale => "locale",
    AppVersion => "app_version",
    Os => "os",
    Browser => "browser",
    Network => "network",
    LatencyMs => "latency_ms",
    AmountMinor => "amount_minor",
    Currency => "currency",
    Attempt => "attempt",
}

impl F {
    /// The field a key names. Dispatches on (length, first byte), unique
    /// among the fields, then compares once against a constant, which the
    /// compiler turns into a few word compares.
    #[inline]
    pub(super) fn from_key(key: &str) -> Option<F> {
        let b = key.as_bytes();
        match (b.len(), *b.first()?) {
            (8, b'e') if b == b"event_id" => Some(F::EventId),
            (2, b't') if b == b"ts" => Some(F::Ts),
            (7, b'o') if b == b"outcome" => Some(F::Outcome),
            (7, b'c') if b == b"channel" => Some(F::Channel),
            (13, b'f') if b == b"failure_cause" => Some(F::FailureCause),
            (14, b'p') if b == b"payment_method" => Some(F::PaymentMethod),
            (5, b's') if b == b"stage" => Some(F::Stage),
            (8, b'o') if b == b"order_id" => Some(F::OrderId),
            (10, b's') if b == b"session_id" => Some(F::SessionId),
            (7, b'u') if b == b"user_id" => Some(F::UserId),
            (10, b'e') if b == b"error_code" => Some(F::ErrorCode),
            (13, b'e') if b == b"error_message" => Some(F::ErrorMessage),
            (6, b'r') if b == b"region" => Some(F::Region),
            (6, b'l') if b == b"locale" => Some(F::Locale),
            (11, b'a') if b == b"app_version" => Some(F::AppVersion),
            (2, b'o') if b == b"os" => Some(F::Os),
            (7, b'b') if b == b"browser" => Some(F::Browser),
            (7, b'n') if b == b"network" => Some(F::Network),
            (10, b'l') if b == b"latency_ms" => Some(F::LatencyMs),
            (12, b'a') if b == b"amount_minor" => Some(F::AmountMinor),
            (8, b'c') if b == b"currency" => Some(F::Currency),
            (7, b'a') if b == b"attempt" => Some(F::Attempt),
            _ => None,
        }
    }
}
