// socklab run -- CMD: watch the learner's own program and report what it did to its sockets.
// socklab check -- CMD: grade a learner's server (or client) with scripted peers.
// The judging is core's (socklab/program.hpp); this file starts programs, drives peers and
// prints.
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "command.hpp"
#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/fd.hpp"
#include "socklab/i18n.hpp"
#include "socklab/json.hpp"
#include "socklab/program.hpp"
#include "socklab/program_tree.hpp"
#include "socklab/program_watch.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "socklab/tracer.hpp"

namespace socklab::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Ctrl-C reaches the program too (it shares the terminal's process group): socklab only
// notes it (StopSignals) and waits for the program to end, then reports.

using program::command_text;
using program::doctor_summary;
using program::start_tracers;
using program::Tracers;

// The one line that says a run is traced through socklab-helper (a member of group socklab),
// as `socklab trace` says so; root's runs and untraced ones say nothing here.
void say_helper_path(const std::filesystem::path& helper) {
    std::fprintf(stderr, "%s\n",
                 i18n::format(_("socklab: system calls through socklab-helper ({}), of your own "
                                "processes only"),
                              helper.string()).c_str());
}

// ---- run ----------------------------------------------------------------------------------

struct RunArgs {
    bool json = false;
    std::optional<std::uint16_t> port;
    std::string log;
    std::string report;
    std::optional<double> duration_s;
    bool strict = false;
    std::vector<std::string> command;
};

std::string call_line(const SyscallEvent& c) {
    std::string out = fmt::format("{}[{}/{}] {}(fd {}) = {}", c.comm_view(), c.pid, c.tid,
                                  syscall_name(c.call), c.fd, c.result);
    if (c.error) out += " " + errno_name(c.error);
    if (c.key && c.key->local_port)
        out += fmt::format("  {}:{} {}:{}", c.key->local_addr.to_string(), c.key->local_port,
                           c.key->remote_addr.to_string(), c.key->remote_port);
    return out;
}

std::string transition_line(const TransitionEvent& e) {
    return fmt::format("{}:{} {}:{}  {} -> {}", e.local_addr.to_string(), e.local_port,
                       e.remote_addr.to_string(), e.remote_port, state_name(e.old_state),
                       state_name(e.new_state));
}

int run_program(const RunArgs& args) {
    StopSignals signals;
    std::FILE* log = stderr;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> log_file(nullptr, &std::fclose);
    if (!args.log.empty()) {
        log_file.reset(std::fopen(args.log.c_str(), "w"));
        if (!log_file) {
            std::fprintf(stderr, "%s\n",
                         i18n::format(_("socklab: failed to open {}: {}"), args.log, std::strerror(errno)).c_str());
            return kExitNothing;
        }
        log = log_file.get();
    }
    auto source = make_default_source();
    program::Watch watch(program::WatchOptions{args.command, args.port, {}}, *source);
    auto& prog = watch.program();
    if (!watch.traced())
        std::fprintf(log, "%s\n", i18n::format(_("socklab run: not tracing ({}); polling the socket table only"),
                                               watch.why_not_traced()).c_str());
    else if (!watch.tracing_helper().empty())
        say_helper_path(watch.tracing_helper());
    if (const int err = watch.go(); err != 0) {
        std::fprintf(stderr, "%s\n", i18n::format(_("socklab: failed to start {}: {}"),
                                                  args.command.front(), std::strerror(err)).c_str());
        return kExitNothing;
    }
    const program::WatchSink sink{
        [log](const SyscallEvent& c) {
            std::fprintf(log, "%s\n", call_line(c).c_str());
            std::fflush(log);
        },
        [log](const TransitionEvent& e) {
            std::fprintf(log, "%s\n", transition_line(e).c_str());
            std::fflush(log);
        }};
    const auto started = Clock::now();
    bool stopping = false;
    auto stop_at = Clock::time_point::max();
    while (watch.step(50ms, sink)) {
        const bool timed_out = args.duration_s &&
                               Clock::now() - started >= std::chrono::duration<double>(*args.duration_s);
        if ((stop_requested() || timed_out) && !stopping) {
            stopping = true;
            // Ctrl-C reached the program too: give it a moment to end on its own.
            stop_at = Clock::now() + (timed_out ? 0ms : 1000ms);
        }
        if (stopping && Clock::now() >= stop_at) {
            prog.stop(2000);
            break;
        }
    }
    const auto report = watch.finish(sink);
    for (const auto& left : watch.stop_tracing()) std::fprintf(stderr, "socklab: %s\n", left.c_str());
    const auto& in = watch.input();
    const int code = in.ending.exit_code;
    const auto json = program::report_json(args.command, code, report);
    if (!args.report.empty()) {
        std::ofstream out(args.report);
        out << json.dump(2) << '\n';
        if (!out) {
            std::fprintf(stderr, "%s\n", i18n::format(_("socklab: failed to write {}: {}"),
                                                      args.report, std::strerror(errno)).c_str());
            return kExitNothing;
        }
    }
    if (args.json) {
        std::printf("%s\n", json.dump().c_str());
    } else {
        std::string text;
        text += in.ending.signal
                    ? i18n::format(_("socklab run: {} was ended by signal {} ({})\n"),
                                   command_text(args.command), in.ending.signal, ::strsignal(in.ending.signal))
                    : i18n::format(_("socklab run: {} exited with status {}\n"),
                                   command_text(args.command), code);
        text += i18n::format(_("Sockets ({}):\n"), report.sockets.size());
        for (const auto& l : report.sockets) text += "  " + program::life_line(l) + "\n";
        text += i18n::format(_("Findings ({}):\n"), report.findings.size());
        for (const auto& f : report.findings)
            text += fmt::format("  {:<16} {}\n", program::kind_name(f.kind), f.evidence);
        if (report.findings.empty()) text += std::string("  ") + _("none") + "\n";
        for (const auto& m : report.missing) text += i18n::format(_("Not seen: {}\n"), m);
        std::fputs(text.c_str(), stderr);
    }
    if (args.strict && !report.findings.empty()) return 3;
    return code;
}

// ---- check: scripted peers ----------------------------------------------------------------

UniqueFd connect_to(std::uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw socklab::Error(socklab::i18n::format(_("failed to create a socket: {}"), std::strerror(errno)));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

std::uint16_t local_port_of(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

void send_text(int fd, std::string_view text) {
    if (fd >= 0) (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

// What one peer has read so far.
// A scripted client. It ends with an abortive close (SO_LINGER 0, socket(7)): an RST leaves
// no TIME_WAIT behind, on either side, so the next scenario's fresh start can bind the port
// even without SO_REUSEADDR (only restart-within-60s tests that, on purpose).
struct Peer {
    explicit Peer(UniqueFd f) : fd(std::move(f)) {}
    ~Peer() { abort(); }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;
    void abort() {
        if (!fd) return;
        const linger now{1, 0};
        ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now);
        fd.reset();
    }
    UniqueFd fd;
    std::string got;
    bool eof = false, reset = false;
};

// Read from the peers until `done()` or `timeout`.
template <typename Done>
void read_peers(std::vector<Peer*> peers, std::chrono::milliseconds timeout, Done done) {
    const auto until = Clock::now() + timeout;
    while (!done()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (left.count() <= 0) return;
        std::vector<pollfd> pfds;
        std::vector<Peer*> live;
        for (auto* p : peers)
            if (p->fd && !p->eof && !p->reset) {
                pfds.push_back({p->fd.get(), POLLIN, 0});
                live.push_back(p);
            }
        if (pfds.empty()) return;
        if (::poll(pfds.data(), pfds.size(), static_cast<int>(std::min<long>(left.count(), 50))) <= 0)
            continue;
        for (std::size_t i = 0; i < pfds.size(); ++i) {
            if (!pfds[i].revents) continue;
            char buf[4096];
            const ssize_t n = ::recv(live[i]->fd.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) live[i]->got.append(buf, static_cast<std::size_t>(n));
            else if (n == 0) live[i]->eof = true;
            else if (errno == ECONNRESET) live[i]->reset = true;
            else if (errno != EAGAIN && errno != EINTR) live[i]->eof = true;
        }
    }
}

struct CheckArgs {
    std::string role = "server";
    std::optional<std::uint16_t> port;
    bool json = false;
    std::vector<std::string> command;
};

// One start of the program under watch, for one scenario.
class Session {
public:
    Session(const CheckArgs& args, Source& source)
        : args_(args), source_(source),
          prog_(args.command, program::SpawnOptions{true, true}),
          tracers_(start_tracers(prog_.pid(), std::nullopt, false)) {
        // Said once per check, not once per scenario.
        static bool said = false;
        if (tracers_.active && !tracers_.helper.empty() && !said) {
            say_helper_path(tracers_.helper);
            said = true;
        }
        start_error_ = prog_.go();
    }
    ~Session() {
        for (const auto& left : tracers_.stop()) std::fprintf(stderr, "socklab: %s\n", left.c_str());
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    [[nodiscard]] int start_error() const noexcept { return start_error_; }
    program::Spawned& prog() noexcept { return prog_; }

    // Wait until the tree listens (on --port when given). The port, or nullopt.
    std::optional<std::uint16_t> wait_listening(std::chrono::milliseconds timeout) {
        const auto until = Clock::now() + timeout;
        while (Clock::now() < until) {
            pump();
            const auto o = observe();
            for (const auto& h : o.sockets)
                if (h.record.state == static_cast<std::uint8_t>(TcpState::listen) &&
                    (!args_.port || h.record.local_port == *args_.port))
                    return h.record.local_port;
            if (prog_.poll_exit()) return std::nullopt;
            prog_.wait_exit(20);
        }
        return std::nullopt;
    }
    program::Observation observe() {
        return program::observe(program::process_tree(prog_.pid()), source_);
    }
    // Connections the program holds (not its listeners).
    std::size_t connections() {
        std::size_t n = 0;
        for (const auto& h : observe().sockets)
            n += h.record.state != static_cast<std::uint8_t>(TcpState::listen) ? 1 : 0;
        return n;
    }
    bool wait_connections(std::size_t n, std::chrono::milliseconds timeout) {
        const auto until = Clock::now() + timeout;
        while (Clock::now() < until) {
            if (connections() >= n) return true;
            prog_.wait_exit(10);
        }
        return false;
    }
    // The program's socket connected to the peer port `peer`.
    std::optional<program::HeldSocket> end_for(std::uint16_t peer) {
        for (const auto& h : observe().sockets)
            if (h.record.remote_port == peer) return h;
        return std::nullopt;
    }
    void pump() {
        if (!tracers_.active) return;
        std::vector<TransitionEvent> unused;
        tracers_.calls->poll(unused, calls_, 0ms);
    }
    std::uint64_t recv_zero(std::uint64_t inode) {
        pump();
        if (!tracers_.active) return 0;
        const auto& d = tracers_.calls->data_calls();
        const auto it = d.find(inode);
        return it == d.end() ? 0 : it->second.receive_zero;
    }
    std::uint64_t receives() {
        pump();
        std::uint64_t n = 0;
        if (tracers_.active)
            for (const auto& [inode, c] : tracers_.calls->data_calls()) n += c.receives;
        return n;
    }
    bool bind_in_use() {
        pump();
        for (const auto& c : calls_)
            if (c.call == SyscallKind::bind && c.error == EADDRINUSE) return true;
        return false;
    }
    [[nodiscard]] bool traced() const noexcept { return tracers_.active; }

private:
    const CheckArgs& args_;
    Source& source_;
    program::Spawned prog_;
    Tracers tracers_;
    std::vector<SyscallEvent> calls_;
    int start_error_ = 0;
};

// What the scripted peers send is data for the program under test, never shown to a person:
// not in the catalogue (marked "i18n: allow").
constexpr std::string_view kToken = "hello from socklab";  // i18n: allow

bool delivered(const std::vector<Peer*>& peers, std::string_view token) {
    for (const auto* p : peers)
        if (p->got.find(token) != std::string::npos) return true;
    return false;
}

// Two clients; one sends a line; does it come back to either? (echo or broadcast)
bool exchange_line(std::uint16_t port, Session& s, std::string_view token) {
    Peer a(connect_to(port)), b(connect_to(port));
    if (!a.fd || !b.fd) return false;
    s.wait_connections(2, 1000ms);
    send_text(a.fd.get(), std::string(token) + "\n");
    std::vector<Peer*> both{&a, &b};
    read_peers(both, 2000ms, [&] { return delivered(both, token); });
    if (!delivered(both, token)) {
        // A room relays a line only to the clients it has taken in: the program may hold the
        // second connection (accept() returned) before it has added it. Once more, then judge.
        send_text(a.fd.get(), std::string(token) + "\n");
        read_peers(both, 2000ms, [&] { return delivered(both, token); });
    }
    return delivered(both, token);
}

program::ScenarioObservation run_scenario(std::string_view id, const CheckArgs& args,
                                          Source& source, std::optional<std::uint16_t>& port) {
    program::ScenarioObservation o;
    o.id = std::string(id);
    Session s(args, source);
    if (s.start_error() != 0)
        throw socklab::Error(i18n::format(_("failed to start {}: {}"), args.command.front(),
                                 std::strerror(s.start_error())));
    const auto listening = s.wait_listening(5000ms);
    if (!listening) {
        o.server_started = false;
        return o;
    }
    port = *listening;
    const std::uint16_t p = *listening;
    if (id == "exchange") {
        o.line_delivered = exchange_line(p, s, kToken);
        s.prog().stop(1000);  // before the peers go: no spin on their FIN
    } else if (id == "peer-closes-first") {
        Peer a(connect_to(p));
        s.wait_connections(1, 1000ms);
        const auto peer_port = a.fd ? local_port_of(a.fd.get()) : 0;
        const auto end = s.end_for(peer_port);
        const auto closed_at = Clock::now();
        a.fd.reset();
        // The program has 2 s to close its end (RFC 9293 §3.6: the passive closer's CLOSE).
        bool gone = false;
        while (Clock::now() - closed_at < 2000ms) {
            const auto now = s.end_for(peer_port);
            if (!now || now->record.state != static_cast<std::uint8_t>(TcpState::close_wait)) {
                if (!now || now->record.state != static_cast<std::uint8_t>(TcpState::established)) {
                    gone = true;
                    break;
                }
            }
            s.prog().wait_exit(20);
        }
        o.peer_got_eof = gone;
        if (!gone) {
            const auto now = s.end_for(peer_port);
            if (now && now->record.state == static_cast<std::uint8_t>(TcpState::close_wait))
                o.close_wait_s = std::chrono::duration<double>(Clock::now() - closed_at).count();
        }
        if (end) o.recv_zero = s.recv_zero(end->record.inode);
        s.prog().stop(1000);  // before the peers go: no spin on their FIN
    } else if (id == "half-close") {
        Peer a(connect_to(p)), b(connect_to(p));
        s.wait_connections(2, 1000ms);
        send_text(a.fd.get(), std::string(kToken) + " (last line)\n");  // i18n: allow
        if (a.fd) ::shutdown(a.fd.get(), SHUT_WR);
        std::vector<Peer*> both{&a, &b};
        read_peers(both, 2000ms, [&] { return delivered(both, kToken) && (a.eof || a.reset); });
        o.line_delivered = delivered(both, kToken);
        o.peer_got_eof = a.eof;
        o.peer_got_reset = a.reset;
        s.prog().stop(1000);  // before the peers go: no spin on their FIN
    } else if (id == "peer-reset") {
        Peer a(connect_to(p)), b(connect_to(p));
        s.wait_connections(2, 1000ms);
        send_text(a.fd.get(), "hello\n");
        std::vector<Peer*> both{&a, &b};
        read_peers(both, 500ms, [&] { return delivered(both, "hello"); });
        const auto peer_port = a.fd ? local_port_of(a.fd.get()) : 0;
        const linger abort_now{1, 0};  // close() then sends RST (SO_LINGER, socket(7))
        if (a.fd) ::setsockopt(a.fd.get(), SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
        a.fd.reset();
        for (int i = 0; i < 50 && s.end_for(peer_port); ++i) s.prog().wait_exit(20);
        // The next line makes the program write to every client it still knows.
        send_text(b.fd.get(), "after the reset\n");  // i18n: allow
        s.prog().wait_exit(500);
        o.program_alive = !s.prog().poll_exit();
        o.program_signal = s.prog().ending().signal;
        if (o.program_alive) o.line_delivered = exchange_line(p, s, "served after the reset");  // i18n: allow
        s.prog().stop(1000);  // before the peers go: no spin on their FIN
    } else if (id == "two-clients") {
        Peer a(connect_to(p)), b(connect_to(p));
        s.wait_connections(2, 1000ms);
        send_text(a.fd.get(), "one from socklab\n");  // i18n: allow
        send_text(b.fd.get(), "two from socklab\n");  // i18n: allow
        std::vector<Peer*> both{&a, &b};
        read_peers(both, 2000ms, [&] {
            return (delivered(both, "one from socklab") && delivered(both, "two from socklab")) ||  // i18n: allow
                   b.eof || b.reset;
        });
        o.second_client_served = delivered(both, "one from socklab") && delivered(both, "two from socklab");  // i18n: allow
        o.second_client_refused = !o.second_client_served && (b.eof || b.reset);
        s.prog().stop(1000);  // before the peers go: no spin on their FIN
    } else if (id == "quit-split" || id == "quit-merged") {
        Peer a(connect_to(p));
        s.wait_connections(1, 1000ms);
        if (id == "quit-split") {
            const auto before = s.receives();
            send_text(a.fd.get(), "/qu");
            // Let the program read the first piece alone: wait for its recv() when traced.
            const auto until = Clock::now() + 300ms;
            while (Clock::now() < until && (!s.traced() || s.receives() == before))
                s.prog().wait_exit(10);
            send_text(a.fd.get(), "it\n");
        } else {
            send_text(a.fd.get(), "/quit\nhello after quit\n");  // i18n: allow
        }
        std::vector<Peer*> one{&a};
        read_peers(one, 2000ms, [&] { return a.eof || a.reset; });
        o.peer_got_eof = a.eof || a.reset;
        s.prog().stop(1000);  // before the peers go: no spin on their FIN
    } else if (id == "restart-within-60s") {
        {
            Peer a(connect_to(p));
            s.wait_connections(1, 1000ms);
            send_text(a.fd.get(), "hello before the restart\n");  // i18n: allow
            std::vector<Peer*> one{&a};
            read_peers(one, 300ms, [&] { return !a.got.empty(); });
            // Stop the program while the client is connected: the program closes first and
            // its end of the connection waits out TIME_WAIT on the port.
            s.prog().stop(2000);
            read_peers(one, 1000ms, [&] { return a.eof || a.reset; });
            a.fd.reset();  // an orderly close: the program's end now waits in TIME_WAIT
        }
        Session again(args, source);
        const auto relisten = again.wait_listening(5000ms);
        o.restarted_listening = relisten && *relisten == p;
        if (!o.restarted_listening) {
            o.bind_failed_in_use = again.bind_in_use();
            o.diagnosis = doctor_summary(p);
        }
        return o;
    }
    s.prog().stop(1000);
    return o;
}

UniqueFd listen_on(std::uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw socklab::Error(socklab::i18n::format(_("failed to create a socket: {}"), std::strerror(errno)));
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd.get(), 4) != 0) {
        if (errno == EADDRINUSE)
            throw socklab::Error(i18n::format(
                _("failed to listen on 127.0.0.1:{}: {}: 'socklab why {}' tells who holds the port; "
                  "or give your client another with --port"),
                port, std::strerror(errno), port));
        throw socklab::Error(i18n::format(_("failed to listen on 127.0.0.1:{}: {}"), port,
                                          std::strerror(errno)));
    }
    return fd;
}

// --role client: socklab is the server the learner's client connects to.
program::ScenarioObservation run_client_scenario(std::string_view id, const CheckArgs& args,
                                                 Source& source) {
    program::ScenarioObservation o;
    o.id = std::string(id);
    const auto listener = listen_on(*args.port);
    Session s(args, source);
    if (s.start_error() != 0)
        throw socklab::Error(i18n::format(_("failed to start {}: {}"), args.command.front(),
                                          std::strerror(s.start_error())));
    pollfd p{listener.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) {
        o.server_started = false;
        return o;
    }
    Peer conn(UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC)));
    const auto peer = conn.fd ? [&] {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        ::getpeername(conn.fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
        return ntohs(a.sin_port);
    }() : std::uint16_t{0};
    const auto end = s.end_for(*args.port);
    if (id == "server-closes-first") {
        send_text(conn.fd.get(), "welcome from socklab\n");  // i18n: allow
        const auto closed_at = Clock::now();
        conn.fd.reset();  // an orderly close: FIN
        bool closed = false;
        while (Clock::now() - closed_at < 2000ms && !closed) {
            const auto now = s.end_for(*args.port);
            closed = !now || (now->record.local_port == peer &&
                              now->record.state != static_cast<std::uint8_t>(TcpState::close_wait));
            if (!closed) s.prog().wait_exit(20);
        }
        if (!closed) o.close_wait_s = std::chrono::duration<double>(Clock::now() - closed_at).count();
        o.peer_got_eof = closed;
        if (end) o.recv_zero = s.recv_zero(end->record.inode);
    } else if (id == "server-resets") {
        conn.abort();
        s.prog().wait_exit(1000);
    } else {  // server-silent
        s.prog().wait_exit(2000);
    }
    o.program_alive = !s.prog().poll_exit();
    o.program_signal = s.prog().ending().signal;
    s.prog().stop(1000);
    return o;
}

int run_check(const CheckArgs& args) {
    StopSignals signals;
    if (args.role == "client" && !args.port) {
        std::fprintf(stderr, "%s\n", _("socklab: check --role client needs --port P: the port your client connects to"));
        return kExitUsage;
    }
    auto source = make_default_source();
    std::vector<program::ScenarioResult> results;
    std::optional<std::uint16_t> port = args.port;
    const bool client = args.role == "client";
    const auto ids = client ? std::span<const std::string_view>(program::kClientScenarios)
                            : std::span<const std::string_view>(program::kServerScenarios);
    for (const auto id : ids) {
        if (stop_requested()) break;
        const auto o = client ? run_client_scenario(id, args, *source)
                              : run_scenario(id, args, *source, port);
        results.push_back(program::judge(o));
        if (!args.json) {
            const auto& r = results.back();
            std::printf("%s %-19s %s", r.ok ? "\u2713" : "\u2717", r.id.c_str(), r.evidence.c_str());
            if (!r.ok && !r.lab.empty())
                std::printf("%s", i18n::format(_("  (lab: socklab lab run {})"), r.lab).c_str());
            std::printf("\n");
            std::fflush(stdout);
        }
    }
    const auto j = program::check_json(args.role, port.value_or(0), results);
    if (args.json)
        std::printf("%s\n", j.dump().c_str());
    else
        std::printf("%s\n", i18n::format(_("{} of {} scenarios passed"), j["passed"].get<int>(),
                                         results.size()).c_str());
    return j["passed"].get<std::size_t>() == results.size() ? kExitOk : kExitNothing;
}

}  // namespace

void register_run(CLI::App& root, Runner& run) {
    auto args = std::make_shared<RunArgs>();
    auto* sub = root.add_subcommand(
        "run", _("Run your program and report what it did to its sockets, with the kernel's evidence"));
    sub->add_flag("--json", args->json, _("Print the report as one JSON object on stdout"));
    sub->add_option("--port", args->port, _("The port your program binds (for the port doctor's diagnosis)"))
        ->check(port_validator());
    sub->add_option("--log", args->log, _("Write the live events to FILE instead of stderr"));
    sub->add_option("--report", args->report, _("Also write the report as JSON to FILE"));
    sub->add_option("--duration", args->duration_s, _("Stop the program after SECONDS"))
        ->check(decimal_number(0.001, 31'536'000, "seconds"));
    sub->add_flag("--strict", args->strict, _("Exit with status 3 when there are findings"));
    sub->add_option("command", args->command, _("The program and its arguments, after --"))
        ->required();
    set_examples(*sub,
                 _("  socklab run -- python3 chat.py        run chat.py and report on its sockets\n"
                   "  socklab run --duration 30 --report r.json -- ./server 9000\n"));
    sub->callback([&run, args] { run = [args] { return run_program(*args); }; });

    auto cargs = std::make_shared<CheckArgs>();
    auto* chk = root.add_subcommand("check", _("Grade your chat server with scripted clients"));
    chk->add_option("--role", cargs->role, _("What your program is: server (default) or client"))
        ->check(CLI::IsMember({"server", "client"}));
    chk->add_option("--port", cargs->port, _("The port your server listens on (found by itself otherwise)"))
        ->check(port_validator());
    chk->add_flag("--json", cargs->json, _("Print the score card as one JSON object"));
    chk->add_option("command", cargs->command, _("The program and its arguments, after --"))
        ->required();
    set_examples(*chk, _("  socklab check -- python3 chat.py      every scenario against chat.py\n"));
    chk->callback([&run, cargs] { run = [cargs] { return run_check(*cargs); }; });
}

}  // namespace socklab::cli
