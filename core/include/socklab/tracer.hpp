#pragma once
// Tracer: every TCP state transition from the tracepoint sock:inet_sock_set_state, read from
// a private tracefs instance of socklab's own. Needs root (or tracefs access); without it,
// status() says why and what enables it, and everything else keeps working on polling.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "socklab/event.hpp"

namespace socklab {

struct TracerOptions {
    std::optional<std::uint16_t> port;     // kernel-side filter: sport == port || dport == port
    std::size_t buffer_kb_per_cpu = 8192;  // ring buffer per cpu, sized for bursts
    bool force_unprivileged = false;       // behave as if not permitted (tests, --no-trace)
};

struct TracerStatus {
    bool active = false;
    std::string message;  // when not active: why, and the exact command that enables it
};

class Tracer {
public:
    explicit Tracer(TracerOptions opts = {});  // never throws for lack of privilege
    ~Tracer();                                 // removes the instance
    Tracer(const Tracer&) = delete;
    Tracer& operator=(const Tracer&) = delete;

    [[nodiscard]] const TracerStatus& status() const noexcept;
    // Append the transitions recorded since the last call, in time order; waits at most
    // `timeout` for the first one. Returns how many were appended.
    std::size_t poll(std::vector<TransitionEvent>& out, std::chrono::milliseconds timeout);
    // Events the kernel dropped because the buffer was full (per-cpu "overrun" stats).
    [[nodiscard]] std::uint64_t lost_events() const;

    // Remove instances left behind by a socklab that was killed. Returns how many.
    static std::size_t remove_stale_instances();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace socklab
