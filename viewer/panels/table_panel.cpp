#include "panels/table_panel.hpp"

#include <cstring>

#include "panels/doctor_panel.hpp"
#include "panels/ladder_panel.hpp"
#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

constexpr std::uint64_t kFlashNs = 1'500'000'000ull;  // how long new/changed rows glow

struct ColumnInfo {
    const char* name;
    const char* help;
    float width;
};

constexpr ColumnInfo kColumns[kColumnCount] = {
    {N_("Proto"), N_("tcp or udp."), 48},
    {N_("Local"), N_("This socket's own address and port."), 125},
    {N_("Remote"), N_("The peer's address and port. *:* means not connected (LISTEN, UNCONN)."), 125},
    {N_("State"), N_("The kernel's TCP state. Hover a state in the diagram to learn what it means."), 112},
    {N_("In state"), N_("How long the socket has been in this state (since the viewer saw it enter)."), 62},
    {N_("Timer"), N_("The kernel timer running on this socket: TIME_WAIT's 60 s, a retransmission, "
              "keepalive."), 140},
    {N_("Recv-Q"), N_("Bytes received but not yet read by the program. On a LISTEN socket: "
               "connections waiting for accept()."), 60},
    {N_("Send-Q"), N_("Bytes sent but not yet acknowledged by the peer. On a LISTEN socket: the "
               "backlog."), 60},
    {N_("PID"), N_("The process holding the socket. TIME_WAIT sockets belong to nobody: the "
            "program already closed them."), 52},
    {N_("Process"), N_("The command of that process."), 100},
    {N_("User"), N_("Who owns the socket."), 50},
};

}  // namespace

const char* row_flash(const Row& r, std::uint64_t now_ns) {
    if (r.closed_ns != 0) return "closed";
    if (r.added_ns != 0 && now_ns < r.added_ns + kFlashNs) return "new";
    if (r.changed_ns != 0 && now_ns < r.changed_ns + kFlashNs) return "changed";
    return "";
}

TablePanel::TablePanel() : Panel("table", N_("Socket table"), {0.0f, 0.0f, 0.62f, 0.56f}) {}

