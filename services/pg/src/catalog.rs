//! What PostgreSQL clients' SQL needs beyond DataFusion: `pg_catalog` (from
//! `datafusion-pg-catalog`), the few functions clients call that it lacks, and the statement
//! rewrites that let DataFusion plan what clients send.
//!
//! Statements are split in two kinds. A catalogue query (one that reads `pg_catalog` or
//! `information_schema`) goes through all of `datafusion-pg-catalog`'s rewrites, which answer
//! NULL for correlated scalar subqueries DataFusion cannot run; ParWatch extends that to such
//! subqueries nested in a projection (SQLAlchemy's `get_columns` reads column defaults,
//! identities and collations that way: ParWatch's tables have none, so NULL is their answer).
//! Any other statement, a query over the lake, keeps its subqueries: it gets the same rewrites
//! but the one that would turn its correlated subqueries into NULLs.
//!
//! Catalogue queries also get ParWatch's own rewrites for what clients read that the emulation
//! holds differently: vectors held as text (`pg_index.indkey`, unnested by SQLAlchemy and
//! pgjdbc's `_pg_expandarray`), `(composite).field`, and `pg_class.reloptions`, which it lacks.
//! Every statement gets `LIKE … ESCAPE` with escapes other than the backslash.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor,
    Value, Visit, VisitMut, Visitor, VisitorMut, visit_expressions, visit_expressions_mut,
    visit_relations,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::setup_pg_catalog;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall,
    FixArrayLiteral, FixVersionColumnName, PrependUnqualifiedPgTableName,
    ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation, RewritePgCatalogOperator,
    RewriteRegCastToSubquery, SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};
use parwatch_lake::CATALOG;

/// Installs `pg_catalog` and the functions clients call in a session's context.
pub(crate) fn install(context: &SessionContext) -> datafusion::error::Result<()> {
    setup_pg_catalog(context, CATALOG, EmptyContextProvider).map_err(|e| *e)?;
    context.register_udf(to_regtype());
    context.register_udf(pg_get_indexdef());
    context.register_udf(current_setting());
    for (name, kind) in [
        ("pg_vector_elements", VectorList::Elements),
        ("pg_vector_subscripts", VectorList::Subscripts),
        ("pg_vector_expanded", VectorList::Expanded),
    ] {
        context.register_udf(vector_function(name, kind));
    }
    Ok(())
}

/// Client SQL text into statements DataFusion can plan.
pub(crate) struct StatementParser {
    /// `datafusion-pg-catalog`'s parser: its known-query replacements and every rewrite.
    catalog: PostgresCompatibilityParser,
    /// Its rewrites but `RemoveSubqueryFromProjection`, in its order, for queries over the lake.
    lake: Vec<Box<dyn SqlStatementRewriteRule>>,
}

impl StatementParser {
    pub(crate) fn new() -> Self {
        Self {
            catalog: PostgresCompatibilityParser::new(),
            lake: vec![
                Box::new(AliasDuplicatedProjectionRewrite),
                Box::new(ResolveUnqualifiedIdentifier),
                Box::new(RewriteArrayAnyAllOperation),
                Box::new(PrependUnqualifiedPgTableName),
                Box::new(StripCallableQualifier),
                Box::new(FixArrayLiteral),
                Box::new(CurrentUserVariableToSessionUserFunctionCall),
                Box::new(StripCollate),
                Box::new(RewritePgCatalogOperator),
                Box::new(RewriteRegCastToSubquery::new()),
                Box::new(FixVersionColumnName),
            ],
        }
    }

    /// Parses `sql` (PostgreSQL dialect) and rewrites each statement for DataFusion.
    pub(crate) fn parse(&self, sql: &str) -> Result<Vec<Statement>, ParserError> {
        let plain = Parser::parse_sql(&PostgreSqlDialect {}, sql);
        let mut statements = match plain {
            Ok(statements) if !statements.iter().any(reads_catalog) => statements
                .into_iter()
                .map(|s| self.lake.iter().fold(s, |s, rule| rule.rewrite(s)))
                .collect(),
            // Catalogue queries, and text only the compatibility parser reads (`ABORT`).
            _ => {
                let mut statements = self.catalog.parse(sql)?;
                for statement in &mut statements {
                    let _ = statement.visit(&mut NullCorrelatedSubqueries);
                    let _ = statement.visit(&mut VectorsAsArrays);
                    let _ = statement.visit(&mut NullRelOptions);
                }
                statements
            }
        };
        for statement in &mut statements {
            let _ = statement.visit(&mut LikeEscape);
        }
        Ok(statements)
    }
}

