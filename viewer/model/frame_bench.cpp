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

void FrameBench::add(double ui_ms, double ui_cpu_ms, double frame_ms) {
    ui_ms_.push_back(ui_ms);
    ui_cpu_ms_.push_back(ui_cpu_ms);
    frame_ms_.push_back(frame_ms);
}

nlohmann::json FrameBench::json(const Frame& latest, const std::string& window) const {
    const auto spread = [](const std::vector<double>& v) {
        return nlohmann::json{{"p50", percentile(v, 0.5)}, {"p99", percentile(v, 0.99)},
                              {"max", percentile(v, 1.0)}};
    };
    return nlohmann::json{{"frames", ui_ms_.size()},
                          {"sockets", latest.rows.size()},
                          {"source", latest.source},
                          {"window", window},
                          {"ui_ms", spread(ui_ms_)},
                          {"ui_cpu_ms", spread(ui_cpu_ms_)},
                          {"frame_ms", spread(frame_ms_)},
                          {"snapshot_ms", latest.snapshot_ms},
                          {"poll_build_ms", latest.build_ms}};
}

}  // namespace socklab::viewer
