#pragma once
// Driving the viewer without a person (--screenshot, --dump-state, --bench-frames, --lab-steps):
// run a lab's first steps before drawing, decide which frame is the last, and write what was
// asked for. main.cpp keeps the window, the GL context and the loop; this file the script.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/frame_bench.hpp"
#include "ui/app.hpp"

namespace socklab::viewer {

struct LabStart {
    std::string id;               // --lab; empty: none
    int steps = 1;                // --lab-steps (headless only)
    std::uint16_t port = 0;       // --lab-port
    bool predict = false;         // --lab-predict
    std::vector<int> answers;     // --lab-answers (headless only)
    std::string socklab_given;    // --socklab as given (empty: the one beside the viewer)
    std::filesystem::path socklab;  // the path tried
};

// Start the lab of `lab` (if any). Headless, run its first steps and wait until the table
// shows them. Returns the exit status so far: 0, 1 (failed) or 2 (bad --lab-steps).
int start_lab(App& app, const LabStart& lab, bool headless);

struct HeadlessOptions {
    std::string screenshot;  // PNG written from the last frame
    std::string dump_state;  // JSON of what each panel shows
    int frames = 0;          // frames to draw (then until no panel is settling)
    int bench_frames = 0;    // --bench-frames: frames to measure (0: no benchmark)
    std::string bench_out;   // where the benchmark JSON goes (empty: stdout)
    std::string window;      // "1600x1000", reported with the benchmark
};

class HeadlessRun {
public:
    explicit HeadlessRun(HeadlessOptions o);
    [[nodiscard]] bool benchmarking() const noexcept { return o_.bench_frames > 0; }
    // After frame number `drawn` (1, 2, ...) was rendered, before it is swapped: is it the
    // last one? Then the screenshot is read from the back buffer; a failed write sets rc = 1.
    bool last_frame(int drawn, const App& app, int fb_w, int fb_h, int& rc) const;
    // The first frames build font atlases: only the later ones are measured.
    [[nodiscard]] bool measured(int drawn) const noexcept { return benchmarking() && drawn > 5; }
    FrameBench& bench() noexcept { return bench_; }
    // After the loop: the state dump and the benchmark JSON. Returns rc (1 when a write failed).
    int write_outputs(App& app, const nlohmann::json& state, int rc) const;

private:
    HeadlessOptions o_;
    FrameBench bench_;
    std::chrono::steady_clock::time_point settle_deadline_;
};

}  // namespace socklab::viewer
