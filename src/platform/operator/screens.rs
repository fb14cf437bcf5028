//! What the operator bot shows: the menu, tenants page by page, a tenant's card and log lines, and the
//! confirmation before an action. Each screen is a message's HTML and its buttons, built from the
//! library's read models; handlers send or edit it.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::Deps;
use super::access::{Need, Operator, Role};
use super::callback::{Action, Callback, fit_query};
use super::texts::{Catalog, Text};
use crate::telegram::runtime::callback::button;
use crate::tenant::TenantSlug;
use crate::tenant::store::Tenant;
use crate::tenant::{ops, runtime};

/// A message to send or to edit into place.
pub(crate) struct Screen {
    pub html: String,
    pub buttons: InlineKeyboardMarkup,
}

/// Tenants on one page of the list.
const PER_PAGE: usize = 8;
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

/// A page of tenants, all or those whose name or display name holds `query`.
pub(crate) async fn tenants(deps: &Deps, catalog: &Catalog, query: Option<&str>, page: u32) -> anyhow::Result<Screen> {
    let all = ops::list(&deps.pool, None).await?;
    let needle = query.map(str::to_lowercase);
    let found: Vec<&Tenant> = all
        .iter()
        .filter(|t| t.deleted_at.is_none())
        .filter(|t| {
            needle.as_ref().is_none_or(|n| t.slug.contains(n.as_str()) || t.display_name.to_lowercase().contains(n))
        })
        .collect();
    let pages = found.len().div_ceil(PER_PAGE).max(1);
    let page = (page as usize).clamp(1, pages);
    let shown = found.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE);
    let mut rows: Vec<Vec<InlineKeyboardButton>> = shown
        .map(|t| {
            let label = catalog.render_plain(Text::TenantsItem, &[("name", &t.display_name), ("status", &t.status)]);
            let Ok(tenant) = t.slug.parse::<TenantSlug>() else { return Vec::new() };
            vec![button(label, Callback::Card { tenant })]
        })
        .filter(|r| !r.is_empty())
        .collect();
    let to = |page: usize| {
        let page = u32::try_from(page).unwrap_or(1);
        match query {
            Some(q) => Callback::Found { page, query: fit_query(q) },
            None => Callback::Tenants { page },
        }
    };
    let mut navigation = Vec::new();
    if page > 1 {
        navigation.push(button(catalog.raw(Text::TenantsPrev), to(page - 1)));
    }
    if page < pages {
        navigation.push(button(catalog.raw(Text::TenantsNext), to(page + 1)));
    }
    rows.push(navigation);
    rows.push(vec![button(catalog.raw(Text::Back), Callback::Menu)]);
    rows.retain(|r| !r.is_empty());
    let (page_, pages_, total) = (page.to_string(), pages.to_string(), found.len().to_string());
    let html = if found.is_empty() {
        catalog.render(Text::TenantsEmpty, &[])
    } else {
        match query {
            Some(q) => catalog.render(
                Text::TenantsTitleSearch,
                &[("query", q), ("page", &page_), ("pages", &pages_), ("total", &total)],
            ),
            None => catalog.render(Text::TenantsTitle, &[("page", &page_), ("pages", &pages_), ("total", &total)]),
        }
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
    let tenant = ops::show(&deps.pool, slug).await?;
    let dash = catalog.raw(Text::Dash);
    let unknown = catalog.raw(Text::Unknown);
    let subscription = crate::billing::subscription::for_tenant(&mut *deps.pool.acquire().await?, slug.as_str())
        .await
        .map(|s| s.summary())
        .unwrap_or_else(|_| unknown.to_string());
    let container = match deps.engine().await {
        Ok(engine) => match engine.container(&runtime::container_name(slug.as_str())).await {
            Ok(Some(c)) => match c.health {
                Some(health) => format!("{} ({health})", c.status),
                None => c.status,
            },
            Ok(None) => dash.to_string(),
            Err(_) => unknown.to_string(),
        },
        Err(_) => unknown.to_string(),
    };
    let owners = tenant.admins.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let bot = format!("@{}", tenant.bot_username);
    let html = catalog.render(
        Text::CardText,
        &[
            ("display_name", &tenant.display_name),
            ("slug", &tenant.slug),
            ("bot", &bot),
            ("owners", &owners),
            ("container", &container),
            ("image", tenant.image.as_deref().unwrap_or(dash)),
            ("schema", &tenant.schema_version.to_string()),
            ("subscription", &subscription),
            ("last_payment", dash),
            ("last_backup", dash),
            ("outbox", dash),
        ],
    );
    let mut rows = vec![vec![button(catalog.raw(Text::CardLogs), Callback::Logs { tenant: slug.clone() })]];
    if operator.may(Need::Act) {
        let act = |action: Action| button(catalog.raw(label(action)), Callback::Ask { action, tenant: slug.clone() });
        rows.push(vec![act(Action::Start), act(Action::Stop), act(Action::Restart)]);
        rows.push(vec![act(Action::Upgrade), act(Action::Backup)]);
        rows.push(vec![button(catalog.raw(Text::ActionPayment), Callback::Pay { tenant: slug.clone() })]);
        rows.push(vec![act(Action::Delete)]);
    }
    rows.push(vec![button(catalog.raw(Text::Back), Callback::Tenants { page: 1 })]);
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

/// The last log lines of a tenant's bot.
pub(crate) async fn logs(deps: &Deps, catalog: &Catalog, slug: &TenantSlug) -> anyhow::Result<Screen> {
    let engine = deps.engine().await?;
    let query = runtime::LogQuery { follow: false, since: None, tail: Some(LOG_LINES) };
    let mut lines = Vec::new();
    let read = runtime::logs(engine, slug, &query, |_stamp, line| {
        lines.push(String::from_utf8_lossy(line).trim_end().to_string());
        Ok(())
    })
    .await;
    let html = match read {
        Ok(()) if !lines.is_empty() => {
            catalog.render(Text::CardLogsText, &[("slug", slug.as_str()), ("lines", &lines.join("\n"))])
        }
        _ => catalog.render(Text::CardLogsNone, &[("slug", slug.as_str())]),
    };
    let back = row(vec![button(catalog.raw(Text::Back), Callback::Card { tenant: slug.clone() })]);
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(back) })
}

/// "Really stop tenant x?", naming it.
pub(crate) async fn confirm(
    deps: &Deps,
    catalog: &Catalog,
    action: Action,
    slug: &TenantSlug,
) -> anyhow::Result<Screen> {
    let tenant = ops::show(&deps.pool, slug).await?;
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
