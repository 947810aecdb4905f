/* session_test.c: whole sessions through the C ABI against a real glance-server started by its
 * ready line: random key, specified key, visitor-id key, pause, end, and the state and
 * parameter errors. Usage: session_test PATH/TO/glance-server */
#include "harness.h"

#include <ctype.h>

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

static GlanceVisitorConfig config(const Server *s, const char *visitor_id) {
  GlanceVisitorConfig c;
  memset(&c, 0, sizeof c);
  c.group_id = s->group_id;
  c.name = "C Test";
  c.visitor_id = visitor_id;
  c.service_url = s->session_url;
  c.ca_cert_path = s->ca_cert;
  return c;
}

/* Starts with `start`, expects a connection, pauses, resumes, ends. Returns the key seen. */
static void run_session(GlanceVisitor *v, Events *q, GlanceResult start, char *key_out,
                        size_t cap) {
  Ev ev;
  CHECK(start == GLANCE_OK, "start returned %d", (int)start);
  CHECK(h_wait(q, EventConnectedToSession, 20, &ev), "connected");
  snprintf(key_out, cap, "%s", ev.sessionkey);
  GlanceSessionInfo info;
  CHECK(glance_visitor_get_session_info(v, &info) == GLANCE_OK, "info");
  CHECK(info.call_id > 0, "call id %lld", (long long)info.call_id);
  CHECK(strcmp(info.key, ev.sessionkey) == 0, "info key %s vs %s", info.key, ev.sessionkey);
  CHECK(info.is_connected && info.is_showing && !info.is_paused && !info.is_guest, "flags");
  CHECK(glance_visitor_pause(v, true) == GLANCE_OK, "pause");
  glance_visitor_get_session_info(v, &info);
  CHECK(info.is_paused && !info.is_showing, "paused flags");
  CHECK(glance_visitor_pause(v, false) == GLANCE_OK, "resume");
  /* EnableRC: on once the platform (here the synthetic display) takes input and the service
     is told; off at once. */
  CHECK(!info.rc_enabled, "rc off at start");
  CHECK(glance_visitor_enable_rc(v, true) == GLANCE_OK, "enable rc");
  for (int i = 0; i < 100 && (glance_visitor_get_session_info(v, &info), !info.rc_enabled); i++)
    usleep(50000);
  CHECK(info.rc_enabled, "rc_enabled after EnableRC(true)");
  CHECK(glance_visitor_enable_rc(v, false) == GLANCE_OK, "disable rc");
  glance_visitor_get_session_info(v, &info);
  CHECK(!info.rc_enabled, "rc_enabled false at once after EnableRC(false)");
  CHECK(glance_visitor_enable_rc(NULL, true) == GLANCE_ERROR_NULL_ARGUMENT, "enable rc NULL");
  GlanceDisplayParams dp;
  memset(&dp, 0, sizeof dp);
  dp.scale = 1.0f;
  dp.display_name = "Synthetic";
  CHECK(glance_visitor_show_display(v, &dp) == GLANCE_OK, "show display");
  dp.display_name = "no-such-monitor";
  CHECK(glance_visitor_show_display(v, &dp) == GLANCE_ERROR_INVALID_PARAMETER, "unknown display");
  CHECK(h_wait(q, EventInvalidParameter, 5, &ev), "EventInvalidParameter display");
  CHECK(glance_visitor_show_display(v, NULL) == GLANCE_ERROR_NULL_ARGUMENT, "NULL display params");
  CHECK(h_wait(q, EventInvalidParameter, 5, &ev), "EventInvalidParameter NULL display");
  /* Masks (C-API.md): an id for a good rectangle; bad input is refused naming the argument
     and changes nothing; a removed id is unknown afterwards. */
  uint32_t mask = 0, other = 0;
  CHECK(glance_visitor_add_masked_rect(v, 10, 10, 50, 20, &mask) == GLANCE_OK && mask != 0, "mask rect");
  CHECK(glance_visitor_add_masked_rect(v, 10, 10, 0, 20, &other) == GLANCE_ERROR_INVALID_PARAMETER, "zero width");
  CHECK(h_wait(q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "width"), "width named: %s", ev.message);
  CHECK(glance_visitor_add_masked_rect(v, 10, 10, 5, -1, &other) == GLANCE_ERROR_INVALID_PARAMETER, "negative height");
  CHECK(h_wait(q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "height"), "height named: %s", ev.message);
  CHECK(glance_visitor_add_masked_rect(v, 10, 10, 5, 5, NULL) == GLANCE_ERROR_NULL_ARGUMENT, "NULL out id");
  CHECK(h_wait(q, EventInvalidParameter, 5, &ev), "EventInvalidParameter NULL out id");
  CHECK(glance_visitor_add_masked_window(v, 0, &other) == GLANCE_ERROR_INVALID_PARAMETER, "window 0");
  CHECK(h_wait(q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "native_window"), "window named: %s", ev.message);
  CHECK(glance_visitor_remove_mask(v, mask) == GLANCE_OK, "remove mask");
  CHECK(glance_visitor_remove_mask(v, mask) == GLANCE_ERROR_INVALID_PARAMETER, "remove twice");
  CHECK(h_wait(q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "mask_id"), "mask_id named: %s", ev.message);
  CHECK(glance_visitor_remove_mask(NULL, 1) == GLANCE_ERROR_NULL_ARGUMENT, "remove NULL visitor");
  glance_visitor_get_session_info(v, &info);
  CHECK(!info.is_paused && info.is_showing, "resumed flags");
  /* A second start while running is a state error. */
  CHECK(glance_visitor_start_session(v) == GLANCE_ERROR_INVALID_STATE, "double start");
  CHECK(h_wait(q, EventInvalidState, 5, &ev), "EventInvalidState on double start");
  CHECK(glance_visitor_end_session(v) == GLANCE_OK, "end");
  CHECK(h_wait(q, EventSessionEnded, 20, &ev), "ended");
  CHECK(strcmp(ev.reason, "SessionEndReasonThisSide") == 0, "reason %s", ev.reason);
  glance_visitor_get_session_info(v, &info);
  CHECK(info.call_id == 0 && !info.is_connected, "info cleared");
}

