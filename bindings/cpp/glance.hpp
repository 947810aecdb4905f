// glance.hpp: a header-only C++17 RAII wrapper over the Glance C API (include/glance.h).
//
//   glance::Visitor v([](const glance::Event &e) { ... });   // events on the SDK's thread
//   v.init(cfg);                       // throws glance::Error when the call is rejected
//   v.startSession(GLANCE_KEYTYPE_RANDOM);
//
// Calls that the SDK rejects at once throw glance::Error carrying the GlanceResult (the SDK
// also fires EventInvalidParameter / EventInvalidState). The *_noexcept variants return the
// GlanceResult instead. A Visitor frees its handle in its destructor; it is movable, not
// copyable. Events are copied into glance::Event, so they may outlive the callback.
#ifndef GLANCE_HPP
#define GLANCE_HPP

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "glance.h"

namespace glance {

/// A call rejected at once.
class Error : public std::runtime_error {
 public:
  Error(GlanceResult code, const std::string &what) : std::runtime_error(what), code_(code) {}
  GlanceResult code() const noexcept { return code_; }

 private:
  GlanceResult code_;
};

/// An event, copied out of the callback.
struct Event {
  GlanceEventCode code = EventNone;
  GlanceEventType type = EventTypeInfo;
  std::string message;
  std::vector<std::pair<std::string, std::string>> properties;

  std::string name() const { return glance_event_code_name(code); }
  std::optional<std::string> property(const std::string &key) const {
    for (const auto &p : properties)
      if (p.first == key) return p.second;
    return std::nullopt;
  }

  static Event from(const GlanceEvent *e) {
    Event out;
    out.code = glance_event_code(e);
    out.type = glance_event_type(e);
    out.message = glance_event_message(e);
    size_t n = glance_event_property_count(e);
    for (size_t i = 0; i < n; i++) {
      const char *k = glance_event_property_name(e, i);
      const char *v = k ? glance_event_property(e, k) : nullptr;
      if (k) out.properties.emplace_back(k, v ? v : "");
    }
    return out;
  }
};

/// init's configuration.
struct Config {
  int32_t groupId = 0;
  std::string token, name, email, phone;
  std::string visitorId;   // empty: none (before login)
  std::string serviceUrl;  // empty: the default service
  std::string caCertPath;  // empty: system roots only
};

/// DisplayParams.
struct DisplayParams {
  // Empty (the default): this application's windows, on the monitor that holds its main
  // window, everything else flat-filled. "main": the primary monitor whole. A name from
  // displayName(n): that monitor whole. "Applications" with `application` (a process name
  // or id): that application the same way.
  std::string displayName;
  float scale = 1.0f;
  int32_t captureWidth = 0, captureHeight = 0;
  bool video = false;
  std::string application;
};

/// StartParams, with the seed's defaults.
struct StartParams {
  int64_t mainCallId = 0;
  int32_t maxGuests = 0;
  std::string key;  // empty: visitor id or random; GLANCE_KEYTYPE_RANDOM: random
  DisplayParams displayParams;
  bool forceTunnel = false, reportErrors = false, persist = false, paused = false,
       presenceStart = false;
};

/// GetSessionInfo.
struct SessionInfo {
  int64_t callId = 0;
  int32_t nGuests = 0;
  std::string key, displayName;
  bool rcEnabled = false, isPaused = false, isConnected = false, isShowing = false,
       isViewing = false;
};

inline const char *resultName(GlanceResult r) {
  switch (r) {
    case GLANCE_OK: return "GLANCE_OK";
    case GLANCE_ERROR_NULL_ARGUMENT: return "GLANCE_ERROR_NULL_ARGUMENT";
    case GLANCE_ERROR_INVALID_UTF8: return "GLANCE_ERROR_INVALID_UTF8";
    case GLANCE_ERROR_INVALID_PARAMETER: return "GLANCE_ERROR_INVALID_PARAMETER";
    case GLANCE_ERROR_INVALID_STATE: return "GLANCE_ERROR_INVALID_STATE";
    case GLANCE_ERROR_INVALID_HANDLE: return "GLANCE_ERROR_INVALID_HANDLE";
    case GLANCE_ERROR_PANIC: return "GLANCE_ERROR_PANIC";
    case GLANCE_ERROR_INTERNAL: return "GLANCE_ERROR_INTERNAL";
  }
  return "GlanceResult(unknown)";
}

/// The visitor: owns a GlanceVisitor handle.
class Visitor {
 public:
  using Handler = std::function<void(const Event &)>;

