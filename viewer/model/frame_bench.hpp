#pragma once
// `--bench-frames N`: the UI thread's cost per frame, collected while the main loop runs and
// written as one JSON object (ui_ms, ui_cpu_ms, frame_ms as {p50,p99,max}, sockets, source).
// No GL here: the main loop measures around its own calls and hands the numbers in.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/frame.hpp"

namespace socklab::viewer {

// CPU time of the calling thread in ms: on a busy machine wall time also counts waiting for
// a core.
[[nodiscard]] double thread_cpu_ms();

// The value at fraction `p` (0..1) of the sorted values, nearest rank; 0 when empty.
[[nodiscard]] double percentile(std::vector<double> v, double p);

class FrameBench {
public:
    // One frame: wall time of building the UI, CPU time of the same, and the whole frame.
    void add(double ui_ms, double ui_cpu_ms, double frame_ms);
    // {"frames","sockets","source","window","ui_ms","ui_cpu_ms","frame_ms","snapshot_ms",
    //  "poll_build_ms"} for the frames added and the newest published frame.
    [[nodiscard]] nlohmann::json json(const Frame& latest, const std::string& window) const;

private:
    std::vector<double> ui_ms_, ui_cpu_ms_, frame_ms_;
};

}  // namespace socklab::viewer
