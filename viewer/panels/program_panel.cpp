#include "panels/program_panel.hpp"

#include <string.h>

#include "model/command_line.hpp"
#include "socklab/i18n.hpp"
#include "socklab/program_watch.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {

std::atomic<bool> ProgramPanel::asked_{false};

ProgramPanel::ProgramPanel() : Panel("program", N_("Your program"), {0.50f, 0.55f, 0.50f, 0.45f}) {}

void ProgramPanel::show() noexcept { asked_ = true; }

bool ProgramPanel::wants_attention() const { return asked_.load(); }

namespace {

using program::command_text;

std::string ending_text(const ProgramState& p) {
    if (p.ending.signal != 0)
        return i18n::format(_("{} was ended by signal {} ({})"), command_text(p.command), p.ending.signal,
                            ::strsignal(p.ending.signal));
    return i18n::format(_("{} exited with status {}"), command_text(p.command), p.ending.exit_code);
}

std::string ports_text(std::uint16_t local, std::uint16_t remote) {
    if (local == 0) return "-";
    if (remote == 0) return std::to_string(local);
    return std::to_string(local) + " \u2194 " + std::to_string(remote);
}

}  // namespace

void ProgramPanel::draw_start(UiContext& ctx) {
    ImGui::TextWrapped("%s", _("Run your own program under socklab's watch, as `socklab run` does: the table, "
                               "the timeline and the ladder then show only its sockets, and the findings "
                               "(CLOSE_WAIT leak, recv() returning 0 in a loop, Address already in use, "
                               "resets, refused connections, sockets left open) appear here as they happen."));
    ImGui::SetNextItemWidth(-120);
    if (asked_.exchange(false)) ImGui::SetKeyboardFocusHere();
    const bool enter = ImGui::InputTextWithHint("##command", _("python3 chat.py 9000"), command_.data(),
                                                command_.size(), ImGuiInputTextFlags_EnterReturnsTrue);
    ImGui::SameLine();
    const bool clicked = ImGui::Button(style::label(N_("Run"), "run").c_str());
    style::item_tooltip(_("Starts the program with its output going to a log file (the viewer has no terminal to "
                          "give it); its stdin is empty. Words are split at spaces; quote a word with ' or \" "
                          "to keep spaces in it."));
    if (enter || clicked) {
        const auto words = split_command_line(command_.data());
        if (!words) {
            error_ = _("a quote is not closed: close it or leave it out");
        } else if (words->empty()) {
            error_ = _("type the program and its arguments first, e.g. python3 chat.py 9000");
        } else if (ctx.actions.program_start) {
            error_.clear();
            ctx.actions.program_start(*words);
        }
    }
    if (!error_.empty()) ImGui::TextColored(style::kBadText, "%s", error_.c_str());
}

void ProgramPanel::draw_findings(const UiContext& ctx) {
    const ProgramState& p = *ctx.program;
    const auto& findings = p.report.findings;
    ImGui::TextColored(style::kAccent, "%s",
                       i18n::format(p.finished ? _("Findings ({})") : _("Findings so far ({})"), findings.size())
                           .c_str());
    style::help_marker(_("What socklab run reports, with the kernel's evidence: the pid and descriptor (fd) that "
                         "hold the socket and its ports. While the program runs, a finding that needs the end "
                         "(sockets open at exit) cannot show yet."));
    if (findings.empty()) {
        ImGui::TextDisabled("%s", _("none"));
        return;
    }
    const ImGuiTableFlags flags = ImGuiTableFlags_Borders | ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit;
    if (!ImGui::BeginTable("findings", 5, flags)) return;
    ImGui::TableSetupColumn(_("kind"));
    ImGui::TableSetupColumn(_("pid"));
    ImGui::TableSetupColumn(_("fd"));
    ImGui::TableSetupColumn(_("ports"));
    ImGui::TableSetupColumn(_("evidence"), ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    for (const auto& f : findings) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        const auto kind = program::kind_name(f.kind);
        ImGui::TextColored(style::kWarnText, "%.*s", static_cast<int>(kind.size()), kind.data());
        ImGui::TableNextColumn();
        ImGui::Text("%d", f.pid);
        ImGui::TableNextColumn();
        if (f.fd >= 0) ImGui::Text("%d", f.fd);
        else ImGui::TextDisabled("-");
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(ports_text(f.local_port, f.remote_port).c_str());
        ImGui::TableNextColumn();
        ImGui::TextWrapped("%s", f.evidence.c_str());
    }
    ImGui::EndTable();
}

