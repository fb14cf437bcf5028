//! (to be written)

use serde::{Deserialize, Serialize};
use teloxide::types::MessageId;

use super::{Cx, Reply};
use crate::bot::callback::admin::BlockAction;
use crate::bot::handlers::HandlerResult;
use crate::bot::texts::Text;

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {}

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: BlockAction) -> Reply {
    let _ = (cx, at, action);
    Ok(Some(Text::AdminGone))
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, text: &str) -> HandlerResult {
    let _ = (cx, text);
    match prompt {}
}
