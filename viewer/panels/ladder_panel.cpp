#include "panels/ladder_panel.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "model/frame_builder.hpp"
#include "socklab/state.hpp"
#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

constexpr const char* kPick = N_("Pick a connection to see its ladder.");
constexpr const char* kPickHint =
    N_("Choose one from the list above, right-click a TCP row in the socket table and choose "
       "\"Show ladder\", select a row and press \"Table's selection\", or run a lab: its connection "
       "is shown by itself. Segments are captured from the moment the ladder is first asked for.");
constexpr const char* kWaiting = N_("No segment or state change seen on this connection yet.");

// Arrow colours by what the segment does: opening (SYN), closing (FIN), aborting (RST),
// carrying data, or a bare acknowledgement. Explained in the Help panel's words and docs/ladder.md.
ImU32 arrow_color(const LadderRow& r, bool data) {
    if ((r.flags & tcp_flag::RST) != 0) return IM_COL32(245, 80, 70, 255);
    if ((r.flags & tcp_flag::SYN) != 0) return IM_COL32(95, 210, 120, 255);
    if ((r.flags & tcp_flag::FIN) != 0) return IM_COL32(250, 170, 60, 255);
    if (data) return IM_COL32(100, 175, 255, 255);
    return IM_COL32(215, 215, 225, 255);
}

ImFont* big_font() {
    ImGuiIO& io = ImGui::GetIO();
    return io.Fonts->Fonts.Size > 1 ? io.Fonts->Fonts[1] : ImGui::GetFont();
}

std::string summary_text(const ConversationSummary& s) {
    std::string out = s.ended ? i18n::format(_("{} \u2192 {}  ({} segments, ended)"), s.client, s.server, s.segments)
                              : i18n::format(_("{} \u2192 {}  ({} segments)"), s.client, s.server, s.segments);
    if (!s.client_process.empty() || !s.server_process.empty())
        out += fmt::format("  {} / {}", s.client_process.empty() ? "?" : s.client_process,
                           s.server_process.empty() ? "?" : s.server_process);
    return out;
}

std::string_view side_text(Side s) { return side_name(s); }

std::string permission_line(const LadderSnapshot& snap, bool tracer_active) {
    if (snap.capture_message.find("CAP_NET_RAW") != std::string::npos)
        return tracer_active ? _("No segments: capturing them needs CAP_NET_RAW (sudo socklab-viewer); "
                                 "state badges from the tracer still show.")
                             : _("No segments: capturing them needs CAP_NET_RAW (sudo socklab-viewer); "
                                 "the table, the diagram and the timeline still work.");
    return i18n::format(_("No segments: {}"), snap.capture_message);
}

}  // namespace

std::mutex LadderPanel::request_mu_;
std::optional<LadderSelection> LadderPanel::request_;

LadderPanel::LadderPanel() : Panel("ladder", N_("Ladder"), {0.52f, 0.0f, 0.48f, 0.965f}, false) {}

void LadderPanel::show(const ConnectionId& id) {
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::exact;
    sel.id = id;
    std::lock_guard lk(request_mu_);
    request_ = std::move(sel);
}

void LadderPanel::show_port(std::uint16_t port) {
    LadderSelection sel;
    sel.mode = LadderSelection::Mode::latest;
    sel.ports = {port};
    std::lock_guard lk(request_mu_);
    request_ = std::move(sel);
}

bool LadderPanel::wants_attention() const {
    std::lock_guard lk(request_mu_);
    return request_.has_value();
}

bool LadderPanel::settling() const { return wants_attention() || !settled_; }

