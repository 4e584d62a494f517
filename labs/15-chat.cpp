// Lab 15 — chat: the two-way chat of a first socket program, done right. One thread reads the
// keyboard, one the socket. Plain UTF-8 text over TCP: what this lab sends is newline-framed
// (one line per message), and whatever bytes arrive are shown as they arrive, so it talks to
// any simple text peer — nc, or a beginner's chat that sends each message with one send()
// and no newline. "/quit" from either side, or the peer closing, ends the conversation and
// BOTH sides close: no CLOSE_WAIT is left behind.
//
// "/quit" is recognised the way newline framing finds it — a line "/quit", however the bytes
// were split across recv() calls — and also the way a beginner's peer sends it: alone, with no
// newline, so that one recv() ends in "/quit" right after a newline or the start of the read.
// (A beginner's own server compares each whole recv() with "/quit" and misses it when two
// messages arrive in one read; see docs/labs/15-chat.md.)
//
// The server is a chat room: every client that connects gets a reader thread of its own, each
// line a client sends goes to every other client, and what is typed at the server goes to
// all of them. A client that leaves (/quit, its close, a reset) is closed at once: the room
// never holds a connection in CLOSE_WAIT. /quit typed at the server ends the room; when the
// server's input just ends (no keyboard: < /dev/null, a grader), the room stays open until
// Ctrl-C or SIGTERM.
//
//   socklab-lab-chat --role server [--host 0.0.0.0]     # one machine
//   socklab-lab-chat --role client --host 192.0.2.7     # another (or: nc 192.0.2.7 9015)
//   socklab-lab-chat                                     # both ends, a scripted conversation
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"
#include "socklab/utf8.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {

using namespace std::chrono_literals;

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

// One end of the conversation: the connected socket and the thread that reads it.
class Peer {
public:
    Peer(Lab& lab, UniqueFd sock, bool show) : lab_(lab), sock_(std::move(sock)), show_(show) {
        if (::pipe2(stop_, O_CLOEXEC) != 0 || ::pipe2(over_, O_CLOEXEC) != 0)
            throw Stop{Stop::Why::failed, socklab::i18n::format(_("failed to create a pipe: {}"), std::strerror(errno))};
        reader_ = std::thread([this] { read_loop(); });
    }
    ~Peer() {
        stop_reader();
        for (int fd : {stop_[0], stop_[1], over_[0], over_[1]}) ::close(fd);
    }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    [[nodiscard]] int fd() const noexcept { return sock_.get(); }
    // Readable once the peer has said /quit or closed: the keyboard loop polls it.
    [[nodiscard]] int over_fd() const noexcept { return over_[0]; }
    [[nodiscard]] bool over() {
        std::lock_guard lock(mu_);
        return over_flag_;
    }
    [[nodiscard]] std::string received() {
        std::lock_guard lock(mu_);
        return received_;
    }
    [[nodiscard]] std::string why_over() {
        std::lock_guard lock(mu_);
        return why_;
    }
    // How the peer's bytes came: recv() calls that returned data, and newlines among them.
    [[nodiscard]] std::pair<int, int> reads_and_newlines() {
        std::lock_guard lock(mu_);
        return {reads_, newlines_};
    }
    bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [&] { return pred() || Lab::interrupted(); }) &&
               !Lab::interrupted();
    }
    bool wait_over(std::chrono::milliseconds limit) {
        return wait_until([this] { return over_flag_; }, limit);
    }
    bool wait_received(const std::string& text, std::chrono::milliseconds limit) {
        return wait_until([&] { return received_.find(text) != std::string::npos; }, limit);
    }
    // The only clean end: stop reading, then close. close() with unread data would send RST.
    int close() {
        stop_reader();
        return ::close(sock_.release());
    }

