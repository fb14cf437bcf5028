//! Recording a manual payment from a tenant's card (owners only): the plan or a number of days, the
//! amount, the reference, a confirmation naming them, then one call to the billing core's crediting,
//! as `botctl billing credit` makes it; a suspended tenant's bot is started after the credit. And
//! refunding the tenant's last payment: a confirmation naming it, then `payments::refund`, the same
//! operation as `botctl billing refund`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use teloxide::dispatching::dialogue::Dialogue;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId};

use super::Deps;
use super::access::{Need, Operator};
use super::callback::Callback;
use super::screens;
use super::state::{DbStorage, State};
use super::texts::{Catalog, Text};
use crate::billing::credit::RefundOutcome;
use crate::billing::credit::{self, Outcome, Payment, Provider};
use crate::billing::plans::{self, Plan};
use crate::billing::{CreditRequest, Credited, Currency, Money, period, subscription};
use crate::payments::refund::{self, AtProvider, Target};
use crate::progress::NoProgress;
use crate::telegram::runtime::callback::button;
use crate::telegram::runtime::sender::TgBot;
use crate::tenant::{TenantSlug, ops, runtime, store};

type OperatorDialogue = Dialogue<State, DbStorage>;

/// A payment being put together; the first missing field is the next question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    tenant: String,
    plan: Option<String>,
    days: Option<i32>,
    /// As `Money` writes itself (it has no serde form to read back).
    amount: Option<String>,
    reference: Option<String>,
}

/// A button of the flow; `Some(text)` is the press's alert. The tenant is looked up again each time.
pub(super) async fn press(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &OperatorDialogue,
    operator: &Operator,
    catalog: &Catalog,
    at: (ChatId, MessageId),
    pressed: Callback,
) -> anyhow::Result<Option<Text>> {
    let (chat, message) = at;
    let (Callback::Pay { tenant }
    | Callback::PayPlan { tenant, .. }
    | Callback::PayDays { tenant }
    | Callback::PayConfirm { tenant }) = &pressed
    else {
        return Ok(Some(Text::Stale));
    };
    let Some(found) = store::find(&mut *deps.pool.acquire().await?, tenant.as_str()).await? else {
        bot.send(chat, catalog.render(Text::NotFound, &[("slug", tenant.as_str())]), None).await?;
        return Ok(None);
    };
    let draft = |plan: Option<String>, days: Option<i32>| Draft {
        tenant: tenant.to_string(),
        plan,
        days,
        amount: None,
        reference: None,
    };
    match &pressed {
        Callback::Pay { .. } => {
            let all = plans::list(&mut *deps.pool.acquire().await?).await?;
            let mut rows: Vec<Vec<InlineKeyboardButton>> = all
                .iter()
                .filter(|p| p.active)
                .map(|p| {
                    vec![button(
                        plan_label(catalog, p),
                        Callback::PayPlan { tenant: tenant.clone(), plan: p.code.clone() },
                    )]
                })
                .collect();
            rows.push(vec![button(catalog.raw(Text::PaymentOtherDays), Callback::PayDays { tenant: tenant.clone() })]);
            rows.push(vec![button(catalog.raw(Text::Cancel), Callback::Card { tenant: tenant.clone() })]);
            let html = catalog.render(Text::PaymentPlans, &[("slug", tenant.as_str()), ("name", &found.display_name)]);
            bot.edit(chat, message, html, Some(InlineKeyboardMarkup::new(rows))).await?;
        }
        Callback::PayPlan { plan, .. } => {
            let Some(plan) = plans::find(&mut *deps.pool.acquire().await?, plan).await?.filter(|p| p.active) else {
                return Ok(Some(Text::Stale));
            };
            dialogue.update(State::Paying(draft(Some(plan.code), Some(plan.days)))).await?;
            let days = plan.days.to_string();
            bot.send(
                chat,
                catalog.render(Text::PaymentAmountPrompt, &[("slug", tenant.as_str()), ("days", &days)]),
                None,
            )
            .await?;
        }
        Callback::PayDays { .. } => {
            dialogue.update(State::Paying(draft(None, None))).await?;
            let max = period::MAX_DAYS.to_string();
            bot.send(chat, catalog.render(Text::PaymentDaysPrompt, &[("slug", tenant.as_str()), ("max", &max)]), None)
                .await?;
        }
        _ => {
            let Some(State::Paying(draft)) = dialogue.get().await? else { return Ok(Some(Text::Stale)) };
            if draft.tenant != tenant.as_str() || draft.reference.is_none() {
                return Ok(Some(Text::Stale));
            }
            // Done with the dialogue before the money moves: a second tap finds nothing to record.
            dialogue.exit().await?;
            record_and_tell(bot, deps, operator, catalog, at, tenant, draft).await?;
        }
    }
    Ok(None)
}

