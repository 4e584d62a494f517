// The port doctor's diagnosis: real bind() probes, the socket table for one port and the
// owners of its sockets, turned into findings a student can read.
#include "socklab/doctor.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "doctor_detail.hpp"
#include "socklab/error.hpp"
#include "socklab/holders.hpp"
#include "socklab/json.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/i18n.hpp"

namespace socklab {
namespace {

using doctor_detail::describe;

constexpr std::array<const char*, 3> kProbeAddresses{"127.0.0.1", "0.0.0.0", "::"};

int probe_once(const char* address, std::uint16_t port, bool reuseaddr) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (std::strchr(address, ':') != nullptr) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        a->sin6_addr = in6addr_any;
        len = sizeof *a;
        family = AF_INET6;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = std::strcmp(address, "0.0.0.0") == 0 ? htonl(INADDR_ANY)
                                                                   : htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return errno;
    const int one = 1;
    if (reuseaddr && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        return errno;
    // IPV6_V6ONLY is left at the system default (off), as a typical dual-stack server has it:
    // then "::" also asks for the IPv4 port.
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) return errno;
    return 0;
}

std::string seconds_text(std::uint64_t s) {
    if (s < 120) return i18n::format(_("{} s"), s);
    if (s < 2 * 3600) return i18n::format(_("{} min"), s / 60);
    if (s < 2 * 86400) return i18n::format(_("{} h {} min"), s / 3600, s / 60 % 60);
    return i18n::format(_("{} days"), s / 86400);
}

std::string utc_text(std::int64_t t) {
    const time_t tt = static_cast<time_t>(t);
    tm parts{};
    ::gmtime_r(&tt, &parts);
    char buf[64] = {};
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &parts);
    return buf;
}

std::uint32_t seconds_left(const SocketRecord& s) { return (s.timer_ms + 999) / 1000; }

std::string read_sysctl(const char* path, const char* fallback) {
    std::ifstream in(path);
    std::string v;
    if (!(in >> v)) return fallback;
    return v;
}

class FindingBuilder {
public:
    explicit FindingBuilder(Diagnosis& d) : d_(d) {}

    void build() {
        std::vector<SocketRecord> listeners, bound, conns, close_wait, fin_wait2, time_wait, udp;
        for (const auto& s : d_.sockets) {
            if (s.proto == Proto::udp) {
                udp.push_back(s);
                continue;
            }
            switch (static_cast<TcpState>(s.state)) {
                case TcpState::listen: listeners.push_back(s); break;
                case TcpState::close:
                case TcpState::bound_inactive: bound.push_back(s); break;
                case TcpState::time_wait: time_wait.push_back(s); break;
                case TcpState::fin_wait2: fin_wait2.push_back(s); break;
                case TcpState::close_wait: close_wait.push_back(s); break;
                default: conns.push_back(s); break;
            }
        }
        add_listeners(listeners);
        add_bound(bound);
        add_close_wait(close_wait);
        add_connections(conns);
        add_fin_wait2(fin_wait2);
        add_time_wait(time_wait);
        add_udp(udp);
        add_unexplained();
    }

private:
    std::string port_text() const { return std::to_string(d_.port); }

    bool plain_probe_failed(bool ipv4_only) const {
        return std::any_of(d_.probes.begin(), d_.probes.end(), [&](const BindProbe& p) {
            return !p.reuseaddr && !p.ok() && (!ipv4_only || p.address != "::");
        });
    }

    std::string reuseaddr_verdict() const {
        return d_.bindable_with_reuseaddr()
                   ? _("The SO_REUSEADDR probes above bound, so such a server can start now.")
                   : _("The SO_REUSEADDR probes above still failed, so something else on the "
                     "port is in the way too.");
    }

    std::vector<int> owners_of(const std::vector<SocketRecord>& socks) const {
        std::vector<int> pids;
        for (const auto& s : socks)
            for (const auto& o : d_.owners)
                if (std::find(o.inodes.begin(), o.inodes.end(), s.inode) != o.inodes.end() &&
                    std::find(pids.begin(), pids.end(), o.pid) == pids.end())
                    pids.push_back(o.pid);
        return pids;
    }

    std::string owners_text(const std::vector<int>& pids) const {
        std::string out;
        for (int pid : pids) {
            if (!out.empty()) out += ", ";
            if (const auto* o = d_.owner(pid)) out += describe(*o);
        }
        return out;
    }

