//! The parameters of seed 000 — init's configuration, StartParams, DisplayParams,
//! SessionInfo — and their validation. Validation messages name the offending argument.

use std::path::PathBuf;

use glance_protocol::control::validate_key;
use glance_protocol::limits::MAX_TEXT_LEN;

/// Pass as the session key to have the service choose a random digits-only key.
pub const GLANCE_KEYTYPE_RANDOM: &str = "GLANCE_KEYTYPE_RANDOM";

/// The service used when init is given no service URL.
pub const DEFAULT_SERVICE_URL: &str = "https://www.glance.net";

/// What init takes (seed 000 init, seed 002 init with a visitor id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitorConfig {
    pub group_id: i32,
    pub token: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    /// `None` (or empty): no visitor id yet (before login).
    pub visitor_id: Option<String>,
    /// `None`: [`DEFAULT_SERVICE_URL`].
    pub service_url: Option<String>,
    /// An extra PEM trust anchor besides the system roots.
    pub ca_cert_path: Option<PathBuf>,
}

/// DisplayParams: what to show.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayParams {
    /// "" (the default): the current application, on the monitor that holds its main window,
    /// everything else filled; "main": the primary monitor whole; "Applications" with
    /// `application`: another application; otherwise a monitor name from `display_name(n)`.
    pub display_name: String,
    pub scale: f32,
    pub capture_width: i32,
    pub capture_height: i32,
    pub video: bool,
    pub application: String,
}

impl Default for DisplayParams {
    fn default() -> Self {
        DisplayParams {
            display_name: String::new(),
            scale: 1.0,
            capture_width: 0,
            capture_height: 0,
            video: false,
            application: String::new(),
        }
    }
}

/// StartParams with the seed's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartParams {
    pub main_call_id: u64,
    pub max_guests: u32,
    /// "" : the visitor id when init had one, else a random key. [`GLANCE_KEYTYPE_RANDOM`]:
    /// random. Anything else: that key (visitor-id rules).
    pub key: String,
    pub display_params: DisplayParams,
    pub force_tunnel: bool,
    pub report_errors: bool,
    pub persist: bool,
    pub paused: bool,
    pub presence_start: bool,
}

/// GetSessionInfo's answer (every field of seed 000's table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// 0 when no session runs.
    pub call_id: u64,
    pub n_guests: u32,
    /// Not used for this type of session: always empty.
    pub glance_address: String,
    pub key: String,
    /// Not used for visitor sessions: always empty.
    pub host_name: String,
    /// Not used for visitor sessions: always false.
    pub rc_requested: bool,
    /// False for visitor sessions.
    pub is_guest: bool,
    /// False for visitor sessions.
    pub is_reverse: bool,
    pub rc_enabled: bool,
    pub sb_enabled: bool,
    pub gestures_enabled: bool,
    pub is_paused: bool,
    pub is_connected: bool,
    pub is_showing: bool,
    pub is_viewing: bool,
    pub display_name: String,
}

/// How the session key is chosen, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChoice {
    Random,
    Given(String),
}

fn check_text(arg: &str, v: &str) -> Result<(), String> {
    if v.len() > MAX_TEXT_LEN {
        return Err(format!("{arg} is longer than {MAX_TEXT_LEN} bytes"));
    }
    if v.contains('\0') {
        return Err(format!("{arg} contains a NUL character"));
    }
    Ok(())
}

/// Splits an https URL into (host, port, path). Only `https` is accepted.
pub fn parse_https_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6
            .find(']')
            .ok_or_else(|| format!("{url:?} has an unclosed IPv6 address"))?;
        let after = &v6[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("{url:?} has text after its IPv6 address")),
        };
        (v6[..end].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("{url:?} has an invalid port"))?,
        None => 443,
    };
    Ok((host, port, path.trim_end_matches('/').to_string()))
}

impl VisitorConfig {
    /// Checks every field; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.group_id <= 0 {
            return Err(format!(
                "groupId {} is invalid: it must be a positive group id",
                self.group_id
            ));
        }
        check_text("token", &self.token)?;
        check_text("name", &self.name)?;
        check_text("email", &self.email)?;
        check_text("phone", &self.phone)?;
        if let Some(v) = self.visitor_id.as_deref().filter(|v| !v.is_empty()) {
            validate_key(v).map_err(|e| format!("visitorId {v:?} {e}"))?;
        }
        if let Some(u) = self.service_url.as_deref().filter(|u| !u.is_empty()) {
            parse_https_url(u).map_err(|e| format!("serviceUrl: {e}"))?;
        }
        if let Some(p) = &self.ca_cert_path {
            if !p.is_file() {
                return Err(format!("caCertPath {} is not a readable file", p.display()));
            }
        }
        Ok(())
    }

    /// The visitor id, if one was given.
    pub fn visitor_id(&self) -> Option<&str> {
        self.visitor_id.as_deref().filter(|v| !v.is_empty())
    }

    /// The service URL in force.
    pub fn service_url(&self) -> &str {
        self.service_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or(DEFAULT_SERVICE_URL)
    }
}

