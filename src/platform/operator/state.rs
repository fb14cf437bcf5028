//! Where each operator's chat is in a flow that waits for typed input, kept in the control plane's
//! `operator_dialogues` by the shared runtime's storage.

use serde::{Deserialize, Serialize};

use crate::telegram::runtime::dialogue::{self, DialogueState};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    #[default]
    Idle,
    /// A search text for the tenants list.
    Searching,
    /// The tenant's name typed out, to delete it.
    Deleting { tenant: String },
    /// A new tenant's bot token, pasted.
    AwaitingToken,
    /// A new tenant put together step by step: what it lacks says what comes next.
    Creating(super::create::Draft),
    /// A manual payment put together step by step: what it lacks says what comes next.
    Paying(super::payment::Draft),
}

impl DialogueState for State {
    const TABLE: &'static str = "botctl.operator_dialogues";
    const VERSION: i32 = 1;
}

pub type DbStorage = dialogue::DbStorage<State>;