  explicit Visitor(Handler handler) : handler_(std::make_unique<Handler>(std::move(handler))) {
    handle_ = glance_visitor_new(&Visitor::trampoline, handler_.get());
    if (!handle_) throw Error(GLANCE_ERROR_INTERNAL, "glance_visitor_new failed");
  }
  ~Visitor() { reset(); }
  Visitor(const Visitor &) = delete;
  Visitor &operator=(const Visitor &) = delete;
  Visitor(Visitor &&o) noexcept : handle_(o.handle_), handler_(std::move(o.handler_)) {
    o.handle_ = nullptr;
  }
  Visitor &operator=(Visitor &&o) noexcept {
    if (this != &o) {
      reset();
      handle_ = o.handle_;
      handler_ = std::move(o.handler_);
      o.handle_ = nullptr;
    }
    return *this;
  }

  /// Ends any session (EventSessionEnded is delivered first) and frees the handle.
  void reset() noexcept {
    if (handle_) glance_visitor_free(handle_);
    handle_ = nullptr;
  }
  GlanceVisitor *handle() const noexcept { return handle_; }

  GlanceResult initNoexcept(const Config &c) noexcept {
    GlanceVisitorConfig cc{};
    cc.group_id = c.groupId;
    cc.token = c.token.c_str();
    cc.name = c.name.c_str();
    cc.email = c.email.c_str();
    cc.phone = c.phone.c_str();
    cc.visitor_id = c.visitorId.c_str();
    cc.service_url = c.serviceUrl.empty() ? nullptr : c.serviceUrl.c_str();
    cc.ca_cert_path = c.caCertPath.empty() ? nullptr : c.caCertPath.c_str();
    return glance_visitor_init(handle_, &cc);
  }
  void init(const Config &c) { check(initNoexcept(c), "init"); }

  void startSession() { check(glance_visitor_start_session(handle_), "startSession"); }
  void startSession(const std::string &key) {
    check(glance_visitor_start_session_key(handle_, key.c_str()), "startSession(key)");
  }
  GlanceResult startSessionNoexcept(const StartParams &p) noexcept {
    GlanceStartParams sp;
    glance_start_params_init(&sp);
    sp.main_call_id = p.mainCallId;
    sp.max_guests = p.maxGuests;
    sp.key = p.key.c_str();
    sp.display_params.display_name = p.displayParams.displayName.c_str();
    sp.display_params.scale = p.displayParams.scale;
    sp.display_params.capture_width = p.displayParams.captureWidth;
    sp.display_params.capture_height = p.displayParams.captureHeight;
    sp.display_params.video = p.displayParams.video;
    sp.display_params.application = p.displayParams.application.c_str();
    sp.force_tunnel = p.forceTunnel;
    sp.report_errors = p.reportErrors;
    sp.persist = p.persist;
    sp.paused = p.paused;
    sp.presence_start = p.presenceStart;
    return glance_visitor_start_session_params(handle_, &sp);
  }
  void startSession(const StartParams &p) { check(startSessionNoexcept(p), "startSession(params)"); }
  void showDisplay(const DisplayParams &d) {
    GlanceDisplayParams p{};
    p.display_name = d.displayName.c_str();
    p.scale = d.scale;
    p.capture_width = d.captureWidth;
    p.capture_height = d.captureHeight;
    p.video = d.video;
    p.application = d.application.c_str();
    check(glance_visitor_show_display(handle_, &p), "showDisplay");
  }
  void endSession() { check(glance_visitor_end_session(handle_), "endSession"); }