void LadderPanel::take_request(UiContext& ctx) {
    std::optional<LadderSelection> req;
    {
        std::lock_guard lk(request_mu_);
        req.swap(request_);
    }
    if (req) {
        if (ctx.actions.ladder_select) ctx.actions.ladder_select(*req);
        started_ = true;
        follow_ = true;
        if (ctx.headless) {
            settle_seq_ = ctx.frame->seq;
            settled_ = false;
        }
    } else if (!started_) {
        // Opened by hand: start capturing, with the lab's connection if a lab is on.
        LadderSelection sel;
        if (ctx.lab != nullptr && ctx.lab->running && !ctx.lab->ports.empty()) {
            sel.mode = LadderSelection::Mode::latest;
            sel.ports.insert(ctx.lab->ports.begin(), ctx.lab->ports.end());
        }
        if (ctx.actions.ladder_select) ctx.actions.ladder_select(std::move(sel));
        started_ = true;
    }
    if (!settled_ && ctx.ladder && ctx.ladder->poller_seq >= settle_seq_) settled_ = true;
}

const LadderLayout& LadderPanel::layout_for(const UiContext& ctx) {
    const auto& snap = *ctx.ladder;
    const bool open = !snap.selected_ended;
    const std::uint64_t second = open ? ctx.now_ns / 1'000'000'000ull : 0;
    if (snap.selected != laid_out_ || second != laid_out_second_) {
        LadderOptions o;
        o.open = open;
        o.now_ns = ctx.now_ns;
        layout_ = layout_ladder(*snap.selected, o);
        laid_out_ = snap.selected;
        laid_out_second_ = second;
    }
    return layout_;
}

// No system call named the processes: take them from the socket table (an open socket's
// owner, or for the server the listener's on the same port).
void LadderPanel::fill_processes(const UiContext& ctx) {
    auto owner = [&](const Endpoint& e, bool listener_too) -> std::string {
        const Row* best = nullptr;
        for (const auto* rows : {&ctx.frame->rows, &ctx.frame->gone})
            for (const auto& r : *rows) {
                if (r.pid <= 0 || r.rec.local_port != e.port || r.rec.proto != Proto::tcp) continue;
                const bool exact = r.rec.local_addr.unmapped() == e.addr;
                const bool listening = r.rec.remote_port == 0;
                if (exact && !listening) return r.process + " [" + std::to_string(r.pid) + "]";
                if (listener_too && listening) best = &r;
            }
        return best != nullptr ? best->process + " [" + std::to_string(best->pid) + "]" : std::string();
    };
    const auto& conv = *ctx.ladder->selected;
    if (layout_.client_head.find('\n') == std::string::npos)
        if (auto p = owner(conv.client, false); !p.empty()) layout_.client_head += "\n" + p;
    if (layout_.server_head.find('\n') == std::string::npos)
        if (auto p = owner(conv.server, true); !p.empty()) layout_.server_head += "\n" + p;
}