/// Whether `statement` reads a `pg_catalog` or `information_schema` relation.
fn reads_catalog(statement: &Statement) -> bool {
    visit_relations(statement, |name| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(ObjectNamePart::as_ident)
            .map(|i| i.value.to_lowercase())
            .collect();
        let catalog = match parts.as_slice() {
            [schema, ..] if schema == "pg_catalog" || schema == "information_schema" => true,
            [_, schema, _] if schema == "pg_catalog" || schema == "information_schema" => true,
            [table] => PG_CATALOG_TABLES.contains(&table.as_str()),
            _ => false,
        };
        if catalog {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// In a catalogue query, a correlated scalar subquery anywhere in a projection becomes NULL
/// (`datafusion-pg-catalog` does so for those that are a whole select item).
struct NullCorrelatedSubqueries;

impl VisitorMut for NullCorrelatedSubqueries {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                let _ = visit_expressions_mut(item, |expr| {
                    if let Expr::Subquery(subquery) = expr
                        && is_correlated(subquery)
                    {
                        *expr = Expr::Value(Value::Null.into());
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        ControlFlow::Continue(())
    }
}

/// Whether `query` names a column of a relation it does not read itself.
fn is_correlated(query: &Query) -> bool {
    let mut own = HashSet::new();
    let _ = query.visit(&mut OwnRelations(&mut own));
    let mut outer = false;
    let _ = visit_expressions(query, |expr| {
        if let Expr::CompoundIdentifier(parts) = expr
            && let [qualifier @ .., _column] = parts.as_slice()
            && !qualifier.is_empty()
        {
            let qualifier = qualifier
                .iter()
                .map(|i| i.value.to_lowercase())
                .collect::<Vec<_>>()
                .join(".");
            outer |= !own.contains(&qualifier);
        }
        ControlFlow::<()>::Continue(())
    });
    outer
}

/// Collects the names a query's relations can be referred to by: aliases, full names and
/// their last parts.
struct OwnRelations<'a>(&'a mut HashSet<String>);

impl Visitor for OwnRelations<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let (name, alias) = match factor {
            TableFactor::Table { name, alias, .. } => (Some(name), alias),
            TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::UNNEST { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => (None, alias),
            _ => (None, &None),
        };
        if let Some(alias) = alias {
            self.0.insert(alias.name.value.to_lowercase());
        }
        if let Some(ObjectName(parts)) = name {
            let parts: Vec<String> = parts
                .iter()
                .filter_map(ObjectNamePart::as_ident)
                .map(|i| i.value.to_lowercase())
                .collect();
            for first in 0..parts.len() {
                self.0.insert(parts[first..].join("."));
            }
        }
        ControlFlow::Continue(())
    }
}

/// Catalogue columns of PostgreSQL's vector types (`int2vector`, `oidvector`) and arrays that
/// `datafusion-pg-catalog` holds as text (`1 2`, `[1, 2]`).
const VECTOR_COLUMNS: [&str; 8] = [
    "indkey",
    "indclass",
    "indcollation",
    "indoption",
    "conkey",
    "confkey",
    "conpfeqop",
    "conexclop",
];

/// In a catalogue query, the set-returning functions clients apply to those columns, as lists
/// DataFusion unnests: `unnest(v)` and `generate_subscripts(v, 1)` beside it (SQLAlchemy lists
/// primary-key and index columns so), and `information_schema._pg_expandarray(v)`, its rows
/// `(x, n)` of element and subscript (pgjdbc's `getPrimaryKeys`).
struct VectorsAsArrays;

impl VectorsAsArrays {
    /// `f(v, …)` when `v` is one of [`VECTOR_COLUMNS`]: `f` and `v`.
    fn vector_call(expr: &Expr) -> Option<(String, Expr)> {
        let Expr::Function(function) = expr else {
            return None;
        };
        let name = function.name.0.last()?.as_ident()?.value.to_lowercase();
        let FunctionArguments::List(list) = &function.args else {
            return None;
        };
        let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(column))) = list.args.first() else {
            return None;
        };
        let column_name = match column {
            Expr::Identifier(ident) => &ident.value,
            Expr::CompoundIdentifier(parts) => &parts.last()?.value,
            _ => return None,
        };
        VECTOR_COLUMNS
            .contains(&column_name.to_lowercase().as_str())
            .then(|| (name, column.clone()))
    }
}

impl VisitorMut for VectorsAsArrays {
    type Break = ();

    /// `(_pg_expandarray(v)).x` and `.n`: the elements and their subscripts; `(s).f` of any
    /// other `s`: `get_field(s, 'f')`, the only field access DataFusion plans.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::CompoundFieldAccess { root, access_chain } = expr else {
            return ControlFlow::Continue(());
        };
        let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
            return ControlFlow::Continue(());
        };
        let root = match root.as_ref() {
            Expr::Nested(inner) => inner.as_ref(),
            other => other,
        };
        let expanded = Self::vector_call(root).filter(|(f, _)| f == "_pg_expandarray");
        *expr = match (expanded, field.value.to_lowercase().as_str()) {
            (Some((_, column)), "x") => {
                call("unnest", vec![call("pg_vector_elements", vec![column])])
            }
            (Some((_, column)), "n") => {
                call("unnest", vec![call("pg_vector_subscripts", vec![column])])
            }
            _ => call("get_field", vec![root.clone(), string(&field.value)]),
        };
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Some((function, column)) = Self::vector_call(expr) else {
            return ControlFlow::Continue(());
        };
        let list = match function.as_str() {
            "unnest" => "pg_vector_elements",
            "generate_subscripts" => "pg_vector_subscripts",
            "_pg_expandarray" => "pg_vector_expanded",
            _ => return ControlFlow::Continue(()),
        };
        *expr = call("unnest", vec![call(list, vec![column])]);
        ControlFlow::Continue(())
    }
}

