// Lab 21 — a server for many clients in one thread: a non-blocking listener and a poll()
// loop, a line broadcast to every other client, a slow reader whose send() ends in EAGAIN,
// and the per-client queue the server keeps instead of blocking, drained on POLLOUT.
//
// The lab plays the server and its three clients (A, B, C) in one thread, one call after the
// other, so every step is repeatable and the table holds still between steps. The server's
// side is written the way a real poll() server is: it never makes a call that can wait —
// accept() on a non-blocking listener, recv() and send() with MSG_DONTWAIT — and it keeps, per
// client, the bytes the kernel would not take yet.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {
constexpr int kClients = 3;
// C's buffers, made small so that they fill after tens of KiB instead of megabytes (the
// kernel doubles the value it is given, socket(7)).
constexpr int kSmallBuffer = 16384;
constexpr std::size_t kLine = 64;     // A's paste: numbered lines of 64 bytes
constexpr std::size_t kChunk = 16384;  // sent by A 256 lines at a time
constexpr int kMaxChunks = 256;        // bound: 4 MiB, far more than C's buffers hold

// `message` is a whole sentence with one {} for strerror(errno).
[[noreturn]] void fail(const char* message) {
    throw Stop{Stop::Why::failed, i18n::format(message, std::strerror(errno))};
}

// The server's view of one client: its socket, and the bytes the kernel has not taken yet.
struct Client {
    char name = '?';
    UniqueFd own;     // the client's own socket (the lab plays the client too)
    UniqueFd server;  // the server's accepted socket for it
    std::uint16_t port = 0;
    std::string queue;  // bytes for this client that send() could not hand to the kernel yet
    std::string got;    // what the client has read so far (checked against what was sent)
};

std::string quote_bytes(const std::string& bytes) {
    std::string s = "\"";
    for (const char c : bytes) s += c == '\n' ? std::string("\\n") : std::string(1, c);
    return s + "\"";
}

std::string events_text(short ev) {
    std::string s;
    for (const auto& [bit, name] : {std::pair{POLLIN, "POLLIN"}, std::pair{POLLOUT, "POLLOUT"},
                                    std::pair{POLLERR, "POLLERR"}, std::pair{POLLHUP, "POLLHUP"},
                                    std::pair{POLLNVAL, "POLLNVAL"}})
        if (ev & bit) s += (s.empty() ? "" : "|") + std::string(name);
    return s.empty() ? "0" : s;
}

