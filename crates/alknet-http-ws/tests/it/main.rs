//! The WebSocket surface end to end: the real server on 127.0.0.1:0, the Rust client over
//! HTTP/1.1 and HTTP/2 (TLS, ALPN h2, extended CONNECT), and raw frames for abuse cases.

mod abuse;
mod browser;
mod fixtures;
mod frames;
mod session;
