//! `botctl restore` and `backup verify --deep`: an archive built into a schema beside the tenant's —
//! migrations up to the archive's version, its rows, sequences past them, the migrations since — then,
//! for a restore, swapped with the live schema; all in one transaction, so a failure anywhere leaves
//! the live tenant exactly as it was.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;

use super::TenantSlug;
use super::ops::{self, bot_taken};
use super::store::{self, NewTenant};
use crate::backup::{self, Archive};
use crate::db::provision::{self, Side};
use crate::db::servers::{self, ServerName, Servers, Transactions};
use crate::db::{migrate, snapshot};
use crate::error::BadInput;
use crate::progress::Progress;
use crate::telegram::{self, BotToken};

pub struct RestoreOptions {
    pub archive: PathBuf,
    /// Replaces a tenant that has bookings or customers.
    pub force: bool,
    /// Keeps the replaced schema as `tenant_<slug>_prev_<time>`.
    pub keep_previous: bool,
    /// Restores into a new tenant instead, with its own bot.
    pub as_new: Option<NewTenantBot>,
}

/// A new tenant for `--as`: a bot token can serve only one tenant.
pub struct NewTenantBot {
    pub slug: TenantSlug,
    pub token: BotToken,
    pub telegram_api_url: url::Url,
    /// The server its schema goes to; `None` places it as a create does, by room.
    pub server: Option<ServerName>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub tenant: String,
    pub archive: PathBuf,
    /// The archive's schema version, and the version after the migrations since.
    pub from_version: i64,
    pub to_version: i64,
    pub tables: usize,
    pub rows: u64,
    /// Where the replaced schema was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Pending outbox messages of the source tenant that a restore under another name expired.
    pub expired_messages: u64,
}

/// Reads and checks an archive; any failure is the archive's, named with the check.
pub async fn open(path: &Path) -> anyhow::Result<Archive> {
    let owned = path.to_path_buf();
    let archive = tokio::task::spawn_blocking(move || backup::read(&owned)).await?;
    let archive = archive.map_err(|e| BadInput::new(format!("refusing the archive: {e}")))?;
    supported(&archive, path)?;
    Ok(archive)
}

/// Refuses an archive from a newer botctl: its schema cannot be built by this one.
pub fn supported(archive: &Archive, path: &Path) -> anyhow::Result<()> {
    let latest = migrate::tenant_latest();
    if archive.manifest.schema_version > latest {
        return Err(BadInput::new(format!(
            "{}: made by botctl {} at schema version {}, newer than this botctl ({}, version {latest}): \
             restore it with that botctl or a newer one",
            path.display(),
            archive.manifest.botctl_version,
            archive.manifest.schema_version,
            env!("CARGO_PKG_VERSION")
        ))
        .into());
    }
    Ok(())
}

/// A restore that passed every check that can refuse it.
pub struct Checked {
    archive: Archive,
    /// The `--as` tenant's bot, as Telegram knows it.
    me: Option<telegram::BotIdentity>,
}

/// Every check that can refuse a restore, run before the tenant's bot is touched: the archive (its
/// structure, checksums, version), whose archive it is, the tenant, a new tenant's bot, and data that
/// only `--force` replaces.
pub async fn check(servers: &Servers, slug: &TenantSlug, options: &RestoreOptions) -> anyhow::Result<Checked> {
    let archive = open(&options.archive).await?;
    if archive.manifest.tenant != slug.as_str() {
        return Err(BadInput::new(format!(
            "{} is tenant `{}`'s archive, not `{slug}`'s",
            options.archive.display(),
            archive.manifest.tenant
        ))
        .into());
    }
    let me = match &options.as_new {
        Some(new) => Some(telegram::get_me(&new.telegram_api_url, &new.token).await?),
        None => {
            let tenant = ops::show(servers, slug).await?;
            ops::refuse_deleting(&tenant)?;
            if !options.force {
                let server = servers.get(&tenant.server).await?;
                ops::explaining_locks(servers, slug, async {
                    refuse_over_data(&mut *server.pool.acquire().await?, slug).await
                })
                .await?;
            }
            None
        }
    };
    Ok(Checked { archive, me })
}

