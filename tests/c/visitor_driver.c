/* visitor_driver: a real C visitor (libglance) driven line by line, for end-to-end tests in
 * other languages (the browser tests run seed 002's flow with it).
 *
 * Commands on stdin, one per line, words separated by single spaces:
 *   init GROUP SERVICE_URL CA_PATH [VISITOR_ID]   glance_visitor_init
 *   defaultui 0|1                                 glance_visitor_set_default_ui
 *   start [KEY]                                   StartSession() or StartSession(KEY)
 *   startmain KEY                                 StartSession(KEY) showing "main"
 *   startpresence                                 StartSession(StartParams{presence_start})
 *   end                                           EndSession
 *   connect | disconnect                          PresenceVisitor connect / disconnect
 *   presence NAME=VALUE ...                       presence(map)
 *   signal EVENT [NAME=VALUE ...]                 signalAgent(event, map)
 *   visible 0|1                                   signalVisibility
 *   enablerc 0|1                                  EnableRC(enable)
 *   pause 0|1                                     Pause(pause)
 *   info                                          GetSessionInfo, printed as
 *                                                 {"info":{"rc_enabled":..,"is_paused":..,"key":..}}
 *   quit
 * Every event is printed on stdout as one JSON line {"event":NAME,"message":..,"props":{..}};
 * every command's result as {"result":CODE,"cmd":NAME}. Values must not contain spaces.
 * A session shares the synthetic display when GLANCE_SYNTHETIC_DISPLAY is set, otherwise the
 * platform's main monitor (under X11: the screen of DISPLAY, e.g. an Xvfb). */
#include "glance.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void json_str(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void on_event(const GlanceEvent *e, void *user) {
  (void)user;
  pthread_mutex_lock(&out_lock);
  printf("{\"event\":");
  json_str(glance_event_code_name(glance_event_code(e)));
  printf(",\"message\":");
  json_str(glance_event_message(e));
  printf(",\"props\":{");
  size_t n = glance_event_property_count(e);
  for (size_t i = 0; i < n; i++) {
    const char *name = glance_event_property_name(e, i);
    if (i) putchar(',');
    json_str(name);
    putchar(':');
    json_str(glance_event_property(e, name));
  }
  printf("}}\n");
  fflush(stdout);
  pthread_mutex_unlock(&out_lock);
}

static void result(const char *cmd, GlanceResult r) {
  pthread_mutex_lock(&out_lock);
  printf("{\"result\":%d,\"cmd\":", (int)r);
  json_str(cmd);
  printf("}\n");
  fflush(stdout);
  pthread_mutex_unlock(&out_lock);
}

#define MAX_WORDS 32

/* Splits NAME=VALUE words into properties (pointing into the words). */
static size_t props_of(char **w, int n, GlanceProperty *out) {
  size_t k = 0;
  for (int i = 0; i < n && k < MAX_WORDS; i++) {
    char *eq = strchr(w[i], '=');
    if (!eq) continue;
    *eq = '\0';
    out[k].name = w[i];
    out[k].value = eq + 1;
    k++;
  }
  return k;
}

int main(void) {
  GlanceVisitor *v = glance_visitor_new(on_event, NULL);
  if (!v) {
    fprintf(stderr, "visitor_driver: glance_visitor_new failed\n");
    return 2;
  }
  char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = '\0';
    char *w[MAX_WORDS];
    int n = 0;
    for (char *t = strtok(line, " "); t && n < MAX_WORDS; t = strtok(NULL, " ")) w[n++] = t;
    if (n == 0) continue;
    const char *cmd = w[0];
    GlanceResult r = GLANCE_ERROR_INVALID_PARAMETER;
    GlanceProperty props[MAX_WORDS];
    if (strcmp(cmd, "quit") == 0) {
      break;
    } else if (strcmp(cmd, "init") == 0 && n >= 4) {
      GlanceVisitorConfig c;
      memset(&c, 0, sizeof c);
      c.group_id = atoi(w[1]);
      c.service_url = w[2];
      c.ca_cert_path = w[3];
      c.name = "C driver";
      c.visitor_id = n >= 5 ? w[4] : NULL;
      r = glance_visitor_init(v, &c);
    } else if (strcmp(cmd, "defaultui") == 0 && n == 2) {
      r = glance_visitor_set_default_ui(v, atoi(w[1]) != 0);
    } else if (strcmp(cmd, "start") == 0) {
      r = n >= 2 ? glance_visitor_start_session_key(v, w[1]) : glance_visitor_start_session(v);
    } else if (strcmp(cmd, "startmain") == 0 && n == 2) {
      /* StartSession(KEY) with displayName "main": the whole primary monitor, not only this
       * (windowless) program's own windows */
      GlanceStartParams sp;
      glance_start_params_init(&sp);
      sp.key = w[1];
      sp.display_params.display_name = "main";
      r = glance_visitor_start_session_params(v, &sp);
    } else if (strcmp(cmd, "startpresence") == 0) {
      GlanceStartParams sp;
      glance_start_params_init(&sp);
      sp.presence_start = true;
      r = glance_visitor_start_session_params(v, &sp);
    } else if (strcmp(cmd, "end") == 0) {
      r = glance_visitor_end_session(v);
    } else if (strcmp(cmd, "connect") == 0) {
      r = glance_presence_connect(v);
    } else if (strcmp(cmd, "disconnect") == 0) {
      r = glance_presence_disconnect(v);
    } else if (strcmp(cmd, "presence") == 0) {
      size_t k = props_of(w + 1, n - 1, props);
      r = glance_presence_send(v, props, k);
    } else if (strcmp(cmd, "signal") == 0 && n >= 2) {
      size_t k = props_of(w + 2, n - 2, props);
      r = glance_presence_signal_agent(v, w[1], props, k);
    } else if (strcmp(cmd, "visible") == 0 && n == 2) {
      r = glance_presence_signal_visibility(v, atoi(w[1]) != 0);
    } else if (strcmp(cmd, "enablerc") == 0 && n == 2) {
      r = glance_visitor_enable_rc(v, atoi(w[1]) != 0);
    } else if (strcmp(cmd, "pause") == 0 && n == 2) {
      r = glance_visitor_pause(v, atoi(w[1]) != 0);
    } else if (strcmp(cmd, "info") == 0) {
      GlanceSessionInfo info;
      memset(&info, 0, sizeof info);
      r = glance_visitor_get_session_info(v, &info);
      if (r == GLANCE_OK) {
        pthread_mutex_lock(&out_lock);
        printf("{\"info\":{\"rc_enabled\":%s,\"is_paused\":%s,\"key\":",
               info.rc_enabled ? "true" : "false", info.is_paused ? "true" : "false");
        json_str(info.key);
        printf("}}\n");
        fflush(stdout);
        pthread_mutex_unlock(&out_lock);
      }
    }
    result(cmd, r);
  }
  glance_visitor_free(v);
  return 0;
}
