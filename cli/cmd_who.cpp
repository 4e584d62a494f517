// `socklab who PORT`: every process holding a local port, in any state, on any address.
//
// The kernel filters the dump by port (inet_diag bytecode), so only a handful of records come
// back; their inodes are the only ones the /proc walk records (OwnerIndex::refresh_for).
// TIME_WAIT and orphaned sockets have inode 0: no process holds them, the kernel does, and
// we say so instead of looking for a pid.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

#include "command.hpp"
#include "listing.hpp"
#include "socklab/holders.hpp"
#include "socklab/json.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/i18n.hpp"
#include "socklab/text_width.hpp"

namespace socklab::cli {
namespace {

struct WhoOptions {
    int port = 0;
    bool udp = false;
    bool json = false;
};

struct Holder {
    const ProcessRef* proc;
    const SocketRecord* sock;
};

int run_who(const WhoOptions& o) {
    const auto port = static_cast<std::uint16_t>(o.port);
    const Proto proto = o.udp ? Proto::udp : Proto::tcp;
    auto source = make_default_source();
    // A member of group socklab: socklab-helper names the owners /proc hides from us.
    const auto helper = helper_for_member(_("socklab: owners through %s\n"));
    const PortHolding found = [&] {
        if (helper) return holders_of_port(port, !o.udp, o.udp, *source, helper_owners(*helper));
        OwnerIndex index;
        return holders_of_port(port, !o.udp, o.udp, *source, index);
    }();
    std::map<std::uint64_t, std::vector<ProcessRef>> owners;  // by inode, for the JSON
    for (const auto& h : found.holders) owners[found.sockets[h.socket].inode].push_back(h.process);

    std::vector<Holder> holders;
    for (const auto& h : found.holders) holders.push_back({&h.process, &found.sockets[h.socket]});
    std::map<std::string, std::size_t> kernel_only;  // state -> count, inode 0
    for (const auto& r : found.sockets)
        if (r.inode == 0) ++kernel_only[std::string(r.state_name())];
    const std::size_t unseen = found.unseen;  // has an inode, no visible process
    std::sort(holders.begin(), holders.end(), [](const Holder& a, const Holder& b) {
        if (a.proc->pid != b.proc->pid) return a.proc->pid < b.proc->pid;
        return a.proc->fd < b.proc->fd;
    });
    std::size_t pids = 0;
    for (std::size_t i = 0; i < holders.size(); ++i)
        if (i == 0 || holders[i].proc->pid != holders[i - 1].proc->pid) ++pids;
    const bool held = !holders.empty() || unseen > 0;
    // Root, or the helper for a member: every process of this pid namespace was looked at.
    const bool root = ::geteuid() == 0 || helper != nullptr;

    if (o.json) {
        nlohmann::json j{{"port", port}, {"proto", proto_name(proto)}, {"held", held}};
        auto procs = nlohmann::json::array();
        for (const auto& h : holders) {
            const auto& r = *h.sock;
            procs.push_back({{"pid", h.proc->pid},
                             {"command", h.proc->command},
                             {"user", h.proc->user},
                             {"uid", h.proc->uid},
                             {"fd", h.proc->fd},
                             {"state", r.state_name()},
                             {"family", family_name(r.family)},
                             {"local_addr", r.local_addr.to_string()},
                             {"local_port", r.local_port},
                             {"remote_addr", r.remote_addr.to_string()},
                             {"remote_port", r.remote_port},
                             {"inode", r.inode}});
        }
        j["processes"] = std::move(procs);
        j["kernel_only"] = kernel_only;
        j["unseen"] = unseen;
        auto socks = nlohmann::json::array();
        for (const auto& r : found.sockets) {
            const auto it = owners.find(r.inode);
            socks.push_back(it == owners.end() || r.inode == 0 ? to_json(r) : to_json(r, it->second));
        }
        j["sockets"] = std::move(socks);
        // Command names are any bytes a process chose: replace what is not UTF-8.
        write_all(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        return held ? kExitOk : kExitNothing;
    }

    std::string out;
    const auto name = fmt::format("{}/{}", port, proto_name(proto));
    if (!holders.empty()) {
        out += i18n::format(i18n::tr_n("Port {} is held by {} process:\n",
                                       "Port {} is held by {} processes:\n", pids), name, pids);
        // Cells first, then widths, so each header starts where its values start.
        std::vector<std::array<std::string, 7>> cells;
        cells.push_back({"PID", "COMMAND", "USER", "FD", "STATE", "Local Address:Port",
                         "Peer Address:Port"});
        for (const auto& h : holders) {
            std::string local, peer;
            append_endpoint(local, h.sock->local_addr, h.sock->local_port);
            append_endpoint(peer, h.sock->remote_addr, h.sock->remote_port);
            cells.push_back({std::to_string(h.proc->pid), h.proc->command, h.proc->user,
                             std::to_string(h.proc->fd), std::string(h.sock->state_name()),
                             std::move(local), std::move(peer)});
        }
        // Widths in terminal columns, not bytes: a Hangul command name is 3 bytes a
        // character but 2 columns.
        std::array<std::size_t, 7> width{};
        for (const auto& row : cells)
            for (std::size_t c = 0; c < row.size(); ++c)
                width[c] = std::max(width[c], socklab::text::display_width(row[c]));
        for (const auto& row : cells) {
            out += "  ";
            for (std::size_t c = 0; c < row.size(); ++c) {
                socklab::text::append_padded(out, row[c], width[c]);
                out += ' ';
            }
            while (out.back() == ' ') out.pop_back();
            out += '\n';
        }
    }
    if (unseen > 0) {
        out += i18n::format(
            i18n::tr_n("{} socket on port {} is held by a process this user cannot see{}\n",
                       "{} sockets on port {} are held by a process this user cannot see{}\n", unseen),
            unseen, name,
            root ? std::string(_(" (one in another pid namespace or container, or one that closed it "
                                 "just now)"))
                 : i18n::format(_(": run 'sudo socklab who {}{}' to name it"), port,
                                proto == Proto::udp ? " --udp" : ""));
    }
    if (!kernel_only.empty()) {
        std::size_t total = 0;
        std::string states;
        for (const auto& [state, n] : kernel_only) {
            total += n;
            if (!states.empty()) states += ", ";
            states += i18n::format(_("{} in {}"), n, state);
        }
        out += held ? i18n::format(
                          i18n::tr_n("Also {} socket on port {} belongs to no process ({}): the kernel "
                                     "keeps them after close() and ends them by itself (TIME_WAIT "
                                     "lasts 60 s); 'socklab why {}' tells whether they block bind()\n",
                                     "Also {} sockets on port {} belong to no process ({}): the kernel "
                                     "keeps them after close() and ends them by itself (TIME_WAIT "
                                     "lasts 60 s); 'socklab why {}' tells whether they block bind()\n",
                                     total),
                          total, name, states, port)
                    : i18n::format(
                          i18n::tr_n("No process holds it, but {} socket on port {} belongs to no "
                                     "process ({}): the kernel keeps them after close() and ends them "
                                     "by itself (TIME_WAIT lasts 60 s); 'socklab why {}' tells whether "
                                     "they block bind()\n",
                                     "No process holds it, but {} sockets on port {} belong to no "
                                     "process ({}): the kernel keeps them after close() and ends them "
                                     "by itself (TIME_WAIT lasts 60 s); 'socklab why {}' tells whether "
                                     "they block bind()\n",
                                     total),
                          total, name, states, port);
    }
    if (!held && kernel_only.empty())
        out += i18n::format(_("Nobody holds port {}.\n"), name);
    write_all(out);
    return held ? kExitOk : kExitNothing;
}

}  // namespace

void register_who(CLI::App& root, Runner& run) {
    auto opts = std::make_shared<WhoOptions>();
    auto* sub = root.add_subcommand(
        "who",
        _("Which processes hold a port (any state, any address, IPv4 and IPv6).\n"
        "Exit status: 0 when a process holds the port, 1 when none does (TIME_WAIT sockets\n"
        "are the kernel's, not a process's), 2 on bad input."));
    sub->add_option("PORT", opts->port, _("The local port, 1-65535"))
        ->required()
        ->check(port_validator());
    sub->add_flag("--udp,-u", opts->udp, _("Look at UDP instead of TCP"));
    sub->add_flag("--json", opts->json, _("One JSON object, for scripts"));
    set_examples(*sub,
                 _("  socklab who 8080                   who listens on or is connected from 8080\n"
                 "  socklab who 53 --udp               who holds UDP port 53\n"
                 "  socklab who 8080 --json | jq '.processes[].pid'\n"));
    sub->callback([&run, opts] { run = [opts] { return run_who(*opts); }; });
}

}  // namespace socklab::cli
