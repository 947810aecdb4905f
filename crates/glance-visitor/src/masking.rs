//! The API side of "what leaves the process": resolving DisplayParams to a display and a mode
//! (the current application by default, another application, a monitor whole), the masks'
//! argument checks, and opening a display's capturer with the mask stage
//! ([`crate::pipeline::mask`]) in front, its notices fired as events.

use std::sync::{Arc, Weak};

use crate::capture::{AppRef, CaptureError, Capturer, DisplayDesc, DisplaySource, TopWindow};
use crate::events::{Event, EventCode};
use crate::params::DisplayParams;
use crate::pipeline::mask::{MaskedCapturer, Notice, Showing};
use crate::visitor::Core;

/// What DisplayParams ask to show: the display, and whether whole or one application's.
pub(crate) fn resolve(
    source: &DisplaySource,
    p: &DisplayParams,
) -> Result<(DisplayDesc, Showing), CaptureError> {
    let name = p.display_name.trim();
    let app = if !p.application.trim().is_empty() {
        Some(AppRef::parse(&p.application))
    } else if name.is_empty() {
        Some(AppRef::Current)
    } else {
        None
    };
    let Some(app) = app else {
        return Ok((source.find(name)?, Showing::Display));
    };
    let monitor = if name.is_empty() || name.eq_ignore_ascii_case("Applications") {
        app_monitor(source, &app)?
    } else {
        source.find(name)?
    };
    Ok((monitor, Showing::App(app)))
}

/// The monitor that holds `app`'s main window (its largest visible window; the one with the
/// largest share of it), or the primary monitor when it has none visible (its picture is
/// then all fill).
fn app_monitor(source: &DisplaySource, app: &AppRef) -> Result<DisplayDesc, CaptureError> {
    let displays = source.list()?;
    let mut stack = Vec::new();
    if let Err(e) = source
        .backend()
        .open_windows()
        .and_then(|mut w| w.stack(&mut stack))
    {
        log::warn!("cannot list windows to find {app}: {e}");
    }
    let main = stack
        .iter()
        .filter(|t| app.owns(t.pid))
        .max_by_key(|t| t.rect.w as u64 * t.rect.h as u64);
    let overlap = |d: &DisplayDesc, t: &TopWindow| {
        let x0 = (d.x as i64).max(t.rect.x as i64);
        let y0 = (d.y as i64).max(t.rect.y as i64);
        let x1 = (d.x as i64 + d.width as i64).min(t.rect.x as i64 + t.rect.w as i64);
        let y1 = (d.y as i64 + d.height as i64).min(t.rect.y as i64 + t.rect.h as i64);
        (x1 - x0).max(0) * (y1 - y0).max(0)
    };
    let best = main.and_then(|t| {
        displays
            .iter()
            .filter(|d| overlap(d, t) > 0)
            .max_by_key(|d| overlap(d, t))
    });
    match best {
        Some(d) => Ok(d.clone()),
        None => source.find("main"),
    }
}

/// Opens `desc`'s capturer behind the mask stage, as the visitor's masks and last
/// StartSession/ShowDisplay say. Blocking (platform calls).
pub(crate) fn open_masked(
    core: &Arc<Core>,
    desc: &DisplayDesc,
) -> Result<Box<dyn Capturer>, CaptureError> {
    let inner = core.source.open(desc)?;
    let windows = core.source.backend().open_windows();
    let weak: Weak<Core> = Arc::downgrade(core);
    let display = desc.name.clone();
    let notice = Box::new(move |n: Notice| {
        let Some(core) = weak.upgrade() else { return };
        match n {
            Notice::AppHidden(m) => core.fire(Event::new(EventCode::ApplicationHidden, m)),
            Notice::AppVisible => {
                log::info!("the shared application is visible on {display}")
            }
            Notice::WindowGone(id) => log::warn!(
                "masked window {id:#x} no longer exists; its mask covers nothing until removed"
            ),
            Notice::AppElsewhere => follow(&core, &display),
            Notice::NoWindows(e) => core.fire(Event::new(
                EventCode::ApplicationHidden,
                format!(
                    "the windows on {display} cannot be listed ({e}): agents see a flat fill instead of the application"
                ),
            )),
        }
    });
    Ok(Box::new(MaskedCapturer::new(
        inner,
        desc.clone(),
        core.masks.clone(),
        windows,
        notice,
    )))
}

/// Checks a window handle for `add_masked_window`: it must exist now.
pub(crate) fn check_window(source: &DisplaySource, native: u64) -> Result<(), String> {
    if native == 0 {
        return Err("native_window must not be 0".into());
    }
    let mut ws = source
        .backend()
        .open_windows()
        .map_err(|e| format!("native_window {native:#x} cannot be checked: {e}"))?;
    match ws.window_rect(native) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!(
            "native_window {native:#x} is not a window on this desktop (unknown or destroyed)"
        )),
        Err(e) => Err(format!("native_window {native:#x} cannot be checked: {e}")),
    }
}

/// The shared application's main window moved off `display`: show the monitor that holds it
/// now (the same DisplayParams resolved again), as ShowDisplay would.
fn follow(core: &Arc<Core>, display: &str) {
    let Some(params) = core.masks.request() else {
        return;
    };
    let (desc, showing) = match resolve(&core.source, &params) {
        Ok(r) => r,
        Err(e) => {
            log::warn!("cannot follow the application off {display}: {e}");
            return;
        }
    };
    if desc.name == display || !matches!(showing, Showing::App(_)) {
        return;
    }
    let st = core.state();
    if st.phase != crate::visitor::Phase::Active {
        return;
    }
    if let Some(tx) = &st.cmds {
        log::info!(
            "the shared application moved from {display} to {}: following it",
            desc.name
        );
        core.masks.set_shown(&desc.name, showing);
        let _ = tx.send(crate::session::Command::Show(
            desc,
            crate::pipeline::scale::ScaleSpec::from_params(&params),
        ));
    }
}
