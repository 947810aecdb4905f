//! The capture pipeline end to end without a network: frames taken from the latest-wins slot
//! rebuild the synthetic display pixel for pixel through every encoding (solid, zlib, copy),
//! a refresh yields a key frame for late joiners, and pause drops frames and resumes whole.

use std::time::{Duration, Instant};

use glance_protocol::update::{FrameUpdate, FLAG_KEY};
use glance_protocol::{Encoding, Framebuffer};
use glance_visitor::pipeline::scale::ScaleSpec;
use glance_visitor::pipeline::{self, PipelineCtl};
use glance_visitor::shown::{ShownWriter, View};
use glance_visitor::{DisplaySource, SyntheticDisplay};

struct Agent {
    fb: Framebuffer,
    copies: usize,
    solids: usize,
    zlibs: usize,
    palettes: usize,
    jpegs: usize,
    keys: usize,
}

impl Agent {
    fn new() -> Agent {
        Agent {
            fb: Framebuffer::new(),
            copies: 0,
            solids: 0,
            zlibs: 0,
            palettes: 0,
            jpegs: 0,
            keys: 0,
        }
    }

    fn apply(&mut self, payload: &[u8], in_step: bool) {
        let u = FrameUpdate::parse(payload).unwrap();
        if u.is_refresh_only() && in_step {
            return;
        }
        if u.flags & FLAG_KEY != 0 {
            self.keys += 1;
        }
        for r in &u.rects {
            match r.encoding {
                Encoding::Copy => self.copies += 1,
                Encoding::Solid => self.solids += 1,
                Encoding::ZlibRgb | Encoding::ZlibStream => self.zlibs += 1,
                Encoding::Palette | Encoding::PaletteStream => self.palettes += 1,
                Encoding::Jpeg => self.jpegs += 1,
            }
        }
        self.fb.apply(&u).unwrap();
    }
}

/// Takes frames until `agent` shows `d`'s picture (bounded).
async fn sync(ctl: &PipelineCtl, agent: &mut Agent, d: &SyntheticDisplay) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.fb.equals_bgrx(&d.snapshot().view()) {
        assert!(Instant::now() < deadline, "agent did not catch up");
        if let Ok(frames) = tokio::time::timeout(Duration::from_millis(300), ctl.take()).await {
            for f in &frames {
                agent.apply(f, agent.fb.has_picture());
            }
        }
    }
}

#[test]
fn frames_rebuild_the_display_exactly_with_copies_for_scrolls() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = SyntheticDisplay::new(800, 600);
    let desc = DisplaySource::Synthetic(d.clone()).find("main").unwrap();
    let shown = ShownWriter::new(View::new(desc, ScaleSpec::default()));
    let ctl = PipelineCtl::new(shown.reader());
    let h = pipeline::spawn(Box::new(d.capturer()), ctl.clone(), |e| panic!("{e}")).unwrap();
    let mut a = Agent::new();
    rt.block_on(async {
        sync(&ctl, &mut a, &d).await;
        assert_eq!(a.keys, 1, "the first frame is a key frame");
        for n in 0..60 {
            d.step(n);
            sync(&ctl, &mut a, &d).await;
        }
        assert!(a.copies > 0, "terminal scrolls travel as copies");
        assert!(
            a.zlibs > 0 && a.palettes > 0,
            "text goes as palettes, the wallpaper as zlib"
        );

        // A late joiner gets a REFRESH_ONLY key frame; the agent in step skips it.
        let mut late = Agent::new();
        ctl.request_refresh();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !late.fb.has_picture() {
            assert!(Instant::now() < deadline);
            if let Ok(frames) = tokio::time::timeout(Duration::from_millis(300), ctl.take()).await {
                for f in &frames {
                    late.apply(f, late.fb.has_picture());
                    a.apply(f, true);
                }
            }
        }
        assert!(late.fb.equals_bgrx(&d.snapshot().view()));
        assert!(a.fb.equals_bgrx(&d.snapshot().view()));

        // Paused: nothing comes out, whatever changes; resumed: a key frame for everyone.
        shown.set_paused(true);
        d.step(100);
        d.step(101);
        assert!(tokio::time::timeout(Duration::from_millis(500), ctl.take())
            .await
            .is_err());
        let keys_before = a.keys;
        shown.set_paused(false);
        sync(&ctl, &mut a, &d).await;
        assert_eq!(a.keys, keys_before + 1, "resume sends a whole picture");
    });
    ctl.stop();
    h.join().unwrap();
}
