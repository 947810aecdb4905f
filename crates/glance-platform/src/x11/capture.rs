//! X11 capture (Linux): RandR monitors, and a monitor's rectangle of the root window read
//! through MIT-SHM (a shared-memory segment the X server writes into: no copy over the socket)
//! or, where MIT-SHM is missing (a remote display), through plain GetImage — slower, never
//! black. Pure Rust over the X protocol (x11rb); `unsafe` only to map the segment. The
//! server's 32-bit ZPixmap is BGRX on little-endian servers; the padding byte is normalised to
//! 0xFF while copying. Formats other than 24/32-bit depth at 32 bits a pixel are refused with a
//! clear error, never shared as garbage.

use std::os::fd::AsRawFd;
use x11rb::connection::Connection;

use x11rb::protocol::damage::{ConnectionExt as _, ReportLevel};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

use crate::{CaptureError, Capturer, DisplayDesc, DisplayKind, FrameBuf};

pub(super) fn open_conn(display: Option<&str>) -> Result<(RustConnection, usize), CaptureError> {
    RustConnection::connect(display).map_err(|e| CaptureError::Open(format!("X11: {e}")))
}

pub(super) fn err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Capture(format!("X11: {e}"))
}

/// The monitors of the default X display (RandR), or the whole screen when RandR has none.
pub fn list_monitors(display: Option<&str>) -> Result<Vec<DisplayDesc>, CaptureError> {
    let (conn, screen_num) = open_conn(display)?;
    let screen = conn
        .setup()
        .roots
        .get(screen_num)
        .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?;
    let whole = DisplayDesc {
        name: format!("Screen {screen_num}"),
        kind: DisplayKind::Monitor,
        primary: true,
        x: 0,
        y: 0,
        width: screen.width_in_pixels,
        height: screen.height_in_pixels,
    };
    let monitors = match conn
        .randr_get_monitors(screen.root, true)
        .map(|c| c.reply())
    {
        Ok(Ok(r)) => r.monitors,
        _ => return Ok(vec![whole]),
    };
    let mut out = Vec::new();
    for (i, m) in monitors.iter().enumerate() {
        let name = conn
            .get_atom_name(m.name)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("Monitor {i}"));
        if m.width == 0 || m.height == 0 {
            continue;
        }
        out.push(DisplayDesc {
            name,
            kind: DisplayKind::Monitor,
            primary: m.primary,
            x: m.x,
            y: m.y,
            width: m.width,
            height: m.height,
        });
    }
    if out.is_empty() {
        return Ok(vec![whole]);
    }
    if !out.iter().any(|d| d.primary) {
        out[0].primary = true;
    }
    Ok(out)
}

/// A shared-memory segment created by the X server and mapped read-only here.
struct ShmSegment {
    seg: u32,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this struct; it is only read through `&self`
// while the capturer (which owns it) is borrowed, and unmapped once in Drop.
unsafe impl Send for ShmSegment {}

impl ShmSegment {
    /// Asks the server for a segment of `len` bytes and maps it.
    fn create(conn: &RustConnection, len: usize) -> Result<ShmSegment, String> {
        let v = conn
            .shm_query_version()
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| format!("MIT-SHM is not available: {e}"))?;
        if (v.major_version, v.minor_version) < (1, 2) {
            return Err(format!(
                "MIT-SHM {}.{} cannot create segments (1.2 needed)",
                v.major_version, v.minor_version
            ));
        }
        let seg = conn.generate_id().map_err(|e| e.to_string())?;
        let size = u32::try_from(len).map_err(|_| "frame too large for MIT-SHM".to_string())?;
        let reply = conn
            .shm_create_segment(seg, size, false)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| format!("MIT-SHM segment refused: {e}"))?;
        let fd = reply.shm_fd;
        // SAFETY: mapping a file descriptor the server just gave us, read-only and shared, for
        // exactly the segment's size; the result is checked before use and the fd may be
        // closed afterwards (the mapping keeps the memory).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let _ = conn.shm_detach(seg);
            return Err(format!(
                "mmap of the MIT-SHM segment failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(ShmSegment {
            seg,
            ptr: ptr as *const u8,
            len,
        })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives (see create).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ShmSegment {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in create(), once.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

/// Creates a DAMAGE object reporting when the root window's damage becomes non-empty.
fn create_damage(conn: &RustConnection, root: Window) -> Result<u32, String> {
    conn.damage_query_version(1, 1)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
    let id = conn.generate_id().map_err(|e| e.to_string())?;
    conn.damage_create(id, root, ReportLevel::NON_EMPTY)
        .map_err(|e| e.to_string())?
        .check()
        .map_err(|e| e.to_string())?;
    Ok(id)
}

/// Captures one monitor's rectangle of the root window.
pub struct X11Capturer {
    conn: RustConnection,
    root: Window,
    desc: DisplayDesc,
    shm: Option<ShmSegment>,
    /// A DAMAGE object on the root window, when the server offers the extension: an idle
    /// screen is then never captured.
    damage: Option<u32>,
    /// Geometry of the viewable top-level windows at the last look, for move hints.
    windows: std::collections::HashMap<Window, (i32, i32, u16, u16)>,
    /// The name atom of the RandR monitor captured (None: the whole screen, which cannot go
    /// away), and when it was last seen in GetMonitors.
    monitor: Option<u32>,
    monitor_checked: std::time::Instant,
}

/// How often a capturer checks that its RandR monitor still exists (one round trip).
pub const MONITOR_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether a RandR monitor named by `atom` is among the active monitors of `root`.
fn monitor_present(conn: &RustConnection, root: Window, atom: u32) -> Result<bool, CaptureError> {
    let r = conn
        .randr_get_monitors(root, true)
        .map_err(err)?
        .reply()
        .map_err(err)?;
    Ok(r.monitors
        .iter()
        .any(|m| m.name == atom && m.width > 0 && m.height > 0))
}

impl Drop for X11Capturer {
    fn drop(&mut self) {
        if let Some(d) = self.damage {
            let _ = self.conn.damage_destroy(d);
        }
        if let Some(s) = &self.shm {
            let _ = self.conn.shm_detach(s.seg);
            let _ = self.conn.flush();
        }
    }
}

impl std::fmt::Debug for X11Capturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Capturer")
            .field("desc", &self.desc)
            .finish()
    }
}