    std::string since_text(const std::vector<int>& pids) const {
        if (pids.size() != 1) return {};
        const auto* o = d_.owner(pids.front());
        if (o == nullptr || o->start_time == 0) return {};
        return i18n::format(_(", running since {} ({})"), utc_text(o->start_time), seconds_text(o->age_s));
    }

    std::string hidden_text(const std::vector<int>& pids) const {
        if (!pids.empty()) return {};
        return d_.euid == 0 ? _(" Its owner could not be found: it may have exited just now.")
                            : i18n::format(_(" Its owner is not visible to uid {}: run as root "
                                             "(sudo socklab why {}) to see which process it is."),
                                           d_.euid, port_text());
    }

    void add_listeners(const std::vector<SocketRecord>& listeners) {
        std::map<std::pair<std::uint8_t, IpAddr>, std::vector<SocketRecord>> groups;
        for (const auto& s : listeners) groups[{s.family, s.local_addr}].push_back(s);
        for (const auto& [key, socks] : groups) {
            Finding f;
            f.blocks = true;
            f.sockets = socks;
            f.pids = owners_of(socks);
            const std::string where = format_endpoint(key.second, d_.port);
            const std::string who = f.pids.empty() ? "a process" : owners_text(f.pids);
            std::string cover;
            if (key.second.is_any())
                cover = key.first == AF_INET
                            ? i18n::format(_(" 0.0.0.0 means every IPv4 address, so 127.0.0.1:{} is taken too."),
                                           port_text())
                            : "";
            if (socks.size() >= 2) {
                std::set<std::uint32_t> uids;
                for (const auto& s : socks) uids.insert(s.uid);
                f.kind = FindingKind::reuseport_group;
                f.summary = i18n::format(_("{} sockets listen together on {} through SO_REUSEPORT (uid {}), held by {}"),
                                         socks.size(), where, *uids.begin(), who);
                f.explanation =
                    i18n::format(_("SO_REUSEPORT lets several sockets of the same user share one address and "
                    "port; the kernel spreads new connections among them. Only a socket that "
                    "also sets SO_REUSEPORT and belongs to that same user (uid {}) may join; for "
                    "anyone else the port is taken."), *uids.begin());
                if (*uids.begin() != d_.euid)
                    f.explanation += i18n::format(_(" You are uid {}, another user: you cannot join this group."),
                                                  d_.euid);
                f.explanation += cover + hidden_text(f.pids);
            } else {
                f.kind = FindingKind::listener;
                f.summary = i18n::format(_("{} listens on {}{}"), who, where, since_text(f.pids));
                f.explanation =
                    _("A server is listening here. Only one listening socket may own an address "
                    "and port, and SO_REUSEADDR does not get around a listener: bind() fails "
                    "with \"Address already in use\" for this address and every address that "
                    "overlaps it.") +
                    cover +
                    i18n::format(_(" Stop that server (socklab free {} asks it to exit with SIGTERM), or "
                                   "run yours on another port."), port_text()) +
                    hidden_text(f.pids);
            }
            d_.findings.push_back(f);
            const bool v6_wildcard = key.first == AF_INET6 && key.second.is_any();
            const bool any_v4_socket =
                std::any_of(d_.sockets.begin(), d_.sockets.end(), [](const SocketRecord& s) {
                    return s.proto == Proto::tcp && s.family == AF_INET;
                });
            if (v6_wildcard && !any_v4_socket && plain_probe_failed(true)) {
                Finding ds;
                ds.kind = FindingKind::dual_stack;
                ds.blocks = true;
                ds.sockets = socks;
                ds.pids = f.pids;
                ds.summary = i18n::format(_("[::]:{} is a dual-stack listener: it takes the IPv4 port as well"),
                                          port_text());
                ds.explanation =
                    i18n::format(_("An IPv6 socket bound to :: without IPV6_V6ONLY accepts IPv4 connections "
                    "too (as ::ffff:a.b.c.d), so it also owns 0.0.0.0:{0} and 127.0.0.1:{0}"
                    " — that is why the IPv4 probes failed though no IPv4 socket is listed. A "
                    "server that wants only IPv6 sets IPV6_V6ONLY before bind(); then an IPv4 "
                    "server can use the same port number."), port_text());
                d_.findings.push_back(ds);
            }
        }
    }

