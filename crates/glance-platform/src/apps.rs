//! Which windows are on screen and whose they are: what the mask stage needs to share one
//! application only, and to follow masked windows. A [`WindowSource`] (opened through
//! [`crate::Backend::open_windows`]) lists the visible top-level windows bottom to top with
//! their rectangles in virtual-desktop pixels and their owning process, and finds one window's
//! current rectangle by native handle (HWND, X11 Window, CGWindowID).

use crate::CaptureError;

/// An application to share: this process, or another one by process id or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRef {
    /// The process the SDK runs in (the default display).
    Current,
    /// A process id.
    Pid(u32),
    /// A process name (Linux: `/proc/<pid>/comm` or the executable's file name).
    Name(String),
}

impl AppRef {
    /// Parses DisplayParams.application: a decimal number is a process id, else a name.
    pub fn parse(s: &str) -> AppRef {
        let s = s.trim();
        match s.parse::<u32>() {
            Ok(pid) if pid > 0 => AppRef::Pid(pid),
            _ => AppRef::Name(s.to_string()),
        }
    }

    /// Whether a window owned by `pid` belongs to this application.
    pub fn owns(&self, pid: Option<u32>) -> bool {
        let Some(pid) = pid else { return false };
        match self {
            AppRef::Current => pid == std::process::id(),
            AppRef::Pid(p) => pid == *p,
            AppRef::Name(n) => process_name_matches(pid, n),
        }
    }
}

impl std::fmt::Display for AppRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppRef::Current => write!(f, "this application (pid {})", std::process::id()),
            AppRef::Pid(p) => write!(f, "the application with pid {p}"),
            AppRef::Name(n) => write!(f, "the application {n:?}"),
        }
    }
}

/// Whether process `pid` is called `name` (its short name or its executable's file name).
#[cfg(target_os = "linux")]
fn process_name_matches(pid: u32, name: &str) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim_end() == name {
        return true;
    }
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy() == name))
        .unwrap_or(false)
}

/// Process names are matched on Linux only; elsewhere pass a process id.
#[cfg(not(target_os = "linux"))]
fn process_name_matches(_pid: u32, _name: &str) -> bool {
    false
}

/// A rectangle in virtual-desktop pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }
}

/// One visible top-level window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopWindow {
    /// The native handle (X11 Window, HWND).
    pub id: u64,
    /// Where it is on the virtual desktop (its frame included where the platform draws one).
    pub rect: Rect,
    /// The process that owns it, when the platform says.
    pub pid: Option<u32>,
}

/// The windows of one desktop; see the module documentation.
pub trait WindowSource: Send {
    /// The visible top-level windows, bottom of the stack first, into `out` (cleared first).
    fn stack(&mut self, out: &mut Vec<TopWindow>) -> Result<(), CaptureError>;

    /// Where window `id` is now (virtual-desktop pixels); `Ok(None)` when there is no such
    /// window any more. Unmapped windows have an empty rectangle.
    fn window_rect(&mut self, id: u64) -> Result<Option<Rect>, CaptureError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_refs_parse_and_match() {
        assert_eq!(AppRef::parse("1234"), AppRef::Pid(1234));
        assert_eq!(AppRef::parse(" xterm "), AppRef::Name("xterm".into()));
        assert_eq!(AppRef::parse("0"), AppRef::Name("0".into()));
        let me = std::process::id();
        assert!(AppRef::Current.owns(Some(me)));
        assert!(!AppRef::Current.owns(Some(me + 1)));
        assert!(!AppRef::Current.owns(None));
        assert!(AppRef::Pid(me).owns(Some(me)));
        #[cfg(target_os = "linux")]
        {
            let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
            assert!(AppRef::Name(comm.trim_end().into()).owns(Some(me)));
            assert!(!AppRef::Name("no-such-process-name".into()).owns(Some(me)));
        }
    }
}
