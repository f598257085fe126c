//! One statement interface for the statements a registration writes, over sqlx (both engines,
//! inside any transaction) and over the group-commit writer's own SQLite connection.
//!
//! sqlx runs each SQLite statement on a worker thread of its own: every statement is a round
//! trip between threads, about 100 µs on a loaded 2-core machine, and a registration has a dozen
//! of them. The writer that every filing waits on therefore owns a direct connection and runs its
//! statements on its own thread; the same code (this trait) still serves the ordinary
//! transactions of both engines through sqlx.
//!
//! Statements use `$1`-style parameters, as everywhere in the store: SQLite reads `$1` as a
//! named parameter, and the direct connection binds it by its number, as sqlx does.

use crate::{Result, StoreError};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row as _};
use std::borrow::Cow;
use std::future::Future;

/// A statement parameter. Nulls are typed, since PostgreSQL checks a parameter's type.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
    Bytes(Option<&'a [u8]>),
}

impl<'a> From<Option<&'a [u8]>> for Arg<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Arg::Bytes(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v.map(Cow::Owned))
    }
}

/// The parameters of a statement, in order: `args![a, b]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$($crate::exec::Arg::from($a)),*]
    };
}
pub(crate) use args;

/// A row read back, its columns by position.
pub(crate) enum Row {
    Any(AnyRow),
    Direct(Vec<rusqlite::types::Value>),
}

impl Row {
    /// A text column that may be null.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self {
            Row::Any(r) => Ok(r.try_get(i)?),
            Row::Direct(v) => match v.get(i) {
                Some(rusqlite::types::Value::Text(s)) => Ok(Some(s.clone())),
                Some(rusqlite::types::Value::Null) => Ok(None),
                other => Err(mismatch(i, "text", other)),
            },
        }
    }

    /// A text column.
    pub(crate) fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {i} is null, text expected")))
    }

    /// An integer column.
    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        match self {
            Row::Any(r) => Ok(r.try_get(i)?),
            Row::Direct(v) => match v.get(i) {
                Some(rusqlite::types::Value::Integer(n)) => Ok(*n),
                other => Err(mismatch(i, "an integer", other)),
            },
        }
    }
}

fn mismatch(i: usize, expected: &str, got: Option<&rusqlite::types::Value>) -> StoreError {
    StoreError::Corrupt(format!("column {i}: {expected} expected, found {got:?}"))
}

/// Runs statements inside whatever transaction the connection is in.
pub(crate) trait Exec: Send {
    /// Runs a statement that returns no rows; the number of rows changed.
    fn execute(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Runs a statement and reads every row it returns.
    fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// The first row a statement returns, if any.
    fn fetch_optional(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { Ok(self.fetch_all(sql, args).await?.into_iter().next()) }
    }

    /// The row a statement must return.
    fn fetch_one(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<Row>> + Send {
        async move {
            self.fetch_optional(sql, args)
                .await?
                .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
        }
    }
}

fn sqlx_query<'q>(
    sql: &'q str,
    args: &'q [Arg<'_>],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.as_deref()),
            Arg::Bytes(v) => q.bind(*v),
        };
    }
    q
}

impl Exec for AnyConnection {
    async fn execute(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<u64> {
        Ok(sqlx_query(sql, &args)
            .execute(&mut *self)
            .await?
            .rows_affected())
    }

    async fn fetch_all(&mut self, sql: &str, args: Vec<Arg<'_>>) -> Result<Vec<Row>> {
        let rows = sqlx_query(sql, &args).fetch_all(&mut *self).await?;
        Ok(rows.into_iter().map(Row::Any).collect())
    }
}

impl Exec for sqlx::Transaction<'_, Any> {
    fn execute(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<u64>> + Send {
        (**self).execute(sql, args)
    }

    fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        (**self).fetch_all(sql, args)
    }
}

/// The writer's direct connection: statements run at once, on the calling thread.
impl Exec for rusqlite::Connection {
    fn execute(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<u64>> + Send {
        std::future::ready(direct_execute(self, sql, &args))
    }

    fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Arg<'_>>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        std::future::ready(direct_fetch_all(self, sql, &args))
    }
}

fn direct_statement<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for i in 1..=stmt.parameter_count() {
        // `$3` is the third argument; an anonymous `?` takes its place in order.
        let n = match stmt.parameter_name(i) {
            None => Some(i),
            Some(name) => name.strip_prefix(['$', '?']).and_then(|n| n.parse().ok()),
        };
        let arg = n
            .and_then(|n: usize| args.get(n.wrapping_sub(1)))
            .ok_or_else(|| {
                StoreError::Unavailable(format!("statement parameter {i} has no argument: {sql}"))
            })?;
        match arg {
            Arg::Int(v) => stmt.raw_bind_parameter(i, v)?,
            Arg::Text(v) => stmt.raw_bind_parameter(i, v.as_deref())?,
            Arg::Bytes(v) => stmt.raw_bind_parameter(i, v)?,
        }
    }
    Ok(stmt)
}

fn direct_execute(conn: &rusqlite::Connection, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
    let n = direct_statement(conn, sql, args)?.raw_execute()?;
    Ok(n as u64)
}

fn direct_fetch_all(conn: &rusqlite::Connection, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
    let mut stmt = direct_statement(conn, sql, args)?;
    let columns = stmt.column_count();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let values = (0..columns)
            .map(|c| r.get::<_, rusqlite::types::Value>(c))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(Row::Direct(values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// The connection as the writer holds it: through `&mut`, the trait's methods (`&mut self`)
    /// come before rusqlite's inherent ones of the same names (`&self`).
    fn generic<E: Exec>(c: &mut E) -> &mut E {
        c
    }

    #[test]
    fn direct_statements_bind_numbered_parameters_by_number() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        let c = generic(&mut conn);
        run(async {
            c.execute("CREATE TABLE t (a TEXT, b INTEGER, n TEXT)", args![])
                .await
                .expect("create");
            // Parameters named out of order, one used twice, a typed null.
            let n = c
                .execute(
                    "INSERT INTO t (b, a, n) VALUES ($2, $1 || $1, $3)",
                    args!["x", 7i64, None::<String>],
                )
                .await
                .expect("insert");
            assert_eq!(n, 1);
            let row = c
                .fetch_one("SELECT a, b, n FROM t WHERE b = $1", args![7i64])
                .await
                .expect("row");
            assert_eq!(row.text(0).expect("a"), "xx");
            assert_eq!(row.int(1).expect("b"), 7);
            assert_eq!(row.opt_text(2).expect("n"), None);
            assert!(row.int(0).is_err(), "a text column is not an integer");
            let none = c
                .fetch_optional("SELECT a FROM t WHERE b = $1", args![8i64])
                .await
                .expect("query");
            assert!(none.is_none());
            let missing = c.execute("SELECT $2", args![1i64]).await;
            assert!(
                matches!(missing, Err(StoreError::Unavailable(_))),
                "{missing:?}"
            );
        });
    }

    #[test]
    fn returning_statements_are_read_directly() {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        let c = generic(&mut conn);
        run(async {
            c.execute(
                "CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER)",
                args![],
            )
            .await
            .expect("create");
            c.execute("INSERT INTO k VALUES (1, 41)", args![])
                .await
                .expect("insert");
            let row = c
                .fetch_one(
                    "UPDATE k SET v = v + 1 WHERE id = $1 RETURNING v",
                    args![1i64],
                )
                .await
                .expect("update");
            assert_eq!(row.int(0).expect("v"), 42);
        });
    }
}
