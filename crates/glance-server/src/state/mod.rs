//! What the server keeps in its state directory beyond the development CA, so that a restart
//! (a deploy, a crash, kill -9) loses nothing agents or visitors rely on: [`secrets`] (the
//! credentials it would otherwise make up at each start) and [`journal`] (the live sessions).
//! Every file is replaced atomically ([`atomic`]).

pub mod atomic;
pub mod journal;
pub mod secrets;

pub use atomic::write_atomic;
pub use journal::{Journal, SessionRecord};
pub use secrets::Secrets;
