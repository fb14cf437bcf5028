//! What the sales bot shows: the welcome screen with the plans, the FAQ, the plans to buy or renew
//! with, the order's steps (the business's kind, its time zone, the summary, the payment) and the
//! buyer's subscriptions. Each screen is a message's HTML and its buttons; handlers send or edit it.

use chrono_tz::Tz;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::Deps;
use super::callback::Callback;
use super::texts::{Catalog, Text};
use crate::billing::plans::{self, Plan};
use crate::billing::{self, Currency, Money};
use crate::config::template;
use crate::locale::Locale;
use crate::platform::orders::{self, Kind, Order, State};
use crate::telegram::runtime::callback::button;
use crate::tenant::TenantSlug;

/// A message to send or to edit into place.
pub(crate) struct Screen {
    pub html: String,
    pub buttons: InlineKeyboardMarkup,
}

/// The zones offered as buttons: Russia's and a few more.
const ZONES: [Tz; 10] = [
    Tz::Europe__Kaliningrad,
    Tz::Europe__Moscow,
    Tz::Europe__Samara,
    Tz::Asia__Yekaterinburg,
    Tz::Asia__Omsk,
    Tz::Asia__Novosibirsk,
    Tz::Asia__Irkutsk,
    Tz::Asia__Vladivostok,
    Tz::Europe__London,
    Tz::UTC,
];

/// An amount as a buyer reads it: `299 ₽`, `299.50 ₽`, `150 ⭐`.
pub(crate) fn price(money: Money) -> String {
    match money.currency {
        Currency::Xtr => format!("{} ⭐", money.minor),
        Currency::Rub if money.minor % 100 == 0 => format!("{} ₽", money.minor / 100),
        Currency::Rub => format!("{}.{:02} ₽", money.minor / 100, money.minor % 100),
    }
}

pub(crate) fn plan_name(plan: &Plan, locale: Locale) -> &str {
    match locale {
        Locale::Ru => &plan.name_ru,
        Locale::En => &plan.name_en,
    }
}

/// A plan's prices as buyers see them: in rubles, and in Stars when Stars are on.
pub(crate) fn prices(deps: &Deps, plan: &Plan) -> Vec<Money> {
    let mut prices: Vec<Money> = plan.price(Currency::Rub).into_iter().collect();
    if deps.options.stars
        && let Some(stars) = plan.price(Currency::Xtr)
    {
        prices.push(stars);
    }
    prices
}

/// The plans sold now, with a price to show.
pub(crate) async fn sold(deps: &Deps) -> anyhow::Result<Vec<Plan>> {
    let plans = plans::list(&mut *deps.pool.acquire().await?).await?;
    Ok(plans.into_iter().filter(|p| p.active && !prices(deps, p).is_empty()).collect())
}

fn joined_prices(deps: &Deps, plan: &Plan) -> String {
    prices(deps, plan).into_iter().map(price).collect::<Vec<_>>().join(" / ")
}

fn back(catalog: &Catalog) -> Vec<InlineKeyboardButton> {
    vec![button(catalog.raw(Text::Back), Callback::Menu)]
}

