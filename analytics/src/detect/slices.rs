//! Slices: the dimensions an alert can name, their interned values, and the
//! keys of single-dimension slices and pairs.

use std::collections::{BTreeMap, HashMap};

/// A dimension of a slice, in the order keys store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    FailureCause = 0,
    Channel = 1,
    PaymentMethod = 2,
    /// Bad releases break one version of the apps.
    AppVersion = 3,
}

/// Dimensions a slice can have.
const DIMS: usize = 4;

impl Dim {
    pub const ALL: [Dim; DIMS] = [
        Dim::FailureCause,
        Dim::Channel,
        Dim::PaymentMethod,
        Dim::AppVersion,
    ];

    /// The column (and alert label) name.
    pub fn name(self) -> &'static str {
        match self {
            Dim::FailureCause => "failure_cause",
            Dim::Channel => "channel",
            Dim::PaymentMethod => "payment_method",
            Dim::AppVersion => "app_version",
        }
    }

    pub fn from_name(name: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.name() == name)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// An interned value of one dimension.
pub type ValueId = u16;

/// One attempt's values the detector slices by (normalised spelling, as
/// stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempt<'a> {
    pub channel: &'a str,
    pub payment_method: Option<&'a str>,
    /// Apps only (web has none).
    pub app_version: Option<&'a str>,
    /// Set exactly for failures.
    pub failure_cause: Option<&'a str>,
}

/// What one attempt is, at the finest grain the detector counts: its
/// channel, payment method and app version (optional in events) and
/// failure cause (none on success).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    pub channel: ValueId,
    pub method: Option<ValueId>,
    pub version: Option<ValueId>,
    pub cause: Option<ValueId>,
}

/// A slice: a value for some dimensions (indexed by [`Dim`]); none set is
/// everything. The detector alerts on one or two set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SliceKey(pub [Option<ValueId>; DIMS]);

impl SliceKey {
    pub(crate) fn get(&self, d: Dim) -> Option<ValueId> {
        self.0[d.index()]
    }

    pub(crate) fn with(mut self, d: Dim, v: ValueId) -> SliceKey {
        self.0[d.index()] = Some(v);
        self
    }

    /// Both slices' dimensions, or `None` when they disagree on one.
    pub(crate) fn union(&self, other: &SliceKey) -> Option<SliceKey> {
        let mut out = *self;
        for (o, b) in out.0.iter_mut().zip(other.0.iter()) {
            match (*o, *b) {
                (Some(x), Some(y)) if x != y => return None,
                (None, Some(y)) => *o = Some(y),
                _ => {}
            }
        }
        Some(out)
    }
}

/// Values seen per dimension, at most `cap` each; later ones become
/// `other` (as in metric labels).
#[derive(Debug, Clone)]
pub(crate) struct Interner {
    cap: usize,
    names: [Vec<String>; DIMS],
    ids: [HashMap<String, ValueId>; DIMS],
    /// Distinct values folded into `other` because of the cap.
    pub(crate) overflowed: u64,
}

pub(crate) const OTHER: &str = "other";

impl Interner {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap: cap.clamp(1, usize::from(ValueId::MAX)),
            names: Default::default(),
            ids: Default::default(),
            overflowed: 0,
        }
    }

    pub(crate) fn intern(&mut self, d: Dim, value: &str) -> ValueId {
        let i = d.index();
        if let Some(&id) = self.ids[i].get(value) {
            return id;
        }
        let name = if self.names[i].len() + 1 >= self.cap {
            self.overflowed += 1;
            if let Some(&id) = self.ids[i].get(OTHER) {
                return id;
            }
            OTHER
        } else {
            value
        };
        let id = self.names[i].len() as ValueId;
        self.names[i].push(name.to_string());
        self.ids[i].insert(name.to_string(), id);
        id
    }

    pub(crate) fn name(&self, d: Dim, id: ValueId) -> &str {
        self.names[d.index()]
            .get(usize::from(id))
            .map_or(OTHER, String::as_str)
    }

    pub(crate) fn count(&self, d: Dim) -> usize {
        self.names[d.index()].len()
    }

    /// The slice as dimension name → value.
    pub(crate) fn describe(&self, key: &SliceKey) -> BTreeMap<String, String> {
        Dim::ALL
            .into_iter()
            .filter_map(|d| {
                key.get(d)
                    .map(|v| (d.name().to_string(), self.name(d, v).to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_union_and_containment() {
        let a = SliceKey::default().with(Dim::Channel, 1);
        let b = SliceKey::default().with(Dim::PaymentMethod, 2);
        let ab = a.union(&b).unwrap();
        assert_eq!(ab.0, [None, Some(1), Some(2), None]);
        assert_eq!(ab.get(Dim::PaymentMethod), Some(2));
        assert_eq!(a.union(&SliceKey::default().with(Dim::Channel, 3)), None);
        assert_eq!(a.union(&ab), Some(ab));
    }

    #[test]
    fn the_alert_model_names_every_dimension() {
        // What an alert's slice can name (the backtest's contributor check,
        // the silences) is exactly what the detector slices by.
        let mut names: Vec<&str> = Dim::ALL.iter().map(|d| d.name()).collect();
        let mut model = model::alert::SLICE_DIMENSIONS.to_vec();
        names.sort_unstable();
        model.sort_unstable();
        assert_eq!(names, model);
        for name in model::alert::SLICE_DIMENSIONS {
            assert_eq!(Dim::from_name(name).map(Dim::name), Some(name));
        }
    }

    #[test]
    fn interner_caps_values_into_other() {
        let mut i = Interner::new(3);
        let x = i.intern(Dim::Channel, "web");
        let y = i.intern(Dim::Channel, "ios_app");
        let z = i.intern(Dim::Channel, "weird");
        assert_eq!(i.intern(Dim::Channel, "web"), x);
        assert_ne!(x, y);
        assert_eq!(i.name(Dim::Channel, z), OTHER);
        assert_eq!(i.intern(Dim::Channel, "another"), z);
        assert_eq!(i.overflowed, 2);
    }
}