// Read what the client's socket holds now (never waits). Returns -1 on an error, else bytes.
long read_available(Client& c) {
    char buf[65536];
    long total = 0;
    for (int i = 0; i < 4096; ++i) {
        const auto n = ::recv(c.own.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN ? total : -1;
        if (n == 0) break;
        c.got.append(buf, static_cast<std::size_t>(n));
        total += n;
    }
    return total;
}

// The server hands bytes to one client: behind its queue if it has one (never around it: that
// would reorder the stream), else send() with MSG_DONTWAIT until all is taken or EAGAIN, the
// rest into the queue. Returns true when this delivery met EAGAIN.
bool deliver(Client& c, std::string_view bytes) {
    if (!c.queue.empty()) {
        c.queue.append(bytes);
        return false;
    }
    while (!bytes.empty()) {
        const auto n = ::send(c.server.get(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN) fail(_("failed to send to a client: {}"));
            c.queue.assign(bytes);
            return true;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return false;
}

// POLLOUT came: send from the queue until it is empty or EAGAIN. Returns the bytes taken.
long flush(Client& c) {
    long total = 0;
    while (!c.queue.empty()) {
        const auto n =
            ::send(c.server.get(), c.queue.data(), c.queue.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN) fail(_("failed to send to a client: {}"));
            break;
        }
        c.queue.erase(0, static_cast<std::size_t>(n));
        total += n;
    }
    return total;
}

bool nonblocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

int int_option(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    if (::getsockopt(fd, level, name, &v, &len) != 0) return -1;
    return v;
}

// The numbered lines of A's paste, chunk `i`.
std::string paste_chunk(int i) {
    std::string out;
    for (std::size_t k = 0; k < kChunk / kLine; ++k) {
        auto line = fmt::format("A: line {:06} ", i * static_cast<int>(kChunk / kLine) + static_cast<int>(k));
        line.resize(kLine - 1, '.');
        out += line + '\n';
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    Lab runner("poll-server", argc, argv);
    return runner.run(19, [](Lab& lab) {
        const auto port = lab.port();
        const Endpoint ep = lab.endpoint();
        UniqueFd listener;
        std::vector<Client> clients(kClients);
        for (int i = 0; i < kClients; ++i) clients[i].name = static_cast<char>('A' + i);
        Client& a = clients[0];
        Client& b = clients[1];
        Client& c = clients[2];

        // The poll set of the server: the listener, then each client it has; POLLOUT only for a
        // client whose queue holds bytes. Returns poll()'s result and its revents by fd.
        std::vector<pollfd> last;
        auto poll_set = [&] {
            std::vector<pollfd> set{{listener.get(), POLLIN, 0}};
            for (auto& cl : clients)
                if (cl.server)
                    set.push_back({cl.server.get(),
                                   static_cast<short>(POLLIN | (cl.queue.empty() ? 0 : POLLOUT)), 0});
            return set;
        };
        auto poll_call_text = [&](int timeout) {
            std::string s = "poll([";
            const auto set = poll_set();
            for (std::size_t i = 0; i < set.size(); ++i)
                s += fmt::format("{}{{{}, {}}}", i ? ", " : "", set[i].fd, events_text(set[i].events));
            return s + fmt::format("], {}, {})", set.size(), timeout);
        };
        auto name_of = [&](int fd) -> std::string {
            if (fd == listener.get()) return _("listener");
            for (auto& cl : clients)
                if (cl.server.get() == fd) return std::string(1, cl.name);
            return "?";
        };
        auto do_poll = [&](int timeout) {
            last = poll_set();
            const int n = ::poll(last.data(), last.size(), timeout);
            if (n < 0) return Result::of(-1);
            std::string detail;
            for (const auto& p : last)
                if (p.revents)
                    detail += fmt::format("{}fd {} ({}): {}", detail.empty() ? "" : "; ", p.fd,
                                          name_of(p.fd), events_text(p.revents));
            return Result::of(n, detail);
        };
        // Which descriptors poll() reported, and with what, as one text: "A:POLLIN".
        auto reported = [&] {
            std::string s;
            for (const auto& p : last)
                if (p.revents)
                    s += (s.empty() ? "" : " ") + name_of(p.fd) + ":" + events_text(p.revents);
            return s;
        };
        auto poll_says = [&](const std::string& want) {
            return [&, want](const Result&) {
                const auto got = reported();
                return got == want ? std::string()
                                   : i18n::format(_("poll() reported {}, not {}"),
                                                  got.empty() ? _("nothing") : got,
                                                  want.empty() ? _("nothing") : want);
            };
        };
        auto established = [&](const Client& cl) {
            return std::vector<Expect>{
                {.local_port = cl.port, .remote_port = port, .state = "ESTABLISHED"},
                {.local_port = port, .remote_port = cl.port, .state = "ESTABLISHED"}};
        };

        // ---- a non-blocking listener ----
        lab.step({.title = _("A non-blocking listener"),
                  .call = fmt::format("socket({}, SOCK_STREAM | SOCK_NONBLOCK, 0); "
                                      "setsockopt(SO_REUSEADDR); bind({}); listen(fd, 16)",
                                      ep.family_name(), ep.str()),
                  .explain = _("SOCK_NONBLOCK marks the listener non-blocking (O_NONBLOCK, "
                               "socket(2)). A server that serves many clients from one thread "
                               "must never make a call that waits: while it waits for one "
                               "client, every other client waits too."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}},
                  .verify = [&](const Result&) {
                      return nonblocking(listener.get()) ? std::string()
                                                         : _("the listener is not O_NONBLOCK");
                  }},
                 [&] {
                     listener.reset(::socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK, 0));
                     if (!listener) return Result::of(-1);
                     set_int_option(listener.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
                     if (::bind(listener.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                     return Result::of(::listen(listener.get(), 16));
                 });

        lab.step({.title = _("accept() with nobody waiting: EAGAIN"),
                  .call = fmt::format("accept({}, NULL, NULL)", listener.get()),
                  .explain = _("No connection is in the accept queue, and the listener is "
                               "non-blocking: accept() fails at once with EAGAIN (accept(2): "
                               "\"The socket is marked nonblocking and no connections are present "
                               "to be accepted.\"). A blocking listener would sit in accept() "
                               "here."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}},
                  .fails_with = EAGAIN},
                 [&] { return Result::of(::accept(listener.get(), nullptr, nullptr)); });

        lab.step({.title = i18n::format(_("{} clients connect: A, B and C"), kClients),
                  .call = i18n::format(_("{} × (socket(); connect({})), C with "
                                         "setsockopt(SO_RCVBUF, {}) first"),
                                       kClients, ep.str(), kSmallBuffer),
                  .explain = i18n::format(
                      _("The kernel completes each handshake on its own and queues the "
                        "connection: the listener's Recv-Q is {}, nobody has called accept() yet. "
                        "C asks for a small receive buffer (SO_RCVBUF, before connect(): the "
                        "window scale is chosen in the handshake), so that later it fills after "
                        "a few KiB."),
                      kClients),
                  .expect = {{.local_port = port, .state = "LISTEN",
                              .recv_q = static_cast<std::uint32_t>(kClients)}},
                  .expect_after = [&] {
                      std::vector<Expect> e;
                      for (const auto& cl : clients)
                          e.push_back({.local_port = cl.port, .remote_port = port,
                                       .state = "ESTABLISHED"});
                      return e;
                  }},
                 [&] {
                     std::string ports;
                     for (auto& cl : clients) {
                         cl.own.reset(::socket(ep.family, SOCK_STREAM, 0));
                         if (!cl.own) return Result::of(-1);
                         if (&cl == &c)
                             set_int_option(cl.own.get(), SOL_SOCKET, SO_RCVBUF, kSmallBuffer,
                                            "SO_RCVBUF");
                         if (::connect(cl.own.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                         cl.port = local_port_of(cl.own.get());
                         ports += fmt::format("{}{} :{}", ports.empty() ? "" : ", ", cl.name, cl.port);
                     }
                     return Result::of(0, ports);
                 });

        // ---- the poll loop accepts ----
        lab.step({.title = _("poll(): the listener is readable"),
                  .call = poll_call_text(1000),
                  .explain = _("poll() waits until one of its descriptors is ready. POLLIN on a "
                               "listener means a connection is waiting in its accept queue: "
                               "accept() will not fail with EAGAIN now."),
                  .expect = {{.local_port = port, .state = "LISTEN",
                              .recv_q = static_cast<std::uint32_t>(kClients)}},
                  .verify = poll_says(_("listener") + std::string(":POLLIN"))},
                 [&] { return do_poll(1000); });

        lab.step({.title = _("accept() until EAGAIN"),
                  .call = i18n::format(_("accept({}, NULL, NULL) until -1 EAGAIN; "
                                         "setsockopt(<C's socket>, SO_SNDBUF, {})"),
                                       listener.get(), kSmallBuffer),
                  .explain = _("One POLLIN may stand for several connections, so a poll() server "
                               "accepts until EAGAIN: the queue is empty (Recv-Q 0). On Linux "
                               "the accepted sockets do not inherit O_NONBLOCK from the listener "
                               "(accept(2), NOTES): this server passes MSG_DONTWAIT to every "
                               "send() and recv() on them instead. C's socket on the server gets "
                               "a small send buffer too; the kernel doubles the value it is "
                               "given (socket(7), SO_SNDBUF)."),
                  .expect = {{.local_port = port, .state = "LISTEN", .recv_q = 0}},
                  .fails_with = EAGAIN,
                  .verify = [&](const Result&) {
                      for (const auto& cl : clients) {
                          if (!cl.server)
                              return i18n::format(_("client {} was not accepted"), cl.name);
                          if (nonblocking(cl.server.get()))
                              return i18n::format(_("the accepted socket for {} is O_NONBLOCK"),
                                                  cl.name);
                      }
                      const int doubled = int_option(c.server.get(), SOL_SOCKET, SO_SNDBUF);
                      return doubled == 2 * kSmallBuffer
                                 ? std::string()
                                 : i18n::format(_("SO_SNDBUF reads back {}, not {}"), doubled,
                                                2 * kSmallBuffer);
                  },
                  .expect_after = [&] {
                      std::vector<Expect> e;
                      for (const auto& cl : clients)
                          e.push_back({.local_port = port, .remote_port = cl.port,
                                       .state = "ESTABLISHED"});
                      return e;
                  }},
                 [&] {
                     std::string accepted;
                     for (int i = 0; i < 16; ++i) {
                         UniqueFd fd(::accept(listener.get(), nullptr, nullptr));
                         if (!fd) break;
                         const auto peer = peer_port_of(fd.get());
                         for (auto& cl : clients)
                             if (cl.port == peer && !cl.server) {
                                 accepted += fmt::format("{}fd {} ({})", accepted.empty() ? "" : ", ",
                                                         fd.get(), cl.name);
                                 cl.server = std::move(fd);
                             }
                     }
                     const int saved = errno;
                     if (c.server)
                         set_int_option(c.server.get(), SOL_SOCKET, SO_SNDBUF, kSmallBuffer,
                                        "SO_SNDBUF");
                     errno = saved;
                     return Result::of(-1, i18n::format(_("after {}; C's SO_SNDBUF reads back {}"),
                                                        accepted,
                                                        c.server ? int_option(c.server.get(),
                                                                              SOL_SOCKET, SO_SNDBUF)
                                                                 : 0));
                 });

        // ---- broadcast ----
        const std::string hello = _("hello from A\n");
        lab.step({.title = _("A sends a line"),
                  .call = fmt::format("send({}, {}, {}, 0)", a.own.get(), quote_bytes(hello), hello.size()),
                  .explain = i18n::format(_("The line waits in the receive queue of the server's "
                                            "socket for A (Recv-Q {}) until the server reads it."),
                                          hello.size()),
                  .expect = {{.local_port = port, .remote_port = a.port, .state = "ESTABLISHED",
                              .recv_q = static_cast<std::uint32_t>(hello.size())}}},
                 [&] { return Result::of(::send(a.own.get(), hello.data(), hello.size(), 0)); });

        lab.step({.title = _("poll() over the listener and every client"),
                  .call = poll_call_text(1000),
                  .explain = _("One call watches all four descriptors. poll() returns how many "
                               "are ready (1) and sets revents on each: only A's socket has "
                               "something to read."),
                  .expect = {},
                  .verify = poll_says("A:POLLIN")},
                 [&] { return do_poll(1000); });

        std::string line;
        lab.step({.title = _("recv() A's line and send it to every other client"),
                  .call = fmt::format("recv({0}, buf, 4096, MSG_DONTWAIT); send({1}, buf, {3}, "
                                      "MSG_DONTWAIT); send({2}, buf, {3}, MSG_DONTWAIT)",
                                      a.server.get(), b.server.get(), c.server.get(), hello.size()),
                  .explain = i18n::format(
                      _("A broadcast: what one client says goes to every client but the sender. "
                        "Each send() only copies the bytes into that socket's send buffer; on "
                        "loopback they reach B's and C's receive queues at once (Recv-Q {}), "
                        "where they wait until B and C read."),
                      hello.size()),
                  .expect = {{.local_port = port, .remote_port = a.port, .state = "ESTABLISHED",
                              .recv_q = 0},
                             {.local_port = b.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = static_cast<std::uint32_t>(hello.size())},
                             {.local_port = c.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = static_cast<std::uint32_t>(hello.size())}},
                  .verify = [&](const Result&) {
                      return line == hello ? std::string() : i18n::format(_("read {}"), quote_bytes(line));
                  }},
                 [&] {
                     char buf[4096];
                     const auto n = ::recv(a.server.get(), buf, sizeof buf, MSG_DONTWAIT);
                     if (n <= 0) return Result::of(n);
                     line.assign(buf, static_cast<std::size_t>(n));
                     deliver(b, line);
                     deliver(c, line);
                     return Result::of(n, i18n::format(_("{} to B and to C"), quote_bytes(line)));
                 });

        lab.step({.title = _("B and C read the line"),
                  .call = fmt::format("recv({}, buf, 65536, MSG_DONTWAIT); recv({}, buf, 65536, "
                                      "MSG_DONTWAIT)",
                                      b.own.get(), c.own.get()),
                  .explain = i18n::format(_("The same {} bytes arrived at both: the queues are "
                                            "empty again."),
                                          hello.size()),
                  .expect = {{.local_port = b.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = 0},
                             {.local_port = c.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = 0}},
                  .verify = [&](const Result&) {
                      return b.got == hello && c.got == hello ? std::string()
                                                               : _("B and C did not both read the line");
                  }},
                 [&] {
                     if (read_available(b) < 0 || read_available(c) < 0) return Result::of(-1);
                     return Result::of(static_cast<long>(b.got.size()),
                                       fmt::format("B: {}, C: {}", quote_bytes(b.got), quote_bytes(c.got)));
                 });
        b.got.clear();
        c.got.clear();

        // ---- the slow reader ----
        std::string pasted;  // every byte A sent in its paste
        long relayed = 0, c_taken = 0;
        lab.step({.title = _("C stops reading; A pastes a long text"),
                  .call = i18n::format(
                      _("loop: send({0}, 16 KiB of lines, 0); poll(); recv({1}, buf, 65536, "
                        "MSG_DONTWAIT); send({2}, …, MSG_DONTWAIT); send({3}, …, MSG_DONTWAIT); "
                        "B: recv({4}) — until send({3}) fails"),
                      a.own.get(), a.server.get(), b.server.get(), c.server.get(), b.own.get()),
                  .explain = _("B reads everything; C reads nothing. C's receive queue filled and "
                               "its window closed; then the send buffer of the server's socket "
                               "for C filled (its Send-Q: bytes not yet acknowledged). send() "
                               "with MSG_DONTWAIT then failed with EAGAIN (send(2), MSG_DONTWAIT: "
                               "\"if the operation would block, EAGAIN or EWOULDBLOCK is "
                               "returned\"). The server does not wait: it keeps the rest in a queue "
                               "of its own for C and will ask poll() for POLLOUT on C's socket. "
                               "A blocking send() would have stopped the whole loop here — A "
                               "and B would wait for C (head-of-line blocking)."),
                  .expect = {{.local_port = c.port, .remote_port = port, .state = "ESTABLISHED",
                              .min_recv_q = 1},
                             {.local_port = port, .remote_port = c.port, .state = "ESTABLISHED",
                              .min_send_q = 1},
                             {.local_port = b.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = 0},
                             {.local_port = port, .remote_port = b.port, .state = "ESTABLISHED",
                              .send_q = 0}},
                  .fails_with = EAGAIN,
                  .verify = [&](const Result&) {
                      if (c.queue.empty()) return std::string(_("C's queue is empty"));
                      if (b.got.size() != static_cast<std::size_t>(relayed) || !b.queue.empty())
                          return i18n::format(_("B read {} of {} bytes"), b.got.size(), relayed);
                      return std::string();
                  }},
                 [&] {
                     bool blocked = false;
                     for (int i = 0; i < kMaxChunks && !blocked; ++i) {
                         const auto chunk = paste_chunk(i);
                         pasted += chunk;
                         // A blocking send() of 16 KiB: it returns when all of it is queued.
                         if (::send(a.own.get(), chunk.data(), chunk.size(), 0) !=
                             static_cast<ssize_t>(chunk.size()))
                             return Result::of(-1);
                         // The server: read what A sent (poll waits for it), relay it.
                         while (relayed < static_cast<long>(pasted.size())) {
                             pollfd p{a.server.get(), POLLIN, 0};
                             if (::poll(&p, 1, 2000) <= 0) fail(_("failed to read A's paste: {}"));
                             char buf[65536];
                             const auto n = ::recv(a.server.get(), buf, sizeof buf, MSG_DONTWAIT);
                             if (n <= 0) fail(_("failed to read A's paste: {}"));
                             const std::string_view piece(buf, static_cast<std::size_t>(n));
                             relayed += n;
                             deliver(b, piece);
                             const bool had_queue = !c.queue.empty();
                             if (deliver(c, piece)) blocked = true;
                             if (!had_queue)
                                 c_taken += static_cast<long>(piece.size() - c.queue.size());
                         }
                         if (read_available(b) < 0) return Result::of(-1);
                     }
                     if (!blocked) fail(_("failed to fill C's buffers: {}"));
                     // B reads: drain B's queue (if it had one) and what is in flight to it.
                     for (int i = 0; i < 1000 && (b.got.size() < pasted.size()); ++i) {
                         if (!b.queue.empty()) flush(b);
                         pollfd p{b.own.get(), POLLIN, 0};
                         if (::poll(&p, 1, 1000) <= 0) break;
                         if (read_available(b) < 0) return Result::of(-1);
                     }
                     Result r;
                     r.value = -1;
                     r.err = EAGAIN;
                     r.detail = i18n::format(_("{} bytes relayed; the kernel took {} for C, "
                                               "{} wait in C's queue; B read all {}"),
                                             relayed, c_taken, c.queue.size(), b.got.size());
                     if (b.got != pasted) r.detail += _(" (B's bytes are not A's!)");
                     return r;
                 });

        const std::string again = _("are you there?\n");
        lab.step({.title = _("A's next line reaches B at once; C's copy joins C's queue"),
                  .call = i18n::format(_("send({0}, {1}, {4}, 0); poll(); recv({2}, buf, 65536, "
                                         "MSG_DONTWAIT); send({3}, buf, {4}, MSG_DONTWAIT); C: "
                                         "append to its queue"),
                                       a.own.get(), quote_bytes(again), a.server.get(), b.server.get(),
                                       again.size()),
                  .explain = _("B gets the line: one slow client does not hold up the others. "
                               "C's copy goes behind the bytes already waiting for C, never "
                               "around them — sending it now would put it in the wrong place in "
                               "C's stream. Nothing moves to C while it does not read: its "
                               "Recv-Q and the server's Send-Q for it stay where they were."),
                  .expect = {{.local_port = b.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = static_cast<std::uint32_t>(again.size())},
                             {.local_port = c.port, .remote_port = port, .state = "ESTABLISHED",
                              .min_recv_q = 1},
                             {.local_port = port, .remote_port = c.port, .state = "ESTABLISHED",
                              .min_send_q = 1}},
                  .verify = poll_says("A:POLLIN")},
                 [&] {
                     if (::send(a.own.get(), again.data(), again.size(), 0) !=
                         static_cast<ssize_t>(again.size()))
                         return Result::of(-1);
                     auto r = do_poll(1000);
                     if (r.err) return r;
                     char buf[65536];
                     const auto n = ::recv(a.server.get(), buf, sizeof buf, MSG_DONTWAIT);
                     if (n <= 0) return Result::of(n);
                     const std::string_view piece(buf, static_cast<std::size_t>(n));
                     deliver(b, piece);
                     deliver(c, piece);
                     return Result::of(n, i18n::format(_("poll: {}; C's queue: {} bytes"),
                                                       r.detail, c.queue.size()));
                 });

        lab.step({.title = _("B reads it"),
                  .call = fmt::format("recv({}, buf, 65536, MSG_DONTWAIT)", b.own.get()),
                  .explain = _("A line sent after the paste was read by B while the paste still "
                               "waits for C."),
                  .expect = {{.local_port = b.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = 0}},
                  .verify = [&](const Result&) {
                      return b.got.ends_with(again) ? std::string() : _("B did not get the line");
                  }},
                 [&] {
                     const auto before = b.got.size();
                     if (read_available(b) < 0) return Result::of(-1);
                     return Result::of(static_cast<long>(b.got.size() - before),
                                       quote_bytes(b.got.substr(before)));
                 });

        // ---- backpressure: POLLOUT ----
        lab.step({.title = _("poll() with POLLOUT for C: not yet"),
                  .call = poll_call_text(0),
                  .explain = _("The server asks for POLLOUT on C's socket only because C's queue "
                               "holds bytes. POLLOUT means \"writing is now possible\" (poll(2)); "
                               "the send buffer of the server's socket for C is full, so poll() "
                               "returns 0 at once (timeout 0): no descriptor is ready."),
                  .expect = {{.local_port = port, .remote_port = c.port, .state = "ESTABLISHED",
                              .min_send_q = 1}},
                  .verify = poll_says("")},
                 [&] { return do_poll(0); });

        lab.step({.title = _("C reads; POLLOUT comes"),
                  .call = fmt::format("recv({}, buf, 65536, MSG_DONTWAIT) until EAGAIN; {}",
                                      c.own.get(), poll_call_text(1000)),
                  .explain = _("C's reads opened its window; the server's socket for C sent "
                               "what it held, which made room in its send buffer, and poll() "
                               "reported POLLOUT: send() can take bytes again. (Linux reports it "
                               "once the free space is at least half of what is still queued.)"),
                  .expect = {},
                  .verify = poll_says("C:POLLOUT")},
                 [&] {
                     const auto n = read_available(c);
                     if (n < 0) return Result::of(-1);
                     auto r = do_poll(1000);
                     r.detail = i18n::format(_("C read {} bytes; poll: {}"), n, r.detail);
                     return r;
                 });

        lab.step({.title = _("The loop drains C's queue"),
                  .call = i18n::format(
                      _("loop: send({0}, queue, MSG_DONTWAIT) until EAGAIN; C: recv({1}) until "
                        "EAGAIN; poll([{{{0}, POLLIN|POLLOUT}}, …]) — until C's queue is empty"),
                      c.server.get(), c.own.get()),
                  .explain = _("Each POLLOUT, the server sends from C's queue until EAGAIN; each "
                               "time C reads, room is made again. With the queue empty the server "
                               "stops asking for POLLOUT: a socket with room in its send buffer is "
                               "writable all the time, and a loop that keeps asking would wake at "
                               "once, forever. Every byte is acknowledged: the Send-Q is back to "
                               "0, and C read every byte in order."),
                  .expect = {{.local_port = port, .remote_port = c.port, .state = "ESTABLISHED",
                              .send_q = 0},
                             {.local_port = c.port, .remote_port = port, .state = "ESTABLISHED",
                              .recv_q = 0}},
                  .verify = [&](const Result&) {
                      if (!c.queue.empty())
                          return i18n::format(_("{} bytes are still in C's queue"), c.queue.size());
                      if (c.got != pasted + again)
                          return i18n::format(_("C read {} bytes, not A's {} in order"),
                                              c.got.size(), pasted.size() + again.size());
                      return std::string();
                  }},
                 [&] {
                     long sent = 0;
                     int rounds = 0;
                     const auto want = pasted.size() + again.size();
                     while (rounds < 10000 && (!c.queue.empty() || c.got.size() < want)) {
                         ++rounds;
                         sent += flush(c);
                         if (read_available(c) < 0) return Result::of(-1);
                         std::vector<pollfd> set{{c.own.get(), POLLIN, 0}};
                         if (!c.queue.empty()) set.push_back({c.server.get(), POLLOUT, 0});
                         if (::poll(set.data(), set.size(), 1000) <= 0) break;
                     }
                     return Result::of(sent, i18n::format(_("bytes sent from the queue, in {} "
                                                            "rounds; C read {} bytes in all"),
                                                          rounds, c.got.size()));
                 });

        // ---- a client leaves ----
        const int fin_timeout = sysctl_int("/proc/sys/net/ipv4/tcp_fin_timeout", 60);
        auto b_closed_at = std::chrono::steady_clock::now();
        lab.step({.title = _("B closes"),
                  .call = fmt::format("close({})", b.own.get()),
                  .explain = i18n::format(
                      _("B's FIN reached the server's socket for B: CLOSE_WAIT, until the server "
                        "closes it. B's socket has no descriptor any more: an orphan in "
                        "FIN_WAIT2, which the kernel keeps for net.ipv4.tcp_fin_timeout ({} s "
                        "here) while it waits for the server's FIN (lab 7)."),
                      fin_timeout),
                  .expect = {{.local_port = b.port, .remote_port = port, .state = "FIN_WAIT2"},
                             {.local_port = port, .remote_port = b.port, .state = "CLOSE_WAIT"}}},
                 [&] {
                     b.own.reset();
                     b_closed_at = std::chrono::steady_clock::now();
                     return Result::of(0);
                 });

        lab.step({.title = _("poll(): B's socket is readable; recv() returns 0"),
                  .call = fmt::format("{}; recv({}, buf, 4096, MSG_DONTWAIT)", poll_call_text(1000),
                                      b.server.get()),
                  .explain = _("The end of B's stream is a readable event too: poll() reports "
                               "POLLIN and recv() returns 0. Only the server can end its "
                               "CLOSE_WAIT now: by closing the socket (lab 7)."),
                  .expect = {{.local_port = port, .remote_port = b.port, .state = "CLOSE_WAIT"}},
                  .verify = poll_says("B:POLLIN")},
                 [&] {
                     auto r = do_poll(1000);
                     if (r.err) return r;
                     char buf[4096];
                     const auto n = ::recv(b.server.get(), buf, sizeof buf, MSG_DONTWAIT);
                     return Result::of(n, n == 0 ? i18n::format(_("poll: {}; recv: end of stream"),
                                                                r.detail)
                                                 : std::string());
                 });

        lab.step({.title = _("The server closes B's socket and forgets B"),
                  .call = fmt::format("close({})", b.server.get()),
                  .explain = i18n::format(
                      _("CLOSE_WAIT + close() = LAST_ACK; B's ACK of that FIN ends it, and the "
                        "socket is gone (CLOSED): nothing is leaked. B keeps the TIME_WAIT (it "
                        "sent the first FIN) — if its orphan was still there: after {} s it is "
                        "gone, and the server's FIN is answered by a RST instead. The server "
                        "takes B out of its poll set — a closed descriptor left there would come "
                        "back as POLLNVAL, or, once accept() reuses the number, as another "
                        "client's socket. A and C are still connected."),
                      fin_timeout),
                  .expect = concat(concat({{.local_port = port, .remote_port = b.port,
                                            .state = "CLOSE_WAIT", .absent = true},
                                           {.local_port = port, .remote_port = b.port,
                                            .state = "LAST_ACK", .absent = true}},
                                          established(a)),
                                   established(c)),
                  .expect_after = [&] {
                      // B's end: TIME_WAIT while its orphaned FIN_WAIT2 was still there to take
                      // the server's FIN; nothing at all once tcp_fin_timeout had ended it (a
                      // student who waited a minute at the last step). Near the edge, no claim.
                      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(
                                              std::chrono::steady_clock::now() - b_closed_at)
                                              .count();
                      if (waited < fin_timeout - 2)
                          return std::vector<Expect>{
                              {.local_port = b.port, .remote_port = port, .state = "TIME_WAIT"}};
                      if (waited > fin_timeout + 2)
                          return std::vector<Expect>{
                              {.local_port = b.port, .remote_port = port, .state = "TIME_WAIT",
                               .absent = true},
                              {.local_port = b.port, .remote_port = port, .state = "FIN_WAIT2",
                               .absent = true}};
                      return std::vector<Expect>{};
                  }},
                 [&] {
                     b.server.reset();
                     return Result::of(0);
                 });

        lab.step({.title = _("Close everything"),
                  .call = _("close() the clients, then the server's sockets and the listener"),
                  .explain = _("A and C close first and keep the TIME_WAIT; the server reads 0 "
                               "from each and closes its side; the listener goes last."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true},
                             {.local_port = port, .remote_port = a.port, .state = "CLOSE_WAIT",
                              .absent = true},
                             {.local_port = port, .remote_port = c.port, .state = "CLOSE_WAIT",
                              .absent = true}}},
                 [&] {
                     a.own.reset();
                     c.own.reset();
                     for (Client* cl : {&a, &c}) {
                         pollfd p{cl->server.get(), POLLIN, 0};
                         char buf[4096];
                         if (::poll(&p, 1, 1000) > 0)
                             (void)::recv(cl->server.get(), buf, sizeof buf, MSG_DONTWAIT);
                         cl->server.reset();
                     }
                     listener.reset();
                     return Result::of(0);
                 });
    });
}
