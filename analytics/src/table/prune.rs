//! Date-partition pruning: the `ts` range a query's filters allow, as the
//! `date=` directories worth opening.
//!
//! Only conjuncts of the form `ts <op> literal` (either side, `ts` possibly
//! cast to another timestamp type) and `ts BETWEEN a AND b` narrow the range;
//! anything else leaves it open, which reads more files but never too few.
//! The column holds whole milliseconds, so `ts < '…T00:00:00Z'` does not
//! reach into that day, and a range that holds no millisecond (`ts >= x AND
//! ts < x`) holds no date.

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

/// The dates (inclusive) a scan must read; `None` ends are open; `from`
/// after `to` holds none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DateRange {
    pub(crate) from: Option<NaiveDate>,
    pub(crate) to: Option<NaiveDate>,
}

impl DateRange {
    pub(crate) fn contains(&self, date: NaiveDate) -> bool {
        self.from.is_none_or(|f| date >= f) && self.to.is_none_or(|t| date <= t)
    }

    /// Holds no date: the filters allow no millisecond at all.
    pub(crate) fn is_empty(&self) -> bool {
        matches!((self.from, self.to), (Some(f), Some(t)) if f > t)
    }
}

/// The event dates the filters on column `column` allow.
pub(crate) fn date_range(filters: &[Expr], column: &str) -> DateRange {
    // Inclusive bounds in whole milliseconds.
    let (mut lo, mut hi): (Option<i64>, Option<i64>) = (None, None);
    let mut lower = |ms: i64| lo = Some(lo.map_or(ms, |l| l.max(ms)));
    let mut upper = |ms: i64| hi = Some(hi.map_or(ms, |h| h.min(ms)));
    let mut bounds: Vec<(Option<i64>, Option<i64>)> = Vec::new();
    for filter in filters {
        for conjunct in split_conjunction(filter) {
            bounds.push(bound(conjunct, column));
        }
    }
    for (l, h) in bounds {
        if let Some(l) = l {
            lower(l);
        }
        if let Some(h) = h {
            upper(h);
        }
    }
    if let (Some(l), Some(h)) = (lo, hi)
        && l > h
        && let Some(d) = day(l)
    {
        return DateRange {
            from: Some(d),
            to: d.pred_opt(),
        };
    }
    DateRange {
        from: lo.and_then(day),
        to: hi.and_then(day),
    }
}

/// The inclusive `(lower, upper)` bound in whole ms one conjunct puts on
/// `column`.
fn bound(expr: &Expr, column: &str) -> (Option<i64>, Option<i64>) {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, value) = if is_column(left, column) {
                (*op, literal_ms(right))
            } else if is_column(right, column) {
                match op.swap() {
                    Some(op) => (op, literal_ms(left)),
                    None => return (None, None),
                }
            } else {
                return (None, None);
            };
            let Some((ms, exact)) = value else {
                return (None, None);
            };
            // `ms` is the literal floored: between ms and ms + 1 if inexact.
            match (op, exact) {
                (Operator::Eq, true) => (Some(ms), Some(ms)),
                (Operator::Eq, false) => (ms.checked_add(1), Some(ms)),
                (Operator::GtEq, true) => (Some(ms), None),
                (Operator::Gt, _) | (Operator::GtEq, false) => (ms.checked_add(1), None),
                (Operator::Lt, true) => (None, ms.checked_sub(1)),
                (Operator::Lt | Operator::LtEq, _) => (None, Some(ms)),
                _ => (None, None),
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_column(expr, column) => (
            literal_ms(low)
                .and_then(|(ms, exact)| if exact { Some(ms) } else { ms.checked_add(1) }),
            literal_ms(high).map(|(ms, _)| ms),
        ),
        _ => (None, None),
    }
}

/// `column`, or `column` cast to a timestamp type (order-preserving).
fn is_column(expr: &Expr, column: &str) -> bool {
    match expr {
        Expr::Column(c) => c.name == column,
        Expr::Cast(c) if matches!(c.field.data_type(), DataType::Timestamp(..)) => {
            is_column(&c.expr, column)
        }
        Expr::TryCast(c) if matches!(c.field.data_type(), DataType::Timestamp(..)) => {
            is_column(&c.expr, column)
        }
        _ => false,
    }
}

/// A timestamp literal in epoch milliseconds, floored, and whether that is
/// exact.
fn literal_ms(expr: &Expr) -> Option<(i64, bool)> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1000).map(|ms| (ms, true)),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some((*v, true)),
        ScalarValue::TimestampMicrosecond(Some(v), _) => {
            Some((v.div_euclid(1000), v.rem_euclid(1000) == 0))
        }
        ScalarValue::TimestampNanosecond(Some(v), _) => {
            Some((v.div_euclid(1_000_000), v.rem_euclid(1_000_000) == 0))
        }
        _ => None,
    }
}

