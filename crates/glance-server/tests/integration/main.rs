//! Integration tests of glance-server: real TLS on 127.0.0.1, the test agent and the raw
//! visitor of glance-tests. Every wait is bounded.

mod auth;
mod bad_input;
mod common;
mod cursor;
mod lifecycle;
mod presence;
mod ready_line;
mod relay;
mod slow_agent;
