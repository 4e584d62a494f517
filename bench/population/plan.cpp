#include "plan.hpp"

#include <algorithm>
#include <string>

#include "socklab/error.hpp"

namespace socklab::bench {

std::size_t Plan::established_pairs() const noexcept {
    std::size_t n = 0;
    for (const auto& w : workers) n += w.established_pairs;
    return n;
}

std::size_t Plan::closing_pairs() const noexcept {
    std::size_t n = 0;
    for (const auto& w : workers) n += w.closing_pairs;
    return n;
}

std::size_t Plan::sockets() const noexcept {
    return 2 * (established_pairs() + closing_pairs()) + time_wait + listeners();
}

Plan make_plan(const PlanRequest& req) {
    if (req.time_wait_percent + req.closing_percent > 90)
        throw Error("failed to plan the population: TIME_WAIT and closing shares add up to " +
                    std::to_string(req.time_wait_percent + req.closing_percent) +
                    "%; keep them at 90% or less so some connections stay ESTABLISHED");
    if (req.fds_per_process <= kWorkerFdOverhead + 2)
        throw Error("failed to plan the population: " + std::to_string(req.fds_per_process) +
                    " descriptors per process is too few; give at least " +
                    std::to_string(kWorkerFdOverhead + 2));
    Plan plan;
    plan.known_listener = Endpoint{loopback(0, 0, 1), req.listen_port};
    plan.time_wait = req.sockets * req.time_wait_percent / 100;
    const std::size_t closing_pairs = req.sockets * req.closing_percent / 200;

    const std::size_t pair_budget = (req.fds_per_process - kWorkerFdOverhead) / 2;
    const std::size_t with_fds = req.sockets - plan.time_wait;  // upper bound on fds needed
    const std::size_t workers =
        std::max<std::size_t>({req.min_workers, 1, (with_fds / 2 + pair_budget - 1) / pair_budget});
    if (workers > kMaxWorkers)
        throw Error("failed to plan the population: " + std::to_string(req.sockets) +
                    " sockets need " + std::to_string(workers) + " processes, more than " +
                    std::to_string(kMaxWorkers) + "; ask for fewer sockets");
    const std::size_t tw_listeners =
        plan.time_wait == 0 ? 0 : (plan.time_wait + kTimeWaitPerListener - 1) / kTimeWaitPerListener;
    for (std::size_t k = 0; k < tw_listeners; ++k)
        plan.time_wait_listeners.push_back(Endpoint{loopback(2, 0, static_cast<std::uint8_t>(k + 1)), 0});

    const std::size_t fixed = plan.time_wait + 2 * closing_pairs + workers + tw_listeners + 1;
    const std::size_t established_pairs = req.sockets > fixed ? (req.sockets - fixed) / 2 : 0;

    plan.workers.resize(workers);
    for (std::size_t w = 0; w < workers; ++w) {
        auto& wp = plan.workers[w];
        wp.listen = Endpoint{loopback(1, 0, static_cast<std::uint8_t>(w + 1)), 0};
        wp.established_pairs = established_pairs / workers + (w < established_pairs % workers ? 1 : 0);
        wp.closing_pairs = closing_pairs / workers + (w < closing_pairs % workers ? 1 : 0);
        if (wp.established_pairs + wp.closing_pairs > pair_budget)
            throw Error("failed to plan the population: a worker would need more than " +
                        std::to_string(req.fds_per_process) + " descriptors");
    }
    return plan;
}

}  // namespace socklab::bench
