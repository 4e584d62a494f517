#include "labkit.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "socklab/args.hpp"
#include "socklab/text_width.hpp"
#include "socklab/error.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/tracer.hpp"
#include "socklab/capture.hpp"
#include "socklab/conversation.hpp"
#include "socklab/i18n.hpp"
#include "socklab/lab_protocol.hpp"
#include "socklab/utf8.hpp"

namespace socklab::lab {
namespace {

using Clock = std::chrono::steady_clock;

// ---- Ctrl-C: a flag and a self-pipe, so every wait in the runner can poll for it ----
std::atomic<bool> g_interrupted{false};
int g_signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int) {
    g_interrupted.store(true);
    const char c = 1;
    // Nothing to do if the pipe is full: the flag is already set.
    [[maybe_unused]] const auto n = ::write(g_signal_pipe[1], &c, 1);
}

// The lab program's signals, set once from its main() (Lab::run): a lab killed by a signal it
// does not catch (SIGHUP) leaves no tracing instance behind (Tracer::remove_instances_on_exit);
// Ctrl-C and SIGTERM unwind the lab, whose destructors remove it.
void install_signal_handlers() {
    Tracer::remove_instances_on_exit();
    if (g_signal_pipe[0] < 0 && ::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        throw sys_error(_("create the signal pipe"), errno);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked call returns EINTR so the lab can unwind
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    // A lab writes to closed peers on purpose; the error (EPIPE) is the lesson, not a death.
    ::signal(SIGPIPE, SIG_IGN);
}

// Columns a UTF-8 string takes on a terminal (Hangul: 2 a syllable), shared with the CLI.
using socklab::text::display_width;

// The width to lay text out in: the terminal's (TIOCGWINSZ on stdout), else $COLUMNS, else
// 100. Never below 40: narrower than that, nothing can be laid out sensibly.
std::size_t terminal_width() {
    std::size_t w = 100;
    winsize ws{};
    if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        w = ws.ws_col;
    } else if (const char* cols = std::getenv("COLUMNS")) {
        char* end = nullptr;
        const long v = std::strtol(cols, &end, 10);
        if (end != cols && *end == '\0' && v > 0 && v < 10000) w = static_cast<std::size_t>(v);
    }
    return std::max<std::size_t>(w, 40);
}

// Break every line of `text` that is wider than `width` at spaces (never inside a word); the
// continuation keeps the line's indent plus two spaces. The terminal then never wraps.
std::string fit_lines(std::string_view text, std::size_t width) {
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        const bool nl = end != std::string_view::npos;
        if (!nl) end = text.size();
        std::string line(text.substr(start, end - start));
        const auto indent_len = std::min(line.find_first_not_of(' '), line.size());
        const std::string cont(std::min<std::size_t>(indent_len + 2, width / 2), ' ');
        std::size_t floor = indent_len;  // never cut inside the indent
        while (display_width(line) > width) {
            std::size_t cut = std::string::npos;
            for (auto sp = line.find(' ', floor + 1);
                 sp != std::string::npos && display_width(std::string_view(line).substr(0, sp)) <= width;
                 sp = line.find(' ', sp + 1))
                cut = sp;
            if (cut == std::string::npos) break;  // one word wider than the line: leave it
            out.append(line, 0, cut);
            out += '\n';
            const auto rest = line.find_first_not_of(' ', cut);
            line = cont + (rest == std::string::npos ? std::string() : line.substr(rest));
            floor = cont.size();
        }
        out += line;
        if (nl) out += '\n';
        start = end + 1;
    }
    return out;
}

std::string join_lines(std::string_view text, std::size_t width, std::string_view indent) {
    std::string out, line;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto sp = text.find(' ', start);
        if (sp == std::string_view::npos) sp = text.size();
        const auto word = text.substr(start, sp - start);
        if (!line.empty() && display_width(indent) + display_width(line) + 1 + display_width(word) > width) {
            out += std::string(indent) + line + "\n";
            line.clear();
        }
        if (!line.empty()) line += ' ';
        line += word;
        start = sp + 1;
    }
    if (!line.empty()) out += std::string(indent) + line + "\n";
    return out;
}

std::string expect_text(const Expect& e) {
    std::string where = fmt::format(":{}", e.local_port);
    where += e.remote_port ? fmt::format(" ↔ :{}", e.remote_port) : std::string(_(" (no peer)"));
    if (e.recv_q) where += fmt::format(", Recv-Q {}", *e.recv_q);
    if (e.send_q) where += fmt::format(", Send-Q {}", *e.send_q);
    if (e.min_recv_q) where += fmt::format(", Recv-Q ≥ {}", e.min_recv_q);
    if (e.min_send_q) where += fmt::format(", Send-Q ≥ {}", e.min_send_q);
    if (e.count) where += socklab::i18n::format(_(", exactly {} of them"), e.count);
    if (e.kernel_only) where += _(", no descriptor (inode 0)");
    return e.absent ? socklab::i18n::format(_("no {} left at {}"), e.state, where)
                    : socklab::i18n::format(_("{} at {}"), e.state, where);
}

std::string endpoint_text(const IpAddr& a, std::uint16_t port) {
    if (a.family == 0) return "*";
    if (port != 0) return format_endpoint(a, port);
    auto text = format_endpoint(a, 0);  // "0.0.0.0:0": show a missing port the way ss does
    text.back() = '*';
    return text;
}

// ---- predict mode: a question built from a step's own expectations ----

// One socket the question is about, and the state the step expects of it (or its absence).
struct PredictItem {
    std::string who;
    std::string proto;
    std::string state;
    bool absent = false;
    bool operator==(const PredictItem&) const = default;
};

struct Question {
    LabPredict wire;  // question text and choices, as the protocol carries them
    int answer = 0;   // 1-based number of the right choice
};

