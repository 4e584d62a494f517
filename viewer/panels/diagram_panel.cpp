#include "panels/diagram_panel.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "socklab/i18n.hpp"

#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

using S = TcpState;
constexpr std::uint64_t kAnimNs = 1'500'000'000ull;

constexpr std::uint8_t st(S s) { return static_cast<std::uint8_t>(s); }

const std::span<const DiagramNode> kNodes = diagram_nodes();
const std::span<const DiagramEdge> kEdges = diagram_edges();
const std::size_t kEdgeCount = kEdges.size();

ImVec2 lerp(ImVec2 a, ImVec2 b, float t) { return {a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t}; }

// An edge's label as drawn: the action ("snd SYN") under the event ("rcv SYN"), as in
// RFC 9293's figure, so labels are narrow enough to sit beside their arrows.
std::string edge_text(const char* msgid, std::uint32_t seen) {
    std::string text = _(msgid);
    if (const auto slash = text.find(" / "); slash != std::string::npos) text.replace(slash, 3, "\n");
    if (seen > 0) text += "  (" + std::to_string(seen) + ")";
    return text;
}

}  // namespace

DiagramPanel::DiagramPanel() : Panel("diagram", N_("TCP state diagram"), {0.62f, 0.0f, 0.38f, 0.56f}) {}

