//! Where each buyer's chat is in a flow that waits for typed input, kept in the control plane's
//! `sales_dialogues` by the shared runtime's storage. Only the order's id is kept here: the order
//! itself (and a bot token, apart from it) is the control plane's.

use serde::{Deserialize, Serialize};

use crate::telegram::runtime::dialogue::{self, DialogueState};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    #[default]
    Idle,
    /// The business's name, for this draft order.
    Naming { order: i64 },
    /// The bot's token pasted (or the managed bot created), for this draft order.
    AwaitingBot { order: i64 },
    /// The order's choices by buttons (its kind, time zone, plan, the confirmation).
    Choosing { order: i64 },
}

impl DialogueState for State {
    const TABLE: &'static str = "botctl.sales_dialogues";
    const VERSION: i32 = 1;
}

pub type DbStorage = dialogue::DbStorage<State>;
