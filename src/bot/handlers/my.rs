//! "My bookings": the customer's upcoming bookings, each with Cancel and Move; cancellation behind a
//! confirmation; and rating a past visit. Ownership, status and the cutoff are checked at every step
//! and again inside the final transaction.

use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, MessageId, ReplyMarkup, User};

use super::booking::{At, own_booking};
use super::format;
use super::{CustomerDialogue, Deps, HandlerResult, business, menu, too_late};
use crate::booking::store::{self, BookingError};
use crate::bot::callback::Callback;
use crate::bot::keyboards::button;
use crate::bot::state::State;
use crate::bot::texts::Text;
use crate::telegram::runtime::sender::TgBot;

pub(super) async fn list(
    bot: &TgBot,
    chat: ChatId,
    message: Option<MessageId>,
    deps: &Deps,
    user: &User,
) -> HandlerResult {
    let catalog = &deps.catalog();
    let customer = i64::try_from(user.id.0)?;
    let bookings = store::upcoming(&mut *deps.pool.acquire().await?, customer, deps.now()).await?;
    let business = business(&deps.pool).await?;
    let (text, markup) = if bookings.is_empty() {
        (catalog.render(Text::MyEmpty, &[]), None)
    } else {
        let mut text = catalog.render(Text::MyHeader, &[]);
        let mut rows = Vec::new();
        for (n, b) in (1..).zip(&bookings) {
            let number = n.to_string();
            text.push_str("\n\n");
            text.push_str(&catalog.render(
                Text::MyItem,
                &[
                    ("number", &number),
                    ("service", &b.service_name),
                    ("date", &format::date(catalog, business.tz, b.starts_at)),
                    ("time", &format::time(business.tz, b.starts_at)),
                    ("duration", &format::duration(catalog, (b.ends_at - b.starts_at).num_minutes())),
                    ("price", &format::price(catalog, b.price_minor, &business.currency)),
                ],
            ));
            rows.push(vec![
                button(
                    catalog.render_plain(Text::MyCancelButton, &[("number", &number)]),
                    Callback::Cancel { booking: b.id },
                ),
                button(
                    catalog.render_plain(Text::MyMoveButton, &[("number", &number)]),
                    Callback::Move { booking: b.id },
                ),
            ]);
        }
        (text, Some(InlineKeyboardMarkup::new(rows)))
    };
    match message {
        Some(message) => bot.edit(chat, message, text, markup).await,
        None => bot.send(chat, text, Some(markup.map_or_else(|| menu(catalog), ReplyMarkup::InlineKeyboard))).await,
    }
}

pub(super) async fn ask_cancel(
    bot: &TgBot,
    (chat, message): At,
    deps: &Deps,
    customer: i64,
    booking: i64,
) -> anyhow::Result<Option<Text>> {
    let catalog = &deps.catalog();
    let Some(b) = own_booking(deps, customer, booking).await? else { return Ok(Some(Text::StaleButton)) };
    let business = business(&deps.pool).await?;
    if !business.can_change(b.starts_at, deps.now()) {
        bot.edit(chat, message, too_late(&deps.catalog(), Text::CancelTooLate, &business), None).await?;
        return Ok(None);
    }
    let (date, time) = format::date_time(catalog, business.tz, b.starts_at);
    let text = catalog.render(Text::CancelConfirm, &[("service", &b.service_name), ("date", &date), ("time", &time)]);
    let markup = InlineKeyboardMarkup::new(vec![
        vec![button(catalog.raw(Text::CancelConfirmButton), Callback::CancelConfirm { booking })],
        vec![button(catalog.raw(Text::CancelKeepButton), Callback::MyBookings)],
    ]);
    bot.edit(chat, message, text, Some(markup)).await?;
    Ok(None)
}

