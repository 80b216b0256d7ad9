//! Closed vocabularies and the normalisation rule of CONTRACT section 1.
//!
//! A value outside a vocabulary is not an error: it is stored as given (after
//! [`normalise`]) and counted per [`VocabField`]. Metric labels report such a
//! value as [`OTHER`] so label cardinality stays bounded.

use std::borrow::Cow;

/// Label value used in metrics for a value outside its vocabulary.
pub const OTHER: &str = "other";

/// Normalises a vocabulary string: trimmed, lowercased, `-` and spaces become `_`.
///
/// Borrows when the input is already normal (the common case), so the hot
/// path does not allocate.
pub fn normalise(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    let already = t
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if already {
        return Cow::Borrowed(t);
    }
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '-' | ' ' => out.push('_'),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
    Cow::Owned(out)
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value of the vocabulary, in its dictionary order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (normalised) spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Looks up an already-normalised value.
            pub fn from_normalised(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// Position in [`Self::ALL`]; also the dictionary key used in Arrow.
            pub const fn index(self) -> usize { self as usize }

            /// The label value for metrics: the value itself, or [`OTHER`].
            pub fn label(s: &str) -> &str {
                match Self::from_normalised(s) { Some(v) => v.as_str(), None => OTHER }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Whether the attempt placed the order.
    Outcome { Success => "success", Failure => "failure" }
}

vocabulary! {
    /// Where the shopper checked out.
    Channel {
        Web => "web",
        MobileWeb => "mobile_web",
        IosApp => "ios_app",
        AndroidApp => "android_app",
        WechatMiniProgram => "wechat_mini_program",
    }
}

vocabulary! {
    /// Why an attempt failed (CONTRACT section 1 explains each).
    FailureCause {
        NetworkError => "network_error",
        PaymentMethodUnsupported => "payment_method_unsupported",
        PaymentDeclined => "payment_declined",
        InsufficientFunds => "insufficient_funds",
        SystemMaintenance => "system_maintenance",
        AccountInfoInvalid => "account_info_invalid",
        BrowserSettings => "browser_settings",
        ClientOutdated => "client_outdated",
        RiskRejected => "risk_rejected",
        InventoryUnavailable => "inventory_unavailable",
        ServiceError => "service_error",
        Unknown => "unknown",
    }
}

vocabulary! {
    /// How the shopper paid.
    PaymentMethod {
        CreditCard => "credit_card",
        DebitCard => "debit_card",
        Alipay => "alipay",
        WechatPay => "wechat_pay",
        UnionPay => "union_pay",
        ApplePay => "apple_pay",
        BankTransfer => "bank_transfer",
        Balance => "balance",
    }
}

vocabulary! {
    /// The checkout step the attempt reached.
    Stage {
        Cart => "cart",
        Checkout => "checkout",
        Payment => "payment",
        Confirmation => "confirmation",
    }
}

/// A field whose values come from a vocabulary; the label of
/// `orderpulse_ingest_unknown_values_total{field}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VocabField {
    Channel,
    FailureCause,
    PaymentMethod,
    Stage,
}

impl VocabField {
    /// Every vocabulary field, in a fixed order.
    pub const ALL: [VocabField; 4] = [
        VocabField::Channel,
        VocabField::FailureCause,
        VocabField::PaymentMethod,
        VocabField::Stage,
    ];

    /// The field name as it appears in events and SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            VocabField::Channel => "channel",
            VocabField::FailureCause => "failure_cause",
            VocabField::PaymentMethod => "payment_method",
            VocabField::Stage => "stage",
        }
    }

    /// The vocabulary, in dictionary order.
    pub fn values(self) -> Vec<&'static str> {
        match self {
            VocabField::Channel => Channel::ALL.iter().map(|v| v.as_str()).collect(),
            VocabField::FailureCause => FailureCause::ALL.iter().map(|v| v.as_str()).collect(),
            VocabField::PaymentMethod => PaymentMethod::ALL.iter().map(|v| v.as_str()).collect(),
            VocabField::Stage => Stage::ALL.iter().map(|v| v.as_str()).collect(),
        }
    }

    /// Position in [`VocabField::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_trims_lowercases_and_underscores() {
        assert_eq!(normalise("web"), "web");
        assert!(matches!(normalise("web"), Cow::Borrowed(_)));
        assert_eq!(normalise("  Mobile-Web "), "mobile_web");
        assert_eq!(normalise("WeChat Mini Program"), "wechat_mini_program");
        assert_eq!(normalise("ÉCRAN"), "écran");
        assert_eq!(normalise("   "), "");
    }

    #[test]
    fn every_vocabulary_word_is_already_normal() {
        // The decoder looks a value up before normalising it, which is only
        // right because normalising a word of a vocabulary leaves it as is.
        for f in VocabField::ALL {
            for w in f.values() {
                assert!(matches!(normalise(w), Cow::Borrowed(n) if n == w), "{w}");
            }
        }
        for o in Outcome::ALL {
            assert_eq!(normalise(o.as_str()), o.as_str());
        }
    }

    #[test]
    fn vocabularies_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_normalised(c.as_str()), Some(*c));
        }
        for (i, c) in FailureCause::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        assert_eq!(FailureCause::ALL.len(), 12);
        assert_eq!(PaymentMethod::ALL.len(), 8);
        assert_eq!(Channel::label("tv_app"), OTHER);
        assert_eq!(Channel::label("web"), "web");
    }
}
