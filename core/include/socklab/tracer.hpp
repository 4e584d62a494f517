#pragma once
// Tracer: every TCP state transition from the tracepoint sock:inet_sock_set_state, read from
// a private tracefs instance of socklab's own. Needs root (or tracefs access); without it,
// status() says why and what enables it, and everything else keeps working on polling.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "socklab/event.hpp"
#include "socklab/record.hpp"
#include "socklab/syscall_event.hpp"

namespace socklab {

struct TracerOptions {
    std::optional<std::uint16_t> port;     // kernel-side filter: sport == port || dport == port
    std::size_t buffer_kb_per_cpu = 8192;  // ring buffer per cpu, sized for bursts
    bool force_unprivileged = false;       // do not trace: --no-trace (status() says so)
    // Also trace the lifecycle system calls (syscalls:sys_enter/exit_* of socket, bind,
    // listen, accept, accept4, connect, shutdown, close, setsockopt) and count the data
    // calls (sendto, recvfrom, sendmsg, recvmsg; read and write too when `pids` is given),
    // in the same instance. `pids` filters them in the kernel (common_pid: thread ids).
    bool syscalls = false;
    std::vector<std::int32_t> pids;
    // With `pids`: follow them and every task they fork (threads and child processes) in the
    // kernel, through the instance's set_event_pid and options/event-fork, so a program's
    // whole process tree is traced from its first call, with no race against a new thread.
    // This applies to every event of the instance: transitions seen are only those that ran
    // in the tree's context (a peer's FIN handled in another task is not), so use a second
    // Tracer for transitions.
    bool follow_children = false;
    // Try even when not uid 0: socklab-helper holds CAP_DAC_OVERRIDE through file capabilities
    // instead (docs/privileges.md). Without it, a non-root caller is told to use root.
    bool without_root = false;
    // With `syscalls`: poll() also hands out each data call (call, result, fd, inode), besides
    // counting it in data_calls(). socklab-helper uses it to drop another user's calls before
    // it counts them (docs/privileges.md); nothing else needs them one by one.
    bool data_call_events = false;
    // Through socklab-helper (HelperTracer, TransitionTracer): with `syscalls`, also ask for
    // the data calls' counts per socket (data_calls()), as a Tracer here always counts them.
    bool data_calls = false;
};

struct TracerStatus {
    bool active = false;
    std::string message;  // when not active: why, and the exact command that enables it
};

// The status of tracing switched off with --no-trace (in the chosen language): the same words
// whether the tracer runs here or through socklab-helper.
[[nodiscard]] TracerStatus tracing_turned_off();

class Tracer {
public:
    // Call once from main(), before any Tracer: the tracing instances of this process are then
    // removed when it dies of SIGINT, SIGTERM or SIGHUP left at their default action (which
    // would end it without running a Tracer's destructor), and when it leaves through exit()
    // without unwinding. It installs a handler only where the signal is still at its default;
    // a handler the program installs afterwards replaces it for that signal, and must then end
    // the program's loops so the destructors (or stop()) remove the instances, as socklab's
    // commands and the labs do. A Tracer made without this call still removes its instance on
    // stop() and in its destructor, never on a fatal signal.
    static void remove_instances_on_exit();

    explicit Tracer(TracerOptions opts = {});  // never throws for lack of privilege; prints nothing
    ~Tracer();                                 // removes the instance (silently: see stop())
    Tracer(const Tracer&) = delete;
    Tracer& operator=(const Tracer&) = delete;

    // Stop tracing and remove the instance now. Afterwards status() is inactive; its message
    // is "" when the instance is gone, else what could not be removed and the command that
    // removes it ("failed to remove the tracing instance ...; remove it with 'rmdir ...'"),
    // for the caller to show. A tracer that never started keeps its message. Returns what the
    // caller should show: that text when this tracer was tracing, else "".
    [[nodiscard]] std::string stop();

