#pragma once
// The port doctor: "why can't I bind this port?" answered as data, and guarded actions that
// free it. A diagnosis is real throwaway bind() probes plus the socket table plus the owners,
// turned into findings in plain words with their evidence. Actions are separate and guarded:
//   plan (make_plan) -> confirm (the front end) -> re-check -> act -> verify (execute).
// A process is named at diagnosis time by a pidfd kept in the diagnosis and is only ever
// signalled through it, so a recycled pid is never hit.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "socklab/fd.hpp"
#include "socklab/holders.hpp"
#include "socklab/record.hpp"

namespace socklab {

class Source;
class OwnerIndex;

// One throwaway TCP bind() on the port, closed at once (never listen()ed, no packet sent).
struct BindProbe {
    std::string address;     // "127.0.0.1", "0.0.0.0" or "::"
    bool reuseaddr = false;  // SO_REUSEADDR set before bind()
    int error = 0;           // errno of bind(); 0 when it bound

    [[nodiscard]] bool ok() const noexcept { return error == 0; }
};

// A process holding at least one socket on the port, as seen at diagnosis time.
struct OwnerProcess {
    int pid = 0;
    std::uint32_t uid = 0;
    std::string command;                // /proc/<pid>/comm
    std::string user;                   // name for uid, or the number
    std::vector<int> fds;               // its descriptors for those sockets
    std::vector<std::uint64_t> inodes;  // the sockets on the port it holds
    std::int64_t start_time = 0;        // when it started, seconds since the epoch; 0 unknown
    std::uint64_t age_s = 0;            // how long it has been running
    bool kernel_thread = false;
    // Opened at diagnosis time, after which the process was seen to still hold the socket.
    // Shared so a diagnosis stays copyable; invalid when it could not be opened.
    std::shared_ptr<const UniqueFd> pidfd;
};

enum class FindingKind : std::uint8_t {
    listener,         // a LISTEN socket (owner, since when)
    reuseport_group,  // several LISTEN sockets sharing addr:port through SO_REUSEPORT
    dual_stack,       // an IPv6 wildcard listener that also covers IPv4
    bound,            // bound but neither listening nor connected
    connection,       // ESTABLISHED and other live connection states using the port
    close_wait,       // the peer closed, the program never did
    fin_wait2,        // waiting for the peer's FIN; orphaned when nobody owns it
    time_wait,        // timewait mini-sockets: nobody owns them, the timer runs out
    udp,              // a UDP socket on the port: a separate port space
    unexplained,      // a probe failed and no socket here explains it
};

// "listener", "reuseport_group", ... (the JSON "kind").
[[nodiscard]] std::string_view finding_kind_name(FindingKind k) noexcept;

struct Finding {
    FindingKind kind = FindingKind::unexplained;
    bool blocks = false;       // stands in the way of a plain TCP bind()
    std::string summary;       // one line: what was found
    std::string explanation;   // plain words: why it matters and what to do
    std::vector<SocketRecord> sockets;  // evidence
    std::vector<int> pids;     // owners (see Diagnosis::owners)
    // Timers of TIME_WAIT / orphaned FIN_WAIT2 sockets: the soonest and the latest expiry.
    std::uint32_t seconds_left_min = 0;
    std::uint32_t seconds_left_max = 0;
    // CLOSE_WAIT: seconds since the peer last sent anything (its FIN), the longest of them.
    std::optional<std::uint64_t> quiet_s;
};

struct Diagnosis {
    std::uint16_t port = 0;
    std::vector<BindProbe> probes;       // 127.0.0.1, 0.0.0.0, ::, each plain and SO_REUSEADDR
    std::vector<Finding> findings;
    std::vector<OwnerProcess> owners;
    std::vector<SocketRecord> sockets;   // every TCP/UDP socket whose local port is the port
    std::string source;                  // "netlink" or "proc"
    std::uint32_t euid = 0;              // who diagnosed: what may be seen and done
    std::size_t hidden_owners = 0;       // sockets on the port whose owner could not be seen

