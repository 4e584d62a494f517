#pragma once
// What every panel gets each UI frame: the published frame, the table's filtered view, the
// lab's state, the selection and the recent transitions. Everything here was gathered before
// drawing began; panels read it and post actions — no panel touches the kernel.
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "model/frame.hpp"
#include "model/ladder_feed.hpp"
#include "model/lab_runner.hpp"
#include "model/program_runner.hpp"
#include "model/table_view.hpp"

namespace socklab::viewer {

class Poller;

// Actions panels may ask for; the app carries them out outside of drawing.
struct Actions {
    std::function<void(bool)> set_paused;
    std::function<void(int)> set_interval_ms;
    std::function<void(const std::string&, std::uint16_t, bool predict)> lab_start;
    std::function<void()> lab_next;
    std::function<void(int choice)> lab_answer;  // predict mode: the pick, from 1
    std::function<void()> lab_auto;
    std::function<void()> lab_stop;
    // What the Ladder panel shows; the first call starts the capture.
    std::function<void(LadderSelection)> ladder_select;
    // Your program: run one (its words), stop it, show only its sockets or every socket.
    std::function<void(std::vector<std::string>)> program_start;
    std::function<void()> program_stop;
    std::function<void(bool)> program_scope;
};

struct UiContext {
    FramePtr frame;           // never null
    TableView* table = nullptr;
    const LabState* lab = nullptr;
    const ProgramState* program = nullptr;  // null: no program started
    bool program_scope = true;  // the table, timeline and ladder show only its sockets
    std::uint64_t now_ns = 0;  // CLOCK_MONOTONIC at the start of this UI frame
    bool paused = false;
    int interval_ms = 1000;
    double frame_ms = 0;       // UI frame time, smoothed
    bool headless = false;     // screenshots: no tooltips depending on a mouse

    // Selection: an entry id (stable across frames) and where it and its peer are now.
    std::uint64_t selected_id = 0;
    std::int32_t selected_row = -1;
    std::int32_t peer_row = -1;

    // Transitions since the viewer started (bounded), oldest first, and the newest seq.
    const std::deque<ObservedTransition>* transitions = nullptr;
    // The ladder feed's newest snapshot; null until the feed is started.
    LadderSnapshotPtr ladder;
    bool focus_filter = false;  // `/` was pressed
    bool show_help = false;
    Actions actions;

    [[nodiscard]] bool is_lab_port(std::uint16_t port) const {
        return lab != nullptr && port != 0 && lab->ports.contains(port);
    }
    [[nodiscard]] bool is_lab_row(const Row& r) const {
        return lab != nullptr && (lab->running || lab->step) &&
               (is_lab_port(r.rec.local_port) || is_lab_port(r.rec.remote_port));
    }
};

}  // namespace socklab::viewer
