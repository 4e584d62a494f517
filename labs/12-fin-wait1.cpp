// Lab 12 — FIN_WAIT1: the peer never reads. Fill both buffers until EAGAIN, then
// shutdown(SHUT_WR): the FIN queues behind the data and the closer is held in FIN_WAIT1.
#include <poll.h>
#include <unistd.h>

#include <string>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

int main(int argc, char** argv) {
    Lab runner("fin-wait1", argc, argv);
    return runner.run(6, [](Lab& lab) {
        const auto port = lab.port();
        Connection c = connect_pair(lab, [](int listener) {
            // Small buffers: a few hundred KiB fill them (the accepted socket inherits this).
            set_int_option(listener, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
        });
        const auto cport = c.client_port;
        const int cfd = c.client.get(), sfd = c.server.get();
        long stuffed = 0;

        lab.step({.title = _("The client sends until both buffers are full"),
                  .call = fmt::format("send({}, buf, 65536, MSG_DONTWAIT) until -1 EAGAIN", cfd),
                  .explain = _("The server never reads. Its receive queue filled and its window "
                             "closed (zero window); then the client's send queue filled. Both "
                             "queues are full."),
                  .expect = expect_filled(port, cport)},
                 [&] { return fill_step(cfd, stuffed); });

        lab.step({.title = _("The client shuts down writing"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", cfd),
                  .explain = _("The client is FIN_WAIT1 at once, but its FIN is queued behind "
                             "the unsent data and the peer's window is zero: the FIN cannot "
                             "go out, so it cannot be acknowledged. The client is held in "
                             "FIN_WAIT1, probing the zero window."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT1",
                              .min_send_q = 1},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED"}}},
                 [&] { return Result::of(::shutdown(cfd, SHUT_WR)); });

        lab.step({.title = _("Still FIN_WAIT1 a moment later"),
                  .call = _("(no call: look again)"),
                  .explain = _("Nothing changes while the server does not read. A close() here "
                             "instead of shutdown() would leave an orphan in FIN_WAIT1 that the "
                             "kernel gives up on after tcp_orphan_retries probes."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT1"},
                             {.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .min_recv_q = 1}}},
                 [&] { return Result::note(_("(looking)")); });

        lab.step({.title = _("The server finally reads everything"),
                  .call = socklab::i18n::format(_("recv({}, buf, 65536, 0) until it returns 0"), sfd),
                  .explain = _("Reading opened the window; the data, then the FIN, went through. "
                             "Client FIN_WAIT2, server CLOSE_WAIT: the end of stream reached "
                             "the server after the last byte."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2"},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}},
                  .verify = [&](const Result& r) {
                      return r.value == stuffed ? std::string() : _("every byte should arrive");
                  }},
                 [&] {
                     std::string buf(65536, '\0');
                     long got = 0;
                     for (;;) {
                         pollfd p{sfd, POLLIN, 0};
                         if (::poll(&p, 1, 5000) <= 0) return Result::of(-1, _("(timed out)"));
                         const auto n = ::recv(sfd, buf.data(), buf.size(), 0);
                         if (n < 0) return Result::of(-1);
                         if (n == 0) break;
                         got += n;
                     }
                     return Result::of(got, _("bytes, then 0 (EOF)"));
                 });

        lab.step({.title = _("The server closes"),
                  .call = fmt::format("close({})", sfd),
                  .explain = _("LAST_ACK on the server for a moment, then TIME_WAIT on the client, "
                             "which closed first."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT"}}},
                 [&] { return Result::of(::close(c.server.release())); });
    });
}
