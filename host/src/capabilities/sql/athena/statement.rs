//! Reads one Athena statement into the form the engine acts on. Identifiers are
//! case-insensitive in Athena (quoted or not), so every word is lowercased at the
//! token level, and Hive's backtick quoting becomes standard double quotes.
//! sqlparser parses queries, CREATE EXTERNAL TABLE, CTAS and INSERT; the Hive
//! statements it lacks (MSCK, ALTER TABLE ADD PARTITION ... LOCATION, SHOW
//! PARTITIONS, ...) are read here with its parser primitives.

use datafusion::sql::sqlparser::ast::{
    self, CreateTableOptions, Expr, FileFormat, HiveDelimiter, HiveDistributionStyle, HiveIOFormat, HiveRowFormat,
    ObjectName, ObjectNamePart, Partition, SqlOption, Statement, TableObject, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::text_table::{LAZY_SIMPLE_SERDE, OPEN_CSV_SERDE, hive_char};
use crate::catalog::DEFAULT_DATABASE;

/// `database.table`, with the default database filled in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub database: String,
    pub table: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

impl TableName {
    pub fn from_object_name(name: &ObjectName) -> Result<Self, String> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(ident) => Ok(ident.value.clone()),
                other => Err(format!("unsupported table name part '{other}'")),
            })
            .collect::<Result<_, _>>()?;
        match parts.as_slice() {
            [table] => Ok(Self { database: DEFAULT_DATABASE.into(), table: table.clone() }),
            // `awsdatacatalog.db.table`: the catalog part names the only catalog there is.
            [.., database, table] => Ok(Self { database: database.clone(), table: table.clone() }),
            [] => Err("empty table name".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub athena_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExternalTable {
    pub name: TableName,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnSpec>,
    pub partition_keys: Vec<ColumnSpec>,
    pub csv: Option<CsvLayout>,
    pub location: String,
    pub properties: Vec<(String, String)>,
}

/// How a text table's rows are laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvLayout {
    pub delimiter: char,
    /// The SerDe class: LazySimpleSerDe or OpenCSVSerde.
    pub serde: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableAsSelect {
    pub name: TableName,
    pub if_not_exists: bool,
    pub location: Option<String>,
    pub partitioned_by: Vec<String>,
    pub query: Box<ast::Query>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InsertInto {
    pub table: TableName,
    /// Target columns in the order the query produces them; empty means all, in table order.
    pub columns: Vec<String>,
    pub query: Box<ast::Query>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    pub values: Vec<(String, String)>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AthenaStatement {
    Query(Box<ast::Query>),
    CreateExternalTable(ExternalTable),
    CreateTableAs(TableAsSelect),
    InsertInto(InsertInto),
    DropTable { name: TableName, if_exists: bool },
    CreateDatabase { name: String, if_not_exists: bool },
    MsckRepair(TableName),
    AddPartitions { table: TableName, if_not_exists: bool, partitions: Vec<PartitionSpec> },
    DropPartitions { table: TableName, if_exists: bool, partitions: Vec<PartitionSpec> },
    /// `ALTER TABLE t ADD COLUMNS (...)`, or `REPLACE COLUMNS (...)` when `replace`.
    AlterColumns { table: TableName, replace: bool, columns: Vec<ColumnSpec> },
    ShowTables { database: Option<String>, pattern: Option<String> },
    ShowDatabases { pattern: Option<String> },
    ShowPartitions(TableName),
    ShowColumns(TableName),
    Describe(TableName),
}

fn err(e: ParserError) -> String {
    format!("SQL syntax: {}", e.to_string().trim_start_matches("sql parser error: "))
}

/// A parser over the normalised tokens of `sql`.
pub fn parser(sql: &str) -> Result<Parser<'static>, String> {
    static DIALECT: GenericDialect = GenericDialect {};
    let mut tokens = Tokenizer::new(&DIALECT, sql).tokenize_with_location().map_err(|e| format!("SQL syntax: {e}"))?;
    for token in &mut tokens {
        if let Token::Word(word) = &mut token.token {
            word.value = word.value.to_lowercase();
            if word.quote_style == Some('`') {
                word.quote_style = Some('"');
            }
        }
    }
    angle_bracket_array_types(&mut tokens);
    Ok(Parser::new(&DIALECT).with_tokens_with_locations(tokens))
}

/// Trino spells an array type `array(double)`; sqlparser reads `array<double>` only. In a type after `AS`
/// (`CAST(x AS array(double))`, nested `array(array(varchar))` too), the parentheses become angle brackets.
fn angle_bracket_array_types(tokens: &mut [TokenWithSpan]) {
    let significant: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_))).collect();
    let is_word = |token: &Token, keyword: Keyword| matches!(token, Token::Word(w) if w.keyword == keyword && w.quote_style.is_none());
    for k in 0..significant.len() {
        if !is_word(&tokens[significant[k]].token, Keyword::AS) {
            continue;
        }
        // `array (` after AS, and again for its element type.
        let mut at = k + 1;
        while at + 1 < significant.len()
            && is_word(&tokens[significant[at]].token, Keyword::ARRAY)
            && tokens[significant[at + 1]].token == Token::LParen
        {
            let mut depth = 0;
            let Some(close) = (at + 1..significant.len()).find(|&j| {
                match tokens[significant[j]].token {
                    Token::LParen => depth += 1,
                    Token::RParen => depth -= 1,
                    _ => {}
                }
                depth == 0
            }) else {
                break;
            };
            tokens[significant[at + 1]].token = Token::Lt;
            tokens[significant[close]].token = Token::Gt;
            at += 2;
        }
    }
}