  // What leaves the process: masked areas are replaced by a flat fill before anything is
  // encoded, in every session until removed. Rectangles are virtual-desktop pixels.
  uint32_t addMaskedRect(int32_t x, int32_t y, int32_t width, int32_t height) {
    uint32_t id = 0;
    check(glance_visitor_add_masked_rect(handle_, x, y, width, height, &id), "addMaskedRect");
    return id;
  }
  /// A window by native handle (HWND, X11 Window, CGWindowID), followed as it moves.
  uint32_t addMaskedWindow(uint64_t nativeWindow) {
    uint32_t id = 0;
    check(glance_visitor_add_masked_window(handle_, nativeWindow, &id), "addMaskedWindow");
    return id;
  }
  void removeMask(uint32_t maskId) { check(glance_visitor_remove_mask(handle_, maskId), "removeMask"); }
  void pause(bool pause) { check(glance_visitor_pause(handle_, pause), "pause"); }
  /// EnableRC(enable): remote control by agents with the privilege (EventRCDisabled when the
  /// group forbids it).
  void enableRC(bool enable) { check(glance_visitor_enable_rc(handle_, enable), "enableRC"); }

  // defaultUI(enabled) (seed 002) and PresenceVisitor setDefaultUI: the same switch.
  void setDefaultUI(bool enabled) {
    check(glance_visitor_set_default_ui(handle_, enabled), "setDefaultUI");
  }

  // One-Click Connect (seed 004, PresenceVisitor).
  void presenceConnect() { check(glance_presence_connect(handle_), "presenceConnect"); }
  void presenceDisconnect() { check(glance_presence_disconnect(handle_), "presenceDisconnect"); }
  void presence(const std::map<std::string, std::string> &data) {
    auto p = props(data);
    check(glance_presence_send(handle_, p.data(), p.size()), "presence");
  }
  void signalAgent(const std::string &event, const std::map<std::string, std::string> &data = {}) {
    auto p = props(data);
    check(glance_presence_signal_agent(handle_, event.c_str(), p.data(), p.size()), "signalAgent");
  }
  void signalVisibility(bool visible) {
    check(glance_presence_signal_visibility(handle_, visible), "signalVisibility");
  }

  SessionInfo sessionInfo() const {
    GlanceSessionInfo i;
    check(glance_visitor_get_session_info(handle_, &i), "sessionInfo");
    SessionInfo s;
    s.callId = i.call_id;
    s.nGuests = i.n_guests;
    s.key = i.key;
    s.displayName = i.display_name;
    s.rcEnabled = i.rc_enabled;
    s.isPaused = i.is_paused;
    s.isConnected = i.is_connected;
    s.isShowing = i.is_showing;
    s.isViewing = i.is_viewing;
    return s;
  }

  void identifyMonitors() { check(glance_visitor_identify_monitors(handle_), "identifyMonitors"); }
  int displayCount() const { return glance_visitor_get_display_count(handle_); }
  int mainMonitor() const { return glance_visitor_get_main_monitor(handle_); }
  GlanceDisplayType displayType(int n) const { return glance_visitor_get_display_type(handle_, n); }
  std::optional<std::string> displayName(int n) const {
    char *s = glance_visitor_get_display_name(handle_, n);
    if (!s) return std::nullopt;
    std::string out(s);
    glance_string_free(s);
    return out;
  }

  static std::string version() { return glance_version(); }

 private:
  static std::vector<GlanceProperty> props(const std::map<std::string, std::string> &m) {
    std::vector<GlanceProperty> v;
    v.reserve(m.size());
    for (const auto &kv : m) v.push_back(GlanceProperty{kv.first.c_str(), kv.second.c_str()});
    return v;
  }
  static void check(GlanceResult r, const char *what) {
    if (r != GLANCE_OK) throw Error(r, std::string(what) + ": " + resultName(r));
  }
  static void trampoline(const GlanceEvent *e, void *user_data) {
    auto *h = static_cast<Handler *>(user_data);
    try {
      if (h && *h) (*h)(Event::from(e));
    } catch (...) {
      // An exception must not unwind into the SDK's thread.
    }
  }

  GlanceVisitor *handle_ = nullptr;
  std::unique_ptr<Handler> handler_;  // stable address for the C callback's user_data
};

}  // namespace glance

#endif  // GLANCE_HPP