void DiagramPanel::draw_content(UiContext& ctx) {
    // Take in the transitions that arrived since the last UI frame.
    if (ctx.transitions != nullptr) {
        for (const auto& t : *ctx.transitions) {
            if (t.seq <= seen_seq_) continue;
            seen_seq_ = t.seq;
            const auto e = diagram_edge_for(t.old_state, t.new_state);
            if (e) {
                edge_last_ns_[*e] = std::max(edge_last_ns_[*e], t.time_ns);
                ++edge_total_[*e];
            }
            // The box it arrived in: the edge's end (CLOSED is drawn twice), else the state's.
            const std::uint8_t n = e ? kEdges[*e].to_node : diagram_node_of(t.new_state, true);
            if (n < kNodeCount) node_pulse_ns_[n] = std::max(node_pulse_ns_[n], t.time_ns);
        }
    }
    const auto& counts = ctx.table->state_counts();
    const Privileges& priv = ctx.frame->privileges;
    if (!priv.tracer_active) {
        ImGui::TextDisabled("%s", _("Polling only: short states (SYN_SENT, SYN_RECV, LAST_ACK) pass unseen."));
        style::item_tooltip(priv.tracer_message.c_str());
    } else {
        ImGui::TextDisabled("%s", _("Tracing every transition: edges light up as sockets move."));
    }

    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImVec2 avail = ImGui::GetContentRegionAvail();
    avail.x = std::max(avail.x, 360.0f);
    avail.y = std::max(avail.y, 300.0f);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float font = ImGui::GetFontSize();
    const float small = font * 0.82f;  // edge labels

    // Measure every text, then let the layout place boxes, arrows and labels.
    std::vector<Vec2f> node_size, edge_size;
    std::vector<std::string> edge_texts;
    for (const auto& node : kNodes) {
        const ImVec2 t = ImGui::CalcTextSize(node.label);
        node_size.push_back({t.x, t.y});
    }
    for (std::size_t i = 0; i < kEdgeCount; ++i) {
        edge_texts.push_back(edge_text(kEdges[i].label, edge_total_[i]));
        const ImVec2 t = ImGui::GetFont()->CalcTextSizeA(small, FLT_MAX, diagram_label_wrap(font),
                                                         edge_texts.back().c_str());
        edge_size.push_back({t.x, t.y});
    }
    layout_ = layout_diagram({origin.x, origin.y, origin.x + avail.x, origin.y + avail.y}, font, node_size,
                             edge_size);
    const auto& boxes = layout_.boxes;

    // Edges first, nodes on top.
    for (std::size_t i = 0; i < kEdgeCount; ++i) {
        const auto& g = layout_.edges[i];
        const ImVec2 p0(g.from.x, g.from.y), p1(g.to.x, g.to.y);
        const std::uint64_t last = edge_last_ns_[i];
        const bool active = last != 0 && ctx.now_ns >= last && ctx.now_ns - last < kAnimNs;
        const float age = active ? static_cast<float>(ctx.now_ns - last) / static_cast<float>(kAnimNs) : 1.0f;
        const ImU32 col = active ? style::with_alpha(IM_COL32(255, 230, 90, 255), 1.0f - 0.6f * age)
                                 : IM_COL32(150, 155, 165, 160);
        const float thick = active ? 3.5f - 2.0f * age : 1.4f;
        dl->AddLine(p0, p1, col, thick);
        // Arrow head at the target.
        const float dx = p1.x - p0.x, dy = p1.y - p0.y;
        const float len = std::max(1.0f, std::sqrt(dx * dx + dy * dy));
        const ImVec2 u(dx / len, dy / len), nrm(-u.y, u.x);
        const float ah = font * 0.6f;
        dl->AddTriangleFilled(p1, ImVec2(p1.x - u.x * ah + nrm.x * ah * 0.5f, p1.y - u.y * ah + nrm.y * ah * 0.5f),
                              ImVec2(p1.x - u.x * ah - nrm.x * ah * 0.5f, p1.y - u.y * ah - nrm.y * ah * 0.5f), col);
        if (active) {  // a packet-like dot travels along the edge
            const ImVec2 dot = lerp(p0, p1, std::fmod(age * 2.0f, 1.0f));
            dl->AddCircleFilled(dot, 5.0f, IM_COL32(255, 245, 160, 255));
        }
        // The label where the layout put it, on a dark plate so it stays readable.
        const ImVec2 tp(g.label.x0, g.label.y0);
        dl->AddRectFilled(ImVec2(tp.x - 3, tp.y - 3), ImVec2(g.label.x1 + 3, g.label.y1 + 3),
                          IM_COL32(20, 22, 28, 210), 3.0f);
        dl->AddText(ImGui::GetFont(), small, tp,
                    active ? IM_COL32(255, 235, 120, 255) : IM_COL32(185, 190, 200, 255), edge_texts[i].c_str(),
                    nullptr, diagram_label_wrap(font));
    }

    for (std::uint8_t n = 0; n < kNodeCount; ++n) {
        const DiagramNode& node = kNodes[n];
        const ImVec2 lo(boxes[n].x0, boxes[n].y0), hi(boxes[n].x1, boxes[n].y1);
        const ImVec2 c((lo.x + hi.x) * 0.5f, (lo.y + hi.y) * 0.5f);
        std::uint32_t count = node.state < counts.size() ? counts[node.state] : 0;
        if (node.state == st(S::syn_recv)) count += counts[st(S::new_syn_recv)];
        if (n == kClosedBottom) count = 0;  // counted once, at the top
        const bool filtered = ctx.table->state_mask() != 0 &&
                              (ctx.table->state_mask() & state_bit(node.state)) != 0;
        const ImU32 fill = style::state_color(node.state);
        const float dim = count > 0 || filtered ? 1.0f : 0.45f;
        dl->AddRectFilled(lo, hi, style::with_alpha(fill, dim), 8.0f);
        const std::uint64_t pulse = node_pulse_ns_[n];
        if (pulse != 0 && ctx.now_ns >= pulse && ctx.now_ns - pulse < kAnimNs) {
            const float a = 1.0f - static_cast<float>(ctx.now_ns - pulse) / static_cast<float>(kAnimNs);
            dl->AddRect(ImVec2(lo.x - 4, lo.y - 4), ImVec2(hi.x + 4, hi.y + 4),
                        style::with_alpha(IM_COL32(255, 240, 140, 255), a), 10.0f, 0, 3.0f);
        }
        if (filtered) dl->AddRect(lo, hi, IM_COL32(255, 255, 255, 255), 8.0f, 0, 3.0f);
        const ImU32 text = style::state_text_color(node.state);
        const ImVec2 ls = ImGui::CalcTextSize(node.label);
        dl->AddText(ImVec2(c.x - ls.x * 0.5f, c.y - ls.y + 1), style::with_alpha(text, dim < 1 ? 0.8f : 1.0f), node.label);
        if (n != kClosedBottom) {
            const std::string num = std::to_string(count);
            const ImVec2 ns = ImGui::CalcTextSize(num.c_str());
            dl->AddText(ImVec2(c.x - ns.x * 0.5f, c.y + 1), text, num.c_str());
        }
        // Click to filter the table; hover to learn the state.
        ImGui::SetCursorScreenPos(lo);
        ImGui::PushID(n);
        ImGui::InvisibleButton("node", ImVec2(hi.x - lo.x, hi.y - lo.y));
        if (ImGui::IsItemClicked()) {
            std::uint32_t bit = state_bit(node.state);
            if (node.state == st(S::syn_recv)) bit |= state_bit(S::new_syn_recv);
            const std::uint32_t mask = ctx.table->state_mask();
            ctx.table->set_state_mask((mask & bit) == bit ? (mask & ~bit) : (mask | bit));
        }
        if (ImGui::IsItemHovered() && !ctx.headless) {
            ImGui::BeginTooltip();
            ImGui::PushTextWrapPos(font * 28.0f);
            ImGui::TextUnformatted(node.label);
            ImGui::Separator();
            const auto expl = state_explanation(node.state);  // from core, translated there
            ImGui::TextUnformatted(expl.data(), expl.data() + expl.size());
            ImGui::TextDisabled("%s", socklab::i18n::format(socklab::i18n::tr_n(
                "{} socket here under the current filter. Click to show only this state in the table.",
                "{} sockets here under the current filter. Click to show only this state in the table.",
                count), count).c_str());
            ImGui::PopTextWrapPos();
            ImGui::EndTooltip();
        }
        ImGui::PopID();
    }
    ImGui::SetCursorScreenPos(ImVec2(origin.x, origin.y + avail.y));
    ImGui::Dummy(ImVec2(1, 1));
}

