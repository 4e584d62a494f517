#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include "command.hpp"
#include "socklab/text_width.hpp"
#include "listing.hpp"
#include "socklab/error.hpp"
#include "socklab/state.hpp"
#include "socklab/i18n.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/owners.hpp"
#include "socklab/tracer.hpp"

namespace socklab::cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void socklab_on_stop_signal(int) { g_stop.store(true); }
}  // namespace

StopSignals::StopSignals() {
    struct sigaction sa {};
    sa.sa_handler = socklab_on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    ::sigaction(SIGHUP, &sa, &old_hup_);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old_pipe_);
}

StopSignals::~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGHUP, &old_hup_, nullptr);
    ::sigaction(SIGPIPE, &old_pipe_, nullptr);
}

bool stop_requested() noexcept { return g_stop.load(); }

namespace {
void say_left(const std::string& left) {
    if (!left.empty()) std::fprintf(stderr, "socklab: %s\n", left.c_str());
}
}  // namespace

void stop_tracer(Tracer& tracer) { say_left(tracer.stop()); }
void stop_tracer(TransitionTracer& tracer) { say_left(tracer.stop()); }

void set_examples(CLI::App& app, const std::string& examples) {
    app.footer("\nEXAMPLES\n" + examples);
}

std::size_t decimal_digits(std::uint32_t v) {
    std::size_t n = 1;
    while (v >= 10) {
        v /= 10;
        ++n;
    }
    return n;
}

namespace {
void append_number(std::string& out, std::uint32_t v) {
    char num[12];
    const auto [end, ec] = std::to_chars(num, num + sizeof num, v);
    (void)ec;
    out.append(num, end);
}
}  // namespace

void append_endpoint(std::string& out, const IpAddr& addr, std::uint16_t port) {
    if (addr.family == AF_INET) {
        // By hand: glibc's inet_ntop formats IPv4 through sprintf, a tenth of `list`'s time.
        for (int i = 0; i < 4; ++i) {
            if (i > 0) out += '.';
            append_number(out, addr.bytes[static_cast<std::size_t>(i)]);
        }
    } else if (addr.family == AF_INET6) {
        char buf[INET6_ADDRSTRLEN];
        const char* text = ::inet_ntop(AF_INET6, addr.bytes.data(), buf, sizeof buf);
        out += '[';
        out += text ? text : "?";
        out += ']';
    } else {
        out += '?';
    }
    out += ':';
    if (port == 0)
        out += '*';
    else
        append_number(out, port);
}

std::size_t endpoint_width(const IpAddr& addr, std::uint16_t port) {
    std::size_t n = 1 + (port == 0 ? 1 : decimal_digits(port));  // ":" and the port
    if (addr.family == AF_INET) {
        n += 3;  // the dots
        for (int i = 0; i < 4; ++i) n += decimal_digits(addr.bytes[static_cast<std::size_t>(i)]);
    } else if (addr.family == AF_INET6) {
        char buf[INET6_ADDRSTRLEN];
        const char* text = ::inet_ntop(AF_INET6, addr.bytes.data(), buf, sizeof buf);
        n += 2 + (text ? std::strlen(text) : 1);  // in brackets
    } else {
        n += 1;  // "?"
    }
    return n;
}

void append_users(std::string& out, std::span<const ProcessRef> owners) {
    if (owners.empty()) return;
    out += "users:(";
    bool first = true;
    for (const auto& p : owners) {
        if (!first) out += ',';
        first = false;
        fmt::format_to(std::back_inserter(out), "(\"{}\",pid={},fd={})", p.command, p.pid, p.fd);
    }
    out += ')';
}

void ChunkedOutput::end_line() {
    while (!buf_.empty() && buf_.back() == ' ') buf_.pop_back();
    buf_ += '\n';
    if (buf_.size() >= kChunk) flush();
}

void ChunkedOutput::flush() {
    write_all(buf_);
    buf_.clear();
}

void write_all(std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE) return;
            throw sys_error(_("write the output"), errno);
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

void TableWidths::note(const SocketRecord& r, std::size_t local_len, std::size_t peer_len,
                       std::size_t timer_len) {
    state_ = std::max(state_, r.state_name().size());
    recv_ = std::max(recv_, decimal_digits(r.recv_q));
    send_ = std::max(send_, decimal_digits(r.send_q));
    local_ = std::max(local_, local_len);
    peer_ = std::max(peer_, peer_len);
    timer_ = std::max(timer_, timer_len);
}

void TableWidths::header(std::string& out, bool timer, bool process) const {
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{:<{}} {:<{}} {:<{}} {:<{}} {:<{}} {:<{}}", "Netid", netid_, "State",
                   state_, "Recv-Q", recv_, "Send-Q", send_, "Local Address:Port", local_,
                   "Peer Address:Port", peer_);
    if (timer) fmt::format_to(it, " {:<{}}", "Timer", timer_);
    if (process) out += " Process";
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
}

namespace {
// Text, then spaces up to `width`, then the one space between columns.
void cell(std::string& out, std::string_view text, std::size_t width) {
    socklab::text::append_padded(out, text, width);  // columns, not bytes
    out += ' ';
}
void endpoint_cell(std::string& out, const IpAddr& addr, std::uint16_t port, std::size_t width) {
    const std::size_t before = out.size();
    append_endpoint(out, addr, port);
    const std::size_t len = out.size() - before;
    out.append(width > len ? width - len + 1 : 1, ' ');
}
void cell(std::string& out, std::uint32_t value, std::size_t width) {
    char num[12];
    const auto [end, ec] = std::to_chars(num, num + sizeof num, value);
    (void)ec;
    cell(out, std::string_view(num, static_cast<std::size_t>(end - num)), width);
}
}  // namespace

void TableWidths::row(std::string& out, const SocketRecord& r, std::string_view timer) const {
    // Plain appends rather than fmt's width specs: this runs 100k times per `list`.
    cell(out, proto_name(r.proto), netid_);
    cell(out, r.state_name(), state_);
    cell(out, r.recv_q, recv_);
    cell(out, r.send_q, send_);
    endpoint_cell(out, r.local_addr, r.local_port, local_);
    endpoint_cell(out, r.remote_addr, r.remote_port, peer_);
    if (!timer.empty()) cell(out, timer, timer_);
}

std::unique_ptr<HelperClient> helper_for_member(const char* announce) {
    if (privilege_path() != PrivilegePath::helper) return nullptr;
    auto helper = std::make_unique<HelperClient>(*find_helper());
    std::fprintf(stderr, announce, privilege_path_text().c_str());
    return helper;
}

OwnersLookup helper_owners(HelperClient& helper) {
    return [&helper](std::span<const std::uint64_t> inodes) {
        HelperClient::Answer a;
        std::vector<HeldBy> out;
        for (auto& e : helper.owners(inodes, a))
            out.push_back({e.inode, {e.pid, e.fd, e.uid, e.command, user_name(e.uid)}});
        if (!a.ok)
            throw Error(i18n::format(_("failed to ask socklab-helper for the owners: {}"), a.message));
        return out;
    };
}

}  // namespace socklab::cli
