// `socklab free PORT [--yes] [--signal TERM|KILL] [--destroy]`: act on the diagnosis, guarded.
// Shows exactly what it will do, asks on a terminal (does nothing off a terminal without
// --yes), re-checks right before acting, and exits 0 only if a real bind() works afterwards.
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "command.hpp"
#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/helper_client.hpp"
#include "socklab/holders.hpp"
#include "socklab/owners.hpp"
#include "socklab/source.hpp"
#include "socklab/i18n.hpp"

namespace socklab::cli {

std::string diagnosis_text(const Diagnosis& d, bool explain);  // cmd_why.cpp

namespace {

bool confirm(const std::string& question) {
    std::fprintf(stderr, "%s [y/N] ", question.c_str());
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer)) return false;
    return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES";
}

// The helper's answer as the errno the doctor's messages are written for. `gone` is ENOENT
// for a socket, ESRCH for a process; a refusal after its re-check (another socket or process
// in its place now) means the one planned for is gone too.
int helper_errno(const HelperClient::Answer& a, int gone) {
    if (a.ok) return 0;
    switch (a.code) {
        case helper::ErrorCode::gone:
        case helper::ErrorCode::refused: return gone;
        case helper::ErrorCode::no_permission: return EPERM;
        default: return EIO;
    }
}

}  // namespace

void register_free(CLI::App& root, Runner& run) {
    struct Opts {
        std::uint16_t port = 0;
        bool yes = false;
        std::string signal = "TERM";
        bool destroy = false;
        double grace_s = 3.0;
    };
    auto opts = std::make_shared<Opts>();
    auto* sub = root.add_subcommand(
        "free", _("Free PORT: signal the processes holding it, or destroy its sockets (asks first)"));
    sub->add_option("PORT", opts->port, _("TCP port to free (1-65535)"))
        ->required()
        ->check(port_validator());
    sub->add_flag("-y,--yes", opts->yes, _("act without asking (needed when not on a terminal)"));
    auto* sig = sub->add_option("--signal", opts->signal,
                                _("TERM (default): ask the owners to exit; KILL: SIGTERM first, "
                                "then SIGKILL whatever still runs after the grace period"))
                    ->check(CLI::IsMember({"TERM", "KILL"}, CLI::ignore_case));
    sub->add_flag("--destroy", opts->destroy,
                  _("destroy the sockets with SOCK_DESTROY (like ss -K) instead of signalling: "
                  "clears CLOSE_WAIT and TIME_WAIT without killing anything (root)"))
        ->excludes(sig);
    sub->add_option("--grace", opts->grace_s, _("seconds to wait for an exit after SIGTERM"))
        ->check(decimal_number(0, 600, "seconds"));
    set_examples(*sub,
                 _("  socklab free 8080                  ask the listener on 8080 to exit (SIGTERM)\n"
                 "  socklab free 8080 --signal KILL    SIGTERM, then SIGKILL after the grace period\n"
                 "  socklab free 8080 --destroy        clear CLOSE_WAIT/TIME_WAIT sockets (root)\n"
                 "  socklab free 8080 --yes            in a script: act without asking\n"
                 "\nExit status: 0 the port can be bound afterwards (checked by a real bind()),\n"
                 "1 it cannot, or nothing was done; 2 bad input.\n"));
    sub->callback([&run, opts] {
        run = [opts] {
            const std::string port = std::to_string(opts->port);
            // Not root, in group socklab, helper installed: it names the owners of other
            // users' sockets, destroys and signals for us, re-checking each socket (4-tuple +
            // cookie) and process (pid + start time) right before it acts.
            const auto helper = helper_for_member(_("socklab: acting through %s\n"));
            const OwnersLookup owners_lookup = helper ? helper_owners(*helper) : OwnersLookup{};
            const Diagnosis d = [&] {
                if (!helper) return diagnose(opts->port);
                auto source = make_default_source();
                return diagnose(opts->port, *source, owners_lookup);
            }();
            if (d.bindable()) {
                std::printf(_("Port %s/tcp can be bound already: nothing to do.\n"), port.c_str());
                return kExitOk;
            }
            PlanOptions po;
            po.mode = opts->destroy ? ActionMode::destroy : ActionMode::signal;
            po.kill = opts->signal == "KILL" || opts->signal == "kill";
            po.grace = std::chrono::milliseconds(static_cast<long>(opts->grace_s * 1000));
            const Plan plan = make_plan(d, po);

            std::fputs(diagnosis_text(d, false).c_str(), stdout);
            std::printf("Plan:\n");
            int n = 0;
            for (const auto& a : plan.actions) {
                ++n;
                if (a.refused.empty())
                    std::printf("  %d. %s\n", n, a.description.c_str());
                else
                    std::printf("  %d. (refused) %s — %s\n", n, a.description.c_str(),
                                a.refused.c_str());
            }
            if (plan.actions.empty()) std::fputs(_("  (no action)\n"), stdout);
            for (const auto& note : plan.notes) std::printf("  note: %s\n", note.c_str());
            std::fflush(stdout);

            if (plan.runnable() == 0) {
                // --destroy needs root too: suggest it as something this user can run.
                const std::string hint =
                    plan.mode == ActionMode::destroy
                        ? _(" by destroying sockets (see the notes)")
                        : d.euid == 0 ? _(" by signalling (see the notes; --destroy may help)")
                                      : i18n::format(_(" by signalling (see the notes; as root, 'sudo socklab "
                                                       "free {} --destroy' may help)"), port);
                std::fprintf(stderr, _("socklab: nothing socklab can do to free port %s%s\n"),
                             port.c_str(), hint.c_str());
                return kExitNothing;
            }
            if (!opts->yes) {
                if (::isatty(STDIN_FILENO) == 0) {
                    std::fputs(_("socklab: not on a terminal and no --yes: nothing done. Add "
                                 "--yes to act without asking.\n"),
                               stderr);
                    return kExitNothing;
                }
                if (!confirm(_("Do this?"))) {
                    std::fputs(_("socklab: nothing done.\n"), stderr);
                    return kExitNothing;
                }
            }

            ActHooks hooks;
            if (helper) {
                hooks.destroy = [&helper](const SocketRecord& s) {
                    return helper_errno(helper->destroy(s), ENOENT);
                };
                hooks.signal = [&helper](const OwnerProcess& p, int signo) {
                    const auto ticks = process_start_ticks(p.pid);
                    if (!ticks) return ESRCH;
                    return helper_errno(helper->signal(p.pid, *ticks, signo), ESRCH);
                };
                hooks.holds = [&owners_lookup](int pid, std::uint64_t inode) {
                    const std::uint64_t one[] = {inode};
                    for (const auto& h : owners_lookup(one))
                        if (h.process.pid == pid) return true;
                    return false;
                };
            }
            const FreeResult r = execute(plan, hooks);
            std::printf("\nResult:\n");
            for (const auto& res : r.results)
                std::printf("  [%s] %s\n", std::string(outcome_name(res.outcome)).c_str(),
                            res.message.c_str());
            for (const auto& res : r.results)
                if (res.outcome == Outcome::no_permission)
                    std::fprintf(stderr, "socklab: %s\n", res.message.c_str());
            if (r.bindable()) {
                std::printf(_("\nPort %s/tcp can be bound now (checked with a real bind()).\n"),
                            port.c_str());
                return kExitOk;
            }
            std::printf(_("\nPort %s/tcp still cannot be bound:\n"), port.c_str());
            for (const auto& f : r.after.findings)
                if (f.blocks) std::printf("  - %s\n", f.summary.c_str());
            return kExitNothing;
        };
    });
}

}  // namespace socklab::cli
