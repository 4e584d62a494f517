#pragma once
// Labs: pick a lab, run it as a child process one step at a time (Next / Auto / Stop), and
// read the step's call, result and explanation with its expectations ticked ✓ or ✗. The
// lab's sockets are highlighted in the table, the diagram and the timeline. With Predict on,
// the lab asks before each step what the kernel will show: the choices are buttons, the pick
// runs the step, and the verdict (right or wrong, the kernel's answer) sits beside the step.
#include <string>

#include "ui/panel.hpp"

namespace socklab::viewer {

class LabPanel : public Panel {
public:
    LabPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;
    // A predict-mode lab between two steps (its verdict and next question are on the way).
    [[nodiscard]] bool settling() const override { return between_steps_; }

protected:
    void draw_content(UiContext& ctx) override;

private:
    int selected_ = 0;
    int port_ = 0;
    bool predict_ = false;
    bool between_steps_ = false;
    std::string synced_lab_;
};

}  // namespace socklab::viewer