private:
    void read_loop() {
        std::string line;  // only to spot "/quit": the bytes are shown as they come
        char buf[4096];
        std::string why = _("the peer closed the connection");
        bool eof = false;
        for (;;) {
            pollfd p[3] = {{sock_.get(), POLLIN, 0}, {stop_[0], POLLIN, 0},
                           {Lab::interrupt_fd(), POLLIN, 0}};
            if (::poll(p, 3, -1) < 0) {
                if (errno == EINTR) continue;
                why = _("poll failed");
                break;
            }
            if (p[1].revents || p[2].revents) return;  // close() or Ctrl-C: just stop
            const ssize_t n = ::recv(sock_.get(), buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (n < 0) why = socklab::i18n::format(_("recv failed: {}"), std::strerror(errno));
                eof = n == 0;
                break;
            }
            const std::string_view bytes(buf, static_cast<std::size_t>(n));
            if (show_) lab_.show_received(bytes);
            bool quit = false;
            for (const char ch : bytes) {
                if (ch != '\n') {
                    line += ch;
                    continue;
                }
                if (!line.empty() && line.back() == '\r') line.pop_back();
                quit = quit || line == "/quit";
                line.clear();
            }
            // A peer without framing sends "/quit" alone: this read ends in it, right after a
            // newline or from its first byte.
            const auto nl = bytes.rfind('\n');
            const auto tail = nl == std::string_view::npos ? bytes : bytes.substr(nl + 1);
            quit = quit || tail == "/quit" || tail == "/quit\r";
            {
                std::lock_guard lock(mu_);
                received_.append(bytes);
                ++reads_;
                newlines_ += static_cast<int>(std::count(bytes.begin(), bytes.end(), '\n'));
            }
            cv_.notify_all();
            if (quit) {
                why = _("the peer typed /quit");
                break;
            }
        }
        // The peer closed (end of stream), so this end is done too: answer its FIN with ours
        // now, from this thread, so the connection never waits in CLOSE_WAIT for the keyboard
        // thread (it may be busy: the lab still checking the table of the connect step).
        // RFC 9293 §3.6: the side that receives a FIN should CLOSE; the socket itself is closed
        // by close() below. (After a "/quit" without a FIN the keyboard thread closes at once:
        // the peer, which said it first, keeps the first FIN and the TIME_WAIT.)
        if (eof) ::shutdown(sock_.get(), SHUT_WR);
        {
            std::lock_guard lock(mu_);
            over_flag_ = true;
            why_ = why;
        }
        cv_.notify_all();
        [[maybe_unused]] const auto w = ::write(over_[1], "x", 1);
    }
    void stop_reader() {
        if (!reader_.joinable()) return;
        [[maybe_unused]] const auto w = ::write(stop_[1], "x", 1);
        reader_.join();
    }

    Lab& lab_;
    UniqueFd sock_;
    bool show_;
    int stop_[2] = {-1, -1};
    int over_[2] = {-1, -1};
    std::mutex mu_;
    std::condition_variable cv_;
    bool over_flag_ = false;
    std::string why_;
    std::string received_;
    int reads_ = 0;
    int newlines_ = 0;
    std::thread reader_;
};

// The keyboard side (this thread) of a one-role chat, until one side ends it; then close.
Result converse(Lab& lab, Peer& peer) {
    std::string how;
    for (;;) {
        const auto line = lab.read_line(peer.over_fd());
        if (Lab::interrupted()) throw Stop{Stop::Why::interrupted, {}};
        if (peer.over()) {
            how = peer.why_over();
            break;
        }
        if (!line || *line == "/quit") {
            if (line) {
                const Result sent = send_all(peer.fd(), "/quit\n");
                if (sent.err) return sent;
            }
            // Our side is done: FIN to the peer (it sees recv() == 0 and closes), but keep
            // reading until it does, so nothing it sent is lost and no CLOSE_WAIT remains.
            ::shutdown(peer.fd(), SHUT_WR);
            how = line ? _("you typed /quit") : _("your input ended");
            if (!peer.wait_over(10s)) {
                if (Lab::interrupted()) throw Stop{Stop::Why::interrupted, {}};
                how += _("; the peer did not close within 10 s");
            }
            break;
        }
        const Result sent = send_all(peer.fd(), *line + "\n");
        if (sent.err && peer.over()) continue;  // the peer ended it meanwhile: say how, above
        if (sent.err) return sent;
        lab.show_sent(*line);
    }
    const auto [reads, newlines] = peer.reads_and_newlines();
    if (reads > 0 && newlines == 0)
        lab.note(socklab::i18n::format(_("The peer's text came in {} recv() result(s) and not one newline: it sends each "
            "message with one send() and no end marker, so on this side its messages run "
            "together — TCP keeps no message boundaries (lab 4). This lab ends each message "
            "with a newline and finds lines across recv() calls; it took the peer's \"/quit\" "
            "from a read that ended in it."),
            reads));
    return Result::of(peer.close(), socklab::i18n::format(_("(conversation over: {})"), how));
}

