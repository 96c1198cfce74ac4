//! The gateway end to end: the real server on 127.0.0.1:0, reqwest as the client.

mod call;
#[cfg(feature = "client")]
mod client;
mod discovery;
mod fixtures;
mod fuzz;
mod golden;
mod sse;
