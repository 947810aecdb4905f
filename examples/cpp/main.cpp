// examples/cpp: the console visitor of examples/c, with the C++ wrapper (bindings/cpp).
//
//   glance_example_cpp SERVICE_URL [CA_CERT_PEM] [GROUP_ID]
#include <atomic>
#include <csignal>
#include <iostream>
#include <sys/select.h>
#include <unistd.h>

#include "glance.hpp"

static std::atomic<bool> stop{false};
static std::atomic<bool> ended{false};

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " SERVICE_URL [CA_CERT_PEM] [GROUP_ID]\n";
    return 2;
  }
  std::signal(SIGINT, [](int) { stop = true; });
  std::signal(SIGTERM, [](int) { stop = true; });
  try {
    glance::Visitor v([](const glance::Event &e) {
      std::cout << "[" << e.name() << "] " << e.message << "\n";
      for (const auto &p : e.properties) std::cout << "    " << p.first << " = " << p.second << "\n";
      if (e.code == EventConnectedToSession)
        std::cout << "\n    >>> Read this key to the agent: " << e.property("sessionkey").value_or("")
                  << " <<<\n\n";
      if (e.code == EventSessionEnded) ended = true;
      std::cout.flush();
    });
    glance::Config cfg;
    cfg.groupId = argc > 3 ? std::atoi(argv[3]) : 1;
    cfg.name = "Example Visitor";
    cfg.serviceUrl = argv[1];
    if (argc > 2) cfg.caCertPath = argv[2];
    v.init(cfg);
    v.startSession(GLANCE_KEYTYPE_RANDOM);
    std::cout << "Press Enter or Ctrl-C to end the session." << std::endl;
    while (!stop && !ended) {
      fd_set fds;
      FD_ZERO(&fds);
      FD_SET(0, &fds);
      timeval tv{0, 200000};
      if (select(1, &fds, nullptr, nullptr, &tv) > 0) break;
    }
    if (!ended) v.endSession();
  } catch (const glance::Error &e) {
    std::cerr << "glance: " << e.what() << "\n";
    return 1;
  }  // the destructor frees the visitor after EventSessionEnded
  return 0;
}
