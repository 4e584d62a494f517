#pragma once
// The viewer without its window: owns the poller, the lab runner, the table view and the
// panels, and draws one ImGui frame at a time. main.cpp owns GLFW/OpenGL around it.
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/lab_runner.hpp"
#include "model/poller.hpp"
#include "model/program_runner.hpp"
#include "model/table_view.hpp"
#include "ui/context.hpp"
#include "ui/panel.hpp"

namespace socklab::viewer {

struct AppOptions {
    PollerOptions poller;
    std::vector<std::string> socklab_command;  // empty: no labs
    std::string filter;                        // initial table filter
    bool headless = false;
    // Show the ladder of the newest connection on this port, capturing from the start (0: the
    // capture starts when the Ladder panel is first asked for something).
    std::uint16_t ladder_port = 0;
    // `socklab-viewer -- CMD`: run this program at start (empty: none).
    std::vector<std::string> program;
};

class App {
public:
    explicit App(AppOptions opts);
    ~App();
    App(const App&) = delete;
    App& operator=(const App&) = delete;

    // One UI frame: gather what the other threads published, then draw every panel. Call
    // between ImGui::NewFrame() and ImGui::Render().
    void draw(double frame_ms);
    // What every panel showed in the last frame drawn.
    [[nodiscard]] nlohmann::json dump_state() const;
    // Some panel is still working on a request (Panel::settling()).
    [[nodiscard]] bool settling() const;

    [[nodiscard]] Poller& poller() noexcept { return poller_; }
    [[nodiscard]] LabRunner* labs() noexcept { return labs_.get(); }
    [[nodiscard]] LadderFeed& ladder() noexcept { return ladder_; }
    // The program run from the viewer; null until one is started.
    [[nodiscard]] ProgramRunner* program() noexcept { return program_.get(); }
    // Run `command` as `socklab run` would (the one running before is stopped first).
    void start_program(std::vector<std::string> command);

private:
    void gather();
    void handle_keys();
    void draw_menu();
    void draw_group(const std::string& group);
    void gather_program();

    AppOptions opts_;
    Poller poller_;
    CallLog program_calls_;  // the watched program's system calls, for the Ladder's markers
    LadderFeed ladder_;
    std::unique_ptr<LabRunner> labs_;
    std::unique_ptr<ProgramRunner> program_;
    ProgramStatePtr program_state_;
    bool program_scope_ = true;
    std::vector<std::uint16_t> ladder_ports_;
    TableView table_;
    LabState lab_state_;
    std::uint64_t lab_version_ = ~0ull;
    std::deque<ObservedTransition> transitions_;
    std::uint64_t transition_seq_ = 0;
    std::vector<ObservedTransition> scratch_;
    std::vector<std::unique_ptr<Panel>> panels_;
    Panel* help_ = nullptr;
    UiContext ctx_;
    double frame_ms_avg_ = 0;
    bool lab_tab_shown_ = false;
    std::uint64_t posted_view_ = 0;
};

}  // namespace socklab::viewer
