//! What the operator bot shows: the menu, tenants page by page, a tenant's card and log lines, and the
//! confirmation before an action. Each screen is a message's HTML and its buttons, built from the
//! library's read models; handlers send or edit it.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::Deps;
use super::access::{Need, Operator, Role};
use super::callback::{Action, Callback, fit_query};
use super::texts::{Catalog, Text};
use crate::platform::views::{self, Observed};
use crate::telegram::runtime::callback::button;
use crate::tenant::{TenantSlug, ops};

/// A message to send or to edit into place.
pub(crate) struct Screen {
    pub html: String,
    pub buttons: InlineKeyboardMarkup,
}

/// Tenants on one page of the list.
const PER_PAGE: u32 = 8;
/// Log lines a card shows on request.
const LOG_LINES: usize = 20;

fn row(buttons: Vec<InlineKeyboardButton>) -> Vec<Vec<InlineKeyboardButton>> {
    vec![buttons]
}

pub(crate) fn menu(catalog: &Catalog, operator: &Operator) -> Screen {
    let role = catalog.raw(match operator.role {
        Role::Owner => Text::RoleOwner,
        Role::Viewer => Text::RoleViewer,
    });
    let mut rows = vec![vec![
        button(catalog.raw(Text::MenuTenants), Callback::Tenants { page: 1 }),
        button(catalog.raw(Text::MenuSearch), Callback::Search),
    ]];
    if operator.may(Need::Act) {
        rows.push(vec![button(catalog.raw(Text::MenuCreate), Callback::Create)]);
    }
    Screen { html: catalog.render(Text::MenuTitle, &[("role", role)]), buttons: InlineKeyboardMarkup::new(rows) }
}

/// The fleet at a glance: bots, subscriptions, money, last night's backups, what ends soon.
pub(crate) async fn fleet(deps: &Deps, catalog: &Catalog) -> anyhow::Result<Screen> {
    let engine = deps.engine().await.ok();
    let now = chrono::Utc::now();
    let seen = views::overview(&deps.pool, engine, now).await?;
    let unknown = catalog.raw(Text::Unknown);
    let containers = match seen.containers.known() {
        Some(c) => catalog.render_plain(
            Text::FleetContainers,
            &[
                ("running", &c.running.to_string()),
                ("stopped", &c.stopped.to_string()),
                ("unhealthy", &c.unhealthy.to_string()),
            ],
        ),
        None => unknown.to_string(),
    };
    let s = &seen.subscriptions;
    let subscriptions = catalog.render_plain(
        Text::FleetSubscriptions,
        &[
            ("trial", &s.trial.to_string()),
            ("active", &s.active.to_string()),
            ("grace", &s.grace.to_string()),
            ("suspended", &s.suspended.to_string()),
            ("complimentary", &s.complimentary.to_string()),
        ],
    );
    let revenue = list_or_dash(catalog, seen.revenue.iter().map(ToString::to_string));
    let mut backups = catalog.render_plain(
        Text::FleetBackups,
        &[("ok", &seen.backups.ok.len().to_string()), ("failed", &seen.backups.failed.len().to_string())],
    );
    if !seen.backups.failed.is_empty() {
        backups = format!("{backups} ({})", seen.backups.failed.join(", "));
    }
    let ending = list_or_dash(
        catalog,
        seen.ending.iter().map(|l| format!("{} ({})", l.subscription.tenant, l.subscription.summary())),
    );
    let html = catalog.render(
        Text::FleetText,
        &[
            ("tenants", &seen.tenants.to_string()),
            ("containers", &containers),
            ("subscriptions", &subscriptions),
            ("revenue", &revenue),
            ("backups", &backups),
            ("ending", &ending),
        ],
    );
    let buttons = vec![
        vec![button(catalog.raw(Text::FleetRefresh), Callback::Fleet)],
        vec![button(catalog.raw(Text::Back), Callback::Menu)],
    ];
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(buttons) })
}

/// Items joined with commas, or the dash for none.
pub(crate) fn list_or_dash(catalog: &Catalog, items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() { catalog.raw(Text::Dash).to_string() } else { items.join(", ") }
}

