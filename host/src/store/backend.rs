//! The two database engines under the store: the embedded SQLite file (the default) and a
//! PostgreSQL server (`--store postgresql://…`, one experiment shared by many hosts).
//!
//! The store's SQL is written once, with PostgreSQL's `$1` placeholders (rewritten to
//! SQLite's `?1`) and the statements both engines share (`INSERT … ON CONFLICT`, `UPDATE …
//! RETURNING`); values cross as [`Sql`] and rows come back as [`Row`]. What differs
//! (column types in the schema, how a table's columns are listed, the lock that serializes
//! a write transaction) is answered by [`Conn`] per engine. Both drivers are the
//! well-kept crates (rusqlite, postgres); this module only translates between them.

use std::path::PathBuf;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::flush::Commit;

/// Where the store is: `--store URL` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (`sqlite:PATH`, or a plain path).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgresql://USER@HOST[:PORT]/DB[?…]`, or `postgres://…`).
    Postgres(String),
}

impl Location {
    /// Parses a `--store` value.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            text.parse::<postgres::Config>()
                .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
            return Ok(Location::Postgres(text.to_string()));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        if path.is_empty() || text.contains("://") {
            return Err(
                "expected postgresql://USER@HOST/DB, sqlite:PATH or a file path".to_string(),
            );
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }

    /// How errors name it: the path, or the URL without its password.
    pub fn label(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => redact(url),
        }
    }

    /// Whether the store is a file that does not exist yet.
    pub fn is_missing_file(&self) -> bool {
        matches!(self, Location::Sqlite(path) if !path.exists())
    }
}

/// `url` with the password between `:` and `@` of its authority replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_string(),
    }
}

/// A database error of either engine, or a column that did not hold what it should.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// From SQLite.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// From PostgreSQL.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// A trial of a shared run told when it is no longer in flight.
    #[error("trial {0} is no longer in flight (told elsewhere, or handed out again)")]
    NotInFlight(usize),
    /// A column read back that is not what the store wrote there.
    #[error("column {index}: {reason}")]
    Column {
        /// Its position in the row.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl DbError {
    /// Whether PostgreSQL refused a statement for a unique key another transaction
    /// committed first (SQLite's writers never race: its write lock serializes them).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

/// A value crossing to or from either engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Sql {
    /// NULL.
    Null,
    /// An integer (a BIGINT column in PostgreSQL).
    Int(i64),
    /// A float (DOUBLE PRECISION), bit for bit.
    Real(f64),
    /// Text (JSON columns are text, so numbers keep their shortest round-trip digits).
    Text(String),
    /// Bytes (BYTEA).
    Blob(Vec<u8>),
}

impl From<i64> for Sql {
    fn from(v: i64) -> Self {
        Sql::Int(v)
    }
}

impl From<usize> for Sql {
    fn from(v: usize) -> Self {
        Sql::Int(v as i64)
    }
}

impl From<bool> for Sql {
    fn from(v: bool) -> Self {
        Sql::Int(v as i64)
    }
}

impl From<f64> for Sql {
    fn from(v: f64) -> Self {
        Sql::Real(v)
    }
}

impl From<&str> for Sql {
    fn from(v: &str) -> Self {
        Sql::Text(v.to_string())
    }
}

impl From<String> for Sql {
    fn from(v: String) -> Self {
        Sql::Text(v)
    }
}

impl From<Vec<u8>> for Sql {
    fn from(v: Vec<u8>) -> Self {
        Sql::Blob(v)
    }
}

impl<T: Into<Sql>> From<Option<T>> for Sql {
    fn from(v: Option<T>) -> Self {
        v.map_or(Sql::Null, Into::into)
    }
}

impl rusqlite::ToSql for Sql {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Sql::Null => ValueRef::Null,
            Sql::Int(v) => ValueRef::Integer(*v),
            Sql::Real(v) => ValueRef::Real(*v),
            Sql::Text(v) => ValueRef::Text(v.as_bytes()),
            Sql::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

impl ToSql for Sql {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Sql::Null => Ok(IsNull::Yes),
            Sql::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Sql::Int(v) if *ty == Type::FLOAT8 => (*v as f64).to_sql(ty, out),
            Sql::Int(v) => v.to_sql(ty, out),
            Sql::Real(v) => v.to_sql(ty, out),
            Sql::Text(v) => v.to_sql(ty, out),
            Sql::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT4,
            Type::INT8,
            Type::FLOAT8,
            Type::TEXT,
            Type::VARCHAR,
            Type::BYTEA,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

/// A row read back, its columns as [`Sql`] values.
#[derive(Debug, Clone)]
pub struct Row(Vec<Sql>);

impl Row {
    fn column(&self, index: usize) -> Result<&Sql, DbError> {
        self.0.get(index).ok_or_else(|| DbError::Column {
            index,
            reason: "missing".to_string(),
        })
    }