pub fn parse(sql: &str) -> Result<AthenaStatement, String> {
    let mut p = parser(sql)?;
    let statement = parse_hive_forms(&mut p).map_err(err)?;
    let statement = match statement {
        Some(s) => s,
        None => from_sqlparser(p.parse_statement().map_err(err)?)?,
    };
    while p.consume_token(&Token::SemiColon) {}
    if p.peek_token().token != Token::EOF {
        return Err(format!(
            "one statement at a time: unexpected '{}' after the statement",
            p.peek_token().token
        ));
    }
    Ok(statement)
}

fn table_name(p: &mut Parser) -> Result<TableName, ParserError> {
    let name = p.parse_object_name(false)?;
    TableName::from_object_name(&name).map_err(ParserError::ParserError)
}

fn optional_pattern(p: &mut Parser) -> Result<Option<String>, ParserError> {
    let _ = p.parse_keyword(Keyword::LIKE);
    match p.peek_token().token {
        Token::SingleQuotedString(_) => Ok(Some(p.parse_literal_string()?)),
        _ => Ok(None),
    }
}

/// `(k = 'v', ...)` [LOCATION 's3://...'], repeated.
fn partition_specs(p: &mut Parser, with_location: bool) -> Result<Vec<PartitionSpec>, ParserError> {
    let mut specs = Vec::new();
    while p.parse_keyword(Keyword::PARTITION) {
        let Partition::Partitions(exprs) = p.parse_partition()? else {
            return Err(ParserError::ParserError("expected PARTITION (key = 'value', ...)".into()));
        };
        let values = exprs.iter().map(partition_pair).collect::<Result<_, _>>().map_err(ParserError::ParserError)?;
        let location =
            if with_location && p.parse_keyword(Keyword::LOCATION) { Some(p.parse_literal_string()?) } else { None };
        specs.push(PartitionSpec { values, location });
        let _ = p.consume_token(&Token::Comma);
    }
    if specs.is_empty() {
        return Err(ParserError::ParserError("expected PARTITION (key = 'value', ...)".into()));
    }
    Ok(specs)
}

fn partition_pair(expr: &Expr) -> Result<(String, String), String> {
    if let Expr::BinaryOp { left, op: ast::BinaryOperator::Eq, right } = expr
        && let Expr::Identifier(key) = left.as_ref()
        && let Some(value) = literal_text(right)
    {
        return Ok((key.value.clone(), value));
    }
    Err(format!("partition values are written key = 'value', not '{expr}'"))
}

