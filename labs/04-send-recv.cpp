// Lab 4 — send and recv: TCP is a byte stream. Several sends come back as one recv; the queues
// grow while the reader pauses; a send_all() loop and length-prefixed framing give messages.
#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {

// Framing of our own: a 4-byte length in network order, then that many bytes.
std::string frame(std::string_view msg) {
    const std::uint32_t n = htonl(static_cast<std::uint32_t>(msg.size()));
    std::string out(reinterpret_cast<const char*>(&n), 4);
    out += msg;
    return out;
}

// Read exactly `len` bytes: recv() may return fewer than asked, so loop. (recv(MSG_WAITALL)
// does the same loop in the kernel, but can block for ever; the poll() bounds each wait so a
// lab never hangs.) The step's call text below is this loop, word for word.
constexpr std::string_view kReadExactText =
    "while (got < len) { poll(fd, POLLIN, 5000); got += recv(fd, buf + got, len - got, 0); }";
bool read_exact(int fd, char* buf, std::size_t len, int& recv_calls) {
    std::size_t got = 0;
    while (got < len) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return false;
        const ssize_t n = ::recv(fd, buf + got, len - got, 0);
        ++recv_calls;
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    Lab runner("send-recv", argc, argv);
    return runner.run(7, [](Lab& lab) {
        const auto port = lab.port();
        Connection c = connect_pair(lab, [](int listener) {
            // Small buffers make the queues fill after a few hundred KiB instead of many MiB.
            set_int_option(listener, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
        });
        const int cfd = c.client.get(), sfd = c.server.get();
        const auto cport = c.client_port;

        lab.step({.title = _("The client sends three times"),
                  .call = fmt::format("send({0}, \"GET \", 4, 0); send({0}, \"/index\", 6, 0); "
                                      "send({0}, \".html\\n\", 6, 0)",
                                      cfd),
                  .explain = _("Three send() calls, 16 bytes. Nobody has read them: they wait in "
                             "the server socket's receive queue (Recv-Q 16). TCP keeps no record "
                             "of where one send() ended and the next began."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 16}}},
                 [&] {
                     long total = 0;
                     for (const std::string_view part : {"GET ", "/index", ".html\n"}) {
                         const auto n = ::send(cfd, part.data(), part.size(), 0);
                         if (n < 0) return Result::of(-1);
                         total += n;
                     }
                     return Result::of(total, _("bytes in all"));
                 });

        lab.step({.title = _("The server reads once"),
                  .call = fmt::format("recv({}, buf, 4096, 0)", sfd),
                  .explain = _("One recv() returned all 16 bytes: the three sends came back as one "
                             "piece. A program that treats each recv() as one message is wrong; "
                             "it works in tests and breaks under load."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 0}},
                  .verify = [](const Result& r) {
                      return r.value == 16 ? std::string() : _("expected all 16 bytes in one recv()");
                  }},
                 [&] {
                     char buf[4096];
                     const auto n = ::recv(sfd, buf, sizeof buf, 0);
                     return Result::of(n, n > 0 ? fmt::format("\"{}\"", std::string(buf, static_cast<std::size_t>(n)).substr(0, 15) + "\\n")
                                                : std::string());
                 });

        long stuffed = 0;
        lab.step({.title = _("The reader pauses; the client sends until the kernel says EAGAIN"),
                  .call = fmt::format("send({}, buf, 65536, MSG_DONTWAIT) until -1 EAGAIN", cfd),
                  .explain = _("The server's receive buffer filled first (its Recv-Q), then the "
                             "client's send buffer (its Send-Q: sent, or not yet sent, and not "
                             "acknowledged). With both full, a blocking send() would wait; "
                             "MSG_DONTWAIT makes it fail with EAGAIN instead."),
                  .expect = expect_filled(port, cport)},
                 [&] { return fill_step(cfd, stuffed); });

        lab.step({.title = _("The server drains the stream"),
                  .call = fmt::format("recv({}, buf, 65536, 0) until {} bytes", sfd, stuffed),
                  .explain = _("As the reader empties its queue the kernel opens the window and "
                             "the rest flows over: both queues go back to 0."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 0},
                             {.local_port = cport, .remote_port = port, .state = "ESTABLISHED",
                              .send_q = 0}}},
                 [&] {
                     std::string buf(65536, '\0');
                     long got = 0;
                     while (got < stuffed) {
                         pollfd p{sfd, POLLIN, 0};
                         if (::poll(&p, 1, 5000) <= 0) break;
                         const auto n = ::recv(sfd, buf.data(), buf.size(), 0);
                         if (n <= 0) return Result::of(-1);
                         got += n;
                     }
                     return Result::of(got, _("bytes read"));
                 });

        const std::string framed = frame("안녕하세요") + frame(_("second message")) + frame("");
        lab.step({.title = _("Messages, done right: send_all() with a length prefix"),
                  .call = socklab::i18n::format(_("send_all({}, [len]\"안녕하세요\" [len]\"second message\" "
                                      "[len]\"\", {})"),
                                      cfd, framed.size()),
                  .explain = _("send() may accept fewer bytes than asked, so send_all() loops "
                             "until everything is queued. Each message carries its length in 4 "
                             "bytes (network order): the reader knows where it ends."),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = static_cast<std::uint32_t>(framed.size())}}},
                 [&] { return send_all(cfd, framed); });

        lab.step({.title = _("The reader takes the messages back out"),
                  .call = socklab::i18n::format(_("read_exact({0}, hdr, 4); read_exact({0}, msg, len) — three "
                                      "times, where read_exact is: {1}"),
                                      sfd, kReadExactText),
                  .explain = _("Read the 4-byte length, then exactly that many bytes: the message "
                             "boundaries are back, whatever way the bytes were split on the way. "
                             "The loop is the point: one recv() may return part of what you "
                             "asked for. (recv() with MSG_WAITALL loops in the kernel instead, "
                             "but a signal or an error can still cut it short.)"),
                  .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED",
                              .recv_q = 0}},
                  .verify = [](const Result& r) {
                      return r.detail.starts_with(_("[\"안녕하세요\", \"second message\", \"\"]"))
                                 ? std::string()
                                 : _("the three messages did not come back intact");
                  }},
                 [&] {
                     std::vector<std::string> msgs;
                     int recv_calls = 0;
                     for (int i = 0; i < 3; ++i) {
                         std::uint32_t len = 0;
                         if (!read_exact(sfd, reinterpret_cast<char*>(&len), 4, recv_calls))
                             return Result::of(-1);
                         std::string msg(ntohl(len), '\0');
                         if (!read_exact(sfd, msg.data(), msg.size(), recv_calls))
                             return Result::of(-1);
                         msgs.push_back("\"" + msg + "\"");
                     }
                     return Result::of(3, fmt::format("[{}] in {} recv() calls",
                                                      fmt::join(msgs, ", "), recv_calls));
                 });
    });
}
