#pragma once
// Status bar: socket count, what a snapshot costs, the UI frame time, and what the current
// privileges allow — with the exact command that unlocks the rest.
#include "ui/panel.hpp"

namespace socklab::viewer {

class StatusPanel : public Panel {
public:
    StatusPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

    // One line on privileges: what works, and the command that enables the rest ("" if all).
    [[nodiscard]] static std::string privilege_summary(const Privileges& p);
    [[nodiscard]] static std::string unlock_command(const Privileges& p);

protected:
    void draw_content(UiContext& ctx) override;
    ImGuiWindowFlags window_flags() const override;
    ImGuiCond placement() const override { return ImGuiCond_Always; }
};

}  // namespace socklab::viewer