impl StartParams {
    /// Checks the parameters and resolves the key against the configuration. Fields that a
    /// later version implements are refused with a message saying so, never ignored.
    pub fn validate(&self, cfg: &VisitorConfig) -> Result<KeyChoice, String> {
        let key = match self.key.as_str() {
            "" => match cfg.visitor_id() {
                Some(v) => KeyChoice::Given(v.to_string()),
                None => KeyChoice::Random,
            },
            GLANCE_KEYTYPE_RANDOM => KeyChoice::Random,
            k => {
                validate_key(k).map_err(|e| format!("key {k:?} {e}"))?;
                KeyChoice::Given(k.to_string())
            }
        };
        if self.max_guests > 1000 {
            return Err(format!(
                "maxGuests {} is out of range (0 to 1000)",
                self.max_guests
            ));
        }
        self.display_params.validate()?;
        Ok(key)
    }
}

impl DisplayParams {
    pub fn validate(&self) -> Result<(), String> {
        check_text("displayName", &self.display_name)?;
        check_text("application", &self.application)?;
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 4.0) {
            return Err(format!(
                "scale {} is out of range (greater than 0, at most 4)",
                self.scale
            ));
        }
        let max = glance_protocol::limits::MAX_DISPLAY_DIM as i32;
        for (name, v) in [
            ("captureWidth", self.capture_width),
            ("captureHeight", self.capture_height),
        ] {
            if !(0..=max).contains(&v) {
                return Err(format!(
                    "{name} {v} is out of range (0 to {max}; 0: not set)"
                ));
            }
        }
        if self.video {
            return Err(
                "video mode is not supported yet: no display of type video exists on this platform"
                    .into(),
            );
        }
        if self.display_name.eq_ignore_ascii_case("Applications")
            && self.application.trim().is_empty()
        {
            return Err("application must name the application to show (a process name or id) when displayName is \"Applications\"".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VisitorConfig {
        VisitorConfig {
            group_id: 1,
            ..Default::default()
        }
    }

    #[test]
    fn key_resolution_follows_seed_rules() {
        let mut p = StartParams::default();
        assert_eq!(p.validate(&cfg()), Ok(KeyChoice::Random));
        let with_id = VisitorConfig {
            visitor_id: Some("cust-42".into()),
            ..cfg()
        };
        assert_eq!(p.validate(&with_id), Ok(KeyChoice::Given("cust-42".into())));
        p.key = GLANCE_KEYTYPE_RANDOM.into();
        assert_eq!(p.validate(&with_id), Ok(KeyChoice::Random));
        p.key = "my.key_1".into();
        assert_eq!(p.validate(&cfg()), Ok(KeyChoice::Given("my.key_1".into())));
        p.key = "bad key".into();
        assert!(p.validate(&cfg()).unwrap_err().contains("key"));
        p.key = "x".repeat(64);
        assert!(p.validate(&cfg()).is_err());
    }

    #[test]
    fn unimplemented_fields_are_refused_with_reason() {
        let base = StartParams::default();
        let p = StartParams {
            force_tunnel: true,
            ..base.clone()
        };
        assert!(p.validate(&cfg()).is_ok(), "forceTunnel is supported");
        let mut p = base.clone();
        p.display_params.scale = 0.5;
        assert!(p.validate(&cfg()).is_ok(), "scaling is supported");
        p.display_params.scale = 5.0;
        assert!(p.validate(&cfg()).unwrap_err().contains("scale"));
        let mut p = base.clone();
        p.display_params.capture_width = -1;
        assert!(p.validate(&cfg()).unwrap_err().contains("captureWidth"));
        let mut p = base.clone();
        p.display_params.scale = f32::NAN;
        assert!(p.validate(&cfg()).unwrap_err().contains("scale"));
        let mut p = base;
        p.display_params.video = true;
        assert!(p.validate(&cfg()).unwrap_err().contains("video"));
    }

    #[test]
    fn config_validation_names_the_argument() {
        assert!(VisitorConfig::default()
            .validate()
            .unwrap_err()
            .contains("groupId"));
        let c = VisitorConfig {
            visitor_id: Some("a b".into()),
            ..cfg()
        };
        assert!(c.validate().unwrap_err().contains("visitorId"));
        let c = VisitorConfig {
            service_url: Some("http://x".into()),
            ..cfg()
        };
        assert!(c.validate().unwrap_err().contains("serviceUrl"));
        assert_eq!(
            parse_https_url("https://[::1]:8443/x/").unwrap(),
            ("::1".into(), 8443, "/x".into())
        );
        assert_eq!(
            parse_https_url("https://h").unwrap(),
            ("h".into(), 443, "".into())
        );
        assert!(parse_https_url("https://h:99999").is_err());
        assert!(parse_https_url("https://[::1]junk/x").is_err());
        assert_eq!(
            parse_https_url("https://[::1]/x").unwrap(),
            ("::1".into(), 443, "/x".into())
        );
    }
}
