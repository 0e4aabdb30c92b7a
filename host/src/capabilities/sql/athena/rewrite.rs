//! Rewrites an Athena (Trino) query's syntax tree so DataFusion gives Trino's
//! answers. Functions whose semantics differ but whose shape matches are
//! registered under their Trino names instead (see `functions/`); what is here
//! changes the tree: casts that must round, `concat` that must return NULL,
//! aggregates DataFusion spells differently, and constructs that cannot run,
//! which fail with the construct named and a rewrite suggested.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, CastKind, CharacterLength, Cte, DataType, DateTimeField, ExactNumberInfo, Expr, Fetch, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Interval, JoinConstraint, JoinOperator, LimitClause, ObjectName, ObjectNamePart,
    Query, Select, SelectItem, SetExpr, SetOperator, SetQuantifier, TableAlias, TableFactor, TableSampleKind, TableSampleMethod,
    TableSampleUnit, TableWithJoins, TimezoneInfo, TrimWhereField, TypedString, UnaryOperator, Value, VisitMut, VisitorMut,
    WildcardAdditionalOptions, With, visit_relations_mut,
};

use super::functions::{
    CAST_ELEMENTS, CAST_NAMED, CAST_SIZED_TEXT, CAST_TO_BOOLEAN, CAST_TO_VARCHAR, CAST_ZONED, LIKE_PATTERN, ROUND_FOR_INTEGER_CAST,
    TRINO_SUBSTR, TRINO_TRIM, like_pattern, zone_name,
};
use super::statement::parser;

/// The output columns of a query, each as its qualifier's parts (none for an unqualified one) and its name;
/// `None` when the query cannot be planned. The rewrite needs them to expand a `*` next to other select items.
pub type ColumnsOf<'a> = &'a dyn Fn(&Query) -> Option<Vec<(Vec<String>, String)>>;

/// Rewrites `query` in place; the error names the unsupported construct.
pub fn rewrite_query(query: &mut Query) -> Result<(), String> {
    rewrite_query_with(query, &|_| None, false)
}

/// [`rewrite_query`], expanding a `*` beside other select items into the columns `columns_of` gives.
/// With `unique_names` (a CTAS), a name the result would give twice fails, as Trino fails such a table,
/// instead of being numbered.
pub fn rewrite_query_with(query: &mut Query, columns_of: ColumnsOf, unique_names: bool) -> Result<(), String> {
    rewrite_probe(query, columns_of, unique_names, 0)
}

/// Probes (the queries planned to expand a star) nest when a CTE's star needs another's; past this depth a
/// star stays as written (a CTE reading a table of its own name would otherwise probe itself forever).
const MAX_PROBE_DEPTH: usize = 8;

fn rewrite_probe(query: &mut Query, columns_of: ColumnsOf, unique_names: bool, probe_depth: usize) -> Result<(), String> {
    if let ControlFlow::Break(message) = query.visit(&mut ExceptAll) {
        return Err(message);
    }
    if let ControlFlow::Break(message) = query.visit(&mut TableSamples) {
        return Err(message);
    }
    if let ControlFlow::Break(message) = query.visit(&mut UnnestJoins) {
        return Err(message);
    }
    if let ControlFlow::Break(message) = query.visit(&mut SelectListExists) {
        return Err(message);
    }
    match query.visit(&mut TrinoSemantics { columns_of, unique_names, probe_depth, enclosing: Vec::new() }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(message) => Err(message),
    }
}

/// `EXISTS (subquery)` and `x IN (subquery)` in the select list, which DataFusion plans but cannot run
/// ("Physical plan does not support logical expression Exists"), become counts ([`in_as_counts`]); EXISTS:
/// `(SELECT count(*) > 0 FROM <from> WHERE <where>)` when the subquery is a plain
/// filter (correlated or not: DataFusion decorrelates a counting subquery), else
/// `(SELECT count(*) > 0 FROM (<subquery>) AS _exists)` when it names no outer table.
/// `NOT EXISTS` compares with `= 0`. EXISTS in WHERE is left to DataFusion, which runs it.
struct SelectListExists;