    fn wrong(index: usize, what: &str, got: &Sql) -> DbError {
        DbError::Column {
            index,
            reason: format!("expected {what}, found {got:?}"),
        }
    }

    /// The row without its first `n` columns.
    pub fn skip(&self, n: usize) -> Row {
        Row(self.0.iter().skip(n).cloned().collect())
    }

    /// An integer column that may be NULL.
    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, DbError> {
        match self.column(index)? {
            Sql::Null => Ok(None),
            Sql::Int(v) => Ok(Some(*v)),
            other => Err(Self::wrong(index, "an integer", other)),
        }
    }

    /// An integer column.
    pub fn int(&self, index: usize) -> Result<i64, DbError> {
        self.opt_int(index)?
            .ok_or_else(|| Self::wrong(index, "an integer", &Sql::Null))
    }

    /// A float column that may be NULL (SQLite may hand back a whole float as an integer).
    pub fn opt_real(&self, index: usize) -> Result<Option<f64>, DbError> {
        match self.column(index)? {
            Sql::Null => Ok(None),
            Sql::Real(v) => Ok(Some(*v)),
            Sql::Int(v) => Ok(Some(*v as f64)),
            other => Err(Self::wrong(index, "a number", other)),
        }
    }

    /// A float column.
    pub fn real(&self, index: usize) -> Result<f64, DbError> {
        self.opt_real(index)?
            .ok_or_else(|| Self::wrong(index, "a number", &Sql::Null))
    }

    /// A text column that may be NULL.
    pub fn opt_text(&self, index: usize) -> Result<Option<String>, DbError> {
        match self.column(index)? {
            Sql::Null => Ok(None),
            Sql::Text(v) => Ok(Some(v.clone())),
            other => Err(Self::wrong(index, "text", other)),
        }
    }

    /// A text column.
    pub fn text(&self, index: usize) -> Result<String, DbError> {
        self.opt_text(index)?
            .ok_or_else(|| Self::wrong(index, "text", &Sql::Null))
    }

    /// A bytes column that may be NULL.
    pub fn opt_blob(&self, index: usize) -> Result<Option<Vec<u8>>, DbError> {
        match self.column(index)? {
            Sql::Null => Ok(None),
            Sql::Blob(v) => Ok(Some(v.clone())),
            other => Err(Self::wrong(index, "bytes", other)),
        }
    }

    /// A flag kept as 0 or 1.
    pub fn flag(&self, index: usize) -> Result<bool, DbError> {
        Ok(self.int(index)? != 0)
    }

    /// A JSON text column, parsed: text that does not parse is an error naming the column,
    /// never a silently invented default.
    pub fn json<T: serde::de::DeserializeOwned>(&self, index: usize) -> Result<T, DbError> {
        parse_json(&self.text(index)?, index)
    }

    /// A JSON text column that may be NULL.
    pub fn opt_json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
    ) -> Result<Option<T>, DbError> {
        self.opt_text(index)?
            .map(|text| parse_json(&text, index))
            .transpose()
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, index: usize) -> Result<T, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::Column {
        index,
        reason: format!("not the JSON expected: {e}"),
    })
}

/// One connection to either engine.
pub enum Conn {
    /// SQLite (WAL, a busy timeout for other processes' locks).
    Sqlite(rusqlite::Connection),
    /// PostgreSQL.
    Postgres(Box<Pg>),
}

/// A PostgreSQL connection and its prepared statements, by SQL text: a statement is
/// parsed once per connection, so each later use is one round trip instead of two.
pub struct Pg {
    client: postgres::Client,
    statements: std::collections::HashMap<String, postgres::Statement>,
}

impl Pg {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

/// How long a write waits for another hpo process holding the SQLite file's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Conn {
    /// Connects to `location` (creating an SQLite file and its directory).
    pub fn open(location: &Location) -> Result<Self, DbError> {
        match location {
            Location::Sqlite(path) => open_sqlite(path).map(Conn::Sqlite),
            Location::Postgres(url) => Ok(Conn::Postgres(Box::new(Pg {
                client: postgres::Client::connect(url, postgres::NoTls)?,
                statements: std::collections::HashMap::new(),
            }))),
        }
    }

