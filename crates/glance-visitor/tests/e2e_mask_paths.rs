//! A masked rectangle through every encoding path, on the synthetic display through a real
//! glance-server: a photograph (sent as JPEG, then refreshed losslessly) under and around the
//! mask, scrolled (sent as COPY) across the mask's edge with new photo rows coming in, text
//! typed beside it (lossless), and a late joiner's key frame. Every frame each agent presents
//! must show the flat fill in the masked rectangle (the mask's edges lie on tile edges, so no
//! JPEG block straddles them); at the end both pictures equal the display with the fill there.

mod common;

use std::time::{Duration, Instant};

use common::{runtime, Visitor};
use glance_protocol::Encoding;
use glance_tests::{FlatWatch, TestAgent, TestServer};
use glance_visitor::capture::FrameBuf;
use glance_visitor::pipeline::mask::MASK_FILL;

const FILL_RGB: [u8; 3] = [MASK_FILL[2], MASK_FILL[1], MASK_FILL[0]];
/// The mask: tile-aligned (32 px), over the middle of the photo.
const MASK: (i32, i32, i32, i32) = (192, 160, 256, 96);

fn expected(mut f: FrameBuf) -> FrameBuf {
    let (mx, my, mw, mh) = MASK;
    for y in my..my + mh {
        for x in mx..mx + mw {
            let o = y as usize * f.stride + x as usize * 4;
            f.data[o..o + 4].copy_from_slice(&MASK_FILL);
        }
    }
    f
}

fn watch() -> FlatWatch {
    FlatWatch {
        x: MASK.0 as u16,
        y: MASK.1 as u16,
        w: MASK.2 as u16,
        h: MASK.3 as u16,
        rgb: FILL_RGB,
    }
}

async fn exact(agent: &TestAgent, d: &glance_visitor::SyntheticDisplay, what: &str) {
    let want = expected(d.snapshot());
    agent
        .wait_until(what, Duration::from_secs(10), |s| {
            s.fb.equals_bgrx(&want.view())
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[test]
fn a_mask_holds_through_jpeg_refresh_copy_and_key_frames() {
    runtime().block_on(async {
        let server = TestServer::start().await.unwrap();
        let ready = server.ready().clone();
        let vis = Visitor::synthetic(&ready, 640, 480).await;
        let d = vis.display().clone();
        for n in 0..10 {
            d.step(n);
        }
        d.paint_photo(64, 96, 512, 256, 3);
        vis.v
            .add_masked_rect(MASK.0, MASK.1, MASK.2, MASK.3)
            .unwrap();
        // The default display; the synthetic display is the application's own.
        let key = vis.start_random_default().await;
        let a = TestAgent::join_dev(&ready, &key).await.unwrap();
        a.set_watch(Some(watch()));
        exact(&a, &d, "the first picture, refreshed").await;

        // The photo scrolls up across the mask's edges, new photo rows come in at the bottom,
        // text is typed beside it.
        let t = Instant::now();
        for i in 0..12u32 {
            d.scroll_up(64, 96, 512, 256, 32, [0, 0, 0]);
            d.paint_photo(64, 320, 512, 32, 20 + i);
            d.step(10 + i);
            tokio::time::sleep(Duration::from_millis(80)).await;
        }
        assert!(t.elapsed() < Duration::from_secs(10));
        exact(&a, &d, "after scrolling, refreshed").await;

        // A late joiner gets a key frame (REFRESH_ONLY for the others), then the refresh.
        let late = TestAgent::join_dev(&ready, &key).await.unwrap();
        late.set_watch(Some(watch()));
        exact(&late, &d, "the late joiner, refreshed").await;
        exact(&a, &d, "the first agent still").await;

        for (who, agent) in [("first", &a), ("late", &late)] {
            let s = agent.snapshot();
            assert_eq!(s.watch_violations, 0, "{who}: {:?}", s.first_violation);
            let enc = |e: Encoding| s.rect_log.iter().filter(|r| r.encoding == e).count();
            eprintln!(
                "{who}: {} frames checked, {} JPEG, {} COPY rects, {} rects in all",
                s.watched_frames,
                enc(Encoding::Jpeg),
                enc(Encoding::Copy),
                s.rect_log.len()
            );
            assert!(enc(Encoding::Jpeg) > 0, "{who}: the photo went as JPEG");
        }
        let s = a.snapshot();
        assert!(
            s.rect_log.iter().any(|r| r.encoding == Encoding::Copy),
            "the scroll went as COPY across the mask's edge"
        );
        assert!(s.watched_frames > 5, "{} frames", s.watched_frames);
        vis.v.end_session().unwrap();
        assert_eq!(vis.ended(10).await, "SessionEndReasonThisSide");
    });
}
