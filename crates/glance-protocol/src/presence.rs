//! Seed 004's rules on presence data and signalAgent events, shared by the SDK (which refuses
//! bad input with EventInvalidParameter) and the service (which refuses it on the wire).

/// At most this many properties in presence data.
pub const MAX_PROPERTIES: usize = 20;
/// At most this many characters in one property value.
pub const MAX_PROPERTY_LEN: usize = 2_000;
/// At most this many characters in all names and values together.
pub const MAX_PRESENCE_TOTAL: usize = 10_000;
/// At most this many characters in a property or event name.
pub const MAX_NAME_LEN: usize = 64;
/// Standard presence properties; others must be prefixed `c_`.
pub const STANDARD_PROPERTIES: &[&str] = &["url", "title", "page", "app", "platform", "version"];

/// Checks presence data (name, value pairs) against seed 004's limits.
pub fn check_presence<'a>(
    props: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<(), String> {
    let n = props.len();
    if n > MAX_PROPERTIES {
        return Err(format!(
            "presence data has {n} properties; at most {MAX_PROPERTIES}"
        ));
    }
    let mut total = 0;
    for (k, v) in props {
        let name_len = k.chars().count();
        if name_len == 0 || name_len > MAX_NAME_LEN {
            return Err(format!(
                "property name {k:.70?} must be 1 to {MAX_NAME_LEN} characters"
            ));
        }
        if !k.starts_with("c_") && !STANDARD_PROPERTIES.contains(&k) {
            return Err(format!("custom property {k:?} must be prefixed c_"));
        }
        let len = v.chars().count();
        if len > MAX_PROPERTY_LEN {
            return Err(format!(
                "property {k:?} has {len} characters; at most {MAX_PROPERTY_LEN}"
            ));
        }
        total += len + name_len;
    }
    if total > MAX_PRESENCE_TOTAL {
        return Err(format!(
            "presence data has {total} characters; at most {MAX_PRESENCE_TOTAL} in all"
        ));
    }
    Ok(())
}

/// Checks a signalAgent event and its properties: `terms` with `status` displayed,
/// accepted or declined, or a custom event prefixed `c_`; properties within the limits of
/// presence data (any names).
pub fn check_signal<'a>(
    event: &str,
    props: impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
) -> Result<(), String> {
    if event == "terms" {
        let status = props.clone().find(|(k, _)| *k == "status").map(|(_, v)| v);
        if !matches!(status, Some("displayed" | "accepted" | "declined")) {
            return Err(
                "signalAgent(\"terms\") needs status displayed, accepted or declined".into(),
            );
        }
    } else if !(event.starts_with("c_") && event.len() > 2 && event.chars().count() <= MAX_NAME_LEN)
    {
        return Err(format!(
            "signalAgent event {event:.70?} must be \"terms\" or prefixed c_"
        ));
    }
    let n = props.len();
    let mut props = props;
    if n > MAX_PROPERTIES
        || props
            .any(|(k, v)| k.chars().count() > MAX_NAME_LEN || v.chars().count() > MAX_PROPERTY_LEN)
    {
        return Err(format!(
            "signalAgent properties: at most {MAX_PROPERTIES}, names up to {MAX_NAME_LEN} and values up to {MAX_PROPERTY_LEN} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<'a>(
        v: &'a [(&'a str, &'a str)],
    ) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone {
        v.iter().copied()
    }

    #[test]
    fn presence_limits() {
        assert!(check_presence(p(&[("url", "a"), ("c_x", "b")])).is_ok());
        assert!(check_presence(p(&[("cart", "1")])).is_err());
        let names: Vec<String> = (0..21).map(|i| format!("c_{i}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        assert!(check_presence(many.iter().copied()).is_err());
        assert!(check_presence(many[..20].iter().copied()).is_ok());
        let long = "x".repeat(2001);
        assert!(check_presence(p(&[("url", &long)])).is_err());
        let v1900 = "y".repeat(1900);
        let big: Vec<(&str, &str)> = names[..6]
            .iter()
            .map(|n| (n.as_str(), v1900.as_str()))
            .collect();
        assert!(check_presence(big.iter().copied()).is_err());
        let long_name = format!("c_{}", "n".repeat(63));
        assert!(check_presence(p(&[(&long_name, "v")])).is_err());
    }

    #[test]
    fn signals() {
        assert!(check_signal("terms", p(&[("status", "accepted")])).is_ok());
        assert!(check_signal("terms", p(&[("status", "maybe")])).is_err());
        assert!(check_signal("terms", p(&[])).is_err());
        assert!(check_signal("c_chat", p(&[])).is_ok());
        assert!(check_signal("chat", p(&[])).is_err());
        assert!(check_signal("c_", p(&[])).is_err());
    }
}