    /// `sql` (placeholders `$1`, `$2`, …) with `params`: the rows changed.
    pub fn execute(&mut self, sql: &str, params: &[Sql]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => {
                Ok(c.execute(&sqlite_sql(sql), rusqlite::params_from_iter(params))? as u64)
            }
            Conn::Postgres(c) => {
                let statement = c.statement(sql)?;
                Ok(c.client.execute(&statement, &pg_params(params))?)
            }
        }
    }

    /// The rows `sql` answers.
    pub fn query(&mut self, sql: &str, params: &[Sql]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
                let width = stmt.column_count();
                let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                    (0..width).map(|i| sqlite_value(r, i)).collect()
                })?;
                Ok(rows.map(|r| r.map(Row)).collect::<Result<Vec<_>, _>>()?)
            }
            Conn::Postgres(c) => {
                let statement = c.statement(sql)?;
                c.client
                    .query(&statement, &pg_params(params))?
                    .iter()
                    .map(pg_row)
                    .collect()
            }
        }
    }

    /// The first row `sql` answers, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Sql]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Several statements without parameters.
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => Ok(c.client.batch_execute(sql)?),
        }
    }

    /// As [`Conn::write`], committed as `commit` says, with run `run`'s row locked first
    /// in the round trip of `BEGIN`: other transactions that write the run wait for this
    /// one (SQLite's write lock already excludes them). Each statement of `f` starts after
    /// the lock was granted, so (READ COMMITTED) it sees what the lock's previous holder
    /// committed.
    pub fn write_run<T>(
        &mut self,
        commit: Commit,
        experiment: i64,
        run: usize,
        f: impl FnOnce(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.transaction(commit, Some((experiment, run)), f)
    }

    /// `f` in a write transaction, committed when it returns `Ok`, rolled back otherwise.
    /// SQLite takes the file's write lock up front (`BEGIN IMMEDIATE`: another process's
    /// writes make it wait instead of failing at a lock upgrade); PostgreSQL's transactions
    /// lock the rows they update (the store updates a run's row first where order matters).
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.transaction(Commit::Durable, None, f)
    }

    /// `f` between [`Conn::begin`]'s statements and `COMMIT`, or `ROLLBACK` on an error.
    fn transaction<T>(
        &mut self,
        commit: Commit,
        lock: Option<(i64, usize)>,
        f: impl FnOnce(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let begin = self.begin(commit, lock);
        self.batch(&begin)?;
        match f(self) {
            Ok(value) => {
                self.batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The statements that open a write transaction, sent in one round trip: `BEGIN`
    /// (SQLite's `BEGIN IMMEDIATE` takes the file's write lock), PostgreSQL's
    /// `synchronous_commit` off for a [`Commit::Deferred`] one, and the lock of a run's
    /// row (`FOR UPDATE`, which leaves no row version behind; its keys are integers,
    /// written as literals). SQLite's write lock already excludes every other writer.
    fn begin(&self, commit: Commit, lock: Option<(i64, usize)>) -> String {
        let Conn::Postgres(_) = self else {
            return "BEGIN IMMEDIATE".to_string();
        };
        let mut sql = match commit {
            Commit::Deferred => "BEGIN; SET LOCAL synchronous_commit TO OFF".to_string(),
            Commit::Durable => "BEGIN".to_string(),
        };
        if let Some((experiment, run)) = lock {
            sql.push_str(&format!(
                "; SELECT 1 FROM runs WHERE experiment = {experiment} AND run = {run} FOR UPDATE"
            ));
        }
        sql
    }

    /// The `FROM` clause that makes the transaction of a `SELECT` (or of an `INSERT …
    /// SELECT`) commit without waiting for PostgreSQL's flush, as [`Commit::Deferred`]
    /// does: `synchronous_commit` turned off by the statement itself, for its transaction
    /// only (`set_config(…, true)`), so a statement that is its own transaction needs no
    /// `BEGIN`. Nothing on SQLite, whose commits wait for no flush.
    pub fn unflushed(&self) -> &'static str {
        match self {
            Conn::Sqlite(_) => "",
            Conn::Postgres(_) => {
                "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"
            }
        }
    }

    /// Inside a write transaction: waits until no other transaction holds the store-wide
    /// lock `key` (PostgreSQL's transaction-scoped advisory lock; SQLite's write lock
    /// already excludes every other writer).
    pub fn lock_store(&mut self, key: i64) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(_) => Ok(()),
            Conn::Postgres(c) => {
                c.client
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
                Ok(())
            }
        }
    }

    /// The schema `template` in this engine's types: `{id}` an auto-numbered key, `{int}`,
    /// `{real}`, `{blob}`, and `{now}` the current UTC time as text.
    pub fn dialect(&self, template: &str) -> String {
        let words: [(&str, &str); 5] = match self {
            Conn::Sqlite(_) => [
                ("{id}", "INTEGER PRIMARY KEY"),
                ("{int}", "INTEGER"),
                ("{real}", "REAL"),
                ("{blob}", "BLOB"),
                ("{now}", "(datetime('now'))"),
            ],
            Conn::Postgres(_) => [
                (
                    "{id}",
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                ),
                ("{int}", "BIGINT"),
                ("{real}", "DOUBLE PRECISION"),
                ("{blob}", "BYTEA"),
                (
                    "{now}",
                    "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))",
                ),
            ],
        };
        words
            .iter()
            .fold(template.to_string(), |s, (word, ty)| s.replace(word, ty))
    }

    /// The names of `table`'s columns.
    pub fn columns(&mut self, table: &str) -> Result<Vec<String>, DbError> {
        let sql = match self {
            Conn::Sqlite(_) => "SELECT name FROM pragma_table_info($1)",
            Conn::Postgres(_) => {
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name::text = $1"
            }
        };
        self.query(sql, &[table.into()])?
            .iter()
            .map(|r| r.text(0))
            .collect()
    }
}