/// `/start`: what the service is, the plans and prices, the trial, the support contact and the demo bot.
pub(crate) async fn welcome(deps: &Deps, catalog: &Catalog) -> anyhow::Result<Screen> {
    let locale = catalog.locale();
    let plans: Vec<String> = sold(deps)
        .await?
        .iter()
        .map(|plan| {
            catalog.render_plain(
                Text::WelcomePlan,
                &[
                    ("name", plan_name(plan, locale)),
                    ("price", &joined_prices(deps, plan)),
                    ("days", &plan.days.to_string()),
                ],
            )
        })
        .collect();
    let plans = if plans.is_empty() { catalog.raw(Text::WelcomeNoPlans).to_string() } else { plans.join("\n") };
    let days = deps.options.fulfiller.trial_days;
    let trial = match days {
        0 => catalog.raw(Text::WelcomeNoTrial).to_string(),
        days => catalog.render_plain(Text::WelcomeTrial, &[("days", &days.to_string())]),
    };
    let mut html = catalog.render(Text::Welcome, &[("plans", &plans), ("trial", &trial)]);
    if let Some(support) = &deps.options.support {
        html = format!("{html}\n{}", catalog.render(Text::WelcomeSupport, &[("support", support)]));
    }
    if let Some(demo) = &deps.options.demo_bot {
        html = format!("{html}\n{}", catalog.render(Text::WelcomeDemo, &[("demo", demo)]));
    }
    let mut rows = Vec::new();
    if days > 0 {
        rows.push(vec![button(catalog.raw(Text::MenuTrial), Callback::Trial)]);
    }
    rows.push(vec![button(catalog.raw(Text::MenuBuy), Callback::Plans)]);
    rows.push(vec![
        button(catalog.raw(Text::MenuMine), Callback::Mine),
        button(catalog.raw(Text::MenuFaq), Callback::Faq),
    ]);
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

pub(crate) fn faq(deps: &Deps, catalog: &Catalog) -> Screen {
    let days = deps.options.fulfiller.trial_days;
    let trial = match days {
        0 => catalog.raw(Text::WelcomeNoTrial).to_string(),
        days => catalog.render_plain(Text::FaqTrialDays, &[("days", &days.to_string())]),
    };
    let html = catalog.render(Text::Faq, &[("trial", &trial), ("support", &deps.support(catalog))]);
    Screen { html, buttons: InlineKeyboardMarkup::new(vec![back(catalog)]) }
}

/// The plans to choose from: to buy (`renewal` none) or to renew an order's tenant with.
pub(crate) async fn plans(deps: &Deps, catalog: &Catalog, renewal: Option<&Order>) -> anyhow::Result<Screen> {
    let locale = catalog.locale();
    let mut rows: Vec<Vec<InlineKeyboardButton>> = sold(deps)
        .await?
        .iter()
        .map(|plan| {
            let label = catalog.render_plain(
                Text::PlanButton,
                &[("name", plan_name(plan, locale)), ("price", &joined_prices(deps, plan))],
            );
            let pressed = match renewal {
                Some(order) => Callback::RenewPlan { order: order.id, plan: plan.code.clone() },
                None => Callback::Buy { plan: plan.code.clone() },
            };
            vec![button(label, pressed)]
        })
        .collect();
    let html = match renewal.and_then(|o| o.tenant.as_ref()) {
        Some(slug) => catalog.render(Text::PlansRenewTitle, &[("slug", slug.as_str())]),
        None => catalog.render(Text::PlansTitle, &[]),
    };
    rows.push(match renewal {
        Some(order) => vec![button(catalog.raw(Text::Cancel), Callback::Cancel { order: order.id })],
        None => back(catalog),
    });
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

pub(crate) fn cancel_row(catalog: &Catalog, order: i64) -> Vec<InlineKeyboardButton> {
    vec![button(catalog.raw(Text::Cancel), Callback::Cancel { order })]
}

/// A template's name as a buyer reads it.
pub(crate) fn template_label(catalog: &Catalog, name: &str) -> String {
    let text = match name {
        "barbershop" => Text::TemplateBarbershop,
        "beauty_salon" => Text::TemplateBeautySalon,
        "clinic" => Text::TemplateClinic,
        other => return other.to_string(),
    };
    catalog.raw(text).to_string()
}

pub(crate) fn templates(catalog: &Catalog, order: i64) -> InlineKeyboardMarkup {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = template::embedded_names()
        .into_iter()
        .map(|name| vec![button(template_label(catalog, name), Callback::Template { order, template: name.into() })])
        .collect();
    rows.push(cancel_row(catalog, order));
    InlineKeyboardMarkup::new(rows)
}

pub(crate) fn zones(catalog: &Catalog, order: i64) -> Screen {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = ZONES
        .chunks(2)
        .map(|zones| zones.iter().map(|zone| button(zone.name(), Callback::Zone { order, zone: *zone })).collect())
        .collect();
    rows.push(cancel_row(catalog, order));
    Screen { html: catalog.render(Text::ZonePrompt, &[]), buttons: InlineKeyboardMarkup::new(rows) }
}

/// Everything the buyer chose, with **Confirm**.
pub(crate) async fn summary(deps: &Deps, catalog: &Catalog, order: &Order) -> anyhow::Result<Screen> {
    let offer = match (&order.kind, &order.plan) {
        (Kind::Trial, _) => {
            catalog.render_plain(Text::SummaryTrial, &[("days", &deps.options.fulfiller.trial_days.to_string())])
        }
        (_, Some(code)) => {
            let plan = plans::require(&mut *deps.pool.acquire().await?, code).await?;
            catalog.render_plain(
                Text::SummaryPlan,
                &[("plan", plan_name(&plan, catalog.locale())), ("price", &joined_prices(deps, &plan))],
            )
        }
        (_, None) => String::new(),
    };
    let html = catalog.render(
        Text::Summary,
        &[
            ("name", order.business_name.as_deref().unwrap_or_default()),
            ("bot", order.bot.as_ref().map(|b| b.username.as_str()).unwrap_or_default()),
            ("template", &template_label(catalog, order.template.as_deref().unwrap_or_default())),
            ("timezone", order.timezone.map(|tz| tz.name()).unwrap_or_default()),
            ("offer", &offer),
        ],
    );
    let buttons = vec![
        vec![button(catalog.raw(Text::SummaryConfirm), Callback::Confirm { order: order.id })],
        cancel_row(catalog, order.id),
    ];
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(buttons) })
}

