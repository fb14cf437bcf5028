//! A renewal paid through YooKassa: the payment page's link and **I have paid**, which asks YooKassa at
//! once — "not yet" before the page is paid, then the order paid, its days credited and the buyer told.

use std::time::Duration;

use botctl::locale::Locale;

use super::renewal::{CAROL, customer, paid_until};
use super::{Offer, Shop, catalog};
use crate::support::block_on;
use crate::support::chat::Chat;
use botctl::platform::sales::texts::Text;

#[test]
fn a_yookassa_renewal_is_paid_on_its_page_and_i_have_paid_finds_it() {
    let shop = Shop::start(Offer { yookassa: true, ..Offer::default() });
    let slug = customer(&shop);
    let carol = Shop::buyer(CAROL, Locale::Ru);
    let before = paid_until(&shop, &slug);

    let welcome = shop.welcome(&carol);
    shop.press(&carol, &welcome, "s");
    let mine = shop.says(&carol, |m| !m.callbacks("r:").is_empty());
    shop.press(&carol, &mine, &format!("r:{slug}"));
    let plans = shop.says(&carol, |m| !m.callbacks("rp:").is_empty());
    let order: i64 = shop.scalar(&format!("SELECT max(id) FROM botctl.orders WHERE buyer_user_id = {CAROL}"));
    shop.press(&carol, &plans, &format!("rp:{order}:3m"));
    let methods = shop.says(&carol, |m| !m.callbacks("py:").is_empty());
    assert!(methods.callbacks("ps:").is_empty(), "no Stars unless they are on");
    shop.press(&carol, &methods, &format!("py:{order}"));
    let link = shop.says(&carol, |m| !m.callbacks("pc:").is_empty());
    assert!(link.text.as_deref().is_some_and(|t| t.contains("799 ₽")), "{:?}", link.text);
    let markup = link.reply_markup.clone().unwrap();
    let page = markup["inline_keyboard"][0][0]["url"].as_str().expect("a Pay link").to_string();
    let state = || shop.scalar::<String>(&format!("SELECT state FROM botctl.orders WHERE id = {order}"));
    assert_eq!(state(), "awaiting_payment");

    let not_yet = shop.press(&carol, &link, &format!("pc:{order}"));
    assert_eq!(not_yet.as_deref(), Some(catalog(Locale::Ru).raw(Text::PayNotYet)));

    let opened = block_on(reqwest::get(page)).unwrap();
    assert_eq!(opened.status().as_u16(), 200);
    assert_eq!(shop.press(&carol, &link, &format!("pc:{order}")), None);
    shop.says_within(Duration::from_secs(30), &carol, |m| m.text.as_deref().is_some_and(|t| t.contains("оплачен до")));
    assert!(shop.f.eventually(|| state() == "done"), "the renewal is done: {}", state());
    assert_eq!(paid_until(&shop, &slug), before + chrono::TimeDelta::days(90));
    let payments: i64 = shop.scalar(&format!(
        "SELECT count(*) FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id \
         WHERE t.slug = '{slug}' AND p.provider = 'yookassa' AND p.amount = 79900"
    ));
    assert_eq!(payments, 1, "credited once");
}
