//! Where a partition must resume, and how far back the worker fetches to get
//! there.

/// Where a partition must resume, and how far back we fetch to get there.
///
/// Some brokers answer a fetch from an offset inside a record batch with the
/// *next* batch (tansu 0.6 does), which would silently skip the rest of the
/// batch. So the first record after an assignment must be the resume offset:
/// when it comes later, the worker seeks further back (doubling the step) and
/// drops records below the resume offset until it arrives. Only when even a
/// fetch from before it skips it is the gap real (a deleted or compacted
/// offset), and it is accepted (the ledger reports it).
#[derive(Debug, Clone, Copy)]
pub(super) struct Resume {
    pub(super) target: i64,
    step: i64,
    /// A record below the target has been seen: the fetch started early enough.
    reached_before: bool,
}

/// What to do with a record of a resuming partition.
pub(super) enum Verdict {
    Take,
    Drop,
    SeekBack(i64),
}

impl Resume {
    pub(super) fn new(target: i64) -> Self {
        Self {
            target,
            step: 64,
            reached_before: target == 0,
        }
    }

    pub(super) fn judge(&mut self, offset: i64) -> Verdict {
        if offset < self.target {
            self.reached_before = true;
            return Verdict::Drop;
        }
        if offset == self.target || self.reached_before {
            return Verdict::Take;
        }
        let back = (self.target - self.step).max(0);
        self.step = self.step.saturating_mul(2);
        if back == 0 {
            self.reached_before = true;
        }
        Verdict::SeekBack(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verdicts as the worker applies them: once taken, resuming is over.
    fn verdicts(target: i64, offsets: &[i64]) -> Vec<String> {
        let mut r = Some(Resume::new(target));
        offsets
            .iter()
            .map(
                |&o| match r.as_mut().map_or(Verdict::Take, |r| r.judge(o)) {
                    Verdict::Take => {
                        r = None;
                        "take".to_string()
                    }
                    Verdict::Drop => "drop".to_string(),
                    Verdict::SeekBack(to) => format!("seek {to}"),
                },
            )
            .collect()
    }

    #[test]
    fn resume_takes_the_target_and_seeks_back_when_the_broker_skips_it() {
        assert_eq!(verdicts(100, &[100, 101]), ["take", "take"]);
        // The broker answered with the next batch: go back 64, then 128...
        assert_eq!(
            verdicts(1000, &[1020, 1020, 950, 999, 1000]),
            ["seek 936", "seek 872", "drop", "drop", "take"]
        );
        // Even from before the target the broker skips it: a real gap.
        assert_eq!(
            verdicts(1000, &[1020, 990, 1005]),
            ["seek 936", "drop", "take"]
        );
        // Near the start, going back reaches offset 0 and then takes.
        assert_eq!(verdicts(10, &[30, 30]), ["seek 0", "take"]);
        assert_eq!(verdicts(0, &[5]), ["take"]);
    }
}
