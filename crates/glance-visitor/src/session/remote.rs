//! Remote control inside a running session: the platform's input injector (opened by
//! EnableRC(true), dropped by EnableRC(false)), the mapping of an agent's picture pixels back
//! to the shared display's pixels (the inverse of the [`Transform`] of what is [`Shown`], the
//! one the frames were made with, so it cannot drift from what agents see), a rate limit, and
//! the safety rules: nothing is injected while paused, off or while the display is gone, and
//! every key and button held is released when control stops, pauses, switches display, the
//! display goes away or the session ends. While control is on and the default UI is on, the
//! visitor sees a small on-screen notice that says so (where the platform can show one).

use std::sync::Arc;
use std::time::Instant;

use glance_platform::{DisplaySource, Indicator, InputInjector};
use glance_protocol::InputEvent;

use crate::pipeline::mask::MaskSet;
use crate::shown::{Shown, Transform};

/// Input events injected per second at most (after a burst of [`BURST`]): far above a person
/// typing or moving a mouse (browsers send at most about 60 moves a second), low enough that
/// a flood cannot busy the desktop.
const PER_SEC: f64 = 250.0;
const BURST: f64 = 500.0;

/// What the on-screen notice says while remote control is on.
pub(crate) const NOTICE: &str =
    "Remote control is on: the support agent can use your mouse and keyboard";

/// See the module documentation.
pub(crate) struct RemoteControl {
    injector: Option<Box<dyn InputInjector>>,
    /// The on-screen notice, while control is on and the default UI asked for it.
    notice: Option<Box<dyn Indicator>>,
    /// Whether the last enable asked for the notice (a display switch keeps the choice).
    wants_notice: bool,
    shown: Arc<Shown>,
    /// What may leave the process: input aimed at a filled pixel is dropped.
    masks: Option<Arc<MaskSet>>,
    tokens: f64,
    at: Instant,
    dropped: u64,
}

impl RemoteControl {
    pub fn new(shown: Arc<Shown>) -> RemoteControl {
        RemoteControl {
            injector: None,
            notice: None,
            wants_notice: false,
            shown,
            masks: None,
            tokens: BURST,
            at: Instant::now(),
            dropped: 0,
        }
    }

    /// Drops pointer input aimed at what the mask stage filled (see [`MaskSet::input_allowed`]).
    pub fn with_masks(mut self, masks: Arc<MaskSet>) -> RemoteControl {
        self.masks = Some(masks);
        self
    }

    pub fn is_on(&self) -> bool {
        self.injector.is_some()
    }

    /// Opens the injector for the shown display, and with `notice` (the default UI is on)
    /// the on-screen notice over it; a platform that cannot show one says so in the log.
    pub fn enable(&mut self, source: &DisplaySource, notice: bool) -> Result<(), String> {
        if self.injector.is_some() {
            return Ok(());
        }
        let display = self.shown.view().display;
        let backend = source.backend();
        let inj = backend.open_injector(&display).map_err(|e| e.to_string())?;
        self.injector = Some(inj);
        self.wants_notice = notice;
        if notice {
            match backend.show_indicator(&display, NOTICE) {
                Ok(n) => self.notice = Some(n),
                Err(e) => log::warn!("remote control is on, but no on-screen notice says so: {e}"),
            }
        }
        Ok(())
    }

    /// Stops control: everything held is released and the notice goes.
    pub fn disable(&mut self) {
        if let Some(mut i) = self.injector.take() {
            i.release_all();
        }
        self.notice = None;
    }

    /// The session paused: let go of everything (nothing is injected until it resumes).
    pub fn release(&mut self) {
        if let Some(i) = &mut self.injector {
            i.release_all();
        }
    }

    /// The shown display changed (ShowDisplay, or it came back after going away): control
    /// follows it, re-opened on it if it was on; whatever was held is released first.
    pub fn follow(&mut self, source: &DisplaySource) {
        let was_on = self.is_on();
        self.disable();
        if was_on {
            if let Err(e) = self.enable(source, self.wants_notice) {
                log::warn!("remote control stops: the shown display takes no input: {e}");
            }
        }
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * PER_SEC).min(BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// An agent's input: injected when control is on and what is shown takes input (not
    /// paused, the display there); malformed or too-frequent events are dropped with a log
    /// line.
    pub fn inject(&mut self, input: InputEvent) {
        let view = self.shown.view();
        if self.injector.is_none() || !view.takes_input() {
            log::debug!("remote control is off, paused or its display gone: input dropped");
            return;
        }
        if let Err(m) = input.validate() {
            log::info!("remote control: malformed input dropped: {m}");
            return;
        }
        if !self.take_token() {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                log::info!(
                    "remote control: {} input events dropped (more than {PER_SEC} a second)",
                    self.dropped
                );
            }
            return;
        }
        // Picture pixels (what agents see) to the display's pixels, clamped.
        let t: Transform = view.transform();
        let mapped = match input {
            InputEvent::Pointer { x, y, buttons } => {
                let (x, y) = t.to_display(x, y);
                InputEvent::Pointer { x, y, buttons }
            }
            InputEvent::Wheel { x, y, dx, dy } => {
                let (x, y) = t.to_display(x, y);
                InputEvent::Wheel { x, y, dx, dy }
            }
            k @ InputEvent::Key { .. } => k,
        };
        if let (Some(m), InputEvent::Pointer { x, y, .. } | InputEvent::Wheel { x, y, .. }) =
            (&self.masks, &mapped)
        {
            if !m.input_allowed(&view.display.name, *x, *y) {
                // Aimed at the fill (a mask, another application): never injected, and
                // whatever was held is let go, so a drag cannot end in what the agent cannot
                // see.
                log::debug!("remote control: input over a masked area dropped");
                if let Some(i) = &mut self.injector {
                    i.release_all();
                }
                return;
            }
        }
        if let Some(i) = &mut self.injector {
            if let Err(e) = i.inject(&mapped) {
                log::warn!("remote control: input not injected: {e}");
            }
        }
    }
}

