//! The hostile-client suite: what a probe written from docs/PROTOCOL.md, AUTH.md and
//! PRESENCE.md tried against a real glance-server on loopback, as automated tests. Each module
//! is one finding of issue 18; every test is bounded in time and talks only to 127.0.0.0/8.
//! Attackers use their own loopback source addresses (127.0.0.66 and up) so that per-address
//! budgets tell them apart from the healthy session on 127.0.0.1.

mod common;
mod dev_token;
mod first_start_kill;
mod flood;
mod hijack;
mod lockout;
mod logs;
mod presence_focus;
mod restart;
