//! The notice schedule: which notice a business's owners are due about their subscription — 7, 3 and 1
//! days before the period ends, when grace begins, when the bot is stopped — as plain functions; and
//! writing one, exactly once per period, into the tenant bot's outbox.
//!
//! Once per period is the key `(tenant, period_end, kind)` of `botctl.billing_notices`, inserted with
//! `ON CONFLICT DO NOTHING` in the same transaction as the outbox rows, so a notice is written whole or
//! not at all, and never twice, whoever writes it and however often the daemon restarts.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgConnection;

use super::State;
use crate::tenant::TenantSlug;

/// What a notice says. Its name is the `kind` in `botctl.billing_notices` and in the outbox row's params.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    EndsIn7d,
    EndsIn3d,
    EndsIn1d,
    Grace,
    Suspended,
}

/// The notices before the end, latest first: the one a subscription is due is the nearest lead it is
/// within, so a daemon that was down a while sends the one that is true now, not every one it missed.
const LEADS: [(Kind, i64); 3] = [(Kind::EndsIn1d, 1), (Kind::EndsIn3d, 3), (Kind::EndsIn7d, 7)];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EndsIn7d => "ends_in_7d",
            Kind::EndsIn3d => "ends_in_3d",
            Kind::EndsIn1d => "ends_in_1d",
            Kind::Grace => "grace",
            Kind::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::EndsIn7d, Kind::EndsIn3d, Kind::EndsIn1d, Kind::Grace, Kind::Suspended]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The notice a subscription in `state` whose period ends at `paid_until` is due at `now`, if any.
/// Whether it was already sent for this period is the caller's to check (by its key).
pub fn due(state: State, paid_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Kind> {
    match state {
        State::Trial | State::Active => {
            let left = paid_until? - now;
            // At or past the end the clock moves the subscription to grace, whose notice says so.
            if left <= TimeDelta::zero() {
                return None;
            }
            LEADS.into_iter().find(|(_, days)| left <= TimeDelta::days(*days)).map(|(kind, _)| kind)
        }
        State::Grace => Some(Kind::Grace),
        State::Suspended => Some(Kind::Suspended),
        State::Complimentary | State::Cancelled => None,
    }
}

/// The next instant after `now` at which a period ending at `paid_until` falls due for a notice before
/// its end.
pub fn next_lead(paid_until: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    LEADS.into_iter().map(|(_, days)| paid_until - TimeDelta::days(days)).filter(|at| *at > now).min()
}

/// The lead times in days, for the clock's scan of the next due instant.
pub fn lead_days() -> impl Iterator<Item = i64> {
    LEADS.into_iter().map(|(_, days)| days)
}

/// What every notice may add: who to write to, where to renew.
#[derive(Debug, Clone, Default)]
pub struct NoticeOptions {
    pub contact: Option<String>,
    pub renew_url: Option<url::Url>,
}

/// One notice to write.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    pub tenant_id: i64,
    pub slug: &'a str,
    pub kind: Kind,
    /// The period's end: the key, with the kind, that makes the notice once per period.
    pub period_end: DateTime<Utc>,
    /// The date the text names: the period's end, or the end of grace.
    pub date: DateTime<Utc>,
}

/// How long a suspension notice waits in the outbox for a bot that is then stopped; a stale
/// "your bot was stopped" sent after a credit started it again would be wrong.
const SUSPENDED_EXPIRES: TimeDelta = TimeDelta::hours(1);

/// The outbox's `dedupe_key` prefix of a notice's rows (one per owner follows).
pub fn dedupe_prefix(kind: Kind, period_end: DateTime<Utc>) -> String {
    format!("billing:{}:{}:", kind.as_str(), period_end.timestamp())
}

/// Writes the notice, in the caller's transaction: the control plane's key, then one outbox row per
/// owner in the tenant's schema (a tenant on `main`, where both are). `false` when it had already been
/// written for this period.
pub async fn write(
    conn: &mut PgConnection,
    notice: &Notice<'_>,
    options: &NoticeOptions,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if !claim(&mut *conn, notice, now).await? {
        return Ok(false);
    }
    enqueue(conn, notice, options, now).await?;
    Ok(true)
}

