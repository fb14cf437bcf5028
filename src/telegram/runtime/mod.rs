//! The runtime the three bots share — the tenant's booking bot, the operator bot and the sales bot:
//! botctl's own long polling with its offset handling (`updates`), the throttled sender (`sender`),
//! health and metrics (`health`), dialogue storage on our own pool (`dialogue`), the flood guard
//! (`flood`), the texts catalogue machinery (`texts`), typed callback data (`callback`), the wrappers
//! every handler runs in (`handling`), how a platform bot starts and stops (`launch`) and a long operation's progress in one edited message
//! (`progress`). Each bot is a module of its own with its own handler tree, states, callbacks and
//! texts; none of them imports another.

pub mod callback;
pub mod dialogue;
pub mod flood;
pub mod handling;
pub mod health;
pub mod launch;
pub mod progress;
pub mod sender;
pub mod texts;
pub mod updates;