void LadderPanel::draw_toolbar(UiContext& ctx) {
    const LadderSnapshot* snap = ctx.ladder.get();
    std::string current = _("(none)");
    if (snap != nullptr && snap->selected) {
        const auto sum = summarize(*snap->selected);
        current = sum.ended ? i18n::format(_("{} \u2192 {}  (ended)"), sum.client, sum.server)
                            : i18n::format(_("{} \u2192 {}  (live)"), sum.client, sum.server);
    } else if (snap != nullptr && snap->selection.mode == LadderSelection::Mode::latest) {
        std::string ports;
        for (auto p : snap->selection.ports) ports += (ports.empty() ? "" : " ") + std::to_string(p);
        current = ports.empty() ? std::string(_("newest connection"))
                                : i18n::format(_("newest connection on port {}"), ports);
    }
    ImGui::SetNextItemWidth(std::max(200.0f, ImGui::GetContentRegionAvail().x * 0.4f));
    if (ImGui::BeginCombo("##connection", current.c_str())) {
        if (snap == nullptr || snap->recent.empty()) ImGui::TextDisabled("%s", _("No connection seen since the capture started."));
        if (snap != nullptr)
            for (const auto& s : snap->recent) {
                const bool chosen = snap->selected && snap->selected->id == s.id;
                if (ImGui::Selectable(summary_text(s).c_str(), chosen) && ctx.actions.ladder_select) {
                    LadderSelection sel;
                    sel.mode = LadderSelection::Mode::exact;
                    sel.id = s.id;
                    ctx.actions.ladder_select(std::move(sel));
                    follow_ = true;
                }
            }
        ImGui::EndCombo();
    }
    style::item_tooltip(_("The connections seen since the capture started, newest first."));
    ImGui::SameLine();
    if (ImGui::Button(style::label(N_("Newest"), "newest").c_str()) && ctx.actions.ladder_select) {
        LadderSelection sel;
        sel.mode = LadderSelection::Mode::latest;
        ctx.actions.ladder_select(std::move(sel));
        follow_ = true;
    }
    style::item_tooltip(_("Follow the newest connection on any port."));
    ImGui::SameLine();
    const Row* row = ctx.selected_row >= 0 && static_cast<std::size_t>(ctx.selected_row) < ctx.frame->rows.size()
                         ? &ctx.frame->rows[static_cast<std::size_t>(ctx.selected_row)]
                         : nullptr;
    const bool row_ok = row != nullptr && row->rec.proto == Proto::tcp && row->rec.remote_port != 0;
    ImGui::BeginDisabled(!row_ok);
    if (ImGui::Button(style::label(N_("Table's selection"), "table-selection").c_str()) && row_ok &&
        ctx.actions.ladder_select) {
        LadderSelection sel;
        sel.mode = LadderSelection::Mode::exact;
        sel.id = conversation::make_id(row->rec.family, Endpoint{row->rec.local_addr.unmapped(), row->rec.local_port},
                                       Endpoint{row->rec.remote_addr.unmapped(), row->rec.remote_port});
        ctx.actions.ladder_select(std::move(sel));
        follow_ = true;
    }
    ImGui::EndDisabled();
    style::item_tooltip(_("The connection of the row selected in the socket table or the timeline."));
    if (ctx.lab != nullptr && !ctx.lab->ports.empty()) {
        ImGui::SameLine();
        if (ImGui::Button(style::label(N_("Lab's"), "labs").c_str()) && ctx.actions.ladder_select) {
            LadderSelection sel;
            sel.mode = LadderSelection::Mode::latest;
            sel.ports.insert(ctx.lab->ports.begin(), ctx.lab->ports.end());
            ctx.actions.ladder_select(std::move(sel));
            follow_ = true;
        }
        style::item_tooltip(_("The newest connection on the lab's ports."));
    }
    ImGui::SameLine();
    ImGui::Checkbox(style::label(N_("Follow"), "follow").c_str(), &follow_);
    style::item_tooltip(_("Keep the newest segment in view while the connection lives. Scroll to "
                          "look back; it stays where you put it once this is off."));
    if (snap != nullptr && !snap->capture_active) {
        // One line: what is missing, and what still works.
        const std::string line = permission_line(*snap, ctx.frame->privileges.tracer_active);
        not_permitted_state(line.c_str(), "");
        style::item_tooltip(snap->capture_message.c_str());
    } else if (snap != nullptr && snap->capture_stats.lost() > 0) {
        ImGui::TextColored(style::kWarnText, "%s",
                           i18n::format(_("The capture lost {} segments (buffer full): the ladder has holes."),
                                        snap->capture_stats.lost()).c_str());
    }
}

