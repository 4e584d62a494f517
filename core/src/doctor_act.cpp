// The port doctor's actions: plan from a diagnosis, then for each action re-check, act and,
// at the end, verify with a fresh diagnosis (real bind probes). Processes are reached only
// through the pidfd opened at diagnosis time, so a recycled pid is never signalled.
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "doctor_detail.hpp"
#include "socklab/error.hpp"
#include "socklab/json.hpp"
#include "socklab/i18n.hpp"

namespace socklab {
namespace {

using doctor_detail::describe;

constexpr std::chrono::milliseconds kKillWait{2000};

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so C++ cannot link its wrappers: use syscall().
int send_signal(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0u));
}

bool is_tcp_on_port(const SocketRecord& s) { return s.proto == Proto::tcp; }

// Bound but neither listening nor connected: sock_diag cannot look such a socket up by its
// address, so SOCK_DESTROY cannot reach it.
bool bound_only(std::uint8_t state) {
    return state == static_cast<std::uint8_t>(TcpState::close) ||
           state == static_cast<std::uint8_t>(TcpState::bound_inactive);
}

std::string ms_text(std::chrono::milliseconds ms) {
    if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
    return std::to_string(ms.count()) + " ms";
}

// Wait until the process behind the pidfd exits, at most `timeout`.
bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (doctor_detail::pidfd_exited(pidfd)) return true;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{pidfd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    }
}

std::string sockets_of(const Diagnosis& d, const OwnerProcess& o) {
    std::string out;
    for (const auto& s : d.sockets) {
        if (!is_tcp_on_port(s) || s.inode == 0) continue;
        if (std::find(o.inodes.begin(), o.inodes.end(), s.inode) == o.inodes.end()) continue;
        if (!out.empty()) out += ", ";
        out += describe(s);
    }
    return out;
}

ActionResult signal_action(const Plan& plan, const PlannedAction& a, const ActHooks& hooks) {
    const auto deliver = [&](int pidfd, int sig) {
        if (!hooks.signal) return send_signal(pidfd, sig);
        const int err = hooks.signal(a.process, sig);
        errno = err;
        return err == 0 ? 0 : -1;
    };
    const auto& p = a.process;
    ActionResult r{a.description, Outcome::failed, {}};
    const std::string who = describe(p);
    if (auto why = refusal_reason(p.pid); !why.empty()) {
        r.outcome = Outcome::refused;
        r.message = i18n::format(_("refused to signal {}: {}"), who, why);
        return r;
    }
    const int pidfd = p.pidfd ? p.pidfd->get() : -1;
    if (pidfd < 0) {
        r.outcome = Outcome::gone;
        r.message = i18n::format(_("{} could not be pinned with a pidfd: nothing signalled"), who);
        return r;
    }
    // Re-check: the pidfd's process is alive, the pid still holds the socket, and the pidfd's
    // process is still alive after that look, so the /proc/<pid> we read was that process.
    if (doctor_detail::pidfd_exited(pidfd)) {
        r.outcome = Outcome::gone;
        r.message = i18n::format(_("{} has exited already: nothing signalled"), who);
        return r;
    }
    const bool holds = std::any_of(p.inodes.begin(), p.inodes.end(),
                                   [&](std::uint64_t i) {
                                       return hooks.holds ? hooks.holds(p.pid, i)
                                                          : process_holds(p.pid, i);
                                   });
    if (doctor_detail::pidfd_exited(pidfd)) {
        r.outcome = Outcome::gone;
        r.message = i18n::format(_("{} has exited already: nothing signalled"), who);
        return r;
    }
    if (!holds) {
        r.outcome = Outcome::not_holding;
        r.message = i18n::format(_("{} no longer holds its socket on port {}: nothing signalled"), who, plan.port);
        return r;
    }
    if (deliver(pidfd, SIGTERM) != 0) {
        const int err = errno;
        if (err == ESRCH) {
            r.outcome = Outcome::gone;
            r.message = i18n::format(_("{} has exited already: nothing signalled"), who);
        } else if (err == EPERM) {
            r.outcome = Outcome::no_permission;
            r.message = i18n::format(_("failed to signal {}: {}. It belongs to user {}; signalling another user's process needs root (CAP_KILL): run sudo socklab free {}, or run it as {}"), who, std::strerror(err), p.user, plan.port, p.user);
        } else {
            r.message = i18n::format(_("failed to signal {}: {}"), who, std::strerror(err));
        }
        return r;
    }
    if (wait_exit(pidfd, plan.grace)) {
        r.outcome = Outcome::done;
        r.message = i18n::format(_("{} exited after SIGTERM"), who);
        return r;
    }
    if (!plan.kill) {
        r.message = i18n::format(_("{} is still running {} after SIGTERM (it may be shutting down slowly, or ignore SIGTERM); run again with --signal KILL to end it"), who, ms_text(plan.grace));
        return r;
    }
    if (deliver(pidfd, SIGKILL) != 0 && errno != ESRCH) {
        r.message = i18n::format(_("failed to send SIGKILL to {}: {}"), who, std::strerror(errno));
        return r;
    }
    if (wait_exit(pidfd, kKillWait)) {
        r.outcome = Outcome::done;
        r.message = i18n::format(_("{} ignored SIGTERM for {} and was ended with SIGKILL"), who, ms_text(plan.grace));
    } else {
        r.message = i18n::format(_("{} is still there {} after SIGKILL (stuck in the kernel, state D?)"), who, ms_text(kKillWait));
    }
    return r;
}