/// A page of tenants, all or those whose name or display name holds `query`.
pub(crate) async fn tenants(deps: &Deps, catalog: &Catalog, query: Option<&str>, page: u32) -> anyhow::Result<Screen> {
    let mut found = views::tenants(&deps.pool, query, page, PER_PAGE).await?;
    if found.items.is_empty() && found.page > 1 {
        // The list shrank since the button was made: its last page.
        found = views::tenants(&deps.pool, query, found.pages.max(1), PER_PAGE).await?;
    }
    let mut rows: Vec<Vec<InlineKeyboardButton>> = found
        .items
        .iter()
        .filter_map(|t| {
            let label = catalog.render_plain(Text::TenantsItem, &[("name", &t.display_name), ("status", &t.status)]);
            let tenant = t.slug.parse::<TenantSlug>().ok()?;
            Some(vec![button(label, Callback::Card { tenant })])
        })
        .collect();
    let to = |page: u32| match query {
        Some(q) => Callback::Found { page, query: fit_query(q) },
        None => Callback::Tenants { page },
    };
    let mut navigation = Vec::new();
    if found.page > 1 {
        navigation.push(button(catalog.raw(Text::TenantsPrev), to(found.page - 1)));
    }
    if found.page < found.pages {
        navigation.push(button(catalog.raw(Text::TenantsNext), to(found.page + 1)));
    }
    rows.push(navigation);
    rows.push(vec![button(catalog.raw(Text::Back), Callback::Menu)]);
    rows.retain(|r| !r.is_empty());
    let (page, pages, total) = (found.page.to_string(), found.pages.max(1).to_string(), found.total.to_string());
    let html = match query {
        _ if found.total == 0 && query.is_none() => catalog.render(Text::TenantsEmpty, &[]),
        Some(q) => catalog
            .render(Text::TenantsTitleSearch, &[("query", q), ("page", &page), ("pages", &pages), ("total", &total)]),
        None => catalog.render(Text::TenantsTitle, &[("page", &page), ("pages", &pages), ("total", &total)]),
    };
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

/// A tenant's card, with the actions an operator of this role may take.
pub(crate) async fn card(
    deps: &Deps,
    catalog: &Catalog,
    operator: &Operator,
    slug: &TenantSlug,
) -> anyhow::Result<Screen> {
    let engine = deps.engine().await.ok();
    let card = views::card(&deps.pool, engine, slug.as_str()).await?;
    let (dash, unknown) = (catalog.raw(Text::Dash), catalog.raw(Text::Unknown));
    let container = match &card.container {
        Observed::Known(Some(c)) => match &c.health {
            Some(health) => format!("{} ({health})", c.status),
            None => c.status.clone(),
        },
        Observed::Known(None) => catalog.raw(Text::CardContainerNone).to_string(),
        Observed::Unknown { .. } => unknown.to_string(),
    };
    let when = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    let last_payment = card.last_payment.as_ref().map_or(dash.to_string(), |p| {
        catalog.render_plain(
            Text::CardPayment,
            &[("amount", &p.amount.to_string()), ("provider", &p.provider), ("at", &when(&p.at))],
        )
    });
    let last_backup = card.last_backup.as_ref().map_or(dash.to_string(), |b| match b.ok {
        true => {
            let size = b.size_bytes.map_or(dash.to_string(), |n| format!("{:.1} MB", n as f64 / 1_048_576.0));
            catalog.render_plain(Text::CardBackupOk, &[("at", &when(&b.at)), ("size", &size)])
        }
        false => catalog.render_plain(Text::CardBackupFailed, &[("at", &when(&b.at))]),
    });
    let outbox = card.outbox.as_ref().map_or(unknown.to_string(), |o| {
        catalog
            .render_plain(Text::CardOutbox, &[("pending", &o.pending.to_string()), ("failed", &o.failed.to_string())])
    });
    let owners = card.owners.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    // Telegram shows an @username as a link to the bot.
    let bot = format!("@{}", card.bot_username);
    let schema = card.schema_version.map_or(unknown.to_string(), |v| v.to_string());
    let html = catalog.render(
        Text::CardText,
        &[
            ("display_name", &card.display_name),
            ("slug", &card.slug),
            ("bot", &bot),
            ("owners", &owners),
            ("container", &container),
            ("image", card.image.as_deref().unwrap_or(dash)),
            ("schema", &schema),
            ("subscription", &card.subscription.summary()),
            ("last_payment", &last_payment),
            ("last_backup", &last_backup),
            ("outbox", &outbox),
        ],
    );
    let mut rows = vec![vec![button(catalog.raw(Text::CardLogs), Callback::Logs { tenant: slug.clone() })]];
    if operator.may(Need::Act) {
        let act = |action: Action| button(catalog.raw(label(action)), Callback::Ask { action, tenant: slug.clone() });
        rows.push(vec![act(Action::Start), act(Action::Stop), act(Action::Restart)]);
        rows.push(vec![act(Action::Upgrade), act(Action::Backup)]);
        if card.subscription.state == crate::billing::State::Trial {
            rows.push(vec![button(catalog.raw(Text::ActionTrial), Callback::Trial { tenant: slug.clone() })]);
        }
        rows.push(vec![button(catalog.raw(Text::ActionPayment), Callback::Pay { tenant: slug.clone() })]);
        if card.last_payment.is_some() {
            rows.push(vec![button(catalog.raw(Text::ActionRefund), Callback::Refund { tenant: slug.clone() })]);
        }
        rows.push(vec![act(Action::Delete)]);
    }
    rows.push(vec![button(catalog.raw(Text::Back), Callback::Tenants { page: 1 })]);
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

/// The last log lines of a tenant's bot.
pub(crate) async fn logs(deps: &Deps, catalog: &Catalog, slug: &TenantSlug) -> anyhow::Result<Screen> {
    let lines = match deps.engine().await {
        Ok(engine) => views::log_tail(engine, slug.as_str(), LOG_LINES).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let html = match lines.is_empty() {
        false => catalog.render(Text::CardLogsText, &[("slug", slug.as_str()), ("lines", &lines.join("\n"))]),
        true => catalog.render(Text::CardLogsNone, &[("slug", slug.as_str())]),
    };
    Ok(Screen { html, buttons: back_to_card(catalog, slug) })
}

/// By how many days to extend a trial: the choice names the tenant and its end, and is the confirmation.
pub(crate) async fn trial(deps: &Deps, catalog: &Catalog, slug: &TenantSlug) -> anyhow::Result<Screen> {
    let card = views::card(&deps.pool, None, slug.as_str()).await?;
    let ends = card
        .subscription
        .ends()
        .map_or(catalog.raw(Text::Dash).to_string(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string());
    let html =
        catalog.render(Text::TrialChoose, &[("slug", slug.as_str()), ("name", &card.display_name), ("ends", &ends)]);
    let days = [3u32, 7, 14, 30].map(|days| {
        let label = catalog.render_plain(Text::TrialDays, &[("days", &days.to_string())]);
        button(label, Callback::ExtendTrial { days, tenant: slug.clone() })
    });
    let rows = vec![days.to_vec(), vec![button(catalog.raw(Text::Cancel), Callback::Card { tenant: slug.clone() })]];
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

/// "Really stop tenant x?", naming it.
pub(crate) async fn confirm(
    deps: &Deps,
    catalog: &Catalog,
    action: Action,
    slug: &TenantSlug,
) -> anyhow::Result<Screen> {
    let tenant = ops::show(deps.servers(), slug).await?;
    let html = catalog.render(
        Text::ConfirmText,
        &[("action", catalog.raw(verb(action))), ("slug", slug.as_str()), ("name", &tenant.display_name)],
    );
    let buttons = row(vec![
        button(catalog.raw(Text::ConfirmYes), Callback::Do { action, tenant: slug.clone() }),
        button(catalog.raw(Text::Cancel), Callback::Card { tenant: slug.clone() }),
    ]);
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(buttons) })
}

/// The one button under an action's outcome: back to the tenant's card.
pub(crate) fn back_to_card(catalog: &Catalog, slug: &TenantSlug) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(row(vec![button(catalog.raw(Text::Back), Callback::Card { tenant: slug.clone() })]))
}

pub(crate) fn label(action: Action) -> Text {
    match action {
        Action::Start => Text::ActionStart,
        Action::Stop => Text::ActionStop,
        Action::Restart => Text::ActionRestart,
        Action::Upgrade => Text::ActionUpgrade,
        Action::Backup => Text::ActionBackup,
        Action::Delete => Text::ActionDelete,
    }
}

pub(crate) fn verb(action: Action) -> Text {
    match action {
        Action::Start => Text::VerbStart,
        Action::Stop => Text::VerbStop,
        Action::Restart => Text::VerbRestart,
        Action::Upgrade => Text::VerbUpgrade,
        Action::Backup => Text::VerbBackup,
        Action::Delete => Text::VerbDelete,
    }
}
