//! `botctl server add|list|drain|remove`: the PostgreSQL servers tenant schemas live on — each checked
//! before it is recorded (reachable, recent enough, botctl's privileges there, not a cluster already
//! known), listed with what it holds and whether it answers, drained of new tenants, removed once empty.
//! `db::servers` is the data layer under it; nothing here prints.

use std::time::Duration;

use anyhow::Context;
use futures_util::future::join_all;
use serde::Serialize;
use serde_json::json;

use super::store;
use crate::db::DatabaseUrl;
use crate::db::control;
use crate::db::servers::{self, NewServer, ServerName, ServerRecord, Servers};
use crate::error::BadInput;

/// What `server add` is given.
pub struct AddOptions {
    pub name: ServerName,
    /// Required for any server but `main`, which takes none.
    pub url: Option<DatabaseUrl>,
    pub capacity: Option<u32>,
    pub container_host: Option<String>,
}

/// A server as `server list` and `server add` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub name: String,
    /// Redacted; `None` for `main` (botctl's own connection).
    pub url: Option<String>,
    pub tenants: i64,
    pub capacity: i32,
    pub draining: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_host: Option<String>,
    /// `None` when it did not answer, or was not asked.
    pub version: Option<String>,
    pub reachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ServerInfo {
    fn of(record: &ServerRecord) -> Self {
        Self {
            name: record.name.clone(),
            url: record.url.as_ref().map(DatabaseUrl::redacted),
            tenants: record.tenants,
            capacity: record.capacity,
            draining: record.draining,
            container_host: record.container_host.clone(),
            version: None,
            reachable: None,
            error: None,
        }
    }
}

/// What `server add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddOutcome {
    Added,
    /// Already recorded with the same URL: its capacity or container host changed.
    Updated,
    /// Already recorded just so.
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub outcome: AddOutcome,
    pub server: ServerInfo,
}

/// Records a server, or changes one already recorded with the same URL (so running it again is
/// harmless); the same name with another URL is refused. A new server is connected to first and must
/// be a PostgreSQL botctl supports, where its role may create roles and schemas, and not a cluster
/// `main` or another server already is (tenant roles belong to the whole cluster). `main` takes no URL:
/// `server add main --capacity N` changes its capacity.
pub async fn add(servers: &Servers, options: &AddOptions, actor: &str) -> anyhow::Result<Added> {
    let name = &options.name;
    let capacity = options.capacity.map(|c| i32::try_from(c).unwrap_or(i32::MAX));
    let mut tx = servers.control().begin().await?;
    let existing = servers::record_for_update(&mut tx, name.as_str()).await?;
    let outcome = match (&existing, &options.url) {
        _ if name.is_main() => {
            if options.url.is_some() {
                return Err(BadInput::new(
                    "`main` is botctl's own server (database.url, or its local cluster) and takes no --url; \
                     `botctl server add main --capacity N` changes its capacity",
                )
                .into());
            }
            if options.container_host.is_some() {
                return Err(BadInput::new(
                    "containers reach `main` as runtime.database_host says; --container-host is for other servers",
                )
                .into());
            }
            changed(existing.as_ref(), capacity, None)
        }
        (_, None) => {
            return Err(BadInput::new(format!(
                "adding server `{name}` needs its URL: --url, --url-file or BOTCTL_SERVER_URL"
            ))
            .into());
        }
        (Some(record), Some(url)) if record.url.as_ref() != Some(url) => {
            let recorded = record.url.as_ref().map_or_else(String::new, DatabaseUrl::redacted);
            return Err(BadInput::new(format!(
                "server `{name}` is already recorded with another URL ({recorded}); remove it first \
                 (`botctl server remove {name}`) or add this one under another name"
            ))
            .into());
        }
        (Some(record), Some(_)) => changed(Some(record), capacity, options.container_host.as_deref()),
        (None, Some(url)) => {
            let cluster = check(servers, &mut tx, name, url).await?;
            let new = NewServer {
                name,
                url,
                container_host: options.container_host.as_deref(),
                capacity: capacity.unwrap_or(servers::DEFAULT_CAPACITY),
                cluster: &cluster,
            };
            servers::insert(&mut tx, &new).await?;
            AddOutcome::Added
        }
    };
    if outcome != AddOutcome::Unchanged {
        if outcome == AddOutcome::Updated {
            servers::update(&mut tx, name.as_str(), capacity, options.container_host.as_deref(), None).await?;
        }
        let event = if outcome == AddOutcome::Added { "server.add" } else { "server.update" };
        let details = json!({
            "server": name, "url": options.url.as_ref().map(DatabaseUrl::redacted), "capacity": capacity,
            "container_host": options.container_host,
        });
        store::record(&mut tx, actor, None, event, details).await?;
    }
    let record = servers::record(&mut tx, name.as_str()).await?.with_context(|| format!("server `{name}` vanished"))?;
    tx.commit().await?;
    Ok(Added { outcome, server: ServerInfo::of(&record) })
}

/// Whether an add of a recorded server changes it.
fn changed(record: Option<&ServerRecord>, capacity: Option<i32>, container_host: Option<&str>) -> AddOutcome {
    let Some(record) = record else { return AddOutcome::Unchanged };
    let capacity_changes = capacity.is_some_and(|c| c != record.capacity);
    let host_changes = container_host.is_some_and(|h| record.container_host.as_deref() != Some(h));
    if capacity_changes || host_changes { AddOutcome::Updated } else { AddOutcome::Unchanged }
}