ActionResult destroy_action(const Plan& plan, const PlannedAction& a, const ActHooks& hooks) {
    ActionResult r{a.description, Outcome::failed, {}};
    const std::string what = describe(a.socket);
    try {
        if (!socket_exists(a.socket)) {
            r.outcome = Outcome::gone;
            r.message = i18n::format(_("{} is gone already: nothing destroyed"), what);
            return r;
        }
        const int err = hooks.destroy ? hooks.destroy(a.socket) : destroy_socket(a.socket);
        switch (err) {
            case 0:
                r.outcome = Outcome::done;
                r.message = "destroyed " + what;
                break;
            case ENOENT:
                r.outcome = Outcome::gone;
                r.message = i18n::format(_("{} went away just before SOCK_DESTROY: nothing destroyed"), what);
                break;
            case EPERM:
            case EACCES:
                r.outcome = Outcome::no_permission;
                r.message = i18n::format(_("failed to destroy {}: {}. SOCK_DESTROY needs CAP_NET_ADMIN: run sudo socklab free {} --destroy"), what, std::strerror(err), plan.port);
                break;
            case EOPNOTSUPP:
                r.message = i18n::format(_("failed to destroy {}: {}. This kernel is built without CONFIG_INET_DIAG_DESTROY: signal the owner instead (socklab free {})"), what, std::strerror(err), plan.port);
                break;
            default:
                r.message = i18n::format(_("failed to destroy {}: {}"), what, std::strerror(err));
        }
    } catch (const Error& e) {
        r.message = e.what();
    }
    return r;
}

}  // namespace

std::string_view outcome_name(Outcome o) noexcept {
    switch (o) {
        case Outcome::done: return "done";
        case Outcome::gone: return "gone";
        case Outcome::not_holding: return "not_holding";
        case Outcome::refused: return "refused";
        case Outcome::no_permission: return "no_permission";
        case Outcome::failed: return "failed";
    }
    return "unknown";
}

std::size_t Plan::runnable() const noexcept {
    return static_cast<std::size_t>(std::count_if(
        actions.begin(), actions.end(), [](const PlannedAction& a) { return a.refused.empty(); }));
}