void TablePanel::draw_content(UiContext& ctx) {
    const Frame& f = *ctx.frame;
    TableView& view = *ctx.table;

    // Filter box: `/` focuses it.
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.45f);
    if (ctx.focus_filter) ImGui::SetKeyboardFocusHere();
    if (std::strncmp(filter_.data(), view.filter_text().c_str(), filter_.size()) != 0) {
        std::strncpy(filter_.data(), view.filter_text().c_str(), filter_.size() - 1);
    }
    if (ImGui::InputTextWithHint("##filter", _("filter: port, state, process, address  ( / )"),
                                 filter_.data(), filter_.size()))
        view.set_filter_text(filter_.data());
    style::help_marker(
        _("Words are combined: '8080 established' shows ESTABLISHED sockets on port 8080. A "
          "number matches a local or remote port (or a pid); a state name (time-wait, LISTEN) "
          "matches that state; anything else is looked for in the addresses, the process and the "
          "user."));
    ImGui::SameLine();
    if (view.state_mask() != 0) {
        std::string states;
        for (std::uint8_t s = 1; s <= kMaxKernelState; ++s)
            if (view.state_mask() & state_bit(s)) {
                if (s == static_cast<std::uint8_t>(TcpState::new_syn_recv)) continue;
                if (!states.empty()) states += ", ";
                states += state_name(s);
            }
        if (ImGui::SmallButton((socklab::i18n::format(_("state: {}  x"), states) + "###state-filter").c_str()))
            view.set_state_mask(0);
        style::item_tooltip(_("Set by clicking a state in the diagram. Click to show every state."));
        ImGui::SameLine();
    }
    ImGui::TextDisabled("%s", socklab::i18n::format(_("{} of {} sockets"), view.order().size(), f.rows.size()).c_str());

    if (f.rows.empty()) {
        if (!f.error.empty()) {
            not_permitted_state(_("The socket table cannot be read."), f.error);
        } else if (f.seq == 0) {
            empty_state(_("Reading the socket table..."));
        } else {
            empty_state(_("No sockets."), _("Start a server (or a lab) and it appears here."));
        }
        return;
    }
    if (!f.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, style::kWarnText);
        ImGui::TextWrapped("%s", socklab::i18n::format(_("Last poll failed, showing older rows: {}"), f.error).c_str());
        ImGui::PopStyleColor();
    }
    if (view.order().empty()) {
        empty_state(_("No socket matches the filter."), _("Clear the filter box or the state filter."));
        return;
    }

    const ImGuiTableFlags flags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg |
                                  ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_Resizable |
                                  ImGuiTableFlags_Sortable | ImGuiTableFlags_Hideable |
                                  ImGuiTableFlags_Reorderable | ImGuiTableFlags_SizingStretchProp;
    if (!ImGui::BeginTable("sockets", static_cast<int>(kColumnCount), flags)) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    for (std::size_t c = 0; c < kColumnCount; ++c) {
        ImGuiTableColumnFlags cf = ImGuiTableColumnFlags_WidthStretch;
        float width = kColumns[c].width;
        if (static_cast<Column>(c) == Column::local) cf |= ImGuiTableColumnFlags_DefaultSort;
        if (static_cast<Column>(c) == Column::state) {
            // Fixed, as wide as the widest state's pill: ESTABLISHED is never clipped.
            cf = ImGuiTableColumnFlags_WidthFixed;
            width = style::state_chip_width();
        }
        ImGui::TableSetupColumn(_(kColumns[c].name), cf, width, static_cast<ImGuiID>(c));
    }
    // Header row by hand, so each column explains itself.
    ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
    for (std::size_t c = 0; c < kColumnCount; ++c) {
        if (!ImGui::TableSetColumnIndex(static_cast<int>(c))) continue;
        ImGui::TableHeader(_(kColumns[c].name));
        style::item_tooltip(_(kColumns[c].help));
    }
    if (ImGuiTableSortSpecs* specs = ImGui::TableGetSortSpecs(); specs && specs->SpecsDirty) {
        if (specs->SpecsCount > 0) {
            const auto& s = specs->Specs[0];
            view.set_sort({static_cast<Column>(s.ColumnUserID),
                           s.SortDirection != ImGuiSortDirection_Descending});
            view.update(ctx.frame, ctx.now_ns);
        }
        specs->SpecsDirty = false;
    }

    const auto& order = view.order();
    if (scroll_to_selection_ && ctx.selected_row >= 0) {
        if (auto pos = view.position_of(static_cast<std::uint32_t>(ctx.selected_row)))
            ImGui::SetScrollY(static_cast<float>(*pos) * ImGui::GetTextLineHeightWithSpacing());
        scroll_to_selection_ = false;
    }
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(order.size()));
    while (clipper.Step()) {
        for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
            const std::uint32_t ri = order[static_cast<std::size_t>(i)];
            const Row& r = f.rows[ri];
            ImGui::TableNextRow();
            ImGui::PushID(static_cast<int>(ri));

            // Background: flash > peer > lab.
            ImU32 bg = 0;
            const char* flash = row_flash(r, ctx.now_ns);
            if (std::strcmp(flash, "closed") == 0) {
                bg = style::with_alpha(style::kFlashClosed, 0.55f);
            } else if (std::strcmp(flash, "new") == 0) {
                const float a = 1.0f - static_cast<float>(ctx.now_ns - r.added_ns) / static_cast<float>(kFlashNs);
                bg = style::with_alpha(style::kFlashNew, 0.15f + 0.5f * a);
            } else if (std::strcmp(flash, "changed") == 0) {
                const float a = 1.0f - static_cast<float>(ctx.now_ns - r.changed_ns) / static_cast<float>(kFlashNs);
                bg = style::with_alpha(style::kFlashChanged, 0.12f + 0.45f * a);
            } else if (static_cast<std::int32_t>(ri) == ctx.peer_row) {
                bg = style::kPeerRow;
            } else if (ctx.is_lab_row(r)) {
                bg = style::kLabRow;
            }
            if (bg != 0) ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg1, bg);

            ImGui::TableSetColumnIndex(0);
            const bool selected = r.entry_id == ctx.selected_id;
            if (ImGui::Selectable(proto_name(r.rec.proto).data(), selected || static_cast<std::int32_t>(ri) == ctx.peer_row,
                                  ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowItemOverlap)) {
                ctx.selected_id = selected ? 0 : r.entry_id;
                ctx.selected_row = selected ? -1 : static_cast<std::int32_t>(ri);
                ctx.peer_row = selected ? -1 : r.peer;
            }
            if (ImGui::IsItemHovered() && !ctx.headless) {
                ImGui::BeginTooltip();
                ImGui::Text("%s  %s -> %s", r.rec.state_name().data(), r.local_text.c_str(),
                            r.remote_text.c_str());
                if (r.peer >= 0)
                    ImGui::TextColored(style::kAccent, "%s",
                                       socklab::i18n::format(_("Other end: row {} (highlighted in cyan)"),
                                                             f.rows[static_cast<std::size_t>(r.peer)].local_text)
                                           .c_str());
                if (r.rec.inode == 0 && r.rec.proto == Proto::tcp)
                    ImGui::TextDisabled("%s", _("No descriptor: the kernel keeps this socket after close()."));
                if (r.traced) ImGui::TextDisabled("%s", _("The tracer reported this socket's transitions."));
                ImGui::EndTooltip();
            }
            if (ImGui::BeginPopupContextItem("row-menu")) {  // the port doctor's way in
                const std::uint16_t port = r.rec.local_port;
                if (ImGui::MenuItem(style::label(N_("Why is this port busy?"), "why").c_str(), nullptr, false, port != 0))
                    DoctorPanel::ask(port);
                const bool connected = r.rec.proto == Proto::tcp && r.rec.remote_port != 0;
                if (ImGui::MenuItem(style::label(N_("Show ladder"), "ladder").c_str(), nullptr, false, connected))
                    LadderPanel::show(conversation::make_id(
                        r.rec.family, Endpoint{r.rec.local_addr.unmapped(), r.rec.local_port},
                        Endpoint{r.rec.remote_addr.unmapped(), r.rec.remote_port}));
                ImGui::EndPopup();
            }
            if (ImGui::TableSetColumnIndex(1)) ImGui::TextUnformatted(r.local_text.c_str());
            if (ImGui::TableSetColumnIndex(2)) ImGui::TextUnformatted(r.remote_text.c_str());
            if (ImGui::TableSetColumnIndex(3)) style::state_chip(r.rec.state, r.rec.proto, -1.0f);
            if (ImGui::TableSetColumnIndex(4)) {
                if (r.closed_ns != 0) ImGui::TextColored(style::kBadText, "%s", _("closed"));
                else if (r.added_ns == 0 && r.changed_ns == 0)  // there before the viewer: at least
                    ImGui::TextDisabled(">%s", style::duration(ctx.now_ns - std::min(ctx.now_ns, r.state_since_ns)).c_str());
                else
                    ImGui::TextUnformatted(style::duration(ctx.now_ns - std::min(ctx.now_ns, r.state_since_ns)).c_str());
            }
            if (ImGui::TableSetColumnIndex(5)) {
                const auto t = style::timer_text(static_cast<std::uint8_t>(r.rec.timer), r.rec.timer_ms, r.rec.state);
                if (!t.empty()) ImGui::TextUnformatted(t.c_str());
            }
            if (ImGui::TableSetColumnIndex(6)) ImGui::Text("%u", r.rec.recv_q);
            if (ImGui::TableSetColumnIndex(7)) ImGui::Text("%u", r.rec.send_q);
            if (ImGui::TableSetColumnIndex(8)) {
                if (r.pid != 0) ImGui::Text("%d", r.pid);
                else ImGui::TextDisabled("-");
            }
            if (ImGui::TableSetColumnIndex(9)) {
                if (r.more_owners > 0) ImGui::Text("%s +%u", r.process.c_str(), r.more_owners);
                else ImGui::TextUnformatted(r.process.c_str());
            }
            if (ImGui::TableSetColumnIndex(10)) ImGui::TextUnformatted(r.user.c_str());
            ImGui::PopID();
        }
    }
    ImGui::EndTable();
}