pub(super) async fn cancel(
    bot: &TgBot,
    (chat, message): At,
    deps: &Deps,
    customer: i64,
    booking: i64,
) -> anyhow::Result<Option<Text>> {
    let catalog = &deps.catalog();
    let business = business(&deps.pool).await?;
    let text = match store::cancel(&deps.pool, booking, customer, deps.now()).await {
        Ok(b) => {
            deps.bookings.cancelled.inc();
            let (date, time) = format::date_time(catalog, business.tz, b.starts_at);
            catalog.render(Text::CancelDone, &[("service", &b.service_name), ("date", &date), ("time", &time)])
        }
        Err(BookingError::TooLate { .. }) => too_late(&deps.catalog(), Text::CancelTooLate, &business),
        Err(BookingError::NotFound | BookingError::NotActive) => return Ok(Some(Text::StaleButton)),
        Err(e) => return Err(e.into()),
    };
    bot.edit(chat, message, text, None).await?;
    Ok(None)
}

/// Starts a move: the booking's calendar in move mode, if the cutoff still allows changes.
pub(super) async fn start_move(
    bot: &TgBot,
    (chat, message): At,
    deps: &Deps,
    customer: i64,
    booking: i64,
) -> anyhow::Result<Option<Text>> {
    let Some(b) = own_booking(deps, customer, booking).await? else { return Ok(Some(Text::StaleButton)) };
    let business = business(&deps.pool).await?;
    if !business.can_change(b.starts_at, deps.now()) {
        bot.edit(chat, message, too_late(&deps.catalog(), Text::MoveTooLate, &business), None).await?;
        return Ok(None);
    }
    super::booking::calendar(bot, (chat, message), deps, customer, b.service_id, None, Some(booking)).await
}

/// A rating for the customer's own visit that has ended, once.
pub(super) async fn rate(
    bot: &TgBot,
    (chat, message): At,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    customer: i64,
    booking: i64,
    score: u8,
) -> anyhow::Result<Option<Text>> {
    let catalog = &deps.catalog();
    let owner: Option<(i64, bool)> = sqlx::query_as(
        "SELECT customer_id, ends_at <= $2 AND status IN ('active', 'completed') FROM bookings WHERE id = $1 AND kind = 'customer'",
    )
    .bind(booking)
    .bind(deps.now())
    .fetch_optional(&deps.pool)
    .await?;
    match owner {
        Some((owner, true)) if owner == customer => {}
        _ => return Ok(Some(Text::RatingNotYours)),
    }
    // The rating and the admins' notice of it, together.
    let mut tx = deps.pool.begin().await?;
    let inserted = sqlx::query("INSERT INTO ratings (booking_id, score) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(booking)
        .bind(i16::from(score))
        .execute(&mut *tx)
        .await?;
    if inserted.rows_affected() == 0 {
        return Ok(Some(Text::RatingAlreadyRated));
    }
    crate::booking::outbox::rated(&mut tx, booking, deps.now()).await?;
    tx.commit().await?;
    dialogue.update(State::AwaitingComment { booking }).await?;
    let stars = "⭐".repeat(usize::from(score));
    let text = format!(
        "{}\n\n{}",
        catalog.render(Text::RatingThanks, &[("stars", &stars)]),
        catalog.render(Text::RatingCommentPrompt, &[])
    );
    bot.edit(chat, message, text, None).await?;
    Ok(None)
}

pub(super) async fn receive_comment(
    bot: &TgBot,
    msg: &Message,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    booking: i64,
) -> HandlerResult {
    let catalog = &deps.catalog();
    dialogue.update(State::Idle).await?;
    let text = msg.text().unwrap_or_default().trim();
    if !text.is_empty() && text != catalog.raw(Text::RatingSkipComment) {
        let comment: String = text.chars().take(1000).collect();
        sqlx::query("UPDATE ratings SET comment = $2 WHERE booking_id = $1")
            .bind(booking)
            .bind(comment)
            .execute(&deps.pool)
            .await?;
    }
    bot.send(msg.chat.id, catalog.render(Text::RatingCommentThanks, &[]), Some(menu(catalog))).await
}
