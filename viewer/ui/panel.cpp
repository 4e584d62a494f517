#include "ui/panel.hpp"

#include <algorithm>

#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {

Panel::Panel(std::string id, std::string title, PanelRect rect, bool open)
    : id_(std::move(id)), title_(std::move(title)), rect_(rect), open_(open) {}

std::string Panel::title() const { return _(title_.c_str()); }

void Panel::draw(UiContext& ctx) {
    if (!open_) return;
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    // The menu bar's height reaches WorkPos only on the next frame; leave room for it now so
    // the first frame (and every headless screenshot) is laid out right.
    const float top = std::max(vp->WorkPos.y, vp->Pos.y + ImGui::GetFrameHeight());
    const ImVec2 origin(vp->WorkPos.x, top);
    const ImVec2 size(vp->WorkSize.x, vp->WorkSize.y - (top - vp->WorkPos.y));
    ImGui::SetNextWindowPos(ImVec2(origin.x + rect_.x * size.x, origin.y + rect_.y * size.y),
                            placement());
    ImGui::SetNextWindowSize(ImVec2(rect_.w * size.x, rect_.h * size.y), placement());
    const std::string label = title() + "###" + id_;
    if (ImGui::Begin(label.c_str(), &open_, window_flags())) draw_content(ctx);
    ImGui::End();
}

void Panel::empty_state(const char* what, const char* hint) {
    ImGui::Spacing();
    ImGui::TextDisabled("%s", what);
    if (hint != nullptr) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextDisabled("%s", hint);
        ImGui::PopTextWrapPos();
    }
}

void Panel::not_permitted_state(const char* what, const std::string& how) {
    ImGui::PushStyleColor(ImGuiCol_Text, style::kWarnText);
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(what);
    ImGui::PopTextWrapPos();
    ImGui::PopStyleColor();
    if (!how.empty()) {
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextDisabled("%s", how.c_str());
        ImGui::PopTextWrapPos();
    }
}

}  // namespace socklab::viewer