// The conversation as one step, the same for the server and the client: it ends with this
// end's socket closed, and neither end of the connection from `local` to `remote` left
// ESTABLISHED or in CLOSE_WAIT.
void chat_step(Lab& lab, Peer& peer, std::uint16_t local, std::uint16_t remote) {
    lab.step({.title = _("Chat: one thread reads the keyboard, one the socket"),
              .call = fmt::format("keyboard: read(0) → send_all({0});  socket: recv({0}) → "
                                  "write(1)",
                                  peer.fd()),
              .explain = _("The conversation is over and this end closed its socket. Whoever "
                         "closed first waits in TIME_WAIT; nobody is left in CLOSE_WAIT."),
              .expect = {{.local_port = local, .remote_port = remote, .state = "CLOSE_WAIT",
                          .absent = true},
                         {.local_port = local, .remote_port = remote, .state = "ESTABLISHED",
                          .absent = true}}},
             [&] { return converse(lab, peer); });
}

UniqueFd listen_on(const Endpoint& ep) {
    UniqueFd l(::socket(ep.family, SOCK_STREAM, 0));
    if (!l) return l;
    set_int_option(l.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    if (::bind(l.get(), ep.sa(), ep.len) != 0 || ::listen(l.get(), 4) != 0) return UniqueFd();
    return l;
}

// accept(), interruptible by Ctrl-C: a server may wait a long time for its first client.
UniqueFd accept_one(int listener) {
    pollfd p[2] = {{listener, POLLIN, 0}, {Lab::interrupt_fd(), POLLIN, 0}};
    while (::poll(p, 2, -1) < 0 && errno == EINTR) {
    }
    if (p[1].revents) throw Stop{Stop::Why::interrupted, {}};
    return UniqueFd(::accept(listener, nullptr, nullptr));
}

// "127.0.0.1:40312": who a client is, as the socket table names its end.
std::string peer_name(int fd) {
    Endpoint e;
    e.len = sizeof e.storage;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&e.storage), &e.len) != 0) return "?";
    e.family = e.storage.ss_family;
    return e.str();
}

// --role server: the chat room. A reader thread per client collects its bytes into lines
// (newline framing across recv() calls) and hands each line to every other client; the
// keyboard thread (the lab's own) sends what is typed here to all. Every socket is closed by
// exactly one hand, under the room's lock: a client's own reader when the client leaves, or
// the room when it closes, so no descriptor is used after close or closed twice.
class Room {
public:
    // Text a client sent without a newline is taken as one message once the client has been
    // quiet this long (a peer that frames nothing: one send() per message). A newline ends a
    // message at once.
    static constexpr auto kUnframedPause = 500ms;

    Room(Lab& lab, int listener) : lab_(lab), listener_(listener) {
        if (::pipe2(stop_, O_CLOEXEC) != 0 || ::pipe2(accept_stop_, O_CLOEXEC) != 0) {
            const int err = errno;
            for (int fd : {stop_[0], stop_[1]})
                if (fd >= 0) ::close(fd);
            throw Stop{Stop::Why::failed, socklab::i18n::format(_("failed to create a pipe: {}"), std::strerror(err))};
        }
    }
    ~Room() {
        close_now();
        for (int fd : {stop_[0], stop_[1], accept_stop_[0], accept_stop_[1]})
            if (fd >= 0) ::close(fd);
    }
    Room(const Room&) = delete;
    Room& operator=(const Room&) = delete;

