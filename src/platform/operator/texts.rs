//! The operator bot's texts: keys with Russian and English defaults (`templates/texts/operator/`,
//! compiled in), in the shared catalogue machinery. Only operators read them; none is overridable.

use crate::locale::Locale;
use crate::telegram::runtime::texts as machinery;

/// The operator bot's catalogue.
pub type Catalog = machinery::Catalog<Text>;

fn embedded_yaml(locale: Locale) -> &'static str {
    match locale {
        Locale::Ru => include_str!("../../../templates/texts/operator/ru.yaml"),
        Locale::En => include_str!("../../../templates/texts/operator/en.yaml"),
    }
}

fn fixed(_: Text) -> bool {
    false
}

crate::texts! {
    yaml: embedded_yaml,
    editable: fixed,
    reply_buttons: &[];

    CommandsStart: Command = "operator.commands.start";
    CommandsCancel: Command = "operator.commands.cancel";

    AccessRefused: Html = "operator.access.refused";
    AccessViewer: Alert = "operator.access.viewer";
    Stale: Alert = "operator.common.stale";
    Failed: Alert = "operator.common.failed";
    Cancel: Label = "operator.common.cancel";
    Back: Label = "operator.common.back";
    Cancelled: Html = "operator.common.cancelled";
    Unknown: Label = "operator.common.unknown";
    Dash: Label = "operator.common.none";
    Flood: Html = "operator.common.flood";
    NotFound: Html = "operator.common.not_found" { slug };

    MenuTitle: Html = "operator.menu.title" { role };
    MenuFleet: Label = "operator.menu.fleet";
    MenuTenants: Label = "operator.menu.tenants";
    MenuSearch: Label = "operator.menu.search";
    MenuCreate: Label = "operator.menu.create";
    RoleOwner: Label = "operator.role.owner";
    RoleViewer: Label = "operator.role.viewer";

    TenantsTitle: Html = "operator.tenants.title" { page, pages, total };
    TenantsTitleSearch: Html = "operator.tenants.title_search" { query, page, pages, total };
    TenantsEmpty: Html = "operator.tenants.empty";
    TenantsItem: Fragment = "operator.tenants.item" { name, status };
    TenantsPrev: Label = "operator.tenants.prev";
    TenantsNext: Label = "operator.tenants.next";
    TenantsSearchPrompt: Html = "operator.tenants.search_prompt";

    CardText: Html = "operator.card.text" {
        display_name, slug, bot, owners, container, image, schema, subscription, last_payment, last_backup, outbox
    };
    CardLogs: Label = "operator.card.logs";
    CardLogsText: Html = "operator.card.logs_text" { slug, lines };
    CardLogsNone: Html = "operator.card.logs_none" { slug };

    ActionStart: Label = "operator.action.start";
    ActionStop: Label = "operator.action.stop";
    ActionRestart: Label = "operator.action.restart";
    ActionUpgrade: Label = "operator.action.upgrade";
    ActionBackup: Label = "operator.action.backup";
    ActionPayment: Label = "operator.action.payment";
    ActionRefund: Label = "operator.action.refund";
    ActionTrial: Label = "operator.action.trial";
    ActionDelete: Label = "operator.action.delete";
    VerbStart: Label = "operator.verb.start";
    VerbStop: Label = "operator.verb.stop";
    VerbRestart: Label = "operator.verb.restart";
    VerbUpgrade: Label = "operator.verb.upgrade";
    VerbBackup: Label = "operator.verb.backup";
    VerbDelete: Label = "operator.verb.delete";
    VerbCreate: Label = "operator.verb.create";

    ConfirmText: Html = "operator.confirm.text" { action, slug, name };
    ConfirmYes: Label = "operator.confirm.yes";
    ProgressText: Html = "operator.progress.text" { action, slug, step };
    ProgressBegun: Label = "operator.progress.begun";
    DoneOk: Html = "operator.done.ok" { action, slug, detail };
    DoneFailed: Html = "operator.done.failed" { action, slug, error };

    DeletePrompt: Html = "operator.delete.prompt" { slug };
    DeleteMismatch: Html = "operator.delete.mismatch";

    FleetText: Html = "operator.fleet.text" { tenants, containers, subscriptions, revenue, backups, ending };
    FleetContainers: Fragment = "operator.fleet.containers" { running, stopped, unhealthy };
    FleetSubscriptions: Fragment = "operator.fleet.subscriptions" { trial, active, grace, suspended, complimentary };
    FleetBackups: Fragment = "operator.fleet.backups" { ok, failed };
    FleetRefresh: Label = "operator.fleet.refresh";
    CardContainerNone: Label = "operator.card.container_none";
    CardOutbox: Fragment = "operator.card.outbox" { pending, failed };
    CardBackupOk: Fragment = "operator.card.backup_ok" { at, size };
    CardBackupFailed: Fragment = "operator.card.backup_failed" { at };
    CardPayment: Fragment = "operator.card.payment" { amount, provider, at };
    TrialChoose: Html = "operator.trial.choose" { slug, name, ends };
    TrialDays: Fragment = "operator.trial.days" { days };

    // The alerts the bot pushes (`alerts`); their placeholders are the facts each kind carries.
    AlertBotDown: Html = "operator.alerts.bot_down" { slug, container, health, since };
    AlertBackupFailed: Html = "operator.alerts.backup_failed" { slug, error, at, dest };
    AlertGrace: Html = "operator.alerts.grace" { slug, paid_until, grace_until };
    AlertSuspended: Html = "operator.alerts.suspended" { slug, paid_until, grace_until };
    AlertPayment: Html = "operator.alerts.payment" { slug, amount, days, plan, provider };
    AlertStartFailed: Html = "operator.alerts.start_failed" { slug, error };
    AlertTakeover: Html = "operator.alerts.takeover" { from, to, leader_since };
    AlertOrderFailed: Html = "operator.alerts.order_failed" { slug, order, buyer, amount, provider, payment, reason };
    AlertPaymentUnmatched: Html = "operator.alerts.payment_unmatched" { provider, payment, order, amount, problem };
    AlertReminder: Html = "operator.alerts.reminder";
    AlertOpenCard: Label = "operator.alerts.open_card";

    CreateTokenPrompt: Html = "operator.create.token_prompt";
    CreateTokenMalformed: Html = "operator.create.token_malformed";
    CreateTokenRejected: Html = "operator.create.token_rejected" { bot };
    CreateTokenUnchecked: Html = "operator.create.token_unchecked";
    CreateBotTaken: Html = "operator.create.bot_taken" { bot, slug };
    CreateNamePrompt: Html = "operator.create.name_prompt" { bot };
    CreateNameBad: Html = "operator.create.name_bad";
    CreateNameTaken: Html = "operator.create.name_taken" { slug };
    CreateOwnerPrompt: Html = "operator.create.owner_prompt" { slug };
    CreateOwnerBad: Html = "operator.create.owner_bad";
    CreateTemplatePrompt: Html = "operator.create.template_prompt";
    CreateZonePrompt: Html = "operator.create.zone_prompt";
    CreateZoneOther: Label = "operator.create.zone_other";
    CreateZoneTypePrompt: Html = "operator.create.zone_type_prompt";
    CreateZoneBad: Html = "operator.create.zone_bad";
    CreateTokenOutOfPlace: Html = "operator.create.token_out_of_place";
    CreateChooseAbove: Html = "operator.create.choose_above";
    CreateConfirm: Html = "operator.create.confirm" { slug, bot, owner, template, timezone, locale };
    CreateYes: Label = "operator.create.yes";
    CreateDone: Html = "operator.create.done" { slug, bot, detail };
    CreateStarted: Fragment = "operator.create.started" { container };
    CreateNotStarted: Fragment = "operator.create.not_started" { reason };
    CreateOpenCard: Label = "operator.create.open_card";

    PaymentPlans: Html = "operator.payment.plans" { slug, name };
    PaymentPlanButton: Fragment = "operator.payment.plan_button" { name, days, price };
    PaymentOtherDays: Label = "operator.payment.other_days";
    PaymentDaysPrompt: Html = "operator.payment.days_prompt" { slug, max };
    PaymentDaysBad: Html = "operator.payment.days_bad" { max };
    PaymentAmountPrompt: Html = "operator.payment.amount_prompt" { slug, days };
    PaymentAmountBad: Html = "operator.payment.amount_bad";
    PaymentAmountPlan: Html = "operator.payment.amount_plan" { plan, prices };
    PaymentReferencePrompt: Html = "operator.payment.reference_prompt";
    PaymentReferenceBad: Html = "operator.payment.reference_bad";
    PaymentConfirm: Html = "operator.payment.confirm" { slug, name, days, plan, amount, reference };
    PaymentYes: Label = "operator.payment.yes";
    PaymentDone: Html = "operator.payment.done" { slug, amount, days, reference, state, until };
    PaymentUnchanged: Html = "operator.payment.unchanged" { reference, slug, state, until };
    PaymentFailed: Html = "operator.payment.failed" { slug, error };
    PaymentBotStarted: Html = "operator.payment.bot_started" { slug };
    PaymentBotNotStarted: Html = "operator.payment.bot_not_started" { slug, error };

    RefundNone: Html = "operator.refund.none" { slug };
    RefundConfirm: Html = "operator.refund.confirm" { slug, name, amount, provider, reference, how, days };
    RefundHowManual: Fragment = "operator.refund.how_manual";
    RefundHowStars: Fragment = "operator.refund.how_stars";
    RefundHowYookassa: Fragment = "operator.refund.how_yookassa";
    RefundYes: Label = "operator.refund.yes";
    RefundWorking: Html = "operator.refund.working" { amount, slug };
    RefundDone: Html = "operator.refund.done" { amount, provider, reference, slug, note, days, until };
    RefundProviderHad: Fragment = "operator.refund.provider_had";
    RefundUnchanged: Html = "operator.refund.unchanged" { reference, slug };
    RefundPending: Html = "operator.refund.pending" { amount, slug, reference, refund };
    RefundFailed: Html = "operator.refund.failed" { slug, error };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_stay_text() {
        let en = Catalog::defaults(Locale::En);
        let out = en.render(Text::NotFound, &[("slug", "<b>x</b>")]);
        assert_eq!(out, "There is no tenant <b>&lt;b&gt;x&lt;/b&gt;</b> any more.");
    }
}