nlohmann::json TablePanel::dump_state(const UiContext& ctx) const {
    const Frame& f = *ctx.frame;
    const TableView& view = *ctx.table;
    auto rows = nlohmann::json::array();
    for (const auto ri : view.order()) {
        const Row& r = f.rows[ri];
        nlohmann::json j{{"proto", proto_name(r.rec.proto)},
                         {"local", r.local_text},
                         {"local_port", r.rec.local_port},
                         {"remote", r.remote_text},
                         {"remote_port", r.rec.remote_port},
                         {"state", r.rec.state_name()},
                         {"recv_q", r.rec.recv_q},
                         {"send_q", r.rec.send_q},
                         {"timer", style::timer_text(static_cast<std::uint8_t>(r.rec.timer), r.rec.timer_ms, r.rec.state)},
                         {"pid", r.pid},
                         {"process", r.process},
                         {"user", r.user},
                         {"flash", row_flash(r, ctx.now_ns)},
                         {"lab", ctx.is_lab_row(r)},
                         {"traced", r.traced}};
        if (r.peer >= 0) j["peer"] = f.rows[static_cast<std::size_t>(r.peer)].local_text;
        rows.push_back(std::move(j));
    }
    return {{"filter", view.filter_text()},
            {"state_mask", view.state_mask()},
            {"shown", view.order().size()},
            {"total", f.rows.size()},
            {"rows", std::move(rows)}};
}

}  // namespace socklab::viewer