void LadderPanel::draw_heads(float x_client, float x_server) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    ImFont* font = big_font();
    const float fs = font->FontSize;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const float box_h = fs * 2.0f + 14.0f;
    auto head = [&](float x, const std::string& text, const char* role, ImU32 colour) {
        const auto nl = text.find('\n');
        const std::string addr = text.substr(0, nl);
        const std::string proc = nl == std::string::npos ? std::string(_("process unknown")) : text.substr(nl + 1);
        const std::string top = std::string(role) + "  " + addr;
        const ImVec2 t1 = font->CalcTextSizeA(fs, 1e9f, 0, top.c_str());
        const ImVec2 t2 = font->CalcTextSizeA(fs * 0.85f, 1e9f, 0, proc.c_str());
        const float w = std::max(t1.x, t2.x) + 20.0f;
        // Centred on the lifeline, but never past the panel's edges.
        const float right = origin.x + ImGui::GetContentRegionAvail().x;
        const float left_x = std::clamp(x - w * 0.5f, origin.x, std::max(origin.x, right - w));
        x = left_x + w * 0.5f;
        const ImVec2 a(left_x, origin.y), b(left_x + w, origin.y + box_h);
        dl->AddRectFilled(a, b, IM_COL32(38, 44, 58, 255), 6.0f);
        dl->AddRect(a, b, colour, 6.0f, 0, 2.0f);
        dl->AddText(font, fs, ImVec2(x - t1.x * 0.5f, a.y + 5.0f), IM_COL32(240, 240, 245, 255), top.c_str());
        dl->AddText(font, fs * 0.85f, ImVec2(x - t2.x * 0.5f, a.y + 7.0f + fs), IM_COL32(185, 190, 200, 255),
                    proc.c_str());
    };
    head(x_client, layout_.client_head, "client", IM_COL32(120, 180, 255, 255));
    head(x_server, layout_.server_head, "server", IM_COL32(120, 180, 255, 255));
    ImGui::Dummy(ImVec2(1.0f, box_h + 4.0f));
}

