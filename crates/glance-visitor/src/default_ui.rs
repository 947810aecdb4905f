//! The SDK's default UI (seeds 002 and 004): the terms dialog it shows itself when an agent
//! asks to start screen sharing, and the terms confirmation before StartSession when the
//! group has a terms URL. Native dialogs come from `rfd` (on Linux it runs `zenity`). Where no
//! desktop can show one, [`available`] says why, and the caller reports it through an event
//! instead of blocking.

use rfd::{MessageButtons, MessageDialog, MessageDialogResult, MessageLevel};

const ACCEPT: &str = "Accept";
const DECLINE: &str = "Decline";

/// Whether a dialog can be shown here; `Err` says why not.
pub fn available() -> Result<(), String> {
    if std::env::var("GLANCE_DEFAULT_UI").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        return Err("the default UI is turned off by GLANCE_DEFAULT_UI=off".into());
    }
    if cfg!(target_os = "linux") {
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return Err("no desktop: neither DISPLAY nor WAYLAND_DISPLAY is set".into());
        }
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("zenity").is_file()));
        if !found {
            return Err("no dialog program: zenity is not installed".into());
        }
    }
    Ok(())
}

/// Shows `text` with Accept and Decline; blocks until the user answers. True: accepted.
pub fn ask(title: &str, text: &str) -> bool {
    let r = MessageDialog::new()
        .set_level(MessageLevel::Info)
        .set_title(title)
        .set_description(text)
        .set_buttons(MessageButtons::OkCancelCustom(
            ACCEPT.into(),
            DECLINE.into(),
        ))
        .show();
    matches!(r, MessageDialogResult::Custom(ref l) if l == ACCEPT)
        || matches!(r, MessageDialogResult::Ok | MessageDialogResult::Yes)
}

/// What a session with display parameters `p` shares, in the user's words: what the mask
/// stage lets leave (see `pipeline::mask`), nothing more and nothing less.
pub fn shared_text(p: &crate::params::DisplayParams) -> String {
    let name = p.display_name.trim();
    let app = p.application.trim();
    if !app.is_empty() {
        format!("Only the windows of the application {app:?} are shared; everything else on the screen is hidden from the agent.")
    } else if name.is_empty() {
        "Only this application's windows are shared; other applications, the desktop and anything covering this application's windows are hidden from the agent.".into()
    } else if name.eq_ignore_ascii_case("main") {
        "Your whole main screen is shared, with every window on it.".into()
    } else {
        format!("Your whole screen {name:?} is shared, with every window on it.")
    }
}

/// The text of the terms dialog; `shared` says what is shared ([`shared_text`]).
pub fn terms_text(terms_url: &str, agent_initiated: bool, shared: &str) -> String {
    let lead = if agent_initiated {
        "A support agent asks to see your screen."
    } else {
        "You are about to share your screen with a support agent."
    };
    if terms_url.is_empty() {
        format!("{lead}\n\n{shared} You can stop at any time.")
    } else {
        format!("{lead}\n\n{shared}\n\nBy accepting you agree to the terms and conditions at:\n{terms_url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::DisplayParams;

    #[test]
    fn the_dialog_says_what_is_shared() {
        let mut p = DisplayParams::default();
        let t = terms_text("", true, &shared_text(&p));
        assert!(
            t.contains("Only this application's windows are shared"),
            "{t}"
        );
        assert!(t.contains("other applications, the desktop"), "{t}");
        p.display_name = "main".into();
        let t = terms_text("https://example.com/terms", false, &shared_text(&p));
        assert!(t.contains("whole main screen"), "{t}");
        assert!(t.contains("https://example.com/terms"), "{t}");
        assert!(!t.contains("Only this application"), "{t}");
        p.display_name = "HDMI-1".into();
        assert!(shared_text(&p).contains("\"HDMI-1\""));
        p.display_name = "Applications".into();
        p.application = "gedit".into();
        assert!(shared_text(&p).contains("application \"gedit\""));
    }
}
