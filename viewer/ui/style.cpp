#include "ui/style.hpp"

#include "socklab/i18n.hpp"

#include <algorithm>
#include <cstdio>

#include "socklab/record.hpp"

namespace socklab::viewer::style {

ImU32 state_color(std::uint8_t s, Proto proto) {
    if (proto == Proto::udp)
        return s == static_cast<std::uint8_t>(TcpState::established) ? IM_COL32(70, 185, 95, 255)
                                                                     : IM_COL32(110, 140, 170, 255);
    switch (static_cast<TcpState>(s)) {
        case TcpState::listen: return IM_COL32(60, 130, 240, 255);
        case TcpState::syn_sent: return IM_COL32(250, 160, 50, 255);
        case TcpState::syn_recv:
        case TcpState::new_syn_recv: return IM_COL32(240, 205, 60, 255);
        case TcpState::established: return IM_COL32(70, 185, 95, 255);
        case TcpState::fin_wait1: return IM_COL32(175, 120, 235, 255);
        case TcpState::fin_wait2: return IM_COL32(135, 95, 215, 255);
        case TcpState::close_wait: return IM_COL32(235, 85, 60, 255);
        case TcpState::closing: return IM_COL32(225, 110, 180, 255);
        case TcpState::last_ack: return IM_COL32(200, 70, 140, 255);
        case TcpState::time_wait: return IM_COL32(80, 170, 180, 255);
        case TcpState::close: return IM_COL32(125, 125, 130, 255);
        case TcpState::bound_inactive: return IM_COL32(105, 110, 125, 255);
    }
    return IM_COL32(120, 120, 120, 255);
}

ImU32 state_text_color(std::uint8_t s, Proto proto) {
    const ImU32 c = state_color(s, proto);
    const float r = static_cast<float>((c >> IM_COL32_R_SHIFT) & 0xFF);
    const float g = static_cast<float>((c >> IM_COL32_G_SHIFT) & 0xFF);
    const float b = static_cast<float>((c >> IM_COL32_B_SHIFT) & 0xFF);
    const float luma = 0.299f * r + 0.587f * g + 0.114f * b;
    return luma > 140.0f ? IM_COL32(15, 15, 20, 255) : IM_COL32(250, 250, 250, 255);
}

bool state_chip(std::uint8_t state, Proto proto, float width) {
    const auto name = state_name(state, proto);
    const ImVec2 text = ImGui::CalcTextSize(name.data(), name.data() + name.size());
    const ImVec2 pad(6.0f, 1.0f);
    // width < 0: fill what is left of the cell (a table column), but never narrower than the
    // name: a pill that clips its state is worse than one that reaches into the next column.
    const float w = width < 0 ? std::max(ImGui::GetContentRegionAvail().x, text.x + 2 * pad.x)
                              : std::max(width, text.x + 2 * pad.x);
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetTextLineHeight() + 2 * pad.y;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + w, p.y + h), state_color(state, proto), h * 0.5f);
    dl->PushClipRect(p, ImVec2(p.x + w, p.y + h), true);
    dl->AddText(ImVec2(p.x + std::max(pad.x, (w - text.x) * 0.5f), p.y + pad.y),
                state_text_color(state, proto), name.data(), name.data() + name.size());
    dl->PopClipRect();
    ImGui::Dummy(ImVec2(w, h));
    return ImGui::IsItemHovered();
}

std::string label(const char* msgid, const char* id) { return std::string(_(msgid)) + "###" + id; }

float state_chip_width() {
    float widest = 0;
    for (std::uint8_t s = 1; s <= kMaxKernelState; ++s) {
        const auto name = state_name(s);
        widest = std::max(widest, ImGui::CalcTextSize(name.data(), name.data() + name.size()).x);
    }
    return widest + 2 * 6.0f + 2.0f;  // the pill's padding (state_chip), and a little air
}

void help_marker(const char* text) {
    ImGui::SameLine();
    ImGui::TextDisabled("(?)");
    item_tooltip(text);
}