fn open_sqlite(path: &std::path::Path) -> Result<rusqlite::Connection, DbError> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = rusqlite::Connection::open(path)?;
    // First: every statement below may meet another hpo process's lock.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Switching to WAL takes an exclusive lock without asking the busy handler: retry.
    let started = std::time::Instant::now();
    while let Err(e) = conn.pragma_update(None, "journal_mode", "WAL") {
        if !is_busy(&e) || started.elapsed() > BUSY_TIMEOUT {
            return Err(e.into());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Whether an error is another connection's lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// `$1`, `$2`, … as SQLite's numbered `?1`, `?2`, … (the store's SQL has no `$` in strings).
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn pg_params(params: &[Sql]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn sqlite_value(row: &rusqlite::Row, index: usize) -> rusqlite::Result<Sql> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(index)? {
        ValueRef::Null => Sql::Null,
        ValueRef::Integer(v) => Sql::Int(v),
        ValueRef::Real(v) => Sql::Real(v),
        ValueRef::Text(v) => Sql::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Sql::Blob(v.to_vec()),
    })
}

fn pg_row(row: &postgres::Row) -> Result<Row, DbError> {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_().clone();
            Ok(match ty {
                Type::INT8 => row.try_get::<_, Option<i64>>(i)?.into(),
                Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(i64::from).into(),
                Type::BOOL => row.try_get::<_, Option<bool>>(i)?.into(),
                Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.into(),
                Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.into(),
                Type::TEXT | Type::VARCHAR | Type::NAME => {
                    row.try_get::<_, Option<String>>(i)?.into()
                }
                other => {
                    return Err(DbError::Column {
                        index: i,
                        reason: format!("unexpected type {other}"),
                    });
                }
            })
        })
        .collect::<Result<Vec<_>, DbError>>()
        .map(Row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse_and_passwords_are_never_shown() {
        let pg = Location::parse("postgresql://hpo:s3cret@db.lan:5433/exp").unwrap();
        assert_eq!(pg.label(), "postgresql://hpo:***@db.lan:5433/exp");
        assert_eq!(
            Location::parse("postgres://hpo@127.0.0.1/hpo")
                .unwrap()
                .label(),
            "postgres://hpo@127.0.0.1/hpo"
        );
        assert_eq!(
            Location::parse("sqlite:/tmp/x.sqlite").unwrap(),
            Location::Sqlite("/tmp/x.sqlite".into())
        );
        assert_eq!(
            Location::parse("runs/hpo-store.sqlite").unwrap(),
            Location::Sqlite("runs/hpo-store.sqlite".into())
        );
        for bad in ["mysql://x/y", "sqlite:", "postgresql://h/d?sslmode=bogus"] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_become_sqlite_numbered_parameters() {
        let mut conn = Conn::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        conn.batch("CREATE TABLE t (a INTEGER, b TEXT, c REAL, d BLOB)")
            .unwrap();
        conn.execute(
            "INSERT INTO t (d, c, b, a) VALUES ($4, $3, $2, $1)",
            &[7i64.into(), "x".into(), 0.5.into(), vec![1u8].into()],
        )
        .unwrap();
        let row = conn
            .query_opt("SELECT a, b, c, d FROM t WHERE a = $1", &[7i64.into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                row.int(0).unwrap(),
                row.text(1).unwrap(),
                row.real(2).unwrap()
            ),
            (7, "x".to_string(), 0.5)
        );
        assert_eq!(row.opt_blob(3).unwrap(), Some(vec![1]));
        assert!(row.text(0).is_err());
    }
}
