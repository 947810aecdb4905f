//! X11 windows for the mask stage: the root window's children (QueryTree lists them bottom
//! to top: the stacking order), the viewable ones with their geometry (root children are in
//! root coordinates, i.e. virtual-desktop pixels), and their owner from `_NET_WM_PID` on the
//! window or, under a reparenting window manager, on the client window inside its frame.
//! Owners are cached per window id (a window's pid does not change). Requests are pipelined:
//! one listing costs about two round trips whatever the number of windows.

use std::collections::HashMap;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, MapState, Window};
use x11rb::rust_connection::RustConnection;

use super::capture::{err, open_conn};
use crate::{CaptureError, Rect, TopWindow, WindowSource};

/// The windows of one X display.
pub struct X11Windows {
    conn: RustConnection,
    root: Window,
    net_wm_pid: u32,
    /// Owner of each top-level window seen (None: no `_NET_WM_PID` found).
    pids: HashMap<Window, Option<u32>>,
}

impl std::fmt::Debug for X11Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Windows")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl X11Windows {
    /// Connects to `display` (`$DISPLAY` when None).
    pub fn open(display: Option<&str>) -> Result<X11Windows, CaptureError> {
        let (conn, screen) = open_conn(display)?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen} does not exist")))?
            .root;
        let net_wm_pid = conn
            .intern_atom(false, b"_NET_WM_PID")
            .map_err(err)?
            .reply()
            .map_err(err)?
            .atom;
        Ok(X11Windows {
            conn,
            root,
            net_wm_pid,
            pids: HashMap::new(),
        })
    }

    /// `_NET_WM_PID` of `w`, if set.
    fn pid_of(&self, w: Window) -> Option<u32> {
        let r = self
            .conn
            .get_property(false, w, self.net_wm_pid, AtomEnum::CARDINAL, 0, 1)
            .ok()?
            .reply()
            .ok()?;
        r.value32().and_then(|mut v| v.next())
    }

    /// The owner of top-level window `w`: its own `_NET_WM_PID`, or that of a child (the
    /// client inside a window manager's frame).
    fn owner(&self, w: Window) -> Option<u32> {
        if let Some(p) = self.pid_of(w) {
            return Some(p);
        }
        let children = self.conn.query_tree(w).ok()?.reply().ok()?.children;
        children.into_iter().find_map(|c| self.pid_of(c))
    }
}

impl WindowSource for X11Windows {
    fn stack(&mut self, out: &mut Vec<TopWindow>) -> Result<(), CaptureError> {
        out.clear();
        let children = self
            .conn
            .query_tree(self.root)
            .map_err(err)?
            .reply()
            .map_err(err)?
            .children;
        // Pipelined: every request first, then the replies.
        let mut cookies = Vec::with_capacity(children.len());
        for &w in &children {
            cookies.push((
                w,
                self.conn.get_window_attributes(w).map_err(err)?,
                self.conn.get_geometry(w).map_err(err)?,
            ));
        }
        for (w, attrs, geom) in cookies {
            // A window destroyed meanwhile answers an error: it is simply not there.
            let (Ok(a), Ok(g)) = (attrs.reply(), geom.reply()) else {
                continue;
            };
            if a.map_state != MapState::VIEWABLE {
                continue;
            }
            let b = g.border_width as u32;
            let rect = Rect {
                x: g.x as i32,
                y: g.y as i32,
                w: g.width as u32 + 2 * b,
                h: g.height as u32 + 2 * b,
            };
            let pid = match self.pids.get(&w) {
                Some(p) => *p,
                None => {
                    let p = self.owner(w);
                    self.pids.insert(w, p);
                    p
                }
            };
            out.push(TopWindow {
                id: w as u64,
                rect,
                pid,
            });
        }
        // Forget windows that are gone, so the cache stays as large as the desktop.
        if self.pids.len() > 2 * children.len() + 16 {
            self.pids.retain(|w, _| children.contains(w));
        }
        Ok(())
    }

    fn window_rect(&mut self, id: u64) -> Result<Option<Rect>, CaptureError> {
        let Ok(w) = Window::try_from(id) else {
            return Ok(None);
        };
        if w == 0 {
            return Ok(None);
        }
        let attrs = self.conn.get_window_attributes(w).map_err(err)?;
        let geom = self.conn.get_geometry(w).map_err(err)?;
        let at = self
            .conn
            .translate_coordinates(w, self.root, 0, 0)
            .map_err(err)?;
        let (Ok(a), Ok(g), Ok(t)) = (attrs.reply(), geom.reply(), at.reply()) else {
            // BadWindow: destroyed (or never existed).
            return Ok(None);
        };
        if a.map_state != MapState::VIEWABLE {
            return Ok(Some(Rect::default()));
        }
        let b = g.border_width as i32;
        Ok(Some(Rect {
            x: t.dst_x as i32 - b,
            y: t.dst_y as i32 - b,
            w: g.width as u32 + 2 * b as u32,
            h: g.height as u32 + 2 * b as u32,
        }))
    }
}
