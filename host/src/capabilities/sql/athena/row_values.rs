//! Rows compared as Trino compares them: field by field, so a NULL field makes the
//! comparison NULL unless another field already decides it. DataFusion compares two
//! structs as values, where NULL equals NULL, so `(a.x, a.y) = (b.x, b.y)` would join
//! rows on NULL keys. Rewritten on the syntax tree, where a row is spelled `(a, b)`
//! or `ROW(a, b)`: `=` becomes an AND of the fields' `=`, `<>` its negation, and
//! `IN (rows...)` an OR of such equalities. Struct columns compared whole are not
//! rewritten (their fields are not spelled out).

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, UnaryOperator};

use super::rewrite::plain_args;

/// The fields of a row constructor, or `None` when `expr` is not one.
fn fields(expr: &Expr) -> Option<Vec<Expr>> {
    match expr {
        Expr::Tuple(items) => Some(items.clone()),
        Expr::Nested(inner) => fields(inner),
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("row") && f.over.is_none() && f.filter.is_none() => plain_args(f),
        _ => None,
    }
}

/// `l1 = r1 AND l2 = r2 ...` for two rows of the same width.
fn equal(left: &Expr, right: &Expr) -> Option<Expr> {
    let (left, right) = (fields(left)?, fields(right)?);
    if left.len() != right.len() || left.is_empty() {
        return None;
    }
    let pairs = left.into_iter().zip(right).map(|(l, r)| Expr::Nested(Box::new(Expr::BinaryOp { left: Box::new(l), op: BinaryOperator::Eq, right: Box::new(r) })));
    pairs.reduce(|all, next| Expr::BinaryOp { left: Box::new(all), op: BinaryOperator::And, right: Box::new(next) }).map(|e| Expr::Nested(Box::new(e)))
}

fn not(expr: Expr) -> Expr {
    Expr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(expr) }
}

/// The field-by-field form of a row comparison or a row `IN` list; `None` for anything else.
pub fn rewrite(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => equal(left, right),
        Expr::BinaryOp { left, op: BinaryOperator::NotEq, right } => equal(left, right).map(not),
        Expr::InList { expr, list, negated } if fields(expr).is_some() => {
            let any = list
                .iter()
                .map(|row| equal(expr, row))
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .reduce(|all, next| Expr::BinaryOp { left: Box::new(all), op: BinaryOperator::Or, right: Box::new(next) })?;
            let any = Expr::Nested(Box::new(any));
            Some(if *negated { not(any) } else { any })
        }
        _ => None,
    }
}
