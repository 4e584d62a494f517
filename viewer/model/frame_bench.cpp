#include "model/frame_bench.hpp"

#include <time.h>

#include <algorithm>

namespace socklab::viewer {

double thread_cpu_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

void FrameBench::add(double ui_ms, double ui_cpu_ms, double frame_ms, std::uint64_t shown_seq) {
    last_ = std::chrono::steady_clock::now();
    if (!started_) {
        started_ = true;
        first_seq_ = shown_seq;
        first_ = last_;
    }
    ui_ms_.push_back(ui_ms);
    ui_cpu_ms_.push_back(ui_cpu_ms);
    frame_ms_.push_back(frame_ms);
}

nlohmann::json FrameBench::json(const Frame& latest, const std::string& window,
                                const std::vector<PollTiming>& polls) const {
    const auto spread = [](const std::vector<double>& v) {
        return nlohmann::json{{"p50", percentile(v, 0.5)}, {"p99", percentile(v, 0.99)},
                              {"max", percentile(v, 1.0)}};
    };
    // The polls published while the frames were measured, and one measure of them.
    std::vector<PollTiming> measured;
    for (const auto& p : polls)
        if (started_ && p.seq > first_seq_) measured.push_back(p);
    const auto over_polls = [&](double PollTiming::*measure) {
        std::vector<double> v;
        v.reserve(measured.size());
        for (const auto& p : measured) v.push_back(p.*measure);
        return spread(v);
    };
    return nlohmann::json{{"frames", ui_ms_.size()},
                          {"seconds", std::chrono::duration<double>(last_ - first_).count()},
                          {"sockets", latest.rows.size()},
                          {"source", latest.source},
                          {"window", window},
                          {"ui_ms", spread(ui_ms_)},
                          {"ui_cpu_ms", spread(ui_cpu_ms_)},
                          {"frame_ms", spread(frame_ms_)},
                          {"polls", measured.size()},
                          {"poll_ms", over_polls(&PollTiming::poll_ms)},
                          {"publish_ms", over_polls(&PollTiming::publish_ms)},
                          {"poll_cpu_ms", over_polls(&PollTiming::poll_cpu_ms)},
                          {"poll_phases_ms", {{"snapshot", over_polls(&PollTiming::snapshot_ms)},
                                              {"history", over_polls(&PollTiming::history_ms)},
                                              {"owners", over_polls(&PollTiming::owners_ms)},
                                              {"rows", over_polls(&PollTiming::rows_ms)},
                                              {"view", over_polls(&PollTiming::view_ms)}}},
                          {"snapshot_ms", latest.snapshot_ms},
                          {"poll_build_ms", latest.build_ms}};
}

}  // namespace socklab::viewer
