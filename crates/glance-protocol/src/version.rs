//! SDK release versions as the service compares them ("1.4.2": dotted decimal numbers, at
//! most four parts, a missing part counting as 0; anything after `-` or `+` is ignored), for
//! EventUpgradeAvailable and EventUpgradeRequired (docs/PROTOCOL.md, "Compatibility").

use std::cmp::Ordering;

/// The version `s` as four numbers, or `None` when it is not a version.
pub fn parse(s: &str) -> Option<[u32; 4]> {
    let core = s.trim().split(['-', '+']).next()?;
    let mut out = [0u32; 4];
    let mut n = 0;
    for part in core.split('.') {
        if n == 4 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out[n] = part.parse().ok()?;
        n += 1;
    }
    (n > 0).then_some(out)
}

/// Compares two versions; `None` when either is not one.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.cmp(&parse(b)?))
}

/// This build's own version (the workspace's).
pub const THIS: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number_not_text() {
        assert_eq!(compare("0.10.0", "0.9.9"), Some(Ordering::Greater));
        assert_eq!(compare("1.2", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.2.0-beta", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("2", "10"), Some(Ordering::Less));
        assert_eq!(compare("1.x", "1.0"), None);
        assert_eq!(compare("", "1.0"), None);
        assert_eq!(compare("1.2.3.4.5", "1.0"), None);
        assert!(parse(THIS).is_some());
    }
}
