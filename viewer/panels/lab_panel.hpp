#pragma once
// Labs: pick a lab, run it as a child process one step at a time (Next / Auto / Stop), and
// read the step's call, result and explanation with its expectations ticked ✓ or ✗. The
// lab's sockets are highlighted in the table, the diagram and the timeline.
#include <string>

#include "ui/panel.hpp"

namespace socklab::viewer {

class LabPanel : public Panel {
public:
    LabPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

protected:
    void draw_content(UiContext& ctx) override;

private:
    int selected_ = 0;
    int port_ = 0;
    std::string synced_lab_;
};

}  // namespace socklab::viewer