impl X11Capturer {
    /// Connects to `display` (`$DISPLAY` when None) and checks that its pixel format can be
    /// read as BGRX; uses MIT-SHM when the server offers it.
    pub fn open(display: Option<&str>, desc: &DisplayDesc) -> Result<X11Capturer, CaptureError> {
        Self::open_with(display, desc, true)
    }

    /// As [`X11Capturer::open`], with MIT-SHM allowed or not (tests compare both paths).
    pub fn open_with(
        display: Option<&str>,
        desc: &DisplayDesc,
        allow_shm: bool,
    ) -> Result<X11Capturer, CaptureError> {
        let (conn, screen_num) = open_conn(display)?;
        let setup = conn.setup();
        let screen = setup
            .roots
            .get(screen_num)
            .ok_or_else(|| CaptureError::Open(format!("X11 screen {screen_num} does not exist")))?;
        let depth = screen.root_depth;
        let bpp = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == depth)
            .map(|f| f.bits_per_pixel)
            .unwrap_or(0);
        if !(depth == 24 || depth == 32) || bpp != 32 {
            return Err(CaptureError::Format(format!(
                "root depth {depth} with {bpp} bits a pixel (24 or 32-bit depth at 32 bits a pixel is needed)"
            )));
        }
        if setup.image_byte_order != ImageOrder::LSB_FIRST {
            return Err(CaptureError::Format("MSB-first image byte order".into()));
        }
        let root = screen.root;
        let len = desc.width as usize * desc.height as usize * 4;
        let shm = match ShmSegment::create(&conn, len).and_then(|s| {
            if allow_shm {
                Ok(s)
            } else {
                Err("disabled by the caller".into())
            }
        }) {
            Ok(s) => Some(s),
            Err(e) => {
                log::warn!("X11 capture without MIT-SHM (slower): {e}");
                None
            }
        };
        let damage = create_damage(&conn, root)
            .map_err(|e| log::warn!("X11 capture without DAMAGE (polls every frame): {e}"))
            .ok();
        // A RandR monitor (not the whole-screen fallback) may be removed while captured
        // (`xrandr --delmonitor`, an unplugged output): capture then reports it gone.
        let atom = conn
            .intern_atom(true, desc.name.as_bytes())
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| r.atom)
            .filter(|&a| a != x11rb::NONE);
        let monitor = match atom {
            Some(a) if monitor_present(&conn, root, a).unwrap_or(false) => Some(a),
            _ => None,
        };
        Ok(X11Capturer {
            conn,
            root,
            desc: desc.clone(),
            shm,
            damage,
            windows: Default::default(),
            monitor,
            monitor_checked: std::time::Instant::now(),
        })
    }

    /// `Err(Gone)` once the captured RandR monitor is no longer listed (checked at most every
    /// [`MONITOR_CHECK_EVERY`]; the whole screen is never gone).
    fn check_monitor(&mut self) -> Result<(), CaptureError> {
        let Some(atom) = self.monitor else {
            return Ok(());
        };
        if self.monitor_checked.elapsed() < MONITOR_CHECK_EVERY {
            return Ok(());
        }
        if !monitor_present(&self.conn, self.root, atom)? {
            return Err(CaptureError::Gone(self.desc.name.clone()));
        }
        self.monitor_checked = std::time::Instant::now();
        Ok(())
    }

    /// Whether frames come through MIT-SHM.
    pub fn uses_shm(&self) -> bool {
        self.shm.is_some()
    }

    fn capture_shm(
        &self,
        shm: &ShmSegment,
        w: u16,
        h: u16,
        buf: &mut FrameBuf,
    ) -> Result<(), CaptureError> {
        let r = self
            .conn
            .shm_get_image(
                self.root,
                self.desc.x,
                self.desc.y,
                w,
                h,
                !0,
                u8::from(ImageFormat::Z_PIXMAP),
                shm.seg,
                0,
            )
            .map_err(err)?
            .reply()
            .map_err(err)?;
        let want = w as usize * h as usize * 4;
        if (r.size as usize) < want || shm.len < want {
            return Err(CaptureError::Capture(format!(
                "MIT-SHM returned {} bytes for a {w}x{h} image",
                r.size
            )));
        }
        Self::copy_into(&shm.bytes()[..want], w, h, buf);
        Ok(())
    }

    /// Copies packed BGRX rows into `buf`, normalising the padding byte.
    fn copy_into(src: &[u8], w: u16, h: u16, buf: &mut FrameBuf) {
        if buf.width != w || buf.height != h {
            buf.reshape(w, h);
        }
        let row = w as usize * 4;
        for (dst, src) in buf
            .data
            .chunks_exact_mut(buf.stride)
            .zip(src.chunks_exact(row))
        {
            for (d, s) in dst[..row].chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
                d[3] = 0xFF;
            }
        }
    }
}

