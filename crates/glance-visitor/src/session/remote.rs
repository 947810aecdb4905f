//! Remote control inside a running session: the platform's input injector (opened by
//! EnableRC(true), dropped by EnableRC(false)), the mapping of an agent's picture pixels back
//! to the shared display's pixels (the inverse of the picture's scaling, so it cannot drift
//! from what agents see), a rate limit, and the safety rules: nothing is injected while
//! paused or off, and every key and button held is released when control stops, pauses,
//! switches display or the session ends.

use std::time::Instant;

use glance_platform::{DisplayDesc, DisplaySource, InputInjector};
use glance_protocol::InputEvent;

use crate::pipeline::scale::ScaleSpec;

/// Input events injected per second at most (after a burst of [`BURST`]): far above a person
/// typing or moving a mouse (browsers send at most about 60 moves a second), low enough that
/// a flood cannot busy the desktop.
const PER_SEC: f64 = 250.0;
const BURST: f64 = 500.0;

/// See the module documentation.
pub(crate) struct RemoteControl {
    injector: Option<Box<dyn InputInjector>>,
    display: DisplayDesc,
    scale: ScaleSpec,
    tokens: f64,
    at: Instant,
    dropped: u64,
}

impl RemoteControl {
    pub fn new(display: DisplayDesc, scale: ScaleSpec) -> RemoteControl {
        RemoteControl {
            injector: None,
            display,
            scale,
            tokens: BURST,
            at: Instant::now(),
            dropped: 0,
        }
    }

    pub fn is_on(&self) -> bool {
        self.injector.is_some()
    }

    /// Opens the injector for the shown display.
    pub fn enable(&mut self, source: &DisplaySource) -> Result<(), String> {
        if self.injector.is_some() {
            return Ok(());
        }
        let inj = source
            .backend()
            .open_injector(&self.display)
            .map_err(|e| e.to_string())?;
        self.injector = Some(inj);
        Ok(())
    }

    /// Stops control: everything held is released.
    pub fn disable(&mut self) {
        if let Some(mut i) = self.injector.take() {
            i.release_all();
        }
    }

    /// The session paused: let go of everything (nothing is injected until it resumes).
    pub fn release(&mut self) {
        if let Some(i) = &mut self.injector {
            i.release_all();
        }
    }

    /// ShowDisplay: control follows the shown display (re-opened on it if it was on).
    pub fn show(&mut self, display: DisplayDesc, scale: ScaleSpec, source: &DisplaySource) {
        let was_on = self.is_on();
        self.disable();
        self.display = display;
        self.scale = scale;
        if was_on {
            if let Err(e) = self.enable(source) {
                log::warn!("remote control stops: the shown display takes no input: {e}");
            }
        }
    }

    /// Picture pixels (what agents see) to the display's pixels, clamped.
    fn map(&self, x: u16, y: u16) -> (u16, u16) {
        let (dw, dh) = (self.display.width.max(1), self.display.height.max(1));
        let (pw, ph) = self.scale.target(dw, dh);
        let f = |v: u16, p: u16, d: u16| -> u16 {
            let p = u32::from(p.max(1));
            let v = u32::from(v.min(p as u16 - 1));
            // The centre of the picture pixel, in display pixels.
            (((2 * v + 1) * u32::from(d)) / (2 * p)).min(u32::from(d) - 1) as u16
        };
        (f(x, pw, dw), f(y, ph, dh))
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

    /// An agent's input: injected when control is on and `paused` is false; malformed or
    /// too-frequent events are dropped with a log line.
    pub fn inject(&mut self, input: InputEvent, paused: bool) {
        if self.injector.is_none() || paused {
            log::debug!("remote control is off or paused: input dropped");
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
        let mapped = match input {
            InputEvent::Pointer { x, y, buttons } => {
                let (x, y) = self.map(x, y);
                InputEvent::Pointer { x, y, buttons }
            }
            InputEvent::Wheel { x, y, dx, dy } => {
                let (x, y) = self.map(x, y);
                InputEvent::Wheel { x, y, dx, dy }
            }
            k @ InputEvent::Key { .. } => k,
        };
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
    use glance_platform::synthetic::Injected;
    use glance_platform::SyntheticDisplay;

    fn rc(d: &SyntheticDisplay, scale: f32) -> (RemoteControl, DisplaySource) {
        let src = DisplaySource::Synthetic(d.clone());
        let desc = src.find("main").unwrap();
        let spec = ScaleSpec {
            scale,
            ..ScaleSpec::from_params(&Default::default())
        };
        (RemoteControl::new(desc, spec), src)
    }

    #[test]
    fn picture_pixels_map_back_through_the_scale() {
        let d = SyntheticDisplay::new(200, 100);
        let (mut r, src) = rc(&d, 0.5);
        r.enable(&src).unwrap();
        r.inject(
            InputEvent::Pointer {
                x: 50,
                y: 25,
                buttons: 0,
            },
            false,
        );
        r.inject(
            InputEvent::Pointer {
                x: 9999,
                y: 9999,
                buttons: 0,
            },
            false,
        );
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
        let (mut r, src) = rc(&d, 1.0);
        let key = |down| InputEvent::Key {
            code: "ControlLeft".into(),
            key: "Control".into(),
            down,
        };
        r.inject(key(true), false);
        assert!(d.injected().is_empty(), "off: nothing");
        r.enable(&src).unwrap();
        r.inject(key(true), true);
        assert!(d.injected().is_empty(), "paused: nothing");
        r.inject(key(true), false);
        r.inject(
            InputEvent::Pointer {
                x: 1,
                y: 1,
                buttons: 1,
            },
            false,
        );
        assert_eq!(d.held(), (vec!["ControlLeft".to_string()], 1));
        r.disable();
        assert_eq!(d.held(), (vec![], 0), "no stuck Ctrl, no stuck button");
        assert!(matches!(
            d.injected().last(),
            Some(Injected::Released { .. })
        ));
        r.inject(key(true), false);
        assert_eq!(d.held(), (vec![], 0));
    }

    #[test]
    fn a_flood_is_rate_limited_and_malformed_input_dropped() {
        let d = SyntheticDisplay::new(64, 64);
        let (mut r, src) = rc(&d, 1.0);
        r.enable(&src).unwrap();
        r.inject(
            InputEvent::Key {
                code: "x".repeat(40),
                key: "a".into(),
                down: true,
            },
            false,
        );
        assert!(d.injected().is_empty());
        for _ in 0..5000 {
            r.inject(
                InputEvent::Pointer {
                    x: 1,
                    y: 1,
                    buttons: 0,
                },
                false,
            );
        }
        let n = d.injected().len();
        assert!((500..600).contains(&n), "{n} of 5000 injected");
    }
}
