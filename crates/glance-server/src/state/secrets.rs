//! `secrets.json` (0600) in the state directory: the credentials a server makes up when it
//! is not given them — the development agent token, the development group's api_key (no
//! config file) and the JWT secret (no `auth.jwt_secret`) — kept so that agents' and
//! visitors' credentials still work after a restart. Loaded when present and valid, else
//! created (atomically).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use crate::config::{random_token, Config};
use crate::error::ServerError;

/// File name inside the state directory.
pub const SECRETS_FILE: &str = "secrets.json";

/// See the module documentation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// The all-groups development agent token (the ready line's `agent_token`).
    pub dev_token: String,
    /// The development group's visitor token when running without a config file.
    pub dev_api_key: String,
    /// The HS256 secret of authorization tokens when the config sets none.
    pub jwt_secret: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

fn valid_token(t: &str, min: usize) -> bool {
    t.len() >= min && t.len() <= 256 && t.chars().all(|c| c.is_ascii_alphanumeric())
}

impl Secrets {
    fn generate() -> Secrets {
        Secrets {
            dev_token: random_token(),
            dev_api_key: random_token(),
            jwt_secret: format!("{}{}", random_token(), random_token()),
        }
    }

    fn valid(&self) -> bool {
        valid_token(&self.dev_token, 16)
            && valid_token(&self.dev_api_key, 16)
            && valid_token(&self.jwt_secret, 32)
    }

    /// `config` with the kept credentials filled in: the JWT secret when it sets none, and
    /// the development group's api_key when `development` (no config file).
    pub fn apply(&self, mut config: Config, development: bool) -> Config {
        if config.auth.jwt_secret.is_none() {
            config.auth.jwt_secret = Some(self.jwt_secret.clone());
        }
        if development {
            if let Some(g) = config.groups.first_mut() {
                g.api_key = self.dev_api_key.clone();
            }
        }
        config
    }

    /// The path of the secrets file in `state_dir`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(SECRETS_FILE)
    }

    /// Loads `secrets.json` from `state_dir`, or creates it when it is missing or unusable
    /// (a warning is logged for an unusable one: the credentials it held are replaced).
    pub fn load_or_create(state_dir: &Path) -> Result<Secrets, ServerError> {
        std::fs::create_dir_all(state_dir).map_err(|e| ServerError::io(state_dir, e))?;
        let path = Secrets::path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Secrets>(&bytes) {
                Ok(s) if s.valid() => {
                    log::info!("reusing the credentials in {}", path.display());
                    return Ok(s);
                }
                Ok(_) => log::warn!(
                    "{} holds unusable credentials: making new ones",
                    path.display()
                ),
                Err(e) => log::warn!("{} is unreadable ({e}): making new ones", path.display()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ServerError::io(&path, e)),
        }
        let s = Secrets::generate();
        let text = serde_json::to_vec_pretty(&s)
            .map_err(|e| ServerError::io(&path, std::io::Error::other(e)))?;
        write_atomic(&path, &text, true).map_err(|e| ServerError::io(&path, e))?;
        log::info!("created {}", path.display());
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Secrets::load_or_create(dir.path()).unwrap();
        assert!(a.valid());
        let b = Secrets::load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.dev_token, a.dev_api_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Secrets::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_unusable_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        for junk in [
            "",
            "{",
            "{\"dev_token\":\"x\",\"dev_api_key\":\"y\",\"jwt_secret\":\"z\"}",
        ] {
            std::fs::write(Secrets::path(dir.path()), junk).unwrap();
            let s = Secrets::load_or_create(dir.path()).unwrap();
            assert!(s.valid());
            assert_eq!(Secrets::load_or_create(dir.path()).unwrap(), s);
        }
    }

    #[test]
    fn apply_fills_only_what_is_missing() {
        let s = Secrets::generate();
        let dev = s.apply(Config::development(), true);
        assert_eq!(dev.groups[0].api_key, s.dev_api_key);
        assert_eq!(dev.auth.jwt_secret.as_deref(), Some(s.jwt_secret.as_str()));
        let mut own = Config::from_toml("[[group]]\nid = 3\napi_key = \"k3\"\n").unwrap();
        own.auth.jwt_secret = Some("x".repeat(40));
        let own = s.apply(own, false);
        assert_eq!(own.groups[0].api_key, "k3");
        assert_eq!(own.auth.jwt_secret, Some("x".repeat(40)));
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = Secrets::generate();
        assert!(!format!("{s:?}").contains(&s.dev_token));
    }
}
