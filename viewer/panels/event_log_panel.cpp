#include "panels/event_log_panel.hpp"

#include <cstdio>
#include <cstring>
#include <string>

#include "model/frame_builder.hpp"
#include "model/table_view.hpp"
#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

std::string comm_text(const ObservedTransition& t) {
    return {t.comm.data(), ::strnlen(t.comm.data(), t.comm.size())};
}

bool matches(const ObservedTransition& t, const ParsedFilter& f) {
    if (f.words.empty()) return true;
    // Reuse the table's filter words on a row made of the transition's socket.
    Row r;
    r.rec.proto = t.key.proto;
    r.rec.local_port = t.key.local_port;
    r.rec.remote_port = t.key.remote_port;
    r.rec.state = t.new_state;
    r.pid = t.pid;
    r.process = comm_text(t);
    r.local_text = endpoint_text(t.key.local_addr, t.key.local_port);
    r.remote_text = endpoint_text(t.key.remote_addr, t.key.remote_port);
    if (row_matches(r, f)) return true;
    r.rec.state = t.old_state;
    return row_matches(r, f);
}

// What the log says while it is empty: one line, and why (the tracer's own words when off).
struct EmptyText {
    const char* what;
    std::string why;
};
EmptyText empty_text(const Privileges& priv) {
    if (!priv.tracer_active)
        return {_("No transitions yet. Without the tracer only changes between two snapshots are "
                  "listed."),
                priv.tracer_message};
    return {_("No transitions yet."), _("Connect to a listener, or start a lab.")};
}

}  // namespace

EventLogPanel::EventLogPanel() : Panel("events", N_("Event log"), {0.62f, 0.56f, 0.38f, 0.405f}) {}

void EventLogPanel::draw_content(UiContext& ctx) {
    ImGui::SetNextItemWidth(200.0f);
    ImGui::InputTextWithHint("##evfilter", _("filter (port, state, process)"), filter_.data(), filter_.size());
    ImGui::SameLine();
    if (ImGui::Checkbox(style::label(N_("pause log"), "pause-log").c_str(), &paused_) && paused_ && ctx.transitions) frozen_ = *ctx.transitions;
    ImGui::SameLine();
    const Privileges& priv = ctx.frame->privileges;
    if (priv.tracer_active) {
        ImGui::TextColored(style::kOkText, "%s", _("tracer on"));
        if (ctx.frame->lost_events > 0) {
            ImGui::SameLine();
            ImGui::TextColored(style::kBadText, "%s", socklab::i18n::format(_("{} lost"), ctx.frame->lost_events).c_str());
        }
    } else {
        ImGui::TextColored(style::kWarnText, "%s", _("tracer off"));
        style::item_tooltip(priv.tracer_message.c_str());
    }
    const auto& log = paused_ ? frozen_ : (ctx.transitions ? *ctx.transitions : frozen_);
    if (log.empty()) {
        const EmptyText text = empty_text(priv);
        if (!priv.tracer_active) not_permitted_state(text.what, text.why);
        else empty_state(text.what, text.why.c_str());
        return;
    }
    const ParsedFilter f = parse_filter(filter_.data());
    std::vector<const ObservedTransition*> shown;
    shown.reserve(log.size());
    for (auto it = log.rbegin(); it != log.rend(); ++it)
        if (matches(*it, f)) shown.push_back(&*it);
    if (shown.empty()) {
        empty_state(_("No transition matches the filter."));
        return;
    }
    const ImGuiTableFlags flags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg |
                                  ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_BordersInnerV;
    if (!ImGui::BeginTable("events", 5, flags)) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn(_("When"), ImGuiTableColumnFlags_WidthFixed, 64);
    ImGui::TableSetupColumn(_("Socket"), ImGuiTableColumnFlags_WidthFixed, 190);
    ImGui::TableSetupColumn(_("Transition"), ImGuiTableColumnFlags_WidthFixed, 230);
    ImGui::TableSetupColumn(_("By"), ImGuiTableColumnFlags_WidthFixed, 60);
    ImGui::TableSetupColumn(_("Process"), ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(shown.size()));
    while (clipper.Step()) {
        for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
            const ObservedTransition& t = *shown[static_cast<std::size_t>(i)];
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            const std::uint64_t ago = ctx.now_ns > t.time_ns ? ctx.now_ns - t.time_ns : 0;
            ImGui::Text("-%s", style::duration(ago).c_str());
            ImGui::TableSetColumnIndex(1);
            ImGui::Text("%s -> :%u", endpoint_text(t.key.local_addr, t.key.local_port).c_str(),
                        static_cast<unsigned>(t.key.remote_port));
            ImGui::TableSetColumnIndex(2);
            style::state_chip(t.old_state, t.key.proto, 96.0f);
            ImGui::SameLine();
            ImGui::TextUnformatted("→");
            ImGui::SameLine();
            style::state_chip(t.new_state, t.key.proto, 96.0f);
            ImGui::TableSetColumnIndex(3);
            if (t.traced) ImGui::TextColored(style::kOkText, "%s", _("tracer"));
            else ImGui::TextDisabled("%s", _("polling"));
            ImGui::TableSetColumnIndex(4);
            if (t.pid != 0) ImGui::Text("%s (%d)", comm_text(t).c_str(), t.pid);
        }
    }
    ImGui::EndTable();
}

nlohmann::json EventLogPanel::dump_state(const UiContext& ctx) const {
    const auto& log = paused_ ? frozen_ : (ctx.transitions ? *ctx.transitions : frozen_);
    auto recent = nlohmann::json::array();
    std::size_t n = 0;
    for (auto it = log.rbegin(); it != log.rend() && n < 200; ++it, ++n) {
        recent.push_back({{"local", endpoint_text(it->key.local_addr, it->key.local_port)},
                          {"remote", endpoint_text(it->key.remote_addr, it->key.remote_port)},
                          {"from", state_name(it->old_state, it->key.proto)},
                          {"to", state_name(it->new_state, it->key.proto)},
                          {"traced", it->traced}});
    }
    nlohmann::json j{{"count", log.size()}, {"paused", paused_},
                     {"tracer_active", ctx.frame->privileges.tracer_active},
                     {"recent", std::move(recent)}};
    if (log.empty()) {
        const EmptyText text = empty_text(ctx.frame->privileges);
        j["empty_message"] = text.what;
        j["empty_hint"] = text.why;
    }
    return j;
}

}  // namespace socklab::viewer