impl VisitorMut for SelectListExists {
    type Break = String;

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<String> {
        for item in &mut select.projection {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
            let mut counts = ExistsToCount { depth: 0 };
            if let ControlFlow::Break(message) = expr.visit(&mut counts) {
                return ControlFlow::Break(message);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites the EXISTS of one expression, not those of subqueries inside it (each
/// subquery's own select list is visited by [`SelectListExists`]).
struct ExistsToCount {
    depth: usize,
}

impl VisitorMut for ExistsToCount {
    type Break = String;

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<String> {
        self.depth += 1;
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<String> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<String> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let replacement = match expr {
            Expr::Exists { subquery, negated } => exists_as_count(subquery, *negated),
            Expr::InSubquery { expr: value, subquery, negated } => in_as_counts(value, subquery, *negated),
            _ => return ControlFlow::Continue(()),
        };
        match replacement {
            Ok(replacement) => {
                *expr = replacement;
                ControlFlow::Continue(())
            }
            Err(message) => ControlFlow::Break(message),
        }
    }
}

/// `x IN (subquery)` with Trino's three values, from counts DataFusion can run in the select list: true when a row
/// equals x; else NULL when x is NULL (and there are rows) or a row is NULL; else false. `NOT IN` negates it.
fn in_as_counts(value: &Expr, subquery: &Query, negated: bool) -> Result<Expr, String> {
    if names_an_outer_table(subquery) {
        return Err(format!(
            "x {}IN (correlated subquery) is not supported locally outside WHERE: LEFT JOIN the subquery's distinct values \
             and test them IS NOT NULL, or move the test to WHERE",
            if negated { "NOT " } else { "" }
        ));
    }
    let rows = format!("FROM ({subquery}) AS _in(_value)");
    let test = format!(
        "CASE WHEN (SELECT count(*) {rows} WHERE _in._value = ({value})) > 0 THEN TRUE \
         WHEN ({value}) IS NULL AND (SELECT count(*) {rows}) > 0 THEN NULL \
         WHEN (SELECT count(*) {rows} WHERE _in._value IS NULL) > 0 THEN NULL ELSE FALSE END"
    );
    parse_expr(&if negated { format!("(NOT {test})") } else { format!("({test})") })
}

fn exists_as_count(subquery: &Query, negated: bool) -> Result<Expr, String> {
    let test = if negated { "= 0" } else { "> 0" };
    let plain = match subquery.body.as_ref() {
        SetExpr::Select(select)
            if subquery.with.is_none()
                && subquery.limit_clause.is_none()
                && subquery.fetch.is_none()
                && select.distinct.is_none()
                && select.having.is_none()
                && !select.from.is_empty()
                && matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
                && !select.projection.iter().any(calls_a_function) =>
        {
            Some(select)
        }
        _ => None,
    };
    let sql = match plain {
        Some(select) => {
            let from: Vec<String> = select.from.iter().map(|f| f.to_string()).collect();
            let filter = select.selection.as_ref().map(|w| format!(" WHERE {w}")).unwrap_or_default();
            format!("(SELECT count(*) {test} FROM {}{filter})", from.join(", "))
        }
        None if names_an_outer_table(subquery) => {
            return Err(format!(
                "{}EXISTS over a correlated subquery with GROUP BY, HAVING, DISTINCT, LIMIT or an aggregate is not supported \
                 locally outside WHERE: LEFT JOIN the subquery grouped by the join key and test the key IS NOT NULL, \
                 or move the test to WHERE",
                if negated { "NOT " } else { "" }
            ));
        }
        None => format!("(SELECT count(*) {test} FROM ({subquery}) AS _exists)"),
    };
    parse_expr(&sql)
}

fn calls_a_function(item: &SelectItem) -> bool {
    struct Calls;
    impl VisitorMut for Calls {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if matches!(expr, Expr::Function(_)) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
    }
    item.clone().visit(&mut Calls).is_break()
}

/// Whether a qualified name in the subquery (`o.id`) names a table the subquery does not read.
fn names_an_outer_table(subquery: &Query) -> bool {
    #[derive(Default)]
    struct Names {
        tables: Vec<String>,
        qualifiers: Vec<String>,
    }
    impl VisitorMut for Names {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(ObjectNamePart::Identifier(ident)) = name.0.last() {
                        self.tables.push(ident.value.clone());
                    }
                    self.tables.extend(alias.iter().map(|a| a.name.value.clone()));
                }
                other => {
                    if let TableFactor::Derived { alias: Some(a), .. } | TableFactor::UNNEST { alias: Some(a), .. } = other {
                        self.tables.push(a.name.value.clone());
                    }
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(idents) = expr
                && idents.len() >= 2
            {
                self.qualifiers.push(idents[idents.len() - 2].value.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names::default();
    let _ = subquery.clone().visit(&mut names);
    names.qualifiers.iter().any(|q| !names.tables.contains(q))
}

/// `EXCEPT ALL` takes away one left row per matching right row in Trino; DataFusion
/// takes away every copy, a silently smaller answer, so it is refused.
struct ExceptAll;

impl VisitorMut for ExceptAll {
    type Break = String;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        fn has_except_all(body: &SetExpr) -> bool {
            match body {
                SetExpr::SetOperation { op: SetOperator::Except, set_quantifier: SetQuantifier::All, .. } => true,
                SetExpr::SetOperation { left, right, .. } => has_except_all(left) || has_except_all(right),
                _ => false,
            }
        }
        if has_except_all(&query.body) {
            return ControlFlow::Break(
                "EXCEPT ALL is not supported locally (it would drop every copy of a matched row): number the copies on both \
                 sides, e.g. SELECT x FROM (SELECT x, row_number() OVER (PARTITION BY x) AS n FROM a EXCEPT SELECT x, \
                 row_number() OVER (PARTITION BY x) AS n FROM b)"
                    .into(),
            );
        }
        ControlFlow::Continue(())
    }
}

/// `FROM t [AS a] TABLESAMPLE BERNOULLI (p)`, which DataFusion ignores, becomes
/// `FROM (SELECT * FROM t WHERE random() < (p) / 100e0) AS a`: each row kept with
/// probability p%. SYSTEM (Trino samples whole splits) is sampled the same way.
struct TableSamples;

impl VisitorMut for TableSamples {
    type Break = String;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<String> {
        match sample_table(factor) {
            Ok(Some(replacement)) => {
                *factor = replacement;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(message) => ControlFlow::Break(message),
        }
    }
}

fn sample_table(factor: &TableFactor) -> Result<Option<TableFactor>, String> {
    let TableFactor::Table { name, alias, sample: Some(kind), .. } = factor else { return Ok(None) };
    let (TableSampleKind::BeforeTableAlias(sample) | TableSampleKind::AfterTableAlias(sample)) = kind;
    let rewrite = format!("filter the rows yourself, e.g. FROM {name} WHERE random() < 0.1 for a 10% sample");
    let percentage = match (&sample.name, &sample.quantity) {
        (Some(TableSampleMethod::Bernoulli | TableSampleMethod::System), Some(quantity))
            if matches!(quantity.unit, None | Some(TableSampleUnit::Percent))
                && sample.seed.is_none()
                && sample.bucket.is_none()
                && sample.offset.is_none() =>
        {
            &quantity.value
        }
        _ => return Err(format!("TABLESAMPLE is supported locally as BERNOULLI (percentage) or SYSTEM (percentage) only, not '{sample}': {rewrite}")),
    };
    if let Expr::Value(v) = percentage
        && let Value::Number(n, _) = &v.value
        && !n.parse::<f64>().is_ok_and(|p| (0.0..=100.0).contains(&p))
    {
        return Err(format!("TABLESAMPLE percentage must be between 0 and 100, got {n}"));
    }
    let alias = match alias {
        Some(alias) => TableAlias { explicit: false, ..alias.clone() }.to_string(),
        None => match name.0.last() {
            Some(ObjectNamePart::Identifier(ident)) => Ident::with_quote('"', &ident.value).to_string(),
            _ => return Err(format!("TABLESAMPLE on {name}: {rewrite}")),
        },
    };
    let sampled = format!("SELECT * FROM (SELECT * FROM {name} WHERE random() < ({percentage}) / 100e0) AS {alias}");
    let mut parsed = parser(&sampled)?.parse_query().map_err(|e| format!("internal rewrite of TABLESAMPLE: {e}"))?;
    let SetExpr::Select(select) = parsed.body.as_mut() else { unreachable!("a SELECT was parsed") };
    Ok(Some(select.from.remove(0).relation))
}

/// `FROM t CROSS JOIN UNNEST(t.items) AS u(x)`, which DataFusion rejects, becomes
/// `FROM (SELECT t.*, unnest(t.items) AS x FROM t) AS t`, and `u.x` becomes `t.x`.
/// `LEFT JOIN UNNEST(t.items) AS u(x) ON TRUE` likewise, an empty or NULL array
/// unnesting to one NULL element (`ARRAY[NULL]`) so that its row stays.
struct UnnestJoins;

impl VisitorMut for UnnestJoins {
    type Break = String;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        match lift_unnest_joins(query) {
            Ok(()) => ControlFlow::Continue(()),
            Err(message) => ControlFlow::Break(message),
        }
    }
}

fn lift_unnest_joins(query: &mut Query) -> Result<(), String> {
    let SetExpr::Select(select) = query.body.as_mut() else { return Ok(()) };
    let mut renames = Vec::new();
    for from in &mut select.from {
        let Some(first) = from.joins.first() else { continue };
        let TableFactor::UNNEST { alias, array_exprs, with_offset, with_ordinality, .. } = &first.relation else {
            continue;
        };
        // Trino's LEFT JOIN UNNEST(...) ON TRUE keeps a row whose array is empty or NULL, with NULL elements.
        let left = match &first.join_operator {
            JoinOperator::CrossJoin(_) => false,
            JoinOperator::Left(constraint) | JoinOperator::LeftOuter(constraint) => match constraint {
                JoinConstraint::On(Expr::Value(v)) if v.value == Value::Boolean(true) => true,
                _ => {
                    return Err("LEFT JOIN UNNEST is supported with ON TRUE only (as in Trino): filter the unnested rows in WHERE, \
                                or unnest in a subquery and join that"
                        .into());
                }
            },
            _ => continue,
        };
        if *with_offset || *with_ordinality {
            return Err("UNNEST ... WITH ORDINALITY is not supported locally: number the elements with row_number() OVER (PARTITION BY ...) after unnesting".into());
        }
        let Some(alias) = alias.as_ref().filter(|a| a.columns.len() == array_exprs.len()) else {
            return Err("CROSS JOIN UNNEST needs an alias naming one column per array, e.g. UNNEST(t.items) AS u(item); unnesting a map is not supported locally".into());
        };
        let outer = match &from.relation {
            TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => a.name.value.clone(),
            TableFactor::Table { name, alias: None, .. } => match name.0.last() {
                Some(ObjectNamePart::Identifier(ident)) => ident.value.clone(),
                _ => continue,
            },
            _ => continue,
        };
        let items: Vec<String> = array_exprs
            .iter()
            .zip(&alias.columns)
            .map(|(e, c)| match left {
                // An empty or NULL array unnests to one NULL element, so its row is kept.
                true => format!("unnest(CASE WHEN cardinality({e}) > 0 THEN {e} ELSE ARRAY[NULL] END) AS {}", c.name),
                false => format!("unnest({e}) AS {}", c.name),
            })
            .collect();
        let outer_ident = Ident::with_quote('"', &outer);
        let lifted = format!("SELECT * FROM (SELECT {outer_ident}.*, {} FROM {}) AS {outer_ident}", items.join(", "), from.relation);
        let mut parsed = parser(&lifted)?.parse_query().map_err(|e| format!("internal rewrite of UNNEST: {e}"))?;
        let SetExpr::Select(lifted_select) = parsed.body.as_mut() else { unreachable!("a SELECT was parsed") };
        from.relation = lifted_select.from.remove(0).relation;
        renames.push((alias.name.value.clone(), outer));
        from.joins.remove(0);
    }
    if !renames.is_empty() {
        let _ = query.visit(&mut Requalify(renames));
    }
    Ok(())
}

/// Renames the qualifier of `u.x` references from the UNNEST alias to the table's.
struct Requalify(Vec<(String, String)>);

impl VisitorMut for Requalify {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(idents) = expr
            && idents.len() == 2
            && let Some((_, to)) = self.0.iter().find(|(from, _)| *from == idents[0].value)
        {
            idents[0] = Ident::with_quote('"', to);
        }
        ControlFlow::Continue(())
    }
}

struct TrinoSemantics<'a> {
    columns_of: ColumnsOf<'a>,
    unique_names: bool,
    probe_depth: usize,
    /// The WITH clauses of the queries being visited, outermost first, as written (not yet rewritten).
    enclosing: Vec<Option<With>>,
}

impl VisitorMut for TrinoSemantics<'_> {
    type Break = String;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        self.enclosing.push(query.with.clone());
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<String> {
        match rewrite_expr(expr) {
            Ok(Some(replacement)) => {
                *expr = replacement;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(message) => ControlFlow::Break(message),
        }
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        self.enclosing.pop();
        match fetch_as_limit(query) {
            Ok(()) => ControlFlow::Continue(()),
            Err(message) => ControlFlow::Break(message),
        }
    }

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<String> {
        if let Err(message) = self.group_by_input_columns(select) {
            return ControlFlow::Break(message);
        }
        self.expand_stars(select);
        if self.unique_names
            && self.enclosing.len() == 1
            && let Some(name) = repeated_name(&select.projection)
        {
            return ControlFlow::Break(format!("Column name '{name}' specified more than once: give each column its own alias"));
        }
        name_columns_like_trino(select);
        for from in &select.from {
            for join in &from.joins {
                if let TableFactor::UNNEST { array_exprs, .. } = &join.relation {
                    let outer = array_exprs.iter().any(|e| matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)));
                    let kind = match join.join_operator {
                        JoinOperator::CrossJoin(_) => Some("CROSS"),
                        JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => Some("LEFT"),
                        _ => None,
                    };
                    if let Some(kind) = kind.filter(|_| outer) {
                        let exprs: Vec<String> = array_exprs.iter().map(|e| e.to_string()).collect();
                        return ControlFlow::Break(format!(
                            "{kind} JOIN UNNEST({}) over a column of the outer table is not supported locally: unnest in the select list instead, e.g. SELECT t.*, u.x FROM (SELECT *, unnest({}) AS x FROM t) u",
                            exprs.join(", "),
                            exprs[0]
                        ));
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl TrinoSemantics<'_> {
    /// `SELECT *, id FROM t`: Trino counts the star's columns when it names and numbers the other items (a second
    /// `id`, `_col<n>` after the star's n columns). The star beside other items is therefore expanded into its
    /// qualified columns, planned from the same FROM under the enclosing WITH clauses; if that cannot be planned,
    /// the star stays (and DataFusion reports a duplicate name itself).
    fn expand_stars(&self, select: &mut Select) {
        let is_star = |item: &SelectItem| matches!(item, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..));
        let beside_others = select.projection.iter().any(is_star) && !select.projection.iter().all(is_star);
        if !beside_others || self.probe_depth >= MAX_PROBE_DEPTH {
            return;
        }
        let mut expanded = Vec::new();
        for item in &select.projection {
            if !is_star(item) {
                expanded.push(item.clone());
                continue;
            }
            let Some(columns) = self.columns_of_star(select, item) else { return };
            for (qualifier, name) in columns {
                let mut parts: Vec<Ident> = qualifier.iter().map(|q| Ident::with_quote('"', q)).collect();
                parts.push(Ident::with_quote('"', &name));
                let expr = if parts.len() == 1 { Expr::Identifier(parts.remove(0)) } else { Expr::CompoundIdentifier(parts) };
                expanded.push(SelectItem::UnnamedExpr(expr));
            }
        }
        select.projection = expanded;
    }

    /// `GROUP BY y` where y is only a select-list alias: Trino resolves GROUP BY names against the FROM's
    /// columns alone and fails (`Column 'y' cannot be resolved`); DataFusion groups by the aliased expression.
    fn group_by_input_columns(&self, select: &Select) -> Result<(), String> {
        let GroupByExpr::Expressions(keys, _) = &select.group_by else { return Ok(()) };
        let aliases: Vec<&str> = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.as_str()),
                _ => None,
            })
            .collect();
        let named: Vec<&str> = keys
            .iter()
            .filter_map(|key| match key {
                Expr::Identifier(ident) if aliases.contains(&ident.value.as_str()) => Some(ident.value.as_str()),
                _ => None,
            })
            .collect();
        if named.is_empty() || self.probe_depth >= MAX_PROBE_DEPTH {
            return Ok(());
        }
        let star = SelectItem::Wildcard(WildcardAdditionalOptions::default());
        let Some(columns) = self.columns_of_star(select, &star) else { return Ok(()) };
        match named.iter().find(|name| !columns.iter().any(|(_, column)| column == *name)) {
            Some(name) => Err(format!(
                "Column '{name}' cannot be resolved (Athena groups by the FROM's columns, not the select list's aliases: \
                 repeat the expression or give its position, e.g. GROUP BY 1)"
            )),
            None => Ok(()),
        }
    }

    /// The columns `star` (`*` or `t.*`) stands for in `select`, planned from the same FROM under the enclosing
    /// WITH clauses; `None` when that cannot be planned.
    fn columns_of_star(&self, select: &Select, star: &SelectItem) -> Option<Vec<(Vec<String>, String)>> {
        // The CTEs in scope (an inner one hides an outer one of its name), then those the FROM reads, directly or
        // through each other: never the CTE this select belongs to, which it cannot read.
        let mut in_scope: Vec<((usize, usize), &Cte)> = Vec::new();
        for (depth, with) in self.enclosing.iter().enumerate() {
            for (index, cte) in with.iter().flat_map(|w| &w.cte_tables).enumerate() {
                in_scope.retain(|(_, c)| c.alias.name.value != cte.alias.name.value);
                in_scope.push(((depth, index), cte));
            }
        }
        let mut wanted = relation_names(&select.from);
        let mut used: Vec<((usize, usize), &Cte)> = Vec::new();
        while let Some(name) = wanted.pop() {
            if let Some(&(at, cte)) = in_scope.iter().find(|(_, c)| c.alias.name.value == name)
                && !used.iter().any(|(_, c)| c.alias.name.value == name)
            {
                let mut query = cte.query.clone();
                let _ = visit_relations_mut(&mut *query, |relation| {
                    wanted.extend(single_name(relation));
                    ControlFlow::<()>::Continue(())
                });
                used.push((at, cte));
            }
        }
        // A CTE must come after those it reads: outer WITH clauses first, each in the order written.
        used.sort_by_key(|(at, _)| *at);
        let ctes: Vec<Cte> = used.into_iter().map(|(_, cte)| cte.clone()).collect();
        let mut probe = select.clone();
        probe.projection = vec![star.clone()];
        probe.selection = None;
        probe.group_by = GroupByExpr::Expressions(vec![], vec![]);
        probe.having = None;
        probe.distinct = None;
        let with = (!ctes.is_empty()).then(|| With { with_token: AttachedToken::empty(), recursive: false, cte_tables: ctes });
        let mut query = Query {
            with,
            body: Box::new(SetExpr::Select(Box::new(probe))),
            order_by: None,
            limit_clause: None,
            fetch: None,
            locks: vec![],
            for_clause: None,
            settings: None,
            format_clause: None,
            pipe_operators: vec![],
        };
        // The CTEs are as written: rewrite the probe as a query of its own before planning it.
        rewrite_probe(&mut query, self.columns_of, false, self.probe_depth + 1).ok().and_then(|()| (self.columns_of)(&query))
    }
}

/// A one-part table name (a CTE's, if any is so named).
fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident.value.clone()),
        _ => None,
    }
}

/// The one-part table names a FROM clause reads, its subqueries included.
fn relation_names(from: &[TableWithJoins]) -> Vec<String> {
    let mut names = Vec::new();
    let mut from = from.to_vec();
    let _ = visit_relations_mut(&mut from, |relation| {
        names.extend(single_name(relation));
        ControlFlow::<()>::Continue(())
    });
    names
}

/// `FETCH FIRST n ROWS ONLY` (`FETCH NEXT`, `ROW`; no n is 1), which DataFusion does not run, is `LIMIT n`,
/// after any `OFFSET`. `WITH TIES` and `PERCENT` are refused.
fn fetch_as_limit(query: &mut Query) -> Result<(), String> {
    let Some(Fetch { with_ties, percent, quantity }) = query.fetch.take() else { return Ok(()) };
    if with_ties || percent {
        return Err("FETCH FIRST ... WITH TIES / PERCENT is not supported locally: number the rows with rank() OVER (ORDER BY ...) \
                    and keep those <= n"
            .into());
    }
    let limit = Some(quantity.unwrap_or_else(|| Expr::value(Value::Number("1".into(), false))));
    query.limit_clause = match query.limit_clause.take() {
        None => Some(LimitClause::LimitOffset { limit, offset: None, limit_by: vec![] }),
        Some(LimitClause::LimitOffset { limit: None, offset, limit_by }) => Some(LimitClause::LimitOffset { limit, offset, limit_by }),
        Some(_) => return Err("LIMIT and FETCH FIRST in one query: keep one of them".into()),
    };
    Ok(())
}

/// Trino names a select item that is not a plain column reference `_col<position>`;
/// naming them here keeps result columns independent of the rewrites above.
fn name_columns_like_trino(select: &mut Select) {
    for (position, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(expr) = item
            && !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        {
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::new(format!("_col{position}")) };
        }
    }
    // Trino allows two output columns of one name (`SELECT id, id`); DataFusion refuses
    // them, so the later ones are renamed `id_2`, `id_3`, ... (a name not otherwise taken).
    // An unqualified name repeats a qualified one with the same last part (`t.id, id`: both are t's id).
    let names: Vec<Option<String>> = select.projection.iter().map(output_name).collect();
    let last = |name: &str| name.rsplit('.').next().unwrap_or(name).to_string();
    let same = |a: &str, b: &str| a == b || ((!a.contains('.') || !b.contains('.')) && last(a) == last(b));
    let mut seen: Vec<String> = Vec::new();
    for (item, name) in select.projection.iter_mut().zip(&names) {
        let Some(name) = name else { continue };
        if !seen.iter().any(|s| same(s, name)) {
            seen.push(name.clone());
            continue;
        }
        let base = name.rsplit('.').next().unwrap_or(name);
        let renamed = (2..)
            .map(|n| format!("{base}_{n}"))
            .find(|candidate| {
                !seen.iter().any(|s| same(s, candidate)) && !names.iter().flatten().any(|other| same(other, candidate))
            })
            .expect("some suffix is free");
        seen.push(renamed.clone());
        let expr = match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
            _ => continue,
        };
        *item = SelectItem::ExprWithAlias { expr, alias: Ident::new(renamed) };
    }
}