    void add_bound(const std::vector<SocketRecord>& bound) {
        if (bound.empty()) return;
        Finding f;
        f.kind = FindingKind::bound;
        f.blocks = true;
        f.sockets = bound;
        f.pids = owners_of(bound);
        f.summary = f.pids.empty()
                        ? i18n::format(_("{} socket(s) bound to port {} but neither listening nor connected"),
                                       bound.size(), port_text())
                        : i18n::format(_("{} socket(s) bound to port {} but neither listening nor connected, held by {}"),
                                       bound.size(), port_text(), owners_text(f.pids));
        f.explanation =
            _("bind() reserved the port, but listen() or connect() never followed (or failed). "
            "The port stays taken until the program closes the socket.") +
            hidden_text(f.pids);
        d_.findings.push_back(f);
    }

    void add_close_wait(const std::vector<SocketRecord>& socks) {
        if (socks.empty()) return;
        // One finding per holder, since each is its own bug to fix.
        std::map<int, std::vector<SocketRecord>> by_pid;
        for (const auto& s : socks) {
            const auto pids = owners_of({s});
            by_pid[pids.empty() ? 0 : pids.front()].push_back(s);
        }
        for (const auto& [pid, group] : by_pid) {
            Finding f;
            f.kind = FindingKind::close_wait;
            f.blocks = true;
            f.sockets = group;
            f.pids = owners_of(group);
            for (const auto& s : group)
                if (const auto ms = doctor_detail::last_ack_recv_ms(s))
                    f.quiet_s = std::max<std::uint64_t>(f.quiet_s.value_or(0), *ms / 1000);
            const std::string who = pid == 0 ? std::string(_("A process")) : owners_text(f.pids);
            f.summary = i18n::format(_("{} holds {} connection(s) in CLOSE_WAIT on port {}"), who,
                                     group.size(), port_text());
            if (f.quiet_s)
                f.summary += i18n::format(_(", the peer closed about {} ago"), seconds_text(*f.quiet_s));
            if (const auto* o = d_.owner(pid); o != nullptr && o->start_time != 0)
                f.summary += i18n::format(_(" (process running for {})"), seconds_text(o->age_s));
            f.explanation =
                i18n::format(_("The other end closed its side (its FIN arrived) and this program has not "
                "called close(). That is normal for a moment, or while the program still "
                "answers a peer that only half-closed. The kernel sets no timer on CLOSE_WAIT: "
                "only close() (or a reset from the peer) ends it, so a program that misses "
                "read() returning 0 leaks them, and a CLOSE_WAIT idle for long is that bug. "
                "They keep port {0} in use. socklab free {0} --destroy clears them without "
                "killing the program (root); restarting it clears them too; the real fix is a "
                "close() in its code."), port_text()) +
                hidden_text(f.pids);
            d_.findings.push_back(f);
        }
    }

    void add_connections(const std::vector<SocketRecord>& socks) {
        if (socks.empty()) return;
        std::map<std::string, int> states;
        for (const auto& s : socks) ++states[std::string(s.state_name())];
        std::string counts;
        for (const auto& [name, n] : states)
            counts += (counts.empty() ? "" : ", ") + fmt::format("{} {}", n, name);
        Finding f;
        f.kind = FindingKind::connection;
        f.blocks = true;
        f.sockets = socks;
        f.pids = owners_of(socks);
        f.summary = f.pids.empty()
                        ? i18n::format(_("{} connection(s) use port {} as their local port ({})"),
                                       socks.size(), port_text(), counts)
                        : i18n::format(_("{} connection(s) use port {} as their local port ({}), held by {}"),
                                       socks.size(), port_text(), counts, owners_text(f.pids));
        f.explanation =
            _("Live connections keep their local port until they close. A plain bind() of the "
            "port fails while they exist; a server that sets SO_REUSEADDR can still bind and "
            "listen once no listener is left, provided these sockets had SO_REUSEADDR too "
            "(sockets accepted from a listener inherit it). ") +
            reuseaddr_verdict();
        d_.findings.push_back(f);
    }

