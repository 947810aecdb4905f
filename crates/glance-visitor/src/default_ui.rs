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

/// The text of the terms dialog.
pub fn terms_text(terms_url: &str, agent_initiated: bool) -> String {
    let lead = if agent_initiated {
        "A support agent asks to see your screen."
    } else {
        "You are about to share your screen with a support agent."
    };
    if terms_url.is_empty() {
        format!("{lead}\n\nOnly this application's display is shared. You can stop at any time.")
    } else {
        format!("{lead}\n\nBy accepting you agree to the terms and conditions at:\n{terms_url}")
    }
}
