//! (to be written)

use teloxide::types::MessageId;

use super::{Cx, Reply};
use crate::bot::callback::admin::Period;
use crate::bot::texts::Text;

pub(super) async fn show(cx: &Cx<'_>, at: MessageId, period: Period) -> Reply {
    let _ = (cx, at, period);
    Ok(Some(Text::AdminGone))
}