void LadderPanel::draw_rows(UiContext& ctx) {
    const LadderLayout& l = layout_;
    const auto& conv = *ctx.ladder->selected;
    ImFont* font = big_font();
    const float fs = font->FontSize;
    const float unit = fs * 2.3f;  // one arrow row, in pixels
    ImGui::BeginChild("ladder-rows", ImVec2(0, 0), false, ImGuiWindowFlags_HorizontalScrollbar);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const float width = ImGui::GetContentRegionAvail().x;
    const float xc = origin.x + x_client_, xs = origin.x + x_server_;
    const float total = l.height * unit + fs;
    const float clip_top = ImGui::GetWindowPos().y, clip_bottom = clip_top + ImGui::GetWindowHeight();
    const ImU32 life = IM_COL32(150, 160, 180, 255);
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    for (const auto& r : l.rows) {
        const float y0 = origin.y + r.y * unit, y1 = y0 + r.height * unit;
        if (y1 < clip_top || y0 > clip_bottom) continue;
        // Lifelines: solid, dashed through a compressed gap.
        for (const float x : {xc, xs}) {
            if (r.kind == LadderKind::gap) {
                for (float y = y0; y < y1; y += 12.0f) dl->AddLine(ImVec2(x, y), ImVec2(x, std::min(y + 6.0f, y1)), life, 2.5f);
            } else {
                dl->AddLine(ImVec2(x, y0), ImVec2(x, y1), life, 2.5f);
            }
        }
        if (r.kind != LadderKind::gap)
            dl->AddText(ImVec2(origin.x + 4.0f, y0 + 4.0f), IM_COL32(150, 155, 165, 255),
                        fmt::format("+{:.6f}", r.offset_s).c_str());
        switch (r.kind) {
            case LadderKind::gap: {
                const ImVec2 t = font->CalcTextSizeA(fs, 1e9f, 0, r.label.c_str());
                dl->AddText(font, fs, ImVec2((xc + xs - t.x) * 0.5f, (y0 + y1 - t.y) * 0.5f),
                            IM_COL32(170, 175, 185, 255), r.label.c_str());
                break;
            }
            case LadderKind::arrow: {
                const auto* seg = conv.items[static_cast<std::size_t>(r.item)].segment();
                const ImU32 col = arrow_color(r, seg != nullptr && seg->len > 0);
                const bool to_server = r.side != Side::server;
                const float xa = to_server ? xc : xs, xb = to_server ? xs : xc;
                const float ya = y0 + unit * 0.5f, yb = y0 + unit * 0.85f;
                const bool hovered = !ctx.headless && mouse.x >= xc && mouse.x <= xs && mouse.y >= y0 &&
                                     mouse.y < y1 && ImGui::IsWindowHovered();
                const float thick = hovered ? 5.0f : 3.5f;
                const float dir = to_server ? 1.0f : -1.0f;
                const float head = fs * 0.75f;
                dl->AddLine(ImVec2(xa, ya), ImVec2(xb - dir * head * 0.8f, yb), col, thick);
                // Arrowhead along the (slightly sloped) shaft.
                const float dx = xb - xa, dy = yb - ya, len = std::sqrt(dx * dx + dy * dy);
                const float ux = dx / len, uy = dy / len;
                dl->AddTriangleFilled(ImVec2(xb, yb),
                                      ImVec2(xb - ux * head - uy * head * 0.5f, yb - uy * head + ux * head * 0.5f),
                                      ImVec2(xb - ux * head + uy * head * 0.5f, yb - uy * head - ux * head * 0.5f), col);
                const ImVec2 t = font->CalcTextSizeA(fs, 1e9f, 0, r.label.c_str());
                dl->AddText(font, fs, ImVec2((xc + xs - t.x) * 0.5f, y0 + unit * 0.42f - t.y),
                            hovered ? IM_COL32(255, 255, 255, 255) : col, r.label.c_str());
                if (hovered) {
                    ImGui::BeginTooltip();
                    ImGui::TextUnformatted(r.detail.c_str());
                    ImGui::EndTooltip();
                }
                break;
            }
            case LadderKind::badge: {
                const std::string& name = r.label;
                const ImVec2 t = font->CalcTextSizeA(fs, 1e9f, 0, name.c_str());
                const float x = r.side == Side::server ? xs : xc;
                const ImVec2 a(x - t.x * 0.5f - 10.0f, y0 + 3.0f), b(x + t.x * 0.5f + 10.0f, y0 + 3.0f + t.y + 6.0f);
                dl->AddRectFilled(a, b, style::state_color(r.state), (b.y - a.y) * 0.5f);
                dl->AddText(font, fs, ImVec2(a.x + 10.0f, a.y + 3.0f), style::state_text_color(r.state), name.c_str());
                if (!r.note.empty()) {
                    const ImVec2 nt = ImGui::CalcTextSize(r.note.c_str());
                    const float nx = r.side == Side::server ? a.x - 8.0f - nt.x : b.x + 8.0f;
                    dl->AddText(ImVec2(nx, (a.y + b.y - nt.y) * 0.5f), IM_COL32(185, 190, 200, 255), r.note.c_str());
                }
                if (!ctx.headless && ImGui::IsWindowHovered() && mouse.x >= a.x && mouse.x <= b.x &&
                    mouse.y >= a.y && mouse.y <= b.y) {
                    ImGui::BeginTooltip();
                    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
                    ImGui::TextUnformatted(r.detail.c_str());
                    ImGui::PopTextWrapPos();
                    ImGui::EndTooltip();
                }
                break;
            }
            case LadderKind::call: {
                const float x = r.side == Side::server ? xs : xc;
                const ImU32 col = r.failed ? IM_COL32(245, 90, 80, 255) : IM_COL32(120, 185, 255, 255);
                const float s = fs * 0.35f, cy = y0 + r.height * unit * 0.45f;
                dl->AddRectFilled(ImVec2(x - s, cy - s), ImVec2(x + s, cy + s), col);
                const ImVec2 t = font->CalcTextSizeA(fs, 1e9f, 0, r.label.c_str());
                const float tx = r.side == Side::server ? x - s - 8.0f - t.x : x + s + 8.0f;
                dl->AddText(font, fs, ImVec2(tx, cy - t.y * 0.5f), col, r.label.c_str());
                break;
            }
        }
    }
    ImGui::Dummy(ImVec2(width, total));
    const bool live = !ctx.ladder->selected_ended;
    if (follow_ && live && l.rows.size() != last_rows_) ImGui::SetScrollHereY(1.0f);
    last_rows_ = l.rows.size();
    ImGui::EndChild();
}

