//! IdentifyMonitors on macOS: one borderless, click-through, floating-level NSWindow a display
//! with its number drawn as seven-segment bars ([`crate::identify::number_bars`]), closed after
//! [`crate::identify::IDENTIFY_DURATION`].
//!
//! Compiled and type-checked, not run: no Mac in CI.
//!
//! AppKit windows may only be used on the main thread (NSWindow is main-thread-only), and an
//! SDK call comes from any thread, so the work is submitted to the main dispatch queue
//! (`dispatch_async(dispatch_get_main_queue(), ...)`) and the close is scheduled there with
//! `dispatch_after`. The main queue runs while the application's main run loop does (every
//! AppKit application's does); in a process without one the numbers never show, and nothing
//! else happens. Coordinates: CoreGraphics' global space has its origin at the upper-left of
//! the main display with y down; Cocoa's screen space has it at the lower-left with y up, so
//! `y_cocoa = main_height - (y_cg + height)`.

use dispatch2::{DispatchQueue, DispatchTime, MainThreadBound};
use objc2::rc::Retained;
use objc2::{MainThreadMarker, MainThreadOnly};
use objc2_app_kit::{
    NSApplication, NSBackingStoreType, NSBox, NSBoxType, NSColor, NSFloatingWindowLevel,
    NSTitlePosition, NSWindow, NSWindowCollectionBehavior, NSWindowStyleMask,
};
use objc2_core_graphics::{CGDisplayBounds, CGMainDisplayID};
use objc2_foundation::{NSPoint, NSRect, NSSize};

use super::displays::{self, MacDisplay};
use crate::identify::{number_bars, IDENTIFY_DURATION};
use crate::{CaptureError, DisplayDesc};

/// The box drawn on each display, in points (as on X11: crate::identify's box size).
const BOX_W: f64 = 220.0;
const BOX_H: f64 = 180.0;

/// Shows each display's number (index + 1) on it; returns at once.
pub fn identify(list: Vec<DisplayDesc>) -> Result<(), CaptureError> {
    let targets: Vec<(usize, MacDisplay)> = list
        .iter()
        .enumerate()
        .filter_map(|(i, d)| displays::resolve(d).ok().map(|m| (i + 1, m)))
        .collect();
    if targets.is_empty() {
        return Err(CaptureError::Open("no display to identify".into()));
    }
    let main_height = CGDisplayBounds(CGMainDisplayID()).size.height;
    DispatchQueue::main().exec_async(move || {
        // The main queue's blocks run on the main thread.
        let Some(mtm) = MainThreadMarker::new() else {
            return;
        };
        // The application object exists in every AppKit app; made here if the host has none.
        let _app = NSApplication::sharedApplication(mtm);
        let windows: Vec<Retained<NSWindow>> = targets
            .iter()
            .map(|(n, d)| number_window(mtm, *n, d, main_height))
            .collect();
        let windows = MainThreadBound::new(windows, mtm);
        let when = DispatchTime::try_from(IDENTIFY_DURATION).unwrap_or(DispatchTime::NOW);
        let _ = DispatchQueue::main().after(when, move || {
            if let Some(mtm) = MainThreadMarker::new() {
                for w in windows.into_inner(mtm) {
                    w.close();
                }
            }
        });
    });
    Ok(())
}

/// A window in the middle of display `d` showing `n`.
fn number_window(
    mtm: MainThreadMarker,
    n: usize,
    d: &MacDisplay,
    main_height: f64,
) -> Retained<NSWindow> {
    let x = d.x + (d.points_w - BOX_W) / 2.0;
    let top = d.y + (d.points_h - BOX_H) / 2.0;
    let frame = NSRect::new(
        NSPoint::new(x, main_height - (top + BOX_H)),
        NSSize::new(BOX_W, BOX_H),
    );
    // SAFETY: initWithContentRect:styleMask:backing:defer: with a borderless style and the
    // buffered backing store (the only supported one); the window is not released on close
    // (set right below) because it is owned by this Retained, as objc2 requires for windows
    // created outside a window controller.
    let window = unsafe {
        NSWindow::initWithContentRect_styleMask_backing_defer(
            NSWindow::alloc(mtm),
            frame,
            NSWindowStyleMask::Borderless,
            NSBackingStoreType::Buffered,
            false,
        )
    };
    // SAFETY: see above: the Retained owns the window; closing must not release it again.
    unsafe { window.setReleasedWhenClosed(false) };
    window.setOpaque(true);
    window.setHasShadow(false);
    window.setBackgroundColor(Some(&NSColor::colorWithWhite_alpha(0.125, 1.0)));
    window.setIgnoresMouseEvents(true);
    window.setLevel(NSFloatingWindowLevel);
    window.setCollectionBehavior(
        NSWindowCollectionBehavior::CanJoinAllSpaces | NSWindowCollectionBehavior::Stationary,
    );
    if let Some(content) = window.contentView() {
        let white = NSColor::whiteColor();
        for (bx, by, bw, bh) in number_bars(n) {
            // number_bars is y-down in the box; an NSView is y-up.
            let rect = NSRect::new(
                NSPoint::new(bx as f64, BOX_H - by as f64 - bh as f64),
                NSSize::new(bw as f64, bh as f64),
            );
            let bar = NSBox::initWithFrame(NSBox::alloc(mtm), rect);
            bar.setBoxType(NSBoxType::Custom);
            bar.setTitlePosition(NSTitlePosition::NoTitle);
            bar.setBorderWidth(0.0);
            bar.setFillColor(&white);
            content.addSubview(&bar);
        }
    }
    window.orderFrontRegardless();
    window
}
