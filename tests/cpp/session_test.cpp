// session_test.cpp: whole sessions through the C++ wrapper (bindings/cpp/glance.hpp) against a
// real glance-server: random key, specified key, visitor-id key, pause, end, and the state
// and parameter errors as exceptions. Usage: session_test PATH/TO/glance-server
#include "glance.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cctype>
#include <deque>
#include <mutex>

#include "harness.h"

namespace {

class Queue {
 public:
  void push(const glance::Event &e) {
    std::lock_guard<std::mutex> g(mu_);
    q_.push_back(e);
    cv_.notify_all();
  }
  std::optional<glance::Event> wait(GlanceEventCode code, int secs) {
    std::unique_lock<std::mutex> g(mu_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    for (;;) {
      while (!q_.empty()) {
        glance::Event e = q_.front();
        q_.pop_front();
        if (e.code == code) return e;
        std::fprintf(stderr, "  (skipped %s: %s)\n", e.name().c_str(), e.message.c_str());
      }
      if (cv_.wait_until(g, deadline) == std::cv_status::timeout && q_.empty()) {
        std::fprintf(stderr, "  timed out waiting for %s\n", glance_event_code_name(code));
        return std::nullopt;
      }
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<glance::Event> q_;
};

template <typename F>
GlanceResult rejected(F f) {
  try {
    f();
  } catch (const glance::Error &e) {
    return e.code();
  }
  return GLANCE_OK;
}

std::string session(glance::Visitor &v, Queue &q, const std::function<void()> &start) {
  start();
  auto c = q.wait(EventConnectedToSession, 20);
  CHECK(c.has_value(), "connected");
  if (!c) return "";
  std::string key = c->property("sessionkey").value_or("");
  auto info = v.sessionInfo();
  CHECK(info.callId > 0 && info.key == key && info.isConnected, "info %s", info.key.c_str());
  v.pause(true);
  CHECK(v.sessionInfo().isPaused, "paused");
  v.pause(false);
  CHECK(!v.sessionInfo().isPaused, "resumed");
  glance::DisplayParams dp;
  dp.displayName = "main";
  v.showDisplay(dp);
  dp.displayName = "nope";
  CHECK(rejected([&] { v.showDisplay(dp); }) == GLANCE_ERROR_INVALID_PARAMETER, "unknown display");
  CHECK(q.wait(EventInvalidParameter, 5).has_value(), "EventInvalidParameter display");
  // Masks: an id, bad input refused with EventInvalidParameter, removal once.
  uint32_t mask = v.addMaskedRect(5, 5, 40, 20);
  CHECK(mask != 0, "mask id");
  CHECK(rejected([&] { v.addMaskedRect(5, 5, -4, 20); }) == GLANCE_ERROR_INVALID_PARAMETER, "bad mask");
  CHECK(q.wait(EventInvalidParameter, 5).has_value(), "EventInvalidParameter mask");
  v.removeMask(mask);
  CHECK(rejected([&] { v.removeMask(mask); }) == GLANCE_ERROR_INVALID_PARAMETER, "removed twice");
  CHECK(q.wait(EventInvalidParameter, 5).has_value(), "EventInvalidParameter remove");
  CHECK(rejected([&] { v.startSession(); }) == GLANCE_ERROR_INVALID_STATE, "double start");
  CHECK(q.wait(EventInvalidState, 5).has_value(), "EventInvalidState");
  v.endSession();
  auto e = q.wait(EventSessionEnded, 20);
  CHECK(e && e->property("reason") == std::optional<std::string>("SessionEndReasonThisSide"),
        "ended this side");
  CHECK(v.sessionInfo().callId == 0, "cleared");
  return key;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH/TO/glance-server\n", argv[0]);
    return 2;
  }
  setenv("GLANCE_SYNTHETIC_DISPLAY", "320x200", 1);
  Server srv;
  if (!h_server_start(&srv, argv[1], nullptr)) {
    std::fprintf(stderr, "cannot start glance-server\n");
    return 2;
  }
  Queue q;
  {
    glance::Visitor v([&q](const glance::Event &e) { q.push(e); });
    CHECK(glance::Visitor::version() == GLANCE_VERSION_STRING, "version");
    CHECK(rejected([&] { v.startSession(); }) == GLANCE_ERROR_INVALID_STATE, "before init");
    CHECK(q.wait(EventInvalidState, 5).has_value(), "EventInvalidState before init");
    glance::Config c;
    c.groupId = -3;
    CHECK(rejected([&] { v.init(c); }) == GLANCE_ERROR_INVALID_PARAMETER, "bad group");
    auto bad = q.wait(EventInvalidParameter, 5);
    CHECK(bad && bad->message.find("groupId") != std::string::npos, "names groupId");
    c.groupId = srv.group_id;
    c.serviceUrl = srv.session_url;
    c.caCertPath = srv.ca_cert;
    v.init(c);
    CHECK(q.wait(EventVisitorInitialized, 5).has_value(), "initialized");
    CHECK(v.displayCount() == 1 && v.displayName(0) == std::optional<std::string>("Synthetic"),
          "displays");
    v.identifyMonitors();
    CHECK(!v.displayName(3).has_value(), "bad index");
    CHECK(q.wait(EventInvalidParameter, 5).has_value(), "EventInvalidParameter index");
    CHECK(rejected([&] { v.startSession("no spaces allowed"); }) == GLANCE_ERROR_INVALID_PARAMETER,
          "bad key");
    CHECK(q.wait(EventInvalidParameter, 5).has_value(), "EventInvalidParameter key");
    glance::StartParams bp;
    bp.displayParams.video = true;
    CHECK(rejected([&] { v.startSession(bp); }) == GLANCE_ERROR_INVALID_PARAMETER, "video");
    CHECK(q.wait(EventInvalidParameter, 5).has_value(), "EventInvalidParameter video");

    std::string k = session(v, q, [&] { v.startSession(GLANCE_KEYTYPE_RANDOM); });
    CHECK(!k.empty() && std::all_of(k.begin(), k.end(), [](char ch) { return std::isdigit((unsigned char)ch); }),
          "random key %s", k.c_str());
    glance::StartParams sp;
    sp.key = "cpp-key.7";
    sp.persist = true;
    k = session(v, q, [&] { v.startSession(sp); });
    CHECK(k == "cpp-key.7", "specified key %s", k.c_str());
    c.visitorId = "cpp-visitor";
    v.init(c);
    CHECK(q.wait(EventVisitorInitialized, 5).has_value(), "re-initialized");
    k = session(v, q, [&] { v.startSession(); });
    CHECK(k == "cpp-visitor", "visitor id key %s", k.c_str());

    // One-Click Connect through the wrapper.
    v.setDefaultUI(false);
    v.presenceConnect();
    CHECK(q.wait(EventPresenceConnected, 10).has_value(), "presence connected");
    v.presence({{"url", "app://cpp"}, {"c_step", "1"}});
    v.signalAgent("terms", {{"status", "displayed"}});
    v.signalVisibility(true);
    CHECK(rejected([&] { v.presence({{"cart", "1"}}); }) == GLANCE_ERROR_INVALID_PARAMETER,
          "presence name without c_");
    CHECK(q.wait(EventInvalidParameter, 5).has_value(), "EventInvalidParameter presence");
    v.presenceDisconnect();
    CHECK(q.wait(EventPresenceDisconnected, 10).has_value(), "presence disconnected");

    // Moving keeps the handle and the handler alive.
    glance::Visitor moved = std::move(v);
    CHECK(moved.handle() != nullptr && v.handle() == nullptr, "moved");
    moved.startSession();
    CHECK(q.wait(EventConnectedToSession, 20).has_value(), "connected after move");
  }  // destructor frees: the session ends first
  auto e = q.wait(EventSessionEnded, 1);
  CHECK(e.has_value(), "ended by destructor");
  h_server_stop(&srv);
  return h_report("cpp_session_test");
}