nlohmann::json DiagramPanel::dump_state(const UiContext& ctx) const {
    nlohmann::json counts = nlohmann::json::object();
    const auto& c = ctx.table->state_counts();
    for (std::uint8_t s = 1; s <= kMaxKernelState; ++s) {
        std::uint32_t n = c[s];
        if (s == st(S::new_syn_recv)) continue;
        if (s == st(S::syn_recv)) n += c[st(S::new_syn_recv)];
        counts[std::string(state_name(s))] = n;
    }
    auto edges = nlohmann::json::array();
    for (std::size_t i = 0; i < kEdgeCount; ++i) {
        if (edge_total_[i] == 0) continue;
        edges.push_back({{"from", kNodes[kEdges[i].from_node].label},
                         {"to", kNodes[kEdges[i].to_node].label},
                         {"event", kEdges[i].label},
                         {"seen", edge_total_[i]}});
    }
    // Where everything was drawn (screen pixels): tests check that no label covers a box,
    // an arrow or another label, in every language.
    const auto rect = [](const RectF& r) { return nlohmann::json::array({r.x0, r.y0, r.x1, r.y1}); };
    auto boxes = nlohmann::json::array();
    for (const auto& b : layout_.boxes) boxes.push_back(rect(b));
    auto layout_edges = nlohmann::json::array();
    for (std::size_t i = 0; i < layout_.edges.size(); ++i) {
        const auto& g = layout_.edges[i];
        layout_edges.push_back({{"event", kEdges[i].label},
                                {"label", edge_text(kEdges[i].label, 0)},
                                {"from", {g.from.x, g.from.y}},
                                {"to", {g.to.x, g.to.y}},
                                {"label_rect", rect(g.label)},
                                {"clear", g.clear}});
    }
    return {{"counts", std::move(counts)}, {"edges_seen", std::move(edges)},
            {"state_mask", ctx.table->state_mask()},
            {"layout", {{"boxes", std::move(boxes)}, {"edges", std::move(layout_edges)}}}};
}

}  // namespace socklab::viewer