// Which socket an expectation is about, named without its state. `after`: an expectation the
// step computes from what its call did (the port connect() picked), unknown before the call.
std::string who_of(const Expect& e, std::uint16_t lab_port, bool after) {
    if (e.remote_port == lab_port && lab_port != 0)
        return after || e.local_port == 0 ? std::string(_("client"))
                                          : socklab::i18n::format(_("client :{}"), e.local_port);
    if (e.local_port == lab_port && (e.remote_port != 0 || after))
        return after || e.remote_port == 0
                   ? std::string(_("server"))
                   : socklab::i18n::format(_("server (peer :{})"), e.remote_port);
    if (e.remote_port == 0) return socklab::i18n::format(_("socket on :{}"), e.local_port);
    return fmt::format(":{} ↔ :{}", e.local_port, e.remote_port);
}

std::string item_text(const PredictItem& it) {
    const std::string who = it.proto == "udp" ? "UDP " + it.who : it.who;
    return it.absent ? socklab::i18n::format(_("{}: no {}"), who, it.state)
                     : fmt::format("{} {}", who, it.state);
}

std::string choice_text(const std::vector<PredictItem>& items) {
    std::string out;
    for (const auto& it : items) {
        if (!out.empty()) out += " / ";
        out += item_text(it);
    }
    return out;
}

// Plausible wrong states for one item: its neighbours in the RFC 9293 diagram (core/state),
// then "not there at all"; an absent item's wrong answers are the state being there, then its
// neighbours.
std::vector<PredictItem> alternatives(const PredictItem& it, bool bound_listed) {
    std::vector<PredictItem> out;
    auto add = [&](std::string_view state, bool absent) {
        if (state == "BOUND_INACTIVE" && !bound_listed) return;
        if (it.proto == "udp" ? (state != "UNCONN" && state != "ESTABLISHED")
                              : (state == "UNCONN" || state == "CLOSE"))
            return;
        PredictItem alt = it;
        alt.state = std::string(state);
        alt.absent = absent;
        if (alt == it) return;
        if (std::find(out.begin(), out.end(), alt) == out.end()) out.push_back(std::move(alt));
    };
    const std::string state = it.state == "UNCONN" && it.proto == "udp" ? "UNCONN" : it.state;
    if (it.absent) {
        add(state, false);
        for (const auto n : next_states(state)) add(n, false);
        for (const auto n : previous_states(state)) add(n, false);
    } else {
        for (const auto n : previous_states(state)) add(n, false);
        for (const auto n : next_states(state)) add(n, false);
        add(state, true);
    }
    return out;
}

// The question for a step with state expectations: nullopt for a step that expects no state.
std::optional<Question> make_question(const Step& s, int n, int lab_number, std::uint16_t lab_port) {
    std::vector<PredictItem> items;
    auto take = [&](const std::vector<Expect>& xs, bool after) {
        for (const auto& e : xs) {
            if (e.state.empty()) continue;
            PredictItem it{who_of(e, lab_port, after), e.proto, e.state, e.absent};
            if (std::find(items.begin(), items.end(), it) == items.end()) items.push_back(std::move(it));
        }
    };
    take(s.expect, false);
    // expect_after only reads the ports the call will record (still 0 here): it names the
    // sockets the call will make, so the question can ask about them too.
    if (s.expect_after) take(s.expect_after(), true);
    if (items.empty()) return std::nullopt;
    const bool bound_listed = bound_sockets_listed();
    std::vector<std::vector<PredictItem>> wrong;
    std::vector<std::vector<PredictItem>> alts;
    for (const auto& it : items) alts.push_back(alternatives(it, bound_listed));
    // One socket changed at a time, taking each socket's alternatives in turn, until three.
    for (std::size_t round = 0; wrong.size() < 3; ++round) {
        bool any = false;
        for (std::size_t i = 0; i < items.size() && wrong.size() < 3; ++i) {
            if (round >= alts[i].size()) continue;
            any = true;
            auto cand = items;
            cand[i] = alts[i][round];
            const auto text = choice_text(cand);
            if (std::none_of(wrong.begin(), wrong.end(),
                             [&](const auto& w) { return choice_text(w) == text; }))
                wrong.push_back(std::move(cand));
        }
        if (!any) break;
    }
    Question q;
    const std::size_t k = wrong.size() + 1;
    const std::size_t right = (static_cast<std::size_t>(n) * 3 + static_cast<std::size_t>(lab_number)) % k;
    q.answer = static_cast<int>(right) + 1;
    for (std::size_t i = 0, w = 0; i < k; ++i)
        q.wire.choices.push_back(i == right ? choice_text(items) : choice_text(wrong[w++]));
    q.wire.question = socklab::i18n::format(
        _("Step {}: {} — what state(s) will the socket(s) be in?"), n, s.call);
    return q;
}

// "3" → 3 when 1 <= 3 <= k; nullopt for anything else.
std::optional<int> parse_pick(std::string_view line, std::size_t k) {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    if (line.empty() || line.size() > 3) return std::nullopt;
    int v = 0;
    for (const char c : line) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    if (v < 1 || static_cast<std::size_t>(v) > k) return std::nullopt;
    return v;
}

}  // namespace

// ---- Result / Endpoint / wrappers ----

Result Result::of(long ret, std::string detail) {
    Result r;
    r.err = ret < 0 ? errno : 0;
    r.value = ret;
    r.detail = std::move(detail);
    return r;
}

Result Result::note(std::string text) {
    Result r;
    r.detail = std::move(text);
    return r;
}

std::string Result::text() const {
    std::string s = err ? fmt::format("{} {} ({})", value, errno_name(err), std::strerror(err))
                        : std::to_string(value);
    if (!detail.empty()) s += "  " + detail;
    return s;
}

std::string errno_name(int err) {
    // The names a lab can meet; strerror gives the text, this gives what `man 2` calls it.
    static const std::map<int, std::string_view> names{
        {EADDRINUSE, "EADDRINUSE"}, {ECONNREFUSED, "ECONNREFUSED"}, {ECONNRESET, "ECONNRESET"},
        {EPIPE, "EPIPE"},           {EAGAIN, "EAGAIN"},             {EINPROGRESS, "EINPROGRESS"},
        {EINTR, "EINTR"},           {EINVAL, "EINVAL"},             {EACCES, "EACCES"},
        {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ENOTCONN, "ENOTCONN"},   {EISCONN, "EISCONN"},
        {ETIMEDOUT, "ETIMEDOUT"},   {EBADF, "EBADF"},               {EMFILE, "EMFILE"},
        {ENETUNREACH, "ENETUNREACH"}, {EHOSTUNREACH, "EHOSTUNREACH"}, {EALREADY, "EALREADY"},
        {EPERM, "EPERM"},           {ENOPROTOOPT, "ENOPROTOOPT"},   {EMSGSIZE, "EMSGSIZE"},
    };
    const auto it = names.find(err);
    return it != names.end() ? std::string(it->second) : fmt::format("errno {}", err);
}

