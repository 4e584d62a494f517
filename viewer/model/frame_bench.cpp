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
    std::vector<double> poll_ms, publish_ms, poll_cpu_ms, snapshot, history, owners, rows, view;
    for (const auto& p : polls) {
        if (!started_ || p.seq <= first_seq_) continue;  // before the measured frames
        poll_ms.push_back(p.poll_ms);
        publish_ms.push_back(p.publish_ms);
        poll_cpu_ms.push_back(p.poll_cpu_ms);
        snapshot.push_back(p.snapshot_ms);
        history.push_back(p.history_ms);
        owners.push_back(p.owners_ms);
        rows.push_back(p.rows_ms);
        view.push_back(p.view_ms);
    }
    return nlohmann::json{{"frames", ui_ms_.size()},
                          {"seconds", std::chrono::duration<double>(last_ - first_).count()},
                          {"sockets", latest.rows.size()},
                          {"source", latest.source},
                          {"window", window},
                          {"ui_ms", spread(ui_ms_)},
                          {"ui_cpu_ms", spread(ui_cpu_ms_)},
                          {"frame_ms", spread(frame_ms_)},
                          {"polls", poll_ms.size()},
                          {"poll_ms", spread(poll_ms)},
                          {"publish_ms", spread(publish_ms)},
                          {"poll_cpu_ms", spread(poll_cpu_ms)},
                          {"poll_phases_ms", {{"snapshot", spread(snapshot)},
                                              {"history", spread(history)},
                                              {"owners", spread(owners)},
                                              {"rows", spread(rows)},
                                              {"view", spread(view)}}},
                          {"snapshot_ms", latest.snapshot_ms},
                          {"poll_build_ms", latest.build_ms}};
}

}  // namespace socklab::viewer