    // A new client and its reader thread.
    void join(UniqueFd conn) {
        auto m = std::make_unique<Member>();
        m->name = peer_name(conn.get());
        m->port = peer_port_of(conn.get());
        m->sock = std::move(conn);
        Member& ref = *m;
        {
            std::lock_guard lock(mu_);
            reap();
            ports_.push_back(ref.port);
            members_.push_back(std::move(m));
            lab_.note(socklab::i18n::format(_("{} joined (fd {}); clients in the room: {}"), ref.name,
                                            ref.sock.get(), live()));
            ref.reader = std::thread([this, &ref] { serve(ref); });
        }
    }
    // From now on later clients are accepted by a thread of their own.
    void open_doors() {
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    // A line typed here goes to everyone.
    void say(const std::string& line) {
        std::lock_guard lock(mu_);
        const std::string out = "[server] " + line + "\n";  // i18n: allow (chat text on the wire)
        for (auto& m : members_)
            if (!m->gone) send_to(*m, out);
    }
    // /quit typed here: no more clients; "/quit" and our FIN to each; then wait until each has
    // closed its end (its reader sees end of stream and closes ours). False if one did not
    // within `limit`.
    bool close_all(std::chrono::milliseconds limit) {
        stop_accepting();
        std::unique_lock lock(mu_);
        for (auto& m : members_) {
            if (m->gone) continue;
            send_to(*m, "/quit\n");
            ::shutdown(m->sock.get(), SHUT_WR);
        }
        return cv_.wait_for(lock, limit, [&] { return live() == 0 || Lab::interrupted(); }) &&
               !Lab::interrupted();
    }
    // Has the client whose end is at `port` left already (and its socket been closed)?
    [[nodiscard]] bool left(std::uint16_t port) {
        std::lock_guard lock(mu_);
        return std::any_of(members_.begin(), members_.end(),
                           [&](const auto& m) { return m->port == port && m->gone; });
    }
    // Every client that ever joined: the port of its end, for the step's checks.
    [[nodiscard]] std::vector<std::uint16_t> ports() {
        std::lock_guard lock(mu_);
        return ports_;
    }
    // Stop accepting and reading, and close every socket still open (the listener is the
    // lab's). Safe to call twice.
    void close_now() {
        stop_accepting();
        if (!stopping_.exchange(true)) [[maybe_unused]] const auto w = ::write(stop_[1], "x", 1);
        std::list<std::unique_ptr<Member>> all;
        {
            std::lock_guard lock(mu_);
            all.swap(members_);
        }
        for (auto& m : all)
            if (m->reader.joinable()) m->reader.join();
        for (auto& m : all) m->sock.reset();
    }

private:
    struct Member {
        UniqueFd sock;
        std::string name;
        std::uint16_t port = 0;
        std::thread reader;
        bool gone = false;  // left: its socket is closed (under mu_)
    };

    // Live members; mu_ held.
    [[nodiscard]] int live() const {
        return static_cast<int>(std::count_if(members_.begin(), members_.end(),
                                              [](const auto& m) { return !m->gone; }));
    }
    // Join the readers of members that left; mu_ held (a reader never takes mu_ after it
    // marked itself gone, so joining it here cannot wait on this lock).
    void reap() {
        for (auto it = members_.begin(); it != members_.end();) {
            if ((*it)->gone) {
                (*it)->reader.join();
                it = members_.erase(it);
            } else {
                ++it;
            }
        }
    }
    // Send without waiting; mu_ held. A client that cannot take a line now (its receive
    // window and our send buffer full: it reads nothing) is cut off instead of stalling the
    // room: shutdown() ends its reader, which closes it.
    void send_to(Member& m, std::string_view text) {
        std::size_t off = 0;
        while (off < text.size()) {
            const ssize_t n = ::send(m.sock.get(), text.data() + off, text.size() - off,
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                ::shutdown(m.sock.get(), SHUT_RDWR);
                return;
            }
            off += static_cast<std::size_t>(n);
        }
    }
    // One line (or one unframed message) from `from` to the room; mu_ held.
    void relay(const Member& from, std::string_view text) {
        const std::string out = "[" + from.name + "] " + std::string(text) + "\n";
        lab_.show_received(out);
        for (auto& m : members_)
            if (m.get() != &from && !m->gone) send_to(*m, out);
    }

    void accept_loop() {
        for (;;) {
            pollfd p[3] = {{listener_, POLLIN, 0}, {accept_stop_[0], POLLIN, 0},
                           {Lab::interrupt_fd(), POLLIN, 0}};
            if (::poll(p, 3, -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (p[1].revents || p[2].revents) return;
            UniqueFd conn(::accept(listener_, nullptr, nullptr));
            if (conn) join(std::move(conn));
            else if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) return;
        }
    }
    void stop_accepting() {
        if (!acceptor_.joinable()) return;
        [[maybe_unused]] const auto w = ::write(accept_stop_[1], "x", 1);
        acceptor_.join();
    }

    void serve(Member& m) {
        std::string pending;  // bytes of a line not yet ended
        bool framed = false;  // the client has ended a line with a newline
        int reads = 0;
        bool quit = false;
        std::string why = _("the peer closed the connection");
        char buf[4096];
        for (;;) {
            pollfd p[3] = {{m.sock.get(), POLLIN, 0}, {stop_[0], POLLIN, 0},
                           {Lab::interrupt_fd(), POLLIN, 0}};
            const int timeout = pending.empty() ? -1 : static_cast<int>(kUnframedPause.count());
            const int ready = ::poll(p, 3, timeout);
            if (ready < 0) {
                if (errno == EINTR) continue;
                why = _("poll failed");
                break;
            }
            if (p[1].revents || p[2].revents) return;  // the room is closing: it closes us
            std::lock_guard lock(mu_);
            if (ready == 0) {  // quiet after text without a newline: that text is a message
                const auto cut = socklab::utf8::whole_prefix(pending);  // never cut inside a character
                const std::string message = pending.substr(0, cut);
                pending.erase(0, cut);
                if (message == "/quit" || message == "/quit\r") {
                    quit = true;
                    break;
                }
                if (!message.empty()) relay(m, message);
                continue;
            }
            const ssize_t n = ::recv(m.sock.get(), buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                why = socklab::i18n::format(_("recv failed: {}"), std::strerror(errno));
                break;
            }
            if (n == 0) {  // end of stream: what it sent last, without a newline, still counts
                if (pending == "/quit" || pending == "/quit\r") quit = true;
                else if (!pending.empty()) relay(m, pending);
                break;
            }
            ++reads;
            pending.append(buf, static_cast<std::size_t>(n));
            for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
                framed = true;
                std::string line = pending.substr(0, nl);
                pending.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (line == "/quit") {
                    quit = true;
                    break;
                }
                relay(m, line);
            }
            if (quit) break;
        }
        if (quit) why = _("the peer typed /quit");
        // Leave: close our end at once (no CLOSE_WAIT), under the lock so nobody is sending
        // to this descriptor while it goes.
        std::lock_guard lock(mu_);
        m.gone = true;
        const int fd = m.sock.get();
        m.sock.reset();
        lab_.note(socklab::i18n::format(_("{} left: {}; closed fd {}. Clients in the room: {}"),
                                        m.name, why, fd, live()));
        if (quit && !framed)
            lab_.note(socklab::i18n::format(_("The peer's text came in {} recv() result(s) and not one newline: it sends each "
                "message with one send() and no end marker, so on this side its messages run "
                "together — TCP keeps no message boundaries (lab 4). This lab ends each message "
                "with a newline and finds lines across recv() calls; it took the peer's \"/quit\" "
                "from a read that ended in it."),
                reads));
        cv_.notify_all();
    }

    Lab& lab_;
    int listener_;
    int stop_[2] = {-1, -1};
    int accept_stop_[2] = {-1, -1};
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    std::list<std::unique_ptr<Member>> members_;
    std::vector<std::uint16_t> ports_;
    std::thread acceptor_;
};

void run_server(Lab& lab) {
    const Endpoint ep = lab.endpoint();
    const auto port = lab.port();
    UniqueFd listener;
    lab.step({.title = socklab::i18n::format(_("Listen on {}"), ep.str()),
              .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind(fd, {}) + "
                                  "listen(fd, 4)",
                                  ep.str()),
              .explain = socklab::i18n::format(_("A chat room opens. Clients join with another socklab-lab-chat --role client, "
                         "or `nc {} {}`: each gets a thread of its own that reads its lines and "
                         "passes each one to everyone else; what you type here goes to all of "
                         "them. SO_REUSEADDR lets the room open again at once after a restart."),
                         ep.str().substr(0, ep.str().rfind(':')), port),
              .expect = {{.local_port = port, .state = "LISTEN"}}},
             [&] {
                 listener = listen_on(ep);
                 return Result::of(listener ? 0 : -1, fmt::format("(fd {})", listener.get()));
             });

