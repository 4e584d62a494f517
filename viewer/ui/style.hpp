#pragma once
// Colours, state chips, durations and the "(?)" help marker shared by the panels. One colour
// per state everywhere (table, diagram, timeline), so a student learns them once.
#include <cstdint>
#include <string>

#include <imgui.h>

#include "socklab/state.hpp"

namespace socklab::viewer::style {

inline const ImVec4 kWarnText{1.00f, 0.75f, 0.30f, 1.0f};
inline const ImVec4 kOkText{0.45f, 0.85f, 0.45f, 1.0f};
inline const ImVec4 kBadText{1.00f, 0.40f, 0.35f, 1.0f};
inline const ImVec4 kDimText{0.60f, 0.62f, 0.66f, 1.0f};
inline const ImVec4 kAccent{0.40f, 0.70f, 1.00f, 1.0f};

// Row highlight colours (alpha fades with age).
inline constexpr ImU32 kFlashNew = IM_COL32(60, 200, 90, 255);
inline constexpr ImU32 kFlashChanged = IM_COL32(230, 200, 40, 255);
inline constexpr ImU32 kFlashClosed = IM_COL32(220, 60, 50, 255);
inline constexpr ImU32 kLabRow = IM_COL32(70, 130, 255, 60);
inline constexpr ImU32 kPeerRow = IM_COL32(0, 200, 220, 90);

// The colour of a kernel state (TCP, or UDP's UNCONN/ESTABLISHED).
[[nodiscard]] ImU32 state_color(std::uint8_t state, Proto proto = Proto::tcp);
// Text colour readable on top of state_color().
[[nodiscard]] ImU32 state_text_color(std::uint8_t state, Proto proto = Proto::tcp);
// A rounded, coloured label with the state's name; returns true when hovered.
bool state_chip(std::uint8_t state, Proto proto = Proto::tcp, float width = 0.0f);
// The width of the widest state's chip (ESTABLISHED), for a table column that never clips.
float state_chip_width();

// "(?)" that explains itself in a tooltip.
void help_marker(const char* text);
// A widget label in the current language with an ID that is the same in every language
// ("Sockets###table"), so switching language live keeps windows, tabs and open menus.
std::string label(const char* msgid, const char* id);
// Tooltip on the last item, wrapped for reading.
void item_tooltip(const char* text);

// 42 s, 3 min 5 s, 1 h 2 min, 850 ms, 120 µs.
[[nodiscard]] std::string duration(std::uint64_t ns);
// "TIME_WAIT 42 s left" style timer text for a record's timer.
// `state` names what a timewait timer is for (TIME_WAIT, or an orphaned FIN_WAIT2).
[[nodiscard]] std::string timer_text(std::uint8_t timer_kind, std::uint32_t timer_ms,
                                     std::uint8_t state = 6 /* TIME_WAIT */);

// Alpha-scaled colour.
[[nodiscard]] ImU32 with_alpha(ImU32 c, float alpha);

// Dark theme tuned for projection in a classroom: larger spacing, clear borders.
void apply_theme();

}  // namespace socklab::viewer::style
