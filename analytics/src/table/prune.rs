//! Date-partition pruning: the `ts` range a query's filters allow, as the
//! `date=` directories worth opening.
//!
//! Only conjuncts of the form `ts <op> literal` (either side, `ts` possibly
//! cast to another timestamp type) and `ts BETWEEN a AND b` narrow the range;
//! anything else leaves it open, which reads more files but never too few.

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

/// The dates (inclusive) a scan must read; `None` ends are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DateRange {
    pub(crate) from: Option<NaiveDate>,
    pub(crate) to: Option<NaiveDate>,
}

impl DateRange {
    pub(crate) fn contains(&self, date: NaiveDate) -> bool {
        self.from.is_none_or(|f| date >= f) && self.to.is_none_or(|t| date <= t)
    }
}

/// The event dates the filters on column `column` allow.
pub(crate) fn date_range(filters: &[Expr], column: &str) -> DateRange {
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
    DateRange {
        from: lo.and_then(day),
        to: hi.and_then(day),
    }
}

/// The `(lower, upper)` bound in ms one conjunct puts on `column`.
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
            let Some(ms) = value else {
                return (None, None);
            };
            match op {
                Operator::Eq => (Some(ms), Some(ms)),
                Operator::Gt | Operator::GtEq => (Some(ms), None),
                Operator::Lt | Operator::LtEq => (None, Some(ms)),
                _ => (None, None),
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_column(expr, column) => (literal_ms(low), literal_ms(high)),
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

/// A timestamp literal in epoch milliseconds (floored).
fn literal_ms(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1000),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v.div_euclid(1000)),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000_000)),
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
                to: Some(d(12))
            }
        );
        let between = [col("ts").between(ts(3 * DAY), ts(4 * DAY - 1))];
        let r = date_range(&between, "ts");
        assert!(r.contains(d(3)) && !r.contains(d(4)) && !r.contains(d(2)));
        let and = [col("ts").gt(ts(DAY)).and(col("ts").lt(ts(2 * DAY)))];
        assert_eq!(date_range(&and, "ts").from, Some(d(1)));
        assert_eq!(date_range(&and, "ts").to, Some(d(2)));
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