    Room room(lab, listener.get());
    std::uint16_t first = 0;
    lab.step({.title = _("Accept the first client"),
              .call = fmt::format("accept({}, NULL, NULL)", listener.get()),
              .explain = _("Connected, and its reader thread is blocked in recv(). From the next "
                         "step on, a thread of the server accepts every later client."),
              .expect = {},
              .expect_after = [&] {
                  // A client quick enough to say /quit (or close) before this check has left
                  // already: then what the room owes it is no CLOSE_WAIT.
                  if (room.left(first))
                      return std::vector<Expect>{{.local_port = port, .remote_port = first,
                                                  .state = "CLOSE_WAIT", .absent = true}};
                  return std::vector<Expect>{
                      {.local_port = port, .remote_port = first, .state = "ESTABLISHED"}};
              }},
             [&] {
                 UniqueFd conn = accept_one(listener.get());
                 if (!conn) return Result::of(-1);
                 first = peer_port_of(conn.get());
                 const int fd = conn.get();
                 room.join(std::move(conn));
                 return Result::of(fd, socklab::i18n::format(_("(peer port {})"), first));
             });

    lab.step({.title = _("The room: a thread per client, every line to everyone"),
              .call = socklab::i18n::format(_("accept({0}) in a thread; per client: recv() → send() to "
                                              "the others; keyboard: read(0) → send() to all"),
                                            listener.get()),
              .explain = _("The room is closed: each client still in it got \"/quit\" and our FIN "
                         "and closed its end, and the server closed every socket as its client "
                         "left. Nobody is left in CLOSE_WAIT."),
              .expect = {},
              .expect_after = [&] {
                  std::vector<Expect> e;
                  for (const auto p : room.ports()) {
                      e.push_back({.local_port = port, .remote_port = p, .state = "CLOSE_WAIT", .absent = true});
                      e.push_back({.local_port = port, .remote_port = p, .state = "ESTABLISHED", .absent = true});
                  }
                  return e;
              }},
             [&] {
                 room.open_doors();
                 lab.note(_("Type a line and press Enter to send it to every client; /quit closes the room."));
                 for (;;) {
                     const auto line = lab.read_line();
                     if (Lab::interrupted()) throw Stop{Stop::Why::interrupted, {}};
                     if (!line) {
                         // No keyboard (input from /dev/null, a grader, Ctrl-D): the room goes on.
                         lab.note(_("(your input ended: the room stays open; Ctrl-C closes it)"));
                         pollfd p{Lab::interrupt_fd(), POLLIN, 0};
                         while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
                         }
                         throw Stop{Stop::Why::interrupted, {}};
                     }
                     if (*line == "/quit") break;
                     room.say(*line);
                     lab.show_sent(*line);
                 }
                 const bool all_closed = room.close_all(10s);
                 if (Lab::interrupted()) throw Stop{Stop::Why::interrupted, {}};
                 const auto joined = room.ports().size();
                 room.close_now();
                 std::string how = socklab::i18n::format(
                     socklab::i18n::tr_n("you typed /quit; {} client was in the room",
                                         "you typed /quit; {} clients were in the room", joined),
                     joined);
                 if (!all_closed) how += _("; a client did not close within 10 s");
                 return Result::of(0, socklab::i18n::format(_("(conversation over: {})"), how));
             });

    lab.step({.title = _("Close the listener"),
              .call = fmt::format("close({})", listener.get()),
              .explain = _("The port is free for the next class."),
              .expect = {{.local_port = port, .state = "LISTEN", .absent = true}}},
             [&] { return Result::of(::close(listener.release())); });
}