void LadderPanel::draw_content(UiContext& ctx) {
    take_request(ctx);
    draw_toolbar(ctx);
    if (!ctx.ladder) {
        empty_state(_("Starting the capture\u2026"));
        return;
    }
    const auto& snap = *ctx.ladder;
    if (snap.selection.mode == LadderSelection::Mode::none) {
        empty_state(_(kPick), _(kPickHint));
        return;
    }
    if (!snap.selected) {
        const char* hint =
            !snap.capture_active && !ctx.frame->privileges.tracer_active
                ? _("Without the capture and the tracer (both need root) nothing can show here.")
            : snap.selection.mode == LadderSelection::Mode::latest
                ? _("It appears here as soon as a connection on that port sends its first segment.")
                : _("The connection may have ended before the capture started, or been dropped "
                    "from the capture's memory.");
        empty_state(_(kWaiting), hint);
        return;
    }
    (void)layout_for(ctx);
    fill_processes(ctx);
    const float width = ImGui::GetContentRegionAvail().x;
    // Room on the left for the times; the same offsets inside the scrolling rows.
    x_client_ = std::max(190.0f, width * 0.22f);
    x_server_ = width - std::max(110.0f, width * 0.14f);
    const float left = ImGui::GetCursorScreenPos().x;
    draw_heads(left + x_client_, left + x_server_);
    draw_rows(ctx);
}

nlohmann::json LadderPanel::dump_state(const UiContext& ctx) const {
    nlohmann::json j;
    if (!ctx.ladder) {
        j["phase"] = started_ ? "starting" : "closed";
        return j;
    }
    const auto& snap = *ctx.ladder;
    j["capture_active"] = snap.capture_active;
    if (!snap.capture_active) {
        j["capture_message"] = snap.capture_message;
        j["permission_line"] = permission_line(snap, ctx.frame->privileges.tracer_active);
    }
    j["segments_lost"] = snap.capture_stats.lost();
    j["conversations"] = snap.recent.size();
    if (snap.selection.mode == LadderSelection::Mode::none) {
        j["phase"] = "empty";
        j["empty_message"] = kPick;
        return j;
    }
    if (!snap.selected) {
        j["phase"] = "waiting";
        j["empty_message"] = kWaiting;
        return j;
    }
    j["phase"] = snap.selected_ended ? "ended" : "live";
    const auto s = summarize(*snap.selected);
    j["client"] = s.client;
    j["server"] = s.server;
    // What the panel drew last (the layout of this snapshot's conversation).
    const LadderLayout shown = laid_out_ == snap.selected ? layout_ : layout_ladder(*snap.selected);
    auto process = [](const std::string& head) {
        const auto nl = head.find('\n');
        return nl == std::string::npos ? std::string() : head.substr(nl + 1);
    };
    j["client_process"] = process(shown.client_head);
    j["server_process"] = process(shown.server_head);
    auto rows = nlohmann::json::array();
    for (const auto& r : shown.rows) {
        nlohmann::json row{{"kind", ladder_kind_name(r.kind)}, {"label", r.label}, {"offset_s", r.offset_s}};
        if (r.kind != LadderKind::gap) row["side"] = side_text(r.side);
        if (r.kind == LadderKind::arrow) {
            auto flags = nlohmann::json::array();
            for (auto n : flag_names(r.flags)) flags.push_back(n);
            row["flags"] = std::move(flags);
        }
        if (r.kind == LadderKind::badge) row["from"] = state_name(r.old_state);
        if (!r.note.empty()) row["note"] = r.note;
        rows.push_back(std::move(row));
    }
    j["rows"] = std::move(rows);
    j["arrows"] = shown.arrows;
    j["badges"] = shown.badges;
    j["calls"] = shown.calls;
    j["gaps"] = shown.gaps;
    return j;
}

}  // namespace socklab::viewer