impl Drop for RemoteControl {
    fn drop(&mut self) {
        self.disable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::scale::ScaleSpec;
    use crate::shown::{ShownWriter, View};
    use glance_platform::synthetic::Injected;
    use glance_platform::SyntheticDisplay;

    fn rc(d: &SyntheticDisplay, scale: f32) -> (RemoteControl, DisplaySource, ShownWriter) {
        let src = DisplaySource::Synthetic(d.clone());
        let desc = src.find("main").unwrap();
        let spec = ScaleSpec {
            scale,
            ..ScaleSpec::from_params(&Default::default())
        };
        let shown = ShownWriter::new(View::new(desc, spec));
        (RemoteControl::new(shown.reader()), src, shown)
    }

    #[test]
    fn picture_pixels_map_back_through_the_scale() {
        let d = SyntheticDisplay::new(200, 100);
        let (mut r, src, _shown) = rc(&d, 0.5);
        r.enable(&src, false).unwrap();
        assert!(d.indicators().is_empty(), "no default UI, no notice");
        r.inject(InputEvent::Pointer {
            x: 50,
            y: 25,
            buttons: 0,
        });
        r.inject(InputEvent::Pointer {
            x: 9999,
            y: 9999,
            buttons: 0,
        });
        assert_eq!(
            d.injected(),
            vec![
                Injected::Event(InputEvent::Pointer {
                    x: 101,
                    y: 51,
                    buttons: 0
                }),
                Injected::Event(InputEvent::Pointer {
                    x: 199,
                    y: 99,
                    buttons: 0
                }),
            ]
        );
    }

    #[test]
    fn off_paused_and_stopped_control_injects_nothing_and_releases_everything() {
        let d = SyntheticDisplay::new(64, 64);
        let (mut r, src, shown) = rc(&d, 1.0);
        let key = |down| InputEvent::Key {
            code: "ControlLeft".into(),
            key: "Control".into(),
            down,
        };
        r.inject(key(true));
        assert!(d.injected().is_empty(), "off: nothing");
        r.enable(&src, true).unwrap();
        assert_eq!(
            d.indicators(),
            vec![NOTICE.to_string()],
            "the notice is shown"
        );
        shown.set_paused(true);
        r.inject(key(true));
        assert!(d.injected().is_empty(), "paused: nothing");
        shown.set_paused(false);
        shown.update(|v| v.available = false);
        r.inject(key(true));
        assert!(d.injected().is_empty(), "display gone: nothing");
        shown.update(|v| v.available = true);
        r.inject(key(true));
        r.inject(InputEvent::Pointer {
            x: 1,
            y: 1,
            buttons: 1,
        });
        assert_eq!(d.held(), (vec!["ControlLeft".to_string()], 1));
        r.disable();
        assert_eq!(d.held(), (vec![], 0), "no stuck Ctrl, no stuck button");
        assert!(d.indicators().is_empty(), "the notice goes with control");
        assert!(matches!(
            d.injected().last(),
            Some(Injected::Released { .. })
        ));
        r.inject(key(true));
        assert_eq!(d.held(), (vec![], 0));
    }

    #[test]
    fn a_flood_is_rate_limited_and_malformed_input_dropped() {
        let d = SyntheticDisplay::new(64, 64);
        let (mut r, src, _shown) = rc(&d, 1.0);
        r.enable(&src, false).unwrap();
        r.inject(InputEvent::Key {
            code: "x".repeat(40),
            key: "a".into(),
            down: true,
        });
        assert!(d.injected().is_empty());
        for _ in 0..5000 {
            r.inject(InputEvent::Pointer {
                x: 1,
                y: 1,
                buttons: 0,
            });
        }
        let n = d.injected().len();
        assert!((500..600).contains(&n), "{n} of 5000 injected");
    }
}
