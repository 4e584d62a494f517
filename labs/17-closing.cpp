// Lab 17 — CLOSING and LAST_ACK, each held for as long as the lab likes without dropping a
// packet: a FIN waits behind data the peer does not read (zero window), so it cannot be sent,
// so it cannot be acknowledged.
#include <poll.h>
#include <unistd.h>

#include <string>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
constexpr int kBuffer = 65536;

void small_buffers(int fd) {
    set_int_option(fd, SOL_SOCKET, SO_RCVBUF, kBuffer, "SO_RCVBUF");
    set_int_option(fd, SOL_SOCKET, SO_SNDBUF, kBuffer, "SO_SNDBUF");
}

// recv() until it returns 0 (bounded: 5 s without data ends it).
Result read_to_eof(int fd) {
    std::string buf(65536, '\0');
    long got = 0;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return Result::of(-1, _("(timed out)"));
        const auto n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0) return Result::of(-1);
        if (n == 0) break;
        got += n;
    }
    return Result::of(got, _("bytes, then 0 (end of stream)"));
}

std::string expect_state(int fd, const char* state) {
    const auto s = tcp_info_state(fd);
    return s == state ? std::string()
                      : i18n::format(_("TCP_INFO says {}, not {}"), s, state);
}
}  // namespace

int main(int argc, char** argv) {
    Lab runner("closing", argc, argv);
    return runner.run(13, [](Lab& lab) {
        const auto port = lab.port();
        // Small buffers on the listener (the accepted sockets inherit them) and on each client:
        // a few hundred KiB fill them.
        Connection c = connect_pair(lab, small_buffers);
        small_buffers(c.client.get());
        const auto cport = c.client_port;
        const int cfd = c.client.get(), sfd = c.server.get();
        long stuffed = 0;

        // ---- LAST_ACK ----
        lab.step({.title = _("The client shuts down writing and will never read"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", cfd),
                  .explain = _("The client's FIN went out and was acknowledged: client "
                               "FIN_WAIT2, server CLOSE_WAIT. The server may still send; the "
                               "client will not read what it sends."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "FIN_WAIT2"},
                             {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT"}}},
                 [&] { return Result::of(::shutdown(cfd, SHUT_WR)); });

        lab.step({.title = _("The server sends until both buffers are full"),
                  .call = fmt::format("send({}, buf, 65536, MSG_DONTWAIT) until -1 EAGAIN", sfd),
                  .explain = _("The client's receive queue filled and it advertised a zero "
                               "window; then the server's send queue filled. Nothing more can "
                               "move from the server to the client."),
                  .expect = expect_filled(cport, port, "FIN_WAIT2", "CLOSE_WAIT")},
                 [&] { return fill_step(sfd, stuffed); });

        lab.step({.title = _("The server shuts down writing: LAST_ACK"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", sfd),
                  .explain = _("CLOSE_WAIT + close or shutdown = LAST_ACK (RFC 9293 §3.10.4). The "
                               "server's FIN takes the sequence number after its last data byte, "
                               "so it waits at the end of the send queue; the client's window is "
                               "zero, so the FIN cannot be sent, and a FIN that is not sent is "
                               "never acknowledged. The server is held in LAST_ACK."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "LAST_ACK",
                              .min_send_q = 1},
                             {.local_port = cport, .remote_port = port, .state = "FIN_WAIT2"}},
                  .verify = [&](const Result&) { return expect_state(sfd, "LAST_ACK"); }},
                 [&] { return Result::of(::shutdown(sfd, SHUT_WR)); });

        lab.step({.title = _("Still LAST_ACK a moment later"),
                  .call = _("(no call: look again)"),
                  .explain = _("Nothing moves while the client does not read: the server probes "
                               "the zero window (RFC 9293 §3.8.6.1), the client answers each "
                               "probe with window 0, and no packet is lost. `ss -tan state "
                               "last-ack` shows the row for as long as you wait."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "LAST_ACK",
                              .min_send_q = 1}},
                  .verify = [&](const Result&) { return expect_state(sfd, "LAST_ACK"); }},
                 [&] { return Result::note(_("(looking)")); });

        lab.step({.title = _("The client finally reads everything"),
                  .call = socklab::i18n::format(_("recv({}, buf, 65536, 0) until it returns 0"), cfd),
                  .explain = _("Reading opened the window: the data went through, then the "
                               "server's FIN. The client acknowledged it and went to TIME_WAIT; "
                               "that ACK ended the server's LAST_ACK, so the server's socket is "
                               "CLOSED (TCP_INFO: CLOSE) and no longer in the table."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT"},
                             {.local_port = port, .remote_port = cport, .state = "LAST_ACK",
                              .absent = true}},
                  .verify = [&](const Result& r) {
                      if (r.value != stuffed) return std::string(_("every byte should arrive"));
                      return expect_state(sfd, "CLOSE");
                  }},
                 [&] { return read_to_eof(cfd); });

        lab.step({.title = _("Close both descriptors"),
                  .call = fmt::format("close({}); close({})", sfd, cfd),
                  .explain = _("Both sockets were already finished; close() only frees the "
                               "descriptors. The client's TIME_WAIT stays, owned by nobody."),
                  .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT",
                              .kernel_only = true}}},
                 [&] {
                     const int a = ::close(c.server.release());
                     const int b = ::close(c.client.release());
                     return Result::of(a != 0 ? a : b);
                 });

        // ---- CLOSING ----
        Pair second = connect_again(
            lab, c.listener.get(), _("A second connection, for CLOSING"),
            _("CLOSING is reached when our FIN is still unacknowledged as the peer's FIN "
              "arrives. Both ends send FIN; one of them must wait for the ACK of its own."));
        small_buffers(second.client.get());
        const auto cport2 = second.client_port;
        const int cfd2 = second.client.get(), sfd2 = second.server.get();

        lab.step({.title = _("The client sends until both buffers are full"),
                  .call = fmt::format("send({}, buf, 65536, MSG_DONTWAIT) until -1 EAGAIN", cfd2),
                  .explain = _("The server does not read: its receive queue filled, its window "
                               "closed, then the client's send queue filled."),
                  .expect = expect_filled(port, cport2)},
                 [&] { return fill_step(cfd2, stuffed); });

        lab.step({.title = _("The client shuts down writing: its FIN is stuck"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", cfd2),
                  .explain = _("As in lab 12: the client is FIN_WAIT1, and its FIN waits behind "
                               "data the server's zero window does not let through. The server "
                               "has not seen the FIN, so it is still ESTABLISHED."),
                  .expect = {{.local_port = cport2, .remote_port = port, .state = "FIN_WAIT1",
                              .min_send_q = 1},
                             {.local_port = port, .remote_port = cport2,
                              .state = "ESTABLISHED"}}},
                 [&] { return Result::of(::shutdown(cfd2, SHUT_WR)); });

        lab.step({.title = _("The server shuts down writing too: CLOSING"),
                  .call = fmt::format("shutdown({}, SHUT_WR)", sfd2),
                  .explain = _("The server's send queue is empty, so its FIN goes out at once, "
                               "and the client's window for it is open. The client receives a "
                               "FIN while its own FIN is unacknowledged: FIN_WAIT1 + FIN = "
                               "CLOSING (RFC 9293 §3.10.7.4). It acknowledges the server's FIN, "
                               "so the server is FIN_WAIT2. Both sent FIN; the client is held "
                               "in CLOSING because its own FIN cannot be sent."),
                  .expect = {{.local_port = cport2, .remote_port = port, .state = "CLOSING",
                              .min_send_q = 1},
                             {.local_port = port, .remote_port = cport2, .state = "FIN_WAIT2",
                              .min_recv_q = 1}},
                  .verify = [&](const Result&) { return expect_state(cfd2, "CLOSING"); }},
                 [&] { return Result::of(::shutdown(sfd2, SHUT_WR)); });

        lab.step({.title = _("Still CLOSING a moment later"),
                  .call = _("(no call: look again)"),
                  .explain = _("On a real network CLOSING lasts one round trip. Here it lasts "
                               "as long as the server does not read: `ss -tan state closing` "
                               "shows it."),
                  .expect = {{.local_port = cport2, .remote_port = port, .state = "CLOSING"}},
                  .verify = [&](const Result&) { return expect_state(cfd2, "CLOSING"); }},
                 [&] { return Result::note(_("(looking)")); });

        lab.step({.title = _("The server reads everything: both ends TIME_WAIT"),
                  .call = socklab::i18n::format(_("recv({}, buf, 65536, 0) until it returns 0"), sfd2),
                  .explain = _("The window opened, the data and the client's FIN arrived. The "
                               "server, in FIN_WAIT2, acknowledged the FIN and went to "
                               "TIME_WAIT; that ACK took the client from CLOSING to TIME_WAIT. "
                               "Both ends sent a FIN, so both ends keep a TIME_WAIT."),
                  .expect = {{.local_port = cport2, .remote_port = port, .state = "TIME_WAIT"},
                             {.local_port = port, .remote_port = cport2, .state = "TIME_WAIT"}},
                  .verify = [&](const Result& r) {
                      return r.value == stuffed ? std::string()
                                                : std::string(_("every byte should arrive"));
                  }},
                 [&] { return read_to_eof(sfd2); });
    });
}
