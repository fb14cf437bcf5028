//! Whether one server's tenant schemas fit Citus schema-based sharding, read from `pg_catalog` with
//! one query per rule over all tenant schemas at once; and, where the server has the `citus`
//! extension, what Citus itself says. It reports and changes nothing.
//!
//! The rules follow Citus's source (citusdata/citus, read at a3d5708, 2026-05-07); each names the file
//! it comes from, so that a change there can be looked up.

use std::fmt;

use serde::Serialize;
use sqlx::PgConnection;

/// The schemas this lint reads: every `tenant_<slug>` and the restore, verify and previous schemas
/// beside them (LIKE pattern; `\_` is a literal underscore).
const TENANT_SCHEMAS: &str = "tenant\\_%";

/// One rule of schema-based sharding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A foreign key from a tenant table to a table of another schema.
    // schema_based_sharding.c, EnsureFKeysForTenantTable: "foreign keys from distributed schemas can
    // only point to the same distributed schema or reference tables in regular schemas".
    ForeignKeyOut,
    /// A foreign key from another schema's table to a tenant table.
    // schema_based_sharding.c, EnsureFKeysForTenantTable: "cannot create foreign keys to tables in a
    // distributed schema from another schema".
    ForeignKeyIn,
    // schema_based_sharding.c, EnsureTableKindSupportedForTenantSchema: "tables in a distributed schema
    // cannot inherit or be inherited".
    Inheritance,
    // schema_based_sharding.c, ErrorIfIllegalPartitioningInTenantSchema.
    PartitionAcrossSchemas,
    // schema_based_sharding.c, EnsureTableKindSupportedForTenantSchema: "cannot create a foreign table
    // in a distributed schema".
    ForeignTable,
    /// A rule other than a view's own (`_RETURN`).
    // citus_docs develop/reference_workarounds.rst: rules are not supported on distributed tables.
    Rule,
    /// Objects an extension owns in the schema, or an extension installed into it; also a trigger that
    /// depends on an extension.
    // schema_based_sharding.c, EnsureSchemaCanBeDistributed and EnsureTenantTable; trigger.c,
    // ErrorIfRelationHasUnsupportedTrigger.
    Extension,
    /// A column filled from a sequence (serial, identity, DEFAULT nextval) narrower than bigint.
    // table.c: a default of an int or smallint sequence becomes worker_nextval(), which fails when the
    // insert runs on a worker; reference_workarounds.rst advises bigint.
    NarrowSequence,
    /// A `FOR EACH STATEMENT` trigger: it runs where the shard is, on the worker.
    // trigger.c, ErrorOutForTriggerIfNotSupported allows triggers on tenant tables; they fire on the
    // shard's node (citus_docs reference_propagation.rst).
    StatementTrigger,
    /// A trigger whose function calls `pg_notify` or `NOTIFY` (read from its source): the
    /// notification is sent on the worker that holds the shard, so listeners on the coordinator miss
    /// it. Citus has no code that propagates NOTIFY.
    NotifyTrigger,
}

impl Rule {
    /// Whether Citus refuses to distribute a schema that breaks the rule; the others distribute but
    /// misbehave.
    pub fn blocks(self) -> bool {
        !matches!(self, Rule::NarrowSequence | Rule::StatementTrigger | Rule::NotifyTrigger)
    }

