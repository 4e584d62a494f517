#pragma once
// How a population of N sockets is split over processes, listeners and states. Pure
// arithmetic, so it is tested without a kernel.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sockets.hpp"

namespace socklab::bench {

struct PlanRequest {
    std::size_t sockets = 10'000;       // total TCP sockets wanted in the netns
    unsigned time_wait_percent = 20;    // share of sockets in TIME_WAIT (no descriptor)
    unsigned closing_percent = 10;      // share in CLOSE_WAIT + FIN_WAIT2 pairs
    std::size_t fds_per_process = 19'000;  // descriptor budget of one worker
    unsigned min_workers = 4;           // spread even small populations over processes
    std::uint16_t listen_port = 8080;   // the known listener `who` asks about
};

struct WorkerPlan {
    Endpoint listen;                     // port 0 until the worker binds
    std::size_t established_pairs = 0;   // two ESTABLISHED sockets each
    std::size_t closing_pairs = 0;       // one FIN_WAIT2 + one CLOSE_WAIT each
};

struct Plan {
    std::vector<WorkerPlan> workers;
    std::size_t time_wait = 0;
    std::vector<Endpoint> time_wait_listeners;
    Endpoint known_listener;

    [[nodiscard]] std::size_t established_pairs() const noexcept;
    [[nodiscard]] std::size_t closing_pairs() const noexcept;
    [[nodiscard]] std::size_t listeners() const noexcept {
        return workers.size() + time_wait_listeners.size() + 1;
    }
    // Sockets the plan yields: 2 per pair, TIME_WAITs, listeners.
    [[nodiscard]] std::size_t sockets() const noexcept;
};

// Descriptors a worker needs beyond its pairs: stdio, report pipe, listener, slack.
inline constexpr std::size_t kWorkerFdOverhead = 16;
// TIME_WAIT sockets per destination endpoint: far below the ~64k ephemeral ports per
// 4-tuple destination, so connect() finds free ports quickly even during refreshes.
inline constexpr std::size_t kTimeWaitPerListener = 8'000;
// Upper bound on workers, so every worker gets its own 127.1.0.x address.
inline constexpr std::size_t kMaxWorkers = 250;

// Throws socklab::Error when the request cannot be met (percentages over 90, too small a
// descriptor budget for the size, ...).
[[nodiscard]] Plan make_plan(const PlanRequest& req);

}  // namespace socklab::bench