    // Every plain bind() probe succeeded: a server can bind the port now, any address.
    [[nodiscard]] bool bindable() const noexcept;
    // Every SO_REUSEADDR probe succeeded.
    [[nodiscard]] bool bindable_with_reuseaddr() const noexcept;
    [[nodiscard]] const OwnerProcess* owner(int pid) const noexcept;
};

// Probe, read the table (netlink, falling back to /proc) and the owners, explain.
// Throws socklab::Error when the socket table cannot be read at all.
[[nodiscard]] Diagnosis diagnose(std::uint16_t port);
// Same with the caller's source and owner index (a poller reusing its own).
[[nodiscard]] Diagnosis diagnose(std::uint16_t port, Source& source, OwnerIndex& owners);

// Same with the owners from `lookup` (socklab-helper's owners verb for a member of group
// socklab): they are also asked whether an owner still holds its socket before its pidfd is
// trusted, in place of this process's own look at /proc/<pid>/fd.
[[nodiscard]] Diagnosis diagnose(std::uint16_t port, Source& source, const OwnersLookup& lookup);

// The three addresses × {plain, SO_REUSEADDR} probes on their own.
[[nodiscard]] std::vector<BindProbe> probe_bind(std::uint16_t port);

// {port, bindable, bindable_with_reuseaddr, probes[], findings[], processes[], ...}
[[nodiscard]] nlohmann::json to_json(const Diagnosis& d);

// ---- actions ---------------------------------------------------------------------------

enum class ActionMode : std::uint8_t {
    signal,   // signal the owning processes (SIGTERM, then SIGKILL only when asked)
    destroy,  // SOCK_DESTROY the sockets themselves; nothing is killed
};

struct PlanOptions {
    ActionMode mode = ActionMode::signal;
    bool kill = false;  // after SIGTERM and the grace period, SIGKILL what is still alive
    std::chrono::milliseconds grace{3000};
};

struct PlannedAction {
    enum class Kind : std::uint8_t { signal_process, destroy_socket };
    Kind kind = Kind::signal_process;
    std::string description;  // exactly what will be done, naming the process or socket
    std::string refused;      // why it will not be done; empty when it will
    OwnerProcess process;     // signal_process: the owner, with its pidfd
    SocketRecord socket;      // destroy_socket: the exact socket (4-tuple and cookie)
};

struct Plan {
    std::uint16_t port = 0;
    ActionMode mode = ActionMode::signal;
    bool kill = false;
    std::chrono::milliseconds grace{3000};
    std::vector<PlannedAction> actions;
    std::vector<std::string> notes;  // what this plan cannot fix, and why

    // Actions that will run (not refused).
    [[nodiscard]] std::size_t runnable() const noexcept;
};

[[nodiscard]] Plan make_plan(const Diagnosis& d, const PlanOptions& opts = {});

// Why this pid must never be signalled: pid 1, this process, its parent, a kernel thread.
// Empty when none applies.
[[nodiscard]] std::string refusal_reason(int pid);

enum class Outcome : std::uint8_t {
    done,           // signalled and it exited / socket destroyed
    gone,           // the process or socket was gone already: nothing done
    not_holding,    // the process no longer holds the socket: nothing done
    refused,        // pid 1, self, parent, kernel thread
    no_permission,  // the kernel said EPERM: the message names what is needed
    failed,
};
[[nodiscard]] std::string_view outcome_name(Outcome o) noexcept;

struct ActionResult {
    std::string description;
    Outcome outcome = Outcome::failed;
    std::string message;
};

struct FreeResult {
    std::vector<ActionResult> results;
    Diagnosis after;  // fresh diagnosis with real bind probes

    [[nodiscard]] bool bindable() const noexcept { return after.bindable(); }
};

// Test-only seam: called for every action after confirmation and right before its
// re-check, so a test can make the owner exit and another process appear in between.
struct ActHooks {
    std::function<void(const PlannedAction&)> before_recheck;
    // Stands in for destroy_socket() after the re-check, so tests can give the kernel answers
    // this machine never gives (EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY, ENOENT in the
    // instant between the re-check and SOCK_DESTROY, other errnos). Empty: the real call.
    std::function<int(const SocketRecord&)> destroy;
    // Stands in for pidfd_send_signal() after the re-check (socklab-helper sends it for a
    // member of group socklab). Returns 0 or an errno. Empty: the real call.
    std::function<int(const OwnerProcess&, int sig)> signal;
    // Stands in for process_holds() in the re-check (socklab-helper sees other users'
    // descriptors for a member of group socklab). Empty: process_holds().
    std::function<bool(int pid, std::uint64_t inode)> holds;
};

// Re-check, act and verify. Never throws for a refused or failed action: each has a result.
[[nodiscard]] FreeResult execute(const Plan& plan, const ActHooks& hooks = {});

[[nodiscard]] nlohmann::json to_json(const Plan& p);
[[nodiscard]] nlohmann::json to_json(const FreeResult& r);

// ---- building blocks (exposed for the front ends and the tests) -------------------------

// SOCK_DESTROY one TCP socket, named by its exact 4-tuple and cookie. Returns 0 or an errno:
// EPERM without CAP_NET_ADMIN, EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY, ENOENT when gone.
[[nodiscard]] int destroy_socket(const SocketRecord& s);
// Does this exact socket (4-tuple and cookie) still exist? Answered by the kernel.
[[nodiscard]] bool socket_exists(const SocketRecord& s);
// Field 22 of /proc/<pid>/stat (clock ticks after boot): with the pid, names one process
// for good, since a recycled pid has a later start. nullopt when the process is gone.
[[nodiscard]] std::optional<std::uint64_t> process_start_ticks(int pid);
// Does process `pid` hold socket `inode` now (a "socket:[inode]" link in /proc/<pid>/fd)?
[[nodiscard]] bool process_holds(int pid, std::uint64_t inode);

}  // namespace socklab
