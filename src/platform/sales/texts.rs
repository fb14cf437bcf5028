//! The sales bot's texts: keys with Russian and English defaults (`templates/texts/sales/`, compiled
//! in), in the shared catalogue machinery. Buyers read them in their Telegram client's language.

use crate::locale::Locale;
use crate::telegram::runtime::texts as machinery;

/// The sales bot's catalogue.
pub type Catalog = machinery::Catalog<Text>;

fn embedded_yaml(locale: Locale) -> &'static str {
    match locale {
        Locale::Ru => include_str!("../../../templates/texts/sales/ru.yaml"),
        Locale::En => include_str!("../../../templates/texts/sales/en.yaml"),
    }
}

fn fixed(_: Text) -> bool {
    false
}

crate::texts! {
    yaml: embedded_yaml,
    editable: fixed,
    reply_buttons: &[Text::BotManagedButton];

    CommandsStart: Command = "sales.commands.start";
    CommandsPaysupport: Command = "sales.commands.paysupport";
    CommandsCancel: Command = "sales.commands.cancel";

    Stale: Alert = "sales.common.stale";
    Failed: Alert = "sales.common.failed";
    Cancel: Label = "sales.common.cancel";
    Back: Label = "sales.common.back";
    Cancelled: Html = "sales.common.cancelled";
    Dash: Label = "sales.common.none";
    Flood: Html = "sales.common.flood";
    ChooseAbove: Html = "sales.common.choose_above";

    Welcome: Html = "sales.welcome.text" { plans, trial };
    WelcomePlan: Fragment = "sales.welcome.plan" { name, price, days };
    WelcomeNoPlans: Fragment = "sales.welcome.no_plans";
    WelcomeTrial: Fragment = "sales.welcome.trial" { days };
    WelcomeNoTrial: Fragment = "sales.welcome.no_trial";
    WelcomeSupport: Fragment = "sales.welcome.support" { support };
    WelcomeDemo: Fragment = "sales.welcome.demo" { demo };
    MenuTrial: Label = "sales.menu.trial";
    MenuBuy: Label = "sales.menu.buy";
    MenuMine: Label = "sales.menu.mine";
    MenuFaq: Label = "sales.menu.faq";

    Faq: Html = "sales.faq.text" { trial, support };
    FaqTrialDays: Fragment = "sales.faq.trial_days" { days };

    PlansTitle: Html = "sales.plans.title";
    PlanButton: Fragment = "sales.plans.button" { name, price };
    PlansRenewTitle: Html = "sales.plans.renew_title" { slug };
    OrderRefused: Html = "sales.order.refused" { reason };
    TrialUsed: Html = "sales.order.trial_used";

    NamePrompt: Html = "sales.name.prompt";
    NameBad: Html = "sales.name.bad";
    NameRefused: Html = "sales.name.refused" { reason };

    BotPrompt: Html = "sales.bot.prompt" { name };
    BotManagedPrompt: Html = "sales.bot.managed_prompt" { name };
    BotManagedButton: Label = "sales.bot.managed_button";
    BotManagedCancel: Html = "sales.bot.managed_cancel";
    BotTokenMalformed: Html = "sales.bot.token_malformed";
    BotTokenRejected: Html = "sales.bot.token_rejected" { bot };
    BotTokenUnchecked: Html = "sales.bot.token_unchecked";
    BotRefused: Html = "sales.bot.refused" { reason };
    BotTokenOutOfPlace: Html = "sales.bot.token_out_of_place";
    BotManagedFailed: Html = "sales.bot.managed_failed";
    BotAccepted: Html = "sales.bot.accepted" { bot };

    TemplatePrompt: Html = "sales.template.prompt";
    TemplateBarbershop: Label = "sales.template.barbershop";
    TemplateBeautySalon: Label = "sales.template.beauty_salon";
    TemplateClinic: Label = "sales.template.clinic";
    ZonePrompt: Html = "sales.zone.prompt";

    Summary: Html = "sales.summary.text" { name, bot, template, timezone, offer };
    SummaryTrial: Fragment = "sales.summary.trial" { days };
    SummaryPlan: Fragment = "sales.summary.plan" { plan, price };
    SummaryConfirm: Label = "sales.summary.confirm";

    ProgressText: Html = "sales.progress.text" { step };
    ProgressBegun: Label = "sales.progress.begun";
    ProgressDone: Html = "sales.progress.done";
    ProgressFailed: Html = "sales.progress.failed" { reason, support };

    PayChoose: Html = "sales.pay.choose" { plan, price };
    PayYookassa: Label = "sales.pay.yookassa";
    PayStars: Fragment = "sales.pay.stars" { stars };
    PayNone: Html = "sales.pay.none" { support };
    PayLink: Html = "sales.pay.link" { price };
    PayOpen: Label = "sales.pay.open";
    PayCheck: Label = "sales.pay.check";
    PayNotYet: Alert = "sales.pay.not_yet";
    PayReceived: Html = "sales.pay.received";
    PayCanceled: Html = "sales.pay.canceled" { reason };
    StarsTitle: Fragment = "sales.pay.stars_title" { plan };
    StarsDescription: Fragment = "sales.pay.stars_description" { name, days };
    StarsPaid: Html = "sales.pay.stars_paid";
    PaySupport: Html = "sales.pay.support" { support };

    MineEmpty: Html = "sales.mine.empty";
    MineTitle: Html = "sales.mine.title";
    MineItem: Html = "sales.mine.item" { name, bot, state, until, payments };
    MinePayment: Fragment = "sales.mine.payment" { at, amount, provider, reference };
    MineNoPayments: Fragment = "sales.mine.no_payments";
    MineRenew: Fragment = "sales.mine.renew" { slug };
    StateTrial: Label = "sales.state.trial";
    StateActive: Label = "sales.state.active";
    StateGrace: Label = "sales.state.grace";
    StateSuspended: Label = "sales.state.suspended";
    StateComplimentary: Label = "sales.state.complimentary";
    StateCancelled: Label = "sales.state.cancelled";

    TellLive: Html = "sales.tell.live" { bot };
    TellOpen: Fragment = "sales.tell.open" { bot };
    TellRenewed: Html = "sales.tell.renewed" { slug, until };
    TellFailed: Html = "sales.tell.failed" { reason, support };
    TellCanceled: Html = "sales.tell.canceled" { reason };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buyers_words_stay_text() {
        let en = Catalog::defaults(Locale::En);
        let out = en.render(Text::BotPrompt, &[("name", "<b>x</b>")]);
        assert!(out.contains("<b>&lt;b&gt;x&lt;/b&gt;</b>"), "{out}");
    }
}
