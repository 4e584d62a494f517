#include "panels/status_panel.hpp"

#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {

StatusPanel::StatusPanel()
    : Panel("status", N_("Status"), {0.0f, 0.965f, 1.0f, 0.035f}),
      path_(privilege_path()),
      path_text_(privilege_path_text()) {}

std::string StatusPanel::path_label(PrivilegePath path) {
    switch (path) {
        case PrivilegePath::root: return _("path: root");
        case PrivilegePath::helper: return _("path: socklab-helper (segments and transitions)");
        case PrivilegePath::unprivileged: break;
    }
    return _("path: unprivileged");
}

std::string_view StatusPanel::path_name(PrivilegePath path) {
    switch (path) {
        case PrivilegePath::root: return "root";
        case PrivilegePath::helper: return "helper";
        case PrivilegePath::unprivileged: break;
    }
    return "unprivileged";
}

ImGuiWindowFlags StatusPanel::window_flags() const {
    return ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
           ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_NoBringToFrontOnFocus;
}

std::string StatusPanel::privilege_summary(const Privileges& p) {
    if (p.root && p.tracer_active) return _("root: every owner, every transition traced");
    if (p.root) return socklab::i18n::format(_("root: every owner; tracer off — {}"), p.tracer_message);
    return p.tracer_active ? _("not root: owners of your own processes only")
                           : _("not root: owners of your own processes only, no tracer (short states are missed)");
}

std::string StatusPanel::unlock_command(const Privileges& p) {
    if (p.root) return {};
    return "sudo socklab-viewer";  // i18n: allow
}

void StatusPanel::draw_content(UiContext& ctx) {
    const Frame& f = *ctx.frame;
    std::uint32_t open = f.udp_count;
    for (auto c : f.tcp_counts) open += c;
    ImGui::TextUnformatted(
        socklab::i18n::format(socklab::i18n::tr_n("{} socket", "{} sockets", open), open).c_str());
    ImGui::SameLine(0, 18);
    ImGui::TextDisabled("%s", socklab::i18n::format(_("snapshot {:.1f} ms ({}), owners {:.1f} ms"), f.snapshot_ms,
                                                    f.source, f.owners_ms).c_str());
    style::item_tooltip(_("What one poll costs on the poller thread: the kernel dump, then the "
                          "owner scan of /proc/<pid>/fd. The UI thread never waits for it."));
    ImGui::SameLine(0, 18);
    ImGui::TextDisabled("%s", socklab::i18n::format(_("frame {:.1f} ms"), ctx.frame_ms).c_str());
    ImGui::SameLine(0, 18);
    if (ctx.paused) ImGui::TextColored(style::kWarnText, "%s", _("PAUSED (space)"));
    else ImGui::TextDisabled("%s", socklab::i18n::format(_("every {} ms"), ctx.interval_ms).c_str());
    ImGui::SameLine(0, 18);
    const std::string priv = privilege_summary(f.privileges);
    const std::string cmd = unlock_command(f.privileges);
    if (f.privileges.root && f.privileges.tracer_active) ImGui::TextColored(style::kOkText, "%s", priv.c_str());
    else ImGui::TextColored(style::kWarnText, "%s", priv.c_str());
    if (!cmd.empty()) {
        ImGui::SameLine();
        ImGui::TextDisabled("%s", socklab::i18n::format(_("— run: {}"), cmd).c_str());
    }
    if (!f.privileges.tracer_active) style::item_tooltip(f.privileges.tracer_message.c_str());
    ImGui::SameLine(0, 18);
    ImGui::TextDisabled("%s", path_label(path_).c_str());
    style::item_tooltip(path_text_.c_str());
    ImGui::SameLine(0, 18);
    ImGui::TextDisabled("%s", _("F1 help"));
}

nlohmann::json StatusPanel::dump_state(const UiContext& ctx) const {
    const Frame& f = *ctx.frame;
    std::uint32_t open = f.udp_count;
    for (auto c : f.tcp_counts) open += c;
    return {{"sockets", open},
            {"snapshot_ms", f.snapshot_ms},
            {"owners_ms", f.owners_ms},
            {"frame_ms", ctx.frame_ms},
            {"source", f.source},
            {"paused", ctx.paused},
            {"interval_ms", ctx.interval_ms},
            {"root", f.privileges.root},
            {"tracer_active", f.privileges.tracer_active},
            {"tracer_message", f.privileges.tracer_message},
            {"privileges", privilege_summary(f.privileges)},
            {"unlock_command", unlock_command(f.privileges)},
            {"privilege_path", path_name(path_)},
            {"privilege_path_text", path_text_},
            {"poll_error", f.error}};
}

}  // namespace socklab::viewer
