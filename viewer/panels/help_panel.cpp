#include "panels/help_panel.hpp"

#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {

HelpPanel::HelpPanel() : Panel("help", N_("Help (F1)"), {0.30f, 0.20f, 0.40f, 0.55f}, false) {}

void HelpPanel::draw_content(UiContext&) {
    ImGui::TextColored(style::kAccent, "%s", _("Keys"));
    ImGui::BulletText("%s", _("space  pause / resume polling"));
    ImGui::BulletText("%s", _("/      type in the table's filter"));
    ImGui::BulletText("%s", _("F1     this help"));
    ImGui::Spacing();
    ImGui::TextColored(style::kAccent, "%s", _("Rows"));
    ImGui::PushTextWrapPos(0.0f);
    ImGui::BulletText("%s", _("green: a new socket;  yellow: its state or queues changed;  red: closed (it stays "
                              "2 s, then goes);  cyan: the other end of the selected connection;  blue: a "
                              "socket of the running lab."));
    ImGui::PopTextWrapPos();
    ImGui::Spacing();
    ImGui::TextColored(style::kAccent, "%s", _("States"));
    for (std::uint8_t s : {10, 2, 3, 1, 4, 5, 11, 6, 8, 9, 7}) {
        style::state_chip(s, Proto::tcp, style::state_chip_width());
        ImGui::SameLine();
        const auto e = state_explanation(s);
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextUnformatted(e.data(), e.data() + e.size());
        ImGui::PopTextWrapPos();
    }
    ImGui::Spacing();
    ImGui::TextDisabled("%s", _("Settings (window places, column widths) are kept in imgui.ini."));
}

nlohmann::json HelpPanel::dump_state(const UiContext&) const { return {{"shown", true}}; }

}  // namespace socklab::viewer
