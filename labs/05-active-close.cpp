// Lab 5 — active close: the side that sends the first FIN goes FIN_WAIT1 → FIN_WAIT2 → TIME_WAIT;
// the other side sits in CLOSE_WAIT until it closes too, passing through LAST_ACK.
#include <unistd.h>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("active-close", argc, argv);
    return runner.run(5, [](Lab& lab) {
        const auto port = lab.port();
        Connection c = connect_pair(lab);
        const auto cport = c.client_port;

        lab.step({.title = _("The client closes first (the active close)"),
                  .call = fmt::format("close({})", c.client.get()),
                  .explain = _("close() sent FIN: the client went to FIN_WAIT1, and as soon as the "
                             "server's kernel ACKed the FIN, to FIN_WAIT2 (on loopback within "
                             "microseconds; only the tracer sees FIN_WAIT1). The server side "
                             "received the FIN and is now CLOSE_WAIT: the kernel waits for the "
                             "server program to close too. The client's FIN_WAIT2 has no "
                             "descriptor any more: the kernel keeps it alone."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2"},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::close(c.client.release())); });

        lab.step({.title = _("The server reads: end of stream"),
                  .call = fmt::format("recv({}, buf, 4096, 0)", c.server.get()),
                  .explain = _("recv() returning 0 is how the FIN reaches a program: the peer will "
                             "send nothing more. Reading it changes no state — the server is "
                             "still CLOSE_WAIT until it calls close()."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}},
                  .verify = [](const Result& r) {
                      return r.value == 0 ? std::string() : _("recv() should return 0 (EOF)");
                  }},
                 [&] {
                     char buf[4096];
                     return Result::of(::recv(c.server.get(), buf, sizeof buf, 0));
                 });

        lab.step({.title = _("The server closes too (the passive close)"),
                  .call = fmt::format("close({})", c.server.get()),
                  .explain = _("The server sent its FIN and went to LAST_ACK; the client's ACK "
                             "ended it (microseconds on loopback). The client, which sent the "
                             "first FIN, received that FIN and is now TIME_WAIT: it keeps the "
                             "connection's four numbers for 60 s (TCP_TIMEWAIT_LEN) for two "
                             "reasons (RFC 9293 §3.3.2): if its last ACK is lost, the server "
                             "retransmits its FIN and TIME_WAIT can acknowledge it again; and a "
                             "late duplicate packet cannot be taken for a new connection. Watch "
                             "the timer count down."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT"},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT",
                              .absent = true},
                             {.local_port = port, .remote_port = cport, .state = "LAST_ACK",
                              .absent = true}}},
                 [&] { return Result::of(::close(c.server.release())); });

        lab.step({.title = _("Close the listener"),
                  .call = fmt::format("close({})", c.listener.get()),
                  .explain = _("TIME_WAIT belongs to no process: ss -p, lsof and fuser name nobody, "
                             "and it outlives this program. It will vanish by itself when the "
                             "timer runs out."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true},
                             {.local_port = cport, .remote_port = port, .state = "TIME_WAIT",
                              .kernel_only = true}}},
                 [&] { return Result::of(::close(c.listener.release())); });
    });
}