/// The name DataFusion gives a select item, as far as the syntax tells: `t.id` keeps its qualifier.
fn output_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.clone()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(idents)) => {
            Some(idents.iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join("."))
        }
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        _ => None,
    }
}

/// A column name a CTAS query gives twice (Trino refuses such a table: "Column name 'id'
/// specified more than once"); qualified names count by their last part.
pub fn duplicate_column(query: &Query) -> Option<String> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    repeated_name(&select.projection)
}

/// A name two select items give, by its last part.
fn repeated_name(projection: &[SelectItem]) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for item in projection {
        let Some(name) = output_name(item) else { continue };
        let name = name.rsplit('.').next().unwrap_or(&name).to_string();
        if seen.contains(&name) {
            return Some(name);
        }
        seen.push(name);
    }
    None
}

fn parse_expr(sql: &str) -> Result<Expr, String> {
    parser(sql)?.parse_expr().map_err(|e| format!("internal rewrite of '{sql}': {e}"))
}

fn is_integral(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int(_) | DataType::Integer(_) | DataType::BigInt(_) | DataType::SmallInt(_) | DataType::TinyInt(_)
    )
}

/// Positional argument expressions, or `None` for named/wildcard arguments.
pub(super) fn plain_args(function: &Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(list) = &function.args else {
        return matches!(function.args, FunctionArguments::None).then(Vec::new);
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn function_name(function: &Function) -> Option<&str> {
    match function.name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident.value.as_str()),
        _ => None,
    }
}