    void add_fin_wait2(const std::vector<SocketRecord>& socks) {
        if (socks.empty()) return;
        Finding f;
        f.kind = FindingKind::fin_wait2;
        f.blocks = true;
        f.sockets = socks;
        f.pids = owners_of(socks);
        const bool orphans = std::all_of(socks.begin(), socks.end(),
                                         [](const SocketRecord& s) { return s.inode == 0; });
        set_timers(f, socks);
        if (orphans) {
            f.summary = i18n::format(_("{} orphaned connection(s) in FIN_WAIT2 on port {}, gone in at most {}"),
                                     socks.size(), port_text(), seconds_text(f.seconds_left_max));
            f.explanation =
                i18n::format(_("This side closed and the peer acknowledged, but the peer has not closed its "
                "side. No process owns these sockets any more (the program already called "
                "close()), so there is no one to signal: the kernel drops them after "
                "net.ipv4.tcp_fin_timeout ({} s here). A server that sets SO_REUSEADDR can "
                "usually bind anyway. "), read_sysctl("/proc/sys/net/ipv4/tcp_fin_timeout", "60")) +
                reuseaddr_verdict();
        } else {
            f.summary = f.pids.empty()
                            ? i18n::format(_("{} connection(s) in FIN_WAIT2 on port {}"), socks.size(), port_text())
                            : i18n::format(_("{} connection(s) in FIN_WAIT2 on port {}, held by {}"),
                                           socks.size(), port_text(), owners_text(f.pids));
            f.explanation =
                _("The program called shutdown() on these sockets (only shutdown() leaves a "
                "FIN_WAIT2 that a process still owns; after close() it would be an orphan) and "
                "waits for the peer to close its side. There is no time limit while the "
                "program holds them. When the peer's FIN arrives each becomes TIME_WAIT, which "
                "keeps the port another 60 s.");
        }
        d_.findings.push_back(f);
    }

    void add_time_wait(const std::vector<SocketRecord>& socks) {
        if (socks.empty()) return;
        Finding f;
        f.kind = FindingKind::time_wait;
        f.blocks = true;
        f.sockets = socks;
        set_timers(f, socks);
        f.summary = socks.size() > 1
                        ? i18n::format(_("{} socket(s) in TIME_WAIT on port {}, the last one gone in {} (the first in {})"),
                                       socks.size(), port_text(), seconds_text(f.seconds_left_max),
                                       seconds_text(f.seconds_left_min))
                        : i18n::format(_("{} socket(s) in TIME_WAIT on port {}, the last one gone in {}"),
                                       socks.size(), port_text(), seconds_text(f.seconds_left_max));
        f.explanation =
            _("This side sent the first FIN of these connections (or both sides sent FIN at "
            "once). The kernel keeps each connection's address pair for 60 s "
            "(TCP_TIMEWAIT_LEN, not tunable) for two reasons (RFC 9293 §3.3.2): to acknowledge "
            "the peer's FIN again if it is retransmitted, and so that late duplicate packets "
            "of the old connection are not taken for a new one. No process owns them — ss -p, "
            "lsof and fuser name nobody, and there is nothing to kill. A server that sets "
            "SO_REUSEADDR can bind anyway on Linux, provided the old socket had set it too "
            "(old and new both). ") +
            reuseaddr_verdict() +
            i18n::format(_(" Otherwise wait {}, or clear them with socklab free {} --destroy (root) — "
                           "which removes that protection (TIME-WAIT assassination, RFC 1337); for a "
                           "server the lasting fix is SO_REUSEADDR on its listening socket."),
                         seconds_text(f.seconds_left_max), port_text());
        d_.findings.push_back(f);
    }

    void add_udp(const std::vector<SocketRecord>& socks) {
        if (socks.empty()) return;
        Finding f;
        f.kind = FindingKind::udp;
        f.blocks = false;
        f.sockets = socks;
        f.pids = owners_of(socks);
        f.summary = f.pids.empty()
                        ? i18n::format(_("{} UDP socket(s) on port {}"), socks.size(), port_text())
                        : i18n::format(_("{} UDP socket(s) on port {}, held by {}"), socks.size(),
                                       port_text(), owners_text(f.pids));
        f.explanation =
            _("UDP and TCP have separate port spaces: a UDP socket on this port does not stop a "
            "TCP server from binding it (and the probes here are TCP). It matters only if your "
            "program wants the UDP port.");
        d_.findings.push_back(f);
    }