Endpoint Endpoint::parse(const std::string& host, std::uint16_t port) {
    Endpoint e;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&e.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.storage);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        e.len = sizeof *v4;
        e.family = AF_INET;
    } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        e.len = sizeof *v6;
        e.family = AF_INET6;
    } else {
        throw Error(socklab::i18n::format(_("failed to parse host '{}': give a numeric IPv4 or IPv6 address, "
                                   "e.g. 127.0.0.1 or ::1"), host));
    }
    return e;
}

std::uint16_t Endpoint::port() const noexcept {
    return family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port)
                             : ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

std::string Endpoint::str() const {
    const auto ip = family == AF_INET
                        ? IpAddr::v4(&reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr)
                        : IpAddr::v6(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
    return format_endpoint(ip, port());
}

std::string Endpoint::family_name() const { return family == AF_INET ? "AF_INET" : "AF_INET6"; }

std::string describe_socket_call(std::string_view fn, int fd, const Endpoint& ep) {
    return fmt::format("{}({}, {})", fn, fd, ep.str());
}

namespace {
std::uint16_t port_from(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}
}  // namespace

std::uint16_t local_port_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    return ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 ? port_from(ss) : 0;
}

std::uint16_t peer_port_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    return ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 ? port_from(ss) : 0;
}

bool bound_sockets_listed() {
    static const bool listed = [] {
        if (const char* env = std::getenv("SOCKLAB_BOUND_INACTIVE"); env && std::string_view(env) == "0")
            return false;
        try {
            const auto src = make_default_source();
            return socklab::kernel_lists_bound_sockets(*src);
        } catch (const Error&) {
            return false;  // no probe socket: expect what an older kernel shows
        }
    }();
    return listed;
}

std::vector<Expect> expect_bound_only(std::uint16_t port, std::uint32_t count) {
    if (bound_sockets_listed())
        return {{.local_port = port, .state = "BOUND_INACTIVE", .count = count}};
    return {{.local_port = port, .state = "LISTEN", .absent = true}};
}

std::string bound_only_text() {
    return bound_sockets_listed()
               ? _("This kernel lists a bound-only socket as BOUND_INACTIVE (Linux 6.9 and later, "
                 "when the dump asks for it; ss -a does not ask).")
               : _("This kernel does not list bound-only sockets at all (before Linux 6.9 the "
                 "dump has no BOUND_INACTIVE): the table shows nothing on the port, although "
                 "the port is taken.");
}

long fill_until_eagain(int fd) {
    const std::string chunk(65536, 'x');
    long total = 0;
    for (int i = 0; i < 4096; ++i) {  // bounded: far more than any socket buffer holds
        const auto n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN ? total : -1;
        total += n;
    }
    return total;
}

Result fill_step(int fd, long& taken) {
    taken = fill_until_eagain(fd);
    return Result::of(taken, _("bytes accepted before EAGAIN"));
}

std::vector<Expect> expect_filled(std::uint16_t reader_port, std::uint16_t writer_port,
                                  std::string reader_state, std::string writer_state) {
    return {{.local_port = reader_port, .remote_port = writer_port, .state = std::move(reader_state),
             .min_recv_q = 1},
            {.local_port = writer_port, .remote_port = reader_port, .state = std::move(writer_state),
             .min_send_q = 1}};
}

int sysctl_int(const char* path, int fallback) {
    std::ifstream in(path);
    int v = fallback;
    in >> v;
    return v;
}

void set_int_option(int fd, int level, int name, int value, std::string_view what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0)
        throw Stop{Stop::Why::failed,
                   socklab::i18n::format(_("failed to set {} on fd {}: {}"), what, fd, std::strerror(errno))};
}

std::pair<int, int> local_port_range() {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    int lo = 32768, hi = 60999;
    in >> lo >> hi;
    return {lo, hi};
}

std::uint16_t port_in_local_range(std::uint16_t lab_port, int below_top) {
    const auto [lo, hi] = local_port_range();
    return static_cast<std::uint16_t>(std::max<int>(lo, hi - below_top + lab_port % 1000));
}

std::string tcp_info_state(int fd) {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return "unknown";
    return std::string(state_name(info.tcpi_state));
}

Result send_all(int fd, std::string_view data) {
    std::size_t off = 0;
    int calls = 0;
    while (off < data.size()) {
        const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR && !Lab::interrupted()) continue;
            return Result::of(-1);
        }
        off += static_cast<std::size_t>(n);
        ++calls;
    }
    return Result::of(static_cast<long>(off), socklab::i18n::format(socklab::i18n::tr_n("({} send() call)", "({} send() calls)", calls), calls));
}

