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

// A choice as a button shows it: "2.  client :41022 FIN_WAIT1" with each further socket of
// the choice (the lab joins them with " / ") on a line of its own.
std::string choice_label(std::size_t i, const std::string& choice) {
    std::string s = std::to_string(i + 1) + ".  ";
    std::size_t start = 0;
    for (;;) {
        const auto sep = choice.find(" / ", start);
        s += choice.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
        if (sep == std::string::npos) break;
        s += "\n     ";
        start = sep + 3;
    }
    return s + "###choice" + std::to_string(i + 1);
}

// The question the lab waits on: its call, and one button per choice. A pick runs the step.
void draw_question(const LabState& lab, const UiContext& ctx) {
    const LabQuestion& q = *lab.question;
    // The lab's question names the step and its call ("Step 3: recv(...) — what state(s) ...").
    ImGui::PushStyleColor(ImGuiCol_Text, style::kAccent);
    ImGui::TextWrapped("%s", q.predict.question.c_str());
    ImGui::PopStyleColor();
    const bool asking = lab.asking();
    ImGui::PushStyleVar(ImGuiStyleVar_ButtonTextAlign, ImVec2(0.0f, 0.5f));
    for (std::size_t i = 0; i < q.predict.choices.size(); ++i) {
        const bool sent = q.sent && *q.sent == static_cast<int>(i) + 1;
        if (sent) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
        ImGui::BeginDisabled(!asking);
        if (ImGui::Button(choice_label(i, q.predict.choices[i]).c_str(), ImVec2(-FLT_MIN, 0.0f)) &&
            ctx.actions.lab_answer)
            ctx.actions.lab_answer(static_cast<int>(i) + 1);
        ImGui::EndDisabled();
        if (sent) ImGui::PopStyleColor();
        style::item_tooltip(_("Pick what you expect the kernel's table to show after this call. "
                              "The step runs when you pick, and the kernel answers."));
    }
    ImGui::PopStyleVar();
}

// After a step with a question: the learner's pick, right or wrong, and the kernel's answer.
void draw_verdict(const LabState& lab, const LabQuestion& q) {
    const LabAnswer& a = *q.answer;
    const auto choice = [&q](int k) -> std::string {
        if (k < 1 || static_cast<std::size_t>(k) > q.predict.choices.size()) return {};
        return q.predict.choices[static_cast<std::size_t>(k - 1)];
    };
    ImGui::PushStyleColor(ImGuiCol_Text, !a.picked ? style::kDimText : a.correct ? style::kOkText : style::kBadText);
    if (!a.picked)
        ImGui::TextWrapped("%s", _("No prediction made."));
    else if (a.correct)
        ImGui::TextWrapped("%s", socklab::i18n::format(_("✓ Right: you picked {}. {}"), *a.picked, choice(*a.picked)).c_str());
    else
        ImGui::TextWrapped("%s", socklab::i18n::format(_("✗ Wrong: you picked {}. {}"), *a.picked, choice(*a.picked)).c_str());
    ImGui::PopStyleColor();
    const bool shown = lab.observed && lab.observed->step == q.step && lab.observed->ok.value_or(false);
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(
        (shown ? socklab::i18n::format(_("The kernel's answer: {}. {}"), a.answer, choice(a.answer))
               : socklab::i18n::format(_("The kernel did not show answer {} ({}): see ✗ below."), a.answer,
                                       choice(a.answer)))
            .c_str());
    ImGui::PopTextWrapPos();
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
            if (!lab.lab_id.empty()) predict_ = lab.predict;
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
        ImGui::Checkbox(style::label(N_("Predict"), "predict").c_str(), &predict_);
        style::item_tooltip(_("Predict before you see: before each step the lab asks what the kernel's "
                              "table will show, you pick, then the step runs and the kernel answers. "
                              "Applies when the lab starts."));
        ImGui::SameLine();
        if (ImGui::Button(style::label(lab.running ? N_("Restart") : N_("Start"), "start").c_str()) && ctx.actions.lab_start)
            ctx.actions.lab_start(cur.id, static_cast<std::uint16_t>(port_), predict_);
    }
    between_steps_ = lab.predict && lab.running && lab.waiting_for == 0 && !lab.auto_mode && !lab.done_ok;
    if (lab.running || lab.step) {
        ImGui::BeginDisabled(!lab.running || lab.waiting_for == 0);
        if (ImGui::Button(style::label(N_("Next step"), "next").c_str()) && ctx.actions.lab_next) ctx.actions.lab_next();
        ImGui::EndDisabled();
        style::item_tooltip(lab.asking() ? _("Run the next system call without a prediction.")
                                         : _("Run the next system call."));
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
        ImGui::TextDisabled("%s", !lab.running        ? _("finished")
                                  : lab.asking()        ? _("waiting for your prediction")
                                  : lab.waiting_for != 0 ? _("waiting for Next")
                                                         : _("running"));
    }
    if (!lab.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, style::kBadText);
        ImGui::TextWrapped("%s", lab.error.c_str());
        ImGui::PopStyleColor();
    }
    ImGui::Separator();
    // The question before its step: only its call, so the step above it (the last one run)
    // stays readable below.
    if (lab.question && lab.running) {
        draw_question(lab, ctx);
        ImGui::Separator();
    }
    if (!lab.step) {
        if (lab.question && lab.running) return;
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
    if (lab.answered && lab.answered->step == st.step && lab.answered->answer) draw_verdict(lab, *lab.answered);
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
        if (lab.questions && lab.predicted)
            ImGui::TextColored(style::kAccent, "%s",
                               socklab::i18n::format(socklab::i18n::tr_n("You predicted {} of {} step.",
                                                                         "You predicted {} of {} steps.",
                                                                         static_cast<unsigned long>(*lab.questions)),
                                                     *lab.predicted, *lab.questions)
                                   .c_str());
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
    j["predict"] = lab.predict;
    j["asking"] = lab.asking();
    const auto question_json = [](const LabQuestion& q) {
        nlohmann::json qj{{"step", q.step}, {"question", q.predict.question}, {"choices", q.predict.choices}};
        if (q.sent) qj["sent"] = *q.sent;
        if (q.answer) {
            qj["answer"] = q.answer->answer;
            qj["picked"] = q.answer->picked ? nlohmann::json(*q.answer->picked) : nlohmann::json(nullptr);
            qj["correct"] = q.answer->correct;
        }
        return qj;
    };
    if (lab.question) j["question"] = question_json(*lab.question);
    if (lab.answered) j["answered"] = question_json(*lab.answered);
    if (lab.questions) j["questions"] = *lab.questions;
    if (lab.predicted) j["predicted"] = *lab.predicted;
    if (lab.done_ok) j["done_ok"] = *lab.done_ok;
    if (lab.exit_code) j["exit_code"] = *lab.exit_code;
    return j;
}

}  // namespace socklab::viewer
