//! DisplayParams scaling: `scale`, or `captureWidth`/`captureHeight` (fit inside that box,
//! keeping the aspect ratio; they win over `scale` when set). Resampling is bilinear
//! (fast_image_resize, SIMD); the padding byte is always 0xFF, so no alpha handling is needed.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use glance_protocol::limits::{MAX_DISPLAY_DIM, MAX_DISPLAY_PIXELS};

use crate::capture::FrameBuf;
use crate::params::DisplayParams;

/// How a captured picture is sized before it is diffed and sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleSpec {
    /// Factor when no capture box is set (1.0: as captured).
    pub scale: f32,
    /// Capture box (0: not set).
    pub width: u16,
    pub height: u16,
}

impl Default for ScaleSpec {
    fn default() -> Self {
        ScaleSpec {
            scale: 1.0,
            width: 0,
            height: 0,
        }
    }
}

impl ScaleSpec {
    /// From validated DisplayParams.
    pub fn from_params(p: &DisplayParams) -> ScaleSpec {
        ScaleSpec {
            scale: p.scale,
            width: p.capture_width.clamp(0, u16::MAX as i32) as u16,
            height: p.capture_height.clamp(0, u16::MAX as i32) as u16,
        }
    }

    /// The output size for a `w` x `h` capture (at least 1x1, within the protocol's limits).
    pub fn target(&self, w: u16, h: u16) -> (u16, u16) {
        let (wf, hf) = (w as f64, h as f64);
        let f = match (self.width, self.height) {
            (0, 0) => self.scale as f64,
            (bw, 0) => bw as f64 / wf,
            (0, bh) => bh as f64 / hf,
            (bw, bh) => (bw as f64 / wf).min(bh as f64 / hf),
        };
        // Never beyond the protocol's limits, whatever was asked.
        let max_f = (MAX_DISPLAY_PIXELS as f64 / (wf * hf))
            .sqrt()
            .min(MAX_DISPLAY_DIM as f64 / wf.max(hf));
        let f = f.min(max_f);
        let tw = (wf * f).round().clamp(1.0, MAX_DISPLAY_DIM as f64) as u16;
        let th = (hf * f).round().clamp(1.0, MAX_DISPLAY_DIM as f64) as u16;
        (tw, th)
    }

    /// Whether a `w` x `h` capture goes out unchanged.
    pub fn is_identity(&self, w: u16, h: u16) -> bool {
        self.target(w, h) == (w, h)
    }
}

/// Resamples frames with reusable state.
#[derive(Default)]
pub struct Scaler {
    resizer: Resizer,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scaler").finish_non_exhaustive()
    }
}

impl Scaler {
    /// Writes `src` resized per `spec` into `dst`.
    pub fn scale(
        &mut self,
        src: &FrameBuf,
        spec: ScaleSpec,
        dst: &mut FrameBuf,
    ) -> Result<(), String> {
        let (tw, th) = spec.target(src.width, src.height);
        if dst.width != tw || dst.height != th {
            dst.reshape(tw, th);
        }
        let from = ImageRef::new(
            src.width as u32,
            src.height as u32,
            &src.data,
            PixelType::U8x4,
        )
        .map_err(|e| format!("scaling source: {e}"))?;
        let mut to = Image::from_slice_u8(tw as u32, th as u32, &mut dst.data, PixelType::U8x4)
            .map_err(|e| format!("scaling target: {e}"))?;
        let opts = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .use_alpha(false);
        self.resizer
            .resize(&from, &mut to, &opts)
            .map_err(|e| format!("scaling: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::SyntheticDisplay;

    #[test]
    fn targets_follow_scale_and_capture_box() {
        let s = |scale, width, height| ScaleSpec {
            scale,
            width,
            height,
        };
        assert_eq!(s(1.0, 0, 0).target(1920, 1080), (1920, 1080));
        assert_eq!(s(0.5, 0, 0).target(1920, 1080), (960, 540));
        assert_eq!(
            s(0.5, 800, 600).target(1920, 1080),
            (800, 450),
            "box wins, aspect kept"
        );
        assert_eq!(s(1.0, 640, 0).target(1920, 1080), (640, 360));
        assert_eq!(s(1.0, 0, 270).target(1920, 1080), (480, 270));
        assert_eq!(s(0.0001, 0, 0).target(100, 100), (1, 1));
        let (w, h) = s(4.0, 0, 0).target(7680, 4320);
        assert!((w as u64 * h as u64) <= MAX_DISPLAY_PIXELS);
        assert!(s(1.0, 0, 0).is_identity(33, 17));
    }

    #[test]
    fn scales_a_desktop_and_keeps_padding_opaque() {
        let d = SyntheticDisplay::new(800, 600);
        d.step(1);
        let mut out = FrameBuf::default();
        let spec = ScaleSpec {
            scale: 0.5,
            width: 0,
            height: 0,
        };
        Scaler::default()
            .scale(&d.snapshot(), spec, &mut out)
            .unwrap();
        assert_eq!((out.width, out.height), (400, 300));
        assert!(out.data.chunks_exact(4).all(|p| p[3] == 0xFF));
        // A solid area stays that colour: the terminal's background.
        let (tx, ty, _, _) = d.terminal_rect();
        let i = ((ty as usize + 200) / 2) * out.stride + (tx as usize / 2 + 150) * 4;
        assert_eq!(&out.data[i..i + 3], &[16, 16, 16]);
    }
}
