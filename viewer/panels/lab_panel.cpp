#include "panels/lab_panel.hpp"

#include <algorithm>

#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

std::string expectation_text(const LabExpectation& e) {
    std::string s = e.state.empty() ? std::string(_("socket")) : e.state;
    if (e.absent) s = socklab::i18n::format(_("no {}"), s);
    if (e.local_port != 0) s += socklab::i18n::format(_("  local :{}"), e.local_port);
    if (e.remote_port != 0) s += socklab::i18n::format(_("  remote :{}"), e.remote_port);
    return s;
}

}  // namespace

LabPanel::LabPanel() : Panel("labs", N_("Labs"), {0.62f, 0.56f, 0.38f, 0.405f}) {}

void LabPanel::draw_content(UiContext& ctx) {
    if (ctx.lab == nullptr) {
        not_permitted_state(_("Labs are not available in this run."), "");
        return;
    }
    const LabState& lab = *ctx.lab;
    if (lab.labs.empty()) {
        empty_state(_("No labs in this build."));
    } else {
        if (lab.lab_id != synced_lab_) {
            // A lab started elsewhere (--lab): show it in the chooser.
            synced_lab_ = lab.lab_id;
            for (std::size_t i = 0; i < lab.labs.size(); ++i)
                if (lab.labs[i].id == lab.lab_id) selected_ = static_cast<int>(i);
        }
        selected_ = std::clamp(selected_, 0, static_cast<int>(lab.labs.size()) - 1);
        const auto& cur = lab.labs[static_cast<std::size_t>(selected_)];
        const std::string preview = std::to_string(cur.number) + ". " + cur.title;
        ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.45f);
        if (ImGui::BeginCombo("##lab", preview.c_str())) {
            for (int i = 0; i < static_cast<int>(lab.labs.size()); ++i) {
                const auto& l = lab.labs[static_cast<std::size_t>(i)];
                const std::string item = std::to_string(l.number) + ". " + l.title;
                if (ImGui::Selectable(item.c_str(), i == selected_)) selected_ = i;
                style::item_tooltip(l.summary.c_str());
            }
            ImGui::EndCombo();
        }
        style::item_tooltip(cur.summary.c_str());
        ImGui::SameLine();
        ImGui::SetNextItemWidth(70.0f);
        ImGui::InputInt(style::label(N_("port"), "port").c_str(), &port_, 0, 0);
        port_ = std::clamp(port_, 0, 65535);
        style::item_tooltip(_("The port the lab listens on; 0 = the lab's default."));
        ImGui::SameLine();
        if (ImGui::Button(style::label(lab.running ? N_("Restart") : N_("Start"), "start").c_str()) && ctx.actions.lab_start)
            ctx.actions.lab_start(cur.id, static_cast<std::uint16_t>(port_));
    }
    if (lab.running || lab.step) {
        ImGui::BeginDisabled(!lab.running || lab.waiting_for == 0);
        if (ImGui::Button(style::label(N_("Next step"), "next").c_str()) && ctx.actions.lab_next) ctx.actions.lab_next();
        ImGui::EndDisabled();
        style::item_tooltip(_("Run the next system call."));
        ImGui::SameLine();
        ImGui::BeginDisabled(!lab.running || lab.auto_mode);
        if (ImGui::Button(style::label(N_("Auto"), "auto").c_str()) && ctx.actions.lab_auto) ctx.actions.lab_auto();
        ImGui::EndDisabled();
        style::item_tooltip(_("Run the remaining steps without waiting."));
        ImGui::SameLine();
        ImGui::BeginDisabled(!lab.running);
        if (ImGui::Button(style::label(N_("Stop"), "stop").c_str()) && ctx.actions.lab_stop) ctx.actions.lab_stop();
        ImGui::EndDisabled();
        style::item_tooltip(_("End the lab and every process it started."));
        ImGui::SameLine();
        ImGui::TextDisabled("%s", lab.running ? (lab.waiting_for != 0 ? _("waiting for Next") : _("running"))
                                              : _("finished"));
    }
    if (!lab.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, style::kBadText);
        ImGui::TextWrapped("%s", lab.error.c_str());
        ImGui::PopStyleColor();
    }
    ImGui::Separator();
    if (!lab.step) {
        if (lab.running) empty_state(_("The lab is starting..."));
        else empty_state(_("No lab running."), _("Choose a lab and press Start: each step is one system "
                                                 "call, and you watch the table change."));
        return;
    }
    const LabEvent& st = *lab.step;
    ImGui::TextColored(style::kAccent, "%s",
                       socklab::i18n::format(_("{}  —  step {} of {}"), lab.title.empty() ? lab.lab_id : lab.title,
                                             st.step, std::max(st.steps, lab.steps))
                           .c_str());
    ImGui::TextUnformatted(st.title.c_str());
    ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(255, 220, 140, 255));
    ImGui::TextWrapped("%s", st.call.c_str());
    ImGui::PopStyleColor();
    ImGui::SameLine();
    ImGui::TextDisabled("= %s", st.result.c_str());
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(st.explain.c_str());
    ImGui::PopTextWrapPos();
    if (!st.expect.empty()) {
        ImGui::Spacing();
        ImGui::TextDisabled("%s", _("The table should now show:"));
        for (std::size_t i = 0; i < st.expect.size(); ++i) {
            const auto& e = st.expect[i];
            std::optional<bool> ok;
            if (lab.observed && lab.observed->step == st.step) {
                if (i < lab.observed->checks.size()) ok = lab.observed->checks[i].ok;
                else if (lab.observed->ok) ok = *lab.observed->ok;
            }
            if (!ok) ImGui::TextDisabled("  …");
            else if (*ok) ImGui::TextColored(style::kOkText, "  ✓");
            else ImGui::TextColored(style::kBadText, "  ✗");
            ImGui::SameLine();
            ImGui::TextUnformatted(expectation_text(e).c_str());
        }
    }
    if (lab.done_ok) {
        ImGui::TextColored(*lab.done_ok ? style::kOkText : style::kBadText, "%s",
                           *lab.done_ok ? _("Lab finished: every check passed.") : _("Lab finished: a check failed."));
    }
    if (!lab.log.empty()) {
        ImGui::Spacing();
        const std::size_t from = lab.log.size() > 3 ? lab.log.size() - 3 : 0;
        for (std::size_t i = from; i < lab.log.size(); ++i) ImGui::TextDisabled("%s", lab.log[i].c_str());
    }
}

