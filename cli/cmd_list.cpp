// `socklab list`: the kernel's socket table, like `ss -tuan`, with owners on request.
//
// Built for 100k sockets: one snapshot, column widths from the cells' computed lengths, then
// every row formatted once, straight into a reused 64 KiB output chunk (the table is never
// held as text whole: at 100k rows that was 15 MB of first-touch page faults).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"
#include "listing.hpp"
#include "socklab/error.hpp"
#include "socklab/json.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/i18n.hpp"

namespace socklab::cli {
namespace {

struct ListOptions {
    bool tcp = false;
    bool udp = false;
    std::vector<std::string> states;
    int port = 0;
    bool processes = false;
    bool timers = false;
    bool json = false;
};

void append_timer(std::string& out, const SocketRecord& r) {
    if (r.timer == TimerKind::none) {
        out += '-';
        return;
    }
    out += timer_name(r.timer);
    fmt::format_to(std::back_inserter(out), ",{}.{:03}s", r.timer_ms / 1000, r.timer_ms % 1000);
}

// How many characters append_timer() writes for `r`, without writing them.
std::size_t timer_width(const SocketRecord& r) {
    if (r.timer == TimerKind::none) return 1;
    // name "," seconds "." three digits "s"
    return timer_name(r.timer).size() + 1 + decimal_digits(r.timer_ms / 1000) + 1 + 3 + 1;
}

int run_list(const ListOptions& o) {
    Query q;
    // Neither flag: both protocols, as `ss -tu` would.
    q.tcp = o.tcp || !o.udp;
    q.udp = o.udp || !o.tcp;
    if (!o.states.empty()) {
        q.states = 0;
        for (const auto& s : o.states) q.states |= parse_state_mask(s).value_or(0);
    }
    if (o.port != 0) q.port = static_cast<std::uint16_t>(o.port);

    auto source = make_default_source();
    const Snapshot snap = source->snapshot(q);

    OwnerIndex owners;
    if (o.processes) owners.refresh_all();
    const auto owners_of = [&](const SocketRecord& r) -> std::span<const ProcessRef> {
        if (!o.processes || r.inode == 0) return {};
        return owners.owners_of(r.inode);
    };

    if (o.json) {
        std::string out;
        out.reserve(snap.sockets.size() * 360 + 4);
        out += '[';
        bool first = true;
        for (const auto& r : snap.sockets) {
            out += first ? "\n" : ",\n";
            first = false;
            // A process may name itself with any bytes (prctl PR_SET_NAME): not valid UTF-8 is
            // replaced with U+FFFD rather than making the whole command fail.
            out += to_json(r, owners_of(r))
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
        out += first ? "]\n" : "\n]\n";
        write_all(out);
        return kExitOk;
    }

    // Pass 1: column widths from the cells' lengths, nothing formatted yet. Pass 2: each row
    // formatted straight into the output chunk.
    TableWidths w;
    for (const auto& r : snap.sockets)
        w.note(r, endpoint_width(r.local_addr, r.local_port),
               endpoint_width(r.remote_addr, r.remote_port), o.timers ? timer_width(r) : 0);

    ChunkedOutput out;
    std::string timer;
    w.header(out.text(), o.timers, o.processes);
    for (const auto& r : snap.sockets) {
        if (o.timers) {
            timer.clear();
            append_timer(timer, r);
        }
        w.row(out.text(), r, o.timers ? std::string_view(timer) : std::string_view{});
        if (o.processes) append_users(out.text(), owners_of(r));
        out.end_line();
    }
    out.flush();
    if (o.processes && owners.stats().unreadable > 0 && ::geteuid() != 0)
        std::fprintf(stderr,
                     _("socklab: %zu processes could not be read, so some sockets show no owner: "
                     "run 'sudo socklab list --processes' to see them all\n"),
                     owners.stats().unreadable);
    return kExitOk;
}

}  // namespace

void register_list(CLI::App& root, Runner& run) {
    auto opts = std::make_shared<ListOptions>();
    auto* sub = root.add_subcommand("list", _("Show the kernel's TCP and UDP socket table, like ss"));
    sub->add_flag("--tcp,-t", opts->tcp, _("TCP sockets only"));
    sub->add_flag("--udp,-u", opts->udp, _("UDP sockets only"));
    sub->add_option("--state,-s", opts->states,
                    _("Only sockets in this state; repeat for several (LISTEN, ESTABLISHED, "
                    "TIME_WAIT, time-wait, UNCONN, ...)"))
        ->check(state_validator());
    sub->add_option("--port,-p", opts->port, _("Only sockets with this local or remote port"))
        ->check(port_validator());
    sub->add_flag("--processes,-P", opts->processes,
                  _("Show the processes holding each socket (pid, command, fd)"));
    sub->add_flag("--timers,-o", opts->timers,
                  _("Show each socket's timer (retransmit, keepalive, timewait) and time left"));
    sub->add_flag("--json", opts->json,
                  _("One JSON array of sockets (fields as in docs/contracts.md), for scripts"));
    set_examples(*sub,
                 _("  socklab list                            every TCP and UDP socket\n"
                 "  socklab list --tcp --state LISTEN -P    listeners and who holds them\n"
                 "  socklab list --state TIME_WAIT --port 8080 -o\n"
                 "                                          TIME_WAIT on 8080, time left\n"
                 "  socklab list --json | jq '.[] | select(.state==\"ESTABLISHED\")'\n"));
    sub->callback([&run, opts] { run = [opts] { return run_list(*opts); }; });
}

}  // namespace socklab::cli
