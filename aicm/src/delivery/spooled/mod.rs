//! The durable spool behind a Tracker (feature `spool`). `track` stores each record in the
//! spool file and returns once it is durable; a delivery loop on the worker's runtime sends
//! what is in the file, whoever stored it (this process, an earlier run, another process whose
//! lease ran out), and settles every row there. What a crash, a deploy or an outage
//! interrupts stays in the file for the next process.
//!
//! - [`shared`]: one `Spool` handle per file per process, the ledger of the rows this process
//!   answers for (flush, health), the Trackers whose callbacks the rows belong to.
//! - [`driver`]: the delivery loop (claim, POST, ack / release / fail, bisect).
//! - [`ledger`]: the accounting that keeps the health identity true.
//! - [`wire`]: a stored body back as a record, for the callbacks.

mod driver;
mod ledger;
mod shared;
mod wire;

pub(crate) use driver::{SpoolDriver, report_displaced, run};
pub(crate) use ledger::{Key as LedgerKey, key_of};
pub(crate) use shared::{Account, SpoolShared, acquire};
