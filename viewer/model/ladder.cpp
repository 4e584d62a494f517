#include "ladder.hpp"

#include <fmt/format.h>

#include "frame_builder.hpp"
#include "socklab/i18n.hpp"
#include "socklab/state.hpp"

namespace socklab::viewer {
namespace {
constexpr std::uint8_t kFinWait2 = 5;
constexpr std::uint8_t kClose = 7;
}  // namespace

std::string_view ladder_kind_name(LadderKind k) noexcept {
    switch (k) {
        case LadderKind::arrow: return "arrow";
        case LadderKind::badge: return "badge";
        case LadderKind::call: return "call";
        case LadderKind::gap: return "gap";
    }
    return "?";
}

std::string endpoint_label(const Endpoint& e) { return endpoint_text(e.addr, e.port); }

std::string arrow_label(const Segment& s) {
    std::string out = flags_label(s.flags);
    // Raw numbers until the ISNs are known (the hover box says which).
    out += fmt::format(" seq {}", s.relative ? s.rel_seq : s.seq);
    if (s.has(tcp_flag::ACK)) out += fmt::format(" ack {}", s.relative ? s.rel_ack : s.ack);
    if (s.len > 0) out += fmt::format(" len {}", s.len);
    return out;
}

std::string header_text(const Segment& s) {
    std::string flags;
    for (auto n : flag_names(s.flags)) {
        if (!flags.empty()) flags += ' ';
        flags += n;
    }
    std::string out = fmt::format("{} -> {}\n", endpoint_text(s.src_addr, s.src_port),
                                  endpoint_text(s.dst_addr, s.dst_port));
    out += fmt::format("flags   {}\n", flags.empty() ? "(none)" : flags);
    if (s.relative)
        out += fmt::format("seq     {} (relative; raw {})\n", s.rel_seq, s.seq);
    else
        out += i18n::format(_("seq     {} (raw: the ISN was not seen)\n"), s.seq);
    if (s.has(tcp_flag::ACK)) {
        if (s.relative)
            out += fmt::format("ack     {} (relative; raw {})\n", s.rel_ack, s.ack);
        else
            out += fmt::format("ack     {} (raw)\n", s.ack);
    } else {
        out += _("ack     - (no ACK flag: the field means nothing)\n");
    }
    out += i18n::format(_("len     {} payload bytes\n"), s.len);
    out += i18n::format(_("window  {} (as sent, before scaling)"), s.win);
    const auto& o = s.options;
    if (o.mss) out += fmt::format("\nMSS     {} bytes", *o.mss);
    if (o.wscale) out += fmt::format("\nwscale  {} (window x {})", *o.wscale, 1u << std::min<unsigned>(*o.wscale, 14));
    if (o.sack_permitted) out += "\nSACK permitted";
    if (o.ts_val) out += fmt::format("\nTSval   {}  TSecr {}", *o.ts_val, o.ts_ecr.value_or(0));
    return out;
}

std::string call_label(const SyscallEvent& e) {
    std::string out = fmt::format("{}(fd {}) = {}", syscall_name(e.call), e.fd, e.result);
    if (e.failed()) out += " " + errno_name(e.error);
    return out;
}

std::string gap_label(std::uint64_t ns) {
    const double s = static_cast<double>(ns) / 1e9;
    if (s >= 120.0) return fmt::format("\u2026 {:.1f} min \u2026", s / 60.0);
    return fmt::format("\u2026 {:.1f} s \u2026", s);
}

namespace {

std::string head(const Endpoint& e, std::int32_t pid, const std::string& comm) {
    std::string out = endpoint_label(e);
    if (pid > 0) out += fmt::format("\n{} [{}]", comm.empty() ? "?" : comm, pid);
    return out;
}

}  // namespace

LadderLayout layout_ladder(const Conversation& c, const LadderOptions& opts) {
    LadderLayout l;
    l.client_head = head(c.client, c.client_pid, c.client_comm);
    l.server_head = head(c.server, c.server_pid, c.server_comm);
    float y = 0;
    std::uint64_t prev_ns = 0;
    const std::uint64_t first_ns = c.items.empty() ? 0 : c.items.front().time_ns;
    auto add_gap = [&](std::uint64_t from, std::uint64_t to, bool trailing) {
        LadderRow g;
        g.kind = LadderKind::gap;
        g.y = y;
        g.height = opts.gap_height;
        g.time_ns = from;
        g.offset_s = static_cast<double>(from - first_ns) / 1e9;
        g.label = gap_label(to - from);
        if (trailing)
            g.label.insert(g.label.size() - std::string_view("\u2026").size() - 1,
                           _(", still open"));
        g.detail = i18n::format(_("Nothing happened on this connection for {:.3f} s; the diagram skips "
                                  "quiet stretches longer than {:.1f} s."),
                                static_cast<double>(to - from) / 1e9, static_cast<double>(opts.gap_ns) / 1e9);
        y += g.height;
        ++l.gaps;
        l.rows.push_back(std::move(g));
    };
    for (std::size_t i = 0; i < c.items.size(); ++i) {
        const auto& it = c.items[i];
        if (i > 0 && it.time_ns > prev_ns && it.time_ns - prev_ns > opts.gap_ns)
            add_gap(prev_ns, it.time_ns, false);
        prev_ns = std::max(prev_ns, it.time_ns);
        LadderRow r;
        r.time_ns = it.time_ns;
        r.offset_s = static_cast<double>(it.time_ns - first_ns) / 1e9;
        r.side = it.side;
        r.item = static_cast<std::int64_t>(i);
        r.y = y;
        if (const auto* s = it.segment()) {
            r.kind = LadderKind::arrow;
            r.height = opts.arrow_height;
            r.flags = s->flags;
            r.label = arrow_label(*s);
            r.detail = header_text(*s);
            ++l.arrows;
        } else if (const auto* t = it.transition()) {
            r.kind = LadderKind::badge;
            r.height = opts.mark_height;
            r.state = t->new_state;
            r.old_state = t->old_state;
            r.label = std::string(state_name(t->new_state));
            r.detail = fmt::format("{} -> {}\n{}", state_name(t->old_state), state_name(t->new_state),
                                   state_explanation(t->new_state));
            if (t->old_state == kFinWait2 && t->new_state == kClose) {
                // A program that has closed its socket no longer needs the full socket: in
                // FIN_WAIT2 the kernel moves the connection to a small timewait socket
                // (tcp_time_wait()) and frees the full one. The tracepoint reports the full
                // socket's CLOSE; the timewait socket's FIN_WAIT2 -> TIME_WAIT is not traced.
                r.note = _("timewait socket takes over");
                r.detail += "\n\n";
                r.detail += _("The program had closed this socket, so the kernel handed the connection "
                              "to a small timewait socket and freed the full one (this CLOSE). The "
                              "connection itself is still in FIN_WAIT2 and goes to TIME_WAIT when the "
                              "peer's FIN arrives; the socket table shows those states, the tracer "
                              "does not report them.");
            }
            ++l.badges;
        } else if (const auto* k = it.syscall()) {
            r.kind = LadderKind::call;
            r.height = opts.mark_height;
            r.failed = k->failed();
            r.label = call_label(*k);
            r.detail = fmt::format("{} by {} [{}] (thread {})", r.label, k->comm_view(), k->pid, k->tid);
            ++l.calls;
        }
        y += r.height;
        l.rows.push_back(std::move(r));
    }
    if (opts.open && opts.now_ns != 0 && !c.items.empty() && opts.now_ns > prev_ns &&
        opts.now_ns - prev_ns > opts.gap_ns)
        add_gap(prev_ns, opts.now_ns, true);
    l.height = y;
    return l;
}

}  // namespace socklab::viewer