void ProgramPanel::draw_content(UiContext& ctx) {
    const ProgramState* p = ctx.program;
    running_ = p != nullptr && !p->finished;
    if (p == nullptr) {
        draw_start(ctx);
        empty_state(_("No program is running."),
                    _("Start one here, or from a terminal: socklab-viewer -- python3 chat.py 9000"));
        return;
    }
    ImGui::TextColored(style::kAccent, "%s", command_text(p->command).c_str());
    if (!p->error.empty()) {
        ImGui::TextColored(style::kBadText, "%s", p->error.c_str());
        ImGui::Separator();
        draw_start(ctx);
        return;
    }
    if (!p->finished) asked_ = false;  // running: the menu only opens the panel
    if (p->running) {
        ImGui::Text("%s", i18n::format(_("running as pid {}"), p->pid).c_str());
        ImGui::SameLine();
        if (ImGui::SmallButton(style::label(N_("Stop"), "stop").c_str()) && ctx.actions.program_stop)
            ctx.actions.program_stop();
        style::item_tooltip(_("SIGTERM to the program's process group, SIGKILL 2 s later; then the final report."));
    } else if (p->finished) {
        ImGui::TextColored(style::kOkText, "%s", ending_text(*p).c_str());
    } else {
        ImGui::TextDisabled("%s", _("starting..."));
    }
    if (!p->not_traced.empty())
        ImGui::TextColored(style::kWarnText, "%s",
                           i18n::format(_("not tracing ({}); polling the socket table only"), p->not_traced).c_str());
    bool scope = ctx.program_scope;
    if (ImGui::Checkbox(style::label(N_("Only this program's sockets"), "scope").c_str(), &scope) &&
        ctx.actions.program_scope)
        ctx.actions.program_scope(scope);
    style::item_tooltip(_("The table, the timeline and the ladder show only the sockets of the program's processes "
                          "and threads (and what their connections left behind, like TIME_WAIT)."));
    ImGui::Separator();
    draw_findings(ctx);
    ImGui::Spacing();
    ImGui::TextColored(style::kAccent, "%s",
                       i18n::format(_("Sockets ({})"), p->report.sockets.size()).c_str());
    for (const auto& l : p->report.sockets) ImGui::BulletText("%s", program::life_line(l).c_str());
    for (const auto& m : p->report.missing)
        ImGui::TextDisabled("%s", i18n::format(_("Not seen: {}"), m).c_str());
    ImGui::Spacing();
    ImGui::TextColored(style::kAccent, "%s", _("Output"));
    style::help_marker(_("The viewer has no terminal to give your program: what it prints (stdout and stderr) goes "
                         "to this file, which stays after the run. The last lines are shown here."));
    ImGui::SameLine();
    ImGui::TextDisabled("%s", p->output_path.c_str());
    const float lines = p->finished ? 6.0f : 10.0f;
    if (ImGui::BeginChild("output", ImVec2(0, ImGui::GetTextLineHeightWithSpacing() * lines), true)) {
        if (p->output_tail.empty()) ImGui::TextDisabled("%s", _("(nothing printed yet)"));
        else ImGui::TextUnformatted(p->output_tail.data(), p->output_tail.data() + p->output_tail.size());
        if (p->running) ImGui::SetScrollHereY(1.0f);  // follow the newest line
    }
    ImGui::EndChild();
    if (p->finished) {  // the final report stays above; another run starts here
        ImGui::Separator();
        draw_start(ctx);
    }
}

nlohmann::json ProgramPanel::dump_state(const UiContext& ctx) const {
    const ProgramState* p = ctx.program;
    if (p == nullptr) return {{"program", nullptr}};
    nlohmann::json findings = nlohmann::json::array();
    for (const auto& f : p->report.findings) findings.push_back(program::to_json(f));
    nlohmann::json j{{"command", p->command},       {"pid", p->pid},
                     {"running", p->running},       {"finished", p->finished},
                     {"scope", ctx.program_scope},  {"findings", std::move(findings)},
                     {"sockets", p->report.sockets.size()},
                     {"output_path", p->output_path}, {"output_tail", p->output_tail}};
    if (!p->error.empty()) j["error"] = p->error;
    if (!p->not_traced.empty()) j["not_traced"] = p->not_traced;
    if (p->finished && p->error.empty()) {
        j["exit_code"] = p->ending.exit_code;
        j["signal"] = p->ending.signal;
    }
    return j;
}

}  // namespace socklab::viewer
