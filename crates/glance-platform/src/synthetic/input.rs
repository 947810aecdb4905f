//! The synthetic display's remote-control input: every event an agent injects is recorded
//! (in display pixels, already clamped) with the keys and buttons held at that moment, so
//! tests can check the mapping, the gating and that control stopping releases everything.

use std::sync::{Arc, Mutex, MutexGuard};

use glance_protocol::InputEvent;

use super::SyntheticDisplay;
use crate::{CaptureError, InputInjector};

/// One recorded injection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    Event(InputEvent),
    /// [`InputInjector::release_all`]: these keys (DOM codes) and buttons were let go.
    Released {
        keys: Vec<String>,
        buttons: u8,
    },
}

/// Everything injected so far and what is held now.
#[derive(Debug, Default)]
pub struct InputLog {
    pub events: Vec<Injected>,
    pub held_keys: Vec<String>,
    pub held_buttons: u8,
    /// The on-screen notices shown now (see [`SyntheticDisplay::indicators`]).
    pub indicators: Vec<(u64, String)>,
    next_indicator: u64,
}

/// A notice "shown" on the synthetic display: recorded, never drawn into the picture.
#[derive(Debug)]
pub struct SyntheticIndicator {
    log: Arc<Mutex<InputLog>>,
    id: u64,
}

impl crate::Indicator for SyntheticIndicator {}

impl Drop for SyntheticIndicator {
    fn drop(&mut self) {
        let mut g = self.log.lock().unwrap_or_else(|p| p.into_inner());
        g.indicators.retain(|(id, _)| *id != self.id);
    }
}

impl SyntheticDisplay {
    fn input_log(&self) -> MutexGuard<'_, InputLog> {
        self.input.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every injection so far, in order.
    pub fn injected(&self) -> Vec<Injected> {
        self.input_log().events.clone()
    }

    /// The texts of the on-screen notices shown now (the default UI's "remote control is
    /// on"), oldest first.
    pub fn indicators(&self) -> Vec<String> {
        self.input_log()
            .indicators
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    pub(super) fn indicator(&self, text: &str) -> SyntheticIndicator {
        let mut g = self.input_log();
        g.next_indicator += 1;
        let id = g.next_indicator;
        g.indicators.push((id, text.to_string()));
        SyntheticIndicator {
            log: self.input.clone(),
            id,
        }
    }

    /// Keys (DOM codes) and buttons held down now.
    pub fn held(&self) -> (Vec<String>, u8) {
        let g = self.input_log();
        (g.held_keys.clone(), g.held_buttons)
    }

    pub(super) fn injector(&self) -> SyntheticInjector {
        SyntheticInjector {
            log: self.input.clone(),
            size: self.size(),
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct SyntheticInjector {
    log: Arc<Mutex<InputLog>>,
    size: (u16, u16),
}

impl SyntheticInjector {
    fn lock(&self) -> MutexGuard<'_, InputLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl InputInjector for SyntheticInjector {
    fn inject(&mut self, event: &InputEvent) -> Result<(), CaptureError> {
        let (w, h) = self.size;
        let clamp = |x: u16, y: u16| (x.min(w.saturating_sub(1)), y.min(h.saturating_sub(1)));
        let event = match event.clone() {
            InputEvent::Pointer { x, y, buttons } => {
                let (x, y) = clamp(x, y);
                InputEvent::Pointer { x, y, buttons }
            }
            InputEvent::Wheel { x, y, dx, dy } => {
                let (x, y) = clamp(x, y);
                InputEvent::Wheel { x, y, dx, dy }
            }
            k @ InputEvent::Key { .. } => k,
        };
        let mut g = self.lock();
        match &event {
            InputEvent::Pointer { buttons, .. } => g.held_buttons = *buttons & 7,
            InputEvent::Key { code, down, .. } => {
                g.held_keys.retain(|k| k != code);
                if *down {
                    g.held_keys.push(code.clone());
                }
            }
            InputEvent::Wheel { .. } => {}
        }
        g.events.push(Injected::Event(event));
        Ok(())
    }

    fn release_all(&mut self) {
        let mut g = self.lock();
        let keys = std::mem::take(&mut g.held_keys);
        let buttons = std::mem::take(&mut g.held_buttons);
        if !keys.is_empty() || buttons != 0 {
            g.events.push(Injected::Released { keys, buttons });
        }
    }
}

impl Drop for SyntheticInjector {
    fn drop(&mut self) {
        self.release_all();
    }
}