fn rewrite_expr(expr: &Expr) -> Result<Option<Expr>, String> {
    match expr {
        Expr::Identifier(ident) => hidden_column(ident).map(|()| None),
        Expr::CompoundIdentifier(idents) => {
            idents.iter().try_for_each(hidden_column)?;
            Ok(None)
        }
        // Trino's `TIMESTAMP '2024-01-01 12:00:00 America/New_York'` is a zoned value; DataFusion reads the instant, plain.
        Expr::TypedString(TypedString { data_type, value, .. }) => match &value.value {
            Value::SingleQuotedString(text) if matches!(data_type, DataType::Timestamp(_, TimezoneInfo::None)) => match zoned_literal(text) {
                Some(zoned) => zoned.map(Some),
                None => typed_literal(data_type, text).map(Some),
            },
            // `DECIMAL '0.10'` has the precision and scale written in Trino (decimal(2,2)); DataFusion gives decimal(38,10).
            Value::SingleQuotedString(text) if matches!(data_type, DataType::Decimal(ExactNumberInfo::None) | DataType::Numeric(ExactNumberInfo::None)) => {
                match decimal_literal_type(text) {
                    Some((precision, scale)) => {
                        typed_literal(&DataType::Decimal(ExactNumberInfo::PrecisionAndScale(precision, scale)), text.trim()).map(Some)
                    }
                    None => typed_literal(data_type, text).map(Some),
                }
            }
            Value::SingleQuotedString(text) => typed_literal(data_type, text).map(Some),
            _ => Ok(None),
        },
        // DataFusion casts to a plain timestamp (its session has no zone); Trino keeps or gives a zone.
        Expr::Cast {
            kind: kind @ (CastKind::Cast | CastKind::TryCast),
            expr: inner,
            data_type: DataType::Timestamp(_, TimezoneInfo::WithTimeZone),
            ..
        } => {
            if let Expr::Value(v) = inner.as_ref()
                && let Value::SingleQuotedString(text) = &v.value
                && let Some(zoned) = zoned_literal(text)
            {
                return zoned.map(Some);
            }
            Ok(Some(parse_expr(&format!("{CAST_ZONED}({inner}, {})", matches!(kind, CastKind::TryCast)))?))
        }
        Expr::Cast { kind: kind @ (CastKind::Cast | CastKind::TryCast | CastKind::SafeCast), expr: inner, data_type, format, array }
            if !is_named_cast(inner) =>
        {
            // Trino truncates a string cast to varchar(n) or char(n) (and pads char(n)); DataFusion ignores n.
            if let Some((length, padded)) = sized_text(data_type) {
                let is_try = !matches!(kind, CastKind::Cast);
                return Ok(Some(parse_expr(&format!("{CAST_SIZED_TEXT}({inner}, {length}, {padded}, {is_try})"))?));
            }
            // Trino rounds a fraction half away from zero when casting to an integer; DataFusion truncates.
            // Trino casts a varchar to boolean only from true/false/t/f/1/0; DataFusion also takes yes/on/...
            // Trino writes a timestamp as '2024-01-31 23:59:59.123'; DataFusion as ISO with a 'T'.
            // Trino converts an array's elements as it casts each of them; Arrow's kernels do not.
            let value = if let Some(how) = element_cast(data_type) {
                format!("{CAST_ELEMENTS}({inner}, {how}, {})", !matches!(kind, CastKind::Cast))
            } else if is_integral(data_type) {
                format!("{ROUND_FOR_INTEGER_CAST}({inner})")
            } else if matches!(data_type, DataType::Boolean | DataType::Bool) {
                format!("{CAST_TO_BOOLEAN}({inner}, {})", !matches!(kind, CastKind::Cast))
            } else if matches!(data_type, DataType::Varchar(None) | DataType::CharacterVarying(None) | DataType::String(_) | DataType::Text) {
                format!("{CAST_TO_VARCHAR}({inner})")
            } else {
                inner.to_string()
            };
            // DataFusion names a cast after its operand alone; the identity function names it after the cast.
            let type_name = data_type.to_string().replace('\'', "''");
            let named = parse_expr(&format!("{CAST_NAMED}({value}, '{type_name}')"))?;
            Ok(Some(Expr::Cast { kind: kind.clone(), expr: Box::new(named), data_type: data_type.clone(), format: format.clone(), array: *array }))
        }
        // Trino's year-to-month literal `INTERVAL '1-2' YEAR TO MONTH`, which DataFusion does not read, is 14 months.
        Expr::Interval(Interval { value, leading_field: Some(DateTimeField::Year), last_field: Some(DateTimeField::Month), .. }) => {
            let text = match value.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(text) => text.clone(),
                    _ => return Err(format!("INTERVAL ... YEAR TO MONTH takes a string like '1-2', got {value}")),
                },
                _ => return Err(format!("INTERVAL ... YEAR TO MONTH takes a string like '1-2', got {value}")),
            };
            let (negative, body) = match text.trim().strip_prefix('-') {
                Some(body) => (true, body),
                None => (false, text.trim()),
            };
            let months = body
                .split_once('-')
                .and_then(|(years, months)| Some((years.parse::<i64>().ok()?, months.parse::<i64>().ok()?)))
                .filter(|(_, months)| (0..12).contains(months))
                .map(|(years, months)| years * 12 + months)
                .ok_or_else(|| format!("Invalid INTERVAL YEAR TO MONTH value: '{text}' (write it as 'years-months', e.g. '1-2')"))?;
            Ok(Some(parse_expr(&format!("INTERVAL '{} months'", if negative { -months } else { months }))?))
        }
        Expr::Function(function) => rewrite_function(function),
        Expr::BinaryOp { .. } | Expr::InList { .. } => Ok(super::row_values::rewrite(expr)),
        // Trino's extract(dow ...) is ISO (Monday 1 ... Sunday 7) as day_of_week() is; DataFusion's dow has Sunday 0.
        Expr::Extract { field, expr: inner, .. } => Ok(match field {
            DateTimeField::Dow | DateTimeField::DayOfWeek | DateTimeField::Isodow => Some(iso_day_of_week(inner)?),
            DateTimeField::Custom(name) if name.value.eq_ignore_ascii_case("day_of_week") => Some(iso_day_of_week(inner)?),
            DateTimeField::Custom(name) if name.value.eq_ignore_ascii_case("day_of_month") => {
                Some(parse_expr(&format!("CAST(date_part('day', {inner}) AS BIGINT)"))?)
            }
            DateTimeField::Custom(name) if name.value.eq_ignore_ascii_case("day_of_year") => {
                Some(parse_expr(&format!("CAST(date_part('doy', {inner}) AS BIGINT)"))?)
            }
            _ => None,
        }),
        // A literal with an exponent (`1e0`, `2.5E-3`) is a double in Trino; DataFusion's parser, set to read
        // `0.1` as Trino's decimal(1,1), would read it as a decimal too. The text cast to double is exact.
        Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.contains(['e', 'E'])) => {
            Ok(Some(typed_literal(&DataType::Double(ExactNumberInfo::None), &v.value.to_string())?))
        }
        // Trino's one-argument trim strips Java's whitespace (\n, \r, \t, ...); DataFusion's only spaces.
        Expr::Trim { expr: inner, trim_where, trim_what: None, trim_characters: None } => {
            let side = match trim_where {
                Some(TrimWhereField::Leading) => "leading",
                Some(TrimWhereField::Trailing) => "trailing",
                _ => "both",
            };
            Ok(Some(parse_expr(&format!("{TRINO_TRIM}({inner}, '{side}')"))?))
        }
        // Trino's LIKE has no escape character unless ESCAPE names one, so a backslash is literal;
        // DataFusion always escapes with a backslash and takes no other ESCAPE character.
        Expr::Like { negated, any: false, expr: inner, pattern, escape_char } => {
            let pattern = Box::new(backslash_like_pattern(pattern, escape_char.as_ref().map(|v| &v.value))?);
            Ok(Some(Expr::Like { negated: *negated, any: false, expr: inner.clone(), pattern, escape_char: None }))
        }
        Expr::ILike { negated, any: false, expr: inner, pattern, escape_char } => {
            let pattern = Box::new(backslash_like_pattern(pattern, escape_char.as_ref().map(|v| &v.value))?);
            Ok(Some(Expr::ILike { negated: *negated, any: false, expr: inner.clone(), pattern, escape_char: None }))
        }
        // Trino's substr counts a negative start from the end of the string.
        Expr::Substring { expr: inner, substring_from, substring_for, .. } => {
            let from = substring_from.as_ref().map(|f| f.to_string()).unwrap_or_else(|| "1".into());
            let length = substring_for.as_ref().map(|n| format!(", {n}")).unwrap_or_default();
            Ok(Some(parse_expr(&format!("{TRINO_SUBSTR}({inner}, {from}{length})"))?))
        }
        _ => Ok(None),
    }
}

