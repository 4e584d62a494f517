#pragma once
// Status bar: socket count, what a snapshot costs, the UI frame time, and what the current
// privileges allow — with the exact command that unlocks the rest.
#include "socklab/helper_client.hpp"
#include "ui/panel.hpp"

namespace socklab::viewer {

class StatusPanel : public Panel {
public:
    StatusPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

    // One line on privileges: what works, and the command that enables the rest ("" if all).
    [[nodiscard]] static std::string privilege_summary(const Privileges& p);
    [[nodiscard]] static std::string unlock_command(const Privileges& p);
    // Which way privileged work goes: "path: root", "path: socklab-helper (...)", ...
    [[nodiscard]] static std::string path_label(PrivilegePath path);
    [[nodiscard]] static std::string_view path_name(PrivilegePath path);  // dump: root|helper|unprivileged

protected:
    void draw_content(UiContext& ctx) override;
    ImGuiWindowFlags window_flags() const override;
    ImGuiCond placement() const override { return ImGuiCond_Always; }

private:
    // Looked up once (group membership and the helper's file do not change under a running
    // viewer): draw_content() makes no system calls.
    PrivilegePath path_;
    std::string path_text_;
};

}  // namespace socklab::viewer