/// The value an `column = <integer literal>` conjunct (either side) pins
/// `column` to, if any.
pub(crate) fn equal_int(filters: &[Expr], column: &str) -> Option<i64> {
    filters.iter().flat_map(split_conjunction).find_map(|e| {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = e
        else {
            return None;
        };
        let ((Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c))) =
            (left.as_ref(), right.as_ref())
        else {
            return None;
        };
        if c.name != column {
            return None;
        }
        match v {
            ScalarValue::Int64(Some(n)) => Some(*n),
            ScalarValue::Int32(Some(n)) => Some(i64::from(*n)),
            _ => None,
        }
    })
}

fn day(ms: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn ts(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(ms),
            Some("UTC".into()),
        ))
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn bounds_from_comparisons_between_and_swapped_sides() {
        let d = |n: i64| day(n * DAY).expect("day");
        let filters = [
            col("ts").gt_eq(ts(10 * DAY + 5)),
            ts(12 * DAY).gt(col("ts")),
        ];
        assert_eq!(
            date_range(&filters, "ts"),
            DateRange {
                from: Some(d(10)),
                to: Some(d(11))
            }
        );
        let between = [col("ts").between(ts(3 * DAY), ts(4 * DAY - 1))];
        let r = date_range(&between, "ts");
        assert!(r.contains(d(3)) && !r.contains(d(4)) && !r.contains(d(2)));
        let and = [col("ts").gt(ts(DAY)).and(col("ts").lt(ts(2 * DAY)))];
        assert_eq!(date_range(&and, "ts").from, Some(d(1)));
        assert_eq!(
            date_range(&and, "ts").to,
            Some(d(1)),
            "`ts < midnight` does not reach into that day"
        );
        assert_eq!(
            date_range(&[col("ts").lt_eq(ts(2 * DAY))], "ts").to,
            Some(d(2))
        );
        // A microsecond past midnight: the midnight millisecond is below it.
        let micro = lit(ScalarValue::TimestampMicrosecond(
            Some(2 * DAY * 1000 + 1),
            Some("UTC".into()),
        ));
        assert_eq!(
            date_range(&[col("ts").lt(micro.clone())], "ts").to,
            Some(d(2))
        );
        assert_eq!(date_range(&[col("ts").gt(micro)], "ts").from, Some(d(2)));
    }

    #[test]
    fn a_range_without_a_millisecond_holds_no_date() {
        let d = |n: i64| day(n * DAY).expect("day");
        for empty in [
            col("ts").gt_eq(ts(DAY + 5)).and(col("ts").lt(ts(DAY + 5))),
            col("ts").gt(ts(DAY + 5)).and(col("ts").lt_eq(ts(DAY + 5))),
            col("ts").gt(ts(DAY + 9)).and(col("ts").lt(ts(DAY + 5))),
        ] {
            let r = date_range(std::slice::from_ref(&empty), "ts");
            assert!(
                r.is_empty() && !r.contains(d(1)) && !r.contains(d(0)) && !r.contains(d(2)),
                "{empty}: {r:?}"
            );
        }
        let one = [col("ts").gt_eq(ts(DAY + 5)).and(col("ts").lt(ts(DAY + 6)))];
        assert!(date_range(&one, "ts").contains(d(1)));
        assert!(!date_range(&one, "ts").is_empty());
    }

    #[test]
    fn other_filters_leave_the_range_open() {
        let filters = [
            col("channel").eq(lit("web")),
            col("ts").not_eq(ts(DAY)),
            col("ts").gt(ts(DAY)).or(col("ts").lt(ts(0))),
            col("ingested_at").gt(ts(DAY)),
        ];
        assert_eq!(date_range(&filters, "ts"), DateRange::default());
    }

    #[test]
    fn an_integer_equality_pins_its_column() {
        let both = [col("slot_seconds")
            .eq(lit(60_i64))
            .and(col("x").eq(lit(1_i64)))];
        assert_eq!(equal_int(&both, "slot_seconds"), Some(60));
        assert_eq!(
            equal_int(&[lit(3600_i32).eq(col("slot_seconds"))], "slot_seconds"),
            Some(3600)
        );
        for open in [
            col("slot_seconds").gt(lit(60_i64)),
            col("slot_seconds")
                .eq(lit(60_i64))
                .or(col("slot_seconds").eq(lit(10_i64))),
            col("other").eq(lit(60_i64)),
            col("slot_seconds").eq(lit("60")),
        ] {
            assert_eq!(
                equal_int(std::slice::from_ref(&open), "slot_seconds"),
                None,
                "{open}"
            );
        }
    }
}