    void add_unexplained() {
        const bool blocked = std::any_of(d_.findings.begin(), d_.findings.end(),
                                         [](const Finding& f) { return f.blocks; });
        if (blocked || d_.bindable()) return;
        const auto failed = std::find_if(d_.probes.begin(), d_.probes.end(),
                                         [](const BindProbe& p) { return !p.ok(); });
        Finding f;
        f.kind = FindingKind::unexplained;
        f.blocks = true;
        f.summary = i18n::format(_("bind() to {}:{} failed: {}"), failed->address, port_text(),
                                 std::strerror(failed->error));
        if (failed->error == EACCES) {
            f.explanation = i18n::format(_("Ports below net.ipv4.ip_unprivileged_port_start ({} here) need "
                                           "root or CAP_NET_BIND_SERVICE. Run the server with that "
                                           "capability, or use a higher port."),
                                         read_sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", "1024"));
        } else if (failed->error == EADDRINUSE) {
            f.explanation =
                i18n::format(_("The kernel says the port is in use, yet no TCP socket on it is visible in this "
                "network namespace: it may have closed just now (run socklab why {} again)."), port_text());
        } else {
            f.explanation = _("An unexpected error from bind(); the probes above show where.");
        }
        d_.findings.push_back(f);
    }

    static void set_timers(Finding& f, const std::vector<SocketRecord>& socks) {
        bool first = true;
        for (const auto& s : socks) {
            if (s.timer == TimerKind::none) continue;
            const auto left = seconds_left(s);
            f.seconds_left_min = first ? left : std::min(f.seconds_left_min, left);
            f.seconds_left_max = std::max(f.seconds_left_max, left);
            first = false;
        }
    }

    Diagnosis& d_;
};

// The holders of the port's sockets, one OwnerProcess per pid.
void collect_owners(Diagnosis& d, const PortHolding& found,
                    const std::function<bool(int, std::uint64_t)>& holds_fn) {
    d.hidden_owners = found.unseen;
    std::map<int, OwnerProcess> by_pid;
    for (const auto& h : found.holders) {
        const auto& r = h.process;
        auto& o = by_pid[r.pid];
        o.pid = r.pid;
        o.uid = r.uid;
        o.command = r.command;
        o.user = r.user;
        o.fds.push_back(r.fd);
        o.inodes.push_back(found.sockets[h.socket].inode);
    }
    for (auto& [pid, o] : by_pid) {
        // The pidfd names the process for good; it counts only if, after opening it, the
        // process is seen still holding the socket and still alive (else the pid was reused).
        int err = 0;
        auto fd = doctor_detail::open_pidfd(pid, err);
        const bool holds = std::any_of(o.inodes.begin(), o.inodes.end(),
                                       [&, p = pid](std::uint64_t i) { return holds_fn(p, i); });
        if (fd && holds && !doctor_detail::pidfd_exited(fd.get()))
            o.pidfd = std::make_shared<const UniqueFd>(std::move(fd));
        doctor_detail::fill_process_info(o);
        d.owners.push_back(std::move(o));
    }
}

}  // namespace

std::string_view finding_kind_name(FindingKind k) noexcept {
    switch (k) {
        case FindingKind::listener: return "listener";
        case FindingKind::reuseport_group: return "reuseport_group";
        case FindingKind::dual_stack: return "dual_stack";
        case FindingKind::bound: return "bound";
        case FindingKind::connection: return "connection";
        case FindingKind::close_wait: return "close_wait";
        case FindingKind::fin_wait2: return "fin_wait2";
        case FindingKind::time_wait: return "time_wait";
        case FindingKind::udp: return "udp";
        case FindingKind::unexplained: return "unexplained";
    }
    return "unknown";
}

bool Diagnosis::bindable() const noexcept {
    return !probes.empty() && std::all_of(probes.begin(), probes.end(), [](const BindProbe& p) {
        return p.reuseaddr || p.ok();
    });
}

bool Diagnosis::bindable_with_reuseaddr() const noexcept {
    return !probes.empty() && std::all_of(probes.begin(), probes.end(), [](const BindProbe& p) {
        return !p.reuseaddr || p.ok();
    });
}

const OwnerProcess* Diagnosis::owner(int pid) const noexcept {
    for (const auto& o : owners)
        if (o.pid == pid) return &o;
    return nullptr;
}

