//! The key range a query's filters allow: what the scan reads.

use std::ops::Bound;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, expr::InList, expr::Like};
use strata::{Bytes, KeyRange};

/// The bounds of a range under construction.
type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The narrowest key range that every row passing `filters` lies in (all keys when none of
/// them constrains `key`).
#[must_use]
pub fn key_range(filters: &[Expr]) -> KeyRange {
    let mut range: Bounds = (Bound::Unbounded, Bound::Unbounded);
    for f in filters {
        if let Some(r) = key_range_of(f) {
            range = intersect(range, r);
        }
    }
    let own = |b: Bound<Vec<u8>>| b.map(Bytes::from);
    KeyRange::new(own(range.0), own(range.1))
}

/// Whether `e` is the `key` column (possibly cast, as a comparison with a string literal
/// makes it).
fn is_key(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == "key",
        Expr::Cast(c) => is_key(&c.expr),
        Expr::TryCast(c) => is_key(&c.expr),
        _ => false,
    }
}

/// The bytes of a binary or string literal.
fn literal(e: &Expr) -> Option<Vec<u8>> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b))
        | ScalarValue::FixedSizeBinary(_, Some(b)) => Some(b.clone()),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Some(s.as_bytes().to_vec())
        }
        _ => None,
    }
}

/// The range one filter allows, when it is a predicate on `key` this crate understands.
pub(crate) fn key_range_of(e: &Expr) -> Option<Bounds> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                return match (key_range_of(left), key_range_of(right)) {
                    (Some(a), Some(b)) => Some(intersect(a, b)),
                    (one, other) => one.or(other),
                };
            }
            let (op, lit) = if is_key(left) {
                (*op, literal(right)?)
            } else if is_key(right) {
                (op.swap()?, literal(left)?)
            } else {
                return None;
            };
            match op {
                Operator::Eq => Some((Bound::Included(lit.clone()), Bound::Included(lit))),
                Operator::Lt => Some((Bound::Unbounded, Bound::Excluded(lit))),
                Operator::LtEq => Some((Bound::Unbounded, Bound::Included(lit))),
                Operator::Gt => Some((Bound::Excluded(lit), Bound::Unbounded)),
                Operator::GtEq => Some((Bound::Included(lit), Bound::Unbounded)),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated && is_key(&b.expr) => {
            Some((Bound::Included(literal(&b.low)?), Bound::Included(literal(&b.high)?)))
        }
        Expr::InList(InList { expr, list, negated: false }) if is_key(expr) => {
            let keys: Option<Vec<Vec<u8>>> = list.iter().map(literal).collect();
            let keys = keys?;
            Some((Bound::Included(keys.iter().min()?.clone()), Bound::Included(keys.iter().max()?.clone())))
        }
        Expr::Like(Like { negated: false, expr, pattern, escape_char: None, case_insensitive: false })
            if is_key(expr) =>
        {
            let p = literal(pattern)?;
            let (last, prefix) = p.split_last()?;
            (*last == b'%' && !prefix.iter().any(|&c| c == b'%' || c == b'_')).then(|| prefix_bounds(prefix))
        }
        Expr::ScalarFunction(f) if f.name() == "starts_with" && f.args.len() == 2 && is_key(&f.args[0]) => {
            Some(prefix_bounds(&literal(&f.args[1])?))
        }
        _ => None,
    }
}

fn prefix_bounds(prefix: &[u8]) -> Bounds {
    let end = match strata::KeyRange::prefix(prefix).end() {
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        _ => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), end)
}

/// The tighter of two lower bounds and of two upper bounds.
fn intersect(a: Bounds, b: Bounds) -> Bounds {
    let lower = |x: Bound<Vec<u8>>, y: Bound<Vec<u8>>| match (&x, &y) {
        (Bound::Unbounded, _) => y,
        (_, Bound::Unbounded) => x,
        (Bound::Included(p) | Bound::Excluded(p), Bound::Included(q) | Bound::Excluded(q)) => {
            if p > q || (p == q && matches!(x, Bound::Excluded(_))) { x } else { y }
        }
    };
    let upper = |x: Bound<Vec<u8>>, y: Bound<Vec<u8>>| match (&x, &y) {
        (Bound::Unbounded, _) => y,
        (_, Bound::Unbounded) => x,
        (Bound::Included(p) | Bound::Excluded(p), Bound::Included(q) | Bound::Excluded(q)) => {
            if p < q || (p == q && matches!(x, Bound::Excluded(_))) { x } else { y }
        }
    };
    (lower(a.0, b.0), upper(a.1, b.1))
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    fn range(filters: &[Expr]) -> KeyRange {
        key_range(filters)
    }

    #[test]
    fn comparisons_between_in_and_prefixes_narrow_the_range() {
        assert_eq!(range(&[col("key").eq(lit("m"))]), KeyRange::from_range("m"..="m"));
        assert_eq!(range(&[col("key").gt_eq(lit("b")), col("key").lt(lit("d"))]), KeyRange::from_range("b".."d"));
        assert_eq!(range(&[lit("d").gt(col("key"))]), KeyRange::from_range(.."d"), "a literal on the left");
        assert_eq!(range(&[col("key").between(lit("b"), lit("c"))]), KeyRange::from_range("b"..="c"));
        assert_eq!(
            range(&[col("key").in_list(vec![lit("q"), lit("c"), lit("k")], false)]),
            KeyRange::from_range("c"..="q")
        );
        assert_eq!(range(&[col("key").like(lit("us%"))]), KeyRange::prefix(b"us"));
        assert_eq!(range(&[col("key").like(lit("u_s%"))]), KeyRange::all(), "a wildcard inside is not a prefix");
        assert_eq!(range(&[col("value").eq(lit("x"))]), KeyRange::all());
        assert_eq!(
            range(&[col("key").gt(lit("b")), col("key").gt_eq(lit("b"))]),
            KeyRange::new(Bound::Excluded("b".into()), Bound::Unbounded),
            "the tighter bound wins"
        );
        assert!(range(&[col("key").lt(lit("b")), col("key").gt(lit("c"))]).is_empty());
    }
}
