#pragma once
// F1: the keys, the colours and where to read more.
#include "ui/panel.hpp"

namespace socklab::viewer {

class HelpPanel : public Panel {
public:
    HelpPanel();
    nlohmann::json dump_state(const UiContext& ctx) const override;

protected:
    void draw_content(UiContext& ctx) override;
};

}  // namespace socklab::viewer