/// How to pay for an order's plan: the methods configured, or where to write when there are none.
pub(crate) async fn payment(deps: &Deps, catalog: &Catalog, order: &Order) -> anyhow::Result<Screen> {
    let code = order.plan.as_deref().unwrap_or_default();
    let plan = plans::require(&mut *deps.pool.acquire().await?, code).await?;
    let mut rows = Vec::new();
    if deps.options.checkout.is_some() && plan.price(Currency::Rub).is_some() {
        rows.push(vec![button(catalog.raw(Text::PayYookassa), Callback::PayYookassa { order: order.id })]);
    }
    if deps.options.stars
        && let Some(stars) = plan.price(Currency::Xtr)
    {
        let label = catalog.render_plain(Text::PayStars, &[("stars", &price(stars))]);
        rows.push(vec![button(label, Callback::PayStars { order: order.id })]);
    }
    let html = match rows.is_empty() {
        true => catalog.render(Text::PayNone, &[("support", &deps.support(catalog))]),
        false => catalog.render(
            Text::PayChoose,
            &[("plan", plan_name(&plan, catalog.locale())), ("price", &joined_prices(deps, &plan))],
        ),
    };
    rows.push(cancel_row(catalog, order.id));
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

/// The tenants a buyer's orders made and still live: each once, newest order first.
pub(crate) async fn buyers_tenants(deps: &Deps, user_id: i64) -> anyhow::Result<Vec<Order>> {
    let orders = orders::by_buyer(&mut *deps.pool.acquire().await?, user_id).await?;
    let mut seen: Vec<Order> = Vec::new();
    for order in orders {
        let made = order.kind.creates_tenant() && matches!(order.state, State::Provisioned | State::Done);
        if made
            && let Some(slug) = &order.tenant
            && !seen.iter().any(|o| o.tenant.as_ref() == Some(slug))
        {
            seen.push(order);
        }
    }
    Ok(seen)
}

fn state_label(state: billing::State) -> Text {
    match state {
        billing::State::Trial => Text::StateTrial,
        billing::State::Active => Text::StateActive,
        billing::State::Grace => Text::StateGrace,
        billing::State::Suspended => Text::StateSuspended,
        billing::State::Complimentary => Text::StateComplimentary,
        billing::State::Cancelled => Text::StateCancelled,
    }
}

/// "My subscription": each of the buyer's tenants with its state, paid-until and payments.
pub(crate) async fn mine(deps: &Deps, catalog: &Catalog, user_id: i64) -> anyhow::Result<Screen> {
    let dash = catalog.raw(Text::Dash);
    let mut items = Vec::new();
    let mut rows = Vec::new();
    for order in buyers_tenants(deps, user_id).await? {
        let Some(slug) = &order.tenant else { continue };
        let conn = &mut *deps.pool.acquire().await?;
        // A tenant deleted since is no longer the buyer's to see.
        if !billing::ledger::tenant_known(conn, slug.as_str()).await? {
            continue;
        }
        let subscription = billing::subscription::for_tenant(conn, slug.as_str()).await?;
        let payments = billing::ledger::payments(conn, slug.as_str()).await?;
        let payments: Vec<String> = payments
            .iter()
            .map(|p| {
                let amount = p.amount.map_or(dash.to_string(), price);
                catalog.render_plain(
                    Text::MinePayment,
                    &[
                        ("at", &p.created_at.format("%Y-%m-%d").to_string()),
                        ("amount", &amount),
                        ("provider", &p.provider),
                        ("reference", &p.reference),
                    ],
                )
            })
            .collect();
        let payments =
            if payments.is_empty() { catalog.raw(Text::MineNoPayments).to_string() } else { payments.join("\n") };
        let until = subscription.paid_until.map_or(dash.to_string(), |at| at.format("%Y-%m-%d").to_string());
        items.push(catalog.render(
            Text::MineItem,
            &[
                ("name", order.business_name.as_deref().unwrap_or(slug.as_str())),
                ("bot", order.bot.as_ref().map(|b| b.username.as_str()).unwrap_or(dash)),
                ("state", catalog.raw(state_label(subscription.state))),
                ("until", &until),
                ("payments", &payments),
            ],
        ));
        if subscription.state != billing::State::Cancelled {
            let label = catalog.render_plain(Text::MineRenew, &[("slug", slug.as_str())]);
            rows.push(vec![button(label, Callback::Renew { tenant: slug.clone() })]);
        }
    }
    rows.push(back(catalog));
    let html = match items.is_empty() {
        true => catalog.render(Text::MineEmpty, &[]),
        false => format!("{}\n\n{}", catalog.render(Text::MineTitle, &[]), items.join("\n\n")),
    };
    Ok(Screen { html, buttons: InlineKeyboardMarkup::new(rows) })
}

/// Whether `slug` is a tenant one of the buyer's orders made.
pub(crate) async fn owns(deps: &Deps, user_id: i64, slug: &TenantSlug) -> anyhow::Result<bool> {
    Ok(buyers_tenants(deps, user_id).await?.iter().any(|o| o.tenant.as_ref() == Some(slug)))
}