/// What a vector function lists of each vector held as text.
#[derive(Clone, Copy)]
enum VectorList {
    /// `pg_vector_elements`: its numbers.
    Elements,
    /// `pg_vector_subscripts`: their subscripts, from 1.
    Subscripts,
    /// `pg_vector_expanded`: both, as `_pg_expandarray`'s `(x, n)` structs.
    Expanded,
}

/// The function listing `kind` of each vector or array held as text (`1 2`, `[1, 2]`).
fn vector_function(name: &str, kind: VectorList) -> ScalarUDF {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, StructArray};
    use datafusion::arrow::buffer::OffsetBuffer;
    use datafusion::arrow::datatypes::{Field, Fields};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let number = |name: &str| Field::new(name, DataType::Int64, true);
    let pair = Fields::from(vec![number("x"), number("n")]);
    let item = match kind {
        VectorList::Expanded => Field::new_list_field(DataType::Struct(pair.clone()), true),
        _ => Field::new_list_field(DataType::Int64, true),
    };
    let item = Arc::new(item);
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::List(Arc::clone(&item)),
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let texts = ColumnarValue::values_to_arrays(args)?;
            let texts = texts[0].as_string::<i32>();
            let (mut elements, mut subscripts, mut lengths) = (vec![], vec![], vec![]);
            for i in 0..texts.len() {
                let text = if texts.is_valid(i) {
                    texts.value(i)
                } else {
                    ""
                };
                let text = text.trim_matches(|c: char| matches!(c, '[' | ']' | '{' | '}'));
                let numbers = text.split([' ', ',']).filter(|n| !n.is_empty());
                let before = elements.len();
                for (at, number) in (1..).zip(numbers) {
                    elements.push(number.parse::<i64>().ok());
                    subscripts.push(Some(at));
                }
                lengths.push(elements.len() - before);
            }
            let values: ArrayRef = match kind {
                VectorList::Elements => Arc::new(Int64Array::from(elements)),
                VectorList::Subscripts => Arc::new(Int64Array::from(subscripts)),
                VectorList::Expanded => Arc::new(StructArray::new(
                    pair.clone(),
                    vec![
                        Arc::new(Int64Array::from(elements)),
                        Arc::new(Int64Array::from(subscripts)),
                    ],
                    None,
                )),
            };
            let lists = ListArray::new(
                Arc::clone(&item),
                OffsetBuffer::from_lengths(lengths),
                values,
                texts.nulls().cloned(),
            );
            Ok(ColumnarValue::Array(Arc::new(lists)))
        }),
    )
}

/// `pg_get_indexdef(index, column, pretty)`: NULL, the lake having no index to define (SQLAlchemy
/// asks it for the columns of indexes on expressions).
fn pg_get_indexdef() -> ScalarUDF {
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    create_udf(
        "pg_get_indexdef",
        vec![DataType::Int64, DataType::Int64, DataType::Boolean],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    )
}