    fn describe(self) -> &'static str {
        match self {
            Rule::ForeignKeyOut => "foreign key to another schema",
            Rule::ForeignKeyIn => "foreign key from another schema",
            Rule::Inheritance => "inheritance",
            Rule::PartitionAcrossSchemas => "partition in another schema",
            Rule::ForeignTable => "foreign table",
            Rule::Rule => "rule",
            Rule::Extension => "extension",
            Rule::NarrowSequence => "sequence narrower than bigint",
            Rule::StatementTrigger => "statement-level trigger",
            Rule::NotifyTrigger => "trigger that notifies",
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Rule::ForeignKeyOut | Rule::ForeignKeyIn => "drop foreign keys that cross schemas",
            Rule::Inheritance => "replace inheritance by plain tables",
            Rule::PartitionAcrossSchemas => "keep a partition in its parent's schema",
            Rule::ForeignTable => "move foreign tables out of tenant schemas",
            Rule::Rule => "replace rules by triggers",
            Rule::Extension => "install extensions outside tenant schemas",
            Rule::NarrowSequence => "make columns filled from sequences bigint",
            Rule::StatementTrigger => "make triggers FOR EACH ROW",
            Rule::NotifyTrigger => "do not NOTIFY from triggers (listeners on the coordinator would miss it)",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One object of one schema that breaks one rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub schema: String,
    pub rule: Rule,
    /// The object, named as in SQL (`table.column`, `table: trigger`, `constraint on table → other`).
    pub object: String,
    /// Whether Citus refuses to distribute the schema for it.
    pub blocks: bool,
}

impl Finding {
    fn new(schema: String, rule: Rule, object: String) -> Self {
        Self { schema, rule, object, blocks: rule.blocks() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.schema, self.rule, self.object)
    }
}

/// The tenant schemas of one server against the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lint {
    pub schemas: u64,
    pub tables: u64,
    /// bigint identity columns: Citus distributes their tables, but cannot undistribute them
    /// (alter_table.c, ErrorIfTableHasIdentityColumn), nor ALTER such a column or ADD one once metadata
    /// is synced (table.c) — a rule for future tenant migrations, not a finding.
    pub identity_columns: u64,
    /// Sorted by schema, then rule.
    pub findings: Vec<Finding>,
}

impl Lint {
    /// How many schemas have a finding.
    pub fn schemas_with_findings(&self) -> usize {
        let mut schemas: Vec<&str> = self.findings.iter().map(|f| f.schema.as_str()).collect();
        schemas.dedup();
        schemas.len()
    }

    pub fn blocking(&self) -> bool {
        self.findings.iter().any(|f| f.blocks)
    }

    /// The distinct rules broken, in order.
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules: Vec<Rule> = self.findings.iter().map(|f| f.rule).collect();
        rules.sort_unstable();
        rules.dedup();
        rules
    }
}

/// A Citus extension version as `pg_extension.extversion` gives it (`12.1-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CitusVersion {
    pub major: u32,
    pub minor: u32,
}

impl CitusVersion {
    /// `citus_schema_distribute` and `citus.enable_schema_based_sharding` came in 12.0.
    pub fn has_schema_sharding(self) -> bool {
        self.major >= 12
    }

    /// `citus_schema_move` came in 12.1.
    pub fn has_schema_move(self) -> bool {
        self >= CitusVersion { major: 12, minor: 1 }
    }
}

impl std::str::FromStr for CitusVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let release = s.split('-').next().unwrap_or_default();
        let mut parts = release.split('.');
        let mut number = || parts.next().and_then(|p| p.parse::<u32>().ok());
        match (number(), number()) {
            (Some(major), Some(minor)) => Ok(Self { major, minor }),
            _ => Err(format!("`{s}` is not a Citus version")),
        }
    }
}

impl fmt::Display for CitusVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What a server with the `citus` extension says about schema-based sharding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citus {
    /// `pg_extension.extversion`, as installed.
    pub extension_version: String,
    /// `None` when the version does not parse.
    pub version: Option<CitusVersion>,
    /// PostgreSQL's major version (`server_version_num / 10000`).
    pub postgres_major: u32,
    /// `citus_is_coordinator()`: `None` on a version without schema sharding, where it is not asked.
    pub coordinator: Option<bool>,
    /// `citus.enable_schema_based_sharding` as botctl's sessions see it: whether new tenant schemas
    /// are distributed when created.
    pub schema_sharding: Option<bool>,
    /// Active primary workers (`pg_dist_node`, group other than the coordinator's).
    pub workers: u64,
    /// Tenant schemas in `pg_dist_schema`.
    pub distributed: u64,
    /// Tenant schemas not in `pg_dist_schema`, sorted.
    pub undistributed: Vec<String>,
    /// Other distributed schemas, sorted (botctl's control schema should not be one).
    pub other_distributed: Vec<String>,
    /// Tenant roles with no `pg_dist_authinfo` row for all nodes or every worker; `None` when this
    /// role may not read the table (superusers only, by default).
    pub roles_without_authinfo: Option<Vec<String>>,
}

