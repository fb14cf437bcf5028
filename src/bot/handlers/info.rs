//! What the business tells about itself: services, the about card with hours, and help with the rules.

use chrono::Weekday;
use teloxide::prelude::*;

use super::format;
use super::{Deps, HandlerResult, business, menu};
use crate::booking::store;
use crate::bot::texts::Text;
use crate::telegram::runtime::sender::TgBot;

pub(super) async fn services(bot: &TgBot, chat: ChatId, deps: &Deps) -> HandlerResult {
    let catalog = &deps.catalog();
    let services = store::services(&mut *deps.pool.acquire().await?).await?;
    let business = business(&deps.pool).await?;
    if services.is_empty() {
        return bot.send(chat, catalog.render(Text::ServicesEmpty, &[]), Some(menu(catalog))).await;
    }
    let mut text = catalog.render(Text::ServicesListHeader, &[]);
    for s in &services {
        text.push_str("\n\n");
        text.push_str(&catalog.render(
            Text::ServicesItem,
            &[
                ("name", &s.name),
                ("duration", &format::duration(catalog, i64::from(s.duration_minutes))),
                ("price", &format::price(catalog, s.price_minor, &business.currency)),
                ("description", s.description.as_deref().unwrap_or_default()),
            ],
        ));
    }
    bot.send(chat, text, Some(menu(catalog))).await
}

pub(super) async fn about(bot: &TgBot, chat: ChatId, deps: &Deps) -> HandlerResult {
    let catalog = &deps.catalog();
    let business = business(&deps.pool).await?;
    let today = deps.now().date_naive();
    let (schedule, _) = store::schedule(&mut *deps.pool.acquire().await?, today, today).await?;
    let days = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
    let hours: Vec<String> = days
        .iter()
        .map(|day| {
            let i = day.num_days_from_monday() as usize;
            let name = catalog.raw(Text::WEEKDAYS[i]);
            let intervals: Vec<String> = schedule.weekly[i]
                .iter()
                .map(|h| format!("{}–{}", h.opens.format("%H:%M"), h.closes.format("%H:%M")))
                .collect();
            if intervals.is_empty() {
                catalog.render_plain(Text::HoursClosed, &[("day", name)])
            } else {
                catalog.render_plain(Text::HoursDay, &[("day", name), ("intervals", &intervals.join(", "))])
            }
        })
        .collect();
    let text = catalog.render(
        Text::AboutText,
        &[
            ("name", &business.name),
            ("address", business.address.as_deref().unwrap_or_default()),
            ("phone", business.contacts.as_deref().unwrap_or_default()),
            ("map_link", business.map_url.as_deref().unwrap_or_default()),
            ("hours", &hours.join("\n")),
        ],
    );
    bot.send(chat, text, Some(menu(catalog))).await
}

pub(super) async fn help(bot: &TgBot, chat: ChatId, deps: &Deps) -> HandlerResult {
    let catalog = &deps.catalog();
    let business = business(&deps.pool).await?;
    let cutoff = if business.cutoff_minutes > 0 {
        catalog.render_plain(
            Text::RulesCutoff,
            &[("cutoff", &format::duration(catalog, i64::from(business.cutoff_minutes)))],
        )
    } else {
        catalog.render_plain(Text::RulesNoCutoff, &[])
    };
    let limit = catalog.render_plain(Text::RulesLimit, &[("limit", &business.limit.to_string())]);
    bot.send(chat, catalog.render(Text::HelpText, &[("rules", &format!("{cutoff}\n{limit}"))]), Some(menu(catalog)))
        .await
}