/// In a catalogue query, `pg_class.reloptions` (which `datafusion-pg-catalog`'s `pg_class` lacks)
/// is NULL: no relation of the lake has storage options. SQLAlchemy's `get_indexes` reads it.
struct NullRelOptions;

impl VisitorMut for NullRelOptions {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr
            && let [.., table, column] = parts.as_slice()
            && table.value.eq_ignore_ascii_case("pg_class")
            && column.value.eq_ignore_ascii_case("reloptions")
        {
            *expr = Expr::Value(Value::Null.into());
        }
        ControlFlow::Continue(())
    }
}

/// `LIKE … ESCAPE 'c'` for DataFusion, which only knows the backslash: the pattern is
/// rewritten so that `c` escapes become backslash ones (and its own backslashes literal).
/// SQLAlchemy lists schemas with `NOT LIKE 'pg/_%' ESCAPE '/'`.
struct LikeEscape;

impl VisitorMut for LikeEscape {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let (Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        }) = expr
        else {
            return ControlFlow::Continue(());
        };
        let Some(escape) = escape_char
            .as_ref()
            .and_then(|v| v.value.clone().into_string())
        else {
            return ControlFlow::Continue(());
        };
        let mut chars = escape.chars();
        let (Some(escape), None) = (chars.next(), chars.next()) else {
            return ControlFlow::Continue(());
        };
        if escape == '\\' {
            *escape_char = None;
            return ControlFlow::Continue(());
        }
        let backslashes_literal = call(
            "replace",
            vec![(**pattern).clone(), string("\\"), string("\\\\")],
        );
        let escaped = regex_literal(escape);
        **pattern = call(
            "regexp_replace",
            vec![
                backslashes_literal,
                string(&format!("{escaped}(.)")),
                string("\\\\\\1"),
                string("g"),
            ],
        );
        *escape_char = None;
        ControlFlow::Continue(())
    }
}

/// `c` as a regular expression matching itself.
fn regex_literal(c: char) -> String {
    if c.is_ascii_punctuation() {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

fn string(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.to_owned()).into())
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// PostgreSQL settings clients read at connect time (`SHOW name`, `current_setting('name')`),
/// as a server in read-only UTF-8 mode answers them: the setting's name and value.
pub(crate) fn setting(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name.to_lowercase().as_str() {
        "transaction isolation level" | "transaction_isolation" => {
            ("transaction_isolation", "read committed")
        }
        "transaction_read_only" | "default_transaction_read_only" => {
            ("transaction_read_only", "on")
        }
        "search_path" => ("search_path", "public"),
        "server_version" => ("server_version", parwatch_lake::PG_VERSION),
        "server_encoding" => ("server_encoding", "UTF8"),
        "client_encoding" => ("client_encoding", "UTF8"),
        "standard_conforming_strings" => ("standard_conforming_strings", "on"),
        "timezone" => ("timezone", "UTC"),
        "datestyle" => ("datestyle", "ISO, MDY"),
        "integer_datetimes" => ("integer_datetimes", "on"),
        "max_identifier_length" => ("max_identifier_length", "63"),
        "default_table_access_method" => ("default_table_access_method", "heap"),
        _ => return None,
    })
}

/// `current_setting(name)`: [`setting`]'s value, NULL for a setting it does not know.
fn current_setting() -> ScalarUDF {
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = names[0].as_string::<i32>();
            let values: StringArray = (0..names.len())
                .map(|i| {
                    let name = names.is_valid(i).then(|| names.value(i))?;
                    setting(name).map(|(_, value)| value)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(values)))
        }),
    )
}