/// Restores `slug`'s archive over `slug` (on its server), or into a new tenant with `as_new` (on its
/// `server`, or placed as a create places it), once [`check`] passed. One transaction on `main`; on another server the
/// schema's commits first, as in a create.
pub async fn restore(
    servers: &Servers,
    slug: &TenantSlug,
    options: &RestoreOptions,
    checked: Checked,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Restored> {
    let Checked { archive, me } = checked;
    let target = options.as_new.as_ref().map_or(slug, |n| &n.slug);
    let _lock = super::runtime::lock(servers, target).await?;
    ops::explaining_locks(servers, target, async {
        let mut tx = Transactions::begin(servers).await?;
        let (previous, expired_messages, created) = match (&options.as_new, &me) {
            (Some(new), Some(me)) => {
                let placed = servers::place(tx.control(), new.server.as_ref()).await?;
                let server = servers.get(&placed).await?;
                record_tenant(tx.control(), &archive, new, me, &placed).await?;
                let mut on = tx.on(&server).await?;
                let live = ops::provision_on(&mut on, &server, target).await?;
                tx = on;
                provision::enter_schema(tx.tenant(), target).await?;
                progress.set_message("loading the archive");
                build(tx.tenant(), &target.quoted_schema(), &archive).await?;
                (None, expire_pending(tx.tenant(), target).await?, Some((server, live)))
            }
            _ => {
                let tenant = store::find(tx.control(), slug.as_str()).await?.ok_or_else(|| ops::not_found(slug))?;
                tx = tx.on(&servers.get(&tenant.server).await?).await?;
                // Checked before the bot stopped; checked again, as it may have written meanwhile.
                if !options.force {
                    refuse_over_data(tx.tenant(), slug).await?;
                }
                let staging = provision::create_side_schema(tx.tenant(), slug, Side::Restore).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL search_path TO {staging}")))
                    .execute(tx.tenant())
                    .await?;
                progress.set_message("loading the archive");
                build(tx.tenant(), &staging, &archive).await?;
                (provision::swap_in_restored(tx.tenant(), slug, options.keep_previous, Utc::now()).await?, 0, None)
            }
        };
        let latest = migrate::tenant_latest();
        store::set_schema_version(tx.control(), target.as_str(), latest).await?;
        let details = json!({
            "archive": options.archive, "from_tenant": slug.as_str(), "schema_version": archive.manifest.schema_version,
            "rows": archive.manifest.rows(), "previous": previous, "expired_messages": expired_messages,
        });
        store::record(tx.control(), actor, Some(target.as_str()), "tenant.restore", details).await?;
        match created {
            Some((server, live)) => ops::commit_new(tx, &server, target, &live).await?,
            None => tx.commit().await.context("committing the restore")?,
        }
        Ok(Restored {
            tenant: target.to_string(),
            archive: options.archive.clone(),
            from_version: archive.manifest.schema_version,
            to_version: latest,
            tables: archive.manifest.tables.len(),
            rows: archive.manifest.rows(),
            previous,
            expired_messages,
        })
    })
    .await
}

/// A copy under another name has another bot, which the source's customers never started: the
/// messages the source still had to send (reminders, notices) would go nowhere or to strangers, so
/// they are expired. Returns how many.
async fn expire_pending(conn: &mut PgConnection, target: &TenantSlug) -> anyhow::Result<u64> {
    let sql = format!(
        "UPDATE {}.outbox SET state = 'expired', updated_at = now(), \
         last_error = 'restored as another tenant, whose bot these customers never started' WHERE state = 'pending'",
        target.quoted_schema()
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(conn).await?.rows_affected())
}

/// A live tenant with customers or bookings is replaced only with `--force`.
async fn refuse_over_data(conn: &mut PgConnection, slug: &TenantSlug) -> anyhow::Result<()> {
    let schema = slug.quoted_schema();
    let (customers, bookings): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT (SELECT count(*) FROM {schema}.customers), (SELECT count(*) FROM {schema}.bookings)"
    )))
    .fetch_one(conn)
    .await?;
    if customers + bookings > 0 {
        return Err(BadInput::new(format!(
            "tenant `{slug}` has {customers} customers and {bookings} bookings; --force replaces them with the archive's"
        ))
        .into());
    }
    Ok(())
}

/// The control-plane row of the `--as` tenant on `server`, created stopped, its owners, time zone and
/// locale taken from the archive.
async fn record_tenant(
    conn: &mut PgConnection,
    archive: &Archive,
    new: &NewTenantBot,
    me: &telegram::BotIdentity,
    server: &str,
) -> anyhow::Result<()> {
    if store::find(conn, new.slug.as_str()).await?.is_some() {
        return Err(BadInput::new(format!("tenant `{}` already exists", new.slug)).into());
    }
    if let Some(other) = store::find_by_bot(conn, me.id).await? {
        return Err(bot_taken(&me.username, &other));
    }
    let settings = first_row(archive, "settings")?;
    let field = |name: &str| settings.get(name).cloned().unwrap_or_default();
    let owners: Vec<i64> = rows(archive, "admins")?
        .iter()
        .filter(|r| r.get("is_owner").is_some_and(|v| v == "t"))
        .filter_map(|r| r.get("user_id")?.parse().ok())
        .collect();
    if owners.is_empty() {
        anyhow::bail!("the archive names no owner of the business");
    }
    let new_row = NewTenant {
        slug: new.slug.as_str(),
        display_name: &archive.manifest.display_name,
        bot_id: me.id,
        bot_username: &me.username,
        token: new.token.expose(),
        admins: &owners,
        timezone: &field("timezone"),
        locale: &field("locale"),
        template: "restored",
        memory_mb: None,
        cpus: None,
        server,
    };
    // The unique indexes settle a race with a create that passed the checks above too.
    store::insert(conn, &new_row).await.map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            BadInput::new(format!("tenant `{}` or bot @{} is taken", new.slug, me.username)).into()
        }
        _ => anyhow::Error::new(e).context("recording the tenant"),
    })?;
    // A restored copy is a new tenant to billing: complimentary, as the CLI's creates are.
    crate::billing::subscription::begin(
        conn,
        new.slug.as_str(),
        &crate::billing::Start::Complimentary,
        "",
        chrono::Utc::now(),
    )
    .await?;
    Ok(())
}