/// `DATE '2024-01-05'` and the other typed literals, which DataFusion plans as a cast of a varchar,
/// spelled as a cast the query wrote ([`CAST_NAMED`]), so that a literal's text is read as a written
/// cast's is (`functions/text_datetimes.rs`: `DATE '20240105'` fails as in Trino).
fn typed_literal(data_type: &DataType, text: &str) -> Result<Expr, String> {
    let type_name = data_type.to_string().replace('\'', "''");
    parse_expr(&format!("CAST({CAST_NAMED}('{}', '{type_name}') AS {data_type})", text.replace('\'', "''")))
}

/// The text of a string literal.
fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(text) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// A constant: a literal (NULL included), signed or not.
fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) | Expr::TypedString(_) => true,
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => is_literal(expr),
        Expr::Cast { expr, .. } => is_literal(expr),
        _ => false,
    }
}

/// The value of an integer literal, negative ones included.
fn integer_literal(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => integer_literal(expr).map(|n| -n),
        Expr::Nested(inner) => integer_literal(inner),
        _ => None,
    }
}

/// The offset an ISO 8601 timestamp's text ends with (`-05:00`, `+0530`, `+01`) as `±HH:MM`; `None` for `Z`, none
/// or a date alone (UTC, Athena's session zone).
fn iso8601_offset(text: &str) -> Option<String> {
    let (_, time) = text.trim().split_once('T')?;
    let at = time.rfind(['+', '-'])?;
    let (sign, digits) = time[at..].split_at(1);
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.len() {
        2 => Some(format!("{sign}{digits}:00")),
        4 => Some(format!("{sign}{}:{}", &digits[..2], &digits[2..])),
        _ => None,
    }
}