impl X11Capturer {
    /// Geometry of the viewable top-level windows (requests pipelined: one round trip).
    fn top_level_windows(&self) -> Option<std::collections::HashMap<Window, (i32, i32, u16, u16)>> {
        use x11rb::protocol::xproto::MapState;
        let tree = self.conn.query_tree(self.root).ok()?.reply().ok()?;
        let cookies: Vec<_> = tree
            .children
            .iter()
            .map(|&w| {
                (
                    w,
                    self.conn.get_window_attributes(w).ok(),
                    self.conn.get_geometry(w).ok(),
                )
            })
            .collect();
        let mut out = std::collections::HashMap::new();
        for (w, attrs, geom) in cookies {
            let (Some(a), Some(g)) = (attrs, geom) else {
                continue;
            };
            let (Ok(a), Ok(g)) = (a.reply(), g.reply()) else {
                continue;
            };
            if a.map_state != MapState::VIEWABLE {
                continue;
            }
            let b = g.border_width as i32;
            out.insert(
                w,
                (
                    g.x as i32 - self.desc.x as i32,
                    g.y as i32 - self.desc.y as i32,
                    (g.width as i32 + 2 * b).clamp(0, u16::MAX as i32) as u16,
                    (g.height as i32 + 2 * b).clamp(0, u16::MAX as i32) as u16,
                ),
            );
        }
        Some(out)
    }
}

impl Capturer for X11Capturer {
    fn move_hints(&mut self) -> Vec<crate::MoveHint> {
        let Some(now) = self.top_level_windows() else {
            return Vec::new();
        };
        let mut hints = Vec::new();
        for (w, &(x, y, ww, hh)) in &now {
            if let Some(&(ox, oy, ow, oh)) = self.windows.get(w) {
                if (ow, oh) == (ww, hh) && (ox, oy) != (x, y) && ww > 0 && hh > 0 {
                    hints.push(crate::MoveHint {
                        x: ox,
                        y: oy,
                        w: ww,
                        h: hh,
                        dx: x - ox,
                        dy: y - oy,
                    });
                }
            }
        }
        self.windows = now;
        hints
    }

    fn may_have_changed(&mut self) -> bool {
        if self.check_monitor().is_err() {
            // Gone (or the server broke): let the capture report it.
            return true;
        }
        let Some(damage) = self.damage else {
            return true;
        };
        let mut damaged = false;
        loop {
            match self.conn.poll_for_event() {
                Ok(Some(Event::DamageNotify(_))) => damaged = true,
                Ok(Some(_)) => {}
                Ok(None) => break,
                // A broken connection: let the capture report it.
                Err(_) => return true,
            }
        }
        if damaged {
            // Empty the damage region so that the next change notifies again.
            let _ = self.conn.damage_subtract(damage, 0u32, 0u32);
            let _ = self.conn.flush();
        }
        damaged
    }

    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
        self.check_monitor()?;
        let (w, h) = (self.desc.width, self.desc.height);
        if let Some(shm) = self.shm.take() {
            match self.capture_shm(&shm, w, h, buf) {
                Ok(()) => {
                    self.shm = Some(shm);
                    return Ok(());
                }
                Err(e) => {
                    // Never black frames: fall back to GetImage for good.
                    log::warn!("MIT-SHM capture failed, using GetImage from now on: {e}");
                    let _ = self.conn.shm_detach(shm.seg);
                }
            }
        }
        let reply = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                self.desc.x,
                self.desc.y,
                w,
                h,
                !0,
            )
            .map_err(err)?
            .reply()
            .map_err(err)?;
        let row = w as usize * 4;
        if reply.data.len() < row * h as usize {
            return Err(CaptureError::Capture(format!(
                "X11 returned {} bytes for a {w}x{h} image",
                reply.data.len()
            )));
        }
        Self::copy_into(&reply.data[..row * h as usize], w, h, buf);
        Ok(())
    }
}
