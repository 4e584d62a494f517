#pragma once
// `--bench-frames N`: the UI thread's cost per frame, collected while the main loop runs and
// written as one JSON object (ui_ms, ui_cpu_ms, frame_ms as {p50,p99,max}, sockets, source).
// No GL here: the main loop measures around its own calls and hands the numbers in.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/frame.hpp"
#include "model/poller.hpp"

namespace socklab::viewer {

// CPU time of the calling thread in ms: on a busy machine wall time also counts waiting for
// a core.
[[nodiscard]] double thread_cpu_ms();

// The value at fraction `p` (0..1) of the sorted values, nearest rank; 0 when empty.
[[nodiscard]] double percentile(std::vector<double> v, double p);

class FrameBench {
public:
    // One frame: wall time of building the UI, CPU time of the same, and the whole frame;
    // `shown_seq` is the seq of the frame it drew (the polls measured are those after the
    // first frame measured).
    void add(double ui_ms, double ui_cpu_ms, double frame_ms, std::uint64_t shown_seq);
    // {"frames","seconds","sockets","source","window","ui_ms","ui_cpu_ms","frame_ms",
    //  "polls","poll_ms","publish_ms","poll_cpu_ms","poll_phases_ms","snapshot_ms","poll_build_ms"} for the frames added, the
    // polls published while they were drawn and the newest published frame.
    [[nodiscard]] nlohmann::json json(const Frame& latest, const std::string& window,
                                      const std::vector<PollTiming>& polls) const;

private:
    std::vector<double> ui_ms_, ui_cpu_ms_, frame_ms_;
    std::uint64_t first_seq_ = 0;
    bool started_ = false;
    std::chrono::steady_clock::time_point first_, last_;
};

}  // namespace socklab::viewer
