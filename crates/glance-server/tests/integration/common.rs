//! Shared helpers of the integration tests.

use std::time::Duration;

use glance_protocol::Control;
use glance_server::ReadyInfo;
use glance_tests::{Picture, RawVisitor, TestAgent};

/// The bound of every wait.
pub const T: Duration = Duration::from_secs(10);

pub fn logs() {
    let _ = env_logger::builder().is_test(true).try_init();
}

pub fn is_refresh(c: &Control) -> bool {
    matches!(c, Control::RefreshRequest)
}

/// A running session: a visitor that sent a first picture and an agent that shows it.
pub struct Live {
    pub visitor: RawVisitor,
    pub agent: TestAgent,
    pub picture: Picture,
    pub seq: u32,
}

impl Live {
    pub async fn start(ready: &ReadyInfo, key: Option<&str>) -> Live {
        let visitor = RawVisitor::start_dev(ready, key, 96, 64).await.unwrap();
        let agent = TestAgent::join_dev(ready, visitor.key()).await.unwrap();
        assert!(agent.with_state(|s| s.joined().is_some()));
        let picture = Picture::pattern(96, 64, 7);
        visitor.send_frame(&picture.key_update(0, 1)).await.unwrap();
        let p = picture.clone();
        agent
            .wait_until("the first picture", T, |s| p.matches(&s.fb))
            .await
            .unwrap();
        Live {
            visitor,
            agent,
            picture,
            seq: 1,
        }
    }

    /// Changes part of the picture, sends the delta and waits until the agent shows it.
    pub async fn still_works(&mut self) {
        self.seq += 1;
        let r = glance_protocol::Rect::new(8, 8, 30, 20);
        let other = Picture::pattern(96, 64, 1000 + self.seq);
        self.picture.copy_from(&other, r);
        self.visitor
            .send_frame(&self.picture.delta(self.seq, &[r], 1))
            .await
            .unwrap();
        let p = self.picture.clone();
        self.agent
            .wait_until("the changed picture", T, |s| p.matches(&s.fb))
            .await
            .unwrap();
    }
}

/// Joins `key` with the development token and a 4 KiB receive buffer, so that an agent that
/// stops reading backs up after a few messages.
pub async fn join_slow(r: &ReadyInfo, key: &str) -> TestAgent {
    TestAgent::join_with(
        r,
        key,
        &r.agent_token,
        None,
        glance_tests::AgentOptions {
            recv_buffer: Some(4096),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}
