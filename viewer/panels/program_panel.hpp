#pragma once
// Your program: `socklab-viewer -- CMD` or "Run a program…". Which program runs (pid, traced
// or not), the findings as they stand — the same `socklab run` reports, each with its pid,
// fd and ports —, the program's sockets one line each, the tail of its output (the viewer
// has no terminal to give it: its stdout and stderr go to a log file) and, once it has
// ended, how it ended. While a program runs the table, the timeline and the ladder show only
// its sockets (a box here turns that off).
#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "ui/panel.hpp"

namespace socklab::viewer {

class ProgramPanel : public Panel {
public:
    ProgramPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;
    // Headless runs draw until the program has ended and its final report is in.
    [[nodiscard]] bool settling() const override { return running_; }
    [[nodiscard]] bool wants_attention() const override;
    // The menu's "Run a program…" and a program just started: open the panel, its tab in front.
    static void show() noexcept;

protected:
    void draw_content(UiContext& ctx) override;

private:
    void draw_start(UiContext& ctx);
    void draw_findings(const UiContext& ctx);

    static std::atomic<bool> asked_;
    std::array<char, 512> command_{};
    std::string error_;
    bool running_ = false;
};

}  // namespace socklab::viewer