    // Why tracing is off (set-up failures, and what stop() could not remove), for the caller
    // to show; the tracer itself prints nothing.
    [[nodiscard]] const TracerStatus& status() const noexcept;
    // Append the transitions recorded since the last call, in time order; waits at most
    // `timeout` for the first one. Returns how many were appended.
    std::size_t poll(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout);
    // The same, also appending the system calls (options.syscalls) completed since the last
    // call, in time order, resolved to their sockets where possible. Returns how many records
    // of both kinds were appended.
    std::size_t poll(std::vector<TransitionEvent>& out, std::vector<SyscallEvent>& calls,
                     std::chrono::milliseconds timeout);
    // Data calls counted per socket inode (options.syscalls), and the socket each inode was
    // last known as.
    [[nodiscard]] const std::unordered_map<std::uint64_t, DataCallCounts>& data_calls() const noexcept;
    [[nodiscard]] std::optional<SocketKey> key_of_inode(std::uint64_t inode) const;
    // Status of the system-call half: active, or why not (transitions may still be traced).
    [[nodiscard]] const TracerStatus& syscall_status() const noexcept;
    // Events the kernel dropped because the buffer was full (per-cpu "overrun" stats).
    [[nodiscard]] std::uint64_t lost_events() const;

    // Remove instances left behind by a socklab that was killed. Returns how many.
    static std::size_t remove_stale_instances();

