#pragma once
// The socket table: every socket the kernel lists, with its owner, sortable by any column
// and filtered by the box at the top. Rows flash green (new), yellow (changed) and stay red
// for 2 s once closed; the two ends of a loopback connection light up together.
#include <array>

#include "ui/panel.hpp"

namespace socklab::viewer {

class TablePanel : public Panel {
public:
    TablePanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

protected:
    void draw_content(UiContext& ctx) override;

private:
    std::array<char, 256> filter_{};
    bool scroll_to_selection_ = false;
};

// What a row's highlight is now: "new", "changed", "closed" or "" (for tests and the dump).
[[nodiscard]] const char* row_flash(const Row& r, std::uint64_t now_ns);

}  // namespace socklab::viewer