/// One server's report: the lint, and Citus's view where it is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub lint: Lint,
    pub citus: Option<Citus>,
}

/// Reads one server's tenant schemas and, when it has the `citus` extension, its Citus settings. A
/// fixed number of queries, whatever the number of schemas.
pub async fn check(conn: &mut PgConnection) -> Result<Report, sqlx::Error> {
    let lint = lint(conn).await?;
    let version: Option<String> = sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'citus'")
        .fetch_optional(&mut *conn)
        .await?;
    let citus = match version {
        Some(version) => Some(citus(conn, version).await?),
        None => None,
    };
    Ok(Report { lint, citus })
}

/// Each rule's query: rows of (schema, object). Every one reads all tenant schemas at once ($1 is
/// [`TENANT_SCHEMAS`]); none runs per schema.
const RULES: [(Rule, &str); 9] = [
    (
        Rule::ForeignKeyOut,
        "SELECT n.nspname::text, format('%I on %I → %I.%I', k.conname, c.relname, fn.nspname, f.relname) \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace \
         WHERE k.contype = 'f' AND n.nspname LIKE $1 AND fn.oid <> n.oid",
    ),
    (
        Rule::ForeignKeyIn,
        "SELECT fn.nspname::text, format('%I on %I.%I → %I', k.conname, n.nspname, c.relname, f.relname) \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace \
         WHERE k.contype = 'f' AND fn.nspname LIKE $1 AND fn.oid <> n.oid",
    ),
    (
        // Reported for the tenant side: the child's schema, else the parent's.
        Rule::Inheritance,
        "SELECT CASE WHEN cn.nspname LIKE $1 THEN cn.nspname ELSE pn.nspname END::text, \
                format('%I.%I inherits %I.%I', cn.nspname, c.relname, pn.nspname, p.relname) \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
         JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace \
         WHERE NOT c.relispartition AND c.relkind IN ('r', 'p', 'f') AND (cn.nspname LIKE $1 OR pn.nspname LIKE $1)",
    ),
    (
        Rule::PartitionAcrossSchemas,
        "SELECT CASE WHEN cn.nspname LIKE $1 THEN cn.nspname ELSE pn.nspname END::text, \
                format('%I.%I is a partition of %I.%I', cn.nspname, c.relname, pn.nspname, p.relname) \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
         JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace \
         WHERE c.relispartition AND cn.oid <> pn.oid AND (cn.nspname LIKE $1 OR pn.nspname LIKE $1)",
    ),
    (
        Rule::ForeignTable,
        "SELECT n.nspname::text, format('%I', c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'f' AND n.nspname LIKE $1",
    ),
    (
        Rule::Rule,
        "SELECT n.nspname::text, format('%I on %I', r.rulename, c.relname) \
         FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE r.rulename <> '_RETURN' AND n.nspname LIKE $1",
    ),
    (
        // Member objects (deptype e) of the kinds a schema holds, triggers marked DEPENDS ON EXTENSION
        // (deptype x), and extensions installed into the schema; one row per schema and extension.
        Rule::Extension,
        "WITH member AS ( \
             SELECT d.refobjid AS ext, coalesce(c.relnamespace, p.pronamespace, t.typnamespace, o.oprnamespace, \
                                                tc.relnamespace) AS ns \
             FROM pg_depend d \
             LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid \
             LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid \
             LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid \
             LEFT JOIN pg_operator o ON d.classid = 'pg_operator'::regclass AND o.oid = d.objid \
             LEFT JOIN pg_trigger tg ON d.classid = 'pg_trigger'::regclass AND tg.oid = d.objid \
             LEFT JOIN pg_class tc ON tc.oid = tg.tgrelid \
             WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype IN ('e', 'x')) \
         SELECT n.nspname::text, format('%I: %s', e.extname, \
                    CASE WHEN bool_or(e.extnamespace = n.oid) THEN 'installed in the schema, ' ELSE '' END \
                    || count(m.ns) || ' objects') \
         FROM pg_extension e JOIN pg_namespace n ON n.nspname LIKE $1 \
         LEFT JOIN member m ON m.ext = e.oid AND m.ns = n.oid \
         WHERE e.extnamespace = n.oid OR m.ns IS NOT NULL \
         GROUP BY n.nspname, n.oid, e.extname",
    ),
    (
        // Identity columns, and defaults that call nextval() (serial or not): pg_attrdef depends on the
        // sequence it reads.
        Rule::NarrowSequence,
        "SELECT n.nspname::text, format('%I.%I %s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), \
                CASE WHEN a.attidentity <> '' THEN ' identity' ELSE ' from a sequence' END) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname LIKE $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
           AND a.atttypid IN ('int2'::regtype, 'int4'::regtype) \
           AND (a.attidentity <> '' OR a.atthasdef AND EXISTS ( \
                SELECT 1 FROM pg_attrdef ad \
                JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid \
                                AND d.refclassid = 'pg_class'::regclass \
                JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S' \
                WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum))",
    ),
    (
        // tgtype bit 0 is TRIGGER_TYPE_ROW.
        Rule::StatementTrigger,
        "SELECT n.nspname::text, format('%I on %I', t.tgname, c.relname) \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT t.tgisinternal AND t.tgtype & 1 = 0 AND n.nspname LIKE $1",
    ),
];

/// Triggers whose function's source says `pg_notify` or `NOTIFY`: only the trigger function itself is
/// read, not what it calls (a C function has no source to read).
const NOTIFY_TRIGGERS: &str = "SELECT n.nspname::text, format('%I on %I calls %s', t.tgname, c.relname, t.tgfoid::regproc) \
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_proc p ON p.oid = t.tgfoid \
     WHERE NOT t.tgisinternal AND n.nspname LIKE $1 AND p.prosrc ~* '\\m(pg_notify|notify)\\M'";

const COUNTS: &str = "SELECT count(DISTINCT n.oid), \
            count(DISTINCT c.oid) FILTER (WHERE c.relkind IN ('r', 'p')), \
            count(*) FILTER (WHERE a.attidentity <> '' AND a.atttypid = 'int8'::regtype) \
     FROM pg_namespace n \
     LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p') \
     LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> '' \
     WHERE n.nspname LIKE $1";

/// The tenant schemas of the server `conn` is on, against every rule.
pub async fn lint(conn: &mut PgConnection) -> Result<Lint, sqlx::Error> {
    let (schemas, tables, identity_columns): (i64, i64, i64) =
        sqlx::query_as(COUNTS).bind(TENANT_SCHEMAS).fetch_one(&mut *conn).await?;
    let mut findings = Vec::new();
    let queries = RULES.iter().copied().chain([(Rule::NotifyTrigger, NOTIFY_TRIGGERS)]);
    for (rule, sql) in queries {
        let rows: Vec<(String, String)> = sqlx::query_as(sql).bind(TENANT_SCHEMAS).fetch_all(&mut *conn).await?;
        findings.extend(rows.into_iter().map(|(schema, object)| Finding::new(schema, rule, object)));
    }
    findings.sort();
    let number = |n: i64| u64::try_from(n).unwrap_or_default();
    Ok(Lint { schemas: number(schemas), tables: number(tables), identity_columns: number(identity_columns), findings })
}

/// Citus's own view, on a server that has the extension (its catalog tables exist then).
async fn citus(conn: &mut PgConnection, extension_version: String) -> Result<Citus, sqlx::Error> {
    let version = extension_version.parse::<CitusVersion>().ok();
    let postgres_major: i32 =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000").fetch_one(&mut *conn).await?;
    let sharding = version.is_some_and(CitusVersion::has_schema_sharding);
    let coordinator = if sharding {
        Some(sqlx::query_scalar("SELECT citus_is_coordinator()").fetch_one(&mut *conn).await?)
    } else {
        None
    };
    let schema_sharding: Option<String> =
        sqlx::query_scalar("SELECT current_setting('citus.enable_schema_based_sharding', true)")
            .fetch_one(&mut *conn)
            .await?;
    // Group 0 is the coordinator's.
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND isactive AND groupid <> 0",
    )
    .fetch_one(&mut *conn)
    .await?;
    // pg_dist_schema (12.0) rather than the citus_schemas view, which adds up every schema's size
    // across the nodes.
    let (distributed, undistributed, other_distributed) = if sharding {
        let rows: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT n.nspname::text, n.nspname LIKE $1, d.schemaid IS NOT NULL \
             FROM pg_namespace n LEFT JOIN pg_dist_schema d ON d.schemaid = n.oid \
             WHERE n.nspname LIKE $1 AND d.schemaid IS NULL OR d.schemaid IS NOT NULL ORDER BY 1",
        )
        .bind(TENANT_SCHEMAS)
        .fetch_all(&mut *conn)
        .await?;
        let distributed = rows.iter().filter(|(_, tenant, dist)| *tenant && *dist).count();
        let pick = |tenant: bool, dist: bool| {
            rows.iter().filter(|r| r.1 == tenant && r.2 == dist).map(|r| r.0.clone()).collect::<Vec<_>>()
        };
        (u64::try_from(distributed).unwrap_or_default(), pick(true, false), pick(false, true))
    } else {
        (0, Vec::new(), Vec::new())
    };
    let readable: bool = sqlx::query_scalar("SELECT has_table_privilege('pg_catalog.pg_dist_authinfo', 'SELECT')")
        .fetch_one(&mut *conn)
        .await?;
    let roles_without_authinfo = if readable {
        // A row for node 0 covers every node; otherwise each active worker needs its own.
        Some(
            sqlx::query_scalar(
                "SELECT r.rolname::text FROM pg_roles r JOIN pg_namespace n ON n.nspname = r.rolname \
                 WHERE r.rolname LIKE $1 \
                   AND NOT EXISTS (SELECT 1 FROM pg_dist_authinfo a WHERE a.rolename = r.rolname AND a.nodeid = 0) \
                   AND EXISTS (SELECT 1 FROM pg_dist_node w WHERE w.noderole = 'primary' AND w.isactive \
                               AND w.groupid <> 0 AND NOT EXISTS (SELECT 1 FROM pg_dist_authinfo a \
                               WHERE a.rolename = r.rolname AND a.nodeid = w.nodeid)) \
                 ORDER BY 1",
            )
            .bind(TENANT_SCHEMAS)
            .fetch_all(&mut *conn)
            .await?,
        )
    } else {
        None
    };
    Ok(Citus {
        extension_version,
        version,
        postgres_major: u32::try_from(postgres_major).unwrap_or_default(),
        coordinator,
        schema_sharding: schema_sharding.map(|s| s == "on"),
        workers: u64::try_from(workers).unwrap_or_default(),
        distributed,
        undistributed,
        other_distributed,
        roles_without_authinfo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citus_versions_parse_from_the_extension_version() {
        assert_eq!("12.1-1".parse(), Ok(CitusVersion { major: 12, minor: 1 }));
        assert_eq!("13.0-1".parse(), Ok(CitusVersion { major: 13, minor: 0 }));
        assert_eq!("11.3".parse(), Ok(CitusVersion { major: 11, minor: 3 }));
        assert_eq!("12.1.5".parse::<CitusVersion>().unwrap().to_string(), "12.1");
        for bad in ["", "12", "x.1-1", "-1", "12.-1"] {
            assert!(bad.parse::<CitusVersion>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn schema_sharding_needs_12_and_moving_a_schema_12_1() {
        let v = |s: &str| s.parse::<CitusVersion>().unwrap();
        assert!(!v("11.3-1").has_schema_sharding());
        assert!(v("12.0-1").has_schema_sharding() && !v("12.0-1").has_schema_move());
        assert!(v("12.1-1").has_schema_move() && v("13.0-1").has_schema_move());
    }

    #[test]
    fn findings_name_schema_rule_and_object() {
        let finding = Finding::new("tenant_a".into(), Rule::ForeignKeyOut, "fk on bookings → public.x".into());
        assert_eq!(finding.to_string(), "tenant_a: foreign key to another schema (fk on bookings → public.x)");
        assert!(finding.blocks);
        assert!(!Finding::new("tenant_a".into(), Rule::NarrowSequence, "t.id integer".into()).blocks);
        assert_eq!(
            serde_json::to_value(&finding).unwrap(),
            serde_json::json!({"schema": "tenant_a", "rule": "foreign_key_out", "object": "fk on bookings → public.x",
                               "blocks": true})
        );
    }

    #[test]
    fn a_lint_counts_schemas_with_findings_and_the_rules_broken() {
        let f = |schema: &str, rule| Finding::new(schema.into(), rule, "x".into());
        let mut lint = Lint {
            findings: vec![
                f("tenant_a", Rule::Rule),
                f("tenant_a", Rule::NarrowSequence),
                f("tenant_b", Rule::NarrowSequence),
            ],
            ..Lint::default()
        };
        lint.findings.sort();
        assert_eq!(lint.schemas_with_findings(), 2);
        assert_eq!(lint.rules(), [Rule::Rule, Rule::NarrowSequence]);
        assert!(lint.blocking());
        lint.findings.retain(|f| f.rule == Rule::NarrowSequence);
        assert!(!lint.blocking());
    }

    /// Citus refuses `ADD COLUMN … IDENTITY` once metadata is synced (table.c), and `ALTER COLUMN` on
    /// an identity column: a tenant migration that did either would fail on every distributed tenant.
    #[test]
    fn no_tenant_migration_adds_or_alters_an_identity_column_of_an_existing_table() {
        let add = regex::Regex::new(
            r"(?is)\bALTER\s+TABLE\b[^;]*\b(ADD\b[^;]*\bGENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY|\bALTER\s+COLUMN\b[^;]*\b(ADD\s+GENERATED|SET\s+GENERATED|DROP\s+IDENTITY|RESTART)\b)",
        )
        .unwrap();
        let comment = regex::Regex::new(r"--[^\n]*").unwrap();
        let migrator = crate::db::migrate::tenant_migrator_in("\"tenant_x\"");
        assert!(migrator.iter().count() >= 10);
        for migration in migrator.iter() {
            let sql = comment.replace_all(migration.sql.as_str(), "");
            assert!(!add.is_match(&sql), "tenant migration {} changes an identity column", migration.version);
        }
        assert!(add.is_match("ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;"));
        assert!(add.is_match("alter table t alter column id set generated by default;"));
        assert!(
            !add.is_match("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY); ALTER TABLE t ADD COLUMN n int;")
        );
    }

    #[test]
    fn every_rule_but_the_notify_one_has_a_query() {
        let mut rules: Vec<Rule> = RULES.iter().map(|(rule, _)| *rule).collect();
        rules.push(Rule::NotifyTrigger);
        rules.sort_unstable();
        rules.dedup();
        assert_eq!(rules.len(), 10);
    }
}
