//! A tenant schema read as of one instant — a repeatable-read, read-only transaction, its tables in the
//! order they load back in, and each table as PostgreSQL's own CSV — and such CSV loaded back.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::control::quote_ident;
use crate::tenant::TenantSlug;

/// Every statement in it sees the same committed state, whatever commits meanwhile, and writes values
/// as [`pin_output`] says.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    pin_output(&mut tx).await?;
    Ok(tx)
}

/// Fixes, for the rest of the transaction, the settings that change how values are written as text
/// (a server's own time zone or date style would otherwise), so that the same rows copied out of two
/// servers give the same bytes: what `tenant move` compares, table by table.
pub async fn pin_output(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, MDY', true), \
         set_config('IntervalStyle', 'postgres', true), set_config('extra_float_digits', '1', true), \
         set_config('bytea_output', 'hex', true)",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The schema's migration version, from its own ledger.
pub async fn schema_version(conn: &mut PgConnection, slug: &TenantSlug) -> Result<i64, sqlx::Error> {
    let sql = format!("SELECT coalesce(max(version), 0) FROM {}._sqlx_migrations WHERE success", slug.quoted_schema());
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(conn).await
}

/// The tables of the schema named `$1`, found through their dependency on the schema: `pg_depend` has an
/// index on what is depended on, while `pg_class` has none on the schema alone, so a filter on
/// `relnamespace` reads all of `pg_class` — every tenant's relations, ~76 a tenant — and a fleet's
/// backup grew with the square of the tenants on the server (docs/BENCHMARKS.md, "Scale").
const SCHEMA_TABLES: &str = "SELECT c.oid, c.relname FROM pg_depend d \
     JOIN pg_class c ON c.oid = d.objid AND c.relnamespace = d.refobjid \
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_namespace'::regclass \
     AND d.refobjid = to_regnamespace($1) AND c.relkind IN ('r', 'p')";

/// The schema's tables but the migration ledger, each after the tables its foreign keys refer to
/// (ties by name), so that loading them in this order never breaks a reference.
pub async fn tables(conn: &mut PgConnection, slug: &TenantSlug) -> Result<Vec<String>, sqlx::Error> {
    let schema = slug.schema();
    let names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT relname::text FROM ({SCHEMA_TABLES}) t WHERE relname <> '_sqlx_migrations'"
    )))
    .bind(&schema)
    .fetch_all(&mut *conn)
    .await?;
    let references: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.relname::text, r.relname::text FROM ({SCHEMA_TABLES}) t \
         JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f' JOIN pg_class r ON r.oid = k.confrelid \
         WHERE t.oid <> r.oid"
    )))
    .bind(&schema)
    .fetch_all(&mut *conn)
    .await?;
    Ok(load_order(names, &references))
}

/// Kahn's topological sort, smallest name first among the ready: a dozen tables, so a crate for it
/// would be more than the code.
fn load_order(names: Vec<String>, references: &[(String, String)]) -> Vec<String> {
    let mut needs: BTreeMap<String, BTreeSet<String>> = names.into_iter().map(|n| (n, BTreeSet::new())).collect();
    for (table, referenced) in references {
        if needs.contains_key(referenced)
            && let Some(set) = needs.get_mut(table)
        {
            set.insert(referenced.clone());
        }
    }
    let mut order = Vec::new();
    while let Some(ready) = needs.iter().find(|(_, n)| n.is_empty()).map(|(t, _)| t.clone()) {
        needs.remove(&ready);
        needs.values_mut().for_each(|n| {
            n.remove(&ready);
        });
        order.push(ready);
    }
    // A cycle cannot be ordered; its tables go last, by name.
    order.extend(needs.into_keys());
    order
}

/// One table's rows as PostgreSQL's CSV with a header line, and how many there are.
pub async fn copy_out(conn: &mut PgConnection, slug: &TenantSlug, table: &str) -> Result<(u64, Vec<u8>), sqlx::Error> {
    let name = format!("{}.{}", slug.quoted_schema(), quote_ident(table));
    let rows: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {name}"))).fetch_one(&mut *conn).await?;
    let mut data = Vec::new();
    let mut stream = conn.copy_out_raw(&format!("COPY {name} TO STDOUT WITH (FORMAT csv, HEADER)")).await?;
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk?);
    }
    Ok((u64::try_from(rows).unwrap_or(0), data))
}

/// Loads one table's CSV (as [`copy_out`] wrote it) into `schema.table` (`schema` quoted), by the
/// header's column names, and returns the rows loaded. Identity values are taken as given.
pub async fn copy_in(conn: &mut PgConnection, schema: &str, table: &str, csv: &[u8]) -> anyhow::Result<u64> {
    let header = csv.split(|b| *b == b'\n').next().unwrap_or_default();
    let columns: Vec<String> = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header)
        .records()
        .next()
        .transpose()?
        .map(|r| r.iter().map(quote_ident).collect())
        .unwrap_or_default();
    if columns.is_empty() {
        anyhow::bail!("table {table} has no header line");
    }
    let sql =
        format!("COPY {schema}.{} ({}) FROM STDIN WITH (FORMAT csv, HEADER)", quote_ident(table), columns.join(", "));
    let mut copy = conn.copy_in_raw(&sql).await?;
    copy.send(csv).await?;
    Ok(copy.finish().await?)
}

/// Empties `schema`'s tables (quoted schema): rows its migrations inserted give way to the archive's.
pub async fn truncate(conn: &mut PgConnection, schema: &str, tables: &[String]) -> Result<(), sqlx::Error> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(|t| format!("{schema}.{}", quote_ident(t))).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {}", names.join(", ")))).execute(conn).await?;
    Ok(())
}

/// Moves each identity sequence of `schema.table` past the largest value loaded, so new rows do not
/// collide with restored ones.
pub async fn reset_sequences(conn: &mut PgConnection, schema: &str, table: &str) -> Result<(), sqlx::Error> {
    let name = format!("{schema}.{}", quote_ident(table));
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass AND attidentity <> '' AND NOT attisdropped",
    )
    .bind(&name)
    .fetch_all(&mut *conn)
    .await?;
    for column in columns {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max({col}), 0) + 1, false) FROM {name}",
            col = quote_ident(&column)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&name).bind(&column).execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load_after_the_tables_they_refer_to() {
        let names = ["ratings", "bookings", "customers", "services", "outbox", "settings"].map(String::from);
        let refs = [
            ("bookings", "customers"),
            ("bookings", "services"),
            ("ratings", "bookings"),
            ("outbox", "bookings"),
            ("customers", "missing"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(
            load_order(names.to_vec(), &refs),
            ["customers", "services", "bookings", "outbox", "ratings", "settings"]
        );
    }
}