fn plan_label(catalog: &Catalog, plan: &Plan) -> String {
    let name = match catalog.locale() {
        crate::locale::Locale::Ru => &plan.name_ru,
        crate::locale::Locale::En => &plan.name_en,
    };
    let price = match plan.price(Currency::Rub) {
        Some(rub) => rub.to_string(),
        None => prices(catalog, plan),
    };
    catalog
        .render_plain(Text::PaymentPlanButton, &[("name", name), ("days", &plan.days.to_string()), ("price", &price)])
}

fn prices(catalog: &Catalog, plan: &Plan) -> String {
    super::screens::list_or_dash(catalog, plan.prices.iter().map(ToString::to_string))
}

/// A typed answer in the flow: the days (without a plan), the amount, then the reference.
pub(super) async fn answer(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &OperatorDialogue,
    operator: &Operator,
    catalog: &Catalog,
    msg: &Message,
    mut draft: Draft,
) -> anyhow::Result<()> {
    let (chat, text) = (msg.chat.id, msg.text().unwrap_or_default().trim());
    // A role taken away mid-flow takes the flow with it.
    if !operator.may(Need::Act) {
        dialogue.exit().await?;
        return bot.send(chat, catalog.render(Text::AccessRefused, &[]), None).await;
    }
    let say = |text: Text, params: &[(&str, &str)]| catalog.render(text, params);
    let Some(days) = draft.days else {
        let Ok(days) = period::parse_days(text) else {
            return bot.send(chat, say(Text::PaymentDaysBad, &[("max", &period::MAX_DAYS.to_string())]), None).await;
        };
        draft.days = Some(days);
        dialogue.update(State::Paying(draft.clone())).await?;
        let days = days.to_string();
        return bot.send(chat, say(Text::PaymentAmountPrompt, &[("slug", &draft.tenant), ("days", &days)]), None).await;
    };
    if draft.amount.is_none() {
        let Ok(amount) = text.parse::<Money>() else {
            return bot.send(chat, say(Text::PaymentAmountBad, &[]), None).await;
        };
        if let Some(code) = &draft.plan {
            let plan = plans::require(&mut *deps.pool.acquire().await?, code).await?;
            if credit::plan_payment(&plan, amount, false).is_err() {
                return bot
                    .send(
                        chat,
                        say(Text::PaymentAmountPlan, &[("plan", code), ("prices", &prices(catalog, &plan))]),
                        None,
                    )
                    .await;
            }
        }
        draft.amount = Some(amount.to_string());
        dialogue.update(State::Paying(draft)).await?;
        return bot.send(chat, say(Text::PaymentReferencePrompt, &[]), None).await;
    }
    if draft.reference.is_none() {
        if text.is_empty() || text.contains('\n') {
            return bot.send(chat, say(Text::PaymentReferenceBad, &[]), None).await;
        }
        draft.reference = Some(text.to_string());
        dialogue.update(State::Paying(draft.clone())).await?;
        let Ok(slug) = draft.tenant.parse::<TenantSlug>() else { return Ok(()) };
        let tenant = ops::show(deps.servers(), &slug).await?;
        let plan = draft.plan.as_deref().map(|p| format!("({p})")).unwrap_or_default();
        let html = say(
            Text::PaymentConfirm,
            &[
                ("slug", slug.as_str()),
                ("name", &tenant.display_name),
                ("days", &days.to_string()),
                ("plan", &plan),
                ("amount", draft.amount.as_deref().unwrap_or_default()),
                ("reference", text),
            ],
        );
        let buttons = vec![
            vec![button(catalog.raw(Text::PaymentYes), Callback::PayConfirm { tenant: slug.clone() })],
            vec![button(catalog.raw(Text::Cancel), Callback::Cancel)],
        ];
        return bot.send(chat, html, Some(InlineKeyboardMarkup::new(buttons).into())).await;
    }
    bot.send(chat, say(Text::CreateChooseAbove, &[]), None).await
}

