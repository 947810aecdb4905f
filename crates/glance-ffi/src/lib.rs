//! glance-ffi: the C ABI of the Glance visitor SDK (`libglance`), as fixed by
//! shared/design/C-API.md. cbindgen turns this crate into include/glance.h.
//!
//! Conventions: every entry point catches panics ([`guard`]); handles are opaque tokens looked
//! up in a registry ([`handles`]), so NULL, freed or foreign handles give a result code instead
//! of a crash; strings passed in are borrowed UTF-8, strings returned are freed with
//! `glance_string_free` ([`strings`]); events reach the application's callback on the SDK's
//! event thread and live until it returns ([`event`]); the SDK's log can be routed into the
//! application's ([`logging`]).

#![allow(clippy::missing_safety_doc)]

pub mod event;
pub mod guard;
pub mod handles;
pub mod logging;
pub mod masks;
pub mod presence;
pub mod strings;
pub mod types;
pub mod visitor;

pub use event::*;
pub use guard::GlanceResult;
pub use logging::*;
pub use masks::*;
pub use presence::*;
pub use strings::*;
pub use types::*;
pub use visitor::*;

/// The library's major version.
pub const GLANCE_VERSION_MAJOR: u32 = 0;
/// The library's minor version.
pub const GLANCE_VERSION_MINOR: u32 = 1;
/// The library's patch version.
pub const GLANCE_VERSION_PATCH: u32 = 0;
/// The library's version as a string.
pub const GLANCE_VERSION_STRING: &str = "0.1.0";

#[cfg(test)]
mod tests {
    #[test]
    fn version_macros_match_the_crate() {
        assert_eq!(
            super::GLANCE_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            super::GLANCE_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            super::GLANCE_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        assert_eq!(super::GLANCE_VERSION_STRING, env!("CARGO_PKG_VERSION"));
    }
}

#[cfg(test)]
mod header_tests {
    #[test]
    fn header_string_macros_match_rust() {
        let h = include_str!("../../../include/glance.h");
        assert!(h.contains(&format!(
            "#define GLANCE_VERSION_STRING \"{}\"",
            super::GLANCE_VERSION_STRING
        )));
        assert!(h.contains(&format!(
            "#define GLANCE_KEYTYPE_RANDOM \"{}\"",
            super::GLANCE_KEYTYPE_RANDOM
        )));
        assert_eq!(
            super::GLANCE_KEYTYPE_RANDOM,
            glance_visitor::GLANCE_KEYTYPE_RANDOM
        );
    }
}