void item_tooltip(const char* text) {
    if (!ImGui::IsItemHovered()) return;
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
    ImGui::TextUnformatted(text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
}

std::string duration(std::uint64_t ns) {
    char buf[48];
    if (ns < 1'000ull) {
        std::snprintf(buf, sizeof buf, "%llu ns", static_cast<unsigned long long>(ns));  // i18n: allow
    } else if (ns < 1'000'000ull) {
        std::snprintf(buf, sizeof buf, "%llu µs", static_cast<unsigned long long>(ns / 1000));
    } else if (ns < 10'000'000'000ull) {
        const double ms = static_cast<double>(ns) / 1e6;
        if (ms < 1000.0) std::snprintf(buf, sizeof buf, "%.0f ms", ms);
        else std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000.0);
    } else {
        const auto s = ns / 1'000'000'000ull;
        if (s < 60) std::snprintf(buf, sizeof buf, "%llu s", static_cast<unsigned long long>(s));
        else if (s < 3600)
            std::snprintf(buf, sizeof buf, "%llu min %llu s", static_cast<unsigned long long>(s / 60),  // i18n: allow
                          static_cast<unsigned long long>(s % 60));
        else
            std::snprintf(buf, sizeof buf, "%llu h %llu min", static_cast<unsigned long long>(s / 3600),  // i18n: allow
                          static_cast<unsigned long long>((s % 3600) / 60));
    }
    return buf;
}

std::string timer_text(std::uint8_t timer_kind, std::uint32_t timer_ms, std::uint8_t state) {
    const auto kind = static_cast<TimerKind>(timer_kind);
    if (kind == TimerKind::none) return {};
    const std::string left = timer_ms == 0 ? std::string(_("expiring"))
                                           : i18n::format(_("{} left"), duration(static_cast<std::uint64_t>(timer_ms) * 1'000'000ull));
    switch (kind) {
        // The kernel uses the timewait timer for orphaned FIN_WAIT2 mini-sockets too.
        case TimerKind::time_wait:
            return state == static_cast<std::uint8_t>(TcpState::fin_wait2)
                       ? i18n::format(_("FIN_WAIT2 timeout {}"), left)
                       : "TIME_WAIT " + left;
        case TimerKind::retransmit:
            return i18n::format(_("retransmit in {}"), duration(static_cast<std::uint64_t>(timer_ms) * 1'000'000ull));
        case TimerKind::keepalive: return i18n::format(_("keepalive {}"), left);
        case TimerKind::zero_window_probe: return i18n::format(_("window probe {}"), left);
        case TimerKind::none: break;
    }
    return {};
}

ImU32 with_alpha(ImU32 c, float alpha) {
    const auto a = static_cast<ImU32>(std::clamp(alpha, 0.0f, 1.0f) *
                                      static_cast<float>((c >> IM_COL32_A_SHIFT) & 0xFF));
    return (c & ~IM_COL32_A_MASK) | (a << IM_COL32_A_SHIFT);
}

void apply_theme() {
    ImGui::StyleColorsDark();
    ImGuiStyle& s = ImGui::GetStyle();
    s.WindowRounding = 6.0f;
    s.FrameRounding = 4.0f;
    s.GrabRounding = 4.0f;
    s.TabRounding = 4.0f;
    s.WindowPadding = ImVec2(10, 8);
    s.FramePadding = ImVec2(8, 4);
    s.ItemSpacing = ImVec2(8, 6);
    s.CellPadding = ImVec2(6, 3);
    s.WindowBorderSize = 1.0f;
    ImVec4* c = s.Colors;
    c[ImGuiCol_WindowBg] = ImVec4(0.10f, 0.11f, 0.13f, 1.0f);
    c[ImGuiCol_TitleBg] = ImVec4(0.14f, 0.16f, 0.20f, 1.0f);
    c[ImGuiCol_TitleBgActive] = ImVec4(0.18f, 0.26f, 0.40f, 1.0f);
    c[ImGuiCol_TableHeaderBg] = ImVec4(0.17f, 0.19f, 0.24f, 1.0f);
    c[ImGuiCol_TableRowBgAlt] = ImVec4(1.0f, 1.0f, 1.0f, 0.03f);
    c[ImGuiCol_Header] = ImVec4(0.26f, 0.45f, 0.75f, 0.55f);
    c[ImGuiCol_HeaderHovered] = ImVec4(0.26f, 0.45f, 0.75f, 0.35f);
}

}  // namespace socklab::viewer::style
