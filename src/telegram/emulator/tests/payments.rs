//! Stars payments: an invoice, the buyer paying it, the bot's pre-checkout answer (ok, not ok, none)
//! and refunds, read by teloxide 0.17 as its own types.

use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{
    LabeledPrice, MessageKind, PreCheckoutQuery, SuccessfulPayment, TelegramTransactionId, TransactionPartner,
    UpdateKind,
};
use teloxide::{ApiError, RequestError};
use tokio::sync::mpsc;

use super::*;
use crate::telegram::emulator::CheckoutOutcome;

/// The bot sends Ann a one-month plan for 250 Stars; returns the invoice's message id.
async fn invoice(emulator: &Emulator, bot: &Bot) -> i64 {
    emulator.send_text(TOKEN, &ann(), "/buy");
    let sent = bot
        .send_invoice(ANN, "1 month", "Booking bot for 30 days", "order:17", "XTR", [LabeledPrice::new("1 month", 250)])
        .await
        .unwrap();
    let invoice = sent.invoice().expect("teloxide reads the sent invoice");
    assert_eq!((invoice.currency.as_str(), invoice.total_amount), ("XTR", 250));
    i64::from(sent.id.0)
}

/// Ann pays and the bot, polling by hand, gets the typed pre-checkout query.
async fn pay(emulator: &Emulator, bot: &Bot, message_id: i64) -> (String, PreCheckoutQuery, i32) {
    let query_id = emulator.pay_invoice(TOKEN, &ann(), message_id).unwrap();
    let updates = bot.get_updates().offset(2).await.unwrap();
    let [update] = updates.as_slice() else { panic!("expected one update: {updates:?}") };
    let UpdateKind::PreCheckoutQuery(query) = &update.kind else { panic!("not a pre-checkout query: {update:?}") };
    assert_eq!(query.id.0, query_id);
    (query_id, query.clone(), update.id.as_offset())
}

#[derive(Debug)]
enum Seen {
    Query(PreCheckoutQuery),
    Paid(SuccessfulPayment),
}

#[tokio::test]
async fn a_paid_invoice_reaches_a_teloxide_handler_as_typed_query_and_payment() {
    let (emulator, bot) = start().await;
    let message_id = invoice(&emulator, &bot).await;
    let (seen, mut saw) = mpsc::unbounded_channel::<Seen>();
    let handler = dptree::entry()
        .branch(Update::filter_pre_checkout_query().endpoint(
            |bot: Bot, query: PreCheckoutQuery, seen: mpsc::UnboundedSender<Seen>| async move {
                // Told before the answer, which is what makes the payment: the two arrive in order.
                let _ = seen.send(Seen::Query(query.clone()));
                bot.answer_pre_checkout_query(query.id, true).await?;
                respond(())
            },
        ))
        .branch(Update::filter_message().branch(Message::filter_successful_payment().endpoint(
            |payment: SuccessfulPayment, seen: mpsc::UnboundedSender<Seen>| async move {
                let _ = seen.send(Seen::Paid(payment));
                respond(())
            },
        )));
    let mut dispatcher = Dispatcher::builder(bot, handler).dependencies(dptree::deps![seen]).build();
    let dispatching = tokio::spawn(async move { dispatcher.dispatch().await });

    let query_id = emulator.pay_invoice(TOKEN, &ann(), message_id).unwrap();
    let outcome = emulator.wait_checkout(&query_id, WAIT).await.unwrap();
    let CheckoutOutcome::Paid { telegram_payment_charge_id } = outcome else { panic!("{outcome:?}") };

    let Ok(Some(Seen::Query(query))) = tokio::time::timeout(WAIT, saw.recv()).await else { panic!("no query") };
    assert_eq!(query.id.0, query_id);
    assert_eq!(query.from.id.0, 42);
    assert_eq!((query.currency.as_str(), query.total_amount), ("XTR", 250));
    assert_eq!(query.invoice_payload, "order:17");
    let Ok(Some(Seen::Paid(payment))) = tokio::time::timeout(WAIT, saw.recv()).await else { panic!("no payment") };
    assert_eq!((payment.currency.as_str(), payment.total_amount), ("XTR", 250));
    assert_eq!(payment.invoice_payload, "order:17");
    assert_eq!(payment.telegram_payment_charge_id.0, telegram_payment_charge_id);
    assert!(!payment.provider_payment_charge_id.is_empty());
    assert_ne!(payment.provider_payment_charge_id, telegram_payment_charge_id);

    let chat = emulator.chat(TOKEN, 42);
    assert_eq!(chat[1].invoice.as_ref().map(|i| i.payload.as_str()), Some("order:17"));
    let paid = chat.last().unwrap();
    assert!(!paid.from_bot, "the service message stands in the buyer's name");
    assert_eq!(paid.successful_payment.as_ref().unwrap().telegram_payment_charge_id, telegram_payment_charge_id);
    assert_eq!(emulator.charge_refunded(&telegram_payment_charge_id), Some(false));
    let again = emulator.pay_invoice(TOKEN, &ann(), message_id);
    assert_eq!(again, Err(crate::telegram::emulator::PaymentRefused::AlreadyPaid(message_id)));
    emulator.shutdown().await;
    dispatching.abort();
}

