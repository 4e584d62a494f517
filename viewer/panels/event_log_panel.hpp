#pragma once
// Event log: every state transition, newest first — exact ones from the tracer, inferred ones
// from comparing snapshots — with a filter and its own pause.
#include <array>
#include <deque>

#include "ui/panel.hpp"

namespace socklab::viewer {

class EventLogPanel : public Panel {
public:
    EventLogPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

protected:
    void draw_content(UiContext& ctx) override;

private:
    std::array<char, 128> filter_{};
    bool paused_ = false;
    std::deque<ObservedTransition> frozen_;  // what the log showed when paused
};

}  // namespace socklab::viewer