/// The control plane's key of the notice; `false` when it was there already.
pub async fn claim(conn: &mut PgConnection, notice: &Notice<'_>, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO botctl.billing_notices (tenant_id, period_end, kind, sent_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(notice.tenant_id)
    .bind(notice.period_end)
    .bind(notice.kind.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// The notice's outbox rows, one per owner, in the tenant's schema on `conn` (its server); writing
/// them again changes nothing (their dedupe key).
pub async fn enqueue(
    conn: &mut PgConnection,
    notice: &Notice<'_>,
    options: &NoticeOptions,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let slug: TenantSlug = notice.slug.parse().map_err(|e| anyhow::anyhow!("tenant `{}`: {e}", notice.slug))?;
    let expires = match notice.kind {
        Kind::EndsIn7d | Kind::EndsIn3d | Kind::EndsIn1d => notice.period_end,
        Kind::Grace => notice.date,
        Kind::Suspended => now + SUSPENDED_EXPIRES,
    }
    .max(now + TimeDelta::minutes(10));
    let params = json!({
        "notice": notice.kind.as_str(),
        "date": notice.date,
        "contact": options.contact,
        "renew_url": options.renew_url.as_ref().map(url::Url::as_str),
    });
    let schema = slug.quoted_schema();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.outbox (kind, recipient, params, due_at, expires_at, dedupe_key) \
         SELECT 'billing', user_id, $1, $2, $3, $4 || user_id FROM {schema}.admins WHERE is_owner \
         ON CONFLICT (dedupe_key) DO NOTHING"
    )))
    .bind(params)
    .bind(now)
    .bind(expires)
    .bind(dedupe_prefix(notice.kind, notice.period_end))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::days(days)
    }

    #[test]
    fn a_period_is_told_seven_three_and_one_day_before_its_end() {
        let end = at(30);
        assert_eq!(due(State::Active, Some(end), at(22)), None);
        assert_eq!(due(State::Active, Some(end), at(23)), Some(Kind::EndsIn7d));
        assert_eq!(due(State::Trial, Some(end), at(26)), Some(Kind::EndsIn7d));
        assert_eq!(due(State::Active, Some(end), at(27)), Some(Kind::EndsIn3d));
        assert_eq!(due(State::Active, Some(end), at(29)), Some(Kind::EndsIn1d));
        assert_eq!(due(State::Active, Some(end - TimeDelta::seconds(1)), at(29)), Some(Kind::EndsIn1d));
        // At the end itself the clock's change to grace has its own notice.
        assert_eq!(due(State::Active, Some(end), at(30)), None);
    }

    #[test]
    fn grace_and_suspension_have_their_notice_and_free_tenants_none() {
        assert_eq!(due(State::Grace, Some(at(0)), at(1)), Some(Kind::Grace));
        assert_eq!(due(State::Suspended, Some(at(0)), at(9)), Some(Kind::Suspended));
        assert_eq!(due(State::Complimentary, None, at(0)), None);
        assert_eq!(due(State::Cancelled, Some(at(0)), at(0)), None);
    }

    #[test]
    fn a_daemon_back_after_days_sends_the_notice_true_now_not_the_ones_it_missed() {
        // Down from 8 days before the end until 2 days before: only "3 days" is due.
        assert_eq!(due(State::Active, Some(at(10)), at(8)), Some(Kind::EndsIn3d));
    }

    #[test]
    fn the_next_lead_is_the_soonest_one_still_ahead() {
        let end = at(30);
        assert_eq!(next_lead(end, at(0)), Some(at(23)));
        assert_eq!(next_lead(end, at(23)), Some(at(27)));
        assert_eq!(next_lead(end, at(28)), Some(at(29)));
        assert_eq!(next_lead(end, at(29)), None);
    }

    #[test]
    fn kinds_read_back_as_written() {
        for kind in [Kind::EndsIn7d, Kind::EndsIn3d, Kind::EndsIn1d, Kind::Grace, Kind::Suspended] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("weekly"), None);
    }
}