#[tokio::test]
async fn a_declined_pre_checkout_takes_no_money() {
    let (emulator, bot) = start().await;
    let message_id = invoice(&emulator, &bot).await;
    let (query_id, query, offset) = pay(&emulator, &bot, message_id).await;
    assert_eq!(emulator.checkout(&query_id), Some(CheckoutOutcome::Waiting));

    bot.answer_pre_checkout_query(query.id.clone(), false).error_message("The price has changed").await.unwrap();
    let declined = CheckoutOutcome::Declined { error_message: Some("The price has changed".into()) };
    assert_eq!(emulator.wait_checkout(&query_id, WAIT).await.unwrap(), declined);
    assert!(bot.get_updates().offset(offset).await.unwrap().is_empty(), "no successful_payment follows");
    assert!(emulator.chat(TOKEN, 42).iter().all(|m| m.successful_payment.is_none()));
    // Answered once: a second answer, even ok, cannot turn it into a payment.
    let again = bot.answer_pre_checkout_query(query.id, true).await;
    assert!(matches!(again, Err(RequestError::Api(ApiError::InvalidQueryId))), "{again:?}");
    assert_eq!(emulator.checkout(&query_id), Some(declined));
}

#[tokio::test]
async fn an_unanswered_pre_checkout_fails_the_payment_and_a_late_answer_is_refused() {
    let (emulator, bot) = start().await;
    // Telegram's 10 s, shortened: what is tested is that the payment fails, not how long it takes.
    emulator.set_checkout_timeout(Duration::from_millis(200));
    let message_id = invoice(&emulator, &bot).await;
    let (query_id, query, offset) = pay(&emulator, &bot, message_id).await;

    assert_eq!(emulator.wait_checkout(&query_id, WAIT).await.unwrap(), CheckoutOutcome::TimedOut);
    let late = bot.answer_pre_checkout_query(query.id, true).await;
    assert!(matches!(late, Err(RequestError::Api(ApiError::InvalidQueryId))), "{late:?}");
    assert_eq!(emulator.checkout(&query_id), Some(CheckoutOutcome::TimedOut));
    assert!(bot.get_updates().offset(offset).await.unwrap().is_empty());
    assert!(emulator.chat(TOKEN, 42).iter().all(|m| m.successful_payment.is_none()));
}

#[tokio::test]
async fn a_charge_is_refunded_once_and_the_second_refund_is_charge_already_refunded() {
    let (emulator, bot) = start().await;
    let message_id = invoice(&emulator, &bot).await;
    let (query_id, query, offset) = pay(&emulator, &bot, message_id).await;
    bot.answer_pre_checkout_query(query.id, true).await.unwrap();
    let CheckoutOutcome::Paid { telegram_payment_charge_id: charge } = emulator.checkout(&query_id).unwrap() else {
        panic!("not paid")
    };
    let updates = bot.get_updates().offset(offset).await.unwrap();
    let paid = updates.iter().find_map(|u| match &u.kind {
        UpdateKind::Message(m) => m.successful_payment().cloned(),
        _ => None,
    });
    assert_eq!(paid.unwrap().telegram_payment_charge_id.0, charge);
    let offset = updates.last().unwrap().id.as_offset();

    let charge_id = TelegramTransactionId(charge.clone());
    bot.refund_star_payment(UserId(42), charge_id.clone()).await.unwrap();
    assert_eq!(emulator.charge_refunded(&charge), Some(true));
    let updates = bot.get_updates().offset(offset).await.unwrap();
    let UpdateKind::Message(message) = &updates[0].kind else { panic!("{updates:?}") };
    let MessageKind::RefundedPayment(refund) = &message.kind else { panic!("not a refund: {message:?}") };
    assert_eq!(
        (refund.refunded_payment.total_amount, &refund.refunded_payment.telegram_payment_charge_id),
        (250, &charge_id)
    );

    let twice = bot.refund_star_payment(UserId(42), charge_id.clone()).await;
    let Err(RequestError::Api(ApiError::Unknown(description))) = twice else { panic!("{twice:?}") };
    assert_eq!(description, "Bad Request: CHARGE_ALREADY_REFUNDED");
    // Someone else's charge, or one that never was, is not refunded.
    let stranger = bot.refund_star_payment(UserId(7), charge_id.clone()).await;
    assert!(matches!(stranger, Err(RequestError::Api(ApiError::Unknown(_)))), "{stranger:?}");

    // What a reconcile reads: the payment, then its refund under the same id.
    let listed = bot.get_star_transactions().await.unwrap().transactions;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.id == charge_id && t.amount == 250));
    let Some(TransactionPartner::User(buyer)) = &listed[0].source else { panic!("{listed:?}") };
    assert_eq!(buyer.user.id.0, 42);
    assert_eq!(buyer.kind.invoice_payment().and_then(|p| p.invoice_payload).as_deref(), Some("order:17"));
    assert!(matches!(listed[1].receiver, Some(TransactionPartner::User(_))), "{listed:?}");
    assert_eq!(bot.get_star_transactions().offset(1).limit(5).await.unwrap().transactions[..], listed[1..]);
}

#[tokio::test]
async fn a_stars_invoice_has_one_price_and_no_provider_token() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/buy");
    let two_prices = [LabeledPrice::new("plan", 200), LabeledPrice::new("setup", 50)];
    let refused = bot.send_invoice(ANN, "Plan", "30 days", "order:1", "XTR", two_prices).await;
    assert!(refused.is_err(), "{refused:?}");
    let with_provider = bot
        .send_invoice(ANN, "Plan", "30 days", "order:1", "XTR", [LabeledPrice::new("plan", 250)])
        .provider_token("381764678:TEST:1")
        .await;
    let Err(RequestError::Api(ApiError::Unknown(description))) = with_provider else { panic!("{with_provider:?}") };
    assert_eq!(description, "Bad Request: PAYMENT_PROVIDER_INVALID");
    assert!(emulator.chat(TOKEN, 42).iter().all(|m| m.invoice.is_none()));
    // Only the bot's own invoices can be paid.
    assert_eq!(emulator.pay_invoice(TOKEN, &ann(), 1), Err(crate::telegram::emulator::PaymentRefused::NoInvoice(1)));
}