/* What the log callback saw (it runs on SDK threads, one call at a time). */
static struct {
  pthread_mutex_t lock;
  int count, errors, infos, debugs;
  char last_panic[256];
  char last_info[256];
} logs = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, "", ""};

static void on_log(GlanceLogLevel level, const char *target, const char *message, void *user) {
  (void)target;
  pthread_mutex_lock(&logs.lock);
  logs.count += user == &logs;
  if (level == GLANCE_LOG_ERROR) {
    logs.errors++;
    if (strstr(message, "panic")) snprintf(logs.last_panic, sizeof logs.last_panic, "%s", message);
  }
  if (level == GLANCE_LOG_INFO) {
    logs.infos++;
    snprintf(logs.last_info, sizeof logs.last_info, "%s", message);
  }
  if (level == GLANCE_LOG_DEBUG) logs.debugs++;
  pthread_mutex_unlock(&logs.lock);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATH/TO/glance-server\n", argv[0]);
    return 2;
  }
  setenv("GLANCE_SYNTHETIC_DISPLAY", "320x200", 1);
  Server srv;
  if (!h_server_start(&srv, argv[1], NULL)) {
    fprintf(stderr, "cannot start glance-server\n");
    return 2;
  }
  Events q;
  h_events_init(&q);
  Ev ev;

  /* Static things. */
  CHECK(strcmp(glance_version(), GLANCE_VERSION_STRING) == 0, "version %s", glance_version());
  CHECK(strcmp(glance_event_code_name(EventConnectedToSession), "EventConnectedToSession") == 0,
        "code name");
  CHECK(strcmp(glance_event_code_name(9999), "EventUnknown") == 0, "unknown code name");
  /* The SDK's log reaches the application's callback, filtered by level. */
  CHECK(glance_set_log_callback(on_log, 99, NULL) == GLANCE_ERROR_INVALID_PARAMETER, "bad level");
  CHECK(glance_set_log_callback(on_log, GLANCE_LOG_WARN, &logs) == GLANCE_OK, "log callback");
  CHECK(glance_test_panic() == GLANCE_ERROR_PANIC, "panic is caught");
  CHECK(logs.errors == 1 && strstr(logs.last_panic, "panic") != NULL, "panic logged: %d '%s'",
        logs.errors, logs.last_panic);
  {
    GlanceVisitor *quiet = glance_visitor_new(NULL, NULL);
    CHECK(quiet != NULL && logs.infos == 0, "info filtered at WARN (%d)", logs.infos);
    glance_visitor_free(quiet);
  }
  CHECK(glance_set_log_callback(on_log, GLANCE_LOG_INFO, &logs) == GLANCE_OK, "log level info");
  CHECK(glance_visitor_start_session(NULL) == GLANCE_ERROR_NULL_ARGUMENT, "NULL handle");
  CHECK(glance_visitor_pause(NULL, true) == GLANCE_ERROR_NULL_ARGUMENT, "NULL handle pause");
  glance_visitor_free(NULL);
  glance_string_free(NULL);
  CHECK(glance_event_code(NULL) == EventNone, "NULL event");
  CHECK(glance_event_property(NULL, "x") == NULL, "NULL event property");

  GlanceVisitor *v = glance_visitor_new(h_on_event, &q);
  CHECK(v != NULL, "new");
  pthread_mutex_lock(&logs.lock);
  CHECK(logs.infos >= 1 && strstr(logs.last_info, "visitor created") != NULL &&
            logs.count == logs.errors + logs.infos + logs.debugs && logs.debugs == 0,
        "info logged: %d '%s'", logs.infos, logs.last_info);
  pthread_mutex_unlock(&logs.lock);

  /* Before init: state errors. */
  CHECK(glance_visitor_start_session(v) == GLANCE_ERROR_INVALID_STATE, "start before init");
  CHECK(h_wait(&q, EventInvalidState, 5, &ev), "EventInvalidState before init");
  CHECK(glance_visitor_end_session(v) == GLANCE_ERROR_INVALID_STATE, "end without session");
  CHECK(h_wait(&q, EventInvalidState, 5, &ev), "EventInvalidState on end");
  CHECK(glance_visitor_enable_rc(v, true) == GLANCE_ERROR_INVALID_STATE, "EnableRC without session");
  CHECK(h_wait(&q, EventInvalidState, 5, &ev), "EventInvalidState on EnableRC");
  {
    GlanceDisplayParams dp0;
    memset(&dp0, 0, sizeof dp0);
    dp0.scale = 1.0f;
    CHECK(glance_visitor_show_display(v, &dp0) == GLANCE_ERROR_INVALID_STATE, "show without session");
  }
  CHECK(h_wait(&q, EventInvalidState, 5, &ev), "EventInvalidState on show");
  CHECK(glance_visitor_init(v, NULL) == GLANCE_ERROR_NULL_ARGUMENT, "NULL config");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter NULL config");

  GlanceVisitorConfig bad = config(&srv, "has space");
  CHECK(glance_visitor_init(v, &bad) == GLANCE_ERROR_INVALID_PARAMETER, "bad visitor id");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "visitorId"),
        "message names visitorId: %s", ev.message);
  GlanceVisitorConfig bad_utf8 = config(&srv, NULL);
  bad_utf8.name = "\xff\xfe";
  CHECK(glance_visitor_init(v, &bad_utf8) == GLANCE_ERROR_INVALID_UTF8, "bad utf8");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "name"),
        "message names name: %s", ev.message);

  GlanceVisitorConfig c = config(&srv, NULL);
  CHECK(glance_visitor_init(v, &c) == GLANCE_OK, "init");
  CHECK(h_wait(&q, EventVisitorInitialized, 5, &ev), "initialized");

  /* Displays: the synthetic one. */
  CHECK(glance_visitor_get_display_count(v) == 1, "display count");
  CHECK(glance_visitor_get_main_monitor(v) == 0, "main monitor");
  CHECK(glance_visitor_get_display_type(v, 0) == GLANCE_DISPLAY_MONITOR, "display type");
  char *name = glance_visitor_get_display_name(v, 0);
  CHECK(name && strcmp(name, "Synthetic") == 0, "display name %s", name ? name : "(null)");
  glance_string_free(name);
  CHECK(glance_visitor_get_display_name(v, 7) == NULL, "out of range name");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter for index");
  CHECK(glance_visitor_identify_monitors(v) == GLANCE_OK, "identify monitors");
  CHECK(glance_visitor_identify_monitors(NULL) == GLANCE_ERROR_NULL_ARGUMENT, "identify NULL");
  CHECK(glance_visitor_get_display_type(v, -1) == GLANCE_DISPLAY_NONE, "negative index");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter for -1");

  /* One-Click Connect: needs a visitor id; then connect, send, signal, disconnect. */
  CHECK(glance_presence_connect(v) == GLANCE_ERROR_INVALID_STATE, "presence without visitor id");
  CHECK(h_wait(&q, EventInvalidState, 5, &ev), "EventInvalidState presence");
  CHECK(glance_presence_connect(NULL) == GLANCE_ERROR_NULL_ARGUMENT, "presence NULL");
  {
    GlanceVisitorConfig pc = config(&srv, "c-visitor-1");
    CHECK(glance_visitor_init(v, &pc) == GLANCE_OK, "init with visitor id");
    CHECK(h_wait(&q, EventVisitorInitialized, 5, &ev), "initialized with visitor id");
    CHECK(glance_visitor_set_default_ui(NULL, false) == GLANCE_ERROR_NULL_ARGUMENT, "default UI NULL");
    CHECK(glance_presence_set_default_ui(v, false) == GLANCE_OK, "presence default UI off");
    CHECK(glance_visitor_set_default_ui(v, false) == GLANCE_OK, "visitor default UI off");
    CHECK(glance_presence_connect(v) == GLANCE_OK, "presence connect");
    CHECK(h_wait(&q, EventPresenceConnected, 10, &ev), "EventPresenceConnected");
    CHECK(glance_presence_connect(v) == GLANCE_OK, "connect again does nothing");
    GlanceProperty data[] = {{"url", "app://c-test"}, {"c_step", "2"}};
    CHECK(glance_presence_send(v, data, 2) == GLANCE_OK, "presence data");
    GlanceProperty bad_name[] = {{"cart", "1"}};
    CHECK(glance_presence_send(v, bad_name, 1) == GLANCE_ERROR_INVALID_PARAMETER, "not c_");
    CHECK(h_wait(&q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "c_"), "names c_: %s",
          ev.message);
    GlanceProperty null_value[] = {{"url", NULL}};
    CHECK(glance_presence_send(v, null_value, 1) == GLANCE_ERROR_NULL_ARGUMENT, "NULL value");
    CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter NULL value");
    CHECK(glance_presence_send(v, NULL, 3) == GLANCE_ERROR_NULL_ARGUMENT, "NULL props");
    CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter NULL props");
    GlanceProperty many[21];
    char names[21][8];
    for (int i = 0; i < 21; i++) {
      snprintf(names[i], sizeof names[i], "c_%d", i);
      many[i].name = names[i];
      many[i].value = "v";
    }
    CHECK(glance_presence_send(v, many, 21) == GLANCE_ERROR_INVALID_PARAMETER, "21 properties");
    CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter 21");
    GlanceProperty terms[] = {{"status", "displayed"}};
    CHECK(glance_presence_signal_agent(v, "terms", terms, 1) == GLANCE_OK, "terms displayed");
    CHECK(glance_presence_signal_agent(v, "chat", NULL, 0) == GLANCE_ERROR_INVALID_PARAMETER,
          "event without c_");
    CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter event");
    CHECK(glance_presence_signal_agent(v, "c_chat", NULL, 0) == GLANCE_OK, "custom event");
    CHECK(glance_presence_signal_visibility(v, false) == GLANCE_OK, "visibility");
    CHECK(glance_presence_disconnect(v) == GLANCE_OK, "presence disconnect");
    CHECK(h_wait(&q, EventPresenceDisconnected, 10, &ev), "EventPresenceDisconnected");
    CHECK(glance_presence_send(v, data, 2) == GLANCE_OK, "send while disconnected");
    CHECK(h_wait(&q, EventPresenceSendFail, 5, &ev), "EventPresenceSendFail");
    CHECK(glance_presence_disconnect(v) == GLANCE_ERROR_INVALID_STATE, "disconnect twice");
    CHECK(h_wait(&q, EventInvalidState, 5, &ev), "EventInvalidState disconnect");
    GlanceVisitorConfig back = config(&srv, NULL);
    CHECK(glance_visitor_init(v, &back) == GLANCE_OK, "init without visitor id again");
    CHECK(h_wait(&q, EventVisitorInitialized, 5, &ev), "initialized again");
  }

  /* Parameter errors on start. */
  CHECK(glance_visitor_start_session_key(v, "bad key") == GLANCE_ERROR_INVALID_PARAMETER, "bad key");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "key"), "names key");
  CHECK(glance_visitor_start_session_key(v, "\xc3\x28") == GLANCE_ERROR_INVALID_UTF8, "utf8 key");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter utf8 key");
  CHECK(glance_visitor_start_session_key(v, NULL) == GLANCE_ERROR_NULL_ARGUMENT, "NULL key");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter NULL key");
  GlanceStartParams sp;
  glance_start_params_init(&sp);
  CHECK(sp.display_params.scale == 1.0f && sp.key == NULL && !sp.persist, "defaults");
  sp.display_params.video = true;
  CHECK(glance_visitor_start_session_params(v, &sp) == GLANCE_ERROR_INVALID_PARAMETER, "video");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev) && strstr(ev.message, "video"),
        "names video: %s", ev.message);
  sp.display_params.video = false;
  CHECK(glance_visitor_start_session_params(v, NULL) == GLANCE_ERROR_NULL_ARGUMENT, "NULL params");
  CHECK(h_wait(&q, EventInvalidParameter, 5, &ev), "EventInvalidParameter NULL params");

  char key[128];
  /* Random key: digits only. */
  run_session(v, &q, glance_visitor_start_session_key(v, GLANCE_KEYTYPE_RANDOM), key, sizeof key);
  CHECK(all_digits(key), "random key %s is digits", key);
  /* No visitor id: StartSession() also gives a random key. */
  run_session(v, &q, glance_visitor_start_session(v), key, sizeof key);
  CHECK(all_digits(key), "default key %s is digits", key);
  /* Specified key, through StartParams. */
  glance_start_params_init(&sp);
  sp.key = "c-test.key_1";
  sp.max_guests = 2;
  run_session(v, &q, glance_visitor_start_session_params(v, &sp), key, sizeof key);
  CHECK(strcmp(key, "c-test.key_1") == 0, "specified key %s", key);
  /* After login: init again with a visitor id, which becomes the key. */
  c = config(&srv, "visitor-42");
  CHECK(glance_visitor_init(v, &c) == GLANCE_OK, "re-init");
  CHECK(h_wait(&q, EventVisitorInitialized, 5, &ev), "re-initialized");
  run_session(v, &q, glance_visitor_start_session(v), key, sizeof key);
  CHECK(strcmp(key, "visitor-42") == 0, "visitor id key %s", key);

  /* Free with a session running: EventSessionEnded arrives before free returns. */
  CHECK(glance_visitor_start_session(v) == GLANCE_OK, "start before free");
  CHECK(h_wait(&q, EventConnectedToSession, 20, &ev), "connected before free");
  glance_visitor_free(v);
  CHECK(h_wait(&q, EventSessionEnded, 1, &ev), "ended by free");
  CHECK(strcmp(ev.reason, "SessionEndReasonThisSide") == 0, "free reason %s", ev.reason);
  /* The freed handle is refused, not a crash; another handle still works. */
  CHECK(glance_visitor_start_session(v) == GLANCE_ERROR_INVALID_HANDLE, "freed handle");
  glance_visitor_free(v);
  GlanceVisitor *w = glance_visitor_new(h_on_event, &q);
  CHECK(glance_visitor_init(w, &c) == GLANCE_OK, "second handle works");
  CHECK(h_wait(&q, EventVisitorInitialized, 5, &ev), "second handle initialized");
  glance_visitor_free(w);

  h_server_stop(&srv);
  return h_report("c_session_test");
}