/// A table of the archive as header → value maps.
fn rows(archive: &Archive, table: &str) -> anyhow::Result<Vec<std::collections::HashMap<String, String>>> {
    let data = archive.tables.get(table).with_context(|| format!("the archive has no {table} table"))?;
    let mut reader = csv::Reader::from_reader(data.as_slice());
    let headers = reader.headers()?.clone();
    reader
        .records()
        .map(|r| Ok(headers.iter().map(str::to_string).zip(r?.iter().map(str::to_string)).collect()))
        .collect()
}

fn first_row(archive: &Archive, table: &str) -> anyhow::Result<std::collections::HashMap<String, String>> {
    rows(archive, table)?.into_iter().next().with_context(|| format!("the archive's {table} table is empty"))
}

/// Builds `schema` (quoted, created and empty, on the search path) from the archive and checks every
/// table's row count against the manifest.
async fn build(conn: &mut PgConnection, schema: &str, archive: &Archive) -> anyhow::Result<()> {
    load(conn, schema, archive).await?;
    let migrator = migrate::tenant_migrator_in(schema);
    migrate::apply(conn, &migrator).await.context("migrating the restored schema to this botctl's version")?;
    Ok(())
}

/// The first part of [`build`], up to the archive's own schema version: `schema` migrated to it (a
/// no-op when it is there already), its tables emptied and loaded with the archive's rows (row counts
/// checked), its identity sequences moved past them. `tenant move` compares the rows here, before
/// later migrations change the tables.
pub(super) async fn load(conn: &mut PgConnection, schema: &str, archive: &Archive) -> anyhow::Result<()> {
    let manifest = &archive.manifest;
    let migrator = migrate::tenant_migrator_in(schema);
    migrate::apply_until(conn, &migrator, Some(manifest.schema_version))
        .await
        .with_context(|| format!("building schema version {}", manifest.schema_version))?;
    let tables: Vec<String> = manifest.tables.iter().map(|t| t.table.clone()).collect();
    snapshot::truncate(conn, schema, &tables).await.context("the archive's tables do not match its schema version")?;
    for file in &manifest.tables {
        let csv = &archive.tables[&file.table];
        let loaded = snapshot::copy_in(conn, schema, &file.table, csv)
            .await
            .with_context(|| format!("loading {}", file.table))?;
        if loaded != file.rows {
            anyhow::bail!("{}: loaded {loaded} rows, the manifest says {}", file.table, file.rows);
        }
        snapshot::reset_sequences(conn, schema, &file.table).await?;
    }
    Ok(())
}

/// `backup verify --deep`: builds the archive into a scratch schema beside its tenant's, compares
/// every table's rows with the manifest, and drops it all (the transaction is rolled back).
pub async fn load_and_discard(servers: &Servers, archive: &Archive) -> anyhow::Result<()> {
    let slug: TenantSlug =
        archive.manifest.tenant.parse().map_err(|e| anyhow::anyhow!("the archive's tenant name: {e}"))?;
    // On its tenant's server, where its role is; with no such tenant, the check below refuses it.
    let server = match store::find(&mut *servers.control().acquire().await?, slug.as_str()).await? {
        Some(tenant) => servers.get(&tenant.server).await?,
        None => servers.main().clone(),
    };
    let mut tx = server.pool.begin().await?;
    let role_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(slug.schema())
        .fetch_one(&mut *tx)
        .await?;
    if !role_exists {
        anyhow::bail!("tenant `{slug}` does not exist here, so there is no role to load its archive as");
    }
    let scratch = provision::create_side_schema(&mut tx, &slug, Side::Verify).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL search_path TO {scratch}"))).execute(&mut *tx).await?;
    build(&mut tx, &scratch, archive).await?;
    tx.rollback().await?;
    Ok(())
}