/// Trino's day of the week, ISO: Monday = 1 ... Sunday = 7 (DataFusion's dow has Sunday = 0).
fn iso_day_of_week(x: &Expr) -> Result<Expr, String> {
    parse_expr(&format!("CAST(((CAST(date_part('dow', {x}) AS BIGINT) + 6) % 7) + 1 AS BIGINT)"))
}

/// The text of a timestamp with a zone after the time (`2024-01-01 12:00:00 America/New_York`,
/// `... +05:30`, `... UTC`) as `with_timezone('<local time>', '<zone>')`; `None` when it names no zone.
fn zoned_literal(text: &str) -> Option<Result<Expr, String>> {
    let date_length = text.find(|c: char| c == ' ' || c == 'T').unwrap_or(text.len()).max(10).min(text.len());
    let zone_start = text[date_length..].find(|c: char| c.is_ascii_alphabetic() || c == '+' || c == '-')? + date_length;
    let (local, zone) = (text[..zone_start].trim(), text[zone_start..].trim());
    Some(zone_name(zone).and_then(|zone| parse_expr(&format!("with_timezone('{}', '{zone}')", local.replace('\'', "''")))))
}

/// Trino's type of a `DECIMAL '...'` literal: the digits written (leading zeros aside) and those after
/// the point; `None` when the text is not a plain decimal or needs more than 38 digits.
fn decimal_literal_type(text: &str) -> Option<(u64, i64)> {
    let unsigned = text.trim().trim_start_matches(['+', '-']);
    let (integral, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(integral) || !digits(fraction) || integral.len() + fraction.len() == 0 || text.trim().len() - unsigned.len() > 1 {
        return None;
    }
    let precision = (integral.trim_start_matches('0').len() + fraction.len()).max(1) as u64;
    (precision <= 38).then_some((precision, fraction.len() as i64))
}

/// A LIKE pattern with Trino's escaping (`escape`, or none) spelled with DataFusion's backslash escapes:
/// converted here when it is a literal, by [`LIKE_PATTERN`] when it is computed.
fn backslash_like_pattern(pattern: &Expr, escape: Option<&Value>) -> Result<Expr, String> {
    let escape = match escape {
        None => None,
        Some(Value::SingleQuotedString(e)) => {
            let mut chars = e.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => return Err(format!("Escape string must be a single character, got '{e}'")),
            }
        }
        Some(other) => return Err(format!("LIKE ... ESCAPE takes a one-character string literal, got {other}")),
    };
    if let Expr::Value(v) = pattern
        && let Value::SingleQuotedString(p) = &v.value
    {
        return Ok(Expr::value(Value::SingleQuotedString(like_pattern(p, escape)?)));
    }
    let escape = escape.map(|c| format!(", '{}'", c.to_string().replace('\'', "''"))).unwrap_or_default();
    parse_expr(&format!("{LIKE_PATTERN}({pattern}{escape})"))
}

fn is_named_cast(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f) if function_name(f) == Some(CAST_NAMED))
}

/// For a cast to `array(T)` (nested too) whose elements Trino converts unlike Arrow, the arguments that
/// say how (`'integer', 0, false`, ...) to [`CAST_ELEMENTS`].
fn element_cast(data_type: &DataType) -> Option<String> {
    let mut leaf = data_type;
    while let DataType::Array(
        ArrayElemTypeDef::AngleBracket(inner) | ArrayElemTypeDef::Parenthesis(inner) | ArrayElemTypeDef::SquareBracket(inner, _),
    ) = leaf
    {
        leaf = inner;
    }
    if std::ptr::eq(leaf, data_type) {
        return None;
    }
    Some(match leaf {
        t if is_integral(t) => "'integer', 0, false".into(),
        t if matches!(t, DataType::Boolean | DataType::Bool) => "'boolean', 0, false".into(),
        t => match sized_text(t) {
            Some((length, padded)) => format!("'sized', {length}, {padded}"),
            None if matches!(t, DataType::Varchar(None) | DataType::CharacterVarying(None) | DataType::String(_) | DataType::Text) => {
                "'varchar', 0, false".into()
            }
            None => return None,
        },
    })
}

/// The length of a `varchar(n)` / `char(n)` cast target (plain `char` is `char(1)`), and whether it pads.
fn sized_text(data_type: &DataType) -> Option<(u64, bool)> {
    let length = |size: &Option<CharacterLength>| match size {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
        _ => None,
    };
    match data_type {
        DataType::Varchar(size) | DataType::CharacterVarying(size) => length(size).map(|n| (n, false)),
        DataType::Char(size) | DataType::Character(size) => match size {
            None => Some((1, true)),
            Some(_) => length(size).map(|n| (n, true)),
        },
        _ => None,
    }
}

fn hidden_column(ident: &Ident) -> Result<(), String> {
    if ident.value.starts_with('$') {
        return Err(format!(
            "the hidden column \"{}\" is not available locally: add the value you need as a column or partition key",
            ident.value
        ));
    }
    Ok(())
}

/// Whether an argument of the call is a lambda (`x -> x + 1`).
fn has_lambda(function: &Function) -> bool {
    let FunctionArguments::List(list) = &function.args else { return false };
    // The generic dialect reads `x -> x + 1` as the JSON arrow operator, `(s, x) -> ...` with a tuple on the left.
    list.args.iter().any(|a| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(_))) => true,
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp { left, op: BinaryOperator::Arrow, .. })) => {
            matches!(left.as_ref(), Expr::Identifier(_) | Expr::Tuple(_) | Expr::Nested(_))
        }
        _ => false,
    })
}