Plan make_plan(const Diagnosis& d, const PlanOptions& opts) {
    Plan p;
    p.port = d.port;
    p.mode = opts.mode;
    p.kill = opts.kill;
    p.grace = opts.grace;
    const std::string port = std::to_string(d.port);
    std::size_t ownerless = 0;
    std::uint32_t ownerless_left = 0;
    for (const auto& s : d.sockets) {
        if (!is_tcp_on_port(s) || s.inode != 0) continue;
        ++ownerless;
        ownerless_left = std::max(ownerless_left, (s.timer_ms + 999) / 1000);
    }
    if (opts.mode == ActionMode::signal) {
        for (const auto& o : d.owners) {
            const std::string socks = sockets_of(d, o);
            if (socks.empty()) continue;  // holds only UDP sockets: they do not block TCP
            PlannedAction a;
            a.kind = PlannedAction::Kind::signal_process;
            a.process = o;
            a.description = i18n::format(_("send SIGTERM to {}, which holds {}"), describe(o), socks);
            if (opts.kill)
                a.description += i18n::format(_("; then SIGKILL if it still runs after {}"), ms_text(opts.grace));
            a.refused = refusal_reason(o.pid);
            if (a.refused.empty() && !o.pidfd)
                a.refused = _("it could not be pinned with a pidfd at diagnosis time (it exited, "
                            "or stopped holding the socket)");
            p.actions.push_back(std::move(a));
        }
        if (ownerless > 0)
            p.notes.push_back(i18n::format(_("{} socket(s) on the port (TIME_WAIT or orphaned FIN_WAIT2) have no "
                              "owner: no signal can clear them. They expire within {} s, or use "
                              "--destroy (root)."), ownerless, ownerless_left));
    } else {
        std::size_t time_waits = 0;
        for (const auto& s : d.sockets) {
            if (!is_tcp_on_port(s)) continue;
            if (bound_only(s.state)) {
                p.notes.push_back(i18n::format(_("{} is only bound: SOCK_DESTROY cannot reach it. Stop its "
                                  "program instead (socklab free {})."), describe(s), port));
                continue;
            }
            if (s.state == static_cast<std::uint8_t>(TcpState::time_wait)) ++time_waits;
            PlannedAction a;
            a.kind = PlannedAction::Kind::destroy_socket;
            a.socket = s;
            a.description = s.inode == 0 ? i18n::format(_("destroy {} (SOCK_DESTROY, owned by nobody)"), describe(s))
                                         : i18n::format(_("destroy {} (SOCK_DESTROY)"), describe(s));
            for (const auto& o : d.owners)
                if (std::find(o.inodes.begin(), o.inodes.end(), s.inode) != o.inodes.end())
                    a.description += i18n::format(_(", held by {}, which keeps running{}"), describe(o), (s.state == static_cast<std::uint8_t>(TcpState::listen)
                                          ? _(" but can accept no more connections")
                                          : ""));
            if (s.cookie == 0)
                a.refused = _("the socket table came from /proc, without socket cookies: the "
                            "socket cannot be named exactly");
            p.actions.push_back(std::move(a));
        }
        if (time_waits > 0)
            p.notes.push_back(
                i18n::format(_("destroying {} TIME_WAIT socket(s) removes what TIME_WAIT is for: a late duplicate segment "
                "or a retransmitted FIN of the old connection can then reach a new connection "
                "with the same addresses (TIME-WAIT assassination, RFC 1337). For a server "
                "the lasting fix is SO_REUSEADDR on its listening socket (socklab why {} says "
                "whether that is enough)."), time_waits, port));
    }
    if (d.hidden_owners > 0)
        p.notes.push_back(
            d.euid == 0
                ? i18n::format(_("{} socket(s) on the port belong to processes not visible from here (another "
                      "pid namespace or container, or a process that closed them just now)."), d.hidden_owners)
                : i18n::format(_("{} socket(s) on the port belong to processes uid {} cannot see: run as "
                                 "root (sudo socklab free {}) to act on them."), d.hidden_owners, d.euid, port));
    return p;
}

FreeResult execute(const Plan& plan, const ActHooks& hooks) {
    FreeResult out;
    for (const auto& a : plan.actions) {
        if (hooks.before_recheck) hooks.before_recheck(a);
        if (!a.refused.empty()) {
            out.results.push_back({a.description, Outcome::refused, i18n::format(_("refused: {}"), a.refused)});
            continue;
        }
        out.results.push_back(a.kind == PlannedAction::Kind::signal_process
                                  ? signal_action(plan, a, hooks)
                                  : destroy_action(plan, a, hooks));
    }
    out.after = diagnose(plan.port);
    return out;
}

nlohmann::json to_json(const Plan& p) {
    auto actions = nlohmann::json::array();
    for (const auto& a : p.actions) {
        nlohmann::json j{{"kind", a.kind == PlannedAction::Kind::signal_process ? "signal"
                                                                                 : "destroy"},
                         {"description", a.description},
                         {"refused", a.refused}};
        if (a.kind == PlannedAction::Kind::signal_process) {
            j["pid"] = a.process.pid;
            j["command"] = a.process.command;
            j["user"] = a.process.user;
        } else {
            j["socket"] = to_json(a.socket);
        }
        actions.push_back(std::move(j));
    }
    return {{"port", p.port},
            {"mode", p.mode == ActionMode::signal ? "signal" : "destroy"},
            {"kill", p.kill},
            {"grace_ms", p.grace.count()},
            {"actions", std::move(actions)},
            {"notes", p.notes}};
}

nlohmann::json to_json(const FreeResult& r) {
    auto results = nlohmann::json::array();
    for (const auto& a : r.results)
        results.push_back({{"description", a.description},
                           {"outcome", outcome_name(a.outcome)},
                           {"message", a.message}});
    return {{"results", std::move(results)}, {"bindable", r.bindable()}, {"after", to_json(r.after)}};
}

}  // namespace socklab
