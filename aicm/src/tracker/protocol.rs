//! `Auto`'s decisions: which contract each API root and key speaks, asked once per process at
//! the first Tracker's start-up and never guessed again.

use std::collections::HashMap;
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::delivery::send::Sender;
use crate::delivery::wire::Contract;
use crate::settings::ApiKey;

type Decisions = Mutex<HashMap<(String, ApiKey), Contract>>;

fn decisions() -> &'static Decisions {
    static DECISIONS: OnceLock<Decisions> = OnceLock::new();
    DECISIONS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The contract `Auto` settled on for this root and key, if it has.
pub(super) fn decided(root: &str, key: &ApiKey) -> Option<Contract> {
    decisions()
        .lock()
        .get(&(root.to_owned(), key.clone()))
        .copied()
}

/// Settles `Auto` for this root and key (the first decision stands) and tells the worker;
/// logged once.
pub(super) fn decide(sender: &Sender, root: &str, key: &ApiKey, found: Contract) -> Contract {
    let contract = {
        let mut decisions = decisions().lock();
        match decisions.get(&(root.to_owned(), key.clone())) {
            Some(earlier) => *earlier,
            None => {
                decisions.insert((root.to_owned(), key.clone()), found);
                match found {
                    Contract::Track => tracing::info!(
                        api_root = root,
                        "AICostManager API has no /configs: records go to POST /track (today's \
                         contract); set AICM_PROTOCOL to choose explicitly"
                    ),
                    Contract::Configs => tracing::info!(
                        api_root = root,
                        "AICostManager API serves /configs: records go to POST /track-usage (the \
                         config-based contract); set AICM_PROTOCOL to choose explicitly"
                    ),
                }
                found
            }
        }
    };
    sender.decide(contract)
}