fn rewrite_function(function: &Function) -> Result<Option<Expr>, String> {
    let Some(name) = function_name(function) else { return Ok(None) };
    let args = plain_args(function);
    let arg_list = |args: &[Expr]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
    let keep_clauses = |mut replacement: Expr| {
        if let Expr::Function(new) = &mut replacement {
            if new.filter.is_none() {
                new.filter = function.filter.clone();
            }
            new.over = function.over.clone();
        }
        replacement
    };
    let replacement = match (name, args.as_deref()) {
        ("try", _) => {
            return Err("try() is not supported locally: use try_cast(x AS type) for failing casts, or guard the expression with CASE WHEN ... THEN ... END".into());
        }
        // Trino: count_if(c) counts rows where c is true.
        ("count_if", Some([condition])) => keep_clauses(parse_expr(&format!("count(CASE WHEN {condition} THEN 1 END)"))?),
        ("arbitrary", Some([x])) => keep_clauses(parse_expr(&format!("any_value({x})"))?),
        // Trino: the x of the row with the largest (smallest) y, ignoring rows where y is NULL.
        ("max_by" | "min_by", Some([x, y])) => {
            if function.over.is_some() {
                return Err(format!("{name}(...) OVER (...) is not supported locally: use first_value(x) OVER (... ORDER BY y DESC)"));
            }
            let direction = if name == "max_by" { "DESC" } else { "ASC" };
            let mut replacement = parse_expr(&format!("first_value({x} ORDER BY {y} {direction})"))?;
            if let Expr::Function(new) = &mut replacement {
                let not_null = parse_expr(&format!("({y}) IS NOT NULL"))?;
                new.filter = Some(Box::new(match &function.filter {
                    Some(existing) => parse_expr(&format!("({existing}) AND {not_null}"))?,
                    None => not_null,
                }));
            }
            replacement
        }
        ("max_by" | "min_by", Some([_, _, _])) => {
            return Err(format!("{name}(x, y, n) is not supported locally: use row_number() OVER (ORDER BY y) <= n and array_agg"));
        }
        // Trino's concat, greatest and least are NULL when any argument is; DataFusion's skip NULLs.
        ("concat" | "greatest" | "least", Some(args)) if !args.is_empty() => {
            let any_null: Vec<String> = args.iter().map(|a| format!("({a}) IS NULL")).collect();
            parse_expr(&format!("CASE WHEN {} THEN NULL ELSE {name}({}) END", any_null.join(" OR "), arg_list(args)))?
        }
        ("mod", Some([a, b])) => parse_expr(&format!("(({a}) % ({b}))"))?,
        ("if", Some([condition, then])) => parse_expr(&format!("CASE WHEN {condition} THEN {then} END"))?,
        ("if", Some([condition, then, otherwise])) => {
            parse_expr(&format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END"))?
        }
        // date(x) is CAST(x AS date) in Trino, a varchar read as a written cast reads it (`y-M-d` only).
        ("date", Some([x])) => parse_expr(&format!("CAST({CAST_NAMED}({x}, 'DATE') AS DATE)"))?,
        ("year" | "month" | "day" | "day_of_month" | "hour" | "minute" | "second" | "quarter" | "week"
        | "week_of_year" | "day_of_year" | "doy", Some([x])) => {
            let part = match name {
                "day_of_month" => "day",
                "week_of_year" => "week",
                "day_of_year" => "doy",
                other => other,
            };
            parse_expr(&format!("CAST(date_part('{part}', {x}) AS BIGINT)"))?
        }
        // Trino's day_of_week is ISO: Monday = 1 ... Sunday = 7; DataFusion's dow has Sunday = 0.
        ("day_of_week" | "dow", Some([x])) => iso_day_of_week(x)?,
        ("ltrim", Some([s])) => parse_expr(&format!("{TRINO_TRIM}({s}, 'leading')"))?,
        ("rtrim", Some([s])) => parse_expr(&format!("{TRINO_TRIM}({s}, 'trailing')"))?,
        // DataFusion splits into characters on a NULL delimiter; Trino's split is NULL then.
        ("split", Some([s, delimiter])) => {
            parse_expr(&format!("CASE WHEN ({delimiter}) IS NULL THEN NULL ELSE string_to_array({s}, {delimiter}) END"))?
        }
        // Trino's array_position is 0 when the element is not found (DataFusion: NULL).
        ("array_position", Some([array, element])) => parse_expr(&format!(
            "CASE WHEN ({array}) IS NULL OR ({element}) IS NULL THEN NULL ELSE coalesce(array_position({array}, {element}), 0) END"
        ))?,
        // Trino's array_remove removes every equal element; DataFusion's only the first.
        ("array_remove", Some([array, element])) => parse_expr(&format!("array_remove_all({array}, {element})"))?,
        // Trino sorts NULLs last; DataFusion first.
        ("array_sort", Some([array])) => parse_expr(&format!("array_sort({array}, 'ASC', 'NULLS LAST')"))?,
        // Trino's repeat(element, count) is an array; DataFusion's repeats a string.
        ("repeat", Some([element, count])) => parse_expr(&format!("array_repeat({element}, {count})"))?,
        ("ceiling", Some([x])) => parse_expr(&format!("ceil({x})"))?,
        // Trino's truncate(x) rounds toward zero.
        ("truncate", Some([x])) => parse_expr(&format!("trunc({x})"))?,
        ("variance", Some([x])) => keep_clauses(parse_expr(&format!("var_samp({x})"))?),
        ("every", Some([x])) => keep_clauses(parse_expr(&format!("bool_and({x})"))?),
        ("last_day_of_month", Some([x])) => {
            parse_expr(&format!("date_add('day', -1, date_add('month', 1, date_trunc('month', CAST({x} AS DATE))))"))?
        }
        // DataFusion's millisecond part counts the seconds too (7.123 s is 7123).
        ("millisecond", Some([x])) => parse_expr(&format!("(CAST(date_part('millisecond', {x}) AS BIGINT) % 1000)"))?,
        ("is_nan", Some([x])) => parse_expr(&format!("isnan({x})"))?,
        ("nan", Some([])) => parse_expr("CAST('NaN' AS DOUBLE)")?,
        ("infinity", Some([])) => parse_expr("CAST('Infinity' AS DOUBLE)")?,
        ("from_hex", Some([x])) => parse_expr(&format!("decode({x}, 'hex')"))?,
        // DataFusion takes only a literal default for lag and lead; the row at the offset exists where lag(true, n, false)
        // is true, and only there is the value (NULL included) taken rather than the default.
        ("lag" | "lead", Some([x, offset, default])) if function.over.is_some() && !is_literal(default) => {
            let call = |args: Vec<Expr>| {
                let mut call = function.clone();
                if let FunctionArguments::List(list) = &mut call.args {
                    list.args = args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect();
                }
                Expr::Function(call)
            };
            let exists = call(vec![Expr::value(Value::Boolean(true)), offset.clone(), Expr::value(Value::Boolean(false))]);
            let value = call(vec![x.clone(), offset.clone()]);
            parse_expr(&format!("CASE WHEN {exists} THEN {value} ELSE {default} END"))?
        }
        // Trino's from_unixtime(x, zone) and from_unixtime(x, hours, minutes) give the instant at that zone (or offset);
        // a zone is part of the type here, so it must be a constant.
        ("from_unixtime", Some([x, zone])) => {
            let zone = string_literal(zone)
                .ok_or("from_unixtime(x, zone) takes a constant zone locally, e.g. from_unixtime(x, 'America/New_York')")?;
            parse_expr(&format!("(from_unixtime({x}) AT TIME ZONE '{}')", zone_name(&zone)?.replace('\'', "''")))?
        }
        ("from_unixtime", Some([x, hours, minutes])) => {
            let (Some(hours), Some(minutes)) = (integer_literal(hours), integer_literal(minutes)) else {
                return Err("from_unixtime(x, hours, minutes) takes constant hours and minutes locally, e.g. from_unixtime(x, -5, 0)".into());
            };
            let offset = hours * 60 + minutes;
            let sign = if offset < 0 { '-' } else { '+' };
            let zone = zone_name(&format!("{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60))?;
            parse_expr(&format!("(from_unixtime({x}) AT TIME ZONE '{zone}')"))?
        }
        // Trino keeps the offset a timestamp's text gives (`...T10:00:00-05:00` is 10:00 at -05:00); the function alone
        // answers in UTC, and a zone is part of the type here, so the offset of a constant text is applied to the result.
        ("from_iso8601_timestamp", Some([text])) => match string_literal(text).as_deref().and_then(iso8601_offset) {
            Some(offset) => parse_expr(&format!("(from_iso8601_timestamp({text}) AT TIME ZONE '{}')", zone_name(&offset)?))?,
            None => return Ok(None),
        },
        // Trino's two-argument replace removes every occurrence.
        ("replace", Some([s, x])) => parse_expr(&format!("replace({s}, {x}, '')"))?,
        ("transform" | "filter" | "reduce" | "any_match" | "all_match" | "none_match" | "transform_keys" | "transform_values"
        | "map_filter" | "zip_with" | "array_sort" | "find_first", _) if has_lambda(function) || name != "array_sort" => {
            return Err(format!(
                "{name}() with a lambda (x -> ...) is not supported locally: unnest the array, compute on the rows, and collect \
                 them again, e.g. SELECT id, array_agg(x + 1) FROM t CROSS JOIN UNNEST(t.items) AS u(x) GROUP BY id"
            ));
        }
        ("map_agg", _) => {
            return Err("map_agg() is not supported locally: collect the keys and values with GROUP BY and array_agg, \
                        e.g. SELECT map(array_agg(k), array_agg(v)) FROM t"
                .into());
        }
        ("histogram", _) => {
            return Err("histogram() is not supported locally: count with GROUP BY, e.g. SELECT x, count(*) FROM t GROUP BY x".into());
        }
        _ => return Ok(None),
    };
    Ok(Some(replacement))
}

#[cfg(test)]
mod tests {
    use super::super::statement::{AthenaStatement, parse};
    use super::*;

    fn rewritten(sql: &str) -> Result<String, String> {
        let AthenaStatement::Query(mut query) = parse(sql)? else { panic!("not a query") };
        rewrite_query(&mut query)?;
        Ok(query.to_string())
    }

    #[test]
    fn iso8601_offsets_are_read_from_the_text() {
        assert_eq!(iso8601_offset("2024-01-05T10:00:00-05:00").as_deref(), Some("-05:00"));
        assert_eq!(iso8601_offset("2024-01-05T10:00:00.123+0530").as_deref(), Some("+05:30"));
        assert_eq!(iso8601_offset("2024-01-05T10:00:00+01").as_deref(), Some("+01:00"));
        assert_eq!(iso8601_offset("2024-01-05T10:00:00Z"), None);
        assert_eq!(iso8601_offset("2024-01-05"), None);
    }

    #[test]
    fn integer_casts_round_and_other_casts_do_not() {
        assert_eq!(
            rewritten("SELECT CAST(x AS integer), TRY_CAST(y AS BIGINT), CAST(z AS double) FROM t").unwrap(),
            format!("SELECT CAST({CAST_NAMED}({ROUND_FOR_INTEGER_CAST}(x), 'INTEGER') AS INTEGER) AS _col0, TRY_CAST({CAST_NAMED}({ROUND_FOR_INTEGER_CAST}(y), 'BIGINT') AS BIGINT) AS _col1, CAST({CAST_NAMED}(z, 'DOUBLE') AS DOUBLE) AS _col2 FROM t")
        );
    }

    #[test]
    fn sized_text_casts_truncate() {
        assert_eq!(
            rewritten("SELECT CAST(a AS varchar(2)), TRY_CAST(b AS char(3)), CAST(c AS char), CAST(d AS varchar) FROM t").unwrap(),
            format!("SELECT {CAST_SIZED_TEXT}(a, 2, false, false) AS _col0, {CAST_SIZED_TEXT}(b, 3, true, true) AS _col1, {CAST_SIZED_TEXT}(c, 1, true, false) AS _col2, CAST({CAST_NAMED}({CAST_TO_VARCHAR}(d), 'VARCHAR') AS VARCHAR) AS _col3 FROM t")
        );
    }

    #[test]
    fn concat_becomes_null_when_an_argument_is() {
        assert_eq!(
            rewritten("SELECT concat(a, 'x') FROM t").unwrap(),
            "SELECT CASE WHEN (a) IS NULL OR ('x') IS NULL THEN NULL ELSE concat(a, 'x') END AS _col0 FROM t"
        );
    }

    #[test]
    fn like_patterns_are_spelled_with_backslash_escapes() {
        assert_eq!(
            rewritten(r"SELECT a LIKE 'x\%', b LIKE 'y!%' ESCAPE '!', c NOT LIKE p FROM t").unwrap(),
            format!(r"SELECT a LIKE 'x\\%' AS _col0, b LIKE 'y\%' AS _col1, c NOT LIKE {LIKE_PATTERN}(p) AS _col2 FROM t")
        );
        let e = rewritten("SELECT a LIKE 'x' ESCAPE '!!' FROM t").unwrap_err();
        assert!(e.contains("single character"), "{e}");
    }

    #[test]
    fn trino_aggregates_become_datafusion_ones() {
        assert_eq!(
            rewritten("SELECT count_if(x > 1), arbitrary(y), max_by(a, b) FROM t").unwrap(),
            "SELECT count(CASE WHEN x > 1 THEN 1 END) AS _col0, any_value(y) AS _col1, first_value(a ORDER BY b DESC) FILTER (WHERE (b) IS NOT NULL) AS _col2 FROM t"
        );
    }

    #[test]
    fn cross_join_unnest_becomes_a_select_list_unnest() {
        assert_eq!(
            rewritten("SELECT t.id, u.x FROM t CROSS JOIN UNNEST(t.items) AS u(x)").unwrap(),
            "SELECT t.id, \"t\".x FROM (SELECT \"t\".*, unnest(t.items) AS x FROM t) AS \"t\""
        );
    }

    #[test]
    fn left_join_unnest_keeps_empty_arrays() {
        assert_eq!(
            rewritten("SELECT id, t FROM arr LEFT JOIN UNNEST(tags) AS u(t) ON TRUE").unwrap(),
            "SELECT id, t FROM (SELECT \"arr\".*, unnest(CASE WHEN cardinality(tags) > 0 THEN tags ELSE ARRAY[NULL] END) AS t FROM arr) AS \"arr\""
        );
        let e = rewritten("SELECT id FROM arr LEFT JOIN UNNEST(tags) AS u(t) ON t = 'a'").unwrap_err();
        assert!(e.contains("ON TRUE"), "{e}");
    }

    #[test]
    fn exists_in_the_select_list_becomes_a_count() {
        assert_eq!(
            rewritten("SELECT EXISTS (SELECT 1 FROM t WHERE x > 1), NOT EXISTS (SELECT x FROM t GROUP BY x) FROM u").unwrap(),
            "SELECT (SELECT count(*) > 0 AS _col0 FROM t WHERE x > 1) AS _col0, (SELECT count(*) = 0 AS _col0 FROM (SELECT x FROM t GROUP BY x) AS _exists) AS _col1 FROM u"
        );
        assert_eq!(rewritten("SELECT a FROM u WHERE EXISTS (SELECT 1 FROM t)").unwrap(), "SELECT a FROM u WHERE EXISTS (SELECT 1 AS _col0 FROM t)");
        let e = rewritten("SELECT EXISTS (SELECT t.x FROM t WHERE t.x = u.x GROUP BY t.x) FROM u").unwrap_err();
        assert!(e.contains("correlated") && e.contains("LEFT JOIN"), "{e}");
    }

    #[test]
    fn duplicate_output_names_are_numbered() {
        assert_eq!(rewritten("SELECT id, id, x AS id, t.id FROM t").unwrap(), "SELECT id, id AS id_2, x AS id_3, t.id AS id_4 FROM t");
        assert_eq!(rewritten("SELECT a.id, b.id FROM a, b").unwrap(), "SELECT a.id, b.id FROM a, b");
        let AthenaStatement::Query(query) = parse("SELECT a.id, b.id FROM a, b").unwrap() else { panic!() };
        assert_eq!(duplicate_column(&query).as_deref(), Some("id"));
    }

    #[test]
    fn tablesample_becomes_a_random_filter() {
        assert_eq!(
            rewritten("SELECT count(*) FROM users AS u TABLESAMPLE BERNOULLI (10) WHERE u.age > 3").unwrap(),
            "SELECT count(*) AS _col0 FROM (SELECT * FROM users WHERE random() < (10) / CAST(athena_cast('100e0', 'DOUBLE') AS DOUBLE)) AS u WHERE u.age > 3"
        );
        assert_eq!(
            rewritten("SELECT x FROM db.t TABLESAMPLE SYSTEM (50)").unwrap(),
            "SELECT x FROM (SELECT * FROM db.t WHERE random() < (50) / CAST(athena_cast('100e0', 'DOUBLE') AS DOUBLE)) AS \"t\""
        );
        let e = rewritten("SELECT x FROM t TABLESAMPLE BERNOULLI (150)").unwrap_err();
        assert!(e.contains("between 0 and 100"), "{e}");
        let e = rewritten("SELECT x FROM t TABLESAMPLE (10 ROWS)").unwrap_err();
        assert!(e.contains("TABLESAMPLE") && e.contains("random() < 0.1"), "{e}");
    }

    #[test]
    fn unsupported_constructs_name_themselves_and_a_rewrite() {
        let e = rewritten("SELECT try(1 / 0)").unwrap_err();
        assert!(e.contains("try()") && e.contains("try_cast"), "{e}");
        let e = rewritten("SELECT \"$path\" FROM t").unwrap_err();
        assert!(e.contains("$path"), "{e}");
        let e = rewritten("SELECT x FROM t CROSS JOIN UNNEST(t.items) WITH ORDINALITY AS u(x, n)").unwrap_err();
        assert!(e.contains("WITH ORDINALITY") && e.contains("row_number()"), "{e}");
    }
}
