//! alknet-http-server over real sockets on 127.0.0.1:0 with real clients (reqwest, hyper, raw
//! TCP for abuse cases).

mod auth;
mod decoy;
mod fixtures;
mod limits;
mod routing;
mod transport;