/// The text of a string, number or boolean literal (partition values, options).
pub fn literal_text(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::TypedString(typed) => match &typed.value.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The Hive/Athena statements sqlparser does not read the way Athena writes them.
fn parse_hive_forms(p: &mut Parser) -> Result<Option<AthenaStatement>, ParserError> {
    if p.parse_keywords(&[Keyword::MSCK, Keyword::REPAIR, Keyword::TABLE]) {
        return Ok(Some(AthenaStatement::MsckRepair(table_name(p)?)));
    }
    if p.parse_keyword(Keyword::DESCRIBE) || p.parse_keyword(Keyword::DESC) {
        let _ = p.parse_keyword(Keyword::EXTENDED) || p.parse_keyword(Keyword::FORMATTED);
        return Ok(Some(AthenaStatement::Describe(table_name(p)?)));
    }
    if p.parse_keyword(Keyword::SHOW) {
        if p.parse_keyword(Keyword::PARTITIONS) {
            return Ok(Some(AthenaStatement::ShowPartitions(table_name(p)?)));
        }
        if p.parse_keyword(Keyword::TABLES) {
            let database = if p.parse_keyword(Keyword::IN) || p.parse_keyword(Keyword::FROM) {
                Some(p.parse_identifier()?.value)
            } else {
                None
            };
            return Ok(Some(AthenaStatement::ShowTables { database, pattern: optional_pattern(p)? }));
        }
        if p.parse_keyword(Keyword::DATABASES) || p.parse_keyword(Keyword::SCHEMAS) {
            return Ok(Some(AthenaStatement::ShowDatabases { pattern: optional_pattern(p)? }));
        }
        if p.parse_keyword(Keyword::COLUMNS) {
            if !(p.parse_keyword(Keyword::IN) || p.parse_keyword(Keyword::FROM)) {
                return Err(ParserError::ParserError("expected SHOW COLUMNS IN table".into()));
            }
            return Ok(Some(AthenaStatement::ShowColumns(table_name(p)?)));
        }
        return Err(ParserError::ParserError(format!(
            "SHOW {} is not supported: use SHOW TABLES, SHOW DATABASES, SHOW PARTITIONS or SHOW COLUMNS",
            p.peek_token().token
        )));
    }
    if p.parse_keywords(&[Keyword::ALTER, Keyword::TABLE]) {
        let table = table_name(p)?;
        let add_columns = p.parse_keywords(&[Keyword::ADD, Keyword::COLUMNS]);
        if add_columns || p.parse_keywords(&[Keyword::REPLACE, Keyword::COLUMNS]) {
            p.expect_token(&Token::LParen)?;
            let columns = p.parse_comma_separated(Parser::parse_column_def)?;
            p.expect_token(&Token::RParen)?;
            return Ok(Some(AthenaStatement::AlterColumns { table, replace: !add_columns, columns: column_specs(&columns) }));
        }
        if p.parse_keyword(Keyword::ADD) {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let partitions = partition_specs(p, true)?;
            return Ok(Some(AthenaStatement::AddPartitions { table, if_not_exists, partitions }));
        }
        if p.parse_keyword(Keyword::DROP) {
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let partitions = partition_specs(p, false)?;
            return Ok(Some(AthenaStatement::DropPartitions { table, if_exists, partitions }));
        }
        return Err(ParserError::ParserError(format!(
            "ALTER TABLE {table} {} is not supported: only ADD PARTITION, DROP PARTITION, ADD COLUMNS and REPLACE COLUMNS are",
            p.peek_token().token
        )));
    }
    if p.parse_keywords(&[Keyword::DROP, Keyword::TABLE]) {
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        return Ok(Some(AthenaStatement::DropTable { name: table_name(p)?, if_exists }));
    }
    if p.parse_keyword(Keyword::CREATE) {
        if p.parse_keyword(Keyword::DATABASE) || p.parse_keyword(Keyword::SCHEMA) {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let name = p.parse_identifier()?.value;
            // COMMENT / LOCATION / WITH DBPROPERTIES carry nothing the local catalog keeps.
            while p.next_token().token != Token::EOF {}
            return Ok(Some(AthenaStatement::CreateDatabase { name, if_not_exists }));
        }
        p.prev_token();
    }
    Ok(None)
}

fn from_sqlparser(statement: Statement) -> Result<AthenaStatement, String> {
    match statement {
        Statement::Query(query) => Ok(AthenaStatement::Query(query)),
        Statement::CreateTable(create) if create.query.is_some() => create_table_as(create),
        Statement::CreateTable(create) if create.external => external_table(create),
        Statement::CreateTable(create) => Err(format!(
            "CREATE TABLE {} without AS SELECT is not supported: Athena creates tables with CREATE EXTERNAL TABLE ... LOCATION 's3://...' or CREATE TABLE ... AS SELECT",
            create.name
        )),
        Statement::Insert(insert) => insert_into(insert),
        Statement::CreateView { .. } => {
            Err("CREATE VIEW is not supported locally: use a WITH clause or CREATE TABLE ... AS SELECT".into())
        }
        Statement::Update(_) | Statement::Delete(_) | Statement::Merge(_) => Err(
            "UPDATE, DELETE and MERGE only work on Iceberg tables in Athena and are not supported here: rewrite the table with CREATE TABLE ... AS SELECT".into(),
        ),
        other => {
            let text = other.to_string();
            let head: String = text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
            Err(format!("statement '{head} ...' is not supported locally"))
        }
    }
}

fn column_specs(columns: &[ast::ColumnDef]) -> Vec<ColumnSpec> {
    columns
        .iter()
        .map(|c| ColumnSpec { name: c.name.value.clone(), athena_type: c.data_type.to_string().to_lowercase() })
        .collect()
}

fn external_table(create: ast::CreateTable) -> Result<AthenaStatement, String> {
    let name = TableName::from_object_name(&create.name)?;
    let partition_keys = match &create.hive_distribution {
        HiveDistributionStyle::PARTITIONED { columns } => column_specs(columns),
        HiveDistributionStyle::NONE => Vec::new(),
        other => return Err(format!("{other:?} is not supported: use PARTITIONED BY (col type, ...)")),
    };
    let formats = create.hive_formats.clone().unwrap_or_default();
    let location = create
        .location
        .clone()
        .or(formats.location.clone())
        .ok_or_else(|| format!("CREATE EXTERNAL TABLE {name} needs LOCATION 's3://bucket/prefix/'"))?;
    // The SerDe and its delimiter; ROW FORMAT DELIMITED's other clauses become SerDe properties.
    let mut row_properties = Vec::new();
    let delimited = match &formats.row_format {
        Some(HiveRowFormat::DELIMITED { delimiters }) => {
            let clause = |kind: HiveDelimiter| delimiters.iter().find(|d| d.delimiter == kind).map(|d| d.char.value.clone());
            if let Some(escape) = clause(HiveDelimiter::FieldsEscapedBy) {
                row_properties.push(("escape.delim".to_string(), escape));
            }
            if let Some(null) = clause(HiveDelimiter::NullDefinedAs) {
                row_properties.push(("serialization.null.format".to_string(), null));
            }
            Some((LAZY_SIMPLE_SERDE, clause(HiveDelimiter::FieldsTerminatedBy).as_deref().and_then(hive_char).unwrap_or('\u{1}')))
        }
        Some(HiveRowFormat::SERDE { class }) if class.to_lowercase().contains("opencsvserde") => Some((OPEN_CSV_SERDE, ',')),
        Some(HiveRowFormat::SERDE { class }) if class.to_lowercase().contains("lazysimpleserde") => Some((LAZY_SIMPLE_SERDE, '\u{1}')),
        Some(HiveRowFormat::SERDE { class }) if class.to_lowercase().contains("parquet") => None,
        Some(HiveRowFormat::SERDE { class }) => {
            return Err(format!("ROW FORMAT SERDE '{class}' is not supported: use STORED AS PARQUET or a delimited text table"));
        }
        None => None,
    };
    let mut properties = match &create.table_options {
        CreateTableOptions::TableProperties(options) | CreateTableOptions::With(options) => options_text(options)?,
        _ => Vec::new(),
    };
    properties.extend(row_properties);
    if let Some(serde) = &formats.serde_properties {
        // SerDe properties (OpenCSVSerde's separatorChar, quoteChar, escapeChar, ...) sit with the table's.
        properties.extend(options_text(serde)?);
    }
    let csv = match (create.file_format, delimited) {
        (Some(FileFormat::PARQUET), _) => None,
        (Some(FileFormat::TEXTFILE) | None, Some((serde, delimiter))) => {
            let key = if serde == OPEN_CSV_SERDE { "separatorchar" } else { "field.delim" };
            let delimiter = properties
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .and_then(|(_, v)| hive_char(v))
                .unwrap_or(delimiter);
            Some(CsvLayout { delimiter, serde: serde.to_string() })
        }
        (Some(FileFormat::TEXTFILE), None) => Some(CsvLayout { delimiter: '\u{1}', serde: LAZY_SIMPLE_SERDE.to_string() }),
        (None, None) if formats.storage.is_none() => {
            return Err(format!("CREATE EXTERNAL TABLE {name} needs STORED AS PARQUET or ROW FORMAT DELIMITED ... STORED AS TEXTFILE"));
        }
        (Some(other), _) => return Err(format!("STORED AS {other} is not supported locally: use PARQUET or TEXTFILE")),
        (None, None) => match formats.storage {
            Some(HiveIOFormat::IOF { input_format, .. }) if input_format.to_string().to_lowercase().contains("parquet") => None,
            _ => return Err("this STORED AS clause is not supported locally: use STORED AS PARQUET".into()),
        },
    };
    Ok(AthenaStatement::CreateExternalTable(ExternalTable {
        name,
        if_not_exists: create.if_not_exists,
        columns: column_specs(&create.columns),
        partition_keys,
        csv,
        location,
        properties,
    }))
}

fn options_text(options: &[SqlOption]) -> Result<Vec<(String, String)>, String> {
    options
        .iter()
        .map(|o| match o {
            SqlOption::KeyValue { key, value } => {
                let text = literal_text(value).ok_or_else(|| format!("option {key} needs a literal value, not '{value}'"))?;
                Ok((key.value.clone(), text))
            }
            other => Err(format!("unsupported option '{other}'")),
        })
        .collect()
}

fn create_table_as(create: ast::CreateTable) -> Result<AthenaStatement, String> {
    let name = TableName::from_object_name(&create.name)?;
    if !create.columns.is_empty() {
        return Err(format!("CREATE TABLE {name} (columns) AS SELECT is not supported: name the columns in the SELECT"));
    }
    let options = match &create.table_options {
        CreateTableOptions::With(options) | CreateTableOptions::Options(options) => options.clone(),
        CreateTableOptions::None => Vec::new(),
        other => return Err(format!("unsupported table options '{other}': use WITH (format = 'PARQUET', external_location = 's3://...')")),
    };
    let (mut location, mut partitioned_by) = (None, Vec::new());
    for option in &options {
        let SqlOption::KeyValue { key, value } = option else { return Err(format!("unsupported option '{option}'")) };
        match key.value.as_str() {
            "format" => match literal_text(value).map(|f| f.to_uppercase()).as_deref() {
                Some("PARQUET") => {}
                other => {
                    return Err(format!(
                        "CTAS format {} is not supported locally: use format = 'PARQUET'",
                        other.unwrap_or("?")
                    ));
                }
            },
            "external_location" => {
                location = Some(literal_text(value).ok_or("external_location needs a string literal")?);
            }
            "partitioned_by" => {
                let Expr::Array(array) = value else {
                    return Err(format!("partitioned_by needs ARRAY['col', ...], not '{value}'"));
                };
                for element in &array.elem {
                    let column = literal_text(element).ok_or("partitioned_by lists column names as strings")?;
                    partitioned_by.push(column.to_lowercase());
                }
            }
            // Compression and file-size hints change how files are written, not what a query reads.
            "write_compression" | "parquet_compression" | "compression_level" => {}
            other => {
                return Err(format!(
                    "CTAS option {other} is not supported locally: use format, external_location and partitioned_by"
                ));
            }
        }
    }
    Ok(AthenaStatement::CreateTableAs(TableAsSelect {
        name,
        if_not_exists: create.if_not_exists,
        location,
        partitioned_by,
        query: create.query.expect("checked by the caller"),
    }))
}

fn insert_into(insert: ast::Insert) -> Result<AthenaStatement, String> {
    let TableObject::TableName(name) = &insert.table else {
        return Err("INSERT INTO a table function is not supported".into());
    };
    let table = TableName::from_object_name(name)?;
    if insert.overwrite {
        return Err(format!("INSERT OVERWRITE {table} is not supported by Athena: drop and recreate the table, or write a new partition"));
    }
    let query = insert.source.ok_or_else(|| format!("INSERT INTO {table} needs VALUES or a SELECT"))?;
    let columns: Vec<String> = insert.columns.iter().map(|c| c.to_string().trim_matches('"').to_string()).collect();
    // Trino refuses a column named twice; the engine would keep one of the two values.
    if let Some(twice) = columns.iter().enumerate().find_map(|(i, c)| columns[..i].contains(c).then_some(c)) {
        return Err(format!("INSERT INTO {table}: column '{twice}' is named more than once in the column list"));
    }
    Ok(AthenaStatement::InsertInto(InsertInto { table, columns, query }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_table_ddl_with_backticks_reads_whole() {
        let sql = "CREATE EXTERNAL TABLE IF NOT EXISTS `Analytics`.`Events` (`user_id` string, `Score` double, tags array<string>)
            PARTITIONED BY (`dt` string) STORED AS PARQUET LOCATION 's3://raw/events/'
            TBLPROPERTIES ('parquet.compression'='SNAPPY')";
        let AthenaStatement::CreateExternalTable(t) = parse(sql).unwrap() else { panic!() };
        assert_eq!(t.name.to_string(), "analytics.events");
        assert!(t.if_not_exists);
        assert_eq!(t.columns[1], ColumnSpec { name: "score".into(), athena_type: "double".into() });
        assert_eq!(t.columns[2].athena_type, "array<string>");
        assert_eq!(t.partition_keys[0].name, "dt");
        assert_eq!(t.csv, None);
        assert_eq!(t.location, "s3://raw/events/");
        assert_eq!(t.properties, vec![("parquet.compression".to_string(), "SNAPPY".to_string())]);
    }

    #[test]
    fn hive_statements_sqlparser_lacks_are_read() {
        assert_eq!(
            parse("ALTER TABLE events ADD IF NOT EXISTS PARTITION (dt = '2024-01-01') LOCATION 's3://raw/x/' PARTITION (dt='2024-01-02')").unwrap(),
            AthenaStatement::AddPartitions {
                table: TableName { database: "engage".into(), table: "events".into() },
                if_not_exists: true,
                partitions: vec![
                    PartitionSpec { values: vec![("dt".into(), "2024-01-01".into())], location: Some("s3://raw/x/".into()) },
                    PartitionSpec { values: vec![("dt".into(), "2024-01-02".into())], location: None },
                ],
            }
        );
        assert!(matches!(parse("MSCK REPAIR TABLE db.events;").unwrap(), AthenaStatement::MsckRepair(t) if t.database == "db"));
        assert!(matches!(parse("SHOW PARTITIONS events").unwrap(), AthenaStatement::ShowPartitions(_)));
        assert!(matches!(parse("show tables in db 'ev*'").unwrap(), AthenaStatement::ShowTables { database: Some(d), pattern: Some(p) } if d == "db" && p == "ev*"));
    }

    #[test]
    fn ctas_options_are_read() {
        let sql = "CREATE TABLE t WITH (format = 'PARQUET', external_location = 's3://out/t/', partitioned_by = ARRAY['DT']) AS SELECT 1 AS x, 'a' AS dt";
        let AthenaStatement::CreateTableAs(c) = parse(sql).unwrap() else { panic!() };
        assert_eq!(c.location.as_deref(), Some("s3://out/t/"));
        assert_eq!(c.partitioned_by, vec!["dt"]);
        let orc = parse("CREATE TABLE t WITH (format = 'ORC') AS SELECT 1").unwrap_err();
        assert!(orc.contains("ORC") && orc.contains("PARQUET"), "{orc}");
    }
}