void run_client(Lab& lab) {
    const Endpoint ep = lab.endpoint();
    const auto port = lab.port();
    std::unique_ptr<Peer> peer;
    std::uint16_t cport = 0;
    lab.step({.title = socklab::i18n::format(_("Connect to {}"), ep.str()),
              .call = fmt::format("socket({}, SOCK_STREAM, 0) + connect(fd, {})",
                                  ep.family_name(), ep.str()),
              .explain = _("Connected. Type a line and press Enter to send it; what the peer "
                         "sends appears as it arrives. /quit ends the chat."),
              .expect = {},
              .expect_after = [&] {
                  return std::vector<Expect>{
                      {.local_port = cport, .remote_port = port, .state = "ESTABLISHED"}};
              }},
             [&] {
                 UniqueFd s(::socket(ep.family, SOCK_STREAM, 0));
                 if (!s || ::connect(s.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                 cport = local_port_of(s.get());
                 lab.watch(cport);
                 const int fd = s.get();
                 peer = std::make_unique<Peer>(lab, std::move(s), true);
                 return Result::of(0, socklab::i18n::format(_("(fd {}, local port {})"), fd, cport));
             });

    chat_step(lab, *peer, cport, port);
}

// --role both: a scripted conversation between a server thread and a client thread.
void run_both(Lab& lab) {
    const Endpoint ep = lab.endpoint();
    const auto port = lab.port();
    const std::string hello = "안녕하세요, server!";
    const std::string reply = "반가워요 — hello, client.";
    UniqueFd listener;
    lab.step({.title = socklab::i18n::format(_("The server listens on {}"), ep.str()),
              .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind(fd, {}) + "
                                  "listen(fd, 4)",
                                  ep.str()),
              .explain = _("This run plays both ends; run it with --role server and --role "
                         "client (or nc) to chat for real."),
              .expect = {{.local_port = port, .state = "LISTEN"}}},
             [&] {
                 listener = listen_on(ep);
                 return Result::of(listener ? 0 : -1, fmt::format("(fd {})", listener.get()));
             });

    std::unique_ptr<Peer> server, client;
    std::uint16_t cport = 0;
    lab.step({.title = _("The client connects, the server accepts; each starts a reader thread"),
              .call = socklab::i18n::format(_("connect(<new socket>, {}); accept({})"), ep.str(),
                                  listener.get()),
              .explain = _("Each end now has a thread blocked in recv(): whatever arrives is "
                         "shown at once, while the other thread is free to send."),
              .expect = {},
              .expect_after = [&] {
                  return std::vector<Expect>{
                      {.local_port = cport, .remote_port = port, .state = "ESTABLISHED"},
                      {.local_port = port, .remote_port = cport, .state = "ESTABLISHED"}};
              }},
             [&] {
                 UniqueFd c(::socket(ep.family, SOCK_STREAM, 0));
                 if (!c || ::connect(c.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                 cport = local_port_of(c.get());
                 UniqueFd a(::accept(listener.get(), nullptr, nullptr));
                 if (!a) return Result::of(-1);
                 client = std::make_unique<Peer>(lab, std::move(c), false);
                 server = std::make_unique<Peer>(lab, std::move(a), false);
                 return Result::of(0, socklab::i18n::format(_("(client fd {}, port {}; server fd {})"),
                                                  client->fd(), cport, server->fd()));
             });

    lab.step({.title = _("The client says hello (in Korean: it is all just UTF-8 bytes)"),
              .call = fmt::format("send_all({}, \"{}\\n\")", client->fd(), hello),
              .explain = _("The server's reader thread got the bytes and showed them. TCP does "
                         "not know it carried text; a multi-byte character may even arrive "
                         "split across two recv() calls."),
              .expect = {{.local_port = port, .remote_port = cport, .state = "ESTABLISHED"}},
              .verify = [&](const Result&) {
                  return server->wait_received(hello, 5s) ? std::string()
                                                          : _("the server never received it");
              }},
             [&] {
                 Result r = send_all(client->fd(), hello + "\n");
                 if (!r.err && server->wait_received(hello, 5s))
                     r.detail += socklab::i18n::format(_("  server shows: {}"), trimmed(server->received()));
                 return r;
             });

    lab.step({.title = _("The server answers, in two pieces"),
              .call = fmt::format("send_all({0}, \"반가워요\"); send_all({0}, \" — hello, "
                                  "client.\\n\")",
                                  server->fd()),
              .explain = _("The first piece has no newline. The client shows it the moment it "
                         "arrives instead of waiting for a whole line: a chat has no framing "
                         "of its own."),
              .expect = {{.local_port = cport, .remote_port = port, .state = "ESTABLISHED"}},
              .verify = [&](const Result&) {
                  return client->wait_received(reply, 5s) ? std::string()
                                                          : _("the client never received it");
              }},
             [&] {
                 Result r = send_all(server->fd(), "반가워요");
                 if (r.err) return r;
                 if (!client->wait_received("반가워요", 5s)) return Result::note(_("(lost?)"));
                 r = send_all(server->fd(), " — hello, client.\n");
                 if (!r.err && client->wait_received(reply, 5s))
                     r.detail += socklab::i18n::format(_("  client shows: {}"), trimmed(client->received()));
                 return r;
             });

    lab.step({.title = _("The client types /quit: both sides close"),
              .call = socklab::i18n::format(_("send_all({0}, \"/quit\\n\"); shutdown({0}, SHUT_WR); server "
                                  "sees /quit → close({1}); client sees EOF → close({0})"),
                                  client->fd(), server->fd()),
              .explain = _("The server's reader saw /quit and the server closed at once — it did "
                         "not leave the socket in CLOSE_WAIT. The client, which sent the first "
                         "FIN, is in TIME_WAIT, as lab 5 showed."),
              .expect = {{.local_port = cport, .remote_port = port, .state = "TIME_WAIT"},
                         {.local_port = port, .remote_port = cport, .state = "CLOSE_WAIT",
                          .absent = true},
                         {.local_port = port, .remote_port = cport, .state = "LAST_ACK",
                          .absent = true}}},
             [&] {
                 Result r = send_all(client->fd(), "/quit\n");
                 if (r.err) return r;
                 ::shutdown(client->fd(), SHUT_WR);
                 if (!server->wait_over(5s)) return Result::note(_("(the server missed /quit)"));
                 if (server->close() != 0) return Result::of(-1);
                 if (!client->wait_over(5s)) return Result::note(_("(the client saw no EOF)"));
                 return Result::of(client->close(), "(" + server->why_over() + "; then " +
                                                        client->why_over() + ")");
             });

    lab.step({.title = _("Close the listener"),
              .call = fmt::format("close({})", listener.get()),
              .explain = _("Only the TIME_WAIT of the client remains; it ends by itself."),
              .expect = {{.local_port = port, .state = "LISTEN", .absent = true}}},
             [&] { return Result::of(::close(listener.release())); });
}

}  // namespace

int main(int argc, char** argv) {
    Lab runner("chat", argc, argv);
    const Role role = runner.options().role;
    const int steps = role == Role::server ? 4 : role == Role::client ? 2 : 6;
    return runner.run(steps, [role](Lab& lab) {
        if (role == Role::server) run_server(lab);
        else if (role == Role::client) run_client(lab);
        else run_both(lab);
    });
}
