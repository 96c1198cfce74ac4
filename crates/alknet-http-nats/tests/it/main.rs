//! `to_nats` and `from_nats` against a real `nats-server` (Debian's), which each test starts
//! itself: run by `cargo xtask nats`, which installs it and names it in `ALKNET_NATS_SERVER`.

mod calls;
#[cfg(feature = "sessions")]
mod directory;
mod faults;
mod worker;
