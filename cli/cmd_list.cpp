// `socklab list`: the kernel's socket table, like `ss -tuan`, with owners on request.
//
// Built for 100k sockets: one snapshot, endpoints formatted once into a flat arena (no
// string per row), column widths from the data, the whole table formatted into one buffer
// and written with one write() loop.
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

// Offsets of one row's formatted endpoints in the arena.
struct RowText {
    std::uint32_t local_begin, local_len, peer_begin, peer_len, proc_begin, proc_len;
};

std::uint32_t u32(std::size_t n) { return static_cast<std::uint32_t>(n); }

void append_timer(std::string& out, const SocketRecord& r) {
    if (r.timer == TimerKind::none) {
        out += '-';
        return;
    }
    out += timer_name(r.timer);
    fmt::format_to(std::back_inserter(out), ",{}.{:03}s", r.timer_ms / 1000, r.timer_ms % 1000);
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

    // Pass 1: endpoints and process lists into the arena, widths from the data.
    std::string arena;
    arena.reserve(snap.sockets.size() * 48);
    std::vector<RowText> rows;
    rows.reserve(snap.sockets.size());
    TableWidths w;
    std::string timer;
    for (const auto& r : snap.sockets) {
        RowText t{};
        t.local_begin = u32(arena.size());
        append_endpoint(arena, r.local_addr, r.local_port);
        t.local_len = u32(arena.size() - t.local_begin);
        t.peer_begin = u32(arena.size());
        append_endpoint(arena, r.remote_addr, r.remote_port);
        t.peer_len = u32(arena.size() - t.peer_begin);
        t.proc_begin = u32(arena.size());
        if (o.timers) append_timer(arena, r);
        t.proc_len = u32(arena.size() - t.proc_begin);
        w.note(r, t.local_len, t.peer_len, t.proc_len);
        rows.push_back(t);
    }

    std::string out;
    out.reserve(arena.size() + snap.sockets.size() * 64 + 256);
    w.header(out, o.timers, o.processes);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = snap.sockets[i];
        const auto& t = rows[i];
        const std::string_view text(arena);
        w.row(out, r, text.substr(t.local_begin, t.local_len),
              text.substr(t.peer_begin, t.peer_len),
              o.timers ? text.substr(t.proc_begin, t.proc_len) : std::string_view{});
        if (o.processes) append_users(out, owners_of(r));
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += '\n';
    }
    write_all(out);
    if (o.processes && owners.stats().unreadable > 0 && ::geteuid() != 0)
        std::fprintf(stderr,
                     "socklab: %zu processes could not be read, so some sockets show no owner: "
                     "run 'sudo socklab list --processes' to see them all\n",
                     owners.stats().unreadable);
    return kExitOk;
}

}  // namespace

void register_list(CLI::App& root, Runner& run) {
    auto opts = std::make_shared<ListOptions>();
    auto* sub = root.add_subcommand("list", "Show the kernel's TCP and UDP socket table, like ss");
    sub->add_flag("--tcp,-t", opts->tcp, "TCP sockets only");
    sub->add_flag("--udp,-u", opts->udp, "UDP sockets only");
    sub->add_option("--state,-s", opts->states,
                    "Only sockets in this state; repeat for several (LISTEN, ESTABLISHED, "
                    "TIME_WAIT, time-wait, UNCONN, ...)")
        ->check(state_validator());
    sub->add_option("--port,-p", opts->port, "Only sockets with this local or remote port")
        ->check(port_validator());
    sub->add_flag("--processes,-P", opts->processes,
                  "Show the processes holding each socket (pid, command, fd)");
    sub->add_flag("--timers,-o", opts->timers,
                  "Show each socket's timer (retransmit, keepalive, timewait) and time left");
    sub->add_flag("--json", opts->json,
                  "One JSON array of sockets (fields as in DESIGN.md), for scripts");
    set_examples(*sub,
                 "  socklab list                            every TCP and UDP socket\n"
                 "  socklab list --tcp --state LISTEN -P    listeners and who holds them\n"
                 "  socklab list --state TIME_WAIT --port 8080 -o\n"
                 "                                          TIME_WAIT on 8080, time left\n"
                 "  socklab list --json | jq '.[] | select(.state==\"ESTABLISHED\")'\n");
    sub->callback([&run, opts] { run = [opts] { return run_list(*opts); }; });
}

}  // namespace socklab::cli
