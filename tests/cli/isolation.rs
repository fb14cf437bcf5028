//! A tenant's role can use its own tables and nothing else: not another tenant's schema, not the
//! control plane, not `public`, and it cannot change any schema.

use sqlx::{Connection, PgConnection};

use crate::support::block_on;
use crate::tenant::{BOT_A, BOT_B, Fixture};

fn connect_as_tenant(f: &Fixture, slug: &str) -> PgConnection {
    let url = f.tenant_url(slug);
    block_on(PgConnection::connect(&url)).unwrap()
}

fn run(conn: &mut PgConnection, sql: &str) -> Result<u64, String> {
    block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut *conn))
        .map(|r| r.rows_affected())
        .map_err(|e| e.to_string())
}

#[test]
fn a_tenant_role_touches_only_its_own_tables() {
    let f = Fixture::new();
    let (mine, other) = (f.create(BOT_A), f.create(BOT_B));
    let mut admin = f.db.connect();
    block_on(sqlx::query("CREATE TABLE public.operator_secret (x int)").execute(&mut admin)).unwrap();
    let mut conn = connect_as_tenant(&f, &mine);

    // Its own rows, through its own search path.
    run(&mut conn, "INSERT INTO services (name, duration_minutes, price_minor, position) VALUES ('Test', 30, 100, 99)")
        .unwrap();
    assert_eq!(run(&mut conn, "UPDATE services SET price_minor = 200 WHERE name = 'Test'").unwrap(), 1);
    assert!(run(&mut conn, "SELECT * FROM settings").is_ok());
    assert_eq!(run(&mut conn, "DELETE FROM services WHERE name = 'Test'").unwrap(), 1);

    let denied = [
        // No DDL in its own schema.
        "CREATE TABLE mine (x int)".to_string(),
        "DROP TABLE services".to_string(),
        "ALTER TABLE services ADD COLUMN x int".to_string(),
        "TRUNCATE services".to_string(),
        // Nothing in another tenant's schema.
        format!("SELECT * FROM tenant_{other}.services"),
        format!("INSERT INTO tenant_{other}.admins (user_id) VALUES (1)"),
        format!("CREATE TABLE tenant_{other}.x (x int)"),
        // Nothing in the control plane.
        "SELECT * FROM botctl.tenants".to_string(),
        "SELECT * FROM botctl.events".to_string(),
        // Nothing in public, and no new schemas.
        "SELECT * FROM public.operator_secret".to_string(),
        "CREATE TABLE public.x (x int)".to_string(),
        "CREATE SCHEMA evil".to_string(),
        // Not another role.
        format!("SET ROLE tenant_{other}"),
    ];
    for sql in denied {
        let err = run(&mut conn, &sql).expect_err(&sql);
        assert!(err.contains("permission denied") || err.contains("must be owner"), "{sql}: {err}");
    }
}