std::vector<BindProbe> probe_bind(std::uint16_t port) {
    std::vector<BindProbe> out;
    for (const char* addr : kProbeAddresses)
        for (bool reuse : {false, true})
            out.push_back(BindProbe{addr, reuse, probe_once(addr, port, reuse)});
    return out;
}

namespace {

// Probe, find the holders (`find`), pin and describe the owners (`holds` re-asks whether an
// owner still holds a socket), explain.
Diagnosis diagnose_with(std::uint16_t port, const std::function<PortHolding()>& find,
                        const std::function<bool(int, std::uint64_t)>& holds) {
    if (port == 0) throw Error(_("failed to diagnose port 0: give a port from 1 to 65535"));
    Diagnosis d;
    d.port = port;
    d.euid = ::geteuid();
    d.probes = probe_bind(port);
    PortHolding found = find();
    d.source = found.source;
    d.sockets = found.sockets;
    collect_owners(d, found, holds);
    FindingBuilder(d).build();
    return d;
}

}  // namespace

Diagnosis diagnose(std::uint16_t port, Source& source, OwnerIndex& owners) {
    return diagnose_with(
        port, [&] { return holders_of_port(port, true, true, source, owners); },
        [](int pid, std::uint64_t inode) { return process_holds(pid, inode); });
}

Diagnosis diagnose(std::uint16_t port, Source& source, const OwnersLookup& lookup) {
    return diagnose_with(
        port, [&] { return holders_of_port(port, true, true, source, lookup); },
        [&](int pid, std::uint64_t inode) {
            const std::uint64_t one[] = {inode};
            for (const auto& h : lookup(one))
                if (h.process.pid == pid) return true;
            return false;
        });
}

Diagnosis diagnose(std::uint16_t port) {
    auto source = make_default_source();
    OwnerIndex owners;
    return diagnose(port, *source, owners);
}

nlohmann::json to_json(const Diagnosis& d) {
    nlohmann::json j;
    j["port"] = d.port;
    j["bindable"] = d.bindable();
    j["bindable_with_reuseaddr"] = d.bindable_with_reuseaddr();
    j["source"] = d.source;
    j["euid"] = d.euid;
    j["hidden_owners"] = d.hidden_owners;
    auto probes = nlohmann::json::array();
    for (const auto& p : d.probes)
        probes.push_back({{"address", p.address},
                          {"reuseaddr", p.reuseaddr},
                          {"ok", p.ok()},
                          {"errno", p.error},
                          {"error", p.ok() ? std::string() : std::string(std::strerror(p.error))}});
    j["probes"] = std::move(probes);
    auto procs = nlohmann::json::array();
    for (const auto& o : d.owners)
        procs.push_back({{"pid", o.pid},
                         {"command", o.command},
                         {"user", o.user},
                         {"uid", o.uid},
                         {"fds", o.fds},
                         {"inodes", o.inodes},
                         {"start_time", o.start_time},
                         {"age_s", o.age_s},
                         {"kernel_thread", o.kernel_thread}});
    j["processes"] = std::move(procs);
    auto findings = nlohmann::json::array();
    for (const auto& f : d.findings) {
        nlohmann::json fj{{"kind", finding_kind_name(f.kind)},
                          {"blocks", f.blocks},
                          {"summary", f.summary},
                          {"explanation", f.explanation},
                          {"pids", f.pids}};
        if (f.kind == FindingKind::time_wait || f.kind == FindingKind::fin_wait2) {
            fj["seconds_left_min"] = f.seconds_left_min;
            fj["seconds_left_max"] = f.seconds_left_max;
        }
        if (f.quiet_s) fj["quiet_s"] = *f.quiet_s;
        auto socks = nlohmann::json::array();
        for (const auto& s : f.sockets) {
            std::vector<ProcessRef> refs;
            for (const auto& o : d.owners)
                for (std::size_t i = 0; i < o.inodes.size(); ++i)
                    if (s.inode != 0 && o.inodes[i] == s.inode)
                        refs.push_back({o.pid, o.fds[i], o.uid, o.command, o.user});
            socks.push_back(to_json(s, refs));
        }
        fj["sockets"] = std::move(socks);
        findings.push_back(std::move(fj));
    }
    j["findings"] = std::move(findings);
    return j;
}

}  // namespace socklab