/// `to_regtype(name)`: the oid of a built-in type, NULL for any other name (psycopg asks it,
/// for `hstore`, when SQLAlchemy connects).
fn to_regtype() -> ScalarUDF {
    use datafusion::arrow::array::{Array, AsArray, UInt32Array};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    const TYPES: [(&str, u32); 14] = [
        ("bool", 16),
        ("int8", 20),
        ("int2", 21),
        ("int4", 23),
        ("text", 25),
        ("float4", 700),
        ("float8", 701),
        ("varchar", 1043),
        ("date", 1082),
        ("timestamp", 1114),
        ("timestamptz", 1184),
        ("numeric", 1700),
        ("uuid", 2950),
        ("json", 114),
    ];
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::UInt32,
        Volatility::Immutable,
        Arc::new(|args: &[datafusion::logical_expr::ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = names[0].as_string::<i32>();
            let oids: UInt32Array = (0..names.len())
                .map(|i| {
                    let name = names.is_valid(i).then(|| names.value(i))?;
                    let name = name.trim_start_matches("pg_catalog.");
                    TYPES.iter().find(|(n, _)| *n == name).map(|(_, oid)| *oid)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(oids)))
        }),
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, RecordBatch};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::prelude::SessionConfig;

    use super::*;

    /// A context like a session's, without tables of its own.
    fn context() -> SessionContext {
        let config = SessionConfig::new().with_default_catalog_and_schema(CATALOG, "public");
        let context = SessionContext::new_with_config(config);
        install(&context).unwrap();
        context
    }

    fn rewritten(sql: &str) -> String {
        let mut statements = StatementParser::new().parse(sql).unwrap();
        assert_eq!(statements.len(), 1);
        statements.remove(0).to_string()
    }

    async fn run(sql: &str) -> Vec<RecordBatch> {
        let sql = rewritten(sql);
        context().sql(&sql).await.unwrap().collect().await.unwrap()
    }

    #[test]
    fn correlated_subqueries_over_the_lake_are_kept() {
        let sql = rewritten(
            "SELECT a.agency_code, (SELECT count(*) FROM events e \
             WHERE e.agency_code = a.agency_code) AS n FROM agencies a",
        );
        assert!(
            sql.contains("(SELECT count(*) FROM events e WHERE"),
            "{sql}"
        );
    }

    #[test]
    fn correlated_subqueries_in_catalogue_projections_answer_null() {
        let sql = rewritten(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT d.adbin FROM pg_catalog.pg_attrdef d \
             WHERE d.adrelid = a.attrelid) END AS dflt, \
             (SELECT max(t.oid) FROM pg_catalog.pg_type t) + 1 AS uncorrelated \
             FROM pg_catalog.pg_attribute a",
        );
        assert!(sql.contains("THEN NULL END AS dflt"), "{sql}");
        assert!(sql.contains("(SELECT max(t.oid)"), "{sql}");
    }

    #[tokio::test]
    async fn like_escapes_other_than_backslash_match_as_in_postgres() {
        let batches = run("SELECT 'pg_catalog' LIKE 'pg/_%' ESCAPE '/' AS a, \
             'pgxcatalog' LIKE 'pg/_%' ESCAPE '/' AS b, 'a/b' LIKE 'a//b' ESCAPE '/' AS c, \
             'a\\b' LIKE 'a\\b' ESCAPE '/' AS d, 'a%' LIKE 'a!%' ESCAPE '!' AS e")
        .await;
        let row: Vec<bool> = batches[0]
            .columns()
            .iter()
            .map(|c| c.as_boolean().value(0))
            .collect();
        assert_eq!(row, [true, false, true, true, true]);
    }

    #[tokio::test]
    async fn catalogue_vectors_unnest_with_their_subscripts() {
        let batches = run(
            "SELECT indkey, unnest(indkey) AS k, generate_subscripts(indkey, 1) AS i \
             FROM pg_catalog.pg_index",
        )
        .await;
        let mut rows = 0;
        for batch in &batches {
            let texts = batch.column(0).as_string::<i32>();
            let keys = batch.column(1).as_primitive::<Int64Type>();
            let subscripts = batch.column(2).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let i = subscripts.value(row);
                let key = texts.value(row).split(' ').nth(i as usize - 1).unwrap();
                assert_eq!(keys.value(row).to_string(), key);
                rows += 1;
            }
        }
        assert!(rows > 0);
    }

    #[tokio::test]
    async fn expandarray_rows_are_elements_with_their_subscripts() {
        // As pgjdbc's getPrimaryKeys reads them: `(…).n` beside the `(x, n)` rows, `(keys).x`.
        let batches = run(
            "SELECT e.indkey, e.n, (e.keys).x AS x, (e.keys).n AS kn FROM (\
             SELECT indkey, (information_schema._pg_expandarray(indkey)).n AS n, \
             information_schema._pg_expandarray(indkey) AS keys FROM pg_catalog.pg_index) e",
        )
        .await;
        let mut rows = 0;
        for batch in &batches {
            let texts = batch.column(0).as_string::<i32>();
            let [n, x, kn] = [1, 2, 3].map(|c| batch.column(c).as_primitive::<Int64Type>());
            for row in 0..batch.num_rows() {
                assert_eq!(n.value(row), kn.value(row));
                let key = texts.value(row).split(' ').nth(n.value(row) as usize - 1);
                assert_eq!(Some(x.value(row).to_string().as_str()), key);
                rows += 1;
            }
        }
        assert!(rows > 0);
    }
}