nlohmann::json LabPanel::dump_state(const UiContext& ctx) const {
    if (ctx.lab == nullptr) return {{"available", false}};
    const LabState& lab = *ctx.lab;
    nlohmann::json j{{"available", true},
                     {"labs", lab.labs.size()},
                     {"running", lab.running},
                     {"lab", lab.lab_id},
                     {"title", lab.title},
                     {"steps", lab.steps},
                     {"port", lab.port},
                     {"waiting_for", lab.waiting_for},
                     {"error", lab.error},
                     {"ports", std::vector<std::uint16_t>(lab.ports.begin(), lab.ports.end())}};
    if (lab.step) {
        auto expect = nlohmann::json::array();
        for (const auto& e : lab.step->expect)
            expect.push_back({{"local_port", e.local_port}, {"remote_port", e.remote_port}, {"state", e.state}});
        j["step"] = {{"step", lab.step->step}, {"title", lab.step->title}, {"call", lab.step->call},
                     {"result", lab.step->result}, {"explain", lab.step->explain}, {"expect", std::move(expect)}};
    }
    if (lab.observed) {
        auto checks = nlohmann::json::array();
        for (const auto& c : lab.observed->checks) checks.push_back({{"state", c.expect.state}, {"ok", c.ok}});
        j["observed"] = {{"step", lab.observed->step}, {"ok", lab.observed->ok.value_or(false)}, {"checks", std::move(checks)}};
    }
    if (lab.done_ok) j["done_ok"] = *lab.done_ok;
    if (lab.exit_code) j["exit_code"] = *lab.exit_code;
    return j;
}

}  // namespace socklab::viewer