/// The confirmed payment through the billing core, as `botctl billing credit` makes it: a plan's days
/// and price checked again (it may have changed since), then one credit, idempotent on the reference.
async fn record(deps: &Deps, slug: &TenantSlug, draft: Draft, actor: &str) -> anyhow::Result<Credited> {
    let amount: Money = draft.amount.as_deref().unwrap_or_default().parse()?;
    let (days, plan) = match &draft.plan {
        Some(code) => {
            let plan = plans::require(&mut *deps.pool.acquire().await?, code).await?;
            (credit::plan_payment(&plan, amount, false)?, Some(plan.code))
        }
        None => (draft.days.unwrap_or_default(), None),
    };
    let payment = Payment {
        provider: Provider::Manual,
        reference: draft.reference.unwrap_or_default(),
        amount,
        days,
        plan,
        note: None,
        raw: serde_json::json!({}),
    };
    let request = CreditRequest { tenant: slug.to_string(), payment };
    credit::credit(&deps.pool, &request, actor, Utc::now()).await
}

fn until(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// Records the payment, tells its outcome in place of the confirmation, and starts a suspended
/// tenant's bot as the CLI does when this daemon runs containers.
async fn record_and_tell(
    bot: &TgBot,
    deps: &Deps,
    operator: &Operator,
    catalog: &Catalog,
    at: (ChatId, MessageId),
    slug: &TenantSlug,
    draft: Draft,
) -> anyhow::Result<()> {
    let (chat, message) = at;
    let actor = operator.actor();
    tracing::info!(operator = operator.id, tenant = %slug, "an operator records a payment");
    let credited = match record(deps, slug, draft, &actor).await {
        Ok(credited) => credited,
        Err(error) => {
            tracing::warn!(operator = operator.id, tenant = %slug, error = format!("{error:#}"), "recording a payment failed");
            let error = format!("{error:#}");
            let html = catalog.render(Text::PaymentFailed, &[("slug", slug.as_str()), ("error", &error)]);
            return bot.edit(chat, message, html, Some(screens::back_to_card(catalog, slug))).await;
        }
    };
    let c = &credited;
    let (state, until) = (c.state.to_string(), until(c.paid_until));
    let html = match c.outcome {
        Outcome::Credited => catalog.render(
            Text::PaymentDone,
            &[
                ("slug", slug.as_str()),
                ("amount", &c.amount.to_string()),
                ("days", &c.days.to_string()),
                ("reference", &c.reference),
                ("state", &state),
                ("until", &until),
            ],
        ),
        Outcome::AlreadyCredited => catalog.render(
            Text::PaymentUnchanged,
            &[("reference", &c.reference), ("slug", slug.as_str()), ("state", &state), ("until", &until)],
        ),
    };
    bot.edit(chat, message, html, Some(screens::back_to_card(catalog, slug))).await?;
    if !credited.start_pending {
        return Ok(());
    }
    // Money is in: a bot that does not start now is told, and the clock's retry, not a failure.
    let started = async {
        let options = deps.runtime()?;
        let engine = deps.engine().await?;
        runtime::start(deps.servers(), engine, slug, options, &actor, &NoProgress).await?;
        subscription::started(&mut *deps.pool.acquire().await?, slug.as_str()).await
    };
    let html = match started.await {
        Ok(()) => catalog.render(Text::PaymentBotStarted, &[("slug", slug.as_str())]),
        Err(error) => {
            let error = format!("{error:#}");
            catalog.render(Text::PaymentBotNotStarted, &[("slug", slug.as_str()), ("error", &error)])
        }
    };
    bot.send(chat, html, None).await
}

/// "Refund this payment?", naming the tenant's last payment: its amount, provider and reference.
pub(super) async fn ask_refund(deps: &Deps, catalog: &Catalog, slug: &TenantSlug) -> anyhow::Result<screens::Screen> {
    let last = refund::last_payment(&mut *deps.pool.acquire().await?, slug.as_str()).await?;
    let Some(target) = last else {
        let html = catalog.render(Text::RefundNone, &[("slug", slug.as_str())]);
        return Ok(screens::Screen { html, buttons: screens::back_to_card(catalog, slug) });
    };
    let tenant = ops::show(deps.servers(), slug).await?;
    let how = catalog.render_plain(
        match target.provider {
            Provider::Manual => Text::RefundHowManual,
            Provider::Stars => Text::RefundHowStars,
            Provider::Yookassa => Text::RefundHowYookassa,
        },
        &[],
    );
    let html = catalog.render(
        Text::RefundConfirm,
        &[
            ("slug", slug.as_str()),
            ("name", &tenant.display_name),
            ("amount", &target.amount.to_string()),
            ("provider", target.provider.as_str()),
            ("reference", &target.reference),
            ("how", &how),
            ("days", &target.days.to_string()),
        ],
    );
    let buttons = vec![
        vec![button(
            catalog.raw(Text::RefundYes),
            Callback::RefundConfirm { payment: target.id, tenant: slug.clone() },
        )],
        vec![button(catalog.raw(Text::Cancel), Callback::Card { tenant: slug.clone() })],
    ];
    Ok(screens::Screen { html, buttons: InlineKeyboardMarkup::new(buttons) })
}

/// The confirmed refund of payment `payment`, through the operation `botctl billing refund` runs; its
/// outcome replaces the confirmation.
pub(super) async fn refund(
    bot: &TgBot,
    deps: &Deps,
    operator: &Operator,
    catalog: &Catalog,
    at: (ChatId, MessageId),
    payment: i64,
    slug: &TenantSlug,
) -> anyhow::Result<()> {
    let (chat, message) = at;
    let found = refund::by_id(&mut *deps.pool.acquire().await?, payment).await?;
    // The button names the payment and its tenant; a forged pair refunds nothing.
    let Some(target) = found.filter(|t| t.tenant == slug.as_str()) else {
        let html = catalog.render(Text::RefundNone, &[("slug", slug.as_str())]);
        return bot.edit(chat, message, html, Some(screens::back_to_card(catalog, slug))).await;
    };
    let working =
        catalog.render(Text::RefundWorking, &[("amount", &target.amount.to_string()), ("slug", slug.as_str())]);
    // The buttons go with this edit, so a second tap finds nothing to press.
    bot.edit(chat, message, working, None).await?;
    tracing::info!(operator = operator.id, tenant = %slug, provider = %target.provider, payment = target.reference, "an operator refunds a payment");
    let refunded = refund::refund(
        &deps.pool,
        &deps.options.refunds,
        target.provider,
        &target.reference,
        &operator.actor(),
        Utc::now(),
    )
    .await;
    let html = match refunded {
        Ok(done) => refund_outcome(catalog, slug, &target, &done),
        Err(error) => {
            tracing::warn!(operator = operator.id, tenant = %slug, error = format!("{error:#}"), "a refund failed");
            let error = format!("{error:#}");
            catalog.render(Text::RefundFailed, &[("slug", slug.as_str()), ("error", &error)])
        }
    };
    bot.edit(chat, message, html, Some(screens::back_to_card(catalog, slug))).await
}

fn refund_outcome(catalog: &Catalog, slug: &TenantSlug, target: &Target, done: &refund::Refund) -> String {
    let (amount, reference) = (target.amount.to_string(), target.reference.as_str());
    let Some(recorded) = &done.recorded else {
        let id = match &done.at_provider {
            AtProvider::Pending { refund_id } => refund_id.as_str(),
            _ => "",
        };
        return catalog.render(
            Text::RefundPending,
            &[("amount", &amount), ("slug", slug.as_str()), ("reference", reference), ("refund", id)],
        );
    };
    match recorded.outcome {
        RefundOutcome::AlreadyRefunded => {
            catalog.render(Text::RefundUnchanged, &[("reference", reference), ("slug", slug.as_str())])
        }
        RefundOutcome::Refunded => {
            let note = match done.at_provider {
                AtProvider::AlreadyRefunded => catalog.render_plain(Text::RefundProviderHad, &[]),
                _ => String::new(),
            };
            catalog.render(
                Text::RefundDone,
                &[
                    ("amount", &amount),
                    ("provider", target.provider.as_str()),
                    ("reference", reference),
                    ("slug", slug.as_str()),
                    ("note", &note),
                    ("days", &recorded.days_revoked.to_string()),
                    ("until", &until(recorded.paid_until)),
                ],
            )
        }
    }
}