    // Name of this tracer's tracefs instance ("socklab-<pid>-<starttime>-<seq>"); empty when
    // not active. Tests use it to check that the instance is gone after the Tracer.
    [[nodiscard]] const std::string& instance_name() const noexcept;
    // Records the decoder rejected (should stay 0; counted, never silent).
    [[nodiscard]] std::uint64_t malformed_records() const noexcept;

private:
    void init(TracerOptions opts);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Pieces of the tracer that need no kernel: the record decoder (a pure function of the raw
// bytes and the field layout, so it can be fed recorded fixtures and fuzzed), instance names,
// and correlation helpers for history and the views.
namespace trace {

inline constexpr std::string_view kSystem = "sock";
inline constexpr std::string_view kEvent = "inet_sock_set_state";
inline constexpr std::string_view kInstancePrefix = "socklab-";

// Where a field sits in a raw record. size 0: the format does not have it.
struct FieldSpec {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
};

// Field layout of sock:inet_sock_set_state, read from the tracepoint's "format" file.
struct RecordLayout {
    std::uint16_t event_id = 0;  // "ID:"; records of other events are rejected
    FieldSpec common_type, common_pid;
    FieldSpec skaddr, oldstate, newstate, sport, dport, family, protocol;
    FieldSpec saddr, daddr, saddr_v6, daddr_v6;
};

// Parse the text of events/sock/inet_sock_set_state/format. Throws ParseError when a field
// the decoder needs is missing or has an unexpected size.
[[nodiscard]] RecordLayout parse_format(std::string_view format_text);

struct DecodeResult {
    std::optional<TransitionEvent> event;  // set on success
    std::string error;                     // why not, otherwise
    explicit operator bool() const noexcept { return event.has_value(); }
};

// Decode one raw record (the event payload as the ring buffer holds it, common_type first).
// Fills everything the record carries: time, cpu, pid, skaddr, family, protocol, addresses,
// ports and states; not comm (resolved by the tracer) nor old_state_ns (needs history).
// Never throws and never reads outside `record`: truncated or malformed input is an error.
[[nodiscard]] DecodeResult decode_record(std::span<const std::byte> record,
                                         const RecordLayout& layout, std::uint64_t time_ns,
                                         std::uint32_t cpu) noexcept;

// Instance names: "socklab-<pid>-<starttime>-<seq>", starttime being field 22 of
// /proc/<pid>/stat, so a recycled pid is not mistaken for the owner.
struct InstanceOwner {
    int pid = 0;
    std::uint64_t start_time = 0;
    std::uint64_t seq = 0;
};
[[nodiscard]] std::string instance_name(const InstanceOwner& owner);
// nullopt for any name socklab did not make: those are never touched.
[[nodiscard]] std::optional<InstanceOwner> parse_instance_name(std::string_view name) noexcept;
// Is the process that made this instance still alive (same pid, same start time)?
[[nodiscard]] bool owner_alive(const InstanceOwner& owner, std::string_view proc_root = "/proc");

// The connection an event belongs to (TCP, family, 4-tuple from the socket's point of view).
// The SYN_SENT event has local port 0: key those by skaddr until a later event names the port.
[[nodiscard]] SocketKey key_of(const TransitionEvent& e) noexcept;

// Could a poller have seen the state a socket was in between `entered_ns` and `left_ns`?
// Only if one of its snapshots (taken at `snapshot_ns`, sorted ascending) fell inside.
// Transitions into SYN_SENT, SYN_RECV, LAST_ACK ... on loopback are usually "no".
[[nodiscard]] bool seen_by_polling(std::uint64_t entered_ns, std::uint64_t left_ns,
                                   std::span<const std::uint64_t> snapshot_ns) noexcept;

// Per-socket bookkeeping shared by the tracer and replays of recorded events: fills
// old_state_ns from the previous event of the same skaddr, and remembers each socket's
// 4-tuple once its ports are known.
class SocketTracker {
public:
    // Events must be passed in time order. Sets e.old_state_ns (0 when the socket was not
    // seen entering old_state).
    void observe(TransitionEvent& e);
    // The 4-tuple of the socket at `skaddr`, once an event showed its local port.
    [[nodiscard]] std::optional<SocketKey> key_of_socket(std::uint64_t skaddr) const;
    [[nodiscard]] std::size_t tracked() const noexcept;

private:
    struct Entry {
        std::uint8_t state = 0;
        std::uint64_t since_ns = 0;
        std::optional<SocketKey> key;
    };
    std::unordered_map<std::uint64_t, Entry> sockets_;
};

// What the transitions tell about the sockets of calls whose descriptors are gone by the time
// the calls are resolved (a connection that lives for microseconds: /proc no longer has its
// descriptor, the table no longer has the socket).
//  - connect(): the connecting task itself reports CLOSE -> SYN_SENT (port still 0); the
//    next event of that socket carries its 4-tuple. So a thread's connect() set up the
//    connection whose SYN_SENT that thread reported between the call's entry and exit.
//  - accept(): a listener's accept queue is first in, first out, and a connection joins it
//    at its SYN_RECV -> ESTABLISHED. So the k-th accept() on a port returns the oldest
//    connection that became ESTABLISHED there and was not accepted since (one reset while
//    it waited is still returned); closing the listener empties its queue.
//    (With several SO_REUSEPORT listeners on one port the order is per listener: a guess.)
// Pure and bounded; events in time order, after SocketTracker::observe.
class CallSocketHints {
public:
    void observe(const TransitionEvent& e);
    [[nodiscard]] std::optional<SocketKey> connected_by(std::int32_t tid, std::uint64_t enter_ns,
                                                        std::uint64_t exit_ns) const;
    // A non-blocking connect() returns before its socket is named: the socket (skaddr) whose
    // SYN_SENT `tid` reported during the call, to be named by a later event.
    [[nodiscard]] std::optional<std::uint64_t> syn_sent_by(std::int32_t tid, std::uint64_t enter_ns,
                                                           std::uint64_t exit_ns) const;
    // An accept() on a listener of `port` that returned before `exit_ns`: the connection it
    // took, which leaves the queue.
    std::optional<SocketKey> take_accepted(std::uint16_t port, std::uint64_t exit_ns);
    // An accept() whose connection is known already: it leaves the queue too.
    void accepted(const SocketKey& k);
    [[nodiscard]] std::size_t waiting(std::uint16_t port) const;

private:
    struct Seen {
        SocketKey key;
        std::uint64_t time_ns = 0;
        std::int32_t tid = 0;
    };
    std::unordered_map<std::uint64_t, Seen> syn_sent_;  // skaddr -> SYN_SENT not yet named
    // Named connects per connecting thread, oldest first (a busy host's other threads never
    // push a thread's own entry out of reach).
    std::unordered_map<std::int32_t, std::deque<Seen>> connects_;
    std::unordered_map<std::uint16_t, std::deque<Seen>> ready_;  // port -> accept queue
};

}  // namespace trace

}  // namespace socklab