Result recv_now(int fd, std::string& out, std::size_t max) {
    out.clear();
    char buf[4096];
    while (out.size() < max) {
        const ssize_t n = ::recv(fd, buf, std::min(sizeof buf, max - out.size()), MSG_DONTWAIT);
        if (n < 0) {
            if (out.empty()) return Result::of(-1);
            break;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return Result::of(static_cast<long>(out.size()));
}

Connection connect_pair(Lab& lab, const std::function<void(int)>& before_listen) {
    const Endpoint ep = lab.endpoint();
    Connection c;
    lab.step({.title = _("Set up a connection (labs 2 and 3 in one step)"),
              .call = fmt::format("socket() + setsockopt(SO_REUSEADDR) + bind({0}) + listen(16); "
                                  "socket() + connect({0}); accept()",
                                  ep.str()),
              .explain = _("A listener, a client connected to it and the accepted socket: both "
                         "ends of one loopback connection are ESTABLISHED. (SO_REUSEADDR lets a "
                         "class re-run the lab while the last run's TIME_WAIT holds the port.)"),
              .expect = {{.local_port = lab.port(), .state = "LISTEN", .recv_q = 0}},
              .expect_after = [&] {
                  return std::vector<Expect>{
                      {.local_port = c.client_port, .remote_port = lab.port(),
                       .state = "ESTABLISHED"},
                      {.local_port = lab.port(), .remote_port = c.client_port,
                       .state = "ESTABLISHED"}};
              }},
             [&] {
                 c.listener.reset(::socket(ep.family, SOCK_STREAM, 0));
                 if (!c.listener) return Result::of(-1);
                 const int one = 1;
                 // A class re-runs labs back to back; the TIME_WAIT of the last run must not
                 // stop this one (lab 6 is where that rule is the lesson).
                 ::setsockopt(c.listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                 if (before_listen) before_listen(c.listener.get());
                 if (::bind(c.listener.get(), ep.sa(), ep.len) != 0 ||
                     ::listen(c.listener.get(), 16) != 0)
                     return Result::of(-1);
                 c.client.reset(::socket(ep.family, SOCK_STREAM, 0));
                 if (!c.client || ::connect(c.client.get(), ep.sa(), ep.len) != 0)
                     return Result::of(-1);
                 c.server.reset(::accept(c.listener.get(), nullptr, nullptr));
                 if (!c.server) return Result::of(-1);
                 c.client_port = local_port_of(c.client.get());
                 return Result::of(c.server.get(),
                                   socklab::i18n::format(_("listener fd {}, client fd {} (port {}), accepted fd {}"),
                                               c.listener.get(), c.client.get(), c.client_port,
                                               c.server.get()));
             });
    return c;
}

Pair connect_again(Lab& lab, int listener_fd, std::string title, std::string explain) {
    const Endpoint ep = lab.endpoint();
    Pair p;
    lab.step({.title = std::move(title),
              .call = socklab::i18n::format(_("connect(<new socket>, {}); accept({})"), ep.str(), listener_fd),
              .explain = std::move(explain),
              .expect = {},
              .expect_after = [&] {
                  return std::vector<Expect>{
                      {.local_port = lab.port(), .remote_port = p.client_port,
                       .state = "ESTABLISHED"}};
              }},
             [&] {
                 p.client.reset(::socket(ep.family, SOCK_STREAM, 0));
                 if (!p.client || ::connect(p.client.get(), ep.sa(), ep.len) != 0)
                     return Result::of(-1);
                 p.client_port = local_port_of(p.client.get());
                 p.server.reset(::accept(listener_fd, nullptr, nullptr));
                 return Result::of(p.server.get(), socklab::i18n::format(_("(client port {})"), p.client_port));
             });
    return p;
}

// ---- the runner ----

struct Lab::Impl {
    std::unique_ptr<Source> source;
    std::unique_ptr<TransitionTracer> tracer;  // here (root) or through socklab-helper
    bool tracing = false;
    // The segments each step causes (libpcap on lo; needs CAP_NET_RAW like the tracer).
    std::unique_ptr<Capture> capture;
    bool capturing = false;
    conversation::ConversationSet convs{256};  // relative seq/ack across the lab's steps
    std::set<std::uint16_t> ports;
    int steps_planned = 0;
    std::atomic<int> step_no{0};  // read by the chat's reader threads (their notes)
    bool failed = false;
    bool step_mode = true;  // false once --auto or `a`
    std::mutex out_mu;      // the chat's socket thread prints beside the main thread
    std::string stdin_buf;
    bool stdin_eof = false;
    std::string utf8_pending;  // --json: a multi-byte character split across two recv()s
    int questions = 0;         // --predict: questions asked
    int predicted = 0;         // ... and picks that were right
    std::size_t next_answer = 0;  // --answers: the next pick to use

    void emit_line(const std::string& line) {
        std::lock_guard lock(out_mu);
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }

    void say(const std::string& text) {
        std::lock_guard lock(out_mu);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    }
    // Text of the runner's own (not chat bytes), laid out for the terminal's width.
    void say_fitted(const std::string& text) { say(fit_lines(text, terminal_width())); }

    // What the table and the tracers showed after a step's call.
    struct Observation {
        std::vector<SocketRecord> seen;  // sorted as the table prints them
        std::vector<bool> check;         // one per expectation
        std::vector<TransitionEvent> events;
        std::vector<std::pair<Segment, Side>> wire;  // relative seq/ack, and which way
        std::map<std::uint64_t, ProcessRef> ours;   // the lab's own descriptors, by inode
        bool all_ok = false;                         // the call and every check
    };

    // Predict mode: ask the question and take the pick (--answers, or typed). `waited`: the
    // pick was also the go-ahead to run the step.
    std::optional<int> ask(Lab& lab, const Question& question, int n, bool& waited);
    // Step mode: wait for Enter (or a, q); in auto mode, --delay between steps.
    void wait_to_run(Lab& lab, int n, bool waited);
    // Segments captured before this step's call belong to earlier steps: numbered, not shown.
    void forget_earlier_segments();
    // Poll the table until every expectation holds or the step's wait runs out; then what the
    // tracer and the capture saw, and which sockets are the lab's.
    Observation observe(const Step& s, bool call_ok);
    // The step as protocol lines ("step", "observed"), or as text for the terminal.
    void report_json(const Lab& lab, int n, const Step& s, const Result& r, const Observation& o,
                     const std::string& complaint);
    [[nodiscard]] std::string report_text(const Step& s, const Result& r, const Observation& o,
                                          const std::string& complaint, const Question* question,
                                          const LabAnswer& answer) const;
};

Lab::Lab(std::string_view id, int argc, char** argv) : impl_(std::make_unique<Impl>()) {
    socklab::cli::init_language(argc, argv);  // before any text is written
    entry_ = find_lab(id);
    if (!entry_) {
        std::fprintf(stderr, _("labkit: no lab '%.*s' in the catalog\n"), static_cast<int>(id.size()),
                     id.data());
        std::exit(2);
    }
    opts_.port = default_port(entry_->number);
    CLI::App app{socklab::i18n::format(_("socklab lab {} ({}): {}"), entry_->number, entry_->id,
                             _(entry_->summary.data()))};
    app.name(fmt::format("socklab-lab-{}", entry_->id));
    socklab::cli::add_version_flag(app);
    socklab::cli::add_lang_option(app);
    app.add_flag("--auto", opts_.auto_mode, _("run every step without waiting for Enter"));
    app.add_option("--delay", opts_.delay_ms, _("pause MS milliseconds between steps in --auto"))
        ->check(cli::whole_number(0, 600000, "milliseconds"))
        ->option_text("MS");
    app.add_flag("--json", opts_.json,
                 _("print the step protocol (one JSON object per line); in step mode read "
                 "next/auto/quit lines on stdin"));
    app.add_option("--port", opts_.port, _("the lab's port (default 9000 + lab number)"))
        ->check(cli::port_validator())
        ->option_text("N");
    std::string role = "both";
    app.add_option("--role", role, _("both ends here, or only the server / the client"))
        ->check(CLI::IsMember({"both", "server", "client"}))
        ->option_text("both|server|client");
    app.add_option("--host", opts_.host,
                   _("address to bind (server) or connect to (client); default 127.0.0.1"))
        ->option_text("H");
    auto* predict = app.add_flag(
        "--predict", opts_.predict,
        _("before each step with a state to check, hide its title and ask what the table will "
          "show; score the answers at the end"));
    std::string answers;
    app.add_option("--answers", answers,
                   _("with --predict: the picks for the questions in order, e.g. 1,3,2 (for --auto; "
                     "without it --auto shows each question and its answer)"))
        ->needs(predict)
        ->option_text("N,N,...");
    app.footer(socklab::i18n::format(_("\nKeys in step mode: Enter = next step, a = run the rest, q = quit.\n"
                           "\nEXAMPLES\n"
                           "  socklab-lab-{0}                  one step at a time\n"
                           "  socklab-lab-{0} --auto --delay 1500   paced for a class\n"
                           "  socklab-lab-{0} --json --auto     the step protocol\n"),
                           entry_->id));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) std::exit(app.exit(e));
        std::fprintf(stderr, _("socklab-lab-%s: %s\nRun 'socklab-lab-%s --help' for usage.\n"),
                     std::string(entry_->id).c_str(), socklab::cli::parse_error_text(e).c_str(),
                     std::string(entry_->id).c_str());
        std::exit(2);
    }
    if (!answers.empty()) {
        std::size_t start = 0;
        while (start <= answers.size()) {
            auto comma = answers.find(',', start);
            if (comma == std::string::npos) comma = answers.size();
            const auto pick = parse_pick(std::string_view(answers).substr(start, comma - start), 99);
            if (!pick) {
                std::fprintf(stderr,
                             _("socklab-lab-%s: --answers takes choice numbers separated by "
                               "commas, e.g. 1,3,2; got '%s'\n"),
                             std::string(entry_->id).c_str(), answers.c_str());
                std::exit(2);
            }
            opts_.answers.push_back(*pick);
            start = comma + 1;
        }
    }
    opts_.role = role == "server" ? Role::server : role == "client" ? Role::client : Role::both;
    if (opts_.role != Role::both && !entry_->two_roles) {
        std::fprintf(stderr,
                     _("socklab-lab-%s: this lab runs both ends in one program so it can show "
                     "both; --role server|client applies to the chat lab. Drop --role.\n"),
                     std::string(entry_->id).c_str());
        std::exit(2);
    }
    try {
        (void)Endpoint::parse(opts_.host, opts_.port);
    } catch (const Error& e) {
        std::fprintf(stderr, "socklab-lab-%s: %s\n", std::string(entry_->id).c_str(), e.what());
        std::exit(2);
    }
    impl_->step_mode = !opts_.auto_mode;
    impl_->ports.insert(opts_.port);
}

Lab::~Lab() {
    // The tracer prints nothing: what it could not remove is said here.
    if (impl_ && impl_->tracer && impl_->tracer->status().active) {
        if (const auto left = impl_->tracer->stop(); !left.empty())
            std::fprintf(stderr, "socklab: %s\n", left.c_str());
    }
}

bool Lab::interrupted() noexcept { return g_interrupted.load(); }
int Lab::interrupt_fd() noexcept { return g_signal_pipe[0]; }

void Lab::watch(std::uint16_t port) { impl_->ports.insert(port); }

std::optional<std::string> Lab::read_line(int wake_fd) {
    auto& buf = impl_->stdin_buf;
    for (;;) {
        if (const auto nl = buf.find('\n'); nl != std::string::npos) {
            std::string line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        if (impl_->stdin_eof) {
            if (buf.empty()) return std::nullopt;
            return std::exchange(buf, {});  // a last line without '\n'
        }
        if (interrupted()) return std::nullopt;
        pollfd fds[3] = {{0, POLLIN, 0}, {interrupt_fd(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
        const int n = ::poll(fds, wake_fd >= 0 ? 3 : 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::nullopt;
        }
        if (fds[1].revents || (wake_fd >= 0 && fds[2].revents)) return std::nullopt;
        char chunk[4096];
        const ssize_t got = ::read(0, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            impl_->stdin_eof = true;
            continue;
        }
        buf.append(chunk, static_cast<std::size_t>(got));
    }
}

void Lab::note(const std::string& text) {
    if (opts_.json)
        impl_->emit_line(write_note_line(impl_->step_no, text));
    else
        impl_->say(join_lines(text, terminal_width(), "  "));
}

void Lab::show_received(std::string_view bytes) {
    if (!opts_.json) {
        impl_->say(std::string(bytes));
        return;
    }
    // Hold back an incomplete UTF-8 sequence at the end so JSON never splits a character.
    auto& pending = impl_->utf8_pending;
    pending.append(bytes);
    const std::size_t cut = socklab::utf8::whole_prefix(pending);
    if (cut == 0 && !bytes.empty()) return;
    impl_->emit_line(write_message_line("peer", pending.substr(0, cut)));
    pending.erase(0, cut);
}

void Lab::show_sent(std::string_view text) {
    if (opts_.json) impl_->emit_line(write_message_line("me", text));
}

int Lab::run(int steps, const std::function<void(Lab&)>& lesson) {
    auto& im = *impl_;
    im.steps_planned = steps;
    const std::string id(entry_->id);
    const char* why_not = nullptr;
    std::string stop_reason;
    int code = 0;
    try {
        install_signal_handlers();
        im.source = make_default_source();
        TracerOptions topts;
        topts.port = opts_.port;
        topts.buffer_kb_per_cpu = 512;  // a lab makes a few dozen transitions, not bursts
        im.tracer = std::make_unique<TransitionTracer>(topts);
        im.tracing = im.tracer->status().active;
        CaptureOptions copts;
        copts.ports = {opts_.port};
        copts.buffer_kb = 1024;
        // Every interface of the lab's network namespace, not only lo: lab 19's connection
        // runs over the veth it makes during the run (a packet socket on "any" also sees
        // interfaces that appear later), and --host may name a real interface's address. On
        // "any" libpcap still drops lo's outgoing copy: each segment is seen once.
        copts.interface = "any";
        im.capture = std::make_unique<Capture>(copts);
        im.capturing = im.capture->status().active;
        if (opts_.json) {
            im.emit_line(write_lab_line({.lab = id,
                                         .number = entry_->number,
                                         .title = _(entry_->title.data()),
                                         .steps = steps,
                                         .port = opts_.port,
                                         .role = opts_.role == Role::both     ? "both"
                                                 : opts_.role == Role::server ? "server"
                                                                              : "client",
                                         .tracing = im.tracing,
                                         .capturing = im.capturing}));
        } else {
            im.say(socklab::i18n::format(_("socklab lab {} — {}\n{}"), entry_->number, _(entry_->title.data()),
                               join_lines(_(entry_->summary.data()), terminal_width(), "")));
            im.say_fitted(socklab::i18n::format(_("Port {} on {}, {} steps. Enter = next step, a = run the rest, "
                               "q = quit.\n"),
                               opts_.port, opts_.host, steps));
            if (!im.tracing)
                im.say(join_lines(socklab::i18n::format(_("(No transitions shown: {})"),
                                              im.tracer->status().message),
                                  terminal_width(), ""));
        }
        lesson(*this);
        if (im.step_no != im.steps_planned) {
            im.failed = true;
            stop_reason = socklab::i18n::format(_("internal: the lab planned {} steps but ran {}"),
                                      im.steps_planned, im.step_no);
        }
    } catch (const Stop& s) {
        switch (s.why) {
            case Stop::Why::quit: why_not = "quit"; break;
            case Stop::Why::interrupted: why_not = "interrupted"; code = 130; break;
            case Stop::Why::failed: why_not = "failed"; im.failed = true; break;
        }
        stop_reason = s.message;
    } catch (const std::exception& e) {
        im.failed = true;
        why_not = "failed";
        stop_reason = e.what();
    }
    if (g_interrupted.load() && code == 0) {
        code = 130;
        why_not = "interrupted";
    }
    if (im.failed && code == 0) code = 1;
    const bool ok = !im.failed && code == 0;
    if (opts_.json) {
        LabDone done{.lab = id, .ok = ok, .stopped = why_not ? why_not : "", .message = stop_reason};
        if (opts_.predict) {
            done.questions = im.questions;
            done.predicted = im.predicted;
        }
        im.emit_line(write_done_line(done));
    } else {
        if (!stop_reason.empty())
            std::fprintf(stderr, "socklab-lab-%s: %s\n", id.c_str(), stop_reason.c_str());
        if (im.failed)
            im.say(_("\nLab finished: some expectations were NOT met ✗\n"));
        else if (why_not)
            im.say(socklab::i18n::format(_("\nLab stopped ({}); its sockets are closed.\n"), why_not));
        else
            im.say(_("\nLab finished: every expectation met ✓\n"));
        if (opts_.predict)
            im.say(socklab::i18n::format(
                socklab::i18n::tr_n("You predicted {} of {} step.\n", "You predicted {} of {} steps.\n",
                                    static_cast<unsigned long>(im.questions)),
                im.predicted, im.questions));
    }
    return code;
}

// ---- one step: ask (predict mode), wait for the go-ahead, call, observe, report ----

std::optional<int> Lab::Impl::ask(Lab& lab, const Question& question, int n, bool& waited) {
    const auto& opts = lab.options();
    const auto& q = question.wire;
    // The title and explanation would give the answer away: only the call is shown.
    ++questions;
    if (opts.json) {
        emit_line(write_predict_line(n, q));
    } else {
        std::string t = "\n── " + q.question + "\n";
        for (std::size_t i = 0; i < q.choices.size(); ++i)
            t += fmt::format("    {}. {}\n", i + 1, q.choices[i]);
        say_fitted(t);
    }
    if (!opts.answers.empty()) {
        if (next_answer >= opts.answers.size()) return std::nullopt;
        const int a = opts.answers[next_answer++];
        if (static_cast<std::size_t>(a) <= q.choices.size()) return a;
        return std::nullopt;
    }
    if (!step_mode) return std::nullopt;
    waited = true;
    for (;;) {
        if (opts.json)
            emit_line(write_waiting_line(n));
        else
            say(socklab::i18n::format(_("  Your answer [1-{}], q = quit > "), q.choices.size()));
        const auto line = lab.read_line();
        if (!line) throw Stop{interrupted() ? Stop::Why::interrupted : Stop::Why::quit, {}};
        if (*line == "q" || *line == "quit") throw Stop{Stop::Why::quit, {}};
        if (*line == "a" || *line == "auto") {
            step_mode = false;
            return std::nullopt;
        }
        if (opts.json && *line == "next") return std::nullopt;
        if (auto picked = parse_pick(*line, q.choices.size())) return picked;
        if (!opts.json)
            say(socklab::i18n::format(_("  Type a number from 1 to {} (a = run the rest, q = quit).\n"),
                                      q.choices.size()));
    }
}

void Lab::Impl::wait_to_run(Lab& lab, int n, bool waited) {
    const auto& opts = lab.options();
    if (step_mode && !waited) {
        if (opts.json)
            emit_line(write_waiting_line(n));
        else
            say(_("  [Enter] run it  [a] run the rest  [q] quit > "));
        const auto line = lab.read_line();
        if (!line) throw Stop{interrupted() ? Stop::Why::interrupted : Stop::Why::quit, {}};
        if (*line == "q" || *line == "quit") throw Stop{Stop::Why::quit, {}};
        if (*line == "a" || *line == "auto") step_mode = false;
    } else if (opts.delay_ms > 0 && n > 1) {
        pollfd p{interrupt_fd(), POLLIN, 0};
        (void)::poll(&p, 1, opts.delay_ms);
    }
    if (interrupted()) throw Stop{Stop::Why::interrupted, {}};
}

void Lab::Impl::forget_earlier_segments() {
    if (!capturing) return;
    std::vector<Segment> earlier;
    capture->poll(earlier, std::chrono::milliseconds(0));
    for (const auto& seg : earlier) convs.add(seg);  // numbered, so later steps count from them
}

Lab::Impl::Observation Lab::Impl::observe(const Step& s, bool call_ok) {
    Observation o;
    std::vector<Segment> segments;
    o.check.assign(s.expect.size(), false);
    Query q;
    q.states = kAllStates | (bound_sockets_listed() ? state_bit(TcpState::bound_inactive) : 0u);
    q.tcp_info = true;
    // Look at the table until every expectation holds or the bounded wait runs out: the
    // kernel finishes some work (an ACK, a timer) just after the call returns.
    const auto deadline = Clock::now() + s.wait;
    for (;;) {
        o.seen.clear();
        for (const auto port : ports) {
            q.port = port;
            for (auto& rec : source->snapshot(q).sockets) {
                // Two listeners of SO_REUSEPORT share a 4-tuple: tell them apart by cookie.
                const bool dup = std::any_of(o.seen.begin(), o.seen.end(), [&](const SocketRecord& x) {
                    return key_of(x) == key_of(rec) && x.state == rec.state &&
                           x.cookie == rec.cookie && x.inode == rec.inode;
                });
                if (!dup) o.seen.push_back(std::move(rec));
            }
        }
        bool all = true;
        for (std::size_t i = 0; i < s.expect.size(); ++i) {
            const auto& e = s.expect[i];
            const auto found = static_cast<std::uint32_t>(std::count_if(
                o.seen.begin(), o.seen.end(), [&](const SocketRecord& rec) { return describes(e, rec); }));
            o.check[i] = e.absent ? found == 0 : e.count ? found == e.count : found > 0;
            all = all && o.check[i];
        }
        if (tracing) tracer->poll(o.events, std::chrono::milliseconds(0));
        if (capturing) capture->poll(segments, std::chrono::milliseconds(0));
        if (all || Clock::now() >= deadline || interrupted()) break;
        pollfd p{interrupt_fd(), POLLIN, 0};
        (void)::poll(&p, 1, 10);
    }
    // Transitions trail the call by microseconds; give the tracer a moment to hand them over.
    if (tracing) tracer->poll(o.events, std::chrono::milliseconds(30));
    if (capturing) capture->poll(segments, std::chrono::milliseconds(10));
    // Numbered relative to each side's first sequence number, as tshark shows them; the
    // arrow says which way it went (→ client to server, ← server to client).
    for (const auto& seg : segments) {
        const ConversationItem* item = nullptr;
        convs.add(seg, &item);
        o.wire.emplace_back(item ? *item->segment() : seg, item ? item->side : Side::unknown);
    }
    std::sort(o.seen.begin(), o.seen.end(), [](const SocketRecord& a, const SocketRecord& b) {
        return std::tie(a.proto, a.local_port, a.remote_port, a.state) <
               std::tie(b.proto, b.local_port, b.remote_port, b.state);
    });
    o.ours = sockets_held_by(::getpid());  // which of these sockets are the lab's descriptors
    o.all_ok = call_ok && std::all_of(o.check.begin(), o.check.end(), [](bool c) { return c; });
    return o;
}

void Lab::Impl::report_json(const Lab& lab, int n, const Step& s, const Result& r,
                            const Observation& o, const std::string& complaint) {
    LabStepLine step{.lab = std::string(lab.entry().id), .step = n, .steps = steps_planned,
                     .title = s.title, .call = s.call, .result = r.text(), .explain = s.explain,
                     .expect = s.expect};
    if (tracing) step.transitions = o.events;
    emit_line(write_step_line(step));
    LabObservedLine observed{.step = n, .ok = o.all_ok, .call_problem = complaint};
    for (const auto& rec : o.seen) {
        LabObservedSocket sock{.record = rec};
        if (const auto it = o.ours.find(rec.inode); rec.inode && it != o.ours.end())
            sock.owners.push_back(it->second);
        observed.sockets.push_back(std::move(sock));
    }
    for (std::size_t i = 0; i < s.expect.size(); ++i)
        observed.checks.push_back({s.expect[i], o.check[i]});
    if (capturing) {
        observed.segments.emplace();
        for (const auto& [seg, side] : o.wire) observed.segments->push_back(seg);
    }
    emit_line(write_observed_line(observed));
}

std::string Lab::Impl::report_text(const Step& s, const Result& r, const Observation& o,
                                   const std::string& complaint, const Question* question,
                                   const LabAnswer& answer) const {
    const auto& picked = answer.picked;
    std::string t = fmt::format("  = {}{}\n", r.text(), complaint.empty() ? "" : "   ✗ " + complaint);
    t += join_lines(s.explain, terminal_width(), "  │ ");
    t += socklab::i18n::format(socklab::i18n::tr_n("  Kernel table (port {}):\n", "  Kernel table (ports {}):\n", ports.size()),
                     fmt::join(ports, ", "));
    if (o.seen.empty()) t += _("    (no sockets)\n");
    // Columns as wide as their widest cell (as ss does); what does not fit the terminal
    // continues on the next line, broken between words.
    std::vector<std::array<std::string, 8>> rows{
        {"PROTO", "STATE", "LOCAL", "REMOTE", "RECV-Q", "SEND-Q", "TIMER", "OWNER"}};
    for (const auto& rec : o.seen) {
        std::string timer = "-";
        if (rec.timer != TimerKind::none)
            timer = fmt::format("{} {:.1f}s", timer_name(rec.timer), rec.timer_ms / 1000.0);
        std::string owner = "-";
        if (rec.inode == 0)
            owner = _("no descriptor (kernel only)");
        else if (const auto it = o.ours.find(rec.inode); it != o.ours.end())
            owner = socklab::i18n::format(_("fd {} (this lab)"), it->second.fd);
        rows.push_back({std::string(proto_name(rec.proto)), std::string(rec.state_name()),
                        endpoint_text(rec.local_addr, rec.local_port),
                        endpoint_text(rec.remote_addr, rec.remote_port),
                        std::to_string(rec.recv_q), std::to_string(rec.send_q), timer,
                        owner});
    }
    std::array<std::size_t, 8> widths{};
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], display_width(row[i]));
    if (!o.seen.empty())
        for (const auto& row : rows) {
            std::string line = "   ";
            for (std::size_t i = 0; i < row.size(); ++i) {
                const bool right = i == 4 || i == 5;  // the queues, as ss aligns them
                const std::string pad(widths[i] - display_width(row[i]), ' ');
                line += ' ';
                line += right ? pad + row[i] : i + 1 < row.size() ? row[i] + pad : row[i];
            }
            t += line + "\n";
        }
    if (!o.events.empty()) {
        t += _("  Transitions (kernel tracepoint):\n");
        for (const auto& ev : o.events)
            t += fmt::format("    {:<11} → {:<11} {} → {}\n", state_name(ev.old_state),
                             state_name(ev.new_state),
                             format_endpoint(ev.local_addr, ev.local_port),
                             format_endpoint(ev.remote_addr, ev.remote_port));
    }
    if (!o.wire.empty()) {
        // "close(9) → FIN-ACK seq 1 ack 1 ← ACK seq 1 ack 2": the segments of this step.
        std::string line = socklab::i18n::format(_("  Segments: {}"), s.call);
        for (const auto& [seg, side] : o.wire) {
            line += side == Side::server ? "  ← " : "  → ";
            line += flags_label(seg.flags) + fmt::format(" seq {}", seg.rel_seq);
            if (seg.has(tcp_flag::ACK)) line += fmt::format(" ack {}", seg.rel_ack);
            if (seg.len) line += fmt::format(" len {}", seg.len);
        }
        t += line + "\n";
    }
    for (std::size_t i = 0; i < s.expect.size(); ++i)
        t += fmt::format("  {} {}\n", o.check[i] ? "✓" : "✗", expect_text(s.expect[i]));
    if (question) {
        const auto& right = question->wire.choices[static_cast<std::size_t>(answer.answer - 1)];
        if (!o.all_ok)
            t += socklab::i18n::format(_("  The kernel did not show answer {} ({}): see ✗ above.\n"),
                                       answer.answer, right);
        else
            t += socklab::i18n::format(_("  The kernel's answer: {}. {}\n"), answer.answer, right);
        if (!picked)
            t += _("  (no prediction made)\n");
        else if (answer.correct)
            t += socklab::i18n::format(_("  You picked {}: right ✓\n"), *picked);
        else
            t += socklab::i18n::format(_("  You picked {}: wrong ✗\n"), *picked);
    }
    return t;
}

Result Lab::step(const Step& step_in, const std::function<Result()>& call) {
    auto& im = *impl_;
    const int n = ++im.step_no;
    if (interrupted()) throw Stop{Stop::Why::interrupted, {}};

    const auto question = opts_.predict
                              ? make_question(step_in, n, entry_->number, opts_.port)
                              : std::optional<Question>{};
    const auto header = socklab::i18n::format(_("\n── Step {}/{}: {}\n  $ {}\n"), n,
                                              im.steps_planned, step_in.title, step_in.call);
    LabAnswer answer;
    bool waited = false;  // the pick was the go-ahead
    if (question)
        answer.picked = im.ask(*this, *question, n, waited);
    else if (!opts_.json)
        im.say_fitted(header);
    im.wait_to_run(*this, n, waited);

    im.forget_earlier_segments();
    const Result r = call();
    if (interrupted()) throw Stop{Stop::Why::interrupted, {}};
    std::string complaint;
    if (step_in.fails_with == 0 ? r.err != 0 : r.err != step_in.fails_with)
        complaint = socklab::i18n::format(_("it returned {}, but the lesson expects {}"), r.text(),
                                step_in.fails_with ? "-1 " + errno_name(step_in.fails_with)
                                                   : "success");
    else if (step_in.verify)
        complaint = step_in.verify(r);
    const bool call_ok = complaint.empty();
    Step s = step_in;
    if (s.expect_after && call_ok)
        for (auto& e : s.expect_after()) s.expect.push_back(std::move(e));

    const auto o = im.observe(s, call_ok);
    if (!o.all_ok) im.failed = true;
    // Predict mode: right when the pick is the step's expectation and the kernel showed it.
    if (question) {
        answer.answer = question->answer;
        answer.correct = answer.picked == question->answer && o.all_ok;
        if (answer.correct) ++im.predicted;
    }
    if (opts_.json) {
        im.report_json(*this, n, s, r, o, complaint);
        if (question) im.emit_line(write_answer_line(n, answer));
    } else {
        if (question) im.say_fitted(header);
        im.say_fitted(im.report_text(s, r, o, complaint, question ? &*question : nullptr, answer));
    }
    if (call_ok && n == im.steps_planned && im.step_mode) {
        // Let the student (or the viewer) look at the last table while the lab still holds
        // its sockets: they close when the lesson returns.
        if (opts_.json)
            im.emit_line(write_waiting_line(n + 1, /*final=*/true));
        else
            im.say(_("\n[Enter] end the lab and close its sockets > "));
        (void)read_line();
    }
    if (!call_ok)
        throw Stop{Stop::Why::failed,
                   socklab::i18n::format(_("step {} ({}): {}: {}"), n, s.title, s.call, complaint)};
    return r;
}

}  // namespace socklab::lab