/// Everything a new server must pass; returns which cluster it is.
async fn check(
    servers: &Servers,
    control_tx: &mut sqlx::PgConnection,
    name: &ServerName,
    url: &DatabaseUrl,
) -> anyhow::Result<String> {
    let pool = servers.probe(url).await.map_err(|e| {
        e.context(BadInput::new(format!("cannot reach server `{name}` at {url}; nothing was recorded")))
    })?;
    let facts = async { servers::facts(&mut *pool.acquire().await?).await };
    let facts = facts.await.with_context(|| format!("reading server `{name}`'s version and privileges"));
    pool.close().await;
    let facts = facts?;
    if facts.version_num < servers::MIN_VERSION_NUM {
        return Err(BadInput::new(format!(
            "server `{name}` runs PostgreSQL {}; botctl needs {} or newer",
            facts.version,
            servers::MIN_VERSION_NUM / 10_000
        ))
        .into());
    }
    control::require(&facts.privileges).map_err(|e| {
        anyhow::Error::new(e).context(BadInput::new(format!("server `{name}`: its role cannot do botctl's work")))
    })?;
    let main = servers::cluster(&mut *servers.main().pool.acquire().await?).await?;
    let known = servers::records(control_tx).await?;
    let same = std::iter::once((servers::MAIN.to_string(), Some(main)))
        .chain(known.into_iter().map(|r| (r.name, r.cluster)))
        .find(|(_, cluster)| cluster.as_deref() == Some(facts.cluster.as_str()));
    if let Some((other, _)) = same {
        return Err(BadInput::new(format!(
            "server `{name}` is the same PostgreSQL cluster as server `{other}` ({}): tenant roles belong to the \
             whole cluster, so one cluster is one server",
            facts.cluster
        ))
        .into());
    }
    Ok(facts.cluster)
}

/// Every server with its tenants, each asked at once for its version within `timeout`.
pub async fn list(servers: &Servers, timeout: Duration) -> anyhow::Result<Vec<ServerInfo>> {
    let records = servers::records(&mut *servers.control().acquire().await?).await?;
    let asked = records.iter().map(|record| async move {
        let mut info = ServerInfo::of(record);
        let version = async {
            let server = servers.get(&record.name).await?;
            let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&server.pool).await?;
            anyhow::Ok(version)
        };
        match tokio::time::timeout(timeout, version).await {
            Ok(Ok(version)) => (info.version, info.reachable) = (Some(version), Some(true)),
            Ok(Err(e)) => (info.reachable, info.error) = (Some(false), Some(format!("{e:#}"))),
            Err(_) => {
                let waited = humantime::format_duration(timeout);
                (info.reachable, info.error) = (Some(false), Some(format!("no answer within {waited}")));
            }
        }
        info
    });
    Ok(join_all(asked).await)
}

/// Stops placement from putting new tenants on the server (`undo`: lets it again). Its tenants stay
/// where they are; `tenant move --all-from` moves them.
pub async fn drain(servers: &Servers, name: &ServerName, undo: bool, actor: &str) -> anyhow::Result<ServerInfo> {
    let mut tx = servers.control().begin().await?;
    let record = servers::record_for_update(&mut tx, name.as_str()).await?.ok_or_else(|| unknown(name))?;
    if record.draining == undo {
        servers::update(&mut tx, name.as_str(), None, None, Some(!undo)).await?;
        let event = if undo { "server.resume" } else { "server.drain" };
        store::record(&mut tx, actor, None, event, json!({ "server": name, "tenants": record.tenants })).await?;
    }
    let record = servers::record(&mut tx, name.as_str()).await?.ok_or_else(|| unknown(name))?;
    tx.commit().await?;
    Ok(ServerInfo::of(&record))
}

/// What `server remove` would remove, for its confirmation; refuses what it would refuse.
pub async fn removable(servers: &Servers, name: &ServerName) -> anyhow::Result<ServerInfo> {
    let record = servers::record(&mut *servers.control().acquire().await?, name.as_str()).await?;
    let record = record.ok_or_else(|| unknown(name))?;
    refuse_removal(&record)?;
    Ok(ServerInfo::of(&record))
}

/// Forgets a server that holds no live tenant (its row locked, so no create places one meanwhile).
/// Nothing on the server itself is touched.
pub async fn remove(servers: &Servers, name: &ServerName, actor: &str) -> anyhow::Result<ServerInfo> {
    let mut tx = servers.control().begin().await?;
    let record = servers::record_for_update(&mut tx, name.as_str()).await?.ok_or_else(|| unknown(name))?;
    refuse_removal(&record)?;
    servers::delete(&mut tx, name.as_str()).await?;
    let details = json!({ "server": name, "url": record.url.as_ref().map(DatabaseUrl::redacted) });
    store::record(&mut tx, actor, None, "server.remove", details).await?;
    tx.commit().await?;
    Ok(ServerInfo::of(&record))
}

fn refuse_removal(record: &ServerRecord) -> anyhow::Result<()> {
    let name = &record.name;
    if name == servers::MAIN {
        return Err(BadInput::new("`main` is botctl's own server, where the control plane lives: it stays").into());
    }
    if record.tenants > 0 {
        let tenants = match record.tenants {
            1 => "1 live tenant".to_string(),
            n => format!("{n} live tenants"),
        };
        return Err(BadInput::new(format!(
            "server `{name}` still holds {tenants}; move them off first: `botctl tenant move --all-from {name}`"
        ))
        .into());
    }
    Ok(())
}

fn unknown(name: &ServerName) -> anyhow::Error {
    BadInput::new(format!("no server `{name}` (see `botctl server list`)")).into()
}
